//! The workloads, each client a task looping until the budget is spent, and the ledger check
//! that follows every write workload.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::Value;

use super::client::{HttpClient, Reply};
use super::{Budget, Device};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// The same signed requests against a bare HTTP handler: the baseline.
    Echo,
    /// ListRecords (lastSyncCount 0) of a dataset of 10 records.
    List,
    /// UpdateRecords with one replace patch, each client on its own dataset.
    Update,
    /// ListRecords(lastSyncCount) then UpdateRecords with 3 patches.
    Sync,
    /// Two clients per dataset racing, resolving 409s by pulling again.
    Conflict,
}

impl Workload {
    pub const ALL: [Workload; 5] = [
        Workload::Echo,
        Workload::List,
        Workload::Update,
        Workload::Sync,
        Workload::Conflict,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Echo => "echo",
            Workload::List => "list",
            Workload::Update => "update",
            Workload::Sync => "sync",
            Workload::Conflict => "conflict",
        }
    }

    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == s)
    }

    /// Devices a run with `concurrency` clients needs.
    pub fn devices_needed(self, concurrency: usize) -> usize {
        match self {
            Workload::Conflict => concurrency.div_ceil(2),
            _ => concurrency,
        }
    }
}

/// What one workload did.
#[derive(Debug, Clone)]
pub struct WorkloadResult {
    pub workload: Workload,
    pub requests: u64,
    pub errors: u64,
    /// 409s in the conflict workload (expected there, errors elsewhere).
    pub conflicts: u64,
    pub elapsed: Duration,
    /// Sorted request latencies in microseconds.
    pub latencies_us: Vec<u32>,
    /// For write workloads: whether the server's state equals the ledger.
    pub ledger: Option<Result<(), String>>,
    pub first_error: Option<String>,
}

impl WorkloadResult {
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency percentile (0..=100) in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let idx = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        self.latencies_us[idx.min(self.latencies_us.len() - 1)] as f64 / 1000.0
    }
}

/// Shared counters of one run.
struct Tally {
    started: Instant,
    budget: Budget,
    issued: AtomicU64,
    errors: AtomicU64,
    conflicts: AtomicU64,
    latencies: Mutex<Vec<u32>>,
    first_error: Mutex<Option<String>>,
}

impl Tally {
    /// Claims the next request, or false when the budget is spent.
    fn next(&self) -> bool {
        if self.started.elapsed() >= self.budget.duration {
            return false;
        }
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        self.budget.max_requests.is_none_or(|max| n < max)
    }

    /// Times one request and classifies its outcome.
    async fn timed(
        &self,
        f: impl std::future::Future<Output = Result<Reply, String>>,
        conflict_ok: bool,
    ) -> Option<Value> {
        let t = Instant::now();
        let result = f.await;
        let us = t.elapsed().as_micros().min(u32::MAX as u128) as u32;
        if let Ok(mut l) = self.latencies.lock() {
            l.push(us);
        }
        match result {
            Ok(r) if r.status == 200 => Some(r.body),
            Ok(r) if r.status == 409 && conflict_ok => {
                self.conflicts.fetch_add(1, Ordering::Relaxed);
                None
            }
            other => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    if first.is_none() {
                        *first = Some(match other {
                            Ok(r) => format!("HTTP {}: {}", r.status, r.body),
                            Err(e) => e,
                        });
                    }
                }
                None
            }
        }
    }
}

/// Keys and their (value, count) as the server acknowledged them, per device.
type Ledger = Arc<Mutex<HashMap<usize, HashMap<String, (String, i64)>>>>;

fn ack(ledger: &Ledger, device: usize, key: &str, value: &str, count: i64) {
    if let Ok(mut l) = ledger.lock() {
        let entry = l
            .entry(device)
            .or_default()
            .entry(key.to_owned())
            .or_insert((String::new(), 0));
        if count > entry.1 {
            *entry = (value.to_owned(), count);
        }
    }
}

fn written_count(body: &Value) -> Option<i64> {
    body["Records"]
        .as_array()?
        .iter()
        .filter_map(|r| r["SyncCount"].as_i64())
        .max()
}

fn counts_of(body: &Value) -> HashMap<String, i64> {
    body["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r["Key"].as_str()?.to_owned(), r["SyncCount"].as_i64()?)))
        .collect()
}

/// Puts 10 records in each device's dataset for the list workload.
async fn prepare_list(devices: &[Device]) -> Result<(), String> {
    for d in devices {
        let token = d.session_token().await?;
        let patches: Vec<_> = (0..10)
            .map(|i| (format!("key{i}"), format!("value {i}"), 0))
            .collect();
        let r = d.update(&token, &patches).await?;
        if r.status != 200 {
            return Err(format!("preparing list data: HTTP {} {}", r.status, r.body));
        }
    }
    Ok(())
}

/// Runs one workload with `concurrency` clients over `devices` (each workload on datasets of
/// its own) and checks the ledger afterwards.
pub async fn run(
    workload: Workload,
    devices: &[Device],
    concurrency: usize,
    budget: Budget,
    echo_url: &str,
) -> WorkloadResult {
    let devices: Vec<Device> = devices
        .iter()
        .take(workload.devices_needed(concurrency))
        .map(|d| Device {
            dataset: format!("{}-{}", d.dataset, workload.name()),
            ..d.clone()
        })
        .collect();
    let mut prep_error = None;
    if workload == Workload::List {
        prep_error = prepare_list(&devices).await.err();
    }
    let tally = Arc::new(Tally {
        started: Instant::now(),
        budget,
        issued: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        conflicts: AtomicU64::new(0),
        latencies: Mutex::new(Vec::new()),
        first_error: Mutex::new(prep_error),
    });
    let ledger: Ledger = Arc::default();
    let echo = HttpClient::new(echo_url);
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..concurrency {
        let index = match workload {
            Workload::Conflict => client / 2,
            _ => client,
        } % devices.len().max(1);
        let Some(device) = devices.get(index).cloned() else {
            break;
        };
        let (tally, ledger, echo) = (tally.clone(), ledger.clone(), echo.clone());
        tasks.spawn(async move {
            client_loop(workload, index, client, device, tally, ledger, echo).await
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = tally.started.elapsed();
    let ledger_check = match workload {
        Workload::Echo | Workload::List => None,
        _ => Some(check_ledger(&devices, &ledger).await),
    };
    let mut latencies = tally
        .latencies
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    latencies.sort_unstable();
    WorkloadResult {
        workload,
        requests: latencies.len() as u64,
        errors: tally.errors.load(Ordering::Relaxed),
        conflicts: tally.conflicts.load(Ordering::Relaxed),
        elapsed,
        latencies_us: latencies,
        ledger: ledger_check,
        first_error: tally.first_error.lock().ok().and_then(|e| e.clone()),
    }
}

async fn client_loop(
    workload: Workload,
    index: usize,
    client: usize,
    d: Device,
    tally: Arc<Tally>,
    ledger: Ledger,
    echo: HttpClient,
) {
    let token = match workload {
        Workload::Echo | Workload::List => String::new(),
        _ => match d.session_token().await {
            Ok(t) => t,
            Err(e) => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut f) = tally.first_error.lock() {
                    f.get_or_insert(e);
                }
                return;
            }
        },
    };
    let echo_path = format!(
        "/identitypools/{}/identities/{}/datasets/x/records?lastSyncCount=0",
        d.pool, d.identity
    );
    let mut count = 0i64;
    let mut last = 0i64;
    let mut counts: HashMap<String, i64> = HashMap::new();
    let mut n = 0u64;
    while tally.next() {
        n += 1;
        match workload {
            Workload::Echo => {
                tally
                    .timed(
                        echo.call(Method::GET, &echo_path, &[], Vec::new(), Some(&d.signer)),
                        false,
                    )
                    .await;
            }
            Workload::List => {
                tally.timed(d.list(0), false).await;
            }
            Workload::Update => {
                let value = format!("c{client} n{n}");
                let patch = [("k".to_string(), value.clone(), count)];
                if let Some(body) = tally.timed(d.update(&token, &patch), false).await {
                    if let Some(c) = written_count(&body) {
                        count = c;
                        ack(&ledger, index, "k", &value, c);
                    }
                }
            }
            Workload::Sync => {
                let Some(pulled) = tally.timed(d.list(last), false).await else {
                    continue;
                };
                counts.extend(counts_of(&pulled));
                last = pulled["DatasetSyncCount"].as_i64().unwrap_or(last);
                let token = pulled["SyncSessionToken"]
                    .as_str()
                    .unwrap_or(&token)
                    .to_owned();
                let patches: Vec<_> = (0..3)
                    .map(|i| {
                        let key = format!("k{i}");
                        let c = counts.get(&key).copied().unwrap_or(0);
                        (key, format!("c{client} n{n} k{i}"), c)
                    })
                    .collect();
                if !tally.next() {
                    break;
                }
                if let Some(body) = tally.timed(d.update(&token, &patches), false).await {
                    for (key, value, _) in &patches {
                        if let Some(c) = written_count(&body) {
                            counts.insert(key.clone(), c);
                            ack(&ledger, index, key, value, c);
                        }
                    }
                    if let Some(c) = written_count(&body) {
                        if c == last + 1 {
                            last = c;
                        }
                    }
                }
            }
            Workload::Conflict => {
                let Some(pulled) = tally.timed(d.list(0), false).await else {
                    continue;
                };
                let current = counts_of(&pulled).get("k").copied().unwrap_or(0);
                let token = pulled["SyncSessionToken"]
                    .as_str()
                    .unwrap_or(&token)
                    .to_owned();
                let value = format!("c{client} n{n}");
                if !tally.next() {
                    break;
                }
                if let Some(body) = tally
                    .timed(
                        d.update(&token, &[("k".into(), value.clone(), current)]),
                        true,
                    )
                    .await
                {
                    if let Some(c) = written_count(&body) {
                        ack(&ledger, index, "k", &value, c);
                    }
                }
            }
        }
    }
}

/// The server's records must equal, key by key, the last acknowledged write.
async fn check_ledger(devices: &[Device], ledger: &Ledger) -> Result<(), String> {
    let expected = ledger
        .lock()
        .map(|l| l.clone())
        .map_err(|_| "ledger lock poisoned".to_string())?;
    for (index, keys) in expected {
        let d = &devices[index];
        let reply = d.list(0).await?;
        if reply.status != 200 {
            return Err(format!("reading back {}: HTTP {}", d.dataset, reply.status));
        }
        let got: HashMap<String, (String, i64)> = reply.body["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some((
                    r["Key"].as_str()?.to_owned(),
                    (r["Value"].as_str()?.to_owned(), r["SyncCount"].as_i64()?),
                ))
            })
            .collect();
        for (key, want) in keys {
            if got.get(&key) != Some(&want) {
                return Err(format!(
                    "{} {key}: server has {:?}, ledger says {:?}",
                    d.dataset,
                    got.get(&key),
                    want
                ));
            }
        }
    }
    Ok(())
}
