//! The admin listener: liveness, readiness that follows the database, and metrics that count
//! exactly what clients saw, with no id in any label; none of it on the device port.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::*;

fn admin_on(c: &mut cogsync::config::ServerConfig) {
    c.admin_listen = Some("127.0.0.1:0".parse().unwrap());
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the sample `name{labels}` in a scrape (labels as written, in order).
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exactly_what_clients_saw_and_name_no_id() {
    let s = TestServer::start_custom(|c| {
        admin_on(c);
        c.throttle.per_identity = Some("1:2".parse().unwrap());
    })
    .await;
    let admin = s.admin.clone().unwrap();
    let (status, fresh) = get(&format!("{admin}/metrics")).await;
    assert_eq!(status, 200);
    for series in [
        r#"cogsync_outbox_pending{target="kinesis"}"#,
        r#"cogsync_outbox_pending{target="sns"}"#,
        r#"cogsync_outbox_pending{target="direct"}"#,
        r#"cogsync_outbox_oldest_age_seconds{target="kinesis"}"#,
        r#"cogsync_outbox_delivery_failures_total{target="sns"}"#,
        r#"cogsync_bulk_publish_jobs{status="NOT_STARTED"}"#,
        r#"cogsync_bulk_publish_jobs{status="IN_PROGRESS"}"#,
        "cogsync_sync_conflicts_total",
        "cogsync_throttled_total",
    ] {
        assert_eq!(sample(&fresh, series), Some(0.0), "{series} from start-up");
    }
    assert!(fresh.contains(&format!(
        "cogsync_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));

    // A known sequence; every answer's status tallied as the client saw it.
    let mut seen: BTreeMap<(&str, &str, u16), u32> = BTreeMap::new();
    let mut saw = |api, op, status: u16| *seen.entry((api, op, status)).or_default() += 1;
    let (pool, id) = s.pool_and_identity().await;
    saw("cognito-identity", "CreateIdentityPool", 200);
    saw("cognito-identity", "GetId", 200);
    let c = s.sync();
    push(&c, &pool, &id, "d", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    saw("cognito-sync", "ListRecords", 200);
    saw("cognito-sync", "UpdateRecords", 200);
    // The identity's burst of two is spent: the next requests meet the throttle until a
    // token comes back (one a second).
    let token = loop {
        let r = c
            .list_records()
            .identity_pool_id(&pool)
            .identity_id(&id)
            .dataset_name("d")
            .send()
            .await;
        match r {
            Ok(out) => break out.sync_session_token.unwrap(),
            Err(e) => {
                assert_eq!(code_of(&e).0, "TooManyRequestsException");
                saw("cognito-sync", "ListRecords", 429);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    saw("cognito-sync", "ListRecords", 200);
    // Right after its ListRecords, the update is refused by the throttle or, with a token
    // to spare, for its stale SyncCount.
    let stale = c
        .update_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("d")
        .sync_session_token(token)
        .record_patches(replace("k", "w", 0))
        .send()
        .await
        .unwrap_err();
    let conflicts = match code_of(&stale).0.as_str() {
        "ResourceConflictException" => {
            saw("cognito-sync", "UpdateRecords", 409);
            1
        }
        "TooManyRequestsException" => {
            saw("cognito-sync", "UpdateRecords", 429);
            0
        }
        other => panic!("unexpected {other}"),
    };
    // On another identity, whose requests the throttle has not counted yet.
    let other = s.new_identity(&pool).await;
    saw("cognito-identity", "GetId", 200);
    let forged = s.sync_with(ACCESS_KEY, "not-the-secret", None);
    assert_eq!(
        try_list(&forged, &pool, &other).await.unwrap_err().0,
        "InvalidSignatureException"
    );
    saw("cognito-sync", "ListDatasets", 403);

    let (_, scrape) = get(&format!("{admin}/metrics")).await;
    let mut throttled = 0;
    for ((api, op, status), n) in &seen {
        let series =
            format!(r#"cogsync_requests_total{{api="{api}",operation="{op}",status="{status}"}}"#);
        assert_eq!(
            sample(&scrape, &series),
            Some(f64::from(*n)),
            "{series}\n{scrape}"
        );
        let count =
            format!(r#"cogsync_request_duration_seconds_count{{api="{api}",operation="{op}"}}"#);
        assert!(sample(&scrape, &count).is_some(), "{count}");
        if *status == 429 {
            throttled += n;
        }
    }
    let total: f64 = scrape
        .lines()
        .filter(|l| l.starts_with("cogsync_requests_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(
        total,
        f64::from(seen.values().sum::<u32>()),
        "no request uncounted"
    );
    assert_eq!(
        sample(&scrape, "cogsync_sync_conflicts_total"),
        Some(f64::from(conflicts))
    );
    assert_eq!(
        sample(&scrape, "cogsync_throttled_total"),
        Some(f64::from(throttled))
    );
    assert_eq!(
        sample(
            &scrape,
            r#"cogsync_auth_failures_total{reason="InvalidSignatureException"}"#
        ),
        Some(1.0)
    );
    // The store counts its own operations: each UpdateRecords that reached it (the
    // throttled one did not).
    assert_eq!(
        sample(
            &scrape,
            r#"cogsync_store_operation_duration_seconds_count{operation="update_records"}"#
        ),
        Some(f64::from(1 + conflicts)),
        "{scrape}"
    );
    let batches = sample(&scrape, "cogsync_commit_batch_size_count").unwrap_or(0.0);
    let writes = sample(&scrape, "cogsync_commit_batch_size_sum").unwrap_or(0.0);
    assert!(
        batches >= 1.0 && writes >= batches,
        "{batches} batches, {writes} writes"
    );
    for secret in [
        pool.as_str(),
        id.as_str(),
        other.as_str(),
        ACCESS_KEY,
        "\"d\"",
    ] {
        assert!(!scrape.contains(secret), "{secret} in a label:\n{scrape}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_port_serves_no_admin_path() {
    let s = TestServer::start_custom(admin_on).await;
    let admin = s.admin.clone().unwrap();
    assert_eq!(get(&format!("{admin}/healthz")).await.0, 200);
    assert_eq!(
        get(&format!("{admin}/readyz")).await,
        (200, "ready\n".into())
    );
    for path in ["/healthz", "/readyz", "/metrics"] {
        let (status, body) = get(&format!("{}{path}", s.endpoint)).await;
        assert_ne!(status, 200, "{path} on the device port");
        assert!(!body.contains("cogsync_"), "{path}: {body}");
        assert!(body != "ready\n" && body != "ok\n", "{path}: {body}");
    }
}

/// A TCP forwarder to PostgreSQL that the test can cut (refusing new connections and
/// closing open ones) and restore on the same port.
struct Cut {
    port: u16,
    stop: Option<tokio::sync::watch::Sender<bool>>,
}

impl Cut {
    async fn open(port: u16, database: String) -> Cut {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            loop {
                let mut down = stopped.clone();
                let (mut client, _) = tokio::select! {
                    a = listener.accept() => a.unwrap(),
                    _ = down.changed() => return,
                };
                let database = database.clone();
                tokio::spawn(async move {
                    let Ok(mut db) = tokio::net::TcpStream::connect(database).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut db) => {}
                        _ = down.changed() => {}
                    }
                });
            }
        });
        Cut {
            port,
            stop: Some(stop),
        }
    }

    fn cut(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database() {
    let test = "readiness_follows_the_database";
    let Some(db) = cogsync::testing::TestDatabase::create(test).await else {
        return;
    };
    // The database's host:port in its URL (postgres://user@host:port/db), reached through
    // the cut instead.
    let authority = db
        .url
        .split_once('@')
        .and_then(|(_, rest)| rest.split(['/', '?']).next())
        .expect("a postgres://user@host:port/db URL")
        .to_owned();
    let database = match authority.contains(':') {
        true => authority.clone(),
        false => format!("{authority}:5432"),
    };
    let mut link = Cut::open(0, database.clone()).await;
    let port = link.port;
    let url = db.url.replacen(&authority, &format!("127.0.0.1:{port}"), 1);
    let s = TestServer::start_in(tempfile::tempdir().unwrap(), Some(db), |c| {
        admin_on(c);
        c.database_url = Some(url);
    })
    .await;
    let ready = format!("{}/readyz", s.admin.clone().unwrap());
    assert_eq!(get(&ready).await.0, 200);
    link.cut();
    // Conditions polled, not delays: each wait ends as soon as the state shows.
    let mut outage = None;
    for _ in 0..100 {
        let (status, body) = get(&ready).await;
        if status == 503 {
            outage = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outage = outage.expect("/readyz never said the database was gone");
    assert!(outage.contains("store"), "{outage}");
    assert_eq!(
        get(&format!("{}/healthz", s.admin.clone().unwrap()))
            .await
            .0,
        200
    );
    let _back = Cut::open(port, database).await;
    let mut recovered = false;
    for _ in 0..100 {
        if get(&ready).await.0 == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "/readyz stayed 503 after the database came back");
}

/// `cogsync healthcheck` (the container image's HEALTHCHECK): exit status 0 while the admin
/// listener answers, 1 with the reason once it is gone; `--ready` follows /readyz.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_healthcheck_command_follows_the_admin_listener() {
    let s = TestServer::start_custom(admin_on).await;
    let admin = s.admin.clone().unwrap();
    let bound = admin.trim_start_matches("http://").to_owned();
    // Bound on 0.0.0.0, the command asks loopback: the port is what matters.
    let wildcard = format!("0.0.0.0:{}", bound.rsplit_once(':').unwrap().1);
    let check = |at: String, ready: bool| {
        tokio::task::spawn_blocking(move || {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cogsync"));
            cmd.args(["healthcheck", "--admin-listen", &at]);
            if ready {
                cmd.arg("--ready");
            }
            cmd.env_remove("COGSYNC_ADMIN_LISTEN").output().unwrap()
        })
    };
    for (at, ready) in [
        (bound.clone(), false),
        (wildcard, false),
        (bound.clone(), true),
    ] {
        let out = check(at, ready).await.unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    s.stop().await;
    let out = check(bound, false).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/healthz"));
    let off = check("off".into(), false).await.unwrap();
    assert_eq!(off.status.code(), Some(1));
}
