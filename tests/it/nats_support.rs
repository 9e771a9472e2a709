//! Test support for NATS JetStream: a private `nats-server -js` of the test's own on a free
//! loopback port, with its store in a temporary directory, that can be stopped and started
//! again on the same port and store (the Debian package installs the binary as
//! `/usr/sbin/nats-server`; `COGSYNC_TEST_NATS_SERVER` names another); the shared server
//! `COGSYNC_TEST_NATS_URL` names, when set; and JetStream streams made and read back with
//! the official client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::context::GetStreamByNameErrorKind;
use async_nats::jetstream::{self, stream};
use serde_json::Value;

/// A record as JetStream stored it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub msg_id: String,
    pub partition_key: String,
    pub body: Value,
}

/// The `nats-server` binary, or None after telling the terminal that `test` is skipped.
pub fn binary(test: &str) -> Option<PathBuf> {
    let named = std::env::var_os("COGSYNC_TEST_NATS_SERVER").map(PathBuf::from);
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("nats-server"))
            .find(|p| p.is_file())
    });
    let found = named
        .or(on_path)
        .or_else(|| Some(PathBuf::from("/usr/sbin/nats-server")).filter(|p| p.is_file()));
    if found.is_none() {
        eprintln!(
            "SKIPPED {test}: needs nats-server (Debian's nats-server package); set COGSYNC_TEST_NATS_SERVER to its path"
        );
    }
    found
}

/// A nats-server of the test's own, killed when dropped.
pub struct NatsServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
    pub url: String,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl NatsServer {
    /// A fresh server with JetStream on a free port; None (after the skip message) without
    /// the binary.
    pub async fn start(test: &str) -> Option<NatsServer> {
        let bin = binary(test)?;
        let dir = tempfile::tempdir().unwrap();
        let mut server = NatsServer {
            bin,
            dir,
            child: None,
            port: 0,
            url: String::new(),
        };
        server.spawn("-1");
        let ports = server
            .dir
            .path()
            .join(format!("nats-server_{}.ports", server.pid()));
        let text = wait_for_file(&ports, Duration::from_secs(20)).await;
        let v: Value = serde_json::from_str(&text).unwrap();
        server.url = v["nats"][0].as_str().unwrap().to_owned();
        server.port = server.url.rsplit(':').next().unwrap().parse().unwrap();
        server.ready().await;
        Some(server)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    fn spawn(&mut self, port: &str) {
        let d = self.dir.path();
        let child = Command::new(&self.bin)
            .args(["-js", "-a", "127.0.0.1", "-p", port, "-sd"])
            .arg(d.join("store"))
            .arg("--ports_file_dir")
            .arg(d)
            .arg("-l")
            .arg(d.join("log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// Waits until JetStream answers on the server.
    async fn ready(&self) {
        let start = Instant::now();
        loop {
            let connected = tokio::time::timeout(
                Duration::from_secs(2),
                async_nats::connect(self.url.as_str()),
            )
            .await;
            if let Ok(Ok(c)) = connected {
                // JetStream answers its API: a stream for the subject, or none.
                match jetstream::new(c).stream_by_subject("ready.probe").await {
                    Ok(_) => return,
                    Err(e) if e.kind() == GetStreamByNameErrorKind::NotFound => return,
                    Err(_) => {}
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "nats-server did not come up: {}",
                std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server the way an operator does (SIGTERM), and waits for it to exit.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
    }

    /// Starts it again on the same port, over the same store.
    pub async fn restart(&mut self) {
        self.spawn(&self.port.to_string());
        self.ready().await;
    }
}

async fn wait_for_file(path: &Path, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.contains("nats://") {
                return text;
            }
        }
        assert!(start.elapsed() < limit, "no {}", path.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The shared server's URL (`COGSYNC_TEST_NATS_URL`), else a private server; None (after the
/// skip message) when there is neither.
pub async fn nats_for(test: &str) -> Option<(String, Option<NatsServer>)> {
    match std::env::var("COGSYNC_TEST_NATS_URL") {
        Ok(url) if !url.is_empty() => Some((url, None)),
        _ => {
            let server = NatsServer::start(test).await?;
            Some((server.url.clone(), Some(server)))
        }
    }
}

async fn context(url: &str) -> jetstream::Context {
    jetstream::new(async_nats::connect(url).await.unwrap())
}

/// Creates a file-stored JetStream stream `name` taking `subject`.
pub async fn create_stream(url: &str, name: &str, subject: &str) {
    context(url)
        .await
        .create_stream(stream::Config {
            name: name.to_owned(),
            subjects: vec![subject.to_owned()],
            ..Default::default()
        })
        .await
        .unwrap();
}

pub async fn delete_stream(url: &str, name: &str) {
    let _ = context(url).await.delete_stream(name).await;
}

/// Every message of stream `name` once it holds at least `n`, in order.
pub async fn read_at_least(url: &str, name: &str, n: u64, limit: Duration) -> Vec<Stored> {
    let js = context(url).await;
    let stream = js.get_stream(name).await.unwrap();
    let start = Instant::now();
    let last = loop {
        let info = stream.get_info().await.unwrap();
        if info.state.messages >= n {
            break info.state.last_sequence;
        }
        assert!(
            start.elapsed() < limit,
            "{name} holds {} messages, not {n}",
            info.state.messages
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut out = Vec::new();
    for seq in 1..=last {
        let m = stream.get_raw_message(seq).await.unwrap();
        let header = |k: &str| {
            m.headers
                .get(k)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        };
        out.push(Stored {
            msg_id: header("Nats-Msg-Id"),
            partition_key: header("Cogsync-Partition-Key"),
            body: serde_json::from_slice(&m.payload).unwrap(),
        });
    }
    out
}
