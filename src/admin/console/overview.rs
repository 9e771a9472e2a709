//! The overview: the last hour's request rate, error rate and p99 latency, the outbox backlog
//! per target, and bulk-publish jobs, from the process's own metrics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::chart::{line_chart, Series};
use super::history::Point;
use super::layout::{page, respond};
use super::{Console, Signed};
use crate::metrics::{StatusLabels, TargetLabels, TARGET_KINDS};
use crate::sync::rules::bulk::BulkStatus;

fn series<'a>(
    label: &'a str,
    points: &[Point],
    value: impl Fn(&Point) -> Option<f64>,
) -> Series<'a> {
    Series {
        label,
        values: points.iter().map(|p| (p.at_ms, value(p))).collect(),
    }
}

pub async fn show(Signed(me): Signed, State(console): State<Arc<Console>>) -> Response {
    let metrics = &console.app.metrics;
    crate::admin::refresh(&*console.store, metrics).await;
    let points = console.history.points();
    let now = crate::timeutil::now_ms();
    let requests = [series("requests", &points, |p| Some(p.requests_per_second))];
    let errors = [
        series("5xx", &points, |p| p.server_error_percent),
        series("4xx", &points, |p| p.client_error_percent),
    ];
    let latency = [series("p99", &points, |p| p.p99_ms)];
    let outbox: Vec<Series<'_>> = TARGET_KINDS
        .iter()
        .enumerate()
        .map(|(i, kind)| series(kind, &points, move |p| p.outbox.get(i).map(|n| *n as f64)))
        .collect();
    let bulk: Vec<Series<'_>> = BulkStatus::ALL
        .iter()
        .enumerate()
        .map(|(i, status)| {
            series(status.as_str(), &points, move |p| {
                p.bulk.get(i).map(|n| *n as f64)
            })
        })
        .collect();
    let body = html! {
        p class="lede" {
            "cogsync " (env!("CARGO_PKG_VERSION")) ". Charts cover the last hour of this process \
             (a point every 10 s); the tables below are read from the store now."
        }
        p { a class="button" href="/console/pools" { "Identity pools →" } }
        div class="charts" {
            (line_chart("Request rate", "/s", &requests, now))
            (line_chart("Error rate", "%", &errors, now))
            (line_chart("p99 latency", "ms", &latency, now))
            (line_chart("Outbox backlog", "", &outbox, now))
            (line_chart("Bulk publish jobs", "", &bulk, now))
        }
        div class="columns" {
            section {
                h2 { "Outbox" }
                table {
                    thead { tr { th { "Target" } th class="num" { "Undelivered" } th class="num" { "Oldest" } th class="num" { "Failed deliveries" } } }
                    tbody {
                        @for target in TARGET_KINDS {
                            @let labels = TargetLabels { target };
                            tr {
                                td { (target) }
                                td class="num" { (metrics.outbox_pending.get_or_create(&labels).get()) }
                                td class="num" { (format!("{:.0} s", metrics.outbox_oldest_age.get_or_create(&labels).get())) }
                                td class="num" { (metrics.delivery_failures.get_or_create(&labels).get()) }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Bulk publish jobs" }
                table {
                    thead { tr { th { "Status" } th class="num" { "Pools" } } }
                    tbody {
                        @for status in BulkStatus::ALL {
                            tr {
                                td { (status.as_str()) }
                                td class="num" { (metrics.bulk_jobs.get_or_create(&StatusLabels { status: status.as_str() }).get()) }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page(&me, "Overview", &[], body))
}
