//! Benchmark reports: a text table, JSON for machines, and an SVG chart for people. Every
//! throughput and CPU time per request is also given as a ratio to the baseline (`echo`) of
//! the same run and number of clients.

use serde_json::{json, Value};

use super::workloads::WorkloadResult;

/// The baseline row `r` is compared with: its workload's baseline, at the same concurrency.
fn baseline<'a>(r: &WorkloadResult, results: &'a [WorkloadResult]) -> Option<&'a WorkloadResult> {
    results
        .iter()
        .find(|b| b.workload == r.workload.baseline() && b.concurrency == r.concurrency)
}

fn divide(x: Option<f64>, by: Option<f64>) -> Option<f64> {
    x.zip(by.filter(|b| *b > 0.0)).map(|(x, by)| x / by)
}

/// Throughput as a ratio to the baseline's.
fn ratio(r: &WorkloadResult, results: &[WorkloadResult]) -> Option<f64> {
    divide(
        Some(r.requests_per_second()),
        baseline(r, results).map(WorkloadResult::requests_per_second),
    )
}

/// CPU time per request as a ratio to the baseline's.
fn cpu_ratio(r: &WorkloadResult, results: &[WorkloadResult]) -> Option<f64> {
    divide(
        r.cpu_us_per_request(),
        baseline(r, results).and_then(WorkloadResult::cpu_us_per_request),
    )
}

fn or_dash(x: Option<f64>, decimals: usize) -> String {
    x.map_or("-".into(), |x| format!("{x:.decimals$}"))
}

fn ledger_text(r: &WorkloadResult) -> String {
    match &r.ledger {
        None => "-".into(),
        Some(Ok(())) => "clean".into(),
        Some(Err(e)) => format!("MISMATCH: {e}"),
    }
}

/// The levels of concurrency in `results`, in the order they ran.
fn levels(results: &[WorkloadResult]) -> Vec<usize> {
    let mut levels = Vec::new();
    for r in results {
        if !levels.contains(&r.concurrency) {
            levels.push(r.concurrency);
        }
    }
    levels
}

/// One table per level of concurrency.
pub fn text(results: &[WorkloadResult]) -> String {
    let mut out = String::new();
    for clients in levels(results) {
        out.push_str(&format!("{clients} clients\n"));
        out.push_str(&table(results, clients));
        out.push('\n');
    }
    out.push_str(
        "cpu: user+system CPU time of the process answering (the server; the echo process for \
         echo rows) per request.\n\
         x echo, cpu x echo: replay rows against echo-replay, the others against echo.\n",
    );
    out
}

/// The table of the rows with `clients` clients.
fn table(results: &[WorkloadResult], clients: usize) -> String {
    let mut out = format!(
        "{:<11} {:>10} {:>8} {:>11} {:>10} {:>9} {:>9} {:>9} {:>8} {:>9}  ledger\n",
        "workload",
        "req/s",
        "x echo",
        "cpu µs/req",
        "cpu x echo",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "errors",
        "conflicts"
    );
    for r in results.iter().filter(|r| r.concurrency == clients) {
        out.push_str(&format!(
            "{:<11} {:>10.0} {:>8} {:>11} {:>10} {:>9.2} {:>9.2} {:>9.2} {:>8} {:>9}  {}\n",
            r.workload.name(),
            r.requests_per_second(),
            or_dash(ratio(r, results), 2),
            or_dash(r.cpu_us_per_request(), 1),
            or_dash(cpu_ratio(r, results), 2),
            r.percentile_ms(50.0),
            r.percentile_ms(99.0),
            r.percentile_ms(99.9),
            r.errors,
            r.conflicts,
            ledger_text(r),
        ));
        if let Some(e) = &r.first_error {
            out.push_str(&format!("            first error: {e}\n"));
        }
        if let Some(db) = r.database_cpu_us_per_request() {
            out.push_str(&format!("            database cpu µs/req: {db:.1}\n"));
        }
        if let Some(rate) = r.events_per_second() {
            out.push_str(&format!(
                "            outbox: {} events delivered by {:.1} s after the first write: {rate:.0} events/s\n",
                r.requests,
                r.drained.map_or(0.0, |d| d.as_secs_f64()),
            ));
        }
    }
    out
}

pub fn json(results: &[WorkloadResult]) -> Value {
    json!(results
        .iter()
        .map(|r| json!({
            "workload": r.workload.name(),
            "concurrency": r.concurrency,
            "baseline": r.workload.baseline().name(),
            "requests": r.requests,
            "seconds": r.elapsed.as_secs_f64(),
            "requests_per_second": r.requests_per_second(),
            "ratio_to_echo": ratio(r, results),
            "server_cpu_us_per_request": r.cpu_us_per_request(),
            "cpu_ratio_to_echo": cpu_ratio(r, results),
            "p50_ms": r.percentile_ms(50.0),
            "p99_ms": r.percentile_ms(99.0),
            "p999_ms": r.percentile_ms(99.9),
            "errors": r.errors,
            "conflicts": r.conflicts,
            "ledger": ledger_text(r),
            "events_delivered_per_second": r.events_per_second(),
            "database_cpu_us_per_request": r.database_cpu_us_per_request(),
            "first_error": r.first_error,
        }))
        .collect::<Vec<_>>())
}

/// Two bar charts side by side: throughput as a ratio to echo, and p50/p99 latency.
pub fn svg(results: &[WorkloadResult], title: &str) -> String {
    let (w, h, top, row) = (900.0, 80.0 + 40.0 * results.len() as f64, 60.0, 40.0);
    let several_levels = levels(results).len() > 1;
    let max_ms = results
        .iter()
        .map(|r| r.percentile_ms(99.0))
        .fold(1.0f64, f64::max);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="25" font-size="16" font-weight="bold">{title}</text>
<text x="110" y="48">throughput (× echo)</text><text x="520" y="48">latency p50 / p99 (ms)</text>
"#
    );
    for (i, r) in results.iter().enumerate() {
        let y = top + row * i as f64;
        let x = ratio(r, results).unwrap_or(0.0).min(1.5);
        let bar = 300.0 * x / 1.5;
        let (p50, p99) = (r.percentile_ms(50.0), r.percentile_ms(99.0));
        s.push_str(&format!(
            r##"<text x="20" y="{ty}">{name}</text>
<rect x="110" y="{y}" width="{bar:.1}" height="22" fill="#4a7bd0"/>
<text x="{lx:.1}" y="{ty}">{rps:.0}/s ({xr:.2}×)</text>
<rect x="520" y="{y}" width="{b99:.1}" height="22" fill="#e3a33b"/>
<rect x="520" y="{y}" width="{b50:.1}" height="22" fill="#c0392b"/>
<text x="{lx2:.1}" y="{ty}">{p50:.2} / {p99:.2}</text>
"##,
            ty = y + 16.0,
            name = if several_levels {
                format!("{} @{}", r.workload.name(), r.concurrency)
            } else {
                r.workload.name().to_owned()
            },
            lx = 115.0 + bar,
            rps = r.requests_per_second(),
            xr = ratio(r, results).unwrap_or(0.0),
            b99 = 250.0 * p99 / max_ms,
            b50 = 250.0 * p50 / max_ms,
            lx2 = 525.0 + 250.0 * p99 / max_ms,
        ));
    }
    s.push_str("</svg>\n");
    s
}
