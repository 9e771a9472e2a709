//! Cognito Sync (restJson1): routed by HTTP method and path. What each operation is (name,
//! method, path, who may call it, handler) is one row of [`table::OPERATIONS`]; this file
//! runs a request through the rows: route, authenticate, throttle (by what the signature
//! proved), check the row's access rule, handle.

mod bulk_publish;
mod datasets;
mod devices;
mod pool_config;
mod query;
mod records;
pub mod route;
pub mod table;
mod usage;

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{ApiError, ErrorCode};
use super::App;
use crate::auth::{Principal, RequestView};
use crate::sync::{Caller, DatasetRef, SyncService};
use query::Query;
use route::Route;
use table::{Access, Liveness};

/// What a handler gets: the service, the caller (access rules already applied), the route's
/// path labels, the query and the raw body.
#[derive(Clone, Copy)]
pub struct SyncCall<'a> {
    pub sync: &'a SyncService,
    pub caller: &'a Caller,
    pub route: &'a Route,
    pub query: &'a Query,
    pub body: &'a [u8],
}

impl SyncCall<'_> {
    /// The dataset the path names.
    fn dataset(&self) -> DatasetRef {
        DatasetRef {
            pool_id: self.route.pool_id.clone(),
            identity_id: self.route.identity_id.clone(),
            dataset_name: self.route.dataset_name.clone(),
        }
    }
}

/// Serves a request that is not Cognito Identity's. Returns the operation name alongside,
/// for the request log (`-` when no row matches).
pub async fn serve(
    app: &App,
    view: &RequestView<'_>,
    from: Option<std::net::IpAddr>,
) -> (Result<Response, ApiError>, &'static str) {
    let route = match route::route(view.method, view.raw_path) {
        Ok(r) => r,
        Err(e) => return (Err(e), "-"),
    };
    let result = async {
        app.throttle.before_verifying(from)?;
        let principal = match app.auth.authenticate(view, "cognito-sync") {
            Ok(p) => p,
            Err(e) => return Err(app.throttle.authentication_failed(from).unwrap_or(e.into())),
        };
        app.throttle.admit(&principal, Some(&route.pool_id))?;
        dispatch(app, &principal, &route, view.raw_query, view.body).await
    };
    (result.await, route.op.name)
}

/// Runs one routed operation for an authenticated principal: its row's access rules, then
/// its handler.
pub async fn dispatch(
    app: &App,
    principal: &Principal,
    route: &Route,
    raw_query: Option<&str>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let caller = caller_for(app, principal, route).await?;
    let query = Query::parse(raw_query);
    let call = SyncCall {
        sync: &app.sync,
        caller: &caller,
        route,
        query: &query,
        body,
    };
    (route.op.handler)(call).await.map(ok_json)
}

fn refuse(message: String) -> ApiError {
    ApiError::new(ErrorCode::NotAuthorized, message)
}

/// The caller as the sync rules see it, after the access rules of `route`'s operation: it
/// must accept the kind of credentials, and identity credentials reach only their own
/// identity in their own pool, and only while that identity exists (not merged or deleted).
pub async fn caller_for(
    app: &App,
    principal: &Principal,
    route: &Route,
) -> Result<Caller, ApiError> {
    let op = route.op.name;
    let (pool_id, identity_id, upstream) = match principal {
        Principal::Developer { .. } => {
            return match route.op.access {
                Access::Identity(_) => Err(refuse(format!(
                    "{op} requires Cognito Identity credentials (from GetCredentialsForIdentity)"
                ))),
                Access::Developer | Access::Either(_) => Ok(Caller::Developer {
                    account_id: app.account_id.clone(),
                }),
            }
        }
        Principal::Identity {
            pool_id,
            identity_id,
            upstream,
            ..
        } => (pool_id, identity_id, upstream),
    };
    let liveness = match route.op.access {
        Access::Developer => return Err(refuse(format!("{op} requires developer credentials"))),
        Access::Identity(liveness) | Access::Either(liveness) => liveness,
    };
    if route.pool_id != *pool_id || route.identity_id != *identity_id {
        return Err(refuse(format!(
            "These credentials may only access identity {identity_id} of pool {pool_id}"
        )));
    }
    let vanished = match liveness {
        Liveness::CheckedByService => false,
        Liveness::CheckedHere => !app.identity.identity_active(pool_id, identity_id).await?,
    };
    if vanished {
        return Err(refuse(format!(
            "Identity {identity_id} no longer exists (deleted or merged); get new credentials"
        )));
    }
    Ok(Caller::Identity {
        pool_id: pool_id.clone(),
        identity_id: identity_id.clone(),
        upstream: upstream.clone(),
    })
}

/// A handler's JSON response body: built as a [`Value`], or serialised already (the busiest
/// operations serialise their typed answers directly, without building a `Value` first).
pub enum Body {
    Json(Value),
    Serialized(String),
}

fn ok_json(body: Body) -> Response {
    let text = match body {
        Body::Json(value) => value.to_string(),
        Body::Serialized(text) => text,
    };
    let mut resp = text.into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}
