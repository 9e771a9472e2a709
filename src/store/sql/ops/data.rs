//! Transactions on an identity's data: the secret store's first-writer-wins, one page of
//! records, UpdateRecords and DeleteDataset.

use super::parts;
use crate::store::sql::interface::{args, Op, Tx};
use crate::store::sql::rows::{self, record_cols};
use crate::store::{
    DatasetRow, DeleteDecider, RecordCursor, RecordsPage, StoreError, StoreResult, UpdateDecider,
    UpdatePlan, UpdateSnapshot,
};

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

/// One page of a dataset's records, with its row and the datasets merged into it.
pub struct ListRecords {
    pub identity_id: String,
    pub name: String,
    pub after_sync_count: i64,
    pub cursor: Option<RecordCursor>,
    pub limit: usize,
}

impl Op for ListRecords {
    type Output = RecordsPage;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<RecordsPage> {
        const RECORDS: &str = concat!(
            "SELECT ",
            record_cols!(),
            " FROM records WHERE identity_id = $1 AND dataset_name = $2 AND sync_count > $3
               AND (sync_count, key) > ($4, $5)
             ORDER BY sync_count, key LIMIT $6"
        );
        const MERGED: &str =
            "SELECT name FROM datasets WHERE identity_id = $1 AND merged_into = $2 AND live
             ORDER BY name";
        let (id, name) = (self.identity_id.as_str(), self.name.as_str());
        let dataset = parts::dataset(tx, id, name).await?;
        let mut records = Vec::new();
        if dataset.as_ref().is_some_and(|d| d.live) {
            let (count, key) = match &self.cursor {
                Some((count, key)) => (*count, key.as_str()),
                None => (i64::MIN, ""),
            };
            let params = args![
                id,
                name,
                self.after_sync_count,
                count,
                key,
                self.limit.saturating_add(1)
            ];
            records = rows::all(tx.query(RECORDS, &params).await?, rows::record)?;
        }
        let merged = rows::all(tx.query(MERGED, &args![id, name]).await?, rows::text)?;
        let more = records.len() > self.limit;
        records.truncate(self.limit);
        Ok(RecordsPage {
            dataset,
            records,
            more,
            merged,
        })
    }
}

/// UpdateRecords: the snapshot, the rules' plan, the plan written.
pub struct UpdateRecords {
    pub identity_id: String,
    pub name: String,
    pub keys: Vec<String>,
    pub decide: UpdateDecider,
}

impl Op for UpdateRecords {
    type Output = UpdatePlan;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<UpdatePlan> {
        let (id, name) = (self.identity_id.as_str(), self.name.as_str());
        parts::lock_identity(tx, id).await?;
        let dataset = parts::dataset(tx, id, name).await?;
        let existing = parts::records_by_key(tx, id, name, &self.keys).await?;
        let live = tx
            .query(
                "SELECT COUNT(*) FROM datasets WHERE identity_id = $1 AND live",
                &args![id],
            )
            .await?;
        let live_datasets = rows::opt(live, rows::int)?.unwrap_or(0);
        let subscribers = parts::subscribers(tx, id, name).await?;
        let snapshot = UpdateSnapshot {
            dataset,
            existing,
            live_datasets,
            subscribers,
        };
        let plan = (self.decide)(&snapshot).map_err(StoreError::Rejected)?;
        parts::put_dataset(tx, id, name, &plan.dataset).await?;
        parts::put_records(tx, id, name, &plan.records).await?;
        parts::put_outbox(tx, &plan.outbox, plan.dataset.last_modified_ms).await?;
        Ok(plan)
    }
}

/// DeleteDataset: drops the records and subscriptions of a live dataset and writes what the
/// rules make of its row. Answers the row as it was; None when there was no live dataset.
pub struct DeleteDataset {
    pub identity_id: String,
    pub name: String,
    pub decide: DeleteDecider,
}

impl Op for DeleteDataset {
    type Output = Option<DatasetRow>;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<Option<DatasetRow>> {
        let (id, name) = (self.identity_id.as_str(), self.name.as_str());
        parts::lock_identity(tx, id).await?;
        let before = match parts::dataset(tx, id, name).await? {
            Some(d) if d.live => d,
            _ => return Ok(None),
        };
        tx.execute(
            "DELETE FROM records WHERE identity_id = $1 AND dataset_name = $2",
            &args![id, name],
        )
        .await?;
        tx.execute(
            "DELETE FROM subscriptions WHERE identity_id = $1 AND dataset_name = $2",
            &args![id, name],
        )
        .await?;
        let plan = (self.decide)(&before);
        parts::put_dataset(tx, id, name, &plan.dataset).await?;
        parts::put_outbox(tx, &plan.outbox, plan.at_ms).await?;
        Ok(Some(before))
    }
}
