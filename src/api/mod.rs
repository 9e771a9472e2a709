//! HTTP: one endpoint serving Cognito Sync (restJson1, routed by method and path) and the
//! Cognito Identity subset (awsJson1.1, `POST /` with `X-Amz-Target`). Each API has one
//! operation table ([`cognito_sync::table`], [`cognito_identity::table`]) from which its
//! routing, access rules, operation names and handlers come. Here: request ids, the request
//! log, body limits, and telling the two APIs apart; the rules live in the services.

mod body;
pub mod client_addr;
mod cognito_identity;
mod cognito_sync;
pub mod error;
pub mod error_log;
mod json;
#[cfg(test)]
mod model_operations;
pub mod throttle;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use crate::auth::{Authenticator, RequestView};
use crate::identity::IdentityService;
use crate::sync::SyncService;
use error::{ApiError, ErrorCode, Protocol};

pub use body::MAX_BODY_BYTES;
#[cfg(feature = "fuzzing")]
pub(crate) use cognito_identity::dispatch as dispatch_identity;
#[cfg(feature = "fuzzing")]
pub(crate) use cognito_sync::dispatch as dispatch_sync;
pub use cognito_sync::route;

/// What an operation's handler returns: its JSON response body, or why not.
pub type Reply<'a> = Pin<Box<dyn Future<Output = Result<serde_json::Value, ApiError>> + Send + 'a>>;

/// Everything a request handler needs.
pub struct App {
    pub sync: SyncService,
    pub identity: IdentityService,
    pub auth: Authenticator,
    /// Shown as LastModifiedBy for writes made with developer credentials.
    pub account_id: String,
    /// Request-rate limits per identity, pool and address.
    pub throttle: throttle::Throttle,
    /// Proxies whose `X-Forwarded-For` names the client's address (for the address limits).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a client may take to send a request body.
    pub body_read_timeout: Duration,
    /// What every request adds to the exported metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The failed requests' log lines, a few per kind of failure (see [`error_log`]).
    pub error_log: error_log::ErrorLog,
    /// How long a request's store work may take (see [`crate::deadline`]).
    pub store_timeout: Duration,
}

/// The axum service: every request goes through [`handle`].
pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(app)
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let started = Instant::now();
    let request_id = request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let deadline = tokio::time::Instant::now() + app.store_timeout;
    let (result, api, op) = crate::deadline::within(deadline, serve(&app, req)).await;
    let mut error = None;
    let mut resp = match result {
        Ok(resp) => resp,
        Err(e) => {
            error = Some(e.code.shape());
            log_failure(&app, &e, &request_id, &method, &path, op);
            e.into_response()
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    app.metrics
        .request(api, op, status, elapsed.as_secs_f64(), error);
    tracing::debug!(
        %request_id, %method, %path, op, status,
        micros = elapsed.as_micros() as u64, "request"
    );
    resp
}

/// A request id shaped as AWS's (a version 4 UUID). It only has to be unique, not secret, so
/// it comes from a fast per-thread generator rather than a system call per request.
fn request_id() -> String {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
        .into_uuid()
        .to_string()
}

/// The one log line of a failed request (unless its kind was logged moments ago; see
/// [`error_log`]): server errors at ERROR, refusals at WARN, sync conflicts at DEBUG.
fn log_failure(
    app: &App,
    e: &ApiError,
    request_id: &str,
    method: &axum::http::Method,
    path: &str,
    op: &'static str,
) {
    let status = e.status();
    let code = e.code.shape();
    if e.code == ErrorCode::ResourceConflict {
        tracing::debug!(%request_id, op, reason = %e.message, "sync conflict");
        return;
    }
    let severe = status.is_server_error() && status != axum::http::StatusCode::NOT_IMPLEMENTED;
    if app.error_log.admit(op, code, severe) == error_log::Verdict::Count {
        return;
    }
    let detail = e.detail.as_deref().unwrap_or("");
    if severe {
        tracing::error!(%request_id, %method, %path, op, status = status.as_u16(), code, reason = %e.message, detail, "request failed");
    } else {
        tracing::warn!(%request_id, %method, %path, op, status = status.as_u16(), code, reason = %e.message, detail, "request refused");
    }
}

/// Reads the body (bounded) and hands the request to its API. Returns the API's and the
/// operation's names alongside, for the log and the metrics (`-`: no operation).
async fn serve(
    app: &App,
    req: Request,
) -> (Result<Response, ApiError>, &'static str, &'static str) {
    let (parts, raw_body) = req.into_parts();
    let peer = parts.extensions.get::<client_addr::Peer>().copied();
    let from = client_addr::client_ip(peer, &parts.headers, &app.trusted_proxies);
    let target = cognito_identity::target(&parts.method, parts.uri.path(), &parts.headers);
    let (protocol, api) = match target {
        Some(_) => (Protocol::AwsJson, "cognito-identity"),
        None => (Protocol::RestJson, "cognito-sync"),
    };
    if let Err(e) = body::check_declared_length(&parts.headers) {
        return (Err(e.with_protocol(protocol)), api, "-");
    }
    let body = match body::read(raw_body, app.body_read_timeout).await {
        Ok(b) => b,
        Err(e) => return (Err(e.with_protocol(protocol)), api, "-"),
    };
    let view = RequestView {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    let (result, op) = match target {
        Some(target) => cognito_identity::serve(app, &target, &view, from).await,
        None => cognito_sync::serve(app, &view, from).await,
    };
    (result, api, op)
}
