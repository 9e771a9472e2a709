//! The last hour of the process's own metrics, for the overview's charts: every
//! [`SAMPLE_EVERY`] a sampler reads the request tally and the store's gauges into a ring of
//! [`Point`]s. Nothing leaves the process; a restart starts an empty hour.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::metrics::{Metrics, Tally, LATENCY_BUCKETS};

/// How often a point is taken.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Points kept: one hour.
pub const POINTS: usize = 360;

/// The tally's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Totals {
    pub requests: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    pub latency: Vec<u64>,
}

impl Totals {
    pub fn read(t: &Tally) -> Self {
        Totals {
            requests: t.requests.load(Ordering::Relaxed),
            client_errors: t.client_errors.load(Ordering::Relaxed),
            server_errors: t.server_errors.load(Ordering::Relaxed),
            latency: t
                .latency
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

/// One interval's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// When the interval ended (ms since the epoch).
    pub at_ms: i64,
    pub requests_per_second: f64,
    /// Share of the interval's answers that were 4xx, and 5xx, in percent (None: no requests).
    pub client_error_percent: Option<f64>,
    pub server_error_percent: Option<f64>,
    /// The 99th percentile latency, in milliseconds, as the upper bound of its histogram
    /// bucket (None: no requests).
    pub p99_ms: Option<f64>,
    /// Undelivered outbox events per target kind, in [`TARGET_KINDS`] order.
    pub outbox: Vec<i64>,
    /// Bulk-publish jobs per status, in the order of the statuses the metrics were given.
    pub bulk: Vec<i64>,
}

/// The store's gauges at one moment: outbox backlog per target, bulk jobs per status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    pub outbox: Vec<i64>,
    pub bulk: Vec<i64>,
}

/// The figures of the interval from `before` to `after`, `seconds` long.
pub fn point(before: &Totals, after: &Totals, seconds: f64, at_ms: i64, gauges: Gauges) -> Point {
    let requests = after.requests.saturating_sub(before.requests);
    let share = |now: u64, then: u64| {
        (requests > 0).then(|| now.saturating_sub(then) as f64 * 100.0 / requests as f64)
    };
    let in_bucket: Vec<u64> = after
        .latency
        .iter()
        .zip(before.latency.iter().chain(std::iter::repeat(&0)))
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    Point {
        at_ms,
        requests_per_second: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        client_error_percent: share(after.client_errors, before.client_errors),
        server_error_percent: share(after.server_errors, before.server_errors),
        p99_ms: p99_ms(&in_bucket),
        outbox: gauges.outbox,
        bulk: gauges.bulk,
    }
}

/// The 99th percentile of requests counted per [`LATENCY_BUCKETS`] bucket (the last counts
/// those slower than every bound), as its bucket's upper bound in milliseconds.
pub fn p99_ms(in_bucket: &[u64]) -> Option<f64> {
    let total: u64 = in_bucket.iter().sum();
    if total == 0 {
        return None;
    }
    // The smallest bucket with at least 99% of requests at or below it.
    let wanted = total - total / 100;
    let mut seen = 0;
    for (i, n) in in_bucket.iter().enumerate() {
        seen += n;
        if seen >= wanted {
            let last = LATENCY_BUCKETS.len() - 1;
            return Some(LATENCY_BUCKETS[i.min(last)] * 1000.0);
        }
    }
    None
}

/// The ring of points.
#[derive(Default)]
pub struct History {
    points: Mutex<VecDeque<Point>>,
}

impl History {
    pub fn push(&self, p: Point) {
        if let Ok(mut points) = self.points.lock() {
            if points.len() == POINTS {
                points.pop_front();
            }
            points.push_back(p);
        }
    }

    /// The points, oldest first.
    pub fn points(&self) -> Vec<Point> {
        self.points
            .lock()
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Takes a point every [`SAMPLE_EVERY`] until dropped (the admin listener aborts it when it
/// stops). `gauges` reads the store's gauges.
pub async fn sample<F, Fut>(history: Arc<History>, metrics: Arc<Metrics>, gauges: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Gauges>,
{
    let mut before = Totals::read(&metrics.tally);
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut last = tokio::time::Instant::now();
    loop {
        ticks.tick().await;
        let gauges = gauges().await;
        let after = Totals::read(&metrics.tally);
        let now = tokio::time::Instant::now();
        let seconds = now.duration_since(last).as_secs_f64();
        history.push(point(
            &before,
            &after,
            seconds,
            crate::timeutil::now_ms(),
            gauges,
        ));
        before = after;
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(requests: u64, client: u64, server: u64, latency: Vec<u64>) -> Totals {
        Totals {
            requests,
            client_errors: client,
            server_errors: server,
            latency,
        }
    }

    #[test]
    fn p99_is_the_bound_of_the_bucket_holding_the_slowest_percent() {
        let mut buckets = vec![0; LATENCY_BUCKETS.len() + 1];
        buckets[0] = 990; // ≤ 0.5 ms
        buckets[5] = 10; // ≤ 16 ms
        assert_eq!(p99_ms(&buckets), Some(0.5));
        buckets[5] = 11;
        assert_eq!(p99_ms(&buckets), Some(16.0));
        // Slower than every bound: reported as the last bound.
        let mut slow = vec![0; LATENCY_BUCKETS.len() + 1];
        slow[LATENCY_BUCKETS.len()] = 5;
        assert_eq!(p99_ms(&slow), Some(8192.0));
        assert_eq!(p99_ms(&[0; 16]), None);
    }

    #[test]
    fn a_point_holds_the_interval_not_the_totals() {
        let before = totals(100, 10, 0, vec![100]);
        let after = totals(300, 30, 20, vec![300]);
        let p = point(&before, &after, 10.0, 7, Gauges::default());
        assert_eq!(p.requests_per_second, 20.0);
        assert_eq!(p.client_error_percent, Some(10.0));
        assert_eq!(p.server_error_percent, Some(10.0));
        assert_eq!(p.p99_ms, Some(0.5));
        let idle = point(&after, &after, 10.0, 8, Gauges::default());
        assert_eq!(idle.requests_per_second, 0.0);
        assert_eq!(idle.server_error_percent, None);
        assert_eq!(idle.p99_ms, None);
    }

    #[test]
    fn the_ring_keeps_the_last_hour() {
        let h = History::default();
        for i in 0..POINTS as i64 + 5 {
            h.push(point(
                &Totals::default(),
                &Totals::default(),
                10.0,
                i,
                Gauges::default(),
            ));
        }
        let points = h.points();
        assert_eq!(points.len(), POINTS);
        assert_eq!(points[0].at_ms, 5);
    }
}
