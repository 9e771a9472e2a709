//! FCM HTTP v1 and Google's OAuth 2.0 token endpoint, faked on 127.0.0.1 as the real ones
//! answer, for the direct-push tests:
//!
//! - `POST /token`: the JWT-bearer grant. The assertion must be RS256, signed by the test
//!   service account's key (checked against its public half), name the key (`kid`), the
//!   account (`iss`), FCM's scope and this endpoint (`aud`), and live at most an hour. It
//!   answers a fresh access token; every request is counted, and refused ones are kept.
//! - `POST /v1/projects/<project>/messages:send`: only with a token it issued, for its
//!   project, a data-only message whose values are all strings. What it answers a device token
//!   can be scripted (UNREGISTERED, a run of 503s); sends are recorded.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

pub const PROJECT: &str = "cogsync-test";
pub const CLIENT_EMAIL: &str = "pusher@cogsync-test.iam.gserviceaccount.com";
pub const KEY_ID: &str = "8f0f3c4b2a";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// One accepted message: the device token and its data.
#[derive(Clone, Debug)]
pub struct Sent {
    pub token: String,
    pub data: Value,
}

#[derive(Default)]
struct Fcm {
    url: String,
    issued: Mutex<Vec<String>>,
    token_requests: AtomicUsize,
    refused: Mutex<Vec<String>>,
    sent: Mutex<Vec<Sent>>,
    attempts: Mutex<HashMap<String, usize>>,
    /// Answers to give a device token before the default (200), in order.
    script: Mutex<HashMap<String, VecDeque<(u16, Value)>>>,
    /// Answered to every attempt for these tokens.
    unregistered: Mutex<Vec<String>>,
}

pub struct FakeFcm {
    fcm: Arc<Fcm>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeFcm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `google.rpc.Status` FCM answers an unregistered token with.
pub fn unregistered() -> (u16, Value) {
    (
        404,
        json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}),
    )
}

/// FCM's 503.
pub fn unavailable() -> (u16, Value) {
    (
        503,
        json!({"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}}),
    )
}

impl FakeFcm {
    pub async fn start() -> FakeFcm {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fcm = Arc::new(Fcm {
            url: format!("http://{}", listener.local_addr().unwrap()),
            ..Default::default()
        });
        let app = Router::new()
            .route("/token", post(token))
            .route("/v1/projects/{project}/messages:send", post(send))
            .with_state(fcm.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeFcm { fcm, task }
    }

    /// The base URL (`--provider-url fcm.googleapis.com=<this>`).
    pub fn url(&self) -> &str {
        &self.fcm.url
    }

    /// The service account's JSON key, its token endpoint this fake's.
    pub fn service_account_json(&self) -> String {
        let key = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/rsa-2048.pk8.pem"
        ))
        .unwrap();
        json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": KEY_ID,
            "private_key": key,
            "client_email": CLIENT_EMAIL,
            "client_id": "123456789012345678901",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": format!("{}/token", self.fcm.url),
        })
        .to_string()
    }

    pub fn token_requests(&self) -> usize {
        self.fcm.token_requests.load(Ordering::SeqCst)
    }

    /// Why token requests were refused (none, when cogsync signs right).
    pub fn refused(&self) -> Vec<String> {
        self.fcm.refused.lock().unwrap().clone()
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.fcm.sent.lock().unwrap().clone()
    }

    pub fn sent_to(&self, token: &str) -> Vec<Sent> {
        self.sent()
            .into_iter()
            .filter(|s| s.token == token)
            .collect()
    }

    /// Requests for `token` so far, answered however.
    pub fn attempts(&self, token: &str) -> usize {
        self.fcm
            .attempts
            .lock()
            .unwrap()
            .get(token)
            .copied()
            .unwrap_or(0)
    }

    /// Answers `token`'s next requests with `answers`, in order.
    pub fn script(&self, token: &str, answers: Vec<(u16, Value)>) {
        self.fcm
            .script
            .lock()
            .unwrap()
            .insert(token.to_owned(), answers.into());
    }

    /// Answers UNREGISTERED to every request for `token`.
    pub fn unregister(&self, token: &str) {
        self.fcm.unregistered.lock().unwrap().push(token.to_owned());
    }

    /// Takes `token` back (the app was installed again and handed it over).
    pub fn reregister(&self, token: &str) {
        self.fcm.unregistered.lock().unwrap().retain(|t| t != token);
    }
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
            (k.to_owned(), v.into_owned())
        })
        .collect()
}

/// The public half of the fixture key.
fn public_key() -> DecodingKey {
    let jwk: Value = serde_json::from_str(include_str!("../fixtures/rsa-2048.jwk.json")).unwrap();
    DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
        .unwrap()
}

/// Why `assertion` is not a valid grant from the test account, if it is not.
fn check_assertion(fcm: &Fcm, assertion: &str) -> Result<(), String> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| e.to_string())?;
    if header.alg != Algorithm::RS256 || header.kid.as_deref() != Some(KEY_ID) {
        return Err(format!("header {header:?}"));
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[format!("{}/token", fcm.url)]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let claims = jsonwebtoken::decode::<Value>(assertion, &public_key(), &validation)
        .map_err(|e| format!("assertion: {e}"))?
        .claims;
    if claims["scope"] != SCOPE {
        return Err(format!("scope {}", claims["scope"]));
    }
    let life = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    if !(1..=3600).contains(&life) {
        return Err(format!("lifetime {life}"));
    }
    Ok(())
}

async fn token(State(fcm): State<Arc<Fcm>>, headers: HeaderMap, body: String) -> Response {
    fcm.token_requests.fetch_add(1, Ordering::SeqCst);
    let f = form(&body);
    let checked = if headers.get("content-type").and_then(|v| v.to_str().ok())
        != Some("application/x-www-form-urlencoded")
    {
        Err("not a form".to_string())
    } else if f.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        Err(format!("grant_type {:?}", f.get("grant_type")))
    } else {
        check_assertion(&fcm, f.get("assertion").map(String::as_str).unwrap_or(""))
    };
    if let Err(why) = checked {
        fcm.refused.lock().unwrap().push(why.clone());
        return status(
            400,
            json!({"error": "invalid_grant", "error_description": why}),
        );
    }
    let mut issued = fcm.issued.lock().unwrap();
    let access = format!("ya29.fake-{}", issued.len() + 1);
    issued.push(access.clone());
    status(
        200,
        json!({"access_token": access, "expires_in": 3599, "token_type": "Bearer"}),
    )
}

fn status(code: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(code).unwrap(),
        [("content-type", "application/json; charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

async fn send(
    State(fcm): State<Arc<Fcm>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !fcm.issued.lock().unwrap().iter().any(|t| t == bearer) {
        return status(
            401,
            json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}),
        );
    }
    if project != PROJECT {
        return status(
            403,
            json!({"error": {"code": 403, "status": "PERMISSION_DENIED"}}),
        );
    }
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return status(
            400,
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT"}}),
        );
    };
    let message = &v["message"];
    let data = &message["data"];
    let strings = data
        .as_object()
        .is_some_and(|d| d.values().all(Value::is_string));
    let data_only = message.get("notification").is_none();
    let token = message["token"].as_str().unwrap_or("").to_owned();
    if !strings || !data_only || token.is_empty() {
        return status(
            400,
            json!({"error": {"code": 400, "message": format!("Invalid message {message}"), "status": "INVALID_ARGUMENT"}}),
        );
    }
    *fcm.attempts
        .lock()
        .unwrap()
        .entry(token.clone())
        .or_default() += 1;
    if fcm.unregistered.lock().unwrap().contains(&token) {
        let (code, body) = unregistered();
        return status(code, body);
    }
    let scripted = fcm
        .script
        .lock()
        .unwrap()
        .get_mut(&token)
        .and_then(VecDeque::pop_front);
    if let Some((code, body)) = scripted {
        return status(code, body);
    }
    let mut sent = fcm.sent.lock().unwrap();
    sent.push(Sent {
        token,
        data: data.clone(),
    });
    status(
        200,
        json!({"name": format!("projects/{PROJECT}/messages/{}", sent.len())}),
    )
}
