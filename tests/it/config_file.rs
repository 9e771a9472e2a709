//! `cogsync serve --config FILE`: every flag can be set from the file; the environment
//! overrides the file and the command line overrides both; an unknown key stops start-up
//! and names itself.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common::*;

/// Flags the file test leaves out, and why: these need outside files or services of their
/// own (TLS certificates, a PostgreSQL server) and are read like any other flag.
const NOT_IN_THE_FILE: [&str; 8] = [
    "help",
    "version",
    "config",
    "tls-cert",
    "tls-key",
    "database-url",
    // An upstream must answer for the server to start: tests/it/upstream.rs runs them.
    "upstream-endpoint",
    "upstream-region",
];

/// A value for each flag `serve` has: a new flag without one here fails the test.
fn sample(flag: &str, dir: &std::path::Path) -> String {
    match flag {
        "listen" | "admin-listen" => "\"127.0.0.1:0\"".into(),
        "data-dir" => format!("{:?}", dir.join("data").display().to_string()),
        "oidc-providers" => format!("{:?}", dir.join("oidc.json").display().to_string()),
        "provider-secrets" => format!("{:?}", dir.join("secrets.json").display().to_string()),
        "upstream-pool" => "[\"us-east-1:00000000-0000-0000-0000-000000000001\"]".into(),
        "upstream-timeout" => "4".into(),
        "upstream-copy-rate" => "2".into(),
        "provider-url" => "[\"accounts.google.com=https://google.example\"]".into(),
        "region" => "\"eu-west-1\"".into(),
        "credentials-ttl" => "120".into(),
        "db-pool-size" => "4".into(),
        "max-connections" => "64".into(),
        "header-timeout" => "20".into(),
        "body-timeout" => "30".into(),
        "shutdown-grace" => "2".into(),
        "store-timeout" => "8".into(),
        "identity-rate-limit" => "\"100:200\"".into(),
        "pool-rate-limit" => "\"1000\"".into(),
        "address-rate-limit" => "\"off\"".into(),
        "auth-failure-limit" => "\"50:100\"".into(),
        "trusted-proxies" => "\"10.0.0.0/8\"".into(),
        "admin-host" => "\"cogsync.internal\"".into(),
        "log-format" => "\"json\"".into(),
        "max-datasets-per-identity" => "30".into(),
        "max-records-per-dataset" => "2048".into(),
        "max-dataset-bytes" => "4194304".into(),
        "push-fcm" => format!(
            "[\"arn:aws:sns:us-east-1:123456789012:app/GCM/app=service-account={}\"]",
            dir.join("fcm.json").display()
        ),
        "push-apns" => format!(
            "[\"arn:aws:sns:us-east-1:123456789012:app/APNS/app=key={};key-id=ABC123DEFG;team-id=DEF123GHIJ;topic=com.example.app\"]",
            dir.join("AuthKey.p8").display()
        ),
        "stream-webhook" => "[\"changes=url=https://hooks.example/cogsync;secret=env:COGSYNC_TEST_WHSEC\"]".into(),
        "stream-nats" => "[\"other-changes=url=nats://127.0.0.1:4222;subject=cogsync.other\"]".into(),
        "delivery-ca-file" => format!("{:?}", dir.join("ca.pem").display().to_string()),
        other => panic!("no sample value for --{other}: add one"),
    }
}

/// The webhook secret the sample `stream-webhook` reads from the environment.
const WHSEC: (&str, &str) = (
    "COGSYNC_TEST_WHSEC",
    "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
);

/// The files the route flags' samples name: a service account's key, an APNs key, a CA.
fn write_route_secrets(dir: &std::path::Path) {
    let rsa = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rsa-2048.pk8.pem"
    ))
    .unwrap();
    let account = serde_json::json!({"type": "service_account", "project_id": "p",
        "private_key_id": "k", "private_key": rsa, "client_email": "a@p.iam.gserviceaccount.com"});
    std::fs::write(dir.join("fcm.json"), account.to_string()).unwrap();
    let p8 = rcgen::KeyPair::generate().unwrap().serialize_pem();
    std::fs::write(dir.join("AuthKey.p8"), p8).unwrap();
    std::fs::write(
        dir.join("ca.pem"),
        crate::pki::Pki::new("config").root_pem(),
    )
    .unwrap();
}

struct Server {
    child: Child,
    endpoint: String,
    stdout: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cogsync serve ARGS` with `env`; the server once it says where it listens, or what it
/// wrote to stderr when it exits before.
fn serve(args: &[&str], env: &[(&str, &str)]) -> Result<Server, String> {
    serve_logging(args, env, &tempfile::NamedTempFile::new().unwrap())
}

/// [`serve`], its stderr (the log) written to `log`.
fn serve_logging(
    args: &[&str],
    env: &[(&str, &str)],
    log: &tempfile::NamedTempFile,
) -> Result<Server, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cogsync"));
    cmd.arg("serve").args(args);
    for var in [
        "COGSYNC_LISTEN",
        "COGSYNC_ADMIN_LISTEN",
        "COGSYNC_DATA_DIR",
        "COGSYNC_REGION",
        "COGSYNC_DATABASE_URL",
        "COGSYNC_CONFIG",
        "COGSYNC_LOG_FORMAT",
        "COGSYNC_MAX_DATASETS_PER_IDENTITY",
        "COGSYNC_MAX_RECORDS_PER_DATASET",
        "COGSYNC_MAX_DATASET_BYTES",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("COGSYNC_ACCESS_KEY_ID", ACCESS_KEY)
        .env("COGSYNC_SECRET_ACCESS_KEY", SECRET_KEY)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(log.reopen().unwrap());
    let mut server = Server {
        child: cmd.spawn().unwrap(),
        endpoint: String::new(),
        stdout: Vec::new(),
    };
    let mut reader = BufReader::new(server.child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            // Exited before serving: dropping `server` reaps it.
            return Err(std::fs::read_to_string(log.path()).unwrap());
        }
        let line = line.trim_end().to_string();
        if let Some(url) = line.strip_prefix("cogsync listening on ") {
            server.endpoint = url.to_string();
            server.stdout.push(line);
            return Ok(server);
        }
        server.stdout.push(line);
    }
}

/// The region prefix of the ids a server makes.
async fn region_of(s: &Server) -> String {
    let pool = identity_client(&s.endpoint, ACCESS_KEY, SECRET_KEY)
        .create_identity_pool()
        .identity_pool_name("p")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    pool.split_once(':').unwrap().0.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_sets_every_flag_and_yields_to_the_environment_and_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("oidc.json"), "[]").unwrap();
    std::fs::write(dir.path().join("secrets.json"), "{}").unwrap();
    write_route_secrets(dir.path());
    let help = Command::new(env!("CARGO_BIN_EXE_cogsync"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let mut file = String::new();
    let mut flags = 0;
    for word in help.split_whitespace() {
        let Some(flag) = word.strip_prefix("--") else {
            continue;
        };
        let end = flag
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(flag.len());
        let flag = &flag[..end];
        if flag.is_empty()
            || NOT_IN_THE_FILE.contains(&flag)
            || file.contains(&format!("\n{flag} ="))
        {
            continue;
        }
        file.push_str(&format!("\n{flag} = {}", sample(flag, dir.path())));
        flags += 1;
    }
    assert!(flags >= 12, "serve --help listed {flags} flags:\n{help}");
    let config = dir.path().join("cogsync.toml");
    std::fs::write(&config, &file).unwrap();
    let config = config.to_str().unwrap();

    let from_file = serve(&["--config", config], &[WHSEC]).unwrap();
    assert_eq!(region_of(&from_file).await, "eu-west-1", "{file}");
    // The quotas from the file: 2,048 records a dataset, not 1,024.
    let (pool, id) = pool_and_identity_at(&from_file.endpoint).await;
    let sync = sync_client(&from_file.endpoint, ACCESS_KEY, SECRET_KEY, None);
    for from in [0, 1000] {
        let patches = (from..from + 1000)
            .map(|i| replace(&format!("k{i}"), "v", 0))
            .collect();
        push(&sync, &pool, &id, "ds", patches).await.unwrap();
    }
    assert!(
        from_file
            .stdout
            .iter()
            .any(|l| l.starts_with("cogsync admin")),
        "admin-listen from the file: {:?}",
        from_file.stdout
    );
    assert!(
        dir.path().join("data").join("cogsync.sqlite3").exists(),
        "data-dir from the file"
    );
    drop(from_file);

    let env = serve(
        &["--config", config],
        &[
            ("COGSYNC_REGION", "ap-south-1"),
            ("COGSYNC_MAX_DATASETS_PER_IDENTITY", "1"),
            WHSEC,
        ],
    )
    .unwrap();
    assert_eq!(
        region_of(&env).await,
        "ap-south-1",
        "the environment beats the file"
    );
    let (pool, id) = pool_and_identity_at(&env.endpoint).await;
    let sync = sync_client(&env.endpoint, ACCESS_KEY, SECRET_KEY, None);
    push(&sync, &pool, &id, "one", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    let (code, message) = push(&sync, &pool, &id, "two", vec![replace("k", "v", 0)])
        .await
        .unwrap_err();
    assert_eq!(code, "LimitExceededException", "{message}");
    assert!(message.contains("at most 1 datasets"), "{message}");
    drop(env);
    let flag = serve(
        &["--config", config, "--region", "us-west-2"],
        &[("COGSYNC_REGION", "ap-south-1"), WHSEC],
    )
    .unwrap();
    assert_eq!(
        region_of(&flag).await,
        "us-west-2",
        "the command line beats both"
    );
    drop(flag);
    // The file named by the environment instead of a flag.
    let named = serve(&[], &[("COGSYNC_CONFIG", config), WHSEC]).unwrap();
    assert_eq!(region_of(&named).await, "eu-west-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_stops_start_up_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cogsync.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nlisen = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let err = serve(&["--config", config.to_str().unwrap()], &[])
        .err()
        .expect("started with an unknown key");
    assert!(err.contains("unknown key lisen"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_one_json_object_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "off",
        "--data-dir",
        data,
        "--log-format",
        "json",
    ];
    let server = serve_logging(&args, &[("RUST_LOG", "info")], &log).unwrap();
    // A refused request: its one log line names the operation and the reason.
    let refused = reqwest::get(format!(
        "{}/identitypools/p/identities/i/datasets",
        server.endpoint
    ))
    .await
    .unwrap();
    assert_eq!(refused.status(), 403);
    drop(server);
    let text = std::fs::read_to_string(log.path()).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty(), "no log lines");
    let mut failures = 0;
    for line in lines {
        // A parser that refuses duplicate keys, as some log pipelines do (others keep the
        // last, and lose the first).
        serde_json::from_str::<strict::Json>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            entry["level"].is_string() && entry["fields"].is_object(),
            "{line}"
        );
        if entry["fields"]["message"] == "request refused" {
            failures += 1;
            assert_eq!(entry["fields"]["op"], "ListDatasets", "{line}");
            assert_eq!(
                entry["fields"]["code"], "MissingAuthenticationTokenException",
                "{line}"
            );
            assert!(entry["fields"]["reason"].is_string(), "{line}");
        }
    }
    assert_eq!(failures, 1, "one line per failed request:\n{text}");
}

/// JSON that is valid only without duplicate keys in any object.
mod strict {
    use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};

    pub struct Json;

    impl<'de> Deserialize<'de> for Json {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Strict)
        }
    }

    struct Strict;

    impl<'de> Visitor<'de> for Strict {
        type Value = Json;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key.clone()) {
                    return Err(A::Error::custom(format!("duplicate key {key:?}")));
                }
                map.next_value::<Json>()?;
            }
            Ok(Json)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
            while seq.next_element::<Json>()?.is_some() {}
            Ok(Json)
        }
        fn visit_str<E>(self, _: &str) -> Result<Json, E> {
            Ok(Json)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Json, E> {
            Ok(Json)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Json, E> {
            Ok(Json)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
            Ok(Json)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
            Ok(Json)
        }
        fn visit_unit<E>(self) -> Result<Json, E> {
            Ok(Json)
        }
    }
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_config_file_serves_every_command_as_the_container_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("cogsync.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nadmin-listen = \"{admin}\"\ndata-dir = {:?}\nregion = \"eu-west-1\"\nmax-connections = 64\n",
            dir.path().join("data").display().to_string()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let env = [("COGSYNC_CONFIG", config)];
    let server = serve(&[], &env).unwrap();
    let command = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cogsync"));
        for var in [
            "COGSYNC_ADMIN_LISTEN",
            "COGSYNC_DATA_DIR",
            "COGSYNC_DATABASE_URL",
        ] {
            cmd.env_remove(var);
        }
        cmd.args(args)
            .env("COGSYNC_CONFIG", config)
            .output()
            .unwrap()
    };
    // The image's HEALTHCHECK, with the environment the server has.
    let health = command(&["healthcheck"]);
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stderr)
    );
    // export finds the data directory in the same file (and reads while the server runs).
    let out = dir.path().join("backup.jsonl");
    let export = command(&["export", "--output", out.to_str().unwrap()]);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    drop(server);
    // A key that is no command's flag is still refused, by name, with the command's flags.
    std::fs::write(dir.path().join("typo.toml"), "admin-lisen = \"x\"\n").unwrap();
    let typo = Command::new(env!("CARGO_BIN_EXE_cogsync"))
        .arg("healthcheck")
        .env("COGSYNC_CONFIG", dir.path().join("typo.toml"))
        .output()
        .unwrap();
    assert_eq!(typo.status.code(), Some(2));
    let said = String::from_utf8_lossy(&typo.stderr);
    assert!(said.contains("unknown key admin-lisen"), "{said}");
    assert!(
        said.contains("those of `healthcheck` are admin-listen, ready"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_route_secret_stops_start_up_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("whsec");
    std::fs::write(&secret, "hunter2-not-a-whsec").unwrap();
    let data = dir.path().join("data");
    let route = format!(
        "changes=url=https://hooks.example/c;secret={}",
        secret.display()
    );
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "off",
        "--data-dir",
        data.to_str().unwrap(),
        "--stream-webhook",
        &route,
    ];
    let err = serve(&args, &[]).err().expect("started with a bad secret");
    assert!(err.contains("--stream-webhook changes"), "{err}");
    assert!(err.contains("not a whsec_ secret"), "{err}");
    assert!(!err.contains("hunter2"), "the secret is never shown: {err}");
    let missing = [
        "--push-fcm",
        "arn:aws:sns:us-east-1:1:app/GCM/a=service-account=env:COGSYNC_TEST_UNSET_FCM",
    ];
    let err = serve(&[&args[..6], &missing[..]].concat(), &[])
        .err()
        .expect("started without the key");
    assert!(err.contains("COGSYNC_TEST_UNSET_FCM is not set"), "{err}");
}
