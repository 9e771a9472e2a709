//! A stream webhook's receiver on 127.0.0.1, as a team would write one: it checks every POST's
//! Standard Webhooks signature itself (HMAC-SHA256 over `id.timestamp.body` with the
//! `whsec_` secret's bytes, five minutes' tolerance; written here, not taken from cogsync),
//! keeps what it accepted, and can be told to fail (an outage), to answer 410 (gone) or to
//! redirect elsewhere (which must not be followed).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// What the receiver answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Accept,
    Fail(u16),
    Gone,
    Redirect,
}

/// One POST the receiver saw.
#[derive(Clone, Debug)]
pub struct Post {
    pub id: String,
    pub body: Value,
    pub partition_key: String,
    pub stream: String,
    /// What it was answered.
    pub status: u16,
}

struct Receiver {
    key: Vec<u8>,
    mode: Mutex<Mode>,
    posts: Mutex<Vec<Post>>,
    bad: Mutex<Vec<String>>,
    redirected_to: AtomicUsize,
}

pub struct FakeWebhook {
    receiver: Arc<Receiver>,
    pub url: String,
    /// The `whsec_` secret cogsync signs with.
    pub secret: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeWebhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeWebhook {
    pub async fn start() -> FakeWebhook {
        let mut key = vec![0u8; 32];
        getrandom::fill(&mut key).unwrap();
        let secret = format!("whsec_{}", STANDARD.encode(&key));
        let receiver = Arc::new(Receiver {
            key,
            mode: Mutex::new(Mode::Accept),
            posts: Mutex::new(Vec::new()),
            bad: Mutex::new(Vec::new()),
            redirected_to: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/hook", post(hook))
            .route("/elsewhere", post(elsewhere))
            .with_state(receiver.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeWebhook {
            receiver,
            url,
            secret,
            task,
        }
    }

    pub fn set(&self, mode: Mode) {
        *self.receiver.mode.lock().unwrap() = mode;
    }

    /// Every POST seen, in arrival order.
    pub fn posts(&self) -> Vec<Post> {
        self.receiver.posts.lock().unwrap().clone()
    }

    /// The POSTs accepted (2xx), in arrival order.
    pub fn accepted(&self) -> Vec<Post> {
        let posts = self.posts();
        posts.into_iter().filter(|p| p.status < 300).collect()
    }

    /// Requests whose signature did not verify, and why.
    pub fn bad(&self) -> Vec<String> {
        self.receiver.bad.lock().unwrap().clone()
    }

    /// POSTs that reached the redirect's target (cogsync must follow none).
    pub fn redirected(&self) -> usize {
        self.receiver.redirected_to.load(Ordering::SeqCst)
    }
}

/// The receiver's own check of the Standard Webhooks headers.
fn verify(key: &[u8], headers: &HeaderMap, body: &[u8]) -> Result<String, String> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| format!("no {name}"))
    };
    let (id, ts, sigs) = (
        get("webhook-id")?,
        get("webhook-timestamp")?,
        get("webhook-signature")?,
    );
    let ts: i64 = ts.parse().map_err(|_| format!("timestamp {ts}"))?;
    if (cogsync::testing::idp::now_s() - ts).abs() > 300 {
        return Err(format!("timestamp {ts} out of tolerance"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    if !sigs.split(' ').any(|s| s == expected) {
        return Err(format!("signature {sigs} for {id}"));
    }
    Ok(id)
}

async fn hook(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: bytes::Bytes) -> Response {
    let id = match verify(&r.key, &headers, &body) {
        Ok(id) => id,
        Err(why) => {
            r.bad.lock().unwrap().push(why);
            return StatusCode::UNAUTHORIZED.into_response();
        }
    };
    let mode = *r.mode.lock().unwrap();
    let status = match mode {
        Mode::Accept => 204,
        Mode::Fail(status) => status,
        Mode::Gone => 410,
        Mode::Redirect => 307,
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    r.posts.lock().unwrap().push(Post {
        id,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        partition_key: header("cogsync-partition-key"),
        stream: header("cogsync-stream"),
        status,
    });
    let code = StatusCode::from_u16(status).unwrap();
    if mode == Mode::Redirect {
        return (code, [("location", "/elsewhere")]).into_response();
    }
    code.into_response()
}

async fn elsewhere(State(r): State<Arc<Receiver>>) -> StatusCode {
    r.redirected_to.fetch_add(1, Ordering::SeqCst);
    StatusCode::NO_CONTENT
}
