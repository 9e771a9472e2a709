//! The background copy of upstream mode: while a pool is attached, one node at a time (a
//! lease on the pool's row) brings over what the devices on this server did not touch — the
//! identities marked dirty (their mirror may lag) read whole, then every dataset the upstream
//! changed since the last complete pass, with the import's machinery (rate-limited by the
//! source's pacer, resumable: a pass reads only what changed since the last one's start).

use super::copy::{self, CopyOptions};
use super::progress::Progress;
use super::source::Source;
use super::{rules, MigrateError};
use crate::store::{AttachState, PoolRecord, Store, UpstreamPool};
use crate::timeutil::now_ms;
use crate::upstream::rules::{copy_done, lease_copy};

/// How long a lease on a pool's copy lasts without being renewed.
pub const LEASE_MS: i64 = 120_000;
/// Dirty identities read per round.
const DIRTY_PER_ROUND: usize = 100;

/// What a round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Identities read whole because their mirror may have lagged.
    pub dirty_read: u64,
    /// Datasets written because the upstream held something newer: written there by others
    /// (old app versions), or a mirror that lagged.
    pub datasets_caught_up: u64,
    /// Whether a whole pass completed.
    pub pass_done: bool,
}

/// Reads every dirty identity of `pool` whole (at most `limit`); how many.
pub async fn dirty(
    source: &Source,
    store: &dyn Store,
    pool: &PoolRecord,
    limit: usize,
) -> Result<(u64, u64), MigrateError> {
    let (mut read, mut written) = (0, 0);
    for (identity, _) in store.dirty(&pool.id, limit).await? {
        let read_ms = now_ms();
        let report =
            copy::copy_whole(source, store, pool, &identity, Box::new(rules::verdict)).await;
        match report {
            Ok(r) => written += r.datasets_written,
            // Gone at the upstream (merged away, deleted): nothing to read.
            Err(MigrateError::Source(e)) if e.contains("ResourceNotFound") => {}
            Err(e) => return Err(e),
        }
        store.clear_dirty(&pool.id, &identity, read_ms).await?;
        read += 1;
    }
    Ok((read, written))
}

/// A pass over the whole pool: what the upstream changed since `since_ms` (everything when
/// None). Datasets the store wrote itself at or after `keep_local_since_ms` stay as they are.
pub async fn pass(
    source: &Source,
    store: &dyn Store,
    pool_id: &str,
    since_ms: Option<i64>,
    keep_local_since_ms: Option<i64>,
) -> Result<super::Summary, MigrateError> {
    let o = CopyOptions {
        pools: vec![pool_id.to_owned()],
        since_ms,
        concurrency: 4,
        keep_local_since_ms,
        // Only what the summary reports above them; nothing is refused for them.
        limits: crate::sync::Limits::default(),
    };
    copy::copy(source, store, &o, &Progress::quiet()).await
}

/// One round of the background copy of `row`'s pool by `node`, if it holds (or takes) the
/// pool's lease and the pool is still attached.
pub async fn round(
    source: &Source,
    store: &dyn Store,
    row: &UpstreamPool,
    node: &str,
) -> Result<Option<Round>, MigrateError> {
    if row.state != AttachState::Attached {
        return Ok(None);
    }
    let pool_id = row.pool_id.clone();
    let (me, now) = (node.to_owned(), now_ms());
    let leased = store
        .update_upstream(
            &pool_id,
            Box::new(move |stored| lease_copy(stored, &me, now, now + LEASE_MS)),
        )
        .await?;
    let Some(leased) = leased else {
        return Ok(None);
    };
    let Some(pool) = store.get_pool(&pool_id).await? else {
        return Ok(None);
    };
    let mut round = Round::default();
    let (read, written) = dirty(source, store, &pool, DIRTY_PER_ROUND).await?;
    round.dirty_read = read;
    round.datasets_caught_up += written;
    let started = now_ms();
    let summary = pass(source, store, &pool_id, leased.copy_done_ms, None).await?;
    round.datasets_caught_up += summary.datasets_written;
    let me = node.to_owned();
    store
        .update_upstream(
            &pool_id,
            Box::new(move |stored| copy_done(stored, &me, started)),
        )
        .await?;
    round.pass_done = true;
    Ok(Some(round))
}
