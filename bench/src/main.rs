//! `cogsync-bench`: measures a cogsync server the way devices use it. Without `--endpoint` it
//! starts the `cogsync` binary next to itself on a fresh data directory (SQLite, or PostgreSQL
//! with `--database-url`). Every throughput is reported with its ratio to the `echo` baseline
//! measured in the same run; write workloads end with a ledger check that fails the run loudly.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use aws_credential_types::Credentials;
use clap::Parser;
use cogsync_bench::cpu::Process;
use cogsync_bench::{self as bench, report, Budget, Targets, Workload};

#[derive(Parser)]
#[command(
    name = "cogsync-bench",
    about = "Benchmark a cogsync server with device-like traffic"
)]
struct Args {
    /// A running server to measure (needs --access-key/--secret-key); default: start one.
    #[arg(long)]
    endpoint: Option<String>,
    #[arg(long, env = "COGSYNC_ACCESS_KEY_ID")]
    access_key: Option<String>,
    #[arg(long, env = "COGSYNC_SECRET_ACCESS_KEY")]
    secret_key: Option<String>,
    /// With --endpoint: the server's process id, to report its CPU time per request (the
    /// server must run on this machine); without it the CPU columns show "-".
    #[arg(long, requires = "endpoint")]
    server_pid: Option<u32>,
    /// For the started server: PostgreSQL instead of SQLite.
    #[arg(long)]
    database_url: Option<String>,
    /// The cogsync binary to start (default: `cogsync` next to this one, built by
    /// `cargo build -p cogsync` with the same profile).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Concurrent clients: one number, or a comma-separated sweep (1,16,64,256) that runs
    /// every workload at each level and reports a table per level [default: 64].
    #[arg(long, value_delimiter = ',', conflicts_with = "concurrency")]
    clients: Vec<usize>,
    /// Concurrent clients, one level (the same as --clients N).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Seconds per workload.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Comma-separated workloads (echo is always run first, as the baseline; echo-replay
    /// too, second, when a replaying workload is selected).
    #[arg(long, default_value = "list,list-replay,update,sync,conflict")]
    workloads: String,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Write an SVG chart here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Also report the CPU time per request of the processes with this name on this machine
    /// (the database's: `postgres`).
    #[arg(long)]
    database_processes: Option<String>,
    /// With --database-url: start this many servers on the database, the clients spread over
    /// them (CPU figures are their sum).
    #[arg(long, default_value_t = 1, requires = "database_url")]
    nodes: usize,
    /// Before starting the server (SQLite only), fill its store with this many identities,
    /// each with one dataset of 10 records; start-up time and peak memory are then reported.
    #[arg(long, default_value_t = 0)]
    preload: usize,
    /// Internal: be the echo baseline's process (started by the benchmark itself).
    #[arg(long = "serve-echo", hide = true)]
    serve_echo: bool,
}

struct Spawned {
    child: Child,
    _dir: PathBuf,
    /// When the process was started.
    started: std::time::Instant,
    /// Its admin listener's URL.
    admin: Option<String>,
}

impl Spawned {
    /// The server's peak resident memory (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

/// Starts one server; `kinesis` is where it sends stream records (the echo process).
fn spawn_server(
    args: &Args,
    creds: &Credentials,
    kinesis: &str,
) -> Result<(String, Spawned), String> {
    let bin = match &args.server_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("cogsync"),
    };
    let dir = std::env::temp_dir().join(format!("cogsync-bench-{}", uuid::Uuid::new_v4().simple()));
    if args.preload > 0 {
        if args.database_url.is_some() {
            return Err("--preload works with the SQLite store only".into());
        }
        eprintln!("preloading {} identities…", args.preload);
        let runtime = tokio::runtime::Handle::current();
        let (dir2, n) = (dir.clone(), args.preload);
        std::thread::spawn(move || runtime.block_on(bench::preload(&dir2, n)))
            .join()
            .map_err(|_| "preload panicked".to_string())??;
    }
    let started = std::time::Instant::now();
    let mut cmd = Command::new(&bin);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        // The benchmark's clients all come from one address and make unsigned calls (GetId):
        // the per-address limit is for the internet, not for this.
        "--address-rate-limit",
        "off",
        // update-hot puts a dataset per client on one identity.
        "--max-datasets-per-identity",
        "100000",
        "--data-dir",
    ])
    .arg(&dir)
    .env("COGSYNC_ACCESS_KEY_ID", creds.access_key_id())
    .env("COGSYNC_SECRET_ACCESS_KEY", creds.secret_access_key())
    .env("RUST_LOG", "error")
    // The `stream` workload's Kinesis is the echo process.
    .env("AWS_ENDPOINT_URL_KINESIS", kinesis)
    .env("AWS_ACCESS_KEY_ID", "AKBENCHKINESIS000000")
    .env("AWS_SECRET_ACCESS_KEY", "bench-kinesis-secret")
    .env("AWS_REGION", "us-east-1")
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    if let Some(url) = &args.database_url {
        cmd.args(["--database-url", url]);
    }
    let mut child = cmd.spawn().map_err(|e| {
        let hint = if args.server_bin.is_none() && !bin.exists() {
            " (build the server first, with the same profile: cargo build --release -p cogsync; or give --server-bin)"
        } else {
            ""
        };
        format!("cannot start {}: {e}{hint}", bin.display())
    })?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut spawned = Spawned {
        child,
        _dir: dir,
        started,
        admin: None,
    };
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if let Some(url) = line.strip_prefix("cogsync admin (health, metrics) on ") {
            spawned.admin = Some(url.trim().to_owned());
        }
        if let Some(url) = line.strip_prefix("cogsync listening on ") {
            return Ok((url.to_owned(), spawned));
        }
    }
    Err("the server exited before listening".into())
}

/// The workloads named, in order, after the baselines they need: echo always, and
/// echo-replay when a replaying workload is among them.
fn select_workloads(names: &str) -> Result<Vec<Workload>, String> {
    let mut selected = Vec::new();
    for name in names.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let w = Workload::parse(name).ok_or(format!("unknown workload {name}"))?;
        if !selected.contains(&w) {
            selected.push(w);
        }
    }
    let mut workloads = vec![Workload::Echo];
    if selected
        .iter()
        .any(|w| w.baseline() == Workload::EchoReplay)
    {
        workloads.push(Workload::EchoReplay);
    }
    workloads.extend(selected.into_iter().filter(|w| w.baseline() != *w));
    Ok(workloads)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.serve_echo {
        return match bench::echo::serve_until_killed().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cogsync-bench --serve-echo: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cogsync-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, String> {
    let workloads = select_workloads(&args.workloads)?;
    let levels = match (&args.clients[..], args.concurrency) {
        ([], one) => vec![one.unwrap_or(64)],
        (levels, _) => levels.to_vec(),
    };
    if levels.contains(&0) {
        return Err("the number of clients must be at least 1".into());
    }
    // The baseline in a process of its own (this binary again), like the server it is
    // compared with; killed when `echo` is dropped, on every way out of this function. It
    // also answers the servers' Kinesis calls (the `stream` workload).
    let echo =
        bench::echo::EchoProcess::spawn(&std::env::current_exe().map_err(|e| e.to_string())?)?;
    let (endpoints, creds, servers) = match &args.endpoint {
        Some(url) => {
            let key = args
                .access_key
                .clone()
                .ok_or("--endpoint needs --access-key")?;
            let secret = args
                .secret_key
                .clone()
                .ok_or("--endpoint needs --secret-key")?;
            (
                vec![url.clone()],
                Credentials::new(key, secret, None, None, "bench"),
                Vec::new(),
            )
        }
        None => {
            let creds = Credentials::new(
                "AKBENCH0000000000000",
                "bench-secret-key-0000000000000000000000",
                None,
                None,
                "bench",
            );
            let mut servers = Vec::new();
            let mut endpoints = Vec::new();
            for _ in 0..args.nodes.max(1) {
                let (url, spawned) = spawn_server(&args, &creds, echo.url())?;
                endpoints.push(url);
                servers.push(spawned);
            }
            (endpoints, creds, servers)
        }
    };
    let endpoint = endpoints[0].clone();
    if let Some(server) = servers.first() {
        // The first request answered (any answer) ends the start-up.
        let probe = bench::client::HttpClient::new(&endpoint);
        let target = [("x-amz-target", "AWSCognitoIdentityService.GetId")];
        let _ = probe
            .call(
                axum::http::Method::POST,
                "/",
                &target,
                br#"{"IdentityPoolId":"us-east-1:0"}"#.to_vec(),
                None,
            )
            .await;
        eprintln!(
            "server start-up to its first answered request: {} ms",
            server.started.elapsed().as_millis()
        );
    }
    // Enough devices for the largest level, provisioned once; every level and workload
    // writes datasets of its own. With several nodes the devices take turns.
    let most = levels.iter().copied().max().unwrap_or(1);
    let mut devices = bench::provision(&endpoint, &creds, most).await?;
    for (i, d) in devices.iter_mut().enumerate() {
        d.http = bench::client::HttpClient::new(&endpoints[i % endpoints.len()]);
    }
    let targets = Targets {
        echo_url: echo.url().to_owned(),
        echo_process: Some(Process::new(echo.pid())),
        server_processes: match servers.is_empty() {
            false => servers.iter().map(|s| Process::new(s.child.id())).collect(),
            true => args.server_pid.map(Process::new).into_iter().collect(),
        },
        admin_urls: servers.iter().filter_map(|s| s.admin.clone()).collect(),
        database_processes: args.database_processes.clone(),
    };
    let budget = Budget {
        duration: Duration::from_secs(args.duration),
        max_requests: None,
    };
    let mut results = Vec::new();
    for &clients in &levels {
        for &w in &workloads {
            eprintln!(
                "running {} for {}s with {clients} clients…",
                w.name(),
                args.duration
            );
            results.push(bench::run(w, &devices, clients, budget, &targets).await);
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report::json(&results)).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", report::text(&results));
    }
    if let Some(path) = &args.svg {
        let levels: Vec<String> = levels.iter().map(usize::to_string).collect();
        let title = format!(
            "cogsync-bench: {} clients, {}s per workload, {}",
            levels.join("/"),
            args.duration,
            if args.database_url.is_some() {
                "PostgreSQL"
            } else {
                "SQLite"
            }
        );
        std::fs::write(path, report::svg(&results, &title)).map_err(|e| e.to_string())?;
    }
    for (i, server) in servers.iter().enumerate() {
        if let Some(rss) = server.peak_rss_mib() {
            eprintln!("server {i} peak resident memory (VmHWM): {rss:.1} MiB");
        }
    }
    let failed = results
        .iter()
        .any(|r| matches!(r.ledger, Some(Err(_))) || r.errors > 0);
    if failed {
        eprintln!("cogsync-bench: FAILED: errors or a ledger mismatch (see above)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
