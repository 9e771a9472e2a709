//! The log line of a failed request: one per request, its operation named, its client message
//! under `reason` (a JSON log line has one `message`, the event's own) and an internal
//! failure's cause under `detail`. Failures of one kind (operation and error shape) are logged
//! at most once per [`WINDOW`]: the rest are counted, and the count is logged when the window
//! ends ("… 1499 more in the last 5 s"), so a database outage makes a few lines, not thousands.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(5);

/// The kind of a failure: its operation and error shape.
type Kind = (&'static str, &'static str);

struct Window {
    started: Instant,
    left_out: u64,
    /// Whether the window's failures are server errors (logged at ERROR) or refusals.
    severe: bool,
}

#[derive(Default)]
pub struct ErrorLog {
    windows: Mutex<HashMap<Kind, Window>>,
}

/// What to do with one failure.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Log it.
    Log,
    /// Leave it out: it is counted toward its window's summary.
    Count,
}

impl ErrorLog {
    /// Whether to log a failure of `op` with `shape` now. A window whose time is up is
    /// summarised first.
    pub fn admit(&self, op: &'static str, shape: &'static str, severe: bool) -> Verdict {
        let now = Instant::now();
        let fresh = Window {
            started: now,
            left_out: 0,
            severe,
        };
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match windows.get_mut(&(op, shape)) {
            None => {
                windows.insert((op, shape), fresh);
                Verdict::Log
            }
            Some(window) if now.duration_since(window.started) >= WINDOW => {
                summarise((op, shape), window);
                *window = fresh;
                Verdict::Log
            }
            Some(window) => {
                window.left_out += 1;
                Verdict::Count
            }
        }
    }

    /// Logs the count of every window that has ended with failures left out, and forgets
    /// ended windows. Called every [`WINDOW`] by the server.
    pub fn flush(&self) {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows.retain(|kind, window| {
            if now.duration_since(window.started) < WINDOW {
                return true;
            }
            summarise(*kind, window);
            false
        });
    }
}

fn summarise((op, shape): Kind, window: &Window) {
    let n = window.left_out;
    if n == 0 {
        return;
    }
    let secs = WINDOW.as_secs();
    if window.severe {
        tracing::error!(
            op,
            code = shape,
            left_out = n,
            "… {n} more failed requests like it in the last {secs} s"
        );
    } else {
        tracing::warn!(
            op,
            code = shape,
            left_out = n,
            "… {n} more refused requests like it in the last {secs} s"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_a_kind_is_logged_and_the_rest_of_its_window_counted() {
        let log = ErrorLog::default();
        assert_eq!(
            log.admit("ListRecords", "InternalErrorException", true),
            Verdict::Log
        );
        for _ in 0..1499 {
            assert_eq!(
                log.admit("ListRecords", "InternalErrorException", true),
                Verdict::Count
            );
        }
        // Another kind has its own window.
        assert_eq!(
            log.admit("UpdateRecords", "InternalErrorException", true),
            Verdict::Log
        );
        let windows = log.windows.lock().unwrap();
        assert_eq!(
            windows[&("ListRecords", "InternalErrorException")].left_out,
            1499
        );
    }
}
