//! `cogsync import --source-endpoint / --source-region`: every pool, identity, dataset and
//! record of the source written into the store, identities a few at a time. A dataset the
//! store already holds is read from the source from the store's SyncCount on (what a device
//! would ask), so a second run reads little and writes nothing.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};

use super::progress::Progress;
use super::source::{self, ListedIdentity, Source};
use super::{rules, store_pool, MigrateError, Summary};
use crate::identity::login_rules::merged_name_parts;
use crate::store::{
    DatasetRecords, DatasetRow, DatasetVerdict, IdentityCopy, IdentityImport, PoolRecord, Store,
};
use crate::sync::Limits;

pub struct CopyOptions {
    /// Pools to copy; empty for all the source lists.
    pub pools: Vec<String>,
    /// Only datasets modified at or after this time (ms since the epoch) are read again.
    pub since_ms: Option<i64>,
    /// Identities copied at once.
    pub concurrency: usize,
    /// Datasets the store itself wrote at or after this time are kept as they are (see
    /// [`rules::verdict_keeping_local`]).
    pub keep_local_since_ms: Option<i64>,
    /// The server's quotas, to report what is above them (nothing is refused for them).
    pub limits: Limits,
}

pub async fn copy(
    source: &Source,
    store: &dyn Store,
    o: &CopyOptions,
    progress: &Progress,
) -> Result<Summary, MigrateError> {
    let mut summary = Summary::default();
    let pools = match o.pools.is_empty() {
        true => source.pool_ids().await?,
        false => o.pools.clone(),
    };
    let mut total = 0;
    for pool_id in &pools {
        total += source.pool_storage(pool_id).await?;
    }
    progress.set_total(total);
    summary.from_source = true;
    for pool_id in pools {
        let created = match store.get_pool(&pool_id).await? {
            Some(p) => p.created_ms,
            None => crate::timeutil::now_ms(),
        };
        let pool = source.pool(&pool_id, created).await?;
        // No Cognito API tells a pool's quotas: the store keeps its own.
        let limits = store_pool(store, &pool, rules::Quotas::Unknown, o.limits).await?;
        summary.pools += 1;
        progress.pools(1);
        let mut next = None;
        loop {
            let (page, token) = source.identities(&pool_id, next).await?;
            let copied: Vec<_> = stream::iter(page)
                .map(|listed| {
                    let decide = decider(o.keep_local_since_ms);
                    copy_identity(
                        source, store, &pool.pool, listed, o.since_ms, decide, progress,
                    )
                })
                .buffer_unordered(o.concurrency.max(1))
                .collect()
                .await;
            for result in copied {
                let (listed, report, rows) = result?;
                summary.add(&listed.id, &report);
                summary
                    .above_quotas
                    .add_rows(&pool_id, &listed.id, &rows, limits);
                let unlisted = listed
                    .providers
                    .iter()
                    .filter(|p| Some(*p) != pool.pool.developer_provider_name.as_ref())
                    .count();
                summary.unlisted_logins += unlisted as u64;
            }
            match token {
                Some(t) => next = Some(t),
                None => break,
            }
        }
    }
    Ok(summary)
}

/// One identity read whole from the source and written as `decide` says (upstream mode: an
/// identity whose mirror may lag, at the background copy or the detach).
pub async fn copy_whole(
    source: &Source,
    store: &dyn Store,
    pool: &PoolRecord,
    identity_id: &str,
    decide: crate::store::ImportDecider,
) -> Result<IdentityImport, MigrateError> {
    let listed = source.describe_identity(identity_id).await?;
    let none = HashMap::new();
    let (copy, _) = read_identity(source, pool, &listed, &none, None, true).await?;
    Ok(store.import_identity(copy, decide).await?)
}

/// A verdict shared by the two writes of one identity.
type Verdict = Arc<dyn Fn(Option<&DatasetRow>, &DatasetRecords) -> DatasetVerdict + Send + Sync>;

/// The import's verdict, or one keeping what the store wrote since a time.
fn decider(keep_local_since_ms: Option<i64>) -> Verdict {
    match keep_local_since_ms {
        Some(t) => Arc::new(rules::verdict_keeping_local(t)),
        None => Arc::new(rules::verdict),
    }
}

async fn copy_identity(
    source: &Source,
    store: &dyn Store,
    pool: &PoolRecord,
    listed: ListedIdentity,
    since_ms: Option<i64>,
    decide: Verdict,
    progress: &Progress,
) -> Result<(ListedIdentity, IdentityImport, Vec<DatasetRow>), MigrateError> {
    let held = held_counts(store, &listed.id).await?;
    let (copy, storage) = read_identity(source, pool, &listed, &held, since_ms, false).await?;
    let (datasets, records) = super::counts(&copy);
    let first = decide.clone();
    // What the summary needs of it: the rows, with the datasets' sizes.
    let rows: Vec<DatasetRow> = copy.datasets.iter().map(|d| d.row.clone()).collect();
    let mut report = store
        .import_identity(copy, Box::new(move |s, i| first(s, i)))
        .await?;
    if !report.needs_full.is_empty() {
        // The store moved between our read and our write: read those again, whole.
        let names: Vec<String> = report.needs_full.drain(..).collect();
        let none = HashMap::new();
        let (mut retry, _) = read_identity(source, pool, &listed, &none, None, true).await?;
        retry.datasets.retain(|d| names.contains(&d.row.name));
        let second = store
            .import_identity(retry, Box::new(move |s, i| decide(s, i)))
            .await?;
        report.datasets_written += second.datasets_written;
        report.records_written += second.records_written;
        report.store_ahead.extend(second.store_ahead);
        report.needs_full.extend(second.needs_full);
    }
    progress.identity(datasets, records);
    progress.bytes(storage);
    Ok((listed, report, rows))
}

/// The SyncCount of each live dataset the store holds of an identity (rows only: the records
/// are not needed to know where to read the source from).
async fn held_counts(
    store: &dyn Store,
    identity_id: &str,
) -> Result<HashMap<String, i64>, MigrateError> {
    const PAGE: usize = 100;
    let mut held = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_datasets(identity_id, after.as_deref(), PAGE)
            .await?;
        let full = page.len() == PAGE;
        after = page.last().map(|d| d.name.clone());
        held.extend(page.into_iter().map(|d| (d.name, d.sync_count)));
        if !full {
            return Ok(held);
        }
    }
}

/// An identity as the source holds it: its developer logins, and its datasets, each read
/// from the SyncCount `held` has for it on (all of it when `whole`, or when absent). With
/// the bytes its datasets hold at the source (read or skipped), for the progress.
async fn read_identity(
    source: &Source,
    pool: &PoolRecord,
    listed: &ListedIdentity,
    held: &HashMap<String, i64>,
    since_ms: Option<i64>,
    whole: bool,
) -> Result<(IdentityCopy, u64), MigrateError> {
    let mut storage = 0;
    let mut copy = source::identity_of(&pool.id, listed);
    for provider in &listed.providers {
        if Some(provider) == pool.developer_provider_name.as_ref() {
            for user in source.developer_users(&pool.id, &listed.id).await? {
                copy.logins.push((provider.clone(), user));
            }
        } else {
            // No API lists the subject: hold the provider's place, so the identity is
            // never taken for a guest whose id alone lets a new login in.
            copy.logins
                .push((provider.clone(), rules::unlisted_subject(&listed.id)));
        }
    }
    let mut merged = HashMap::new();
    for listed_ds in source.datasets(&pool.id, &listed.id).await? {
        let name = listed_ds.dataset_name().unwrap_or_default().to_owned();
        storage += u64::try_from(listed_ds.data_storage().unwrap_or(0)).unwrap_or(0);
        let have = held.get(&name).copied();
        let modified = listed_ds
            .last_modified_date()
            .map_or(i64::MAX, source::millis);
        if let (Some(since), Some(_)) = (since_ms, have) {
            if modified < since {
                continue;
            }
        }
        let from = if whole { 0 } else { have.unwrap_or(0) };
        let (dataset, names) = source
            .records(&pool.id, &listed.id, &listed_ds, from)
            .await?;
        if !names.is_empty() {
            merged.insert(name, names);
        }
        copy.datasets.push(dataset);
    }
    // `<name>.<identity>` copied in by a merge is listed under `<name>`, which the identity
    // may not hold itself: ask `<name>` for the names merged into it.
    for name in merged_prefixes(&copy, &merged) {
        let names = source.merged_names(&pool.id, &listed.id, &name).await?;
        if !names.is_empty() {
            merged.insert(name, names);
        }
    }
    source::link_merged(&mut copy.datasets, &merged);
    Ok((copy, storage))
}

/// Names `<name>` of the identity's merged copies (`<name>.<identity id>`) that were not
/// listed themselves.
fn merged_prefixes(copy: &IdentityCopy, asked: &HashMap<String, Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = copy
        .datasets
        .iter()
        .filter_map(|d| {
            let (prefix, _) = merged_name_parts(&d.row.name)?;
            let listed = copy.datasets.iter().any(|o| o.row.name == prefix);
            (!listed && !asked.contains_key(prefix)).then(|| prefix.to_owned())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
