//! The container image: built from the repository's Dockerfile (with this build's binary as
//! `target/release/cogsync`) and run under Docker with a volume. A device flow through the
//! official SDK, the health status turning `healthy`, a restart that keeps the data, a
//! process that is not root; then two containers sharing PostgreSQL, as deploy/compose.yaml
//! runs them, and the compose file validated. Without a Docker daemon that has
//! `debian:bookworm-slim` (`.ci/docker-base-image` makes one) the tests print SKIPPED.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use aws_sdk_cognitosync as cs;

const BASE: &str = "debian:bookworm-slim";

/// `docker args…`: its stdout when it succeeds, else its stderr.
fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether Docker can build the image here; says why not otherwise.
fn docker_ready(test: &str) -> bool {
    let why = match docker(&["image", "inspect", BASE]) {
        Ok(_) => return true,
        Err(e) if e.contains("No such image") => {
            format!("the daemon has no {BASE} (.ci/docker-base-image makes it)")
        }
        Err(_) => "a Docker daemon (apt-get install docker.io; dockerd)".to_owned(),
    };
    eprintln!("SKIPPED {test}: needs {why}");
    false
}

fn unique(what: &str) -> String {
    format!(
        "cogsync-test-{what}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// The image, removed on drop.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.0]);
    }
}

/// Builds the repository's Dockerfile over a context holding only what it copies: this
/// test build's binary in the place of the release one.
fn build_image() -> Image {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let context = tempfile::tempdir().unwrap();
    let release = context.path().join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_cogsync"), release.join("cogsync")).unwrap();
    for file in ["Dockerfile", ".dockerignore"] {
        std::fs::copy(root.join(file), context.path().join(file)).unwrap();
    }
    let tag = unique("image");
    // Host networking for the build's apt-get: no traffic to the bridge's private addresses.
    docker(&[
        "build",
        "--network",
        "host",
        "-q",
        "-t",
        &tag,
        context.path().to_str().unwrap(),
    ])
    .unwrap();
    Image(tag)
}

/// A container, removed (with its anonymous volumes) on drop.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.0]);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `image` on the host's network with the device and admin listeners on free
/// loopback ports; `env` and `volume` as given. Returns it with its endpoint.
fn run(image: &Image, volume: Option<&str>, env: &[String]) -> (Container, String, u16) {
    let (device, admin) = (free_port(), free_port());
    let name = unique("node");
    let mut args: Vec<String> = ["run", "-d", "--network", "host", "--name", &name]
        .map(String::from)
        .to_vec();
    for e in [
        format!("COGSYNC_LISTEN=127.0.0.1:{device}"),
        format!("COGSYNC_ADMIN_LISTEN=127.0.0.1:{admin}"),
        format!("COGSYNC_ACCESS_KEY_ID={ACCESS_KEY}"),
        format!("COGSYNC_SECRET_ACCESS_KEY={SECRET_KEY}"),
    ]
    .iter()
    .chain(env)
    {
        args.extend(["-e".to_owned(), e.clone()]);
    }
    if let Some(v) = volume {
        args.extend(["-v".to_owned(), format!("{v}:/data")]);
    }
    args.push(image.0.clone());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(&argv).unwrap();
    (Container(name), format!("http://127.0.0.1:{device}"), admin)
}

/// Waits until Docker's HEALTHCHECK (`cogsync healthcheck`) calls the container healthy.
async fn healthy(c: &Container) {
    let mut last = String::new();
    for _ in 0..240 {
        last = docker(&["inspect", "-f", "{{.State.Health.Status}}", &c.0]).unwrap_or_default();
        if last == "healthy" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let logs = docker(&["logs", &c.0]).unwrap_or_default();
    panic!(
        "container {} is {last}, not healthy, after 2 minutes\n{logs}",
        c.0
    );
}

async fn value_of(c: &cs::Client, pool: &str, id: &str, key: &str) -> Option<String> {
    let (records, _) = pull(c, pool, id, "profile", 0).await;
    records
        .into_iter()
        .find(|r| r.key() == Some(key))
        .and_then(|r| r.value().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_serves_devices_as_a_non_root_user_and_keeps_data_across_restarts() {
    if !docker_ready("container image test") {
        return;
    }
    let image = build_image();
    let volume = unique("data");
    let (node, endpoint, _) = run(&image, Some(&volume), &[]);
    healthy(&node).await;

    let (pool, id) = pool_and_identity_at(&endpoint).await;
    let sync = sync_client(&endpoint, ACCESS_KEY, SECRET_KEY, None);
    push(
        &sync,
        &pool,
        &id,
        "profile",
        vec![replace("name", "Ada", 0)],
    )
    .await
    .unwrap();

    // The server is PID 1, and not root; the data directory is its own.
    let status = docker(&["exec", &node.0, "cat", "/proc/1/status"]).unwrap();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(uid, "0", "{status}");
    let owner = docker(&["exec", &node.0, "stat", "-c", "%u %a", "/data"]).unwrap();
    assert_eq!(owner, format!("{uid} 700"));

    // The CA bundle the server's TLS clients (Kinesis, SNS, Lambda, PostgreSQL) verify with.
    let bundle = docker(&["exec", &node.0, "cat", "/etc/ssl/certs/ca-certificates.crt"]).unwrap();
    assert!(
        bundle.matches("BEGIN CERTIFICATE").count() > 100,
        "no CA bundle in the image"
    );

    // A restart (SIGTERM, then a new process on the same volume) keeps what was acknowledged.
    docker(&["restart", &node.0]).unwrap();
    healthy(&node).await;
    assert_eq!(
        value_of(&sync, &pool, &id, "name").await.as_deref(),
        Some("Ada")
    );
    // So does a new container on the volume.
    drop(node);
    let (again, endpoint, _) = run(&image, Some(&volume), &[]);
    healthy(&again).await;
    let sync = sync_client(&endpoint, ACCESS_KEY, SECRET_KEY, None);
    assert_eq!(
        value_of(&sync, &pool, &id, "name").await.as_deref(),
        Some("Ada")
    );
    drop(again);
    let _ = docker(&["volume", "rm", &volume]);
}

/// The cogsync part of deploy/compose.yaml: two nodes of the image on one PostgreSQL (the
/// machine's), each ready, one's write read through the other; and the file itself valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_containers_share_postgresql_as_the_compose_file_runs_them() {
    if !docker_ready("container PostgreSQL test") {
        return;
    }
    let Some(db) = cogsync::testing::TestDatabase::create("two_containers_share_postgresql").await
    else {
        return;
    };
    validate_compose_file(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/compose.yaml"));
    let image = build_image();
    let env = [
        format!("COGSYNC_DATABASE_URL={}", db.url),
        "COGSYNC_DB_POOL_SIZE=4".to_owned(),
    ];
    let (one, first, admin_one) = run(&image, None, &env);
    let (two, second, admin_two) = run(&image, None, &env);
    healthy(&one).await;
    healthy(&two).await;
    for admin in [admin_one, admin_two] {
        let ready = reqwest::get(format!("http://127.0.0.1:{admin}/readyz"))
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
    }
    let (pool, id) = pool_and_identity_at(&first).await;
    push(
        &sync_client(&first, ACCESS_KEY, SECRET_KEY, None),
        &pool,
        &id,
        "profile",
        vec![replace("name", "Grace", 0)],
    )
    .await
    .unwrap();
    let other = sync_client(&second, ACCESS_KEY, SECRET_KEY, None);
    assert_eq!(
        value_of(&other, &pool, &id, "name").await.as_deref(),
        Some("Grace")
    );
    drop((one, two));
}

/// `docker compose config` (or docker-compose's) on the file; says so when neither exists.
fn validate_compose_file(file: &Path) {
    let file = file.to_str().unwrap();
    let plugin = Command::new("docker")
        .args(["compose", "-f", file, "config", "-q"])
        .output();
    let standalone = Command::new("docker-compose")
        .args(["-f", file, "config", "-q"])
        .output();
    match (plugin, standalone) {
        (Ok(out), _) if out.status.success() => {}
        (_, Ok(out)) if out.status.success() => {}
        (_, Ok(out)) => panic!(
            "deploy/compose.yaml is not valid: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        (_, Err(_)) => eprintln!(
            "SKIPPED the compose file's validation: needs docker compose or docker-compose"
        ),
    }
}
