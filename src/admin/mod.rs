//! The admin listener: liveness, readiness and metrics, on an address of their own (loopback
//! by default), so that none of it is reachable on the device-facing port.
//!
//! - `GET /healthz`: 200 while the process serves.
//! - `GET /readyz`: 200 when the store answers and its schema is the one this binary
//!   writes; 503 with the reason otherwise (a database outage flips it, its return flips it
//!   back).
//! - `GET /metrics`: the Prometheus (OpenMetrics) text of [`Metrics`], with the outbox and
//!   bulk-publish gauges read from the store at each scrape.
//! - `/console/`: the web console ([`console`]).
//! - `/upstream/…`: detaching a pool from its upstream, and the attachments' status
//!   ([`upstream`]).

pub mod console;
pub mod host;
pub mod probe;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::metrics::{Metrics, StatusLabels, TargetLabels, TARGET_KINDS};
use crate::store::sql::schema::SCHEMA_VERSION;
use crate::store::AdminStore;
use crate::sync::rules::bulk::BulkStatus;
use crate::sync::OutboxTarget;

/// How long readiness waits for the store before it calls it unreachable.
const STORE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Admin {
    pub store: Arc<dyn AdminStore>,
    pub metrics: Arc<Metrics>,
    /// Upstream mode's attachments, for their traffic figures.
    pub attachments: Arc<crate::upstream::Attachments>,
}

/// Every route of the admin listener, behind the `Host` check of [`host`].
pub fn router(
    admin: Arc<Admin>,
    console: Arc<console::Console>,
    upstream: Arc<upstream::UpstreamAdmin>,
    hosts: host::Allowed,
) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(admin)
        .merge(console::router(console))
        .merge(upstream::router(upstream))
        .layer(axum::middleware::from_fn_with_state(hosts, host::check))
}

async fn ready(State(admin): State<Arc<Admin>>) -> Response {
    let version = tokio::time::timeout(STORE_TIMEOUT, admin.store.schema_version()).await;
    let not_ready = |why: String| (StatusCode::SERVICE_UNAVAILABLE, why + "\n").into_response();
    match version {
        Ok(Ok(v)) if v == SCHEMA_VERSION => "ready\n".into_response(),
        Ok(Ok(v)) => not_ready(format!(
            "the database schema is at version {v}; this cogsync needs {SCHEMA_VERSION}"
        )),
        Ok(Err(e)) => not_ready(format!("the store does not answer: {e}")),
        Err(_) => not_ready(format!(
            "the store did not answer within {} s",
            STORE_TIMEOUT.as_secs()
        )),
    }
}

async fn metrics(State(admin): State<Arc<Admin>>) -> Response {
    refresh(&*admin.store, &admin.metrics).await;
    for (pool, t) in admin.attachments.traffic() {
        for (kind, n) in [
            ("read", t.forwarded_reads),
            ("write", t.forwarded_writes),
            ("caught_up", t.caught_up),
        ] {
            let labels = crate::metrics::UpstreamLabels {
                pool: pool.clone(),
                kind,
            };
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            admin.metrics.upstream_traffic.get_or_create(&labels).set(n);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        admin.metrics.render(),
    )
        .into_response()
}

/// The gauges the store holds the truth of. A store that does not answer leaves them as they
/// were (readiness says why).
pub async fn refresh(store: &dyn AdminStore, m: &Metrics) {
    let now_ms = crate::timeutil::now_ms();
    if let Ok(Ok(targets)) = tokio::time::timeout(STORE_TIMEOUT, store.outbox_targets()).await {
        for kind in TARGET_KINDS {
            let (mut count, mut oldest) = (0, None::<i64>);
            for (target, n, first) in &targets {
                if kind_of(target) == Some(kind) {
                    count += n;
                    oldest = Some(oldest.map_or(*first, |o| o.min(*first)));
                }
            }
            let age = oldest.map_or(0.0, |o| (now_ms - o).max(0) as f64 / 1000.0);
            m.outbox_pending
                .get_or_create(&TargetLabels { target: kind })
                .set(count);
            m.outbox_oldest_age
                .get_or_create(&TargetLabels { target: kind })
                .set(age);
        }
    }
    if let Ok(Ok(statuses)) = tokio::time::timeout(STORE_TIMEOUT, store.bulk_statuses()).await {
        for status in BulkStatus::ALL {
            let word = status.as_str();
            let count = statuses
                .iter()
                .filter(|(s, _)| BulkStatus::of_word(s) == status)
                .map(|(_, n)| n)
                .sum();
            m.bulk_jobs
                .get_or_create(&StatusLabels { status: word })
                .set(count);
        }
    }
}

/// The store's gauges as the console's history keeps them, refreshed first: outbox backlog
/// per target kind (in [`TARGET_KINDS`] order), bulk jobs per status (in [`BulkStatus::ALL`]
/// order).
pub async fn gauges(store: &dyn AdminStore, m: &Metrics) -> console::history::Gauges {
    refresh(store, m).await;
    console::history::Gauges {
        outbox: TARGET_KINDS
            .iter()
            .map(|&target| {
                m.outbox_pending
                    .get_or_create(&TargetLabels { target })
                    .get()
            })
            .collect(),
        bulk: BulkStatus::ALL
            .iter()
            .map(|s| {
                m.bulk_jobs
                    .get_or_create(&StatusLabels { status: s.as_str() })
                    .get()
            })
            .collect(),
    }
}

fn kind_of(stored: &str) -> Option<&'static str> {
    OutboxTarget::decode(stored).map(|t| t.kind())
}
