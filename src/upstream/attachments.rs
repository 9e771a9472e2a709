//! This node's view of which pools are attached, and the gate every pool-scoped request goes
//! through ([`Attachments::route`]). The view is refreshed from the store by the heartbeat
//! (see [`Attachments::apply`]); a forwarded write holds an [`InFlight`] guard until its answer
//! is mirrored, so that a drain is acknowledged only once none is left.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use super::rules::{self, Decision, Intent, Refusal};
use crate::store::{AttachState, UpstreamPool};
use crate::timeutil::now_ms;

/// Longest a write waits for a draining pool to become local.
pub const HOLD: Duration = Duration::from_secs(8);

/// Where a request goes, once decided.
pub enum Route {
    Local,
    /// Forward it; a write carries its guard, to drop once its answer is mirrored.
    Forward(Option<InFlight>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A write waited for a draining pool to become local for longer than it may.
    #[error("the identity pool is being detached from its upstream; try again")]
    HoldTimedOut,
    /// The node cannot tell whether the pool is still attached.
    #[error("this node has lost track of the pool's attachment (its store does not answer)")]
    Stale,
    /// The pool is attached, but this node was started without an upstream.
    #[error("the identity pool is attached to an upstream this node was not given")]
    NoUpstream,
}

#[derive(Default)]
struct InFlightCounts(Mutex<HashMap<String, usize>>);

/// A forwarded write under way for a pool; dropped once its answer is mirrored (or marked
/// dirty).
pub struct InFlight {
    counts: Arc<InFlightCounts>,
    pool: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.pool) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.pool);
            }
        }
    }
}

/// What went through a node for one attached pool: the operator's measure of how much of the
/// pool's traffic already comes through cogsync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub forwarded_reads: u64,
    pub forwarded_writes: u64,
    /// Datasets the background copy found changed at the upstream by others (old app
    /// versions) or by a mirror that lagged.
    pub caught_up: u64,
}

pub struct Attachments {
    has_upstream: bool,
    traffic: Mutex<HashMap<String, Traffic>>,
    view: RwLock<HashMap<String, UpstreamPool>>,
    /// When the view was last read from the store (ms since the epoch).
    fresh_ms: AtomicI64,
    changed: watch::Sender<u64>,
    in_flight: Arc<InFlightCounts>,
}

impl Attachments {
    /// A node with an upstream (`has_upstream`) or not; nothing attached until [`Self::apply`].
    pub fn new(has_upstream: bool) -> Arc<Self> {
        Arc::new(Attachments {
            has_upstream,
            traffic: Mutex::new(HashMap::new()),
            view: RwLock::new(HashMap::new()),
            fresh_ms: AtomicI64::new(0),
            changed: watch::channel(0).0,
            in_flight: Arc::default(),
        })
    }

    pub fn has_upstream(&self) -> bool {
        self.has_upstream
    }

    /// The view as read from the store at `read_ms`: every pool with an attachment row.
    pub fn apply(&self, pools: Vec<UpstreamPool>, read_ms: i64) {
        let fresh: HashMap<String, UpstreamPool> =
            pools.into_iter().map(|p| (p.pool_id.clone(), p)).collect();
        let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
        // Views only move forward: a row read before a later one never replaces it.
        let changed = fresh
            .iter()
            .any(|(id, p)| view.get(id).is_none_or(|old| old.version != p.version));
        for (id, p) in fresh {
            match view.get(&id) {
                Some(old) if old.version > p.version => {}
                _ => {
                    view.insert(id, p);
                }
            }
        }
        drop(view);
        self.fresh_ms.fetch_max(read_ms, Ordering::SeqCst);
        if changed {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// The pool's row as this node sees it.
    pub fn get(&self, pool: &str) -> Option<UpstreamPool> {
        let view = self.view.read().unwrap_or_else(|p| p.into_inner());
        view.get(pool).cloned()
    }

    fn count(&self, pool: &str, f: impl FnOnce(&mut Traffic)) {
        let mut traffic = self.traffic.lock().unwrap_or_else(|p| p.into_inner());
        f(traffic.entry(pool.to_owned()).or_default());
    }

    /// `n` datasets the background copy brought over for `pool`.
    pub fn caught_up(&self, pool: &str, n: u64) {
        self.count(pool, |t| t.caught_up += n);
    }

    /// Each pool's traffic through this node since it started.
    pub fn traffic(&self) -> Vec<(String, Traffic)> {
        let traffic = self.traffic.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<_> = traffic.iter().map(|(p, t)| (p.clone(), *t)).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The attached pools' rows (not draining, not local).
    pub fn attached_pools(&self) -> Vec<UpstreamPool> {
        let view = self.view.read().unwrap_or_else(|p| p.into_inner());
        view.values()
            .filter(|p| p.state == AttachState::Attached)
            .cloned()
            .collect()
    }

    /// Whether any pool has a row (attached, draining or local).
    pub fn any(&self) -> bool {
        !self
            .view
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    fn state(&self, pool: &str) -> Option<AttachState> {
        let view = self.view.read().unwrap_or_else(|p| p.into_inner());
        view.get(pool).map(|p| p.state)
    }

    fn fresh(&self) -> bool {
        now_ms() - self.fresh_ms.load(Ordering::SeqCst) <= rules::FRESH_MS
    }

    /// Where a request of `intent` for `pool` goes; a write to a draining pool waits (at most
    /// [`HOLD`], less when the request's deadline is nearer) for it to become local.
    pub async fn route(&self, pool: &str, intent: Intent) -> Result<Route, RouteError> {
        let mut changes = self.changed.subscribe();
        let hold = crate::deadline::current()
            .map(|d| d.saturating_duration_since(tokio::time::Instant::now()))
            .map(|left| left.saturating_sub(Duration::from_secs(1)).min(HOLD))
            .unwrap_or(HOLD);
        let until = tokio::time::Instant::now() + hold;
        loop {
            match rules::decide(self.state(pool), intent, self.fresh(), self.has_upstream) {
                Decision::Local => return Ok(Route::Local),
                Decision::Forward => {
                    self.count(pool, |t| match intent {
                        Intent::Read => t.forwarded_reads += 1,
                        Intent::Write => t.forwarded_writes += 1,
                    });
                    let guard = (intent == Intent::Write).then(|| self.enter(pool));
                    return Ok(Route::Forward(guard));
                }
                Decision::Refuse(Refusal::Stale) => return Err(RouteError::Stale),
                Decision::Refuse(Refusal::NoUpstream) => return Err(RouteError::NoUpstream),
                Decision::Hold => {
                    if tokio::time::timeout_at(until, changes.changed())
                        .await
                        .is_err()
                    {
                        return Err(RouteError::HoldTimedOut);
                    }
                }
            }
        }
    }

    /// [`Self::route`], for a service holding `upstream` (None on a node without one): None
    /// for here; the upstream and the write's guard for a forwarded call.
    pub async fn route_to<T: ?Sized>(
        &self,
        pool: &str,
        intent: Intent,
        upstream: &Option<Arc<T>>,
    ) -> Result<Option<(Arc<T>, Option<InFlight>)>, RouteError> {
        match self.route(pool, intent).await? {
            Route::Local => Ok(None),
            Route::Forward(guard) => match upstream {
                Some(u) => Ok(Some((u.clone(), guard))),
                None => Err(RouteError::NoUpstream),
            },
        }
    }

    /// Whether `pool` is attached or being detached (not local, not unattached).
    pub fn attached(&self, pool: &str) -> bool {
        matches!(
            self.state(pool),
            Some(AttachState::Attached | AttachState::Draining)
        )
    }

    /// A guard counting one write in flight to `pool` (the background copy takes them too).
    pub fn enter(&self, pool: &str) -> InFlight {
        let mut counts = self.in_flight.0.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry(pool.to_owned()).or_default() += 1;
        InFlight {
            counts: self.in_flight.clone(),
            pool: pool.to_owned(),
        }
    }

    /// The draining pools this node has let go of: none of its writes to them is in flight.
    pub fn acks(&self) -> Vec<(String, i64)> {
        let view = self.view.read().unwrap_or_else(|p| p.into_inner());
        let counts = self.in_flight.0.lock().unwrap_or_else(|p| p.into_inner());
        view.values()
            .filter(|p| p.state != AttachState::Attached && !counts.contains_key(&p.pool_id))
            .map(|p| (p.pool_id.clone(), p.version))
            .collect()
    }
}
