//! What the clients of a run do: each gets ready (session tokens, pre-signed requests), then
//! loops over its workload's requests until the budget is spent, counting into a shared
//! [`Tally`]; write workloads keep a ledger of acknowledged writes, checked against the
//! server's state afterwards.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::Method;
use serde_json::Value;

use super::client::{HttpClient, Reply};
use super::replay::Replay;
use super::workloads::Workload;
use super::{Budget, Device};

/// Shared counters of one run.
pub(crate) struct Tally {
    pub(crate) started: Instant,
    pub(crate) budget: Budget,
    pub(crate) issued: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) conflicts: AtomicU64,
    pub(crate) latencies: Mutex<Vec<u32>>,
    pub(crate) first_error: Mutex<Option<String>>,
}

impl Tally {
    /// Claims the next request, or false when the budget is spent.
    fn next(&self) -> bool {
        if self.started.elapsed() >= self.budget.duration {
            return false;
        }
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        self.budget.max_requests.is_none_or(|max| n < max)
    }

    /// Counts an error, keeping the first one's text.
    pub(crate) fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(e);
        }
    }

    fn latency(&self, since: Instant) {
        let us = since.elapsed().as_micros().min(u32::MAX as u128) as u32;
        if let Ok(mut l) = self.latencies.lock() {
            l.push(us);
        }
    }

    /// Times one request and classifies its outcome.
    async fn timed(
        &self,
        f: impl std::future::Future<Output = Result<Reply, String>>,
        conflict_ok: bool,
    ) -> Option<Value> {
        let t = Instant::now();
        let result = f.await;
        self.latency(t);
        match result {
            Ok(r) if r.status == 200 => Some(r.body),
            Ok(r) if r.status == 409 && conflict_ok => {
                self.conflicts.fetch_add(1, Ordering::Relaxed);
                None
            }
            Ok(r) => {
                self.error(format!("HTTP {}: {}", r.status, r.body));
                None
            }
            Err(e) => {
                self.error(e);
                None
            }
        }
    }
}

/// Keys and their (value, count) as the server acknowledged them, per device.
pub(crate) type Ledger = Arc<Mutex<HashMap<usize, HashMap<String, (String, i64)>>>>;

fn ack(ledger: &Ledger, device: usize, key: &str, value: &str, count: i64) {
    if let Ok(mut l) = ledger.lock() {
        let entry = l
            .entry(device)
            .or_default()
            .entry(key.to_owned())
            .or_insert((String::new(), 0));
        if count > entry.1 {
            *entry = (value.to_owned(), count);
        }
    }
}

fn written_count(body: &Value) -> Option<i64> {
    body["Records"]
        .as_array()?
        .iter()
        .filter_map(|r| r["SyncCount"].as_i64())
        .max()
}

fn counts_of(body: &Value) -> HashMap<String, i64> {
    body["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r["Key"].as_str()?.to_owned(), r["SyncCount"].as_i64()?)))
        .collect()
}

/// Puts 10 records in each device's dataset for the list workloads.
pub(crate) async fn prepare_list(devices: &[Device]) -> Result<(), String> {
    for d in devices {
        let token = d.session_token().await?;
        let patches: Vec<_> = (0..10)
            .map(|i| (format!("key{i}"), format!("value {i}"), 0))
            .collect();
        let r = d.update(&token, &patches).await?;
        if r.status != 200 {
            return Err(format!("preparing list data: HTTP {} {}", r.status, r.body));
        }
    }
    Ok(())
}

/// What a client gets ready before the timed run (outside the time and the CPU measured).
pub(crate) enum Ready {
    Nothing,
    /// A SyncSessionToken for the writes.
    Token(String),
    /// A connection replaying one pre-signed request, and the records each answer must hold.
    Replay(Replay, usize),
}

/// The GET echo answers in the echo workloads (a list path, signed like one).
fn echo_path(d: &Device) -> String {
    format!(
        "/identitypools/{}/identities/{}/datasets/x/records?lastSyncCount=0",
        d.pool, d.identity
    )
}

pub(crate) async fn get_ready(
    workload: Workload,
    d: &Device,
    echo: &HttpClient,
) -> Result<Ready, String> {
    Ok(match workload {
        Workload::Echo | Workload::List | Workload::GetId | Workload::DevLogin => Ready::Nothing,
        Workload::Update
        | Workload::Sync
        | Workload::Conflict
        | Workload::UpdateHot
        | Workload::Stream => Ready::Token(d.session_token().await?),
        Workload::EchoReplay => {
            let request = echo.presign(Method::GET, &echo_path(d), &[], &[], Some(&d.signer))?;
            Ready::Replay(Replay::connect(echo.host(), request).await?, 0)
        }
        Workload::ListReplay => {
            let request = d.presign_list(0)?;
            Ready::Replay(Replay::connect(d.http.host(), request).await?, 10)
        }
    })
}

/// Sends the pre-signed request until the budget is spent; an answer other than a 200 with
/// `records` records is an error.
async fn replay_loop(mut replay: Replay, records: usize, tally: &Tally) {
    while tally.next() {
        let t = Instant::now();
        let outcome = replay
            .send()
            .await
            .and_then(|(status, body)| check_replayed(status, body, records));
        tally.latency(t);
        if let Err(e) = outcome {
            tally.error(e);
        }
    }
}

fn check_replayed(status: u16, body: &[u8], records: usize) -> Result<(), String> {
    if status != 200 {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(body)));
    }
    let body: Value = serde_json::from_slice(body).map_err(|e| format!("answer: {e}"))?;
    match body["Records"].as_array().map(Vec::len) {
        Some(n) if n == records => Ok(()),
        n => Err(format!("{n:?} records, expected {records}: {body}")),
    }
}

/// One client of the timed run.
pub(crate) struct Client {
    /// Which client of the run (values written carry it).
    pub(crate) client: usize,
    /// Which device, the ledger's key.
    pub(crate) index: usize,
    pub(crate) device: Device,
    pub(crate) ready: Ready,
}

pub(crate) async fn client_loop(
    workload: Workload,
    c: Client,
    tally: Arc<Tally>,
    ledger: Ledger,
    echo: HttpClient,
) {
    let Client {
        client,
        index,
        device: d,
        ready,
    } = c;
    let token = match ready {
        Ready::Token(t) => t,
        Ready::Nothing => String::new(),
        Ready::Replay(replay, records) => return replay_loop(replay, records, &tally).await,
    };
    let echo_path = echo_path(&d);
    let mut count = 0i64;
    let mut last = 0i64;
    let mut counts: HashMap<String, i64> = HashMap::new();
    let mut n = 0u64;
    while tally.next() {
        n += 1;
        match workload {
            Workload::Echo => {
                tally
                    .timed(
                        echo.call(Method::GET, &echo_path, &[], Vec::new(), Some(&d.signer)),
                        false,
                    )
                    .await;
            }
            Workload::List => {
                tally.timed(d.list(0), false).await;
            }
            // Replaying clients run replay_loop.
            Workload::EchoReplay | Workload::ListReplay => break,
            Workload::GetId => {
                tally.timed(d.new_identity(), false).await;
            }
            Workload::DevLogin => {
                // Unique per run: the dataset name carries the workload and the level.
                let user = format!("{}-c{client}-n{n}", d.dataset);
                tally.timed(d.developer_login(&user), false).await;
            }
            Workload::Update | Workload::UpdateHot | Workload::Stream => {
                let value = format!("c{client} n{n}");
                let patch = [("k".to_string(), value.clone(), count)];
                if let Some(body) = tally.timed(d.update(&token, &patch), false).await {
                    if let Some(c) = written_count(&body) {
                        count = c;
                        ack(&ledger, index, "k", &value, c);
                    }
                }
            }
            Workload::Sync => {
                let Some(pulled) = tally.timed(d.list(last), false).await else {
                    continue;
                };
                counts.extend(counts_of(&pulled));
                last = pulled["DatasetSyncCount"].as_i64().unwrap_or(last);
                let token = pulled["SyncSessionToken"]
                    .as_str()
                    .unwrap_or(&token)
                    .to_owned();
                let patches: Vec<_> = (0..3)
                    .map(|i| {
                        let key = format!("k{i}");
                        let c = counts.get(&key).copied().unwrap_or(0);
                        (key, format!("c{client} n{n} k{i}"), c)
                    })
                    .collect();
                if !tally.next() {
                    break;
                }
                if let Some(body) = tally.timed(d.update(&token, &patches), false).await {
                    for (key, value, _) in &patches {
                        if let Some(c) = written_count(&body) {
                            counts.insert(key.clone(), c);
                            ack(&ledger, index, key, value, c);
                        }
                    }
                    if let Some(c) = written_count(&body) {
                        if c == last + 1 {
                            last = c;
                        }
                    }
                }
            }
            Workload::Conflict => {
                let Some(pulled) = tally.timed(d.list(0), false).await else {
                    continue;
                };
                let current = counts_of(&pulled).get("k").copied().unwrap_or(0);
                let token = pulled["SyncSessionToken"]
                    .as_str()
                    .unwrap_or(&token)
                    .to_owned();
                let value = format!("c{client} n{n}");
                if !tally.next() {
                    break;
                }
                if let Some(body) = tally
                    .timed(
                        d.update(&token, &[("k".into(), value.clone(), current)]),
                        true,
                    )
                    .await
                {
                    if let Some(c) = written_count(&body) {
                        ack(&ledger, index, "k", &value, c);
                    }
                }
            }
        }
    }
}

/// The server's records must equal, key by key, the last acknowledged write.
pub(crate) async fn check_ledger(devices: &[Device], ledger: &Ledger) -> Result<(), String> {
    let expected = ledger
        .lock()
        .map(|l| l.clone())
        .map_err(|_| "ledger lock poisoned".to_string())?;
    for (index, keys) in expected {
        let d = &devices[index];
        let reply = d.list(0).await?;
        if reply.status != 200 {
            return Err(format!("reading back {}: HTTP {}", d.dataset, reply.status));
        }
        let got: HashMap<String, (String, i64)> = reply.body["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some((
                    r["Key"].as_str()?.to_owned(),
                    (r["Value"].as_str()?.to_owned(), r["SyncCount"].as_i64()?),
                ))
            })
            .collect();
        for (key, want) in keys {
            if got.get(&key) != Some(&want) {
                return Err(format!(
                    "{} {key}: server has {:?}, ledger says {:?}",
                    d.dataset,
                    got.get(&key),
                    want
                ));
            }
        }
    }
    Ok(())
}
