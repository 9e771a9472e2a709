//! `cogsync upstream detach`: a pool attached to an upstream becomes local while the servers
//! keep serving, losing nothing. (1) While still attached, the store catches up: dirty
//! identities read whole, then a pass over what the upstream changed since the last one. (2)
//! Drain: the pool's state becomes `draining`; every node stops starting forwarded writes
//! (they wait) and says so once its last one is mirrored. (3) With no forwarded write in
//! flight anywhere, the identities still dirty are read whole: the store now holds what the
//! upstream holds. (4) Flip: the pool is local, the waiting writes run here. (5) Sweep: what
//! old app versions wrote at the upstream up to the flip is brought over, unless this server
//! has written the same dataset since (reported). A second run prints the first's report.

use std::time::Duration;

use super::follow;
use super::source::Source;
use super::MigrateError;
use crate::store::{AttachState, Store, UpstreamPool};
use crate::timeutil::now_ms;
use crate::upstream::rules::{all_let_go, transition};

/// Longest wait for every node to let go of a draining pool; then the detach is called off.
const DRAIN_WAIT: Duration = Duration::from_secs(15);
/// How often the nodes' acknowledgements are read while draining.
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// Detaches `pool_id`, saying what it does through `say`; the report (also stored with the
/// pool, for a second run).
pub async fn run(
    store: &dyn Store,
    source: &Source,
    pool_id: &str,
    say: &(dyn Fn(String) + Send + Sync),
) -> Result<String, MigrateError> {
    let row = attachment(store, pool_id).await?;
    if row.state == AttachState::Local {
        say(format!(
            "pool {pool_id} was detached already; nothing to do"
        ));
        return Ok(row.report.unwrap_or_default());
    }
    let pool = store
        .get_pool(pool_id)
        .await?
        .ok_or_else(|| MigrateError::Source(format!("pool {pool_id} is not in the store")))?;
    let mut row = row;
    let caught_up_from;
    if row.state == AttachState::Attached {
        say(format!(
            "catching up with the upstream (pool {pool_id}, still attached)"
        ));
        let (read, _) = follow::dirty(source, store, &pool, usize::MAX).await?;
        caught_up_from = now_ms();
        let summary = follow::pass(source, store, pool_id, row.copy_done_ms, None).await?;
        say(format!(
            "  {read} identities read whole; {} datasets brought over",
            summary.datasets_written
        ));
        let v = row.version;
        row = store
            .update_upstream(
                pool_id,
                Box::new(move |s| {
                    transition(s, v, AttachState::Attached, AttachState::Draining, now_ms())
                }),
            )
            .await?
            .ok_or_else(|| {
                MigrateError::Source("the pool's attachment changed meanwhile; run again".into())
            })?;
    } else {
        // A previous run died while draining: go on from there.
        caught_up_from = row.copy_done_ms.unwrap_or(row.attached_ms);
    }
    say("draining: writes to the pool wait; waiting for every node to let go".into());
    if let Err(e) = drain_and_flip(store, source, &pool, &row, say).await {
        let v = row.version;
        let resumed = store
            .update_upstream(
                pool_id,
                Box::new(move |s| {
                    transition(s, v, AttachState::Draining, AttachState::Attached, now_ms())
                }),
            )
            .await;
        let state = match resumed {
            Ok(Some(_)) => "the pool is attached again",
            _ => "the pool is still draining",
        };
        return Err(MigrateError::Source(format!(
            "detach called off: {e}; {state}; run it again"
        )));
    }
    let flipped_ms = attachment(store, pool_id).await?.changed_ms;
    say(format!(
        "pool {pool_id} is local from now on; bringing over what old app versions wrote at the upstream"
    ));
    let sweep = follow::pass(
        source,
        store,
        pool_id,
        Some(caught_up_from),
        Some(flipped_ms),
    )
    .await?;
    let mut report = vec![format!(
        "pool {pool_id}: detached at {} (attached to {} since {})",
        crate::timeutil::iso8601(flipped_ms),
        row.upstream,
        crate::timeutil::iso8601(row.attached_ms)
    )];
    report.push(format!(
        "  after the switch: {} datasets brought over (written at the upstream before it)",
        sweep.datasets_written
    ));
    for note in &sweep.notes {
        report.push(format!("  kept as written here after the switch: {note}"));
    }
    report.push(
        "  from now on cogsync itself applies the pool's rules, streams, pushes and sync trigger; \
         devices still on the upstream keep writing there (`cogsync import --verify` lists what differs)"
            .into(),
    );
    let text = report.join("\n");
    let stored = text.clone();
    store
        .update_upstream(
            pool_id,
            Box::new(move |s| {
                s.map(|s| UpstreamPool {
                    report: Some(stored.clone()),
                    ..s.clone()
                })
            }),
        )
        .await?;
    for line in report {
        say(line);
    }
    Ok(text)
}

async fn attachment(store: &dyn Store, pool_id: &str) -> Result<UpstreamPool, MigrateError> {
    store
        .upstream_pools()
        .await?
        .into_iter()
        .find(|p| p.pool_id == pool_id)
        .ok_or_else(|| {
            MigrateError::Source(format!("pool {pool_id} is not attached to an upstream"))
        })
}

/// Steps (2) to (4): every node lets go, the last dirty identities are read, the flip.
async fn drain_and_flip(
    store: &dyn Store,
    source: &Source,
    pool: &crate::store::PoolRecord,
    row: &UpstreamPool,
    say: &(dyn Fn(String) + Send + Sync),
) -> Result<(), MigrateError> {
    let until = tokio::time::Instant::now() + DRAIN_WAIT;
    loop {
        let nodes = store.upstream_nodes().await?;
        if all_let_go(&nodes, &pool.id, row.version, now_ms()) {
            break;
        }
        if tokio::time::Instant::now() > until {
            return Err(MigrateError::Source(
                "a node did not let go of the pool in time".into(),
            ));
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
    let (read, _) = follow::dirty(source, store, pool, usize::MAX).await?;
    say(format!("  every node let go; {read} identities read whole"));
    let v = row.version;
    store
        .update_upstream(
            &pool.id,
            Box::new(move |s| {
                transition(s, v, AttachState::Draining, AttachState::Local, now_ms())
            }),
        )
        .await?
        .ok_or_else(|| MigrateError::Source("the pool's attachment changed meanwhile".into()))?;
    Ok(())
}
