//! `cogsync export` and `cogsync import --input`: a store written to the export file and read
//! back, streaming (one identity in memory at a time).

use std::io::{BufRead, Write};
use std::sync::Arc;

use super::format::{self, Counts, Line};
use super::progress::Progress;
use futures_util::stream::{self, FuturesUnordered, StreamExt};

use super::{rules, MigrateError, Summary};
use crate::store::{IdentityCopy, IdentityImport, Store};
use crate::sync::Limits;
use std::collections::HashMap;

/// Pools and identities read per page.
const PAGE: usize = 500;

/// Identities written at once by an import: each is its own transaction, and SQLite commits
/// the writes waiting together with one fsync.
const WINDOW: usize = 64;

/// Identities an export reads ahead of the one it writes.
const READ_AHEAD: usize = 16;

/// What is wrong with one line of the file, placed by column only (the parser counts lines
/// of its own input, the one line, which would name a second, wrong line number).
fn within_line(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let what = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(w, _)| w);
    format!("{what} (column {})", e.column())
}

fn write_line(out: &mut dyn Write, line: &impl serde::Serialize) -> Result<(), MigrateError> {
    serde_json::to_writer(&mut *out, line).map_err(|e| MigrateError::Output(e.to_string()))?;
    out.write_all(b"\n")
        .map_err(|e| MigrateError::Output(e.to_string()))
}

/// Writes the store (or the pools named in `pools`) to `out`.
pub async fn export(
    store: &dyn Store,
    pools: &[String],
    out: &mut dyn Write,
    progress: &Progress,
) -> Result<Counts, MigrateError> {
    let mut counts = Counts::default();
    write_line(out, &format::header())?;
    for (name, value) in store.secrets().await? {
        write_line(out, &Line::Secret(format::Secret::new(name, &value)))?;
        counts.secrets += 1;
    }
    let mut ids = pools.to_vec();
    if ids.is_empty() {
        let mut after: Option<String> = None;
        loop {
            let page = store.list_pools(after.as_deref(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            ids.extend(page.into_iter().map(|p| p.id));
        }
    }
    for pool_id in &ids {
        let Some(pool) = store.export_pool(pool_id).await? else {
            return Err(MigrateError::Input(format!(
                "no pool {pool_id} in the store"
            )));
        };
        write_line(out, &Line::Pool(Box::new(format::Pool::from(&pool))))?;
        counts.pools += 1;
        progress.pools(1);
        let mut after: Option<String> = None;
        loop {
            let page = store
                .list_identities(pool_id, after.as_deref(), PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            // Read several at once (PostgreSQL: one round trip each), written in order.
            let mut reads = stream::iter(page)
                .map(|identity| async move { store.export_identity(&identity.id).await })
                .buffered(READ_AHEAD);
            while let Some(read) = reads.next().await {
                // Gone since listed: nothing to write.
                let Some(copy) = read? else {
                    continue;
                };
                write_line(out, &Line::Identity(format::Identity::from(&copy)))?;
                counts.identities += 1;
                for dataset in &copy.datasets {
                    write_line(out, &Line::Dataset(format::Dataset::from(dataset)))?;
                    counts.datasets += 1;
                    counts.records += dataset.records.len() as u64;
                }
                let (datasets, records) = super::counts(&copy);
                progress.identity(datasets, records);
            }
        }
    }
    write_line(out, &Line::End(counts.clone()))?;
    out.flush()
        .map_err(|e| MigrateError::Output(e.to_string()))?;
    Ok(counts)
}

/// Reads an export file into the store, with the same rules as any import: nothing the store
/// holds at a later SyncCount is rolled back, and a second run changes nothing. Nothing is
/// refused for a quota; what is above its pool's (or the `server`'s) is reported.
pub async fn import(
    store: Arc<dyn Store>,
    input: &mut dyn BufRead,
    server: Limits,
    progress: &Progress,
) -> Result<Summary, MigrateError> {
    let mut summary = Summary::default();
    let mut version = format::VERSION;
    let mut pool_limits: HashMap<String, Limits> = HashMap::new();
    let mut seen = Counts::default();
    let mut pending: Option<IdentityCopy> = None;
    let mut writes = FuturesUnordered::new();
    let mut ended = None;
    let mut text = String::new();
    for number in 1.. {
        text.clear();
        let n = input
            .read_line(&mut text)
            .map_err(|e| MigrateError::Input(e.to_string()))?;
        if n == 0 {
            break;
        }
        progress.bytes(n as u64);
        let bad = |why: String| MigrateError::Input(format!("line {number}: {why}"));
        if ended.is_some() {
            return Err(bad("content after the end line".into()));
        }
        if number == 1 {
            let header: format::Header =
                serde_json::from_str(&text).map_err(|_| bad("not a cogsync export file".into()))?;
            if header.format != format::FORMAT {
                return Err(bad("not a cogsync export file".into()));
            }
            if !format::READS.contains(&header.version) {
                return Err(bad(format!(
                    "export format version {}; this cogsync reads versions {:?}",
                    header.version,
                    format::READS
                )));
            }
            version = header.version;
            continue;
        }
        let line: Line = serde_json::from_str(&text).map_err(|e| bad(within_line(&e)))?;
        // A dataset joins the identity above it; anything else ends that identity.
        if let Line::Dataset(d) = line {
            let Some(identity) = pending.as_mut() else {
                return Err(bad("a dataset before any identity".into()));
            };
            if d.identity_id != identity.identity.id {
                return Err(bad(format!(
                    "dataset of {} after identity {}",
                    d.identity_id, identity.identity.id
                )));
            }
            seen.datasets += 1;
            seen.records += d.records.len() as u64;
            identity.datasets.push(d.into());
            continue;
        }
        if let Some(copy) = pending.take() {
            if writes.len() >= WINDOW {
                settle(writes.next().await, &mut summary, progress)?;
            }
            let limits = pool_limits.get(&copy.identity.pool_id);
            summary.above_quotas.add(&copy, *limits.unwrap_or(&server));
            writes.push(write_identity(store.clone(), copy));
        }
        match line {
            Line::Secret(s) => {
                let value = s.bytes().map_err(bad)?;
                let kept = store.secret(&s.name, value.clone()).await?;
                if kept != value {
                    summary.notes.push(format!(
                        "secret {} exists in the store with another value: the store keeps its own \
                         (tokens signed with the exported one will not verify)",
                        s.name
                    ));
                }
                seen.secrets += 1;
            }
            Line::Pool(p) => {
                let quotas = format::quotas_of(version, &p).map_err(bad)?;
                let copy: crate::store::PoolCopy = (*p).into();
                let limits = super::store_pool(&*store, &copy, quotas, server).await?;
                pool_limits.insert(copy.pool.id, limits);
                summary.pools += 1;
                seen.pools += 1;
                progress.pools(1);
            }
            Line::Identity(i) => {
                pending = Some(i.into_copy());
                seen.identities += 1;
            }
            Line::End(counts) => ended = Some(counts),
            Line::Dataset(_) => {}
        }
    }
    if let Some(copy) = pending.take() {
        let limits = pool_limits.get(&copy.identity.pool_id);
        summary.above_quotas.add(&copy, *limits.unwrap_or(&server));
        writes.push(write_identity(store.clone(), copy));
    }
    while let Some(done) = writes.next().await {
        settle(Some(done), &mut summary, progress)?;
    }
    match ended {
        Some(counts) if counts == seen => Ok(summary),
        Some(counts) => Err(MigrateError::Input(format!(
            "the file's end line counts {counts:?} but it holds {seen:?}"
        ))),
        None => Err(MigrateError::Input(
            "the file ends without its end line: it was cut short (what came before is imported)"
                .into(),
        )),
    }
}

/// One identity written: (its id, what the import did, its datasets and records).
type Written = Result<(String, IdentityImport, u64, u64), MigrateError>;

async fn write_identity(store: Arc<dyn Store>, copy: IdentityCopy) -> Written {
    let (datasets, records) = super::counts(&copy);
    let id = copy.identity.id.clone();
    let report = store
        .import_identity(copy, Box::new(rules::verdict))
        .await?;
    Ok((id, report, datasets, records))
}

fn settle(
    written: Option<Written>,
    summary: &mut Summary,
    progress: &Progress,
) -> Result<(), MigrateError> {
    if let Some(written) = written {
        let (id, report, datasets, records) = written?;
        summary.add(&id, &report);
        progress.identity(datasets, records);
    }
    Ok(())
}
