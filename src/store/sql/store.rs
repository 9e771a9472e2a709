//! [`Store`] for any engine: each method is one operation of [`ops`](super::ops) (or one
//! [`Statement`]) run in the mode it needs.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;

use super::interface::{AfterWrite, Engine, Mode, Op, Row, Value};
use super::ops::{data, logins, outbox, parts, settings, transfer, Statement};
use super::read_cache::ReadCache;
use super::rows::{self, bulk_cols, dataset_cols, device_cols, identity_cols, pool_cols};
use crate::store::{
    BulkDecider, BulkJob, DatasetEvents, DatasetRow, DatasetTotals, DeleteDecider, DeviceRecord,
    IdentityCopy, IdentityImport, IdentityRecord, ImportDecider, LoginDecider, LoginPlan,
    LoginQuery, MergeCopier, OutboxEvent, PoolCopy, PoolRecord, PoolSettings, RecordCursor,
    RecordsPage, SettingsDecider, Store, StoreError, StoreObserver, StoreResult, TargetGone,
    Totals, UpdateDecider, UpdatePlan,
};

/// The store, over one engine.
pub struct SqlStore<E> {
    pub(crate) engine: E,
    /// Identities and settings in memory, where only this process writes the database.
    cache: Option<Arc<ReadCache>>,
    /// Told how long each operation took, once someone listens.
    observer: OnceLock<Arc<dyn StoreObserver>>,
}

impl<E: Engine> SqlStore<E> {
    pub fn new(engine: E) -> Self {
        let cache = engine.sole_writer().then(|| Arc::new(ReadCache::default()));
        SqlStore {
            engine,
            cache,
            observer: OnceLock::new(),
        }
    }

    /// `name` took from `started` until now.
    fn timed(&self, name: &'static str, started: Instant) {
        if let Some(observer) = self.observer.get() {
            observer.operation(name, started.elapsed().as_secs_f64());
        }
    }

    /// The store operation `name` (a [`Store`] method's), timed.
    async fn run<O: Op>(&self, name: &'static str, mode: Mode, op: O) -> StoreResult<O::Output> {
        let started = Instant::now();
        let outcome = match mode {
            Mode::Read => self.engine.read(op).await,
            Mode::Write => self.engine.write(op, None).await,
        };
        self.timed(name, started);
        outcome
    }

    /// A write, then `forget` with what it committed: what the cache must drop, after the
    /// commit, even if the caller stopped waiting.
    async fn write_then<O: Op>(
        &self,
        name: &'static str,
        op: O,
        forget: impl FnOnce(&ReadCache, Option<&O::Output>) + Send + 'static,
    ) -> StoreResult<O::Output> {
        match &self.cache {
            None => self.run(name, Mode::Write, op).await,
            Some(cache) => {
                let started = Instant::now();
                let cache = cache.clone();
                let settled: AfterWrite<O::Output> = Box::new(move |out| forget(&cache, out));
                let outcome = self.engine.write(op, Some(settled)).await;
                self.timed(name, started);
                outcome
            }
        }
    }

    /// One query, on a reader.
    async fn read(
        &self,
        name: &'static str,
        sql: &'static str,
        params: Vec<Value>,
    ) -> StoreResult<Vec<Row>> {
        Ok(self
            .run(name, Mode::Read, Statement::query(sql, params))
            .await?
            .into_rows())
    }

    /// One page of `parent`'s (`$1`) rows, strictly after `after` (`$2`), at most `limit` (`$3`).
    async fn page<T>(
        &self,
        name: &'static str,
        sql: &'static str,
        parent: &str,
        after: Option<&str>,
        limit: usize,
        decode: fn(Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let params = vec![parent.into(), after.unwrap_or("").into(), limit.into()];
        rows::all(self.read(name, sql, params).await?, decode)
    }

    /// An insert that does nothing on conflict: `AlreadyExists(id)` when it did nothing.
    async fn insert_new(
        &self,
        name: &'static str,
        sql: &'static str,
        params: Vec<Value>,
        id: &str,
    ) -> StoreResult<()> {
        match self.write(name, sql, params).await? {
            0 => Err(StoreError::AlreadyExists(id.to_owned())),
            _ => Ok(()),
        }
    }

    /// One change, in a write transaction; how many rows it changed.
    async fn write(
        &self,
        name: &'static str,
        sql: &'static str,
        params: Vec<Value>,
    ) -> StoreResult<u64> {
        Ok(self
            .run(name, Mode::Write, Statement::execute(sql, params))
            .await?
            .changed())
    }
}

/// Rows of (live, datasets, Σ data storage, Σ sync count, latest modification).
fn totals(found: Vec<Row>) -> StoreResult<DatasetTotals> {
    let mut all = DatasetTotals::default();
    for row in found {
        let mut c = row.cols();
        let live = c.bool()?;
        let sums = Totals {
            datasets: c.int()?,
            data_storage: c.int()?,
            sync_count: c.int()?,
            last_modified_ms: c.opt_int()?,
        };
        *(if live {
            &mut all.live
        } else {
            &mut all.deleted
        }) = sums;
    }
    Ok(all)
}

#[async_trait]
impl<E: Engine> Store for SqlStore<E> {
    async fn secret(&self, name: &str, fresh: Vec<u8>) -> StoreResult<Vec<u8>> {
        let name = name.to_owned();
        self.run("secret", Mode::Write, data::Secret { name, fresh })
            .await
    }

    async fn create_pool(&self, p: &PoolRecord) -> StoreResult<()> {
        const SQL: &str = concat!(
            "INSERT INTO identity_pools (",
            pool_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING"
        );
        let params = vec![
            p.id.as_str().into(),
            p.name.as_str().into(),
            p.allow_unauthenticated.into(),
            p.developer_provider_name.as_deref().into(),
            p.extra_json.as_str().into(),
            p.created_ms.into(),
        ];
        self.insert_new("create_pool", SQL, params, &p.id).await
    }

    async fn get_pool(&self, id: &str) -> StoreResult<Option<PoolRecord>> {
        const SQL: &str = concat!(
            "SELECT ",
            pool_cols!(),
            " FROM identity_pools WHERE id = $1"
        );
        rows::opt(
            self.read("get_pool", SQL, vec![id.into()]).await?,
            rows::pool,
        )
    }

    async fn list_pools(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<PoolRecord>> {
        const SQL: &str = concat!(
            "SELECT ",
            pool_cols!(),
            " FROM identity_pools WHERE id > $1 ORDER BY id LIMIT $2"
        );
        let found = self
            .read(
                "list_pools",
                SQL,
                vec![after.unwrap_or("").into(), limit.into()],
            )
            .await?;
        rows::all(found, rows::pool)
    }

    async fn update_pool(&self, p: &PoolRecord) -> StoreResult<bool> {
        const SQL: &str = "UPDATE identity_pools SET name = $2, allow_unauthenticated = $3,
             developer_provider_name = $4, extra_json = $5 WHERE id = $1";
        let params = vec![
            p.id.as_str().into(),
            p.name.as_str().into(),
            p.allow_unauthenticated.into(),
            p.developer_provider_name.as_deref().into(),
            p.extra_json.as_str().into(),
        ];
        Ok(self.write("update_pool", SQL, params).await? > 0)
    }

    async fn delete_pool(&self, id: &str) -> StoreResult<bool> {
        let op = Statement::execute("DELETE FROM identity_pools WHERE id = $1", vec![id.into()]);
        // Its identities and settings go with it.
        let deleted = self
            .write_then("delete_pool", op, |cache, _| cache.drop_all())
            .await?;
        Ok(deleted.changed() > 0)
    }

    async fn create_identity(&self, i: &IdentityRecord) -> StoreResult<()> {
        const SQL: &str = concat!(
            "INSERT INTO identities (",
            identity_cols!(),
            ") VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING"
        );
        let params = vec![
            i.id.as_str().into(),
            i.pool_id.as_str().into(),
            i.created_ms.into(),
            i.last_modified_ms.into(),
        ];
        self.insert_new("create_identity", SQL, params, &i.id).await
    }

    async fn get_identity(&self, id: &str) -> StoreResult<Option<IdentityRecord>> {
        let ticket = self.cache.as_ref().map(|c| (c, c.ticket()));
        if let Some(found) = ticket.and_then(|(c, _)| c.identity(id)) {
            return Ok(Some(found));
        }
        let found = self
            .read("get_identity", parts::IDENTITY, vec![id.into()])
            .await?;
        let found = rows::opt(found, rows::identity)?;
        if let (Some((cache, ticket)), Some(identity)) = (ticket, &found) {
            cache.keep_identity(ticket, identity);
        }
        Ok(found)
    }

    async fn list_identities(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<IdentityRecord>> {
        const SQL: &str = concat!(
            "SELECT ",
            identity_cols!(),
            " FROM identities WHERE pool_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        self.page(
            "list_identities",
            SQL,
            pool_id,
            after,
            limit,
            rows::identity,
        )
        .await
    }

    async fn count_identities(&self, pool_id: &str) -> StoreResult<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM identities WHERE pool_id = $1";
        let found = self
            .read("count_identities", SQL, vec![pool_id.into()])
            .await?;
        Ok(rows::opt(found, rows::int)?.unwrap_or(0))
    }

    async fn get_dataset(&self, identity_id: &str, name: &str) -> StoreResult<Option<DatasetRow>> {
        let found = self
            .read(
                "get_dataset",
                parts::DATASET,
                vec![identity_id.into(), name.into()],
            )
            .await?;
        rows::opt(found, rows::dataset)
    }

    async fn list_datasets(
        &self,
        identity_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<DatasetRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            dataset_cols!(),
            " FROM datasets WHERE identity_id = $1 AND live AND name > $2 ORDER BY name LIMIT $3"
        );
        self.page(
            "list_datasets",
            SQL,
            identity_id,
            after,
            limit,
            rows::dataset,
        )
        .await
    }

    async fn list_records(
        &self,
        identity_id: &str,
        name: &str,
        after_sync_count: i64,
        cursor: Option<&RecordCursor>,
        limit: usize,
    ) -> StoreResult<RecordsPage> {
        let op = data::ListRecords {
            identity_id: identity_id.to_owned(),
            name: name.to_owned(),
            after_sync_count,
            cursor: cursor.cloned(),
            limit,
        };
        self.run("list_records", Mode::Read, op).await
    }

    async fn update_records(
        &self,
        identity_id: &str,
        name: &str,
        keys: Vec<String>,
        decide: UpdateDecider,
    ) -> StoreResult<UpdatePlan> {
        let op = data::UpdateRecords {
            identity_id: identity_id.to_owned(),
            name: name.to_owned(),
            keys,
            decide,
        };
        self.run("update_records", Mode::Write, op).await
    }

    async fn delete_dataset(
        &self,
        identity_id: &str,
        name: &str,
        decide: DeleteDecider,
    ) -> StoreResult<Option<DatasetRow>> {
        let op = data::DeleteDataset {
            identity_id: identity_id.to_owned(),
            name: name.to_owned(),
            decide,
        };
        self.run("delete_dataset", Mode::Write, op).await
    }

    async fn find_login(
        &self,
        pool_id: &str,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<String>> {
        let params = vec![pool_id.into(), provider.into(), subject.into()];
        let found = self.read("find_login", parts::LOGIN_OWNER, params).await?;
        rows::opt(found, rows::text)
    }

    async fn logins_of(&self, identity_id: &str) -> StoreResult<Vec<(String, String)>> {
        let found = self
            .read("logins_of", parts::LOGINS_OF, vec![identity_id.into()])
            .await?;
        rows::all(found, rows::login)
    }

    async fn login_transaction(
        &self,
        pool_id: &str,
        query: LoginQuery,
        now_ms: i64,
        decide: LoginDecider,
        merge: MergeCopier,
    ) -> StoreResult<LoginPlan> {
        let mut op = logins::Login {
            pool_id: pool_id.to_owned(),
            query,
            now_ms,
            decide: Arc::new(decide),
            merge,
            write: false,
        };
        // Most logins find what they need already there: decide on an unlocked read first.
        let read = logins::Login {
            pool_id: op.pool_id.clone(),
            query: op.query.clone(),
            now_ms,
            decide: op.decide.clone(),
            merge: op.merge.clone(),
            write: false,
        };
        let plan = self.run("login_transaction", Mode::Read, read).await?;
        if !plan.writes() {
            return Ok(plan);
        }
        op.write = true;
        // The identities merged away are gone.
        self.write_then("login_transaction", op, |cache, plan| {
            let merged = plan.map_or(&[][..], |p| &p.merges[..]);
            cache.drop_identities(merged.iter().map(|(source, _)| source.as_str()));
        })
        .await
    }

    async fn delete_identity(&self, id: &str) -> StoreResult<bool> {
        let op = Statement::execute("DELETE FROM identities WHERE id = $1", vec![id.into()]);
        let gone = id.to_owned();
        let deleted = self
            .write_then("delete_identity", op, move |cache, _| {
                cache.drop_identities([gone.as_str()])
            })
            .await?;
        Ok(deleted.changed() > 0)
    }

    async fn identity_and_settings(
        &self,
        identity_id: &str,
        pool_id: &str,
    ) -> StoreResult<(Option<IdentityRecord>, PoolSettings)> {
        let ticket = self.cache.as_ref().map(|c| (c, c.ticket()));
        if let Some((cache, _)) = ticket {
            if let (Some(i), Some(s)) = (cache.identity(identity_id), cache.settings(pool_id)) {
                return Ok((Some(i), s));
            }
        }
        let op = settings::IdentityAndSettings {
            identity_id: identity_id.to_owned(),
            pool_id: pool_id.to_owned(),
        };
        let (identity, settings) = self.run("identity_and_settings", Mode::Read, op).await?;
        if let Some((cache, ticket)) = ticket {
            if let Some(i) = &identity {
                cache.keep_identity(ticket, i);
            }
            cache.keep_settings(ticket, pool_id, &settings);
        }
        Ok((identity, settings))
    }

    async fn get_pool_settings(&self, pool_id: &str) -> StoreResult<PoolSettings> {
        let ticket = self.cache.as_ref().map(|c| (c, c.ticket()));
        if let Some(found) = ticket.and_then(|(c, _)| c.settings(pool_id)) {
            return Ok(found);
        }
        let op = settings::GetSettings {
            pool_id: pool_id.to_owned(),
        };
        let found = self.run("get_pool_settings", Mode::Read, op).await?;
        if let Some((cache, ticket)) = ticket {
            cache.keep_settings(ticket, pool_id, &found);
        }
        Ok(found)
    }

    async fn update_pool_settings(
        &self,
        pool_id: &str,
        decide: SettingsDecider,
    ) -> StoreResult<bool> {
        let op = settings::UpdateSettings {
            pool_id: pool_id.to_owned(),
            decide,
        };
        let pool = pool_id.to_owned();
        self.write_then("update_pool_settings", op, move |cache, _| {
            cache.drop_settings(&pool)
        })
        .await
    }

    async fn identity_totals(&self, identity_id: &str) -> StoreResult<DatasetTotals> {
        const SQL: &str = "SELECT live, COUNT(*), CAST(COALESCE(SUM(data_storage), 0) AS BIGINT),
                 CAST(COALESCE(SUM(sync_count), 0) AS BIGINT), MAX(last_modified_ms)
             FROM datasets WHERE identity_id = $1 GROUP BY live";
        totals(
            self.read("identity_totals", SQL, vec![identity_id.into()])
                .await?,
        )
    }

    async fn pool_totals(&self, pool_id: &str) -> StoreResult<DatasetTotals> {
        const SQL: &str =
            "SELECT d.live, COUNT(*), CAST(COALESCE(SUM(d.data_storage), 0) AS BIGINT),
                 CAST(COALESCE(SUM(d.sync_count), 0) AS BIGINT), MAX(d.last_modified_ms)
             FROM datasets d JOIN identities i ON i.id = d.identity_id WHERE i.pool_id = $1
             GROUP BY d.live";
        totals(self.read("pool_totals", SQL, vec![pool_id.into()]).await?)
    }

    async fn claim_outbox(
        &self,
        node: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEvent>> {
        let op = outbox::Claim {
            node: node.to_owned(),
            now_ms,
            lease_ms,
            limit,
        };
        self.run("claim_outbox", Mode::Write, op).await
    }

    async fn complete_outbox(&self, id: i64, decide: BulkDecider) -> StoreResult<()> {
        self.run(
            "complete_outbox",
            Mode::Write,
            outbox::Complete { id, decide },
        )
        .await
    }

    async fn retry_outbox(&self, id: i64, next_attempt_ms: i64, error: &str) -> StoreResult<()> {
        const SQL: &str = "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = $2,
                 last_error = $3, claimed_by = NULL, claimed_until = NULL
             WHERE id = $1";
        self.write(
            "retry_outbox",
            SQL,
            vec![id.into(), next_attempt_ms.into(), error.into()],
        )
        .await?;
        Ok(())
    }

    async fn outbox_backlog(&self) -> StoreResult<i64> {
        let found = self
            .read("outbox_backlog", "SELECT COUNT(*) FROM outbox", Vec::new())
            .await?;
        Ok(rows::opt(found, rows::int)?.unwrap_or(0))
    }

    async fn stream_target_gone(
        &self,
        pool_id: &str,
        target: &str,
        message: &str,
        settings: SettingsDecider,
        bulk: BulkDecider,
    ) -> StoreResult<TargetGone> {
        let op = outbox::TargetGoneOp {
            pool_id: pool_id.to_owned(),
            target: target.to_owned(),
            message: message.to_owned(),
            settings,
            bulk,
        };
        let pool = pool_id.to_owned();
        self.write_then("stream_target_gone", op, move |cache, _| {
            cache.drop_settings(&pool)
        })
        .await
    }

    async fn start_bulk_publish(
        &self,
        pool_id: &str,
        now_ms: i64,
        decide: BulkDecider,
        events: DatasetEvents,
    ) -> StoreResult<()> {
        let op = outbox::StartBulk {
            pool_id: pool_id.to_owned(),
            now_ms,
            decide,
            events,
        };
        self.run("start_bulk_publish", Mode::Write, op).await
    }

    async fn bulk_publish(&self, pool_id: &str) -> StoreResult<Option<BulkJob>> {
        const SQL: &str = concat!(
            "SELECT ",
            bulk_cols!(),
            " FROM bulk_publish WHERE pool_id = $1"
        );
        rows::opt(
            self.read("bulk_publish", SQL, vec![pool_id.into()]).await?,
            rows::bulk_job,
        )
    }

    async fn fail_bulk_publish(
        &self,
        pool_id: &str,
        message: &str,
        decide: BulkDecider,
    ) -> StoreResult<()> {
        let op = outbox::FailBulk {
            pool_id: pool_id.to_owned(),
            message: message.to_owned(),
            decide,
        };
        self.run("fail_bulk_publish", Mode::Write, op).await
    }

    async fn find_device(
        &self,
        identity_id: &str,
        platform: &str,
        token: &str,
    ) -> StoreResult<Option<DeviceRecord>> {
        const SQL: &str = concat!(
            "SELECT ",
            device_cols!(),
            " FROM devices WHERE identity_id = $1 AND platform = $2 AND token = $3"
        );
        let params = vec![identity_id.into(), platform.into(), token.into()];
        rows::opt(self.read("find_device", SQL, params).await?, rows::device)
    }

    async fn get_device(&self, id: &str) -> StoreResult<Option<DeviceRecord>> {
        const SQL: &str = concat!("SELECT ", device_cols!(), " FROM devices WHERE id = $1");
        rows::opt(
            self.read("get_device", SQL, vec![id.into()]).await?,
            rows::device,
        )
    }

    async fn put_device(&self, d: &DeviceRecord) -> StoreResult<()> {
        const SQL: &str = concat!(
            "INSERT INTO devices (",
            device_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET endpoint_arn = excluded.endpoint_arn,
                 disabled = excluded.disabled"
        );
        let params = vec![
            d.id.as_str().into(),
            d.identity_id.as_str().into(),
            d.platform.as_str().into(),
            d.token.as_str().into(),
            d.endpoint_arn.as_str().into(),
            d.disabled.into(),
            d.created_ms.into(),
        ];
        match self.write("put_device", SQL, params).await {
            Ok(_) => Ok(()),
            // Another device id holds this (identity, platform, token).
            Err(StoreError::AlreadyExists(_)) => Err(StoreError::AlreadyExists(d.token.clone())),
            Err(e) => Err(e),
        }
    }

    async fn disable_device(&self, id: &str, endpoint_arn: &str) -> StoreResult<()> {
        const SQL: &str = "UPDATE devices SET disabled = TRUE WHERE id = $1 AND endpoint_arn = $2";
        self.write("disable_device", SQL, vec![id.into(), endpoint_arn.into()])
            .await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        identity_id: &str,
        dataset: &str,
        device_id: &str,
    ) -> StoreResult<()> {
        const SQL: &str = "INSERT INTO subscriptions (identity_id, dataset_name, device_id)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
        self.write(
            "subscribe",
            SQL,
            vec![identity_id.into(), dataset.into(), device_id.into()],
        )
        .await?;
        Ok(())
    }

    async fn unsubscribe(
        &self,
        identity_id: &str,
        dataset: &str,
        device_id: &str,
    ) -> StoreResult<bool> {
        const SQL: &str =
            "DELETE FROM subscriptions WHERE identity_id = $1 AND dataset_name = $2 AND device_id = $3";
        let params = vec![identity_id.into(), dataset.into(), device_id.into()];
        Ok(self.write("unsubscribe", SQL, params).await? > 0)
    }

    fn observe(&self, observer: Arc<dyn StoreObserver>) {
        self.engine.observe(observer.clone());
        let _ = self.observer.set(observer);
    }

    fn descriptors(&self) -> usize {
        self.engine.descriptors()
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        struct Version;
        impl Op for Version {
            type Output = i64;
            async fn run<X: super::interface::Tx>(&self, tx: &mut X) -> StoreResult<i64> {
                let found = tx.query(X::DIALECT.schema_version, &[]).await?;
                Ok(rows::opt(found, rows::int)?.unwrap_or(0))
            }
        }
        self.run("schema_version", Mode::Read, Version).await
    }

    async fn outbox_targets(&self) -> StoreResult<Vec<(String, i64, i64)>> {
        const SQL: &str = "SELECT target, COUNT(*), MIN(created_ms) FROM outbox GROUP BY target";
        let found = self.read("outbox_targets", SQL, vec![]).await?;
        found
            .into_iter()
            .map(|r| {
                let mut c = r.cols();
                Ok((c.text()?, c.int()?, c.int()?))
            })
            .collect()
    }

    async fn bulk_statuses(&self) -> StoreResult<Vec<(String, i64)>> {
        const SQL: &str = "SELECT status, COUNT(*) FROM bulk_publish GROUP BY status";
        let found = self.read("bulk_statuses", SQL, vec![]).await?;
        found
            .into_iter()
            .map(|r| {
                let mut c = r.cols();
                Ok((c.text()?, c.int()?))
            })
            .collect()
    }

    async fn secrets(&self) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let found = self
            .read(
                "secrets",
                "SELECT name, value FROM secrets ORDER BY name",
                vec![],
            )
            .await?;
        found
            .into_iter()
            .map(|r| {
                let mut c = r.cols();
                Ok((c.text()?, c.bytes()?))
            })
            .collect()
    }

    async fn export_pool(&self, id: &str) -> StoreResult<Option<PoolCopy>> {
        let Some(pool) = self.get_pool(id).await? else {
            return Ok(None);
        };
        let settings = self.get_pool_settings(id).await?;
        let bulk = self.bulk_publish(id).await?;
        Ok(Some(PoolCopy {
            pool,
            settings,
            bulk,
        }))
    }

    async fn export_identity(&self, id: &str) -> StoreResult<Option<IdentityCopy>> {
        let op = transfer::ExportIdentity { id: id.to_owned() };
        self.run("export_identity", Mode::Read, op).await
    }

    async fn import_pool(
        &self,
        pool: &PoolRecord,
        bulk: Option<&BulkJob>,
        settings: SettingsDecider,
    ) -> StoreResult<()> {
        let op = transfer::ImportPool {
            pool: pool.clone(),
            bulk: bulk.cloned(),
            settings,
        };
        let pool = pool.id.clone();
        self.write_then("import_pool", op, move |cache, _| {
            cache.drop_settings(&pool)
        })
        .await
    }

    async fn import_identity(
        &self,
        copy: IdentityCopy,
        decide: ImportDecider,
    ) -> StoreResult<IdentityImport> {
        // Its dates may change: what is cached of it goes.
        let id = copy.identity.id.clone();
        let op = transfer::ImportIdentity { copy, decide };
        self.write_then("import_identity", op, move |cache, _| {
            cache.drop_identities([id.as_str()])
        })
        .await
    }
}
