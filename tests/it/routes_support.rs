//! Test support for a deployment without AWS: AWS settings that reach nothing (so a call to
//! SNS or Kinesis fails the test's expectations instead of reaching anything), routes made
//! from the flags' own text with their secrets in a temporary directory, a pool configured
//! the AWS way, devices registered and subscribed through the SDK, and the store's view of a
//! device.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_cognitosync::types::{CognitoStreams, Platform, PushSync, StreamingStatus};
use cogsync::integrations::routes::{spec, RouteSpecs, Routes};

use crate::common::*;

/// An account's platform applications, as SNS names them (SNS never hears of them here).
pub const GCM_APP: &str = "arn:aws:sns:us-east-1:123456789012:app/GCM/cogsync-android";
pub const APNS_APP: &str = "arn:aws:sns:us-east-1:123456789012:app/APNS_SANDBOX/cogsync-ios";
pub const ROLE: &str = "arn:aws:iam::123456789012:role/cognito";

/// AWS endpoints nobody listens on (the discard port): SNS, Kinesis and Lambda unreachable.
pub fn nowhere() -> cogsync::integrations::aws::AwsSettings {
    aws_at("http://127.0.0.1:9")
}

/// Files holding secrets, and the routes the flags' text makes of them.
pub struct RouteFlags {
    pub dir: tempfile::TempDir,
    pub fcm: Vec<String>,
    pub apns: Vec<String>,
    pub webhooks: Vec<String>,
    pub nats: Vec<String>,
    pub ca_file: Option<PathBuf>,
}

impl RouteFlags {
    pub fn new() -> RouteFlags {
        RouteFlags {
            dir: tempfile::tempdir().unwrap(),
            fcm: Vec::new(),
            apns: Vec::new(),
            webhooks: Vec::new(),
            nats: Vec::new(),
            ca_file: None,
        }
    }

    /// Writes a secret file; its path.
    pub fn secret(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// The routes, resolved as `cogsync serve` resolves its flags.
    pub fn routes(&self) -> Routes {
        let fcm = parse(&self.fcm, spec::fcm);
        let apns = parse(&self.apns, spec::apns);
        let webhooks = parse(&self.webhooks, spec::webhook);
        let nats = parse(&self.nats, spec::nats);
        Routes::resolve(&RouteSpecs {
            fcm: &fcm,
            apns: &apns,
            webhooks: &webhooks,
            nats: &nats,
            ca_file: self.ca_file.as_deref(),
        })
        .unwrap()
    }
}

/// Each flag value `texts` read by `f`.
fn parse<T>(texts: &[String], f: fn(&str) -> Result<T, String>) -> Vec<T> {
    texts.iter().map(|t| f(t).unwrap()).collect()
}

/// Sets the pool's PushSync to `apps`, as on AWS.
pub async fn push_sync(s: &TestServer, pool: &str, apps: &[&str]) {
    let mut push = PushSync::builder().role_arn(ROLE);
    for app in apps {
        push = push.application_arns(*app);
    }
    s.sync()
        .set_identity_pool_configuration()
        .identity_pool_id(pool)
        .push_sync(push.build())
        .send()
        .await
        .unwrap();
}

/// Sets the pool's Cognito Streams to `stream`, enabled, as on AWS.
pub async fn streams(s: &TestServer, pool: &str, stream: &str) {
    s.sync()
        .set_identity_pool_configuration()
        .identity_pool_id(pool)
        .cognito_streams(
            CognitoStreams::builder()
                .stream_name(stream)
                .role_arn(ROLE)
                .streaming_status(StreamingStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// The pool's StreamingStatus, as GetIdentityPoolConfiguration says.
pub async fn streaming_status(s: &TestServer, pool: &str) -> Option<String> {
    let out = s
        .sync()
        .get_identity_pool_configuration()
        .identity_pool_id(pool)
        .send()
        .await
        .unwrap();
    out.cognito_streams()
        .and_then(|c| c.streaming_status())
        .map(|s| s.as_str().to_owned())
}

/// Registers `token` for the identity (its own credentials) and subscribes it to `dataset`;
/// the device id.
pub async fn device(
    c: &aws_sdk_cognitosync::Client,
    pool: &str,
    id: &str,
    platform: Platform,
    token: &str,
    dataset: &str,
) -> String {
    let device = c
        .register_device()
        .identity_pool_id(pool)
        .identity_id(id)
        .platform(platform)
        .token(token)
        .send()
        .await
        .unwrap()
        .device_id
        .unwrap();
    c.subscribe_to_dataset()
        .identity_pool_id(pool)
        .identity_id(id)
        .dataset_name(dataset)
        .device_id(&device)
        .send()
        .await
        .unwrap();
    device
}

/// An UpdateRecords of `key` made by device `writer` (so it is not pushed itself).
pub async fn write_from(
    c: &aws_sdk_cognitosync::Client,
    pool: &str,
    id: &str,
    dataset: &str,
    writer: &str,
    key: &str,
    value: &str,
) {
    let listed = c
        .list_records()
        .identity_pool_id(pool)
        .identity_id(id)
        .dataset_name(dataset)
        .send()
        .await
        .unwrap();
    let count = listed
        .records()
        .iter()
        .find(|r| r.key() == Some(key))
        .map_or(0, |r| r.sync_count().unwrap_or(0));
    c.update_records()
        .identity_pool_id(pool)
        .identity_id(id)
        .dataset_name(dataset)
        .device_id(writer)
        .sync_session_token(listed.sync_session_token().unwrap())
        .record_patches(replace(key, value, count))
        .send()
        .await
        .unwrap();
}

/// The stored device: (endpoint column, disabled).
pub fn stored_device(s: &TestServer, device: &str) -> (String, bool) {
    let db = rusqlite::Connection::open(s.data_dir().join("cogsync.sqlite3")).unwrap();
    db.query_row(
        "SELECT endpoint_arn, disabled FROM devices WHERE id = ?1",
        [device],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// Undelivered outbox events.
pub fn outbox_rows(s: &TestServer) -> i64 {
    let db = rusqlite::Connection::open(s.data_dir().join("cogsync.sqlite3")).unwrap();
    db.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
        .unwrap()
}

/// Waits until `done` holds (checked every 50 ms), failing with `what` after `limit`.
pub async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
