//! TLS to PostgreSQL with libpq's settings: `sslmode=require` really encrypts (the server's
//! own view, `pg_stat_ssl`, says so), `verify-ca`/`verify-full` check the certificate, and a
//! wrong root stops the server from starting with a message that says why.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cogsync::store::postgres::PostgresStore;
use cogsync::testing::TestDatabase;

use crate::common::*;
use crate::pki::Pki;

fn with_params(url: &str, params: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

async fn admin() -> tokio_postgres::Client {
    let url = std::env::var(cogsync::testing::DATABASE_URL_ENV).unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Whether the test database server has TLS turned on; when it has not, says that `test`
/// is skipped.
async fn offers_tls(test: &str) -> bool {
    let row = admin().await.query_one("SHOW ssl", &[]).await.unwrap();
    let on = row.get::<_, String>(0) == "on";
    if !on {
        eprintln!("SKIPPED {test}: the test PostgreSQL server has ssl = off");
    }
    on
}

/// Whether each session of `application` is encrypted, as PostgreSQL reports it.
async fn ssl_of_sessions(application: &str) -> Vec<bool> {
    admin()
        .await
        .query(
            "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.application_name = $1",
            &[&application],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Runs a device flow on a server whose store URL carries `params`; returns what
/// `pg_stat_ssl` says of the server's sessions.
async fn sessions_after_a_device_flow(db: &TestDatabase, params: &str) -> Vec<bool> {
    let application = format!("cogsync-{}", uuid::Uuid::new_v4().simple());
    let url = with_params(&db.url, &format!("{params}&application_name={application}"));
    let s = TestServer::start_custom(|c| c.database_url = Some(url)).await;
    let (pool, id) = s.pool_and_identity().await;
    push(&s.sync(), &pool, &id, "ds", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    let (records, _) = pull(&s.sync(), &pool, &id, "ds", 0).await;
    assert_eq!(records[0].value(), Some("v"));
    let sessions = ssl_of_sessions(&application).await;
    assert!(!sessions.is_empty(), "the server's sessions are visible");
    sessions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_every_connection() {
    let Some(db) = TestDatabase::create("pg_tls::sslmode_require_encrypts_every_connection").await
    else {
        return;
    };
    if !offers_tls("pg_tls::sslmode_require_encrypts_every_connection").await {
        return;
    }
    let encrypted = sessions_after_a_device_flow(&db, "sslmode=require").await;
    assert!(encrypted.iter().all(|ssl| *ssl), "{encrypted:?}");
    // The check can tell: with TLS off, the same query says so.
    let plain = sessions_after_a_device_flow(&db, "sslmode=disable").await;
    assert!(plain.iter().all(|ssl| !*ssl), "{plain:?}");
}

#[test]
fn verify_full_against_a_wrong_root_refuses_to_start() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDatabase::create(
        "pg_tls::verify_full_against_a_wrong_root_refuses_to_start",
    )) else {
        return;
    };
    if !rt.block_on(offers_tls(
        "pg_tls::verify_full_against_a_wrong_root_refuses_to_start",
    )) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("wrong-root.pem");
    std::fs::write(&root, Pki::new("not the database's").root_pem()).unwrap();
    let url = with_params(
        &db.url,
        &format!("sslmode=verify-full&sslrootcert={}", root.display()),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_cogsync"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .args(["--database-url", &url])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cogsync started although the database's certificate is not trusted");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("certificate was refused") && stderr.contains("sslmode=verify-full"),
        "the message says why: {stderr}"
    );
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_ca_and_verify_full_check_the_database_certificate() {
    let Some(db) =
        TestDatabase::create("pg_tls::verify_ca_and_verify_full_check_the_database_certificate")
            .await
    else {
        return;
    };
    if !offers_tls("pg_tls::verify_ca_and_verify_full_check_the_database_certificate").await {
        return;
    }
    // The database's own certificate as the trusted root (a self-signed one, as Debian's
    // packages make it, for "localhost").
    let row = admin()
        .await
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap();
    let cert_file: String = row.get(0);
    let readable = std::fs::read_to_string(&cert_file).is_ok_and(|pem| pem.contains("CERTIFICATE"));
    if !readable || !db.url.contains("@127.0.0.1:") {
        eprintln!(
            "SKIPPED pg_tls::verify_ca_and_verify_full_check_the_database_certificate: needs the \
             database on 127.0.0.1 with a readable ssl_cert_file (have {cert_file})"
        );
        return;
    }
    let trust = format!("sslrootcert={cert_file}");
    // verify-ca: the chain is checked, not the name (the certificate names "localhost").
    let store =
        PostgresStore::connect(&with_params(&db.url, &format!("sslmode=verify-ca&{trust}"))).await;
    assert!(store.is_ok(), "{:?}", store.err());
    // verify-full to 127.0.0.1: the certificate does not name that host.
    let refused = PostgresStore::connect(&with_params(
        &db.url,
        &format!("sslmode=verify-full&{trust}"),
    ))
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(refused.contains("NotValidForName"), "{refused}");
    // verify-full to the name it does carry.
    let by_name = db.url.replace("@127.0.0.1:", "@localhost:");
    let store = PostgresStore::connect(&with_params(
        &by_name,
        &format!("sslmode=verify-full&{trust}"),
    ))
    .await;
    assert!(store.is_ok(), "{:?}", store.err());
}
