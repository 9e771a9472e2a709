//! Signals sent to the real binary: SIGTERM at any moment of start-up ends it cleanly (exit
//! 0, never death by the signal), and SIGHUP never kills it.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::process::{sigterm, spawn};

fn send(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Waits for the exit, killing the process if it does not come within a generous bound.
fn exit_of(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cogsync did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn serve_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cogsync"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(data_dir)
    .env_remove("COGSYNC_ACCESS_KEY_ID")
    .env_remove("COGSYNC_SECRET_ACCESS_KEY")
    .env_remove("COGSYNC_DATABASE_URL")
    .env("RUST_LOG", "warn")
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    cmd
}

/// Whether the process has a handler for SIGTERM (bit 15 of SigCgt in /proc/PID/status).
#[cfg(target_os = "linux")]
fn handles_sigterm(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (15 - 1)) != 0)
}

#[test]
fn sigterm_while_the_store_is_still_opening_exits_cleanly() {
    // A "database" that accepts the connection and never answers holds the server in its
    // start-up for as long as the test likes: once it has connected, start-up has begun.
    let stalled = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "postgres://cogsync@{}/never?connect_timeout=600",
        stalled.local_addr().unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve_command(&dir.path().join("data"))
        .args(["--database-url", &url])
        .spawn()
        .unwrap();
    let (_held, _) = stalled.accept().unwrap();
    send(&child, "TERM");
    let status = exit_of(&mut child);
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn sigterm_at_random_moments_of_start_up_always_exits_cleanly() {
    // The handler is the binary's first act; from then on any moment must do. Before it no
    // program can act (the kernel applies the default), so each round waits for it and then
    // picks a moment spread over the rest of start-up and the first moments of serving.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut during_start_up = 0;
    for round in 0..16 {
        let dir = tempfile::tempdir().unwrap();
        let mut child = serve_command(&dir.path().join("data")).spawn().unwrap();
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !handles_sigterm(pid) {
            assert!(
                Instant::now() < deadline,
                "no SIGTERM handler was installed"
            );
            std::thread::yield_now();
        }
        let delay = Duration::from_micros(next() % 60_000);
        std::thread::sleep(delay);
        send(&child, "TERM");
        let status = exit_of(&mut child);
        let mut out = String::new();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        while reader.read_line(&mut out).unwrap_or(0) > 0 {}
        if !out.contains("cogsync listening on") {
            during_start_up += 1;
        }
        assert_eq!(
            status.code(),
            Some(0),
            "round {round} (seed {seed}): SIGTERM {delay:?} after the handler: {status:?}"
        );
    }
    println!("{during_start_up} of 16 SIGTERMs landed before the server was listening");
}

#[test]
fn sighup_does_not_stop_a_plain_http_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(&dir.path().join("data"), None, &[]);
    send(&p.child, "HUP");
    // Still serving: an unsigned request gets an AWS answer, not a refused connection.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(crate::common::raw(
        &p.endpoint,
        axum::http::Method::GET,
        "/identitypools",
        &[],
        b"",
        None,
    ));
    assert_eq!(r.status.as_u16(), 403, "{}", r.body);
    assert_eq!(sigterm(&mut p).code(), Some(0));
}
