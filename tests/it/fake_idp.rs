//! Identity providers faked on 127.0.0.1, answering as the real ones do, for the login tests:
//!
//! - OpenID Connect (Google, Apple, any issuer): the discovery document naming the real
//!   issuer, and a JWK set with `Cache-Control: max-age`; a Cognito user pool's
//!   `/.well-known/jwks.json`. The published keys can be swapped (rotation), every fetch is
//!   counted, and the provider can be taken down (503).
//! - Facebook's Graph API `debug_token`: only with the app access token `<app id>|<secret>`
//!   (else 400 `OAuthException`), answering 200 with `is_valid` for any input token.
//! - Login with Amazon's `tokeninfo` (400 `invalid_token` for unknown tokens) and
//!   `user/profile` (with the token as a Bearer).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cogsync::testing::idp::{jwks, now_s, SigningKey};
use serde_json::{json, Value};

#[derive(Default)]
struct Idp {
    issuer: String,
    url: String,
    keys: Mutex<Vec<SigningKey>>,
    down: AtomicBool,
    discovery_fetches: AtomicUsize,
    key_fetches: AtomicUsize,
    /// Facebook: the app and its secret, and what `debug_token` says of each input token.
    facebook_app: Mutex<Option<(String, String)>>,
    facebook_tokens: Mutex<HashMap<String, Value>>,
    facebook_calls: AtomicUsize,
    /// Amazon: tokeninfo and profile of each access token.
    amazon_tokens: Mutex<HashMap<String, (Value, Value)>>,
}

/// One fake provider, serving until dropped.
pub struct FakeIdp {
    idp: Arc<Idp>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeIdp {
    /// A provider whose tokens carry `issuer` (the real one, e.g. `https://accounts.google.com`),
    /// publishing `keys`.
    pub async fn start(issuer: &str, keys: &[&SigningKey]) -> FakeIdp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let idp = Arc::new(Idp {
            issuer: issuer.to_owned(),
            url,
            keys: Mutex::new(keys.iter().map(|k| (*k).clone()).collect()),
            ..Default::default()
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/keys", get(key_set))
            .route("/.well-known/jwks.json", get(key_set))
            .route("/debug_token", get(debug_token))
            .route("/auth/o2/tokeninfo", get(token_info))
            .route("/user/profile", get(profile))
            .with_state(idp.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeIdp { idp, task }
    }

    /// Where cogsync is told to reach this provider (`--provider-url NAME=<this>`).
    pub fn url(&self) -> &str {
        &self.idp.url
    }

    /// The keys published from now on.
    pub fn publish(&self, keys: &[&SigningKey]) {
        *self.idp.keys.lock().unwrap() = keys.iter().map(|k| (*k).clone()).collect();
    }

    pub fn set_down(&self, down: bool) {
        self.idp.down.store(down, Ordering::SeqCst);
    }

    /// (discovery documents, key sets) served so far.
    pub fn fetches(&self) -> (usize, usize) {
        (
            self.idp.discovery_fetches.load(Ordering::SeqCst),
            self.idp.key_fetches.load(Ordering::SeqCst),
        )
    }

    /// An ID token of this provider signed with `key`: `sub`, `aud`, an hour to live, and
    /// `extra` claims over those.
    pub fn id_token(&self, key: &SigningKey, sub: &str, aud: &str, extra: Value) -> String {
        let mut claims = json!({
            "iss": self.idp.issuer, "sub": sub, "aud": aud,
            "iat": now_s(), "exp": now_s() + 3600,
        });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        key.sign(&claims)
    }

    /// Facebook: the app whose access token `debug_token` takes.
    pub fn facebook_app(&self, app_id: &str, secret: &str) {
        *self.idp.facebook_app.lock().unwrap() = Some((app_id.into(), secret.into()));
    }

    /// Facebook: what `debug_token` says of `token` (its `data`).
    pub fn facebook_token(&self, token: &str, data: Value) {
        self.idp
            .facebook_tokens
            .lock()
            .unwrap()
            .insert(token.into(), data);
    }

    pub fn facebook_calls(&self) -> usize {
        self.idp.facebook_calls.load(Ordering::SeqCst)
    }

    /// Amazon: the tokeninfo and profile of `token`.
    pub fn amazon_token(&self, token: &str, info: Value, profile: Value) {
        self.idp
            .amazon_tokens
            .lock()
            .unwrap()
            .insert(token.into(), (info, profile));
    }
}

/// A JSON answer (what every provider sends).
fn json(status: StatusCode, value: Value) -> Response {
    (
        status,
        [("content-type", "application/json; charset=UTF-8")],
        value.to_string(),
    )
        .into_response()
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "down").into_response()
}

async fn discovery(State(idp): State<Arc<Idp>>) -> Response {
    if idp.down.load(Ordering::SeqCst) {
        return unavailable();
    }
    idp.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let doc = json!({
        "issuer": idp.issuer,
        "jwks_uri": format!("{}/keys", idp.url),
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    json(StatusCode::OK, doc)
}

async fn key_set(State(idp): State<Arc<Idp>>) -> Response {
    if idp.down.load(Ordering::SeqCst) {
        return unavailable();
    }
    idp.key_fetches.fetch_add(1, Ordering::SeqCst);
    let keys = idp.keys.lock().unwrap().clone();
    let set = jwks(&keys.iter().collect::<Vec<_>>());
    let mut answer = json(StatusCode::OK, set);
    answer.headers_mut().insert(
        "cache-control",
        "public, max-age=3600, must-revalidate".parse().unwrap(),
    );
    answer
}

fn graph_error(message: &str, code: u32) -> Value {
    json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Atest"}})
}

async fn debug_token(
    State(idp): State<Arc<Idp>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if idp.down.load(Ordering::SeqCst) {
        return unavailable();
    }
    idp.facebook_calls.fetch_add(1, Ordering::SeqCst);
    let app = idp.facebook_app.lock().unwrap().clone();
    let expected = app.map(|(id, secret)| format!("{id}|{secret}"));
    if q.get("access_token") != expected.as_ref() {
        let e = graph_error("Invalid OAuth access token signature.", 190);
        return json(StatusCode::BAD_REQUEST, e);
    }
    let Some(input) = q.get("input_token") else {
        let e = graph_error("(#100) The parameter input_token is required", 100);
        return json(StatusCode::BAD_REQUEST, e);
    };
    let known = idp.facebook_tokens.lock().unwrap().get(input).cloned();
    let data = known.unwrap_or_else(|| {
        json!({
            "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"},
            "is_valid": false, "scopes": [],
        })
    });
    json(StatusCode::OK, json!({ "data": data }))
}

fn invalid_token() -> Response {
    let e = json!({"error_description": "The request has an invalid parameter : access_token", "error": "invalid_token"});
    json(StatusCode::BAD_REQUEST, e)
}

async fn token_info(
    State(idp): State<Arc<Idp>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if idp.down.load(Ordering::SeqCst) {
        return unavailable();
    }
    let tokens = idp.amazon_tokens.lock().unwrap();
    match q.get("access_token").and_then(|t| tokens.get(t)) {
        Some((info, _)) => json(StatusCode::OK, info.clone()),
        None => invalid_token(),
    }
}

async fn profile(State(idp): State<Arc<Idp>>, headers: HeaderMap) -> Response {
    if idp.down.load(Ordering::SeqCst) {
        return unavailable();
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let tokens = idp.amazon_tokens.lock().unwrap();
    match token.and_then(|t| tokens.get(t)) {
        Some((_, profile)) => json(StatusCode::OK, profile.clone()),
        None => invalid_token(),
    }
}
