//! One process writes an embedded store at a time: a second `cogsync serve` or an `import`
//! on a data directory a server holds is refused at once, told the holder's PID; `export`
//! reads it while the server runs; once the server is gone (even killed), the directory is
//! free again.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::process;

/// Runs `cogsync ARGS` to completion, or kills it after 20 s (a second server that starts
/// would run forever).
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cogsync"))
        .args(args)
        .env_remove("COGSYNC_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_a_held_data_directory_is_refused_and_export_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let mut first = process::spawn(dir.path(), Some((ACCESS_KEY, SECRET_KEY)), &[]);
    let (pool, id) = pool_and_identity_at(&first.endpoint).await;
    let pid = first.child.id().to_string();

    let second = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "off",
        "--data-dir",
        &data,
    ]);
    assert!(
        !second.status.success(),
        "a second server started on the same directory"
    );
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(said.contains("in use by another cogsync"), "{said}");
    assert!(said.contains(&format!("process {pid}")), "{said}");

    let file = dir.path().join("in.jsonl");
    std::fs::write(&file, "").unwrap();
    let import = run(&[
        "import",
        "--input",
        file.to_str().unwrap(),
        "--data-dir",
        &data,
    ]);
    assert!(!import.status.success());
    assert!(String::from_utf8_lossy(&import.stderr).contains(&format!("process {pid}")));

    // Export reads while the server runs.
    let out = dir.path().join("backup.jsonl");
    let export = run(&[
        "export",
        "--data-dir",
        &data,
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    assert!(std::fs::read_to_string(&out).unwrap().contains(&id));

    // The first server never noticed.
    let device = sync_client(&first.endpoint, ACCESS_KEY, SECRET_KEY, None);
    try_list(&device, &pool, &id).await.unwrap();

    // Killed, it lets go of the directory: a new server starts on it.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let again = process::spawn(dir.path(), Some((ACCESS_KEY, SECRET_KEY)), &[]);
    let device = sync_client(&again.endpoint, ACCESS_KEY, SECRET_KEY, None);
    try_list(&device, &pool, &id).await.unwrap();
}

/// A server stopped in-process has let go of its data directory when its shutdown returns:
/// the next server (a restart, an import) opens it at once, with an admin listener running
/// too (its sampler holds the store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_frees_its_data_directory_when_shutdown_returns() {
    let mut dir = tempfile::tempdir().unwrap();
    for round in 0..10 {
        let server = TestServer::start_in(dir, None, |c| {
            c.admin_listen = Some("127.0.0.1:0".parse().unwrap())
        })
        .await;
        server.new_pool(true).await;
        let (held, _) = server.stop().await;
        let reopened = cogsync::store::sqlite::SqliteStore::open(held.path());
        assert!(reopened.is_ok(), "round {round}: {:?}", reopened.err());
        drop(reopened);
        dir = held;
    }
}
