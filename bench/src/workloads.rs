//! The workloads, each client a task looping until the budget is spent, the CPU time the
//! answering process spent meanwhile, and the ledger check that follows every write workload.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::Value;

use super::client::{HttpClient, Reply};
use super::cpu::Process;
use super::replay::Replay;
use super::{Budget, Device};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// The same signed requests against a bare HTTP handler: the baseline.
    Echo,
    /// One signed echo request, signed once and replayed: the baseline of the replays.
    EchoReplay,
    /// ListRecords (lastSyncCount 0) of a dataset of 10 records.
    List,
    /// The `list` request signed once and replayed byte for byte by a cheap client.
    ListReplay,
    /// UpdateRecords with one replace patch, each client on its own dataset.
    Update,
    /// ListRecords(lastSyncCount) then UpdateRecords with 3 patches.
    Sync,
    /// Two clients per dataset racing, resolving 409s by pulling again.
    Conflict,
}

impl Workload {
    pub const ALL: [Workload; 7] = [
        Workload::Echo,
        Workload::EchoReplay,
        Workload::List,
        Workload::ListReplay,
        Workload::Update,
        Workload::Sync,
        Workload::Conflict,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Echo => "echo",
            Workload::EchoReplay => "echo-replay",
            Workload::List => "list",
            Workload::ListReplay => "list-replay",
            Workload::Update => "update",
            Workload::Sync => "sync",
            Workload::Conflict => "conflict",
        }
    }

    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == s)
    }

    /// The baseline this workload's ratios are taken against.
    pub fn baseline(self) -> Workload {
        match self {
            Workload::EchoReplay | Workload::ListReplay => Workload::EchoReplay,
            _ => Workload::Echo,
        }
    }

    /// Whether the echo process, not the server, answers this workload.
    pub fn answered_by_echo(self) -> bool {
        matches!(self, Workload::Echo | Workload::EchoReplay)
    }

    /// Whether it writes, and is checked against its ledger afterwards.
    pub fn writes(self) -> bool {
        matches!(self, Workload::Update | Workload::Sync | Workload::Conflict)
    }

    /// Devices a run with `concurrency` clients needs.
    pub fn devices_needed(self, concurrency: usize) -> usize {
        match self {
            Workload::Conflict => concurrency.div_ceil(2),
            _ => concurrency,
        }
    }
}

/// Where a run sends its requests, and which processes' CPU time it reads.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// The echo baseline's URL.
    pub echo_url: String,
    /// The process serving `echo_url` (None: its CPU is not measured, e.g. echo in-process).
    pub echo_process: Option<Process>,
    /// The server's process (None: its CPU is not measured).
    pub server_process: Option<Process>,
}

/// What one workload did.
#[derive(Debug, Clone)]
pub struct WorkloadResult {
    pub workload: Workload,
    /// Concurrent clients.
    pub concurrency: usize,
    pub requests: u64,
    pub errors: u64,
    /// 409s in the conflict workload (expected there, errors elsewhere).
    pub conflicts: u64,
    pub elapsed: Duration,
    /// CPU time (user + system) the answering process (the server, or the echo process for
    /// echo) used from the first request to the end of the last; None when not measured.
    pub cpu: Option<Duration>,
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

    /// The answering process's CPU time per completed request, in microseconds.
    pub fn cpu_us_per_request(&self) -> Option<f64> {
        let cpu = self.cpu?;
        (self.requests > 0).then(|| cpu.as_secs_f64() * 1e6 / self.requests as f64)
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

    /// Counts an error, keeping the first one's text.
    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(e);
        }
    }

    fn latency(&self, since: Instant) {
        let us = since.elapsed().as_micros().min(u32::MAX as u128) as u32;
        if let Ok(mut l) = self.latencies.lock() {
            l.push(us);
        }
    }

    /// Times one request and classifies its outcome.
    async fn timed(
        &self,
        f: impl std::future::Future<Output = Result<Reply, String>>,
        conflict_ok: bool,
    ) -> Option<Value> {
        let t = Instant::now();
        let result = f.await;
        self.latency(t);
        match result {
            Ok(r) if r.status == 200 => Some(r.body),
            Ok(r) if r.status == 409 && conflict_ok => {
                self.conflicts.fetch_add(1, Ordering::Relaxed);
                None
            }
            Ok(r) => {
                self.error(format!("HTTP {}: {}", r.status, r.body));
                None
            }
            Err(e) => {
                self.error(e);
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

/// Puts 10 records in each device's dataset for the list workloads.
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

/// What a client gets ready before the timed run (outside the time and the CPU measured).
enum Ready {
    Nothing,
    /// A SyncSessionToken for the writes.
    Token(String),
    /// A connection replaying one pre-signed request, and the records each answer must hold.
    Replay(Replay, usize),
}

/// The GET echo answers in the echo workloads (a list path, signed like one).
fn echo_path(d: &Device) -> String {
    format!(
        "/identitypools/{}/identities/{}/datasets/x/records?lastSyncCount=0",
        d.pool, d.identity
    )
}

async fn get_ready(workload: Workload, d: &Device, echo: &HttpClient) -> Result<Ready, String> {
    Ok(match workload {
        Workload::Echo | Workload::List => Ready::Nothing,
        Workload::Update | Workload::Sync | Workload::Conflict => {
            Ready::Token(d.session_token().await?)
        }
        Workload::EchoReplay => {
            let request = echo.presign(Method::GET, &echo_path(d), &[], &[], Some(&d.signer))?;
            Ready::Replay(Replay::connect(echo.host(), request).await?, 0)
        }
        Workload::ListReplay => {
            let request = d.presign_list(0)?;
            Ready::Replay(Replay::connect(d.http.host(), request).await?, 10)
        }
    })
}

/// Sends the pre-signed request until the budget is spent; an answer other than a 200 with
/// `records` records is an error.
async fn replay_loop(mut replay: Replay, records: usize, tally: &Tally) {
    while tally.next() {
        let t = Instant::now();
        let outcome = replay
            .send()
            .await
            .and_then(|(status, body)| check_replayed(status, body, records));
        tally.latency(t);
        if let Err(e) = outcome {
            tally.error(e);
        }
    }
}

fn check_replayed(status: u16, body: &[u8], records: usize) -> Result<(), String> {
    if status != 200 {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(body)));
    }
    let body: Value = serde_json::from_slice(body).map_err(|e| format!("answer: {e}"))?;
    match body["Records"].as_array().map(Vec::len) {
        Some(n) if n == records => Ok(()),
        n => Err(format!("{n:?} records, expected {records}: {body}")),
    }
}

/// One client of the timed run.
struct Client {
    /// Which client of the run (values written carry it).
    client: usize,
    /// Which device, the ledger's key.
    index: usize,
    device: Device,
    ready: Ready,
}

/// Runs one workload with `concurrency` clients over `devices` (each workload and level of
/// concurrency on datasets of its own): first every client gets ready, then the CPU time of the answering process is read
/// and the clients run until the budget is spent; the CPU time is read again after the last
/// request, and the ledger is checked after that.
pub async fn run(
    workload: Workload,
    devices: &[Device],
    concurrency: usize,
    budget: Budget,
    targets: &Targets,
) -> WorkloadResult {
    let devices: Vec<Device> = devices
        .iter()
        .take(workload.devices_needed(concurrency))
        .map(|d| Device {
            dataset: format!("{}-{}-c{concurrency}", d.dataset, workload.name()),
            ..d.clone()
        })
        .collect();
    let mut first_error = None;
    if matches!(workload, Workload::List | Workload::ListReplay) {
        first_error = prepare_list(&devices).await.err();
    }
    let echo = HttpClient::new(&targets.echo_url);
    let mut setup_errors = 0;
    let mut getting_ready = tokio::task::JoinSet::new();
    for client in 0..concurrency {
        let index = match workload {
            Workload::Conflict => client / 2,
            _ => client,
        } % devices.len().max(1);
        let Some(device) = devices.get(index).cloned() else {
            break;
        };
        let echo = echo.clone();
        getting_ready.spawn(async move {
            let ready = get_ready(workload, &device, &echo).await?;
            Ok::<_, String>(Client {
                client,
                index,
                device,
                ready,
            })
        });
    }
    let mut clients = Vec::with_capacity(concurrency);
    while let Some(joined) = getting_ready.join_next().await {
        match joined.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(c) => clients.push(c),
            Err(e) => {
                setup_errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    let process = if workload.answered_by_echo() {
        targets.echo_process
    } else {
        targets.server_process
    };
    let cpu_before = process.and_then(|p| p.cpu_time());
    let tally = Arc::new(Tally {
        started: Instant::now(),
        budget,
        issued: AtomicU64::new(0),
        errors: AtomicU64::new(setup_errors),
        conflicts: AtomicU64::new(0),
        latencies: Mutex::new(Vec::new()),
        first_error: Mutex::new(first_error),
    });
    let ledger: Ledger = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for c in clients {
        let (tally, ledger, echo) = (tally.clone(), ledger.clone(), echo.clone());
        tasks.spawn(async move { client_loop(workload, c, tally, ledger, echo).await });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = tally.started.elapsed();
    let cpu_after = process.and_then(|p| p.cpu_time());
    let cpu = cpu_before
        .zip(cpu_after)
        .and_then(|(before, after)| after.checked_sub(before));
    let ledger_check = if workload.writes() {
        Some(check_ledger(&devices, &ledger).await)
    } else {
        None
    };
    let mut latencies = tally
        .latencies
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    latencies.sort_unstable();
    WorkloadResult {
        workload,
        concurrency,
        requests: latencies.len() as u64,
        errors: tally.errors.load(Ordering::Relaxed),
        conflicts: tally.conflicts.load(Ordering::Relaxed),
        elapsed,
        cpu,
        latencies_us: latencies,
        ledger: ledger_check,
        first_error: tally.first_error.lock().ok().and_then(|e| e.clone()),
    }
}

async fn client_loop(
    workload: Workload,
    c: Client,
    tally: Arc<Tally>,
    ledger: Ledger,
    echo: HttpClient,
) {
    let Client {
        client,
        index,
        device: d,
        ready,
    } = c;
    let token = match ready {
        Ready::Token(t) => t,
        Ready::Nothing => String::new(),
        Ready::Replay(replay, records) => return replay_loop(replay, records, &tally).await,
    };
    let echo_path = echo_path(&d);
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
            // Replaying clients run replay_loop.
            Workload::EchoReplay | Workload::ListReplay => break,
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
