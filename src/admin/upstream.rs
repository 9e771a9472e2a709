//! Upstream mode on the admin listener: `POST /upstream/detach?pool=P` runs the detach of a
//! pool in this server (the way `cogsync upstream detach` reaches a server that holds its
//! embedded store) and answers its lines; `GET /upstream/status` lists the pools' attachments
//! and this node's traffic for each. Both need a request signed (SigV4, service
//! `cogsync-admin`) with the developer credentials.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::api::App;
use crate::auth::{Principal, RequestView};
use crate::migrate::source::Source;
use crate::store::Store;
use crate::upstream::Attachments;

/// The signing name of the admin listener's own API.
pub const SERVICE: &str = "cogsync-admin";

pub struct UpstreamAdmin {
    pub app: Arc<App>,
    pub store: Arc<dyn Store>,
    pub source: Option<Arc<Source>>,
    pub attachments: Arc<Attachments>,
}

pub fn router(state: Arc<UpstreamAdmin>) -> axum::Router {
    axum::Router::new()
        .route("/upstream/detach", post(detach))
        .route("/upstream/status", get(status))
        .with_state(state)
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [("content-type", "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The request's signature, which must be the developer's; why not, in words.
fn developer(
    u: &UpstreamAdmin,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let view = RequestView {
        method: method.as_str(),
        raw_path: uri.path(),
        raw_query: uri.query(),
        headers,
        body,
    };
    match u.app.auth.authenticate(&view, SERVICE) {
        Ok(Principal::Developer { .. }) => Ok(()),
        Ok(Principal::Identity { .. }) => Err("developer credentials only".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(serde::Deserialize)]
struct PoolParam {
    pool: String,
}

async fn detach(
    State(u): State<Arc<UpstreamAdmin>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<PoolParam>,
    body: Bytes,
) -> Response {
    if let Err(why) = developer(&u, &method, &uri, &headers, &body) {
        return text(StatusCode::FORBIDDEN, format!("{why}\n"));
    }
    let Some(source) = u.source.clone() else {
        return text(
            StatusCode::CONFLICT,
            "this server was started without an upstream (--upstream-endpoint or --upstream-region)\n".into(),
        );
    };
    let lines = Arc::new(Mutex::new(Vec::new()));
    let said = lines.clone();
    let say = move |line: String| {
        tracing::info!(detach = %line);
        said.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    };
    // The detach goes on if the caller hangs up: it runs in a task of its own.
    let store = u.store.clone();
    let pool = q.pool.clone();
    let run =
        tokio::spawn(
            async move { crate::migrate::detach::run(&*store, &source, &pool, &say).await },
        );
    let outcome = run.await;
    let mut body = lines.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
    body.push('\n');
    match outcome {
        Ok(Ok(_)) => text(StatusCode::OK, body),
        Ok(Err(e)) => text(StatusCode::CONFLICT, format!("{body}{e}\n")),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{body}{e}\n")),
    }
}

async fn status(
    State(u): State<Arc<UpstreamAdmin>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(why) = developer(&u, &method, &uri, &headers, &[]) {
        return text(StatusCode::FORBIDDEN, format!("{why}\n"));
    }
    let rows = match u.store.upstream_pools().await {
        Ok(rows) => rows,
        Err(e) => return text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    };
    let traffic = u.attachments.traffic();
    let mut out = String::new();
    for r in rows {
        let t = traffic
            .iter()
            .find(|(p, _)| *p == r.pool_id)
            .map(|(_, t)| *t)
            .unwrap_or_default();
        let dirty = u.store.dirty(&r.pool_id, 1000).await.map_or(0, |d| d.len());
        out.push_str(&format!(
            "{} {} {} since {}; through this node: {} reads, {} writes forwarded; {} datasets caught up by the background copy; {} identities to read again\n",
            r.pool_id,
            r.state.as_str(),
            r.upstream,
            crate::timeutil::iso8601(r.changed_ms),
            t.forwarded_reads,
            t.forwarded_writes,
            t.caught_up,
            dirty,
        ));
    }
    if out.is_empty() {
        out.push_str("no pool is attached to an upstream\n");
    }
    text(StatusCode::OK, out)
}
