//! `cogsync import --verify`: the source and the store compared dataset by dataset (SyncCount,
//! number of records, a hash of their keys, values and SyncCounts).

use futures_util::stream::{self, StreamExt};

use super::progress::Progress;
use super::rules::{self, Digest};
use super::source::{ListedIdentity, Source};
use super::MigrateError;
use crate::store::Store;

/// The differences found, one line each; empty when the store matches the source.
pub async fn verify(
    source: &Source,
    store: &dyn Store,
    pools: &[String],
    concurrency: usize,
    progress: &Progress,
) -> Result<Vec<String>, MigrateError> {
    let pools = match pools.is_empty() {
        true => source.pool_ids().await?,
        false => pools.to_vec(),
    };
    let mut differences = Vec::new();
    for pool_id in pools {
        if store.get_pool(&pool_id).await?.is_none() {
            differences.push(format!("pool {pool_id}: not in the store"));
            continue;
        }
        let mut next = None;
        loop {
            let (page, token) = source.identities(&pool_id, next).await?;
            let found: Vec<_> = stream::iter(page)
                .map(|listed| compare(source, store, &pool_id, listed, progress))
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
            for result in found {
                differences.extend(result?);
            }
            match token {
                Some(t) => next = Some(t),
                None => break,
            }
        }
    }
    Ok(differences)
}

async fn compare(
    source: &Source,
    store: &dyn Store,
    pool_id: &str,
    listed: ListedIdentity,
    progress: &Progress,
) -> Result<Vec<String>, MigrateError> {
    let id = listed.id.as_str();
    let Some(stored) = store.export_identity(id).await? else {
        return Ok(vec![format!("identity {id}: not in the store")]);
    };
    let mut out = Vec::new();
    let mut seen = Vec::new();
    let (mut datasets, mut records) = (0, 0);
    for listed_ds in source.datasets(pool_id, id).await? {
        let (theirs, _) = source.records(pool_id, id, &listed_ds, 0).await?;
        let name = theirs.row.name.clone();
        let want = rules::digest(theirs.row.sync_count, &theirs.records);
        datasets += 1;
        records += theirs.records.len() as u64;
        let ours = stored
            .datasets
            .iter()
            .find(|d| d.row.live && d.row.name == name)
            .map(|d| rules::digest(d.row.sync_count, &d.records));
        match ours {
            None => out.push(format!("dataset {id}/{name}: not in the store")),
            Some(have) if have != want => out.push(describe(id, &name, &have, &want)),
            Some(_) => {}
        }
        seen.push(name);
    }
    for d in stored.datasets.iter().filter(|d| d.row.live) {
        if !seen.contains(&d.row.name) {
            out.push(format!(
                "dataset {id}/{}: in the store, not at the source",
                d.row.name
            ));
        }
    }
    progress.identity(datasets, records);
    Ok(out)
}

fn describe(id: &str, name: &str, have: &Digest, want: &Digest) -> String {
    format!(
        "dataset {id}/{name}: store has SyncCount {} with {} records (hash {}), source SyncCount {} \
         with {} records (hash {})",
        have.sync_count,
        have.records,
        &have.hash[..12],
        want.sync_count,
        want.records,
        &want.hash[..12],
    )
}
