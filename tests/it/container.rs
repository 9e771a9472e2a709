//! The container image: the repository's Dockerfile built as a person with only Docker builds
//! it (the repository as the context, the binary compiled in the Dockerfile's Rust build
//! stage), then run under Docker with a volume. A device flow through the official SDK, the
//! health status turning `healthy`, a restart that keeps the data, a process that is not
//! root, an image of at most 100 MB; then two containers sharing PostgreSQL, as
//! deploy/compose.yaml runs them, and the compose file validated.
//!
//! The build stage's default base, the official Rust image, cannot be pulled here: the tests
//! build a stand-in for it once and keep it ([`rust_standin`]). Without a Docker daemon that
//! has `debian:bookworm-slim` (`.ci/docker-base-image` makes one) the tests print SKIPPED.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::common::*;
use aws_sdk_cognitosync as cs;
use sha2::{Digest, Sha256};

const BASE: &str = "debian:bookworm-slim";

/// The most the image may weigh, in Docker's megabytes (10^6 bytes).
const MAX_IMAGE_BYTES: u64 = 100_000_000;

/// What the official `rust:<version>-slim-bookworm` image holds, made from the local base and
/// this machine's toolchain: Debian bookworm with its C compiler, libc headers and CA
/// certificates, the toolchain's `bin/` and `lib/` (a rustup toolchain is relocatable) on the
/// PATH, and `CARGO_HOME` in `/usr/local/cargo`. This machine's CA bundle is added to
/// Debian's, so that cargo in the build reaches crates.io as the machine does (through a
/// TLS-inspecting proxy, on CI).
const STANDIN_DOCKERFILE: &str = r#"FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY machine-ca-certificates.crt /tmp/
RUN cat /tmp/machine-ca-certificates.crt >> /etc/ssl/certs/ca-certificates.crt \
 && rm /tmp/machine-ca-certificates.crt
COPY bin /usr/local/rust/bin
COPY lib /usr/local/rust/lib
ENV CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
"#;

/// The stand-in's label recording what it was made from.
const STANDIN_LABEL: &str = "cogsync.test.standin";

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

/// The image, removed on drop: the image alone, not the layers under it, which are Docker's
/// build cache for the next run (a plain `docker rmi` deletes them too).
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", "--no-prune", &self.0]);
    }
}

/// The build stage's base for these tests, `cogsync-rust-standin:<rustc version>`
/// ([`STANDIN_DOCKERFILE`]): built when missing or made from something else (another
/// Dockerfile, toolchain or CA bundle), kept otherwise, so that Docker's cache of the build
/// stage, which starts from it, lasts from one run to the next.
fn rust_standin() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let ask = |args: &[&str]| {
        let out = Command::new(&rustc).args(args).output().unwrap();
        assert!(out.status.success(), "{rustc} {}: {out:?}", args.join(" "));
        String::from_utf8(out.stdout).unwrap()
    };
    let version = ask(&["-vV"]);
    let release = version
        .lines()
        .find_map(|l| l.strip_prefix("release: "))
        .unwrap()
        .trim()
        .to_owned();
    let sysroot = PathBuf::from(ask(&["--print", "sysroot"]).trim());
    assert!(
        sysroot.join("bin/cargo").is_file() && sysroot.join("lib/rustlib").is_dir(),
        "{} is not a toolchain directory with cargo in it, as rustup's are",
        sysroot.display()
    );
    let bundle = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/etc/ssl/certs/ca-certificates.crt")])
        .find_map(|file| std::fs::read(file).ok())
        .unwrap_or_default();
    let mut made_from = Sha256::new();
    made_from.update(STANDIN_DOCKERFILE);
    made_from.update(&version);
    made_from.update(&bundle);
    let made_from = hex::encode(&made_from.finalize()[..8]);

    let tag = format!("cogsync-rust-standin:{release}");
    let label = format!("{{{{index .Config.Labels \"{STANDIN_LABEL}\"}}}}");
    if docker(&["image", "inspect", "-f", &label, &tag]).is_ok_and(|l| l == made_from) {
        return tag;
    }
    let started = Instant::now();
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), STANDIN_DOCKERFILE).unwrap();
    std::fs::write(context.path().join("machine-ca-certificates.crt"), &bundle).unwrap();
    // The context as a tar stream: the two files above, then the toolchain from where it lies.
    let mut tar = Command::new("tar")
        .arg("-c")
        .arg("-C")
        .arg(context.path())
        .args(["Dockerfile", "machine-ca-certificates.crt"])
        .arg("-C")
        .arg(&sysroot)
        .args(["bin", "lib"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("tar");
    let build = Command::new("docker")
        .args(["build", "--network", "host", "--force-rm", "-q"])
        .args(["--label", &format!("{STANDIN_LABEL}={made_from}")])
        .args(["-t", &tag, "-"])
        .stdin(tar.stdout.take().unwrap())
        .output()
        .unwrap();
    let tarred = tar.wait().unwrap();
    assert!(
        tarred.success() && build.status.success(),
        "building {tag}: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    eprintln!("built {tag} in {:.0?}", started.elapsed());
    tag
}

/// Builds the repository's Dockerfile as `docker build .` does, over the stand-in for the
/// official Rust image. Host networking for the build's apt-get and cargo: no traffic to the
/// bridge's private addresses. `--force-rm`: a failed step leaves no container behind.
fn build_image() -> Image {
    let standin = rust_standin();
    let tag = unique("image");
    let started = Instant::now();
    docker(&[
        "build",
        "--network",
        "host",
        "--force-rm",
        "--build-arg",
        &format!("RUST_IMAGE={standin}"),
        "-q",
        "-t",
        &tag,
        env!("CARGO_MANIFEST_DIR"),
    ])
    .unwrap();
    eprintln!("built the image in {:.0?}", started.elapsed());
    Image(tag)
}

/// The image, built once for the tests that run at the same time and removed when the last of
/// them is done with it.
fn image() -> Arc<Image> {
    static IMAGE: Mutex<Weak<Image>> = Mutex::new(Weak::new());
    // A test that panicked while building leaves the next one to try again.
    let mut shared = IMAGE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(image) = shared.upgrade() {
        return image;
    }
    let image = Arc::new(build_image());
    *shared = Arc::downgrade(&image);
    image
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
    let image = image();
    let size: u64 = docker(&["image", "inspect", "-f", "{{.Size}}", &image.0])
        .unwrap()
        .parse()
        .unwrap();
    eprintln!("the image weighs {:.1} MB", size as f64 / 1e6);
    assert!(
        size <= MAX_IMAGE_BYTES,
        "the image weighs {size} bytes, more than 100 MB"
    );
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
    let image = image();
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
