//! Moving data between stores: one identity read whole (export), one identity or pool
//! written whole (import), each in one transaction.

use async_trait::async_trait;

use crate::store::sql::interface::{Engine, Mode};
use crate::store::sql::SqlStore;
use crate::store::*;
use std::collections::HashMap;

use super::parts;
use crate::store::sql::interface::{args, Batch, Lock, Op, Tx};
use crate::store::sql::rows::{self, dataset_cols, device_cols, record_cols};
use crate::store::{
    BulkJob, DatasetRecords, DatasetVerdict, IdentityCopy, IdentityImport, ImportDecider,
    PoolRecord, SettingsDecider, StoreError, StoreResult,
};

/// Reads of an identity's datasets that found them changing this many times in a row give up.
const READ_ATTEMPTS: usize = 8;

/// Every dataset row of an identity (live, deleted, merged), by name.
const DATASETS: &str = concat!(
    "SELECT ",
    dataset_cols!(),
    " FROM datasets WHERE identity_id = $1 ORDER BY name"
);

/// An identity with everything stored under it. A read is not a transaction on every engine:
/// the datasets are read again after their records, and the whole read repeated until both
/// readings agree, so each dataset's records match its row.
pub struct ExportIdentity {
    pub id: String,
}

impl Op for ExportIdentity {
    type Output = Option<IdentityCopy>;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<Option<IdentityCopy>> {
        const RECORDS: &str = concat!(
            "SELECT dataset_name, ",
            record_cols!(),
            " FROM records WHERE identity_id = $1 ORDER BY dataset_name, key"
        );
        const DEVICES: &str = concat!(
            "SELECT ",
            device_cols!(),
            " FROM devices WHERE identity_id = $1 ORDER BY id"
        );
        const SUBSCRIPTIONS: &str = "SELECT dataset_name, device_id FROM subscriptions
             WHERE identity_id = $1 ORDER BY dataset_name, device_id";
        let id = self.id.as_str();
        for _ in 0..READ_ATTEMPTS {
            let mut reads = Batch::default();
            let identity = reads.query(parts::IDENTITY, args![id]);
            let logins = reads.query(parts::LOGINS_OF, args![id]);
            let before = reads.query(DATASETS, args![id]);
            let records = reads.query(RECORDS, args![id]);
            let devices = reads.query(DEVICES, args![id]);
            let subscriptions = reads.query(SUBSCRIPTIONS, args![id]);
            let after = reads.query(DATASETS, args![id]);
            let mut found = reads.run(tx).await?;
            let Some(identity) = rows::opt(found.rows(identity), rows::identity)? else {
                return Ok(None);
            };
            let datasets = rows::all(found.rows(before), rows::dataset)?;
            if datasets != rows::all(found.rows(after), rows::dataset)? {
                continue;
            }
            let mut by_name: HashMap<String, Vec<_>> = HashMap::new();
            for row in found.rows(records) {
                let mut c = row.cols();
                let name = c.text()?;
                by_name
                    .entry(name)
                    .or_default()
                    .push(rows::record(c.rest())?);
            }
            let datasets = datasets
                .into_iter()
                .map(|row| DatasetRecords {
                    records: by_name.remove(&row.name).unwrap_or_default(),
                    row,
                    since: None,
                })
                .collect();
            let subscriptions = rows::all(found.rows(subscriptions), rows::login)?;
            return Ok(Some(IdentityCopy {
                identity,
                logins: rows::all(found.rows(logins), rows::login)?,
                datasets,
                devices: rows::all(found.rows(devices), rows::device)?,
                subscriptions,
            }));
        }
        Err(StoreError::Busy(format!(
            "the datasets of identity {id} kept changing while being read"
        )))
    }
}

/// A pool written whole: its row (created, or its description replaced), what the decider
/// makes of its stored settings, and its bulk-publish job.
pub struct ImportPool {
    pub pool: PoolRecord,
    pub bulk: Option<BulkJob>,
    pub settings: SettingsDecider,
}

impl Op for ImportPool {
    type Output = ();

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<()> {
        const POOL: &str = concat!(
            "INSERT INTO identity_pools (",
            crate::store::sql::rows::pool_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                 allow_unauthenticated = excluded.allow_unauthenticated,
                 developer_provider_name = excluded.developer_provider_name,
                 extra_json = excluded.extra_json, created_ms = excluded.created_ms"
        );
        let p = &self.pool;
        let details = rows::encoded(&p.details)?;
        let params = args![
            &p.id,
            &p.name,
            p.allow_unauthenticated,
            &p.developer_provider_name,
            &details,
            p.created_ms,
        ];
        // The upsert has locked the pool's row (or inserted it, unseen until commit): the
        // settings below are decided under it with no lock statement of their own.
        tx.execute(POOL, &params).await?;
        let stored = parts::settings(tx, &p.id).await?;
        if let Some(next) = (self.settings)(&stored) {
            parts::put_settings(tx, &p.id, &next).await?;
        }
        if let Some(job) = &self.bulk {
            let params = args![
                &p.id,
                &job.status,
                job.start_ms,
                job.complete_ms,
                &job.failure_message,
                job.last_success_ms,
            ];
            tx.execute(parts::PUT_BULK_JOB, &params).await?;
        }
        Ok(())
    }
}

/// An identity written whole: its row, its logins where they are free, its devices and
/// subscriptions, and each dataset as the import rule says.
pub struct ImportIdentity {
    pub copy: IdentityCopy,
    pub decide: ImportDecider,
}

impl Op for ImportIdentity {
    type Output = IdentityImport;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<IdentityImport> {
        const DATES: &str = "UPDATE identities SET created_ms = $2, last_modified_ms = $3
             WHERE id = $1 AND (created_ms <> $2 OR last_modified_ms <> $3)";
        const OWNER: &str = "SELECT pool_id FROM identities WHERE id = $1";
        let mut report = IdentityImport::default();
        let i = &self.copy.identity;
        let id = i.id.as_str();
        // Logins are linked under the pool's lock, taken first as login transactions take it:
        // a GetId on another node must not find a login free while this links it.
        if !self.copy.logins.is_empty() {
            tx.lock(Lock::Pool, &i.pool_id).await?;
        }
        let params = args![id, &i.pool_id, i.created_ms, i.last_modified_ms];
        report.created = tx.execute(parts::INSERT_IDENTITY, &params).await? > 0;
        if !report.created {
            let owner = rows::opt(tx.query(OWNER, &args![id]).await?, rows::text)?;
            if owner.as_deref() != Some(i.pool_id.as_str()) {
                report.foreign_pool = owner;
                return Ok(report);
            }
            tx.execute(DATES, &args![id, i.created_ms, i.last_modified_ms])
                .await?;
        }
        parts::lock_identity(tx, id).await?;
        self.logins(tx, &mut report).await?;
        self.datasets(tx, &mut report).await?;
        self.devices(tx).await?;
        Ok(report)
    }
}

impl ImportIdentity {
    async fn logins<X: Tx>(&self, tx: &mut X, report: &mut IdentityImport) -> StoreResult<()> {
        const LINK: &str = "INSERT INTO logins (pool_id, provider, subject, identity_id)
             VALUES ($1, $2, $3, $4) ON CONFLICT (pool_id, provider, subject) DO NOTHING";
        let i = &self.copy.identity;
        for (provider, subject) in &self.copy.logins {
            let key = args![&i.pool_id, provider, subject];
            let params = args![&i.pool_id, provider, subject, &i.id];
            if tx.execute(LINK, &params).await? > 0 {
                report
                    .logins_linked
                    .push((provider.clone(), subject.clone()));
                continue;
            }
            let holder = rows::opt(tx.query(parts::LOGIN_OWNER, &key).await?, rows::text)?;
            if holder.as_deref() != Some(i.id.as_str()) {
                report
                    .logins_taken
                    .push((provider.clone(), subject.clone()));
            }
        }
        Ok(())
    }

    async fn datasets<X: Tx>(&self, tx: &mut X, report: &mut IdentityImport) -> StoreResult<()> {
        let id = self.copy.identity.id.as_str();
        let stored = rows::all(tx.query(DATASETS, &args![id]).await?, rows::dataset)?;
        let stored: HashMap<&str, _> = stored.iter().map(|d| (d.name.as_str(), d)).collect();
        let mut writes = Batch::default();
        for incoming in &self.copy.datasets {
            let name = incoming.row.name.as_str();
            match (self.decide)(stored.get(name).copied(), incoming) {
                DatasetVerdict::Write => {}
                DatasetVerdict::Unchanged => {
                    report.datasets_unchanged += 1;
                    continue;
                }
                DatasetVerdict::StoreAhead { stored, incoming } => {
                    report.store_ahead.push((name.to_owned(), stored, incoming));
                    continue;
                }
                DatasetVerdict::NeedsFull => {
                    report.needs_full.push(name.to_owned());
                    continue;
                }
            }
            if incoming.since.is_none() {
                writes.execute(parts::CLEAR_RECORDS, args![id, name]);
            }
            parts::write_dataset(&mut writes, id, name, &incoming.row);
            parts::write_records(&mut writes, X::DIALECT, id, name, &incoming.records);
            report.datasets_written += 1;
            report.records_written += incoming.records.len() as u64;
        }
        if !writes.is_empty() {
            writes.run(tx).await?;
        }
        Ok(())
    }

    /// Devices and subscriptions: added where absent (a device re-registered meanwhile, with
    /// another id for the same token, keeps its own).
    async fn devices<X: Tx>(&self, tx: &mut X) -> StoreResult<()> {
        const DEVICE: &str = concat!(
            "INSERT INTO devices (",
            device_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
        );
        const SUBSCRIPTION: &str =
            "INSERT INTO subscriptions (identity_id, dataset_name, device_id)
             SELECT $1, $2, $3
             WHERE EXISTS (SELECT 1 FROM devices WHERE id = $3 AND identity_id = $1)
             ON CONFLICT DO NOTHING";
        let id = self.copy.identity.id.as_str();
        let mut writes = Batch::default();
        for d in &self.copy.devices {
            let params = args![
                &d.id,
                id,
                &d.platform,
                &d.token,
                &d.endpoint_arn,
                d.disabled,
                d.created_ms,
            ];
            writes.execute(DEVICE, params);
        }
        for (dataset, device) in &self.copy.subscriptions {
            writes.execute(SUBSCRIPTION, args![id, dataset, device]);
        }
        if !writes.is_empty() {
            writes.run(tx).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl<E: Engine> TransferStore for SqlStore<E> {
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
        let op = ExportIdentity { id: id.to_owned() };
        self.run("export_identity", Mode::LongRead, op).await
    }

    async fn import_pool(
        &self,
        pool: &PoolRecord,
        bulk: Option<&BulkJob>,
        settings: SettingsDecider,
    ) -> StoreResult<()> {
        let op = ImportPool {
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
        let op = ImportIdentity { copy, decide };
        self.write_then("import_identity", op, move |cache, _| {
            cache.drop_identities([id.as_str()])
        })
        .await
    }
}
