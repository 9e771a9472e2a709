//! Faults between cogsync and PostgreSQL, made by a TCP forwarder the test controls: a COMMIT
//! whose reply is cut is answered with the truth (asserted against the database), and a
//! stalled connection is given up within the store deadline, after which the server recovers.
//! Every failed request's log line is one JSON object with one `message`.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::*;

const PASS: u8 = 0;
/// The next COMMIT a client sends reaches the server; its reply never comes back, and the
/// connection is cut.
const CUT_ON_COMMIT: u8 = 1;
/// No byte goes either way; sockets stay open.
const STALL: u8 = 2;

/// A TCP forwarder to PostgreSQL in one of the modes above.
struct Faults {
    port: u16,
    mode: Arc<AtomicU8>,
}

impl Faults {
    async fn start(database: String) -> Faults {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(PASS));
        let shared = mode.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (database, mode) = (database.clone(), shared.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(database).await {
                        forward(client, server, mode).await;
                    }
                });
            }
        });
        Faults { port, mode }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

/// Pumps bytes both ways as the mode says, until either side closes or a commit is cut.
async fn forward(client: TcpStream, server: TcpStream, mode: Arc<AtomicU8>) {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let cut = Arc::new(tokio::sync::Notify::new());
    let replies_cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let upstream = {
        let (mode, cut, replies_cut) = (mode.clone(), cut.clone(), replies_cut.clone());
        async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = from_client.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                while mode.load(Ordering::SeqCst) == STALL {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let chunk = &buf[..n];
                let commit = chunk.windows(6).any(|w| w == b"COMMIT");
                if commit
                    && mode
                        .compare_exchange(CUT_ON_COMMIT, PASS, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                {
                    // Its reply must not get through: cut replies first, then deliver it.
                    replies_cut.store(true, Ordering::SeqCst);
                    let _ = to_server.write_all(chunk).await;
                    // Give the server the moment it needs to read it, then cut.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    cut.notify_waiters();
                    return;
                }
                if to_server.write_all(chunk).await.is_err() {
                    return;
                }
            }
        }
    };
    let downstream = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = from_server.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            while mode.load(Ordering::SeqCst) == STALL {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if replies_cut.load(Ordering::SeqCst) || to_client.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
        _ = cut.notified() => {}
    }
}

/// A server whose database connections all pass through a [`Faults`] forwarder.
async fn server_behind_faults(test: &str, store_timeout: Duration) -> Option<(TestServer, Faults)> {
    let db = cogsync::testing::TestDatabase::create(test).await?;
    let authority = db
        .url
        .trim_start_matches("postgres://")
        .split(['/', '?'])
        .next()
        .unwrap()
        .rsplit('@')
        .next()
        .unwrap()
        .to_owned();
    let database = match authority.contains(':') {
        true => authority.clone(),
        false => format!("{authority}:5432"),
    };
    let faults = Faults::start(database).await;
    // In clear text, so the forwarder can tell a COMMIT when it passes.
    let url = db
        .url
        .replacen(&authority, &format!("127.0.0.1:{}", faults.port), 1);
    let url = match url.contains('?') {
        true => format!("{url}&sslmode=disable"),
        false => format!("{url}?sslmode=disable"),
    };
    let s = TestServer::start_in(tempfile::tempdir().unwrap(), Some(db), |c| {
        c.database_url = Some(url);
        c.store_timeout = store_timeout;
    })
    .await;
    Some((s, faults))
}

/// The value the database holds for a record, read directly (not through cogsync).
async fn stored(s: &TestServer, id: &str, key: &str) -> Option<String> {
    let url = &s.database.as_ref().unwrap().url;
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .query_opt(
            "SELECT value FROM records WHERE identity_id = $1 AND dataset_name = 'ds' AND key = $2",
            &[&id, &key],
        )
        .await
        .unwrap()
        .and_then(|r| r.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_reply_is_cut_is_answered_with_the_truth() {
    let test = "pg_faults::a_commit_whose_reply_is_cut_is_answered_with_the_truth";
    let Some((s, faults)) = server_behind_faults(test, Duration::from_secs(10)).await else {
        return;
    };
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    for n in 0..10 {
        let key = format!("k{n}");
        let token = session_token(&c, &pool, &id, "ds").await;
        faults.set(CUT_ON_COMMIT);
        let answer = c
            .update_records()
            .identity_pool_id(&pool)
            .identity_id(&id)
            .dataset_name("ds")
            .sync_session_token(token)
            .record_patches(replace(&key, "v", 0))
            .send()
            .await;
        assert_eq!(
            faults.mode.load(Ordering::SeqCst),
            PASS,
            "the COMMIT was cut: {answer:?}"
        );
        let in_database = stored(&s, &id, &key).await;
        match answer {
            Ok(_) => assert_eq!(
                in_database.as_deref(),
                Some("v"),
                "round {n}: answered applied"
            ),
            Err(e) => {
                let (code, message) = code_of(&e);
                assert_eq!(code, "InternalErrorException");
                match in_database {
                    // Never "nothing was changed" for a write that is there.
                    Some(_) => assert!(message.contains("may or may not"), "round {n}: {message}"),
                    None => assert!(!message.contains("applied."), "round {n}: {message}"),
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_database_is_given_up_within_the_deadline_and_the_server_recovers() {
    let test =
        "pg_faults::a_stalled_database_is_given_up_within_the_deadline_and_the_server_recovers";
    let deadline = Duration::from_secs(2);
    let Some((s, faults)) = server_behind_faults(test, deadline).await else {
        return;
    };
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    push(&c, &pool, &id, "ds", vec![replace("before", "1", 0)])
        .await
        .unwrap();
    let token = session_token(&c, &pool, &id, "ds").await;
    faults.set(STALL);
    let started = Instant::now();
    let stalled = c
        .update_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("ds")
        .sync_session_token(token)
        .record_patches(replace("during", "x", 0))
        .send()
        .await;
    let waited = started.elapsed();
    let (code, message) = code_of(&stalled.unwrap_err());
    assert_eq!(code, "InternalErrorException", "{message}");
    // The deadline, and at most the time to look up a lost commit, plus a margin.
    assert!(
        waited < deadline + Duration::from_secs(4),
        "waited {waited:?}"
    );
    faults.set(PASS);
    // The stalled connections were dropped: the pool reconnects and serves again.
    let mut recovered = false;
    for _ in 0..100 {
        if try_list(&c, &pool, &id).await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the server did not recover after the stall");
    let in_database = stored(&s, &id, "during").await;
    if in_database.is_some() {
        assert!(message.contains("may or may not"), "{message}");
    }
}
