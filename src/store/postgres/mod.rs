//! The scale-out backend: PostgreSQL (and, by keeping to portable SQL, CockroachDB and
//! YugabyteDB), shared by any number of stateless cogsync nodes.
//!
//! Client: tokio-postgres with a deadpool pool. Both are async-native, small, and need no
//! database at build time (sqlx's checked macros would); every query here is plain SQL.
//!
//! Writes to one identity's data are serialised by a row lock on the identity
//! (`SELECT … FOR NO KEY UPDATE`), which also keeps the per-identity dataset quota exact under
//! concurrent creators; the lock is compatible with the key-share locks foreign keys take, so
//! it cannot deadlock with inserts. Serialization failures and deadlocks are retried a bounded
//! number of times, then reported as contention.

mod rows;
mod schema;
pub mod tls;

pub use schema::SCHEMA_VERSION;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, Transaction};

use super::{
    BulkJob, DatasetCopy, DatasetEvents, DatasetRow, DeleteDecider, DeviceRecord, IdentityRecord,
    LoginDecider, LoginKey, LoginPlan, LoginQuery, LoginSnapshot, MergeCopier, NewOutboxEvent,
    OutboxEvent, PoolRecord, PoolSettings, RecordCursor, RecordRow, RecordsPage, Rejection,
    SettingsDecider, Store, StoreError, StoreResult, TargetGone, UpdateDecider, UpdatePlan,
    UpdateSnapshot, Usage,
};
use rows::{DATASET_COLS, IDENTITY_COLS, POOL_COLS, RECORD_COLS};

/// Connections kept per node.
const POOL_SIZE: usize = 16;
/// Attempts of a write transaction that hits a serialization failure or deadlock.
const WRITE_ATTEMPTS: usize = 5;

pub struct PostgresStore {
    pool: Pool,
}

fn db_error(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        // Serialization failures and deadlocks (retried), and a lock not granted within the
        // session's lock_timeout: contention, answered 429 when retries run out.
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::LOCK_NOT_AVAILABLE =>
        {
            StoreError::Busy(e.to_string())
        }
        _ => {
            let detail = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            StoreError::Backend(format!("{e}{detail}"))
        }
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    // The causes carry the useful part ("… TLS handshake: … certificate was refused …").
    let mut message = format!("no database connection: {e}");
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    StoreError::Backend(message)
}

impl PostgresStore {
    /// Connects to `url` (a `postgres://` URL or key=value string, with libpq's TLS options:
    /// see [`tls`]) and applies migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let bad_url = |e: String| StoreError::Backend(format!("bad database URL: {e}"));
        let (url, tls) = tls::split(url).map_err(bad_url)?;
        let connector = tls.connector().map_err(bad_url)?;
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| bad_url(e.to_string()))?;
        let manager = Manager::from_config(
            config,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let store = PostgresStore { pool };
        let mut last = String::new();
        // Nodes starting together may race on CREATE TABLE IF NOT EXISTS; a retry settles it.
        for _ in 0..3 {
            let mut client = store.pool.get().await.map_err(pool_error)?;
            match schema::migrate(&mut client).await {
                Ok(()) => return Ok(store),
                Err(e) if e.contains("newer than this cogsync") => {
                    return Err(StoreError::Backend(e))
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(StoreError::Backend(last))
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_error)
    }
}

/// Takes the identity's write lock; fails if the identity no longer exists.
async fn lock_identity(tx: &Transaction<'_>, identity_id: &str) -> StoreResult<()> {
    tx.query_opt(
        "SELECT 1 FROM identities WHERE id = $1 FOR NO KEY UPDATE",
        &[&identity_id],
    )
    .await
    .map_err(db_error)?
    .map(|_| ())
    .ok_or_else(|| StoreError::Backend(format!("identity {identity_id} no longer exists")))
}

async fn select_dataset(
    tx: &Transaction<'_>,
    identity_id: &str,
    name: &str,
) -> StoreResult<Option<DatasetRow>> {
    let sql = format!("SELECT {DATASET_COLS} FROM datasets WHERE identity_id = $1 AND name = $2");
    tx.query_opt(&sql, &[&identity_id, &name])
        .await
        .map_err(db_error)?
        .map(|r| rows::dataset(&r))
        .transpose()
        .map_err(db_error)
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl PostgresStore {
    async fn try_update(
        &self,
        identity_id: &str,
        name: &str,
        keys: &[String],
        decide: &UpdateDecider,
    ) -> StoreResult<UpdatePlan> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        lock_identity(&tx, identity_id).await?;
        let dataset = select_dataset(&tx, identity_id, name).await?;
        let sql = format!(
            "SELECT {RECORD_COLS} FROM records
             WHERE identity_id = $1 AND dataset_name = $2 AND key = ANY($3)"
        );
        let found = tx
            .query(&sql, &[&identity_id, &name, &keys])
            .await
            .map_err(db_error)?;
        let existing: HashMap<String, _> = rows::all(&found, rows::record)
            .map_err(db_error)?
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect();
        let live_datasets: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM datasets WHERE identity_id = $1 AND live",
                &[&identity_id],
            )
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db_error)?;
        let subscribers = select_subscribers(&tx, identity_id, name).await?;
        let snapshot = UpdateSnapshot {
            dataset,
            existing,
            live_datasets,
            subscribers,
        };
        let plan = decide(&snapshot).map_err(StoreError::Rejected)?;
        upsert_dataset(&tx, identity_id, name, &plan.dataset).await?;
        upsert_records(&tx, identity_id, name, &plan.records).await?;
        insert_outbox(&tx, &plan.outbox, plan.dataset.last_modified_ms).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(plan)
    }

    async fn try_delete(
        &self,
        identity_id: &str,
        name: &str,
        decide: &DeleteDecider,
    ) -> StoreResult<Option<DatasetRow>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        lock_identity(&tx, identity_id).await?;
        let before = match select_dataset(&tx, identity_id, name).await? {
            Some(d) if d.live => d,
            _ => return Ok(None),
        };
        tx.execute(
            "DELETE FROM records WHERE identity_id = $1 AND dataset_name = $2",
            &[&identity_id, &name],
        )
        .await
        .map_err(db_error)?;
        tx.execute(
            "DELETE FROM subscriptions WHERE identity_id = $1 AND dataset_name = $2",
            &[&identity_id, &name],
        )
        .await
        .map_err(db_error)?;
        let plan = decide(&before);
        upsert_dataset(&tx, identity_id, name, &plan.dataset).await?;
        insert_outbox(&tx, &plan.outbox, plan.at_ms).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(before))
    }
}

/// Runs a write transaction again after serialization failures, a bounded number of times.
macro_rules! retry_busy {
    ($attempt:expr) => {{
        let mut outcome = $attempt;
        for _ in 1..WRITE_ATTEMPTS {
            match outcome {
                Err(StoreError::Busy(_)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    outcome = $attempt;
                }
                _ => break,
            }
        }
        outcome
    }};
}

#[async_trait]
impl Store for PostgresStore {
    async fn secret(&self, name: &str, fresh: Vec<u8>) -> StoreResult<Vec<u8>> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &fresh],
            )
            .await
            .map_err(db_error)?;
        client
            .query_one("SELECT value FROM secrets WHERE name = $1", &[&name])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db_error)
    }

    async fn create_pool(&self, p: &PoolRecord) -> StoreResult<()> {
        let n = self
            .client()
            .await?
            .execute(
                "INSERT INTO identity_pools (id, name, allow_unauthenticated, developer_provider_name,
                     extra_json, created_ms)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                &[&p.id, &p.name, &p.allow_unauthenticated, &p.developer_provider_name, &p.extra_json, &p.created_ms],
            )
            .await
            .map_err(db_error)?;
        if n == 0 {
            return Err(StoreError::AlreadyExists(p.id.clone()));
        }
        Ok(())
    }

    async fn get_pool(&self, id: &str) -> StoreResult<Option<PoolRecord>> {
        let sql = format!("SELECT {POOL_COLS} FROM identity_pools WHERE id = $1");
        self.client()
            .await?
            .query_opt(&sql, &[&id])
            .await
            .map_err(db_error)?
            .map(|r| rows::pool(&r))
            .transpose()
            .map_err(db_error)
    }

    async fn list_pools(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<PoolRecord>> {
        let sql =
            format!("SELECT {POOL_COLS} FROM identity_pools WHERE id > $1 ORDER BY id LIMIT $2");
        let found = self
            .client()
            .await?
            .query(&sql, &[&after.unwrap_or(""), &sql_limit(limit)])
            .await
            .map_err(db_error)?;
        rows::all(&found, rows::pool).map_err(db_error)
    }

    async fn update_pool(&self, p: &PoolRecord) -> StoreResult<bool> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE identity_pools SET name = $2, allow_unauthenticated = $3,
                     developer_provider_name = $4, extra_json = $5 WHERE id = $1",
                &[
                    &p.id,
                    &p.name,
                    &p.allow_unauthenticated,
                    &p.developer_provider_name,
                    &p.extra_json,
                ],
            )
            .await
            .map_err(db_error)?;
        Ok(n > 0)
    }

    async fn delete_pool(&self, id: &str) -> StoreResult<bool> {
        let n = self
            .client()
            .await?
            .execute("DELETE FROM identity_pools WHERE id = $1", &[&id])
            .await
            .map_err(db_error)?;
        Ok(n > 0)
    }

    async fn create_identity(&self, i: &IdentityRecord) -> StoreResult<()> {
        let n = self
            .client()
            .await?
            .execute(
                "INSERT INTO identities (id, pool_id, created_ms, last_modified_ms)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                &[&i.id, &i.pool_id, &i.created_ms, &i.last_modified_ms],
            )
            .await
            .map_err(db_error)?;
        if n == 0 {
            return Err(StoreError::AlreadyExists(i.id.clone()));
        }
        Ok(())
    }

    async fn get_identity(&self, id: &str) -> StoreResult<Option<IdentityRecord>> {
        let sql = format!("SELECT {IDENTITY_COLS} FROM identities WHERE id = $1");
        self.client()
            .await?
            .query_opt(&sql, &[&id])
            .await
            .map_err(db_error)?
            .map(|r| rows::identity(&r))
            .transpose()
            .map_err(db_error)
    }

    async fn list_identities(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<IdentityRecord>> {
        let sql = format!(
            "SELECT {IDENTITY_COLS} FROM identities WHERE pool_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let found = self
            .client()
            .await?
            .query(&sql, &[&pool_id, &after.unwrap_or(""), &sql_limit(limit)])
            .await
            .map_err(db_error)?;
        rows::all(&found, rows::identity).map_err(db_error)
    }

    async fn get_dataset(&self, identity_id: &str, name: &str) -> StoreResult<Option<DatasetRow>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        select_dataset(&tx, identity_id, name).await
    }

    async fn list_datasets(
        &self,
        identity_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<DatasetRow>> {
        let sql = format!(
            "SELECT {DATASET_COLS} FROM datasets
             WHERE identity_id = $1 AND live AND name > $2 ORDER BY name LIMIT $3"
        );
        let found = self
            .client()
            .await?
            .query(
                &sql,
                &[&identity_id, &after.unwrap_or(""), &sql_limit(limit)],
            )
            .await
            .map_err(db_error)?;
        rows::all(&found, rows::dataset).map_err(db_error)
    }

    async fn list_records(
        &self,
        identity_id: &str,
        name: &str,
        after_sync_count: i64,
        cursor: Option<&RecordCursor>,
        limit: usize,
    ) -> StoreResult<RecordsPage> {
        let (cursor_count, cursor_key) = cursor.cloned().unwrap_or((i64::MIN, String::new()));
        let mut client = self.client().await?;
        // One snapshot for the dataset row and its records.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db_error)?;
        let dataset = select_dataset(&tx, identity_id, name).await?;
        let mut records = Vec::new();
        if dataset.as_ref().is_some_and(|d| d.live) {
            let sql = format!(
                "SELECT {RECORD_COLS} FROM records
                 WHERE identity_id = $1 AND dataset_name = $2 AND sync_count > $3
                   AND (sync_count, key) > ($4, $5)
                 ORDER BY sync_count, key LIMIT $6"
            );
            let found = tx
                .query(
                    &sql,
                    &[
                        &identity_id,
                        &name,
                        &after_sync_count,
                        &cursor_count,
                        &cursor_key,
                        &sql_limit(limit.saturating_add(1)),
                    ],
                )
                .await
                .map_err(db_error)?;
            records = rows::all(&found, rows::record).map_err(db_error)?;
        }
        let merged = tx
            .query(
                "SELECT name FROM datasets WHERE identity_id = $1 AND merged_into = $2 AND live
                 ORDER BY name",
                &[&identity_id, &name],
            )
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| r.try_get::<_, String>(0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        let more = records.len() > limit;
        records.truncate(limit);
        Ok(RecordsPage {
            dataset,
            records,
            more,
            merged,
        })
    }

    async fn update_records(
        &self,
        identity_id: &str,
        name: &str,
        keys: Vec<String>,
        decide: UpdateDecider,
    ) -> StoreResult<UpdatePlan> {
        retry_busy!(self.try_update(identity_id, name, &keys, &decide).await)
    }

    async fn delete_dataset(
        &self,
        identity_id: &str,
        name: &str,
        decide: DeleteDecider,
    ) -> StoreResult<Option<DatasetRow>> {
        retry_busy!(self.try_delete(identity_id, name, &decide).await)
    }

    async fn find_login(
        &self,
        pool_id: &str,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<String>> {
        self.client()
            .await?
            .query_opt(
                "SELECT identity_id FROM logins WHERE pool_id = $1 AND provider = $2 AND subject = $3",
                &[&pool_id, &provider, &subject],
            )
            .await
            .map_err(db_error)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(db_error)
    }

    async fn logins_of(&self, identity_id: &str) -> StoreResult<Vec<(String, String)>> {
        self.client()
            .await?
            .query(
                "SELECT provider, subject FROM logins WHERE identity_id = $1 ORDER BY provider, subject",
                &[&identity_id],
            )
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(db_error)
    }

    async fn delete_identity(&self, id: &str) -> StoreResult<bool> {
        let n = self
            .client()
            .await?
            .execute("DELETE FROM identities WHERE id = $1", &[&id])
            .await
            .map_err(db_error)?;
        Ok(n > 0)
    }

    async fn login_transaction(
        &self,
        pool_id: &str,
        query: LoginQuery,
        now_ms: i64,
        decide: LoginDecider,
        merge: MergeCopier,
    ) -> StoreResult<LoginPlan> {
        let plan = {
            let client = self.client().await?;
            let snapshot = login_snapshot(&**client, pool_id, &query).await?;
            decide(&snapshot).map_err(StoreError::Rejected)?
        };
        if !plan.writes() {
            return Ok(plan);
        }
        retry_busy!(
            self.try_login(pool_id, &query, now_ms, &decide, &merge)
                .await
        )
    }

    async fn get_pool_settings(&self, pool_id: &str) -> StoreResult<PoolSettings> {
        let client = self.client().await?;
        select_pool_settings(&client, pool_id, "").await
    }

    async fn put_pool_settings(&self, pool_id: &str, s: &PoolSettings) -> StoreResult<bool> {
        let client = self.client().await?;
        store_pool_settings(&client, pool_id, s).await
    }

    async fn identity_usage(&self, identity_id: &str) -> StoreResult<Usage> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT COUNT(*) FILTER (WHERE live), COALESCE(SUM(data_storage), 0)::BIGINT,
                     COALESCE(SUM(sync_count), 0)::BIGINT, MAX(CASE WHEN live THEN last_modified_ms END)
                 FROM datasets WHERE identity_id = $1",
                &[&identity_id],
            )
            .await
            .map_err(db_error)?;
        usage_from_row(&row).map_err(db_error)
    }

    async fn pool_usage(&self, pool_id: &str) -> StoreResult<Usage> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT COUNT(*) FILTER (WHERE d.live), COALESCE(SUM(d.data_storage), 0)::BIGINT,
                     COALESCE(SUM(d.sync_count), 0)::BIGINT, MAX(CASE WHEN d.live THEN d.last_modified_ms END)
                 FROM datasets d JOIN identities i ON i.id = d.identity_id WHERE i.pool_id = $1",
                &[&pool_id],
            )
            .await
            .map_err(db_error)?;
        usage_from_row(&row).map_err(db_error)
    }

    async fn claim_outbox(
        &self,
        node: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEvent>> {
        let rows = self
            .client()
            .await?
            .query(
                "UPDATE outbox SET claimed_by = $1, claimed_until = $2::BIGINT + $3::BIGINT
                 WHERE id IN (
                     SELECT o.id FROM outbox o
                     WHERE o.next_attempt_ms <= $2 AND (o.claimed_until IS NULL OR o.claimed_until < $2)
                       AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.stream_key = o.stream_key AND p.id < o.id)
                     ORDER BY o.id LIMIT $4
                     FOR UPDATE SKIP LOCKED)
                 RETURNING id, pool_id, stream_key, target, payload, job, attempts",
                &[&node, &now_ms, &lease_ms, &sql_limit(limit)],
            )
            .await
            .map_err(db_error)?;
        let mut events = rows
            .iter()
            .map(|r| {
                Ok(OutboxEvent {
                    id: r.try_get(0)?,
                    event: NewOutboxEvent {
                        pool_id: r.try_get(1)?,
                        stream_key: r.try_get(2)?,
                        target: r.try_get(3)?,
                        payload: r.try_get(4)?,
                        job: r.try_get(5)?,
                    },
                    attempts: i64::from(r.try_get::<_, i32>(6)?),
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(db_error)?;
        events.sort_by_key(|e| e.id);
        Ok(events)
    }

    async fn complete_outbox(&self, id: i64, now_ms: i64) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let job: Option<Option<String>> = tx
            .query_opt("DELETE FROM outbox WHERE id = $1 RETURNING job", &[&id])
            .await
            .map_err(db_error)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(db_error)?;
        if let Some(Some(job)) = job {
            tx.execute(
                "UPDATE bulk_publish SET status = 'SUCCEEDED', complete_ms = $2, last_success_ms = $2
                 WHERE pool_id = $1 AND status = 'IN_PROGRESS'
                   AND NOT EXISTS (SELECT 1 FROM outbox WHERE job = $1)",
                &[&job, &now_ms],
            )
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn retry_outbox(&self, id: i64, next_attempt_ms: i64, error: &str) -> StoreResult<()> {
        self.client()
            .await?
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = $2, last_error = $3,
                     claimed_by = NULL, claimed_until = NULL
                 WHERE id = $1",
                &[&id, &next_attempt_ms, &error],
            )
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn outbox_backlog(&self) -> StoreResult<i64> {
        self.client()
            .await?
            .query_one("SELECT COUNT(*) FROM outbox", &[])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db_error)
    }

    async fn stream_target_gone(
        &self,
        pool_id: &str,
        target: &str,
        now_ms: i64,
        message: &str,
        decide: SettingsDecider,
    ) -> StoreResult<TargetGone> {
        retry_busy!(
            self.try_stream_target_gone(pool_id, target, now_ms, message, &decide)
                .await
        )
    }

    async fn start_bulk_publish(
        &self,
        pool_id: &str,
        now_ms: i64,
        min_interval_ms: i64,
        events: DatasetEvents,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        // The pool row's lock serialises starts of one pool across nodes.
        tx.query_opt(
            "SELECT 1 FROM identity_pools WHERE id = $1 FOR NO KEY UPDATE",
            &[&pool_id],
        )
        .await
        .map_err(db_error)?;
        let state = tx
            .query_opt(
                "SELECT status, last_success_ms FROM bulk_publish WHERE pool_id = $1",
                &[&pool_id],
            )
            .await
            .map_err(db_error)?;
        if let Some(r) = state {
            let status: String = r.try_get(0).map_err(db_error)?;
            let last: Option<i64> = r.try_get(1).map_err(db_error)?;
            if status == "IN_PROGRESS" {
                return Err(StoreError::Rejected(Rejection::BulkInProgress));
            }
            if last.is_some_and(|t| now_ms - t < min_interval_ms) {
                return Err(StoreError::Rejected(Rejection::BulkTooSoon));
            }
        }
        tx.execute(
            "INSERT INTO bulk_publish (pool_id, status, start_ms) VALUES ($1, 'IN_PROGRESS', $2)
             ON CONFLICT (pool_id) DO UPDATE SET status = 'IN_PROGRESS', start_ms = EXCLUDED.start_ms,
                 complete_ms = NULL, failure_message = NULL",
            &[&pool_id, &now_ms],
        )
        .await
        .map_err(db_error)?;
        let sql = format!(
            "SELECT {DATASET_COLS} FROM datasets
             WHERE live AND identity_id IN (SELECT id FROM identities WHERE pool_id = $1)
             ORDER BY identity_id, name"
        );
        let found = tx.query(&sql, &[&pool_id]).await.map_err(db_error)?;
        let datasets = rows::all(&found, rows::dataset).map_err(db_error)?;
        let record_sql = format!(
            "SELECT {RECORD_COLS} FROM records
             WHERE identity_id = $1 AND dataset_name = $2 AND value IS NOT NULL ORDER BY key"
        );
        let mut written = 0;
        for d in &datasets {
            let found = tx
                .query(&record_sql, &[&d.identity_id, &d.name])
                .await
                .map_err(db_error)?;
            let records = rows::all(&found, rows::record).map_err(db_error)?;
            let batch = events(d, &records);
            written += batch.len();
            insert_outbox(&tx, &batch, now_ms).await?;
        }
        if written == 0 {
            tx.execute(
                "UPDATE bulk_publish SET status = 'SUCCEEDED', complete_ms = $2, last_success_ms = $2
                 WHERE pool_id = $1",
                &[&pool_id, &now_ms],
            )
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn bulk_publish(&self, pool_id: &str) -> StoreResult<BulkJob> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT status, start_ms, complete_ms, failure_message, last_success_ms
                 FROM bulk_publish WHERE pool_id = $1",
                &[&pool_id],
            )
            .await
            .map_err(db_error)?;
        match row {
            None => Ok(BulkJob {
                status: "NOT_STARTED".into(),
                ..BulkJob::default()
            }),
            Some(r) => Ok(BulkJob {
                status: r.try_get(0).map_err(db_error)?,
                start_ms: r.try_get(1).map_err(db_error)?,
                complete_ms: r.try_get(2).map_err(db_error)?,
                failure_message: r.try_get(3).map_err(db_error)?,
                last_success_ms: r.try_get(4).map_err(db_error)?,
            }),
        }
    }

    async fn fail_bulk_publish(
        &self,
        pool_id: &str,
        now_ms: i64,
        message: &str,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        tx.execute(
            "UPDATE bulk_publish SET status = 'FAILED', complete_ms = $2, failure_message = $3
             WHERE pool_id = $1 AND status = 'IN_PROGRESS'",
            &[&pool_id, &now_ms, &message],
        )
        .await
        .map_err(db_error)?;
        tx.execute("DELETE FROM outbox WHERE job = $1", &[&pool_id])
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn find_device(
        &self,
        identity_id: &str,
        platform: &str,
        token: &str,
    ) -> StoreResult<Option<DeviceRecord>> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE identity_id = $1 AND platform = $2 AND token = $3");
        self.client()
            .await?
            .query_opt(&sql, &[&identity_id, &platform, &token])
            .await
            .map_err(db_error)?
            .map(|r| device_from_row(&r))
            .transpose()
            .map_err(db_error)
    }

    async fn get_device(&self, id: &str) -> StoreResult<Option<DeviceRecord>> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE id = $1");
        self.client()
            .await?
            .query_opt(&sql, &[&id])
            .await
            .map_err(db_error)?
            .map(|r| device_from_row(&r))
            .transpose()
            .map_err(db_error)
    }

    async fn put_device(&self, d: &DeviceRecord) -> StoreResult<()> {
        let result = self
            .client()
            .await?
            .execute(
                "INSERT INTO devices (id, identity_id, platform, token, endpoint_arn, disabled, created_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET endpoint_arn = EXCLUDED.endpoint_arn, disabled = EXCLUDED.disabled",
                &[&d.id, &d.identity_id, &d.platform, &d.token, &d.endpoint_arn, &d.disabled, &d.created_ms],
            )
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                Err(StoreError::AlreadyExists(d.token.clone()))
            }
            Err(e) => Err(db_error(e)),
        }
    }

    async fn disable_device(&self, id: &str, endpoint_arn: &str) -> StoreResult<()> {
        self.client()
            .await?
            .execute(
                "UPDATE devices SET disabled = TRUE WHERE id = $1 AND endpoint_arn = $2",
                &[&id, &endpoint_arn],
            )
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn subscribe(
        &self,
        identity_id: &str,
        dataset: &str,
        device_id: &str,
    ) -> StoreResult<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO subscriptions (identity_id, dataset_name, device_id) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&identity_id, &dataset, &device_id],
            )
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn unsubscribe(
        &self,
        identity_id: &str,
        dataset: &str,
        device_id: &str,
    ) -> StoreResult<bool> {
        let n = self
            .client()
            .await?
            .execute(
                "DELETE FROM subscriptions WHERE identity_id = $1 AND dataset_name = $2 AND device_id = $3",
                &[&identity_id, &dataset, &device_id],
            )
            .await
            .map_err(db_error)?;
        Ok(n > 0)
    }
}

const DEVICE_COLS: &str = "id, identity_id, platform, token, endpoint_arn, disabled, created_ms";

fn device_from_row(r: &tokio_postgres::Row) -> Result<DeviceRecord, tokio_postgres::Error> {
    Ok(DeviceRecord {
        id: r.try_get(0)?,
        identity_id: r.try_get(1)?,
        platform: r.try_get(2)?,
        token: r.try_get(3)?,
        endpoint_arn: r.try_get(4)?,
        disabled: r.try_get(5)?,
        created_ms: r.try_get(6)?,
    })
}

async fn select_subscribers(
    tx: &Transaction<'_>,
    identity_id: &str,
    dataset: &str,
) -> StoreResult<Vec<DeviceRecord>> {
    let sql = format!(
        "SELECT {DEVICE_COLS} FROM devices WHERE NOT disabled AND id IN
             (SELECT device_id FROM subscriptions WHERE identity_id = $1 AND dataset_name = $2)
         ORDER BY id"
    );
    let rows = tx
        .query(&sql, &[&identity_id, &dataset])
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(device_from_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)
}

async fn insert_outbox(
    tx: &Transaction<'_>,
    events: &[NewOutboxEvent],
    now_ms: i64,
) -> StoreResult<()> {
    for e in events {
        tx.execute(
            "INSERT INTO outbox (pool_id, stream_key, target, payload, job, created_ms, next_attempt_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
            &[&e.pool_id, &e.stream_key, &e.target, &e.payload, &e.job, &now_ms],
        )
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

fn usage_from_row(r: &tokio_postgres::Row) -> Result<Usage, tokio_postgres::Error> {
    Ok(Usage {
        dataset_count: r.try_get(0)?,
        data_storage: r.try_get(1)?,
        sync_sessions: r.try_get(2)?,
        last_modified_ms: r.try_get(3)?,
    })
}

async fn select_pool_settings<C: GenericClient>(
    c: &C,
    pool_id: &str,
    lock: &str,
) -> StoreResult<PoolSettings> {
    let sql = format!(
        "SELECT version, push_sync, cognito_streams, events FROM pool_settings WHERE pool_id = $1 {lock}"
    );
    match c.query_opt(&sql, &[&pool_id]).await.map_err(db_error)? {
        None => Ok(PoolSettings::default()),
        Some(r) => Ok(PoolSettings {
            version: r.try_get(0).map_err(db_error)?,
            push_sync: r.try_get(1).map_err(db_error)?,
            cognito_streams: r.try_get(2).map_err(db_error)?,
            events: r.try_get(3).map_err(db_error)?,
        }),
    }
}

/// Writes `s` if the stored version is `s.version - 1`; false otherwise.
async fn store_pool_settings<C: GenericClient>(
    c: &C,
    pool_id: &str,
    s: &PoolSettings,
) -> StoreResult<bool> {
    let n = if s.version == 1 {
        c.execute(
            "INSERT INTO pool_settings (pool_id, version, push_sync, cognito_streams, events)
             VALUES ($1, 1, $2, $3, $4) ON CONFLICT (pool_id) DO NOTHING",
            &[&pool_id, &s.push_sync, &s.cognito_streams, &s.events],
        )
        .await
    } else {
        c.execute(
            "UPDATE pool_settings SET version = $2::BIGINT, push_sync = $3, cognito_streams = $4, events = $5
             WHERE pool_id = $1 AND version = $2::BIGINT - 1",
            &[&pool_id, &s.version, &s.push_sync, &s.cognito_streams, &s.events],
        )
        .await
    }
    .map_err(db_error)?;
    Ok(n == 1)
}

impl PostgresStore {
    async fn try_stream_target_gone(
        &self,
        pool_id: &str,
        target: &str,
        now_ms: i64,
        message: &str,
        decide: &SettingsDecider,
    ) -> StoreResult<TargetGone> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let mut gone = TargetGone::default();
        // The settings row's lock orders this against SetIdentityPoolConfiguration and
        // against other nodes finding the same target gone.
        let current = select_pool_settings(&tx, pool_id, "FOR UPDATE").await?;
        if let Some(next) = decide(&current) {
            let next = PoolSettings {
                version: current.version + 1,
                ..next
            };
            if !store_pool_settings(&tx, pool_id, &next).await? {
                // A first configuration was inserted meanwhile: run again on it.
                return Err(StoreError::Busy(
                    "pool settings changed concurrently".into(),
                ));
            }
            gone.settings_changed = true;
        }
        let dropped = tx
            .query(
                "DELETE FROM outbox WHERE pool_id = $1 AND target = $2 RETURNING job",
                &[&pool_id, &target],
            )
            .await
            .map_err(db_error)?;
        gone.dropped = dropped.len() as u64;
        let mut of_job = false;
        for r in &dropped {
            of_job |= r
                .try_get::<_, Option<String>>(0)
                .map_err(db_error)?
                .is_some();
        }
        if of_job {
            gone.job_failed = tx
                .execute(
                    "UPDATE bulk_publish SET status = 'FAILED', complete_ms = $2, failure_message = $3
                     WHERE pool_id = $1 AND status = 'IN_PROGRESS'",
                    &[&pool_id, &now_ms, &message],
                )
                .await
                .map_err(db_error)?
                > 0;
            gone.dropped += tx
                .execute("DELETE FROM outbox WHERE job = $1", &[&pool_id])
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(gone)
    }

    /// One locked attempt of a login transaction.
    async fn try_login(
        &self,
        pool_id: &str,
        query: &LoginQuery,
        now_ms: i64,
        decide: &LoginDecider,
        merge: &MergeCopier,
    ) -> StoreResult<LoginPlan> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        // The pool's login lock: login writes of one pool take turns, across nodes. (NO KEY
        // UPDATE leaves the key-share locks of inserts referencing the pool free.)
        tx.execute(
            "SELECT 1 FROM identity_pools WHERE id = $1 FOR NO KEY UPDATE",
            &[&pool_id],
        )
        .await
        .map_err(db_error)?;
        let snapshot = login_snapshot(&*tx, pool_id, query).await?;
        let plan = decide(&snapshot).map_err(StoreError::Rejected)?;
        apply_login_plan(&tx, pool_id, &plan, now_ms, merge).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(plan)
    }
}

/// Merges identity `source` into `dest` inside the caller's transaction: the source's live
/// datasets are read and written to `dest` as the `merge` rule says; its logins move; it is
/// deleted.
async fn merge_in(
    tx: &Transaction<'_>,
    source: &str,
    dest: &str,
    now_ms: i64,
    merge: &MergeCopier,
) -> StoreResult<()> {
    // Both identities' write locks, in id order so two merges cannot deadlock.
    let mut ids = [source, dest];
    ids.sort();
    for id in ids {
        lock_identity(tx, id).await?;
    }
    let datasets_sql = format!(
        "SELECT {DATASET_COLS} FROM datasets WHERE identity_id = $1 AND live ORDER BY name"
    );
    let live = tx
        .query(&datasets_sql, &[&source])
        .await
        .map_err(db_error)?
        .iter()
        .map(rows::dataset)
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    let records_sql = format!(
        "SELECT {RECORD_COLS} FROM records WHERE identity_id = $1 AND dataset_name = $2 ORDER BY key"
    );
    let mut copies = Vec::with_capacity(live.len());
    for dataset in live {
        let records = tx
            .query(&records_sql, &[&source, &dataset.name])
            .await
            .map_err(db_error)?
            .iter()
            .map(rows::record)
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_error)?;
        copies.push(DatasetCopy { dataset, records });
    }
    for copy in merge(source, dest, copies, now_ms) {
        let name = &copy.dataset.name;
        upsert_dataset(tx, dest, name, &copy.dataset).await?;
        tx.execute(
            "DELETE FROM records WHERE identity_id = $1 AND dataset_name = $2",
            &[&dest, name],
        )
        .await
        .map_err(db_error)?;
        upsert_records(tx, dest, name, &copy.records).await?;
    }
    tx.execute(
        "UPDATE logins SET identity_id = $1 WHERE identity_id = $2",
        &[&dest, &source],
    )
    .await
    .map_err(db_error)?;
    tx.execute("DELETE FROM identities WHERE id = $1", &[&source])
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Writes a dataset's row (inserted, or replacing the stored one).
async fn upsert_dataset(
    tx: &Transaction<'_>,
    identity_id: &str,
    name: &str,
    d: &DatasetRow,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO datasets (identity_id, name, live, sync_count, creation_ms,
             last_modified_ms, last_modified_by, data_storage, num_records, deleted_at_sync_count,
             merged_into)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (identity_id, name) DO UPDATE SET live = EXCLUDED.live,
             sync_count = EXCLUDED.sync_count, creation_ms = EXCLUDED.creation_ms,
             last_modified_ms = EXCLUDED.last_modified_ms,
             last_modified_by = EXCLUDED.last_modified_by,
             data_storage = EXCLUDED.data_storage, num_records = EXCLUDED.num_records,
             deleted_at_sync_count = EXCLUDED.deleted_at_sync_count,
             merged_into = EXCLUDED.merged_into",
        &[
            &identity_id,
            &name,
            &d.live,
            &d.sync_count,
            &d.creation_ms,
            &d.last_modified_ms,
            &d.last_modified_by,
            &d.data_storage,
            &d.num_records,
            &d.deleted_at_sync_count,
            &d.merged_into,
        ],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Writes records of a dataset (inserted, or replacing stored ones of the same key), in one
/// statement.
async fn upsert_records(
    tx: &Transaction<'_>,
    identity_id: &str,
    name: &str,
    records: &[RecordRow],
) -> StoreResult<()> {
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    let values: Vec<Option<&str>> = records.iter().map(|r| r.value.as_deref()).collect();
    let counts: Vec<i64> = records.iter().map(|r| r.sync_count).collect();
    let modified: Vec<i64> = records.iter().map(|r| r.last_modified_ms).collect();
    let by: Vec<&str> = records
        .iter()
        .map(|r| r.last_modified_by.as_str())
        .collect();
    let device: Vec<Option<i64>> = records.iter().map(|r| r.device_last_modified_ms).collect();
    tx.execute(
        "INSERT INTO records (identity_id, dataset_name, key, value, sync_count,
             last_modified_ms, last_modified_by, device_last_modified_ms)
         SELECT $1, $2, k, v, c, m, b, d
         FROM UNNEST($3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::BIGINT[], $7::TEXT[], $8::BIGINT[])
              AS u(k, v, c, m, b, d)
         ON CONFLICT (identity_id, dataset_name, key) DO UPDATE SET value = EXCLUDED.value,
             sync_count = EXCLUDED.sync_count, last_modified_ms = EXCLUDED.last_modified_ms,
             last_modified_by = EXCLUDED.last_modified_by,
             device_last_modified_ms = EXCLUDED.device_last_modified_ms",
        &[
            &identity_id,
            &name,
            &keys,
            &values,
            &counts,
            &modified,
            &by,
            &device,
        ],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Reads what a login transaction's rules decide on.
async fn login_snapshot<C: tokio_postgres::GenericClient>(
    c: &C,
    pool_id: &str,
    query: &LoginQuery,
) -> StoreResult<LoginSnapshot> {
    let mut snapshot = LoginSnapshot::default();
    let mut wanted: Vec<String> = query.identities.clone();
    for (provider, subject) in &query.logins {
        let owner = c
            .query_opt(
                "SELECT identity_id FROM logins WHERE pool_id = $1 AND provider = $2 AND subject = $3",
                &[&pool_id, provider, subject],
            )
            .await
            .map_err(db_error)?
            .map(|r| r.try_get::<_, String>(0))
            .transpose()
            .map_err(db_error)?;
        if let Some(owner) = owner {
            wanted.push(owner.clone());
            snapshot
                .owners
                .insert((provider.clone(), subject.clone()), owner);
        }
    }
    let identity_sql = format!("SELECT {IDENTITY_COLS} FROM identities WHERE id = $1");
    for id in wanted {
        if snapshot.identities.contains_key(&id) {
            continue;
        }
        let Some(row) = c.query_opt(&identity_sql, &[&id]).await.map_err(db_error)? else {
            continue;
        };
        let identity = rows::identity(&row).map_err(db_error)?;
        let logins = c
            .query(
                "SELECT provider, subject FROM logins WHERE identity_id = $1 ORDER BY provider, subject",
                &[&id],
            )
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<Vec<LoginKey>, tokio_postgres::Error>>()
            .map_err(db_error)?;
        snapshot.logins.insert(id.clone(), logins);
        snapshot.identities.insert(id, identity);
    }
    Ok(snapshot)
}

/// Applies a login plan inside the caller's transaction.
async fn apply_login_plan(
    tx: &Transaction<'_>,
    pool_id: &str,
    plan: &LoginPlan,
    now_ms: i64,
    merge: &MergeCopier,
) -> StoreResult<()> {
    if let Some(i) = &plan.create {
        tx.execute(
            "INSERT INTO identities (id, pool_id, created_ms, last_modified_ms) VALUES ($1, $2, $3, $4)",
            &[&i.id, &i.pool_id, &i.created_ms, &i.last_modified_ms],
        )
        .await
        .map_err(db_error)?;
    }
    for (source, dest) in &plan.merges {
        merge_in(tx, source, dest, now_ms, merge).await?;
    }
    for ((provider, subject), identity) in &plan.unlink {
        tx.execute(
            "DELETE FROM logins WHERE pool_id = $1 AND provider = $2 AND subject = $3 AND identity_id = $4",
            &[&pool_id, provider, subject, identity],
        )
        .await
        .map_err(db_error)?;
    }
    for ((provider, subject), identity) in &plan.link {
        tx.execute(
            "INSERT INTO logins (pool_id, provider, subject, identity_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&pool_id, provider, subject, identity],
        )
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_passes_the_store_conformance_suite() {
        let Some(db) =
            crate::testing::TestDatabase::create("postgres_passes_the_store_conformance_suite")
                .await
        else {
            return;
        };
        let store = PostgresStore::connect(&db.url).await.unwrap();
        crate::store::conformance::run_all(Arc::new(store)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migrations_are_idempotent_and_refuse_a_newer_schema() {
        let Some(db) = crate::testing::TestDatabase::create(
            "migrations_are_idempotent_and_refuse_a_newer_schema",
        )
        .await
        else {
            return;
        };
        drop(PostgresStore::connect(&db.url).await.unwrap());
        let store = PostgresStore::connect(&db.url).await.unwrap();
        store
            .client()
            .await
            .unwrap()
            .execute("UPDATE cogsync_schema SET version = version + 1", &[])
            .await
            .unwrap();
        let err = PostgresStore::connect(&db.url)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("newer than this cogsync understands"), "{err}");
    }
}
