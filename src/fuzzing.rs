//! Entry points shared by the `cargo fuzz` targets in `fuzz/` and by the corpus regression
//! test: each takes arbitrary bytes, drives one input-facing layer, and panics only when an
//! invariant breaks (a panic inside the server, or a server fault on mere bad input). Only with
//! the `fuzzing` feature, which `fuzz/` and the integration tests turn on.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::api::error::{ApiError, ErrorCode};
use crate::api::{route, App};
use crate::auth::{Authenticator, Principal, RequestView, SessionIssuer};
use crate::config::ServerConfig;
use crate::store::sqlite::SqliteStore;
use crate::sync::ports::{DeliveryError, PushError, PushService, TriggerError, TriggerInvoker};
use crate::tokens::TokenSigner;

/// Developer credentials the fuzz inputs may sign with.
pub const ACCESS_KEY: &str = "AKIDFUZZ000000000000";
pub const SECRET_KEY: &str = "fuzz/secret/key";
/// The instant the SigV4 target checks signatures at (seeds are dated to match).
pub const NOW_UNIX: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// Splits `data` as a small HTTP request: `METHOD PATH[?QUERY]\n`, `Name: value\n` header
/// lines, an empty line, then the body. Header lines that are not valid HTTP are skipped,
/// as hyper would have refused them before the server saw them.
fn split_request(data: &[u8]) -> (String, String, Option<String>, HeaderMap, &[u8]) {
    let mut rest = data;
    let line = |rest: &mut &[u8]| -> Option<Vec<u8>> {
        if rest.is_empty() {
            return None;
        }
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let l = rest[..end].to_vec();
        *rest = &rest[(end + 1).min(rest.len())..];
        Some(l)
    };
    let first = String::from_utf8_lossy(&line(&mut rest).unwrap_or_default()).into_owned();
    let (method, target) = first.split_once(' ').unwrap_or(("GET", &first));
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    };
    let mut headers = HeaderMap::new();
    while let Some(l) = line(&mut rest) {
        if l.is_empty() {
            break;
        }
        let Some(colon) = l.iter().position(|&b| b == b':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&l[..colon]),
            HeaderValue::from_bytes(l[colon + 1..].trim_ascii()),
        ) {
            headers.append(name, value);
        }
    }
    (method.to_owned(), path, query, headers, rest)
}

fn sigv4_authenticator() -> &'static Authenticator {
    static AUTH: OnceLock<Authenticator> = OnceLock::new();
    AUTH.get_or_init(|| {
        Authenticator::new(
            crate::auth::DeveloperCredentials {
                access_key_id: ACCESS_KEY.into(),
                secret_access_key: SECRET_KEY.into(),
            },
            SessionIssuer::new(TokenSigner::new(vec![7; 32]), 3_600_000),
        )
    })
}

/// SigV4: the Authorization header and presigned-query parsers, the date checks, session
/// tokens, and the canonical request built from the path, query and headers.
pub fn sigv4(data: &[u8]) {
    let (method, path, query, headers, body) = split_request(data);
    let view = RequestView {
        method: &method,
        raw_path: &path,
        raw_query: query.as_deref(),
        headers: &headers,
        body,
    };
    let now = OffsetDateTime::from_unix_timestamp(NOW_UNIX).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    if let Ok(p) = sigv4_authenticator().authenticate_at(&view, "cognito-sync", now) {
        // Only the real developer key or a session token this server issued can succeed.
        match p {
            Principal::Developer { access_key_id } => assert_eq!(access_key_id, ACCESS_KEY),
            Principal::Identity { .. } => panic!("a session token nobody issued was accepted"),
        }
    }
}

/// The Cognito Sync router and its percent-decoding of path labels.
pub fn router(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (method, path) = text.split_once(' ').unwrap_or(("GET", &text));
    if let Ok(r) = route::route(method, path) {
        // Every label is the decoding of exactly one raw segment: decoding never merges
        // segments or splits one at an encoded slash.
        let segments: Vec<String> = path
            .split('/')
            .map(|seg| {
                percent_encoding::percent_decode_str(seg)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        for label in [&r.pool_id, &r.identity_id, &r.dataset_name, &r.device_id] {
            assert!(
                label.is_empty() || segments.contains(label),
                "label {label:?} is no segment of {path:?}"
            );
        }
    }
}

/// Integrations that answer at once without leaving the process: push endpoints are made
/// up, pushes vanish, and the sync trigger hands the event back unchanged (what a
/// pass-through Lambda does). Fuzzing must not call out to the network, and a downstream
/// outage is a legitimate server fault that would hide real ones.
struct Loopback;

#[async_trait]
impl PushService for Loopback {
    async fn create_endpoint(
        &self,
        application_arn: &str,
        token: &str,
        _: &str,
    ) -> Result<String, DeliveryError> {
        Ok(format!("{application_arn}/endpoint/{}", token.len()))
    }
    async fn publish(&self, _: &str, _: &str) -> Result<(), PushError> {
        Ok(())
    }
}

#[async_trait]
impl TriggerInvoker for Loopback {
    async fn invoke(&self, _: &str, event: &Value) -> Result<Value, TriggerError> {
        Ok(event.clone())
    }
}

/// One server, over SQLite in a temporary directory, shared by all inputs of a process,
/// with a pool and an identity the inputs refer to as `POOL` and `IDENTITY`, and a session
/// token for its dataset `ds` they refer to as `TOKEN`.
struct Harness {
    runtime: tokio::runtime::Runtime,
    app: App,
    pool: String,
    identity: String,
    /// A SyncSessionToken for dataset `ds` of the identity.
    token: String,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let (app, pool, identity, token) = runtime.block_on(async {
            let store = Arc::new(SqliteStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}")));
            let config = ServerConfig::new(
                "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
                dir.path().to_path_buf(),
                crate::auth::DeveloperCredentials {
                    access_key_id: ACCESS_KEY.into(),
                    secret_access_key: SECRET_KEY.into(),
                },
            );
            let loopback = Arc::new(Loopback);
            let app = crate::server::build_app(
                &config,
                store,
                Arc::new(Notify::new()),
                loopback.clone(),
                loopback,
                &crate::server::upstream::Upstream::none(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            let pool = identity_call(
                &app,
                "CreateIdentityPool",
                br#"{"IdentityPoolName":"fuzz","AllowUnauthenticatedIdentities":true}"#,
            )
            .await["IdentityPoolId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let body = format!(r#"{{"IdentityPoolId":"{pool}"}}"#);
            let identity = identity_call(&app, "GetId", body.as_bytes()).await["IdentityId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let path = format!("/identitypools/{pool}/identities/{identity}/datasets/ds/records");
            let token = match route::route("GET", &path) {
                Ok(r) => match crate::api::dispatch_sync(&app, &developer(), &r, None, b"").await {
                    Ok(resp) => json_of(resp).await["SyncSessionToken"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    Err(e) => panic!("fuzz harness setup failed: {}", e.message),
                },
                Err(e) => panic!("fuzz harness setup failed: {}", e.message),
            };
            (app, pool, identity, token)
        });
        Harness {
            runtime,
            app,
            pool,
            identity,
            token,
            _dir: dir,
        }
    })
}

async fn identity_call(app: &App, op: &str, body: &[u8]) -> Value {
    let principal = developer();
    match crate::api::dispatch_identity(app, op, Some(&principal), body).await {
        Ok(resp) => json_of(resp).await,
        Err(e) => panic!("fuzz harness setup failed: {}", e.message),
    }
}

async fn json_of(resp: axum::response::Response) -> Value {
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn developer() -> Principal {
    Principal::Developer {
        access_key_id: ACCESS_KEY.into(),
    }
}

/// Bad input must be answered with a client error; a server fault means a bug.
fn check(result: Result<axum::response::Response, ApiError>, input: &str) {
    if let Err(e) = result {
        assert!(
            e.code != ErrorCode::InternalError,
            "server fault on input {input:?}: {}",
            e.message
        );
    }
}

fn fill_in(text: &str, h: &Harness) -> String {
    text.replace("POOL", &h.pool)
        .replace("IDENTITY", &h.identity)
        .replace("TOKEN", &h.token)
}

/// [`fill_in`] for a body, leaving bytes that are not UTF-8 exactly as they came.
fn fill_in_body(body: &[u8], h: &Harness) -> Vec<u8> {
    match std::str::from_utf8(body) {
        Ok(text) => fill_in(text, h).into_bytes(),
        Err(_) => body.to_vec(),
    }
}

/// Cognito Sync: `METHOD PATH[?QUERY]\n` then the body (JSON or not), run as the developer
/// (or, when the line starts with `!`, as the identity itself).
pub fn sync_request(data: &[u8]) {
    let h = harness();
    let end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let line = fill_in(&String::from_utf8_lossy(&data[..end]), h);
    let body = data.get(end + 1..).unwrap_or_default();
    let body = fill_in_body(body, h);
    let (as_identity, line) = match line.strip_prefix('!') {
        Some(l) => (true, l.to_owned()),
        None => (false, line),
    };
    let (method, target) = line.split_once(' ').unwrap_or(("GET", &line));
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let Ok(r) = route::route(method, path) else {
        return;
    };
    let principal = if as_identity {
        Principal::Identity {
            access_key_id: "ASIAFUZZ".into(),
            pool_id: h.pool.clone(),
            identity_id: h.identity.clone(),
            upstream: None,
        }
    } else {
        developer()
    };
    let result = h.runtime.block_on(crate::api::dispatch_sync(
        &h.app, &principal, &r, query, &body,
    ));
    check(result, &line);
}

/// Cognito Identity: `Operation\n` then the JSON body, run as the developer.
pub fn identity_request(data: &[u8]) {
    let h = harness();
    let end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let op = String::from_utf8_lossy(&data[..end]).trim().to_owned();
    let body = data.get(end + 1..).unwrap_or_default();
    let body = fill_in_body(body, h);
    let principal = developer();
    let result = h.runtime.block_on(crate::api::dispatch_identity(
        &h.app,
        &op,
        Some(&principal),
        &body,
    ));
    check(result, &op);
}
