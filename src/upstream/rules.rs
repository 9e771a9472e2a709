//! The rules of upstream mode, as pure functions: where a request goes given its pool's state
//! on this node, the transitions of a pool's attachment (each a compare-and-set on its
//! version), and when every node has let go of a draining pool.

use crate::store::{AttachState, NodeBeat, UpstreamPool};

/// How long a heartbeat stays good: a node whose view is older starts no forwarded write
/// (it could have missed a drain).
pub const FRESH_MS: i64 = 2_000;
/// A node not heard from for this long is taken to have stopped: it starts no write after
/// [`FRESH_MS`] and its last one ends within the upstream timeout, well inside this.
pub const NODE_TIMEOUT_MS: i64 = 8_000;

/// What a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Changes nothing at the upstream: forwarded until the pool is local.
    Read,
    /// Changes something: forwarded while attached, held while draining.
    Write,
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Local,
    Forward,
    /// Wait for the pool's next state.
    Hold,
    /// Refused without being tried anywhere.
    Refuse(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This node's view is too old to know the pool is still attached.
    Stale,
    /// The pool is attached but this node has no upstream to forward to.
    NoUpstream,
}

/// Where a request of `intent` goes for a pool in `state` (None: never attached), this node's
/// view being `fresh` and it having an upstream or not.
pub fn decide(
    state: Option<AttachState>,
    intent: Intent,
    fresh: bool,
    has_upstream: bool,
) -> Decision {
    match (state, intent) {
        (None | Some(AttachState::Local), _) => Decision::Local,
        (Some(_), _) if !has_upstream => Decision::Refuse(Refusal::NoUpstream),
        (Some(AttachState::Attached), Intent::Read) => Decision::Forward,
        (Some(AttachState::Attached), Intent::Write) if fresh => Decision::Forward,
        (Some(AttachState::Attached), Intent::Write) => Decision::Refuse(Refusal::Stale),
        (Some(AttachState::Draining), Intent::Read) => Decision::Forward,
        (Some(AttachState::Draining), Intent::Write) => Decision::Hold,
    }
}

/// A new attachment of `pool_id` to `upstream`, unless it has a row already.
pub fn attach(
    stored: Option<&UpstreamPool>,
    pool_id: &str,
    upstream: &str,
    now_ms: i64,
) -> Option<UpstreamPool> {
    match stored {
        Some(_) => None,
        None => Some(UpstreamPool {
            pool_id: pool_id.to_owned(),
            state: AttachState::Attached,
            version: 1,
            upstream: upstream.to_owned(),
            attached_ms: now_ms,
            changed_ms: now_ms,
            copy_done_ms: None,
            copy_lease: None,
            report: None,
        }),
    }
}

/// `from` → `to`, if the stored row is still at `version` and in `from`.
pub fn transition(
    stored: Option<&UpstreamPool>,
    version: i64,
    from: AttachState,
    to: AttachState,
    now_ms: i64,
) -> Option<UpstreamPool> {
    let s = stored?;
    (s.version == version && s.state == from).then(|| UpstreamPool {
        state: to,
        version: s.version + 1,
        changed_ms: now_ms,
        ..s.clone()
    })
}

/// Every node heard from since `now_ms - NODE_TIMEOUT_MS` has acknowledged `version` (or a
/// later one) of `pool`: none forwards a write to it any more.
pub fn all_let_go(nodes: &[NodeBeat], pool: &str, version: i64, now_ms: i64) -> bool {
    nodes
        .iter()
        .filter(|n| n.seen_ms >= now_ms - NODE_TIMEOUT_MS)
        .all(|n| n.acks.get(pool).is_some_and(|v| *v >= version))
}

/// The background copy's lease for `node` until `until_ms`, if the pool is still attached and
/// nobody else holds a live lease.
pub fn lease_copy(
    stored: Option<&UpstreamPool>,
    node: &str,
    now_ms: i64,
    until_ms: i64,
) -> Option<UpstreamPool> {
    let s = stored?;
    let free = match &s.copy_lease {
        None => true,
        Some((holder, until)) => holder == node || *until < now_ms,
    };
    (s.state == AttachState::Attached && free).then(|| UpstreamPool {
        copy_lease: Some((node.to_owned(), until_ms)),
        ..s.clone()
    })
}

/// A finished copy pass that started at `started_ms`, recorded by the lease holder `node`.
pub fn copy_done(
    stored: Option<&UpstreamPool>,
    node: &str,
    started_ms: i64,
) -> Option<UpstreamPool> {
    let s = stored?;
    let holds = s.copy_lease.as_ref().is_some_and(|(h, _)| h == node);
    holds.then(|| UpstreamPool {
        copy_done_ms: Some(started_ms),
        ..s.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn requests_go_where_the_pools_state_says() {
        use AttachState::*;
        use Decision::*;
        assert_eq!(decide(None, Intent::Write, false, false), Decision::Local);
        assert_eq!(
            decide(Some(AttachState::Local), Intent::Write, false, true),
            Decision::Local
        );
        assert_eq!(decide(Some(Attached), Intent::Read, false, true), Forward);
        assert_eq!(decide(Some(Attached), Intent::Write, true, true), Forward);
        assert_eq!(
            decide(Some(Attached), Intent::Write, false, true),
            Refuse(Refusal::Stale)
        );
        assert_eq!(decide(Some(Draining), Intent::Read, true, true), Forward);
        assert_eq!(decide(Some(Draining), Intent::Write, true, true), Hold);
        assert_eq!(
            decide(Some(Attached), Intent::Read, true, false),
            Refuse(Refusal::NoUpstream)
        );
    }

    fn row(state: AttachState, version: i64) -> UpstreamPool {
        let mut r = attach(None, "p", "endpoint:http://up", 1).unwrap();
        r.state = state;
        r.version = version;
        r
    }

    #[test]
    fn transitions_are_compare_and_set_on_the_version() {
        use AttachState::*;
        let a = row(Attached, 3);
        assert!(attach(Some(&a), "p", "x", 2).is_none(), "attached twice");
        let d = transition(Some(&a), 3, Attached, Draining, 5).unwrap();
        assert_eq!((d.state, d.version, d.changed_ms), (Draining, 4, 5));
        assert!(transition(Some(&a), 2, Attached, Draining, 5).is_none());
        assert!(transition(Some(&d), 4, Attached, Draining, 5).is_none());
        let l = transition(Some(&d), 4, Draining, Local, 6).unwrap();
        assert_eq!((l.state, l.version), (Local, 5));
        assert!(transition(None, 1, Attached, Draining, 5).is_none());
    }

    #[test]
    fn a_drain_is_complete_when_every_live_node_acknowledged_it() {
        let beat = |node: &str, seen, acked: Option<i64>| NodeBeat {
            node_id: node.into(),
            seen_ms: seen,
            acks: acked
                .map(|v| BTreeMap::from([("p".to_string(), v)]))
                .unwrap_or_default(),
        };
        let now = 100_000;
        let nodes = [beat("a", now, Some(4)), beat("b", now - 500, None)];
        assert!(!all_let_go(&nodes, "p", 4, now));
        let nodes = [beat("a", now, Some(4)), beat("b", now - 500, Some(5))];
        assert!(all_let_go(&nodes, "p", 4, now));
        // A node gone silent for longer than the timeout no longer counts.
        let nodes = [
            beat("a", now, Some(4)),
            beat("b", now - NODE_TIMEOUT_MS - 1, None),
        ];
        assert!(all_let_go(&nodes, "p", 4, now));
    }

    #[test]
    fn one_node_at_a_time_copies_a_pool() {
        let a = row(AttachState::Attached, 1);
        let mine = lease_copy(Some(&a), "n1", 10, 70).unwrap();
        assert!(lease_copy(Some(&mine), "n2", 20, 80).is_none());
        assert!(lease_copy(Some(&mine), "n1", 20, 80).is_some(), "renewed");
        assert!(lease_copy(Some(&mine), "n2", 71, 131).is_some(), "expired");
        assert!(copy_done(Some(&mine), "n2", 10).is_none());
        assert_eq!(
            copy_done(Some(&mine), "n1", 10).unwrap().copy_done_ms,
            Some(10)
        );
        let draining = row(AttachState::Draining, 2);
        assert!(lease_copy(Some(&draining), "n1", 10, 70).is_none());
    }
}
