//! An identity's data ([`DataStore`]): its datasets, one page of records, UpdateRecords and
//! DeleteDataset, and the identity and pool settings UpdateRecords reads before its
//! transaction.

use super::parts;
use async_trait::async_trait;

use crate::store::sql::interface::{Engine, Mode};
use crate::store::sql::SqlStore;
use crate::store::*;
use std::collections::HashMap;

use crate::store::sql::interface::{args, Batch, Lock, Op, Row, Tx};
use crate::store::sql::rows::{self, dataset_cols};
use crate::store::{
    DatasetRow, DeleteDecider, RecordCursor, RecordRow, RecordsPage, StoreError, StoreResult,
    UpdateDecider, UpdatePlan, UpdateSnapshot,
};

/// One page of a dataset's records, with its row and the datasets merged into it.
pub struct ListRecords {
    pub identity_id: String,
    pub name: String,
    pub after_sync_count: i64,
    pub cursor: Option<RecordCursor>,
    pub limit: usize,
}

/// The page in one statement, so that one snapshot answers it without a transaction (and in
/// one round trip): the dataset row (kind 0), the page of records (kind 1, in the dataset
/// row's columns: key as name, value as merged_into, device date as deleted_at_sync_count),
/// and the names of the live datasets merged into it (kind 2, as name). Rows come in no
/// particular order (an ORDER BY over the union, or a rank by window function, makes SQLite
/// build a temporary b-tree for every page: it tripled list's CPU), so the decoder sorts
/// them by (SyncCount, key) in byte order. The page's cut and the next page's cursor must
/// use that same order: SQLite compares text by bytes; PostgreSQL by the database's
/// collation, which is why its statement says `COLLATE "C"` (see [`PAGE_IN_BYTE_ORDER`]).
macro_rules! page {
    ($bytes:literal) => {
        concat!(
            "SELECT 0, ",
            dataset_cols!(),
            " FROM datasets WHERE identity_id = $1 AND name = $2
     UNION ALL
     SELECT 1, NULL, key, NULL, sync_count, NULL, last_modified_ms, last_modified_by, NULL, NULL,
            device_last_modified_ms, value
     FROM (SELECT key, value, sync_count, last_modified_ms, last_modified_by, device_last_modified_ms
           FROM records
           WHERE identity_id = $1 AND dataset_name = $2 AND sync_count > $3
             AND (sync_count, key",
            $bytes,
            ") > ($4, $5)
             AND EXISTS (SELECT 1 FROM datasets WHERE identity_id = $1 AND name = $2 AND live)
           ORDER BY sync_count, key",
            $bytes,
            " LIMIT $6) AS page
     UNION ALL
     SELECT 2, NULL, name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
     FROM datasets WHERE identity_id = $1 AND merged_into = $2 AND live"
        )
    };
}

/// The page where text compares by bytes already (SQLite).
pub(crate) const PAGE: &str = page!("");

/// The page where text compares by a collation (PostgreSQL): keys compared in byte order.
pub(crate) const PAGE_IN_BYTE_ORDER: &str = page!(" COLLATE \"C\"");

impl Op for ListRecords {
    type Output = RecordsPage;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<RecordsPage> {
        let (id, name) = (self.identity_id.as_str(), self.name.as_str());
        let (count, key) = match &self.cursor {
            Some((count, key)) => (*count, key.as_str()),
            None => (i64::MIN, ""),
        };
        let limit = self.limit.saturating_add(1);
        let params = args![id, name, self.after_sync_count, count, key, limit];
        let mut page = RecordsPage {
            dataset: None,
            records: Vec::new(),
            more: false,
            merged: Vec::new(),
        };
        let sql = match X::DIALECT.text_in_byte_order {
            true => PAGE,
            false => PAGE_IN_BYTE_ORDER,
        };
        for row in tx.query(sql, &params).await? {
            let mut c = row.cols();
            let kind = c.int()?;
            let rest = c.rest();
            match kind {
                0 => page.dataset = Some(rows::dataset(rest)?),
                1 => page.records.push(page_record(rest)?),
                _ => page.merged.push(page_name(rest)?),
            }
        }
        page.records
            .sort_unstable_by(|a, b| (a.sync_count, &a.key).cmp(&(b.sync_count, &b.key)));
        page.merged.sort_unstable();
        page.more = page.records.len() > self.limit;
        page.records.truncate(self.limit);
        Ok(page)
    }
}

/// A record as [`PAGE`] carries it.
fn page_record(r: Row) -> StoreResult<RecordRow> {
    let mut c = r.cols();
    c.skip(1)?;
    let key = c.text()?;
    c.skip(1)?;
    let sync_count = c.int()?;
    c.skip(1)?;
    let last_modified_ms = c.int()?;
    let last_modified_by = c.text()?;
    c.skip(2)?;
    let device_last_modified_ms = c.opt_int()?;
    let value = c.opt_text()?;
    Ok(RecordRow {
        key,
        value,
        sync_count,
        last_modified_ms,
        last_modified_by,
        device_last_modified_ms,
    })
}

/// A merged dataset's name as [`PAGE`] carries it.
fn page_name(r: Row) -> StoreResult<String> {
    let mut c = r.cols();
    c.skip(1)?;
    c.text()
}

/// Who plans an [`UpdateRecords`]: the sync rules, or a mirror of the upstream.
pub enum Planner {
    Rules(UpdateDecider),
    Mirror(MirrorDecider),
}

/// UpdateRecords: the snapshot, the rules' plan, the plan written (a mirror may decline:
/// nothing written, None).
pub struct UpdateRecords {
    pub identity_id: String,
    pub name: String,
    pub keys: Vec<String>,
    pub decide: Planner,
}

impl Op for UpdateRecords {
    type Output = Option<UpdatePlan>;

    /// Two batches: the lock and every read together, then every write together.
    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<Option<UpdatePlan>> {
        const LIVE: &str = "SELECT COUNT(*) FROM datasets WHERE identity_id = $1 AND live";
        let (id, name) = (self.identity_id.as_str(), self.name.as_str());
        let mut reads = Batch::default();
        let lock = X::lock_sql(Lock::Identity).map(|sql| reads.query(sql, args![id]));
        let dataset = reads.query(parts::DATASET, args![id, name]);
        let live = reads.query(LIVE, args![id]);
        let subscribers = reads.query(parts::SUBSCRIBERS, args![id, name]);
        let records = parts::read_records_by_key(&mut reads, X::DIALECT, id, name, &self.keys);
        let mut found = reads.run(tx).await?;
        if lock.is_some_and(|i| found.rows(i).is_empty()) {
            return Err(parts::identity_gone(id));
        }
        let mut existing = HashMap::with_capacity(self.keys.len());
        for i in records {
            for r in rows::all(found.rows(i), rows::record)? {
                existing.insert(r.key.clone(), r);
            }
        }
        let snapshot = UpdateSnapshot {
            dataset: rows::opt(found.rows(dataset), rows::dataset)?,
            existing,
            live_datasets: rows::opt(found.rows(live), rows::int)?.unwrap_or(0),
            subscribers: rows::all(found.rows(subscribers), rows::device)?,
        };
        let plan = match &self.decide {
            Planner::Rules(decide) => decide(&snapshot).map_err(StoreError::Rejected)?,
            Planner::Mirror(decide) => match decide(&snapshot) {
                Some(plan) => plan,
                None => return Ok(None),
            },
        };
        let mut writes = Batch::default();
        parts::write_dataset(&mut writes, id, name, &plan.dataset);
        parts::write_records(&mut writes, X::DIALECT, id, name, &plan.records);
        let at = plan.dataset.last_modified_ms;
        parts::write_outbox(&mut writes, &plan.outbox, at);
        writes.run(tx).await?;
        Ok(Some(plan))
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
        tx.execute(parts::CLEAR_RECORDS, &args![id, name]).await?;
        tx.execute(
            "DELETE FROM subscriptions WHERE identity_id = $1 AND dataset_name = $2",
            &args![id, name],
        )
        .await?;
        let plan = (self.decide)(&before);
        let mut writes = Batch::default();
        parts::write_dataset(&mut writes, id, name, &plan.dataset);
        parts::write_outbox(&mut writes, &plan.outbox, plan.at_ms);
        writes.run(tx).await?;
        Ok(Some(before))
    }
}

/// An identity's record and a pool's settings, in one batch.
pub struct IdentityAndSettings {
    pub identity_id: String,
    pub pool_id: String,
}

impl Op for IdentityAndSettings {
    type Output = (Option<IdentityRecord>, PoolSettings);

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<Self::Output> {
        let mut reads = Batch::default();
        let identity = reads.query(parts::IDENTITY, args![self.identity_id.as_str()]);
        let settings = reads.query(parts::SETTINGS, args![self.pool_id.as_str()]);
        let mut found = reads.run(tx).await?;
        Ok((
            rows::opt(found.rows(identity), rows::identity)?,
            rows::opt(found.rows(settings), rows::settings)?.unwrap_or_default(),
        ))
    }
}

#[async_trait]
impl<E: Engine> DataStore for SqlStore<E> {
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
        let op = IdentityAndSettings {
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
        let op = ListRecords {
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
        let op = UpdateRecords {
            identity_id: identity_id.to_owned(),
            name: name.to_owned(),
            keys,
            decide: Planner::Rules(decide),
        };
        let plan = self.run("update_records", Mode::Write, op).await?;
        plan.ok_or_else(|| StoreError::Backend("the rules planned nothing".into()))
    }

    async fn mirror_records(
        &self,
        identity_id: &str,
        name: &str,
        keys: Vec<String>,
        decide: MirrorDecider,
    ) -> StoreResult<Option<UpdatePlan>> {
        let op = UpdateRecords {
            identity_id: identity_id.to_owned(),
            name: name.to_owned(),
            keys,
            decide: Planner::Mirror(decide),
        };
        self.run("mirror_records", Mode::Write, op).await
    }

    async fn delete_dataset(
        &self,
        identity_id: &str,
        name: &str,
        decide: DeleteDecider,
    ) -> StoreResult<Option<DatasetRow>> {
        let op = DeleteDataset {
            identity_id: identity_id.to_owned(),
            name: name.to_owned(),
            decide,
        };
        self.run("delete_dataset", Mode::Write, op).await
    }
}
