//! Test support for Cognito Streams: a Kinesis client on moto, a stream reader, and a TCP
//! proxy that can be cut to simulate an outage.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kinesis as kinesis;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

pub fn client(endpoint: &str) -> kinesis::Client {
    let conf = kinesis::Config::builder()
        .behavior_version(kinesis::config::BehaviorVersion::latest())
        .region(kinesis::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    kinesis::Client::from_conf(conf)
}

/// Creates a stream with a unique name and waits until it is active.
pub async fn new_stream(k: &kinesis::Client) -> String {
    let name = format!("cogsync-{}", uuid::Uuid::new_v4().simple());
    k.create_stream()
        .stream_name(&name)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    for _ in 0..50 {
        let d = k.describe_stream().stream_name(&name).send().await.unwrap();
        if d.stream_description().map(|s| s.stream_status().as_str()) == Some("ACTIVE") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    name
}

/// Every record on the stream so far, parsed as JSON, in shard order.
pub async fn read_all(k: &kinesis::Client, stream: &str) -> Vec<Value> {
    let shards = k.list_shards().stream_name(stream).send().await.unwrap();
    let mut out = Vec::new();
    for shard in shards.shards() {
        let mut iter = k
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        loop {
            let got = k
                .get_records()
                .shard_iterator(&iter)
                .limit(10_000)
                .send()
                .await
                .unwrap();
            for r in got.records() {
                out.push(serde_json::from_slice(r.data().as_ref()).unwrap());
            }
            match got.next_shard_iterator() {
                Some(next) if !got.records().is_empty() => iter = next.to_string(),
                _ => break,
            }
        }
    }
    out
}

/// Waits until the stream holds at least `n` records (or the time runs out) and returns them.
pub async fn read_at_least(
    k: &kinesis::Client,
    stream: &str,
    n: usize,
    within: Duration,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let all = read_all(k, stream).await;
        if all.len() >= n || start.elapsed() > within {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A TCP proxy to `upstream` whose link can be cut: while down it refuses connections and
/// has dropped every open one.
pub struct Proxy {
    pub url: String,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<JoinSet<()>>>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        let target = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<JoinSet<()>>> = Arc::default();
        let (up2, open2) = (up.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                open2.lock().await.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy { url, up, open }
    }

    pub async fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            self.open.lock().await.abort_all();
        }
    }
}
