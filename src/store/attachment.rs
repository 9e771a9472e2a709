//! What the store keeps of upstream mode (see `crate::upstream`): which pools are attached to
//! an upstream and in which state, what each node last said (its heartbeat and the drains it
//! has acknowledged), and the identities whose mirror may lag the upstream (dirty).

use std::collections::BTreeMap;

/// Where a pool stands. `Attached`: the upstream is the authority and every node forwards;
/// `Draining`: a detach is under way, writes wait; `Local`: detached for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachState {
    Attached,
    Draining,
    Local,
}

impl AttachState {
    pub fn as_str(self) -> &'static str {
        match self {
            AttachState::Attached => "attached",
            AttachState::Draining => "draining",
            AttachState::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "attached" => Some(AttachState::Attached),
            "draining" => Some(AttachState::Draining),
            "local" => Some(AttachState::Local),
            _ => None,
        }
    }
}

/// A pool's attachment row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamPool {
    pub pool_id: String,
    pub state: AttachState,
    /// One more on every change of state: the compare-and-set of every transition.
    pub version: i64,
    /// Which upstream (`endpoint:<url>` or `region:<name>`): a node attached elsewhere refuses
    /// to start rather than fork the pool.
    pub upstream: String,
    pub attached_ms: i64,
    pub changed_ms: i64,
    /// Start of the last complete background copy pass (the next one reads what changed since).
    pub copy_done_ms: Option<i64>,
    /// The node copying the pool, and until when its lease holds.
    pub copy_lease: Option<(String, i64)>,
    /// What the detach did, kept for a second run to print.
    pub report: Option<String>,
}

/// A node's last heartbeat: when, and the version of each draining pool it has acknowledged
/// (it forwards no write to that pool any more, and every forwarded one is mirrored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBeat {
    pub node_id: String,
    pub seen_ms: i64,
    pub acks: BTreeMap<String, i64>,
}

/// A transition of a pool's attachment, decided on the stored row (None: absent); None leaves
/// it as it is.
pub type AttachDecider = Box<dyn Fn(Option<&UpstreamPool>) -> Option<UpstreamPool> + Send + Sync>;
