//! The real `cogsync` binary: acknowledged writes survive SIGKILL, SIGTERM shuts down cleanly,
//! and generated developer credentials are printed once and reused.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::common::*;

struct Proc {
    child: Child,
    endpoint: String,
    stdout: Vec<String>,
}

/// Starts `cogsync serve` on a free port; `creds` None leaves the credential variables unset.
fn spawn(data_dir: &Path, creds: Option<(&str, &str)>) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cogsync"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("COGSYNC_ACCESS_KEY_ID")
        .env_remove("COGSYNC_SECRET_ACCESS_KEY")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some((k, s)) = creds {
        cmd.env("COGSYNC_ACCESS_KEY_ID", k)
            .env("COGSYNC_SECRET_ACCESS_KEY", s);
    }
    let mut p = Proc {
        child: cmd.spawn().unwrap(),
        endpoint: String::new(),
        stdout: Vec::new(),
    };
    let mut reader = BufReader::new(p.child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "cogsync exited early: {:?}",
            p.stdout
        );
        let line = line.trim_end().to_string();
        if let Some(addr) = line.strip_prefix("cogsync listening on ") {
            p.endpoint = addr.to_string();
            p.stdout.push(line);
            return p;
        }
        p.stdout.push(line);
    }
}

impl Drop for Proc {
    /// A failing test must not leave a server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sigterm(p: &mut Proc) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(p.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    p.child.wait().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), Some((ACCESS_KEY, SECRET_KEY)));
    let ids = identity_client(&p.endpoint, ACCESS_KEY, SECRET_KEY);
    let pool = ids
        .create_identity_pool()
        .identity_pool_name("p")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let id = ids
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let c = sync_client(&p.endpoint, ACCESS_KEY, SECRET_KEY, None);
    for n in 0..20 {
        push(
            &c,
            &pool,
            &id,
            "durable",
            vec![replace(&format!("k{n}"), &format!("v{n}"), 0)],
        )
        .await
        .unwrap();
    }
    p.child.kill().unwrap(); // SIGKILL: no chance to flush anything
    p.child.wait().unwrap();

    let mut p = spawn(dir.path(), Some((ACCESS_KEY, SECRET_KEY)));
    let c = sync_client(&p.endpoint, ACCESS_KEY, SECRET_KEY, None);
    let (recs, out) = pull(&c, &pool, &id, "durable", 0).await;
    assert_eq!(recs.len(), 20);
    assert_eq!(out.dataset_sync_count(), Some(20));
    assert!(recs
        .iter()
        .all(|r| r.value() == Some(&format!("v{}", &r.key().unwrap()[1..])[..])));
    // Tokens signed before the crash still verify: the key lives in the store.
    push(
        &c,
        &pool,
        &id,
        "durable",
        vec![replace("after", "restart", 0)],
    )
    .await
    .unwrap();
    assert!(sigterm(&mut p).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_credentials_are_printed_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), None);
    let find = |lines: &[String], prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_owned))
    };
    let key = find(&p.stdout, "AWS_ACCESS_KEY_ID=").expect("the key is printed on first start");
    let secret =
        find(&p.stdout, "AWS_SECRET_ACCESS_KEY=").expect("the secret is printed on first start");
    let ids = identity_client(&p.endpoint, &key, &secret);
    ids.create_identity_pool()
        .identity_pool_name("p")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap();
    assert!(sigterm(&mut p).success(), "SIGTERM is a clean shutdown");

    let mut p = spawn(dir.path(), None);
    assert!(
        find(&p.stdout, "AWS_SECRET_ACCESS_KEY=").is_none(),
        "printed only once: {:?}",
        p.stdout
    );
    let ids = identity_client(&p.endpoint, &key, &secret);
    let pools = ids
        .list_identity_pools()
        .max_results(10)
        .send()
        .await
        .unwrap();
    assert_eq!(pools.identity_pools().len(), 1);
    assert!(sigterm(&mut p).success());
}
