//! File descriptors, budgeted at start-up: the soft `RLIMIT_NOFILE` is raised to the hard one
//! (as servers commonly do; the default soft limit of 1024 is a relic), the descriptors the
//! rest of the process needs are set aside, and the device port's connection cap is lowered
//! to what remains, so that client connections can never take the descriptors the store, the
//! outbox's clients or the admin listener need.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Standard streams, the runtime's own (epoll, event fds), the listeners, log and
/// configuration files, name resolution, certificate files.
const BASE: usize = 64;
/// The outbox's and the sync trigger's HTTP clients (Kinesis, SNS, Lambda, webhooks, push
/// providers) and their connection pools.
const OUTBOUND: usize = 64;
/// Connections past the cap, each held for at most a second to be refused.
const REFUSALS: usize = super::accept::REFUSING_AT_ONCE;

/// The soft open-file limit after raising it as far as the hard limit allows (None:
/// unlimited, or not known).
pub fn raise_soft_limit() -> Option<u64> {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    if current.is_some() && current != maximum {
        let raised = Rlimit {
            current: maximum,
            maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => return maximum,
            Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
        }
    }
    current
}

/// The device port's connection cap: `configured`, or less when the open-file limit leaves
/// less after `reserved` (the store's, the admin listener's) and this module's own reserve.
pub fn connection_cap(configured: usize, soft_limit: Option<u64>, reserved: usize) -> usize {
    let Some(limit) = soft_limit else {
        return configured;
    };
    let set_aside = BASE + OUTBOUND + REFUSALS + reserved;
    let room = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_sub(set_aside)
        .max(1);
    if room < configured {
        tracing::warn!(
            configured,
            lowered_to = room,
            open_file_limit = limit,
            set_aside,
            "--max-connections lowered to what the open-file limit leaves after the store, the admin listener and the outbox; raise the limit (ulimit -n) to serve more"
        );
        return room;
    }
    configured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_reserve_free() {
        assert_eq!(connection_cap(1024, None, 50), 1024);
        assert_eq!(connection_cap(1024, Some(1_048_576), 50), 1024);
        assert_eq!(connection_cap(1024, Some(1024), 50), 1024 - 160 - 50);
        assert_eq!(connection_cap(1024, Some(100), 50), 1);
    }
}
