//! Upstream mode on a node: at start-up, the pools `--upstream-pool` names are attached (each
//! copied from the upstream the first time, its row written) and the node's view of every
//! pool's attachment is read; while serving, a heartbeat keeps that view fresh and tells the
//! store which drains this node has let go of, and the background copy brings over what the
//! devices here did not touch ([`crate::migrate::follow`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::StartError;
use crate::config::UpstreamConfig;
use crate::integrations::upstream::AwsUpstream;
use crate::migrate::source::{Source, SourceOptions};
use crate::store::{AttachState, Store};
use crate::timeutil::now_ms;
use crate::upstream::{rules, Attachments};

/// How often a node reads the attachments and reports its acknowledgements.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long the background copy rests between rounds.
const COPY_REST: Duration = Duration::from_secs(10);

/// What a node in upstream mode runs with.
pub struct Upstream {
    pub attachments: Arc<Attachments>,
    /// The upstream's clients, when this node was given one.
    pub port: Option<Arc<AwsUpstream>>,
    /// The import's reader of the upstream, for the background copy and the detach.
    pub source: Option<Arc<Source>>,
    pub node: String,
}

impl Upstream {
    /// A node without upstream mode, nothing attached (for tests and tools).
    pub fn none() -> Self {
        Upstream {
            attachments: Attachments::new(false),
            port: None,
            source: None,
            node: uuid::Uuid::new_v4().to_string(),
        }
    }
}

fn start_error(e: impl std::fmt::Display) -> StartError {
    StartError::Upstream(e.to_string())
}

/// Attaches the configured pools and reads every pool's attachment; refuses to start when
/// that would fork a pool (attached elsewhere, or attached while this node has no upstream).
pub async fn prepare(
    config: Option<&UpstreamConfig>,
    store: &Arc<dyn Store>,
) -> Result<Upstream, StartError> {
    let node = uuid::Uuid::new_v4().to_string();
    let attachments = Attachments::new(config.is_some());
    let rows = store.upstream_pools().await.map_err(start_error)?;
    let Some(config) = config else {
        let attached: Vec<&str> = rows
            .iter()
            .filter(|r| r.state != AttachState::Local)
            .map(|r| r.pool_id.as_str())
            .collect();
        if !attached.is_empty() {
            return Err(StartError::Upstream(format!(
                "pools {} are attached to an upstream: start with --upstream-endpoint or \
                 --upstream-region (and --upstream-pool), or detach them",
                attached.join(", ")
            )));
        }
        attachments.apply(rows, now_ms());
        return Ok(Upstream {
            attachments,
            port: None,
            source: None,
            node,
        });
    };
    let port = AwsUpstream::connect(&config.location)
        .await
        .map_err(start_error)?;
    let options = SourceOptions {
        endpoint: config.location.endpoint.clone(),
        region: Some(config.location.region.clone()),
        rate: config.copy_rate,
        attempts: 3,
        instance_metadata: false,
    };
    let source = Source::connect(&options).await.map_err(start_error)?;
    let pools = match config.all_pools {
        true => source.pool_ids().await.map_err(start_error)?,
        false => config.pools.clone(),
    };
    let upstream = config.location.describe();
    for pool_id in pools {
        match rows.iter().find(|r| r.pool_id == pool_id) {
            Some(r) if r.upstream != upstream => {
                return Err(StartError::Upstream(format!(
                    "pool {pool_id} is attached to {}, not {upstream}",
                    r.upstream
                )))
            }
            Some(r) if r.state == AttachState::Local => {
                tracing::info!(pool = %pool_id, "the pool was detached from its upstream; it stays local");
            }
            Some(_) => {}
            None => attach(store, &source, &pool_id, &upstream).await?,
        }
    }
    let beat = store
        .upstream_heartbeat(&node, now_ms(), &BTreeMap::new())
        .await
        .map_err(start_error)?;
    attachments.apply(beat, now_ms());
    Ok(Upstream {
        attachments,
        port: Some(Arc::new(port)),
        source: Some(Arc::new(source)),
        node,
    })
}

/// A pool's first attachment: its description and settings copied, then its row.
async fn attach(
    store: &Arc<dyn Store>,
    source: &Source,
    pool_id: &str,
    upstream: &str,
) -> Result<(), StartError> {
    let created = match store.get_pool(pool_id).await.map_err(start_error)? {
        Some(p) => p.created_ms,
        None => now_ms(),
    };
    let copy = source.pool(pool_id, created).await.map_err(start_error)?;
    let unknown = crate::migrate::rules::Quotas::Unknown;
    crate::migrate::store_pool(&**store, &copy, unknown, crate::sync::Limits::default())
        .await
        .map_err(start_error)?;
    let (id, up, now) = (pool_id.to_owned(), upstream.to_owned(), now_ms());
    store
        .update_upstream(
            pool_id,
            Box::new(move |stored| rules::attach(stored, &id, &up, now)),
        )
        .await
        .map_err(start_error)?;
    tracing::info!(pool = %pool_id, upstream, "attached the pool to its upstream");
    Ok(())
}

/// The heartbeat and (with an upstream) the background copy, until `stopping`.
pub fn spawn(
    up: &Upstream,
    store: Arc<dyn Store>,
    stopping: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    if up.port.is_none() && !up.attachments.any() {
        return Vec::new();
    }
    let mut tasks = vec![tokio::spawn(heartbeat(
        up.attachments.clone(),
        store.clone(),
        up.node.clone(),
        stopping.clone(),
    ))];
    if let Some(source) = &up.source {
        tasks.push(tokio::spawn(follow(
            up.attachments.clone(),
            store,
            source.clone(),
            up.node.clone(),
            stopping,
        )));
    }
    tasks
}

async fn heartbeat(
    attachments: Arc<Attachments>,
    store: Arc<dyn Store>,
    node: String,
    mut stopping: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.changed() => return,
        }
        let acks: BTreeMap<String, i64> = attachments.acks().into_iter().collect();
        let read = now_ms();
        match store.upstream_heartbeat(&node, read, &acks).await {
            Ok(pools) => attachments.apply(pools, read),
            Err(e) => {
                tracing::warn!(error = %e, "upstream heartbeat failed; forwarded writes stop until it succeeds")
            }
        }
    }
}

async fn follow(
    attachments: Arc<Attachments>,
    store: Arc<dyn Store>,
    source: Arc<Source>,
    node: String,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        for pool in attachments.attached_pools() {
            if *stopping.borrow() {
                return;
            }
            let round = crate::migrate::follow::round(&source, &*store, &pool, &node);
            let done = tokio::select! {
                r = round => r,
                _ = stopping.changed() => return,
            };
            match done {
                Ok(Some(r)) => {
                    attachments.caught_up(&pool.pool_id, r.datasets_caught_up);
                    tracing::debug!(pool = %pool.pool_id, dirty = r.dirty_read, caught_up = r.datasets_caught_up, "background copy round");
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(pool = %pool.pool_id, error = %e, "background copy round failed; trying again later")
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(COPY_REST) => {}
            _ = stopping.changed() => return,
        }
    }
}
