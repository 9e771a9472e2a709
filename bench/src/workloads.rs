//! The workloads, each client a task looping until the budget is spent, the CPU time the
//! answering process spent meanwhile, and the ledger check that follows every write workload.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::HttpClient;
use super::clients::{check_ledger, client_loop, get_ready, prepare_list, Client, Ledger, Tally};
use super::cpu::Process;
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
    /// GetId without logins: a new unauthenticated identity per request, all in one pool.
    GetId,
    /// GetOpenIdTokenForDeveloperIdentity for a new developer user per request, one pool:
    /// every request creates an identity and links a login under the pool's lock.
    DevLogin,
    /// UpdateRecords with every client on ONE identity (each on its own dataset): the
    /// identity's lock serialises them all.
    UpdateHot,
    /// `update` with the pool streaming to Kinesis (the echo process answering PutRecord):
    /// every write is an outbox event; after the run, the time until the outbox is empty
    /// gives the events dispatched per second.
    Stream,
}

impl Workload {
    pub const ALL: [Workload; 11] = [
        Workload::Echo,
        Workload::EchoReplay,
        Workload::List,
        Workload::ListReplay,
        Workload::Update,
        Workload::Sync,
        Workload::Conflict,
        Workload::GetId,
        Workload::DevLogin,
        Workload::UpdateHot,
        Workload::Stream,
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
            Workload::GetId => "get-id",
            Workload::DevLogin => "dev-login",
            Workload::UpdateHot => "update-hot",
            Workload::Stream => "stream",
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
        matches!(
            self,
            Workload::Update
                | Workload::Sync
                | Workload::Conflict
                | Workload::UpdateHot
                | Workload::Stream
        )
    }

    /// Devices a run with `concurrency` clients needs.
    pub fn devices_needed(self, concurrency: usize) -> usize {
        match self {
            Workload::Conflict => concurrency.div_ceil(2),
            Workload::GetId | Workload::DevLogin | Workload::UpdateHot => 1,
            Workload::Stream => concurrency,
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
    /// The server's processes, one per node (none: their CPU is not measured).
    pub server_processes: Vec<Process>,
    /// The nodes' admin listeners, for the outbox backlog (the `stream` workload).
    pub admin_urls: Vec<String>,
    /// The name of the database's processes on this machine, whose CPU is read too.
    pub database_processes: Option<String>,
}

impl Targets {
    /// CPU time used so far by the process(es) answering `workload`, summed over nodes.
    fn cpu_time(&self, workload: Workload) -> Option<Duration> {
        if workload.answered_by_echo() {
            return self.echo_process.and_then(|p| p.cpu_time());
        }
        if self.server_processes.is_empty() {
            return None;
        }
        self.server_processes
            .iter()
            .map(|p| p.cpu_time())
            .sum::<Option<Duration>>()
    }
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
    /// `stream`: from the first request until the outbox was empty again.
    pub drained: Option<Duration>,
    /// CPU time the database's processes used meanwhile, when read.
    pub database_cpu: Option<Duration>,
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

    /// The database's CPU time per completed request, in microseconds.
    pub fn database_cpu_us_per_request(&self) -> Option<f64> {
        let cpu = self.database_cpu?;
        (self.requests > 0).then(|| cpu.as_secs_f64() * 1e6 / self.requests as f64)
    }

    /// `stream`: outbox events (one per write) delivered per second, from the first write to
    /// the outbox empty again.
    pub fn events_per_second(&self) -> Option<f64> {
        let drained = self.drained?;
        Some(self.requests as f64 / drained.as_secs_f64().max(1e-9))
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
    let devices: Vec<Device> = match (workload, devices.first()) {
        // One identity for all, a dataset each.
        (Workload::UpdateHot, Some(first)) => (0..concurrency)
            .map(|c| Device {
                dataset: format!("hot-{c}-c{concurrency}"),
                ..first.clone()
            })
            .collect(),
        _ => devices
            .iter()
            .take(workload.devices_needed(concurrency))
            .map(|d| Device {
                dataset: format!("{}-{}-c{concurrency}", d.dataset, workload.name()),
                ..d.clone()
            })
            .collect(),
    };
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
            Workload::GetId | Workload::DevLogin => 0,
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
    if workload == Workload::Stream {
        if let Some(d) = devices.first() {
            if let Err(e) = super::stream::set_streaming(d, true).await {
                first_error.get_or_insert(e);
            }
        }
    }
    let cpu_before = targets.cpu_time(workload);
    let db_name = targets
        .database_processes
        .as_deref()
        .filter(|_| !workload.answered_by_echo());
    let db_before = db_name.and_then(super::cpu::cpu_time_of_all);
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
    let drained = match (workload, devices.first()) {
        (Workload::Stream, Some(d)) => {
            let drained = super::stream::wait_until_drained(&targets.admin_urls).await;
            let _ = super::stream::set_streaming(d, false).await;
            match drained {
                Ok(()) => Some(tally.started.elapsed()),
                Err(e) => {
                    tally.error(e);
                    None
                }
            }
        }
        _ => None,
    };
    let cpu_after = targets.cpu_time(workload);
    let db_after = db_name.and_then(super::cpu::cpu_time_of_all);
    let database_cpu = db_before
        .zip(db_after)
        .and_then(|(before, after)| after.checked_sub(before));
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
        drained,
        database_cpu,
        first_error: tally.first_error.lock().ok().and_then(|e| e.clone()),
    }
}
