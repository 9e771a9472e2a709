//! The process's own metrics, in the Prometheus (OpenMetrics) text format, served by the
//! admin listener (`admin.rs`). One [`Metrics`] per server, so two servers in one process
//! (the tests) count apart. Label values come only from fixed sets (API and operation names
//! from the operation tables, status codes, error shapes, target kinds, bulk-publish
//! statuses), never from ids or names a user chose.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Request latency buckets, in seconds: 0.5 ms to about 8 s.
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048,
    4.096, 8.192,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Store operation buckets, in seconds: 50 µs to about 4 s.
fn store_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.00005, 2.0, 17,
    ))
}

/// Writes per SQLite group commit: 1 to 256.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Outbox target kinds, each exported from start-up.
pub const TARGET_KINDS: [&str; 3] = ["kinesis", "sns", "direct"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub api: &'static str,
    pub operation: &'static str,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub api: &'static str,
    pub operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    pub operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub pool: String,
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub target: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// Running totals the console's charts are drawn from (`admin/console/history.rs` samples
/// them): plain counters, so a request adds a few relaxed increments.
#[derive(Default)]
pub struct Tally {
    pub requests: AtomicU64,
    /// Answers with a 4xx status.
    pub client_errors: AtomicU64,
    /// Answers with a 5xx status.
    pub server_errors: AtomicU64,
    /// Requests by latency, one counter per [`LATENCY_BUCKETS`] bound and one past the last.
    pub latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
}

impl Tally {
    fn request(&self, status: u16, seconds: f64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match status {
            400..=499 => self.client_errors.fetch_add(1, Ordering::Relaxed),
            500..=599 => self.server_errors.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
    }
}

/// Every metric the server exports.
pub struct Metrics {
    pub tally: Tally,
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub durations: Family<OperationLabels, Histogram, fn() -> Histogram>,
    pub auth_failures: Family<ReasonLabels, Counter>,
    pub conflicts: Counter,
    pub throttled: Counter,
    pub connections: Gauge,
    pub outbox_pending: Family<TargetLabels, Gauge>,
    pub outbox_oldest_age: Family<TargetLabels, Gauge<f64, AtomicU64>>,
    pub bulk_jobs: Family<StatusLabels, Gauge>,
    /// Upstream mode, per attached pool: reads and writes this node forwarded, and datasets
    /// its background copy found changed at the upstream (old app versions' writes).
    pub upstream_traffic: Family<UpstreamLabels, Gauge>,
    pub delivery_failures: Family<TargetLabels, Counter>,
    pub store_operations: Family<StoreLabels, Histogram, fn() -> Histogram>,
    pub commit_batches: Histogram,
    /// Stored values a store operation could not read, by operation.
    pub corrupt_reads: Family<StoreLabels, Counter>,
}

impl Metrics {
    /// The metrics, registered, with every gauge at 0 and `bulk_statuses` (the rules' status
    /// words) exported from the start.
    pub fn new(bulk_statuses: &[&'static str]) -> Self {
        let mut m = Metrics {
            tally: Tally::default(),
            registry: Registry::with_prefix("cogsync"),
            requests: Family::default(),
            durations: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            auth_failures: Family::default(),
            conflicts: Counter::default(),
            throttled: Counter::default(),
            connections: Gauge::default(),
            outbox_pending: Family::default(),
            outbox_oldest_age: Family::default(),
            bulk_jobs: Family::default(),
            upstream_traffic: Family::default(),
            delivery_failures: Family::default(),
            store_operations: Family::new_with_constructor(store_histogram as fn() -> Histogram),
            commit_batches: Histogram::new(BATCH_BUCKETS),
            corrupt_reads: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "requests",
            "Requests answered, by API, operation and HTTP status",
            m.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from a request's arrival to its answer, by API and operation",
            m.durations.clone(),
        );
        r.register(
            "auth_failures",
            "Requests refused for their credentials or signature, by error",
            m.auth_failures.clone(),
        );
        r.register(
            "sync_conflicts",
            "UpdateRecords refused for a stale SyncCount (409)",
            m.conflicts.clone(),
        );
        r.register(
            "throttled",
            "Requests refused with 429 TooManyRequestsException",
            m.throttled.clone(),
        );
        r.register(
            "connections_open",
            "Client connections open on the device listener",
            m.connections.clone(),
        );
        r.register(
            "upstream_traffic",
            "Upstream mode, since this node started, per attached pool: reads and writes forwarded \
             (kind read, write), and datasets the background copy brought over (kind caught_up: \
             written at the upstream by others, such as old app versions)",
            m.upstream_traffic.clone(),
        );
        r.register(
            "outbox_pending",
            "Undelivered outbox events, by target kind",
            m.outbox_pending.clone(),
        );
        r.register(
            "outbox_oldest_age_seconds",
            "Age of the oldest undelivered outbox event, by target kind",
            m.outbox_oldest_age.clone(),
        );
        r.register(
            "bulk_publish_jobs",
            "Bulk-publish jobs of all pools, by status",
            m.bulk_jobs.clone(),
        );
        r.register(
            "outbox_delivery_failures",
            "Failed outbox deliveries (each retried with backoff), by target kind",
            m.delivery_failures.clone(),
        );
        r.register(
            "store_operation_duration_seconds",
            "Time each store operation took, by operation (a Store method)",
            m.store_operations.clone(),
        );
        r.register(
            "store_corrupt_reads",
            "Stored values a store operation could not read (a pool's configuration that does not decode), by operation",
            m.corrupt_reads.clone(),
        );
        r.register(
            "commit_batch_size",
            "Writes committed together by one SQLite group commit",
            m.commit_batches.clone(),
        );
        let version = VersionLabels {
            version: env!("CARGO_PKG_VERSION"),
        };
        r.register("build", "The running cogsync's version", Info::new(version));
        for target in TARGET_KINDS {
            m.outbox_pending
                .get_or_create(&TargetLabels { target })
                .set(0);
            m.outbox_oldest_age
                .get_or_create(&TargetLabels { target })
                .set(0.0);
            let _ = m.delivery_failures.get_or_create(&TargetLabels { target });
        }
        for &status in bulk_statuses {
            m.bulk_jobs.get_or_create(&StatusLabels { status }).set(0);
        }
        m
    }

    /// One request answered.
    pub fn request(
        &self,
        api: &'static str,
        operation: &'static str,
        status: u16,
        seconds: f64,
        error: Option<&'static str>,
    ) {
        self.tally.request(status, seconds);
        self.requests
            .get_or_create(&RequestLabels {
                api,
                operation,
                status,
            })
            .inc();
        self.durations
            .get_or_create(&OperationLabels { api, operation })
            .observe(seconds);
        match (status, error) {
            (409, _) => {
                self.conflicts.inc();
            }
            (429, _) => {
                self.throttled.inc();
            }
            (403, Some(reason)) | (400, Some(reason @ "IncompleteSignatureException")) => {
                self.auth_failures
                    .get_or_create(&ReasonLabels { reason })
                    .inc();
            }
            _ => {}
        }
    }

    /// A delivery to a target of `kind` failed.
    pub fn delivery_failed(&self, kind: &'static str) {
        self.delivery_failures
            .get_or_create(&TargetLabels { target: kind })
            .inc();
    }

    /// The text a scrape gets.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl crate::store::StoreObserver for Metrics {
    fn operation(&self, name: &'static str, seconds: f64) {
        self.store_operations
            .get_or_create(&StoreLabels { operation: name })
            .observe(seconds);
    }

    fn commit(&self, writes: usize) {
        self.commit_batches.observe(writes as f64);
    }

    fn corrupt(&self, name: &'static str) {
        self.corrupt_reads
            .get_or_create(&StoreLabels { operation: name })
            .inc();
    }
}
