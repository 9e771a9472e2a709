//! Crash safety: writers push multi-record updates while the real `cogsync` process is
//! killed with SIGKILL at random moments and restarted on the same data. After each crash
//! every acknowledged write must be there, and no update may be half-applied: a request
//! either landed whole or not at all. On SQLite and on PostgreSQL.
//!
//! `COGSYNC_CRASH_ROUNDS` sets the number of kills (4 by default; the long run in
//! docs/testing.md uses 50). The random seed is printed so a failure can be replayed with
//! `COGSYNC_CRASH_SEED`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cognitosync as cs;

use crate::common::*;
use crate::process::{spawn, Proc};

const WRITERS: usize = 6;
const KEYS: [&str; 3] = ["k0", "k1", "k2"];

/// What one writer knows about its dataset.
#[derive(Clone, Debug, Default)]
struct Writer {
    /// Generation of the last acknowledged update, and the sync count it produced.
    acked: u64,
    count: i64,
    /// An update sent but never answered (the server died): it may or may not have landed.
    in_doubt: Option<u64>,
}

/// A small xorshift generator: the test needs cheap, replayable randomness, nothing more.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn dev_client(endpoint: &str) -> cs::Client {
    sync_client(endpoint, ACCESS_KEY, SECRET_KEY, None)
}

/// Writes generation after generation to dataset `w` until the server stops answering.
async fn write_until_dead(
    c: cs::Client,
    pool: String,
    id: String,
    w: usize,
    state: Arc<Mutex<Writer>>,
) {
    let ds = format!("crash{w}");
    loop {
        let (generation, count) = {
            let s = state.lock().unwrap();
            (s.acked + 1, s.count)
        };
        let Ok(listed) = c
            .list_records()
            .identity_pool_id(&pool)
            .identity_id(&id)
            .dataset_name(&ds)
            .send()
            .await
        else {
            return;
        };
        let value = format!("g{generation}");
        let patches = KEYS
            .iter()
            .map(|k| replace(k, &value, count))
            .collect::<Vec<_>>();
        state.lock().unwrap().in_doubt = Some(generation);
        let sent = c
            .update_records()
            .identity_pool_id(&pool)
            .identity_id(&id)
            .dataset_name(&ds)
            .sync_session_token(listed.sync_session_token.unwrap_or_default())
            .set_record_patches(Some(patches))
            .send()
            .await;
        match sent {
            Ok(out) => {
                let mut s = state.lock().unwrap();
                s.acked = generation;
                s.count = out
                    .records()
                    .iter()
                    .map(|r| r.sync_count().unwrap_or(0))
                    .max()
                    .unwrap_or(0);
                s.in_doubt = None;
            }
            // A connection error: the server is gone and this update is in doubt.
            Err(cs::error::SdkError::DispatchFailure(_))
            | Err(cs::error::SdkError::ResponseError(_))
            | Err(cs::error::SdkError::TimeoutError(_)) => return,
            Err(e) => panic!(
                "writer {w}: the server refused a valid update: {:?}",
                code_of(&e)
            ),
        }
    }
}

/// Reads every writer's dataset after a restart and checks it against what was acknowledged;
/// settles in-doubt updates to what the server holds.
async fn check_and_settle(c: &cs::Client, pool: &str, id: &str, writers: &[Arc<Mutex<Writer>>]) {
    for (w, state) in writers.iter().enumerate() {
        let ds = format!("crash{w}");
        let mut s = state.lock().unwrap().clone();
        let (records, out) = pull(c, pool, id, &ds, 0).await;
        if s.acked == 0 && s.in_doubt.is_none() {
            continue;
        }
        let values: HashMap<&str, (&str, i64)> = records
            .iter()
            .map(|r| {
                (
                    r.key().unwrap(),
                    (r.value().unwrap_or(""), r.sync_count().unwrap_or(0)),
                )
            })
            .collect();
        let held = if values.is_empty() {
            None
        } else {
            Some(values[KEYS[0]])
        };
        // All keys carry the same generation and count: the last update landed whole.
        for k in KEYS {
            assert_eq!(
                values.get(k).copied(),
                held,
                "writer {w}: update half-applied: {values:?}"
            );
        }
        let generation = held.map(|(v, _)| v.trim_start_matches('g').parse::<u64>().unwrap());
        let acceptable = [Some(s.acked).filter(|g| *g > 0), s.in_doubt];
        assert!(
            acceptable.contains(&generation),
            "writer {w}: server holds generation {generation:?}, acknowledged {} (in doubt {:?})",
            s.acked,
            s.in_doubt
        );
        // Nothing landed and nothing was acknowledged (the writer's first update was in
        // flight at the kill): it starts again from scratch.
        let Some((_, count)) = held else {
            s.in_doubt = None;
            *state.lock().unwrap() = s;
            continue;
        };
        assert_eq!(
            out.dataset_sync_count(),
            Some(count),
            "writer {w}: dataset count"
        );
        s.acked = generation.unwrap();
        s.count = count;
        s.in_doubt = None;
        *state.lock().unwrap() = s;
    }
}

async fn crash_run(extra: &[&str], label: &str) {
    let rounds: usize = std::env::var("COGSYNC_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let seed = std::env::var("COGSYNC_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test ({label}): {rounds} rounds, COGSYNC_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let start = || spawn(dir.path(), Some((ACCESS_KEY, SECRET_KEY)), extra);
    let mut server: Proc = start();
    let (pool, id) = pool_and_identity_at(&server.endpoint).await;
    let writers: Vec<Arc<Mutex<Writer>>> = (0..WRITERS).map(|_| Arc::default()).collect();
    let mut acknowledged = 0;
    for round in 0..rounds {
        let endpoint = server.endpoint.clone();
        let tasks: Vec<_> = writers
            .iter()
            .enumerate()
            .map(|(w, s)| {
                tokio::spawn(write_until_dead(
                    dev_client(&endpoint),
                    pool.clone(),
                    id.clone(),
                    w,
                    s.clone(),
                ))
            })
            .collect();
        let before: u64 = writers.iter().map(|s| s.lock().unwrap().acked).sum();
        tokio::time::sleep(Duration::from_millis(200 + rng.below(800))).await;
        server.child.kill().unwrap(); // SIGKILL: no shutdown, no flush, nothing.
        server.child.wait().unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        let after: u64 = writers.iter().map(|s| s.lock().unwrap().acked).sum();
        acknowledged += after - before;
        server = start();
        let endpoint = server.endpoint.clone();
        check_and_settle(&dev_client(&endpoint), &pool, &id, &writers).await;
        eprintln!(
            "crash test ({label}): round {round}: {} updates acknowledged",
            after - before
        );
    }
    assert!(
        acknowledged >= rounds as u64,
        "the workload barely ran: {acknowledged} updates"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_write_on_sqlite() {
    crash_run(&[], "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_write_on_postgres() {
    let Some(db) = cogsync::testing::TestDatabase::create(
        "it::crash::sigkill_loses_no_acknowledged_write_on_postgres",
    )
    .await
    else {
        return;
    };
    crash_run(&["--database-url", &db.url], "postgres").await;
}
