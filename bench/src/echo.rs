//! The `echo` baseline: a bare HTTP server answering every request with a fixed small JSON.
//! It runs in a process of its own (`EchoProcess`: the benchmark binary started again with
//! `--serve-echo`), so the CPU it spends per request is measured the way the server's is; the
//! test suite's smoke run uses the in-process `start_echo` instead.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// What echo answers to every request. It also serves as the `stream` workload's Kinesis,
/// whose PutRecord answer needs a shard and a sequence number.
pub const BODY: &str = r#"{"Records":[],"Count":0,"DatasetSyncCount":0,"ShardId":"shardId-000000000000","SequenceNumber":"1"}"#;

/// The hidden command-line flag (main.rs) that makes the benchmark binary an echo server.
pub const SERVE_FLAG: &str = "--serve-echo";

async fn bind() -> Result<(tokio::net::TcpListener, String), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    Ok((listener, url))
}

async fn serve(listener: tokio::net::TcpListener) -> Result<(), String> {
    async fn fixed() -> ([(&'static str, &'static str); 1], &'static str) {
        ([("content-type", "application/json")], BODY)
    }
    let app = axum::Router::new().fallback(fixed);
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}

/// An echo server on a task of this process; returns its URL.
pub async fn start_echo() -> Result<(String, tokio::task::JoinHandle<()>), String> {
    let (listener, url) = bind().await?;
    let task = tokio::spawn(async move {
        let _ = serve(listener).await;
    });
    Ok((url, task))
}

/// The body of `--serve-echo`: prints the URL on stdout, then serves until killed, or until
/// stdin closes (the benchmark that started it is gone, even if it could not kill it).
pub async fn serve_until_killed() -> Result<(), String> {
    let (listener, url) = bind().await?;
    println!("{url}");
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        std::process::exit(0);
    });
    serve(listener).await
}

/// An echo server in a child process, killed when this is dropped (also on error paths).
pub struct EchoProcess {
    child: Child,
    url: String,
}

impl EchoProcess {
    /// Starts `program --serve-echo` (the benchmark binary itself) and waits for its URL.
    pub fn spawn(program: &Path) -> Result<EchoProcess, String> {
        let mut child = Command::new(program)
            .arg(SERVE_FLAG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the echo process {}: {e}", program.display()))?;
        let stdout = child.stdout.take();
        // From here on, dropping `echo` kills the child.
        let mut echo = EchoProcess {
            child,
            url: String::new(),
        };
        let mut line = String::new();
        BufReader::new(stdout.ok_or("the echo process has no stdout")?)
            .read_line(&mut line)
            .map_err(|e| format!("reading the echo process's URL: {e}"))?;
        let url = line.trim();
        if !url.starts_with("http://") {
            return Err(format!("the echo process did not start (it said {url:?})"));
        }
        echo.url = url.to_owned();
        Ok(echo)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for EchoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
