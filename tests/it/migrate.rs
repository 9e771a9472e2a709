//! Bringing data in: `cogsync import` (a real process) from another cogsync standing in for
//! AWS's Cognito Sync, export files, and the device that carries on against the new server
//! with what it held from the old one.

use std::process::{Command, Output};

use aws_sdk_cognitosync::types::{CognitoStreams, PushSync, StreamingStatus};

use crate::common::*;

/// Where an import writes: a data directory (SQLite) or a PostgreSQL database.
enum Target {
    Sqlite(tempfile::TempDir),
    Postgres(tempfile::TempDir, cogsync::testing::TestDatabase),
}

impl Target {
    fn sqlite() -> Self {
        Target::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn postgres(test: &str) -> Option<Self> {
        let db = cogsync::testing::TestDatabase::create(test).await?;
        Some(Target::Postgres(tempfile::tempdir().unwrap(), db))
    }

    fn args(&self) -> Vec<String> {
        match self {
            Target::Sqlite(dir) => vec!["--data-dir".into(), dir.path().display().to_string()],
            Target::Postgres(dir, db) => vec![
                "--data-dir".into(),
                dir.path().display().to_string(),
                "--database-url".into(),
                db.url.clone(),
            ],
        }
    }

    /// A server over what the import wrote.
    async fn serve(self) -> TestServer {
        match self {
            Target::Sqlite(dir) => TestServer::start_on(dir, None).await,
            Target::Postgres(dir, db) => TestServer::start_on(dir, Some(db)).await,
        }
    }
}

/// `cogsync <args>` with the test developer credentials as the source's AWS credentials, and
/// nothing of this machine's own AWS configuration.
fn cogsync(args: &[String]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cogsync"));
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/cogsync-test")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/cogsync-test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("COGSYNC_DATABASE_URL")
        .env_remove("COGSYNC_DATA_DIR");
    cmd
}

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// Imports from `source` into `target`; answers stdout, after checking the exit code.
async fn import(source: &TestServer, target: &Target, extra: &[&str], code: i32) -> String {
    let mut args: Vec<String> = vec!["import".into(), "--source-endpoint".into()];
    args.push(source.endpoint.clone());
    args.extend(target.args());
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = run(cogsync(&args)).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "import {extra:?}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// What a source holds, for the tests to change and look at.
struct Filled {
    pool: String,
    other_pool: String,
    alice: String,
    bob: String,
    anon: String,
}

const DEV: &str = "login.myapp";

async fn developer_identity(s: &TestServer, pool: &str, user: &str) -> String {
    s.identity()
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(pool)
        .logins(DEV, user)
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap()
}

/// A source as apps leave it: developer users, tombstones, a dataset deleted and made again,
/// one deleted for good, a merge, an unauthenticated identity writing with its own
/// credentials, pool configuration, and events on a second pool.
async fn fill(s: &TestServer) -> Filled {
    let pool = login_pool(s, true).await;
    let c = s.sync();
    let alice = developer_identity(s, &pool, "alice").await;
    let bob = developer_identity(s, &pool, "bob").await;
    push(
        &c,
        &pool,
        &alice,
        "settings",
        vec![replace("a", "1", 0), replace("b", "2", 0)],
    )
    .await
    .unwrap();
    push(
        &c,
        &pool,
        &alice,
        "settings",
        vec![remove("b", 1), replace("c", "3", 0)],
    )
    .await
    .unwrap();
    for ds in ["again", "gone"] {
        push(&c, &pool, &alice, ds, vec![replace("x", "old", 0)])
            .await
            .unwrap();
        delete(&c, &pool, &alice, ds).await.unwrap();
    }
    push(&c, &pool, &alice, "again", vec![replace("y", "new", 0)])
        .await
        .unwrap();
    push(&c, &pool, &bob, "prefs", vec![replace("theme", "dark", 0)])
        .await
        .unwrap();
    let bob_user = developer_identity(s, &pool, "bob-second-device").await;
    push(
        &c,
        &pool,
        &bob_user,
        "scores",
        vec![replace("level", "9", 0)],
    )
    .await
    .unwrap();
    s.identity()
        .merge_developer_identities()
        .identity_pool_id(&pool)
        .developer_provider_name(DEV)
        .source_user_identifier("bob-second-device")
        .destination_user_identifier("bob")
        .send()
        .await
        .unwrap();
    let anon = s.new_identity(&pool).await;
    let own = sync_as(&s.endpoint, credentials_for(s, &anon, &[]).await.unwrap());
    push(
        &own,
        &pool,
        &anon,
        "notes",
        vec![replace("n", "written by the device", 0)],
    )
    .await
    .unwrap();
    c.set_identity_pool_configuration()
        .identity_pool_id(&pool)
        .push_sync(
            PushSync::builder()
                .application_arns("arn:aws:sns:us-east-1:123456789012:app/GCM/MyApp")
                .role_arn("arn:aws:iam::123456789012:role/push")
                .build(),
        )
        .cognito_streams(
            CognitoStreams::builder()
                .stream_name("my-stream")
                .role_arn("arn:aws:iam::123456789012:role/streams")
                .streaming_status(StreamingStatus::Disabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let other_pool = s.new_pool(true).await;
    let other = s.new_identity(&other_pool).await;
    push(&c, &other_pool, &other, "d", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    c.set_cognito_events()
        .identity_pool_id(&other_pool)
        .events("SyncTrigger", "my-function")
        .send()
        .await
        .unwrap();
    Filled {
        pool,
        other_pool,
        alice,
        bob,
        anon,
    }
}

/// Everything a client can read of a server, through the official SDKs, one line per fact:
/// two servers with equal snapshots look the same to every app.
async fn snapshot(s: &TestServer) -> Vec<String> {
    let (ids, c) = (s.identity(), s.sync());
    let mut out = Vec::new();
    let mut pools: Vec<String> = ids
        .list_identity_pools()
        .max_results(60)
        .send()
        .await
        .unwrap()
        .identity_pools()
        .iter()
        .map(|p| p.identity_pool_id().unwrap().to_owned())
        .collect();
    pools.sort();
    for pool in pools {
        let d = ids
            .describe_identity_pool()
            .identity_pool_id(&pool)
            .send()
            .await
            .unwrap();
        let mut oidc = d.open_id_connect_provider_arns().to_vec();
        oidc.sort();
        out.push(format!(
            "pool {pool} {:?} unauth={} dev={:?} classic={:?} oidc={oidc:?}",
            d.identity_pool_name(),
            d.allow_unauthenticated_identities(),
            d.developer_provider_name(),
            d.allow_classic_flow(),
        ));
        let conf = c
            .get_identity_pool_configuration()
            .identity_pool_id(&pool)
            .send()
            .await
            .unwrap();
        out.push(format!(
            "config {pool} {:?} {:?}",
            conf.push_sync(),
            conf.cognito_streams()
        ));
        let events = c
            .get_cognito_events()
            .identity_pool_id(&pool)
            .send()
            .await
            .unwrap();
        let events: std::collections::BTreeMap<_, _> =
            events.events().into_iter().flatten().collect();
        out.push(format!("events {pool} {events:?}"));
        let mut identities = Vec::new();
        let mut token = None;
        loop {
            let page = ids
                .list_identities()
                .identity_pool_id(&pool)
                .max_results(60)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            identities.extend(page.identities().iter().cloned());
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        identities.sort_by(|a, b| a.identity_id().cmp(&b.identity_id()));
        for i in identities {
            let id = i.identity_id().unwrap();
            let mut logins = i.logins().to_vec();
            logins.sort();
            out.push(format!(
                "identity {id} {logins:?} {:?} {:?}",
                i.creation_date(),
                i.last_modified_date()
            ));
            if logins.iter().any(|l| l == DEV) {
                let mut users = ids
                    .lookup_developer_identity()
                    .identity_pool_id(&pool)
                    .identity_id(id)
                    .max_results(60)
                    .send()
                    .await
                    .unwrap()
                    .developer_user_identifier_list()
                    .to_vec();
                users.sort();
                out.push(format!("developer users {id} {users:?}"));
            }
            let datasets = c
                .list_datasets()
                .identity_pool_id(&pool)
                .identity_id(id)
                .max_results(60)
                .send()
                .await
                .unwrap();
            let mut names = Vec::new();
            for d in datasets.datasets() {
                let name = d.dataset_name().unwrap();
                names.push(name.to_owned());
                out.push(format!(
                    "dataset {id}/{name} {:?} {:?} {:?} {:?} {:?}",
                    d.creation_date(),
                    d.last_modified_date(),
                    d.last_modified_by(),
                    d.data_storage(),
                    d.num_records()
                ));
                // The name a merged dataset is listed under, too.
                if let Some((prefix, _)) = name.rsplit_once('.') {
                    names.push(prefix.to_owned());
                }
            }
            names.sort();
            names.dedup();
            for name in names {
                let (records, last) = pull(&c, &pool, id, &name, 0).await;
                let mut merged = last.merged_dataset_names().to_vec();
                merged.sort();
                out.push(format!(
                    "records {id}/{name} count={:?} exists={} merged={merged:?}",
                    last.dataset_sync_count(),
                    last.dataset_exists()
                ));
                for r in records {
                    out.push(format!(
                        "record {id}/{name} {:?}={:?} #{:?} {:?} {:?} {:?}",
                        r.key(),
                        r.value(),
                        r.sync_count(),
                        r.last_modified_date(),
                        r.last_modified_by(),
                        r.device_last_modified_date()
                    ));
                }
            }
        }
    }
    out
}

fn assert_same(source: &[String], target: &[String]) {
    let missing: Vec<_> = source.iter().filter(|l| !target.contains(l)).collect();
    let extra: Vec<_> = target.iter().filter(|l| !source.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not in the target: {missing:#?}\nonly in the target: {extra:#?}"
    );
}

/// The count a device last saw of a dataset, as it stored it.
async fn count_of(c: &aws_sdk_cognitosync::Client, pool: &str, id: &str, ds: &str) -> i64 {
    pull(c, pool, id, ds, 0)
        .await
        .1
        .dataset_sync_count()
        .unwrap()
}

async fn an_import_copies_everything_and_devices_carry_on(target: Target) {
    let source = TestServer::start().await;
    let f = fill(&source).await;
    let before = snapshot(&source).await;
    let held = count_of(&source.sync(), &f.pool, &f.alice, "settings").await;
    let first = import(&source, &target, &[], 0).await;
    assert!(first.contains("identities: 4 created"), "{first}");
    // A second run changes nothing.
    let second = import(&source, &target, &[], 0).await;
    assert!(
        second.contains("identities: 0 created, 4 already there; datasets: 0 written (0 records)"),
        "{second}"
    );
    let server = target.serve().await;
    assert_same(&before, &snapshot(&server).await);

    // Alice's device, re-pointed, carries on with what it held.
    let c = server.sync();
    let (news, _) = pull(&c, &f.pool, &f.alice, "settings", held).await;
    assert!(news.is_empty(), "nothing new since its last sync: {news:?}");
    let pushed = push(
        &c,
        &f.pool,
        &f.alice,
        "settings",
        vec![replace("a", "10", 1)],
    )
    .await
    .unwrap();
    assert_eq!(pushed[0].sync_count(), Some(held + 1));
    let stale = push(
        &c,
        &f.pool,
        &f.alice,
        "settings",
        vec![replace("a", "11", 1)],
    )
    .await;
    assert_eq!(stale.unwrap_err().0, "ResourceConflictException");
    // The developer backend's users keep their identities.
    assert_eq!(developer_identity(&server, &f.pool, "alice").await, f.alice);
    assert_eq!(
        developer_identity(&server, &f.pool, "bob-second-device").await,
        f.bob
    );
    // The unauthenticated device gets credentials for its own identity and reads its data.
    let own = sync_as(
        &server.endpoint,
        credentials_for(&server, &f.anon, &[]).await.unwrap(),
    );
    let (notes, _) = pull(&own, &f.pool, &f.anon, "notes", 0).await;
    assert_eq!(notes[0].value(), Some("written by the device"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_into_sqlite_copies_everything_and_devices_carry_on() {
    an_import_copies_everything_and_devices_carry_on(Target::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_into_postgres_copies_everything_and_devices_carry_on() {
    let test = "an_import_into_postgres_copies_everything_and_devices_carry_on";
    if let Some(target) = Target::postgres(test).await {
        an_import_copies_everything_and_devices_carry_on(target).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_are_chosen_with_pool_and_since_reads_only_what_changed() {
    let source = TestServer::start().await;
    let f = fill(&source).await;
    let target = Target::sqlite();
    let only = import(&source, &target, &["--pool", &f.pool], 0).await;
    assert!(only.starts_with("1 pools;"), "{only}");
    // The cut-over's catch-up: one dataset changed since the bulk copy. `--since` in whole
    // seconds: the next second begins after everything the bulk copy saw.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let cut = (now.as_secs() + 1).to_string();
    tokio::time::sleep(
        std::time::Duration::from_secs(1)
            - std::time::Duration::from_nanos(now.subsec_nanos().into())
            + std::time::Duration::from_millis(20),
    )
    .await;
    let c = source.sync();
    let at = count_of(&c, &f.pool, &f.alice, "again").await;
    push(
        &c,
        &f.pool,
        &f.alice,
        "again",
        vec![replace("z", "late", 0)],
    )
    .await
    .unwrap();
    let catch_up = import(&source, &target, &["--pool", &f.pool, "--since", &cut], 0).await;
    assert!(
        catch_up.contains("datasets: 1 written (1 records), 0 unchanged"),
        "only the changed dataset, only its changed record: {catch_up}"
    );
    let server = target.serve().await;
    let (late, last) = pull(&server.sync(), &f.pool, &f.alice, "again", at).await;
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].value(), Some("late"));
    assert_eq!(last.dataset_sync_count(), Some(at + 1));
    let listed = server
        .identity()
        .list_identity_pools()
        .max_results(60)
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = listed
        .identity_pools()
        .iter()
        .filter_map(|p| p.identity_pool_id())
        .collect();
    assert_eq!(ids, [f.pool.as_str()], "{} was left out", f.other_pool);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_a_store_that_moved_on_and_the_import_leaves_it_as_it_is() {
    let source = TestServer::start().await;
    let f = fill(&source).await;
    let target = Target::sqlite();
    let clean = import(&source, &target, &["--verify"], 0).await;
    assert!(
        clean.contains("verified: the store matches the source"),
        "{clean}"
    );
    // Devices write to and delete on the new server; the import, run again, must roll
    // neither back.
    let server = target.serve().await;
    push(
        &server.sync(),
        &f.pool,
        &f.alice,
        "settings",
        vec![replace("a", "moved on", 1)],
    )
    .await
    .unwrap();
    delete(&server.sync(), &f.pool, &f.alice, "again")
        .await
        .unwrap();
    let (dir, _) = server.stop().await;
    let target = Target::Sqlite(dir);
    let out = import(&source, &target, &["--verify"], 3).await;
    let settings = format!("dataset {}/settings", f.alice);
    assert!(
        out.contains(&format!("{settings}: the store is at SyncCount")),
        "the import reports what it left: {out}"
    );
    assert!(
        out.contains(&format!("DIFFERENT {settings}: store has SyncCount")),
        "{out}"
    );
    assert!(
        out.contains(&format!("dataset {}/again: not in the store", f.alice)),
        "{out}"
    );
    assert!(out.contains("2 differences"), "{out}");
    let server = target.serve().await;
    let left = server
        .sync()
        .list_datasets()
        .identity_pool_id(&f.pool)
        .identity_id(&f.alice)
        .send()
        .await
        .unwrap();
    assert!(
        left.datasets()
            .iter()
            .all(|d| d.dataset_name() != Some("again")),
        "the deleted dataset stays deleted"
    );
    let (records, _) = pull(&server.sync(), &f.pool, &f.alice, "settings", 0).await;
    let a = records.iter().find(|r| r.key() == Some("a")).unwrap();
    assert_eq!(a.value(), Some("moved on"));
}

/// `cogsync export` of a store; answers the file's bytes.
async fn export_of(args: Vec<String>, file: &std::path::Path) -> Vec<u8> {
    let mut all = vec![
        "export".into(),
        "--output".into(),
        file.display().to_string(),
    ];
    all.extend(args);
    let out = run(cogsync(&all)).await;
    assert!(
        out.status.success(),
        "export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(file).unwrap()
}

async fn import_file(file: &std::path::Path, target: &Target) -> Output {
    let mut args = vec![
        "import".into(),
        "--input".into(),
        file.display().to_string(),
    ];
    args.extend(target.args());
    run(cogsync(&args)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_round_trip_exactly_and_move_sqlite_to_postgres() {
    let source = TestServer::start().await;
    fill(&source).await;
    let before = snapshot(&source).await;
    let files = tempfile::tempdir().unwrap();
    let first = files.path().join("first.jsonl");
    let sqlite_args = vec!["--data-dir".into(), source.data_dir().display().to_string()];
    let exported = export_of(sqlite_args, &first).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&first).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "an export holds secrets: owner only");
    }
    // `-` writes the same to standard output.
    let mut to_stdout = vec!["export".into(), "--output".into(), "-".into()];
    to_stdout.extend(["--data-dir".into(), source.data_dir().display().to_string()]);
    let piped = run(cogsync(&to_stdout)).await;
    assert!(piped.status.success());
    assert!(
        piped.stdout == exported,
        "export to stdout differs from export to a file"
    );
    let text = String::from_utf8_lossy(&exported);
    assert!(text.starts_with(r#"{"format":"cogsync-export","version":2}"#));
    assert!(
        text.contains(r#""live":false"#),
        "the deleted dataset's counter is kept"
    );

    let mut targets = vec![("sqlite", Target::sqlite())];
    let test = "export_and_import_round_trip_exactly_and_move_sqlite_to_postgres";
    if let Some(pg) = Target::postgres(test).await {
        targets.push(("postgres", pg));
    }
    for (engine, target) in targets {
        let out = import_file(&first, &target).await;
        assert!(
            out.status.success(),
            "{engine}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let again = files.path().join(format!("{engine}.jsonl"));
        let round = export_of(target.args(), &again).await;
        assert!(
            round == exported,
            "{engine}: the store exported again differs from the file it was imported from"
        );
        let server = target.serve().await;
        assert_same(&before, &snapshot(&server).await);
    }

    // A file cut short imports what it holds and says so.
    let cut = files.path().join("cut.jsonl");
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&cut, lines[..lines.len() - 2].join("\n") + "\n").unwrap();
    let out = import_file(&cut, &Target::sqlite()).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut short"), "{err}");
}

/// Quotas an account had raised on AWS: a pool's own travels with an export (not with a copy
/// from a live source, which cannot tell it: the store's is kept), and a dataset above the
/// quotas of the store it goes to is imported whole, the summary saying where it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_travel_with_an_export_and_no_import_cuts_a_dataset_for_one() {
    // The source's quota raised to 4,096 records a dataset; pool `own`'s to 3,000 of its own.
    let source = TestServer::start_custom(|c| {
        c.sync.limits.records_per_dataset = 4096;
        c.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (own, in_own) = source.pool_and_identity().await;
    let (plain, in_plain) = source.pool_and_identity().await;
    let set = set_quotas(&source, &own, ["", "3000", ""]).await;
    assert_eq!(set, "Quotas saved.");
    let c = source.sync();
    for (pool, id) in [(&own, &in_own), (&plain, &in_plain)] {
        for from in [0, 1000] {
            let patches = (from..from + 1000)
                .map(|i| replace(&format!("key{i:05}"), "v", 0))
                .collect();
            push(&c, pool, id, "big", patches).await.unwrap();
        }
    }
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("quotas.jsonl");
    let store = vec!["--data-dir".into(), source.data_dir().display().to_string()];
    let text = String::from_utf8(export_of(store, &file).await).unwrap();
    assert!(text.starts_with(r#"{"format":"cogsync-export","version":2}"#));
    let own_limits = r#","limits":{"datasets_per_identity":null,"records_per_dataset":3000,"bytes_per_dataset":null}"#;
    let no_limits = r#","limits":{"datasets_per_identity":null,"records_per_dataset":null,"bytes_per_dataset":null}"#;
    assert!(
        text.contains(own_limits) && text.contains(no_limits),
        "{text:.2000}"
    );

    let mut targets = vec![Target::sqlite()];
    let test = "quotas_travel_with_an_export_and_no_import_cuts_a_dataset_for_one";
    if let Some(pg) = Target::postgres(test).await {
        targets.push(pg);
    }
    for target in targets {
        // Into a store with the default quotas (1,024 records).
        let out = import_file(&file, &target).await;
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let above = format!("pool {plain}: 1 dataset above this pool's limits of 1024 records");
        assert!(said.contains(&above), "{said}");
        let largest = format!("(largest {in_plain}/big: 2000 records, 18000 bytes)");
        assert!(said.contains(&largest), "{said}");
        assert!(
            !said.contains(&format!("pool {own}:")),
            "its quota came along: {said}"
        );
        // Again from the live source, which cannot tell a pool's quotas: the store's stay.
        let live = import(&source, &target, &[], 0).await;
        assert!(live.contains(&above), "{live}");
        assert!(!live.contains(&format!("pool {own}:")), "{live}");

        let server = target.serve().await;
        let c = server.sync();
        for (pool, id) in [(&own, &in_own), (&plain, &in_plain)] {
            let (records, _) = pull(&c, pool, id, "big", 0).await;
            assert_eq!(records.len(), 2000, "imported whole");
        }
        // Pool `own` keeps its 3,000; `plain`, above the store's 1,024, can shrink, not grow.
        push(&c, &own, &in_own, "big", vec![replace("more", "v", 0)])
            .await
            .unwrap();
        let more = push(&c, &plain, &in_plain, "big", vec![replace("more", "v", 0)]).await;
        assert_eq!(more.unwrap_err().0, "LimitExceededException");
        push(&c, &plain, &in_plain, "big", vec![remove("key00000", 1)])
            .await
            .unwrap();
    }

    // A version 1 file (before pools had quotas) still imports; the quotas are the store's.
    let v1 = text
        .replacen(r#""version":2"#, r#""version":1"#, 1)
        .replace(own_limits, "")
        .replace(no_limits, "");
    let old = files.path().join("v1.jsonl");
    std::fs::write(&old, v1).unwrap();
    let out = import_file(&old, &Target::sqlite()).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("pool {own}: 1 dataset above")),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logins_file_links_social_logins_and_an_identity_id_alone_gets_nothing() {
    let source = TestServer::start().await;
    // A pool with guests: a migrated identity must not pass for one.
    let pool = login_pool(&source, true).await;
    let (provider, oidc) = (oidc().name(0).to_owned(), oidc());
    let token = |sub: &str| oidc.token(0, sub, OIDC_AUDIENCE, 600);
    let carol = get_id_with(&source, &pool, &[(&provider, &token("carol"))])
        .await
        .unwrap();
    push(
        &source.sync(),
        &pool,
        &carol,
        "profile",
        vec![replace("name", "Carol", 0)],
    )
    .await
    .unwrap();
    let mut target = Target::sqlite();
    let first = import(&source, &target, &[], 0).await;
    assert!(
        first.contains("1 logins of social or OpenID Connect providers hold a placeholder"),
        "{first}"
    );
    assert!(
        first.contains("; 0 logins linked"),
        "a placeholder is no login: {first}"
    );
    {
        // Before the logins file: Carol's identity holds a login of the provider (its subject
        // unknown), so neither Mallory's token nor Carol's own links to it yet.
        let server = target.serve().await;
        for sub in ["mallory", "carol"] {
            let refused = credentials_for(&server, &carol, &[(&provider, &token(sub))]).await;
            assert_eq!(refused.unwrap_err().0, "NotAuthorizedException", "{sub}");
        }
        let (dir, _) = server.stop().await;
        target = Target::Sqlite(dir);
    }
    let files = tempfile::tempdir().unwrap();
    let logins = files.path().join("logins.csv");
    std::fs::write(
        &logins,
        format!("# from the app's users table\n{carol},{provider},carol\n"),
    )
    .unwrap();
    let second = import(
        &source,
        &target,
        &["--logins-file", logins.to_str().unwrap()],
        0,
    )
    .await;
    assert!(second.contains("; 1 logins linked"), "{second}");
    assert!(
        second.contains("logins file: 1 placeholders replaced"),
        "{second}"
    );
    assert!(!second.contains("hold a placeholder"), "{second}");
    {
        // The real login replaced the placeholder.
        use cogsync::store::prelude::*;
        let Target::Sqlite(dir) = &target else {
            unreachable!()
        };
        let store = cogsync::store::sqlite::SqliteStore::open_read_only(dir.path()).unwrap();
        let logins = store.logins_of(&carol).await.unwrap();
        assert_eq!(logins, vec![(provider.clone(), "carol".to_owned())]);
    }
    let server = target.serve().await;
    assert_eq!(
        get_id_with(&server, &pool, &[(&provider, &token("carol"))])
            .await
            .unwrap(),
        carol,
        "Carol signs in and gets her identity"
    );
    let creds = credentials_for(&server, &carol, &[(&provider, &token("carol"))])
        .await
        .unwrap();
    let (profile, _) = pull(
        &sync_as(&server.endpoint, creds),
        &pool,
        &carol,
        "profile",
        0,
    )
    .await;
    assert_eq!(profile[0].value(), Some("Carol"));
    // Knowing Carol's identity id and holding a valid token of one's own gets nothing.
    let refused = credentials_for(&server, &carol, &[(&provider, &token("mallory"))]).await;
    assert_eq!(refused.unwrap_err().0, "NotAuthorizedException");
}

/// An app whose pool signs its users in with Google moves: the identities come over with a
/// placeholder login (AWS does not list a social login's subject), the app's users table gives
/// the subjects (`--logins-file`), and each user signs in on the new server with the same
/// Google token to the identity and data they had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_google_login_imported_from_the_source_is_found_after_the_move() {
    use cogsync::testing::idp::SigningKey;
    let key = SigningKey::fixture(0, "google-1");
    let google = crate::fake_idp::FakeIdp::start("https://accounts.google.com", &[&key]).await;
    let reach_google = |c: &mut cogsync::config::ServerConfig| {
        c.providers.urls = [("accounts.google.com".to_string(), google.url().to_owned())]
            .into_iter()
            .collect();
    };
    let source = TestServer::start_custom(reach_google).await;
    let client = "42-web.apps.googleusercontent.com";
    let pool = source
        .identity()
        .create_identity_pool()
        .identity_pool_name("social")
        .allow_unauthenticated_identities(false)
        .supported_login_providers("accounts.google.com", client)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let sub = "110248495921238986420";
    let token = google.id_token(&key, sub, client, serde_json::json!({}));
    let google_login = [("accounts.google.com", token.as_str())];
    let henry = get_id_with(&source, &pool, &google_login).await.unwrap();
    let creds = credentials_for(&source, &henry, &google_login)
        .await
        .unwrap();
    push(
        &sync_as(&source.endpoint, creds),
        &pool,
        &henry,
        "settings",
        vec![replace("theme", "dark", 0)],
    )
    .await
    .unwrap();
    let Target::Sqlite(dir) = Target::sqlite() else {
        unreachable!()
    };
    let files = tempfile::tempdir().unwrap();
    let logins = files.path().join("logins.csv");
    std::fs::write(&logins, format!("{henry},accounts.google.com,{sub}\n")).unwrap();
    let target = Target::Sqlite(dir);
    let said = import(
        &source,
        &target,
        &["--logins-file", logins.to_str().unwrap()],
        0,
    )
    .await;
    assert!(said.contains("1 placeholders replaced"), "{said}");
    let Target::Sqlite(dir) = target else {
        unreachable!()
    };
    let moved = TestServer::start_in(dir, None, reach_google).await;
    assert_eq!(
        get_id_with(&moved, &pool, &google_login).await.unwrap(),
        henry,
        "Henry's Google login found his identity after the move"
    );
    let creds = credentials_for(&moved, &henry, &google_login)
        .await
        .unwrap();
    let (records, _) = pull(
        &sync_as(&moved.endpoint, creds),
        &pool,
        &henry,
        "settings",
        0,
    )
    .await;
    assert_eq!(records[0].value(), Some("dark"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_halfway_and_run_again_ends_identical() {
    let source = TestServer::start().await;
    let pool = source.new_pool(true).await;
    let c = source.sync();
    for n in 0..40 {
        let id = source.new_identity(&pool).await;
        let patches = (0..3)
            .map(|k| replace(&format!("k{k}"), &format!("v{n}"), 0))
            .collect();
        push(&c, &pool, &id, "d", patches).await.unwrap();
    }
    let before = snapshot(&source).await;
    let dir = tempfile::tempdir().unwrap();
    let target = Target::Sqlite(dir);
    let mut args: Vec<String> = vec!["import".into(), "--source-endpoint".into()];
    args.push(source.endpoint.clone());
    args.extend(target.args());
    // Paced at 20 calls a second, 40 identities take at least four seconds: time to stop it.
    args.extend(["--rate", "20", "--concurrency", "1"].map(String::from));
    let Target::Sqlite(dir) = &target else {
        unreachable!()
    };
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = cogsync(&args)
        .stdout(std::process::Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    // Watched read-only, as export reads: the import holds the directory's lock.
    let watch = loop {
        if let Ok(store) = cogsync::store::sqlite::SqliteStore::open_read_only(dir.path()) {
            break store;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended early"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    loop {
        use cogsync::store::prelude::*;
        let done = watch.list_identities(&pool, None, 100).await.unwrap().len();
        if done >= 8 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before it could be interrupted: {}",
            std::fs::read_to_string(log.path()).unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished");
    drop(watch);
    let resumed = import(&source, &target, &[], 0).await;
    assert!(resumed.contains("already there"), "{resumed}");
    let third = import(&source, &target, &[], 0).await;
    assert!(
        third.contains("identities: 0 created, 40 already there; datasets: 0 written"),
        "{third}"
    );
    let server = target.serve().await;
    assert_same(&before, &snapshot(&server).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_source_is_waited_for_and_nothing_is_missing() {
    let source = TestServer::start().await;
    let f = fill(&source).await;
    let before = snapshot(&source).await;
    let (dir, _) = source.stop().await;
    let rate: cogsync::rate::Rate = "4:4".parse().unwrap();
    let throttled = TestServer::start_in(dir, None, |c| c.throttle.per_pool = Some(rate)).await;
    let target = Target::sqlite();
    // No pacing of our own: the source's 429s are what slows the import down.
    import(&throttled, &target, &["--rate", "0"], 0).await;
    // The source did throttle at the import's pace.
    let mut throttled_calls = 0;
    for _ in 0..12 {
        let r = throttled
            .identity()
            .describe_identity_pool()
            .identity_pool_id(&f.pool)
            .send()
            .await;
        if let Err(e) = r {
            assert_eq!(code_of(&e).0, "TooManyRequestsException");
            throttled_calls += 1;
        }
    }
    assert!(throttled_calls > 0, "the source never throttled");
    let server = target.serve().await;
    assert_same(&before, &snapshot(&server).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_says_in_one_line_what_is_missing_and_never_asks_the_metadata_service() {
    let source = TestServer::start().await;
    let target = Target::sqlite();
    if let Target::Sqlite(dir) = &target {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let mut args: Vec<String> = vec!["import".into(), "--source-endpoint".into()];
    args.push(source.endpoint.clone());
    args.extend(target.args());
    // No credentials anywhere: an empty home, no AWS variables, and the metadata service
    // not disabled by the environment.
    let home = tempfile::tempdir().unwrap();
    let mut cmd = cogsync(&args);
    cmd.env("HOME", home.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env_remove("AWS_EC2_METADATA_DISABLED");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{said}");
    assert!(lines[0].contains("no AWS credentials"), "{said}");
    assert!(lines[0].contains("AWS_ACCESS_KEY_ID"), "{said}");
    assert!(!said.contains("run it again"), "{said}");
    // With credentials but no region: it runs, and says nothing about regions or metadata.
    let mut cmd = cogsync(&args);
    cmd.env("HOME", home.path())
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_EC2_METADATA_DISABLED");
    let out = run(cmd).await;
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!said.contains("IMDS") && !said.contains("WARN"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_export_file_names_one_line_and_is_not_worth_running_again() {
    let files = tempfile::tempdir().unwrap();
    let bad = files.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"format\":\"cogsync-export\",\"version\":1}\n{\"pool\":{\"id\":\"x\",\"surprise\":1}}\n",
    )
    .unwrap();
    let out = import_file(&bad, &Target::sqlite()).await;
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("line 2:"), "{said}");
    assert!(!said.contains("at line"), "one line number only: {said}");
    assert!(!said.contains("run it again"), "{said}");
}
