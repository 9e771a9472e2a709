//! The server's own and the operators' reads and writes ([`AdminStore`]): secrets stored
//! first-writer-wins, the schema version, the usage totals, the outbox and bulk-publish
//! gauges, the store's observer and its descriptor budget.

use std::sync::Arc;

use async_trait::async_trait;

use crate::store::sql::interface::{args, Op, Row, Tx};
use crate::store::sql::interface::{Engine, Mode};
use crate::store::sql::rows;
use crate::store::sql::SqlStore;
use crate::store::*;

/// The named secret, stored first if absent.
pub struct Secret {
    pub name: String,
    pub fresh: Vec<u8>,
}

impl Op for Secret {
    type Output = Vec<u8>;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<Vec<u8>> {
        tx.execute(
            "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &args![self.name.as_str(), self.fresh.as_slice()],
        )
        .await?;
        let found = tx
            .query(
                "SELECT value FROM secrets WHERE name = $1",
                &args![self.name.as_str()],
            )
            .await?;
        match rows::opt(found, |r| r.cols().bytes())? {
            Some(value) => Ok(value),
            None => Err(StoreError::Backend(format!(
                "secret {} vanished",
                self.name
            ))),
        }
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
impl<E: Engine> AdminStore for SqlStore<E> {
    async fn secret(&self, name: &str, fresh: Vec<u8>) -> StoreResult<Vec<u8>> {
        let name = name.to_owned();
        self.run("secret", Mode::Write, Secret { name, fresh })
            .await
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        struct Version;
        impl Op for Version {
            type Output = i64;
            async fn run<X: crate::store::sql::interface::Tx>(
                &self,
                tx: &mut X,
            ) -> StoreResult<i64> {
                let found = tx.query(X::DIALECT.schema_version, &[]).await?;
                Ok(rows::opt(found, rows::int)?.unwrap_or(0))
            }
        }
        self.run("schema_version", Mode::Read, Version).await
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
        totals(
            self.long_read("pool_totals", SQL, vec![pool_id.into()])
                .await?,
        )
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

    fn observe(&self, observer: Arc<dyn StoreObserver>) {
        self.engine.observe(observer.clone());
        let _ = self.observer.set(observer);
    }

    fn descriptors(&self) -> usize {
        self.engine.descriptors()
    }
}
