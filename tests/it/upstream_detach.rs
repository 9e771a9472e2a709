//! The live cut-over: `cogsync upstream detach` while devices of both kinds keep writing.
//! No request through cogsync fails, the local pool holds what the upstream held, and from
//! then on the pool is local: a write is not forwarded, a restart keeps it so, and a second
//! detach does nothing.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_cognitosync as cs;

use crate::common::*;
use crate::process;
use crate::upstream::*;

/// `cogsync upstream detach --pool P` with `store` args, as the operator runs it.
fn detach_command(
    pool: &str,
    store: &[&str],
    admin: &str,
    extra_env: &[(String, String)],
) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cogsync"));
    cmd.args([
        "upstream",
        "detach",
        "--pool",
        pool,
        "--admin-listen",
        admin,
    ])
    .args(store)
    .env("COGSYNC_ACCESS_KEY_ID", ACCESS_KEY)
    .env("COGSYNC_SECRET_ACCESS_KEY", SECRET_KEY)
    .env_remove("COGSYNC_CONFIG");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A device writing `key-<n>` to its own dataset until told to stop; how many writes
/// succeeded, and every failure.
struct Writer {
    ok: Arc<AtomicUsize>,
    failures: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

fn write_until(
    c: cs::Client,
    pool: String,
    id: String,
    dataset: &'static str,
    stop: Arc<AtomicBool>,
) -> Writer {
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (ok2, failures2) = (ok.clone(), failures.clone());
    let task = tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) {
            match push(
                &c,
                &pool,
                &id,
                dataset,
                vec![replace(&format!("key-{n}"), "v", 0)],
            )
            .await
            {
                Ok(_) => {
                    ok2.fetch_add(1, Ordering::SeqCst);
                    n += 1;
                }
                Err(e) => failures2.lock().unwrap().push(format!("{e:?}")),
            }
        }
    });
    Writer { ok, failures, task }
}

/// A dataset's records as `c` lists them: (key, value, SyncCount), by key.
async fn records(
    c: &cs::Client,
    pool: &str,
    id: &str,
    ds: &str,
) -> Vec<(String, Option<String>, i64)> {
    let (rs, _) = pull(c, pool, id, ds, 0).await;
    let mut out: Vec<_> = rs
        .iter()
        .map(|r| {
            (
                r.key().unwrap_or_default().to_owned(),
                r.value().map(str::to_owned),
                r.sync_count().unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_detached_under_load_loses_nothing_and_is_local_from_then_on() {
    let mut r = rig(None).await;
    let pool = r.pool.clone();
    let admin = r.front.admin().unwrap();
    let admin_addr = admin.trim_start_matches("http://").to_owned();
    // New app versions through cogsync, an old one on the upstream.
    let stop = Arc::new(AtomicBool::new(false));
    let mut new_devices = Vec::new();
    let mut writers = Vec::new();
    for user in ["ann", "bob", "cat"] {
        let (id, token) = dev_login(&front_admin(&r.front), &pool, user).await;
        let c = device(&r.front.endpoint, &id, &token).await;
        writers.push(write_until(
            c.clone(),
            pool.clone(),
            id.clone(),
            "notes",
            stop.clone(),
        ));
        new_devices.push((id, c));
    }
    let (old_id, old_token) = dev_login(&up_admin(&r.upstream), &pool, "dan").await;
    let old = device(&r.upstream.endpoint, &old_id, &old_token).await;
    let old_writer = write_until(
        old.clone(),
        pool.clone(),
        old_id.clone(),
        "old-notes",
        stop.clone(),
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // What the old version had written before the cut-over began (its records never change).
    let old_before = records(&old, &pool, &old_id, "old-notes").await;
    assert!(!old_before.is_empty());

    // The operator sees how much of the pool's traffic comes through cogsync already.
    let scrape = reqwest::get(format!("{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let writes = format!("cogsync_upstream_traffic{{pool=\"{pool}\",kind=\"write\"}} ");
    let forwarded: i64 = scrape
        .lines()
        .find_map(|l| l.strip_prefix(&writes))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no forwarded writes in the scrape:\n{scrape}"));
    assert!(forwarded > 0);
    let data = r.front_dir_path();
    let store = ["--data-dir", data.as_str()];
    let data = data.clone();
    let out = tokio::task::spawn_blocking({
        let (pool, admin_addr) = (pool.clone(), admin_addr.clone());
        move || detach_command(&pool, &["--data-dir", &data], &admin_addr, &[])
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("is local from now on"), "{said}");
    stop.store(true, Ordering::SeqCst);
    old_writer.task.await.unwrap();
    for w in &mut writers {
        (&mut w.task).await.unwrap();
    }
    // No request through cogsync failed, across the cut-over.
    for w in &writers {
        assert!(w.ok.load(Ordering::SeqCst) > 0);
        let failures = w.failures.lock().unwrap();
        assert!(
            failures.is_empty(),
            "a request through cogsync failed: {failures:?}"
        );
    }

    // What the upstream held of the new devices' data, the local pool holds too (it may
    // have moved on since, never back).
    let upstream = r.upstream.endpoint.clone();
    for (user, (id, local)) in ["ann", "bob", "cat"].iter().zip(&new_devices) {
        let (_, token) = dev_login(&up_admin(&r.upstream), &pool, user).await;
        let at_upstream = records(&device(&upstream, id, &token).await, &pool, id, "notes").await;
        let here = records(local, &pool, id, "notes").await;
        for rec in &at_upstream {
            assert!(
                here.contains(rec),
                "{user}: {rec:?} is at the upstream but not here"
            );
        }
    }
    // The old version's writes made before the cut-over came over too, and its user signs in
    // here to the identity it had (its developer login came with it).
    let (dan, token) = dev_login(&front_admin(&r.front), &pool, "dan").await;
    assert_eq!(dan, old_id);
    let old_here = device(&r.front.endpoint, &old_id, &token).await;
    let brought = records(&old_here, &pool, &old_id, "old-notes").await;
    for rec in &old_before {
        assert!(
            brought.contains(rec),
            "{rec:?} of the old version did not come over"
        );
    }

    // Local now: a write through cogsync stays here.
    let (ann, ann_device) = &new_devices[0];
    push(
        ann_device,
        &pool,
        ann,
        "notes",
        vec![replace("after", "local", 0)],
    )
    .await
    .unwrap();
    let (_, token) = dev_login(&up_admin(&r.upstream), &pool, "ann").await;
    let at_upstream = records(&device(&upstream, ann, &token).await, &pool, ann, "notes").await;
    assert!(
        at_upstream.iter().all(|(k, _, _)| k != "after"),
        "a write after the detach was forwarded"
    );

    // A second detach does nothing, and a restart with the same flags keeps the pool local.
    let again = detach_command(&pool, &store, &admin_addr, &[]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("detached already"));
    assert!(process::sigterm(&mut r.front).success());
    r.front = front(
        std::path::Path::new(&r.front_dir_path()),
        &r.proxy.url,
        &pool,
        None,
        &[],
    );
    let (_, token) = dev_login(&front_admin(&r.front), &pool, "ann").await;
    let ann_device = device(&r.front.endpoint, ann, &token).await;
    push(
        &ann_device,
        &pool,
        ann,
        "notes",
        vec![replace("after-restart", "local", 0)],
    )
    .await
    .unwrap();
    let (_, token) = dev_login(&up_admin(&r.upstream), &pool, "ann").await;
    let at_upstream = records(&device(&upstream, ann, &token).await, &pool, ann, "notes").await;
    assert!(at_upstream.iter().all(|(k, _, _)| k != "after-restart"));
}

/// Two nodes on one PostgreSQL, both attached, devices writing through each: the detach run
/// beside them (`--database-url`) waits for both to let go, and both serve the pool locally
/// after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgresql_are_detached_together_without_a_failed_request() {
    let test = "two_nodes_on_postgresql_are_detached_together";
    let Some(db) = cogsync::testing::TestDatabase::create(test).await else {
        return;
    };
    let r = rig(Some(&db.url)).await;
    let pool = r.pool.clone();
    let second_dir = tempfile::tempdir().unwrap();
    let second = front(second_dir.path(), &r.proxy.url, &pool, Some(&db.url), &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    let mut devices = Vec::new();
    for (user, node) in [
        ("eve", &r.front),
        ("fay", &second),
        ("gus", &r.front),
        ("hal", &second),
    ] {
        let (id, token) = dev_login(&front_admin(node), &pool, user).await;
        let c = device(&node.endpoint, &id, &token).await;
        writers.push(write_until(
            c.clone(),
            pool.clone(),
            id.clone(),
            "notes",
            stop.clone(),
        ));
        devices.push((user, id, c));
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let env = upstream_env(second_dir.path());
    let out = tokio::task::spawn_blocking({
        let (pool, url) = (pool.clone(), db.url.clone());
        move || detach_command(&pool, &["--database-url", &url], "127.0.0.1:1", &env)
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Writes go on for a moment after the flip, through both nodes.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    for w in &mut writers {
        (&mut w.task).await.unwrap();
        let failures = w.failures.lock().unwrap();
        assert!(
            failures.is_empty(),
            "a request through cogsync failed: {failures:?}"
        );
    }
    for (user, id, local) in &devices {
        let (_, token) = dev_login(&up_admin(&r.upstream), &pool, user).await;
        let at_upstream = records(
            &device(&r.upstream.endpoint, id, &token).await,
            &pool,
            id,
            "notes",
        )
        .await;
        let here = records(local, &pool, id, "notes").await;
        for rec in &at_upstream {
            assert!(
                here.contains(rec),
                "{user}: {rec:?} is at the upstream but not here"
            );
        }
        assert!(
            here.len() > at_upstream.len(),
            "{user}: nothing was written locally after the detach"
        );
    }
    drop(second);
}

/// A pool whose quota was raised on AWS: 2,000 records in one dataset synced through the
/// front (forwarded, listed in pages), then detached: the local pool holds all of them and
/// takes more under its raised limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_of_two_thousand_records_crosses_the_cut_over_whole() {
    let up_dir = tempfile::tempdir().unwrap();
    let raised = ["--max-records-per-dataset", "4096"];
    let upstream = process::spawn(up_dir.path(), Some((UP_KEY, UP_SECRET)), &raised);
    let pool = up_admin(&upstream)
        .create_identity_pool()
        .identity_pool_name("big")
        .allow_unauthenticated_identities(true)
        .developer_provider_name(DEV)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let front_dir = tempfile::tempdir().unwrap();
    let node = front(front_dir.path(), &upstream.endpoint, &pool, None, &raised);
    let (id, token) = dev_login(&front_admin(&node), &pool, "ivy").await;
    let c = device(&node.endpoint, &id, &token).await;
    for batch in 0..2 {
        let patches = (0..1000)
            .map(|n| replace(&format!("k-{batch}-{n}"), "value", 0))
            .collect();
        push(&c, &pool, &id, "big", patches).await.unwrap();
    }
    assert_eq!(records(&c, &pool, &id, "big").await.len(), 2000);
    let admin = node.admin().unwrap();
    let data = front_dir.path().display().to_string();
    let out = detach_command(
        &pool,
        &["--data-dir", &data],
        admin.trim_start_matches("http://"),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        records(&c, &pool, &id, "big").await.len(),
        2000,
        "after the detach"
    );
    push(&c, &pool, &id, "big", vec![replace("one-more", "v", 0)])
        .await
        .unwrap();
    assert_eq!(records(&c, &pool, &id, "big").await.len(), 2001);
}

/// A user who signs in with Google through cogsync while the pool is attached (the upstream
/// checks the token) signs in to the same identity after the detach, when cogsync checks the
/// token itself: the login's subject was recorded as it passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_google_user_signed_in_through_the_front_keeps_the_identity_after_the_detach() {
    use cogsync::testing::idp::SigningKey;
    let key = SigningKey::fixture(0, "g-1");
    let google = crate::fake_idp::FakeIdp::start("https://accounts.google.com", &[&key]).await;
    let reach = format!("accounts.google.com={}", google.url());
    let reach = ["--provider-url", reach.as_str()];
    let up_dir = tempfile::tempdir().unwrap();
    let upstream = process::spawn(up_dir.path(), Some((UP_KEY, UP_SECRET)), &reach);
    let client = "77-web.apps.googleusercontent.com";
    let pool = up_admin(&upstream)
        .create_identity_pool()
        .identity_pool_name("google")
        .allow_unauthenticated_identities(false)
        .supported_login_providers("accounts.google.com", client)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let front_dir = tempfile::tempdir().unwrap();
    let node = front(front_dir.path(), &upstream.endpoint, &pool, None, &reach);
    let token = google.id_token(&key, "jane", client, serde_json::json!({}));
    let login = [("accounts.google.com", token.as_str())];
    let ids = identity_client(&node.endpoint, "unused", "unused");
    let get_id = || async {
        let mut req = ids.get_id().identity_pool_id(&pool);
        for (p, t) in login {
            req = req.logins(p, t);
        }
        req.send().await.unwrap().identity_id.unwrap()
    };
    let jane = get_id().await;
    let creds = vended_credentials(&ids, &jane, &login).await.unwrap();
    push(
        &sync_as(&node.endpoint, creds),
        &pool,
        &jane,
        "prefs",
        vec![replace("lang", "fr", 0)],
    )
    .await
    .unwrap();
    let admin = node.admin().unwrap();
    let data = front_dir.path().display().to_string();
    let out = detach_command(
        &pool,
        &["--data-dir", &data],
        admin.trim_start_matches("http://"),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Local now: cogsync checks the Google token itself, and finds Jane's identity.
    assert_eq!(get_id().await, jane);
    let creds = vended_credentials(&ids, &jane, &login).await.unwrap();
    let (records, _) = pull(&sync_as(&node.endpoint, creds), &pool, &jane, "prefs", 0).await;
    assert_eq!(records[0].value(), Some("fr"));
}
