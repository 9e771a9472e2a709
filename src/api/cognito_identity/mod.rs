//! Cognito Identity (awsJson1.1): `POST /` with `X-Amz-Target: AWSCognitoIdentityService.<Op>`.
//! What each operation is (name, signed or not, handler) is one row of [`table::OPERATIONS`];
//! this file runs a request through the rows: authenticate when signed, throttle (signed
//! calls by what the signature proved, unsigned ones by their address), check access, handle.

mod credentials;
mod developer;
mod identities;
mod members;
mod pools;
pub mod table;

use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{ApiError, ErrorCode, Protocol};
use super::json;
use super::App;
use crate::auth::{Principal, RequestView};
use table::{IdentityAccess, IdentityHandler, IdentityOperation};

/// `X-Amz-Target` is this prefix (the model's `targetPrefix` and a dot) and the operation.
pub const TARGET_PREFIX: &str = "AWSCognitoIdentityService.";

/// The operation a request names when it is a Cognito Identity call: `POST /` with an
/// `X-Amz-Target` of this service. Anything else is Cognito Sync's.
pub fn target(method: &Method, path: &str, headers: &HeaderMap) -> Option<String> {
    if method != Method::POST || path != "/" {
        return None;
    }
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .map(str::to_owned)
}

/// Serves a Cognito Identity call for `target` (the operation part of `X-Amz-Target`).
/// Returns the operation name alongside, for the request log (`-` when no row has it).
pub async fn serve(
    app: &App,
    target: &str,
    view: &RequestView<'_>,
    from: Option<std::net::IpAddr>,
) -> (Result<Response, ApiError>, &'static str) {
    let op = table::find(target);
    let result = async {
        // A target no row has is answered as unknown whoever sends it, signed or not.
        if op.is_none() {
            app.throttle.admit_unsigned(from)?;
            return Err(handler(target, op).err().unwrap_or_else(|| {
                ApiError::new(ErrorCode::UnknownOperation, "Unknown operation")
            }));
        }
        let principal = match table::access(op) {
            // Unsigned calls name any pool and identity they like: they count toward their
            // address only.
            IdentityAccess::Unsigned => {
                app.throttle.admit_unsigned(from)?;
                None
            }
            IdentityAccess::Developer => {
                app.throttle.before_verifying(from)?;
                match app.auth.authenticate(view, "cognito-identity") {
                    Ok(p) => Some(p),
                    Err(e) => {
                        return Err(app.throttle.authentication_failed(from).unwrap_or(e.into()))
                    }
                }
            }
        };
        if let Some(principal) = &principal {
            let pool = match app.throttle.limits_pools() {
                true => named_pool(view.body),
                false => None,
            };
            app.throttle.admit(principal, pool.as_deref())?;
        }
        run(app, target, op, principal.as_ref(), view.body).await
    };
    let result = result.await.map_err(|e| e.with_protocol(Protocol::AwsJson));
    (result, op.map_or("-", |o| o.name))
}

/// Runs the operation `target` names. `principal` is None for the unsigned operations; every
/// signed one needs developer credentials. (The fuzz targets' entry point.)
#[cfg(feature = "fuzzing")]
pub async fn dispatch(
    app: &App,
    target: &str,
    principal: Option<&Principal>,
    body: &[u8],
) -> Result<Response, ApiError> {
    run(app, target, table::find(target), principal, body)
        .await
        .map_err(|e| e.with_protocol(Protocol::AwsJson))
}

/// Checks in this order: the caller's access, that the body is a JSON object, that the
/// operation exists and is served; then runs its handler.
async fn run(
    app: &App,
    target: &str,
    op: Option<&'static IdentityOperation>,
    principal: Option<&Principal>,
    body: &[u8],
) -> Result<Response, ApiError> {
    check_access(target, table::access(op), principal)?;
    let body = json::object(body)?;
    let handler = handler(target, op)?;
    handler(app, &body).await.map(ok_json)
}

/// The row's access rule: signed operations (and unknown targets) take developer credentials
/// only; unsigned ones take anyone.
fn check_access(
    target: &str,
    access: IdentityAccess,
    principal: Option<&Principal>,
) -> Result<(), ApiError> {
    match (access, principal) {
        (IdentityAccess::Unsigned, _)
        | (IdentityAccess::Developer, Some(Principal::Developer { .. })) => Ok(()),
        (IdentityAccess::Developer, Some(Principal::Identity { .. }) | None) => Err(ApiError::new(
            ErrorCode::NotAuthorized,
            format!("{target} requires developer credentials"),
        )),
    }
}

/// The handler of `op`, or the answer for a target no row has (UnknownOperationException)
/// or a row not served yet (NotImplementedException).
fn handler(target: &str, op: Option<&IdentityOperation>) -> Result<IdentityHandler, ApiError> {
    let op = op.ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownOperation,
            format!("Unknown operation: {TARGET_PREFIX}{target}"),
        )
    })?;
    op.handler.ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotImplemented,
            format!("{} is not implemented by this cogsync version yet", op.name),
        )
    })
}

/// The pool a developer's request names, for rate limiting (None in a body that is not a
/// JSON object, which fails later with its own error).
fn named_pool(body: &[u8]) -> Option<String> {
    let obj = json::object(body).ok()?;
    obj.get("IdentityPoolId")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

fn ok_json(body: Value) -> Response {
    let mut resp = body.to_string().into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws_json(e: ApiError) -> ApiError {
        e.with_protocol(Protocol::AwsJson)
    }

    #[test]
    fn only_post_slash_with_this_services_prefix_is_cognito_identity() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-target",
            HeaderValue::from_static("AWSCognitoIdentityService.GetId"),
        );
        assert_eq!(
            target(&Method::POST, "/", &headers).as_deref(),
            Some("GetId")
        );
        assert_eq!(target(&Method::GET, "/", &headers), None);
        assert_eq!(target(&Method::POST, "/identitypools", &headers), None);
        headers.insert(
            "x-amz-target",
            HeaderValue::from_static("AWSCognitoSyncService.ListDatasets"),
        );
        assert_eq!(target(&Method::POST, "/", &headers), None);
        assert_eq!(target(&Method::POST, "/", &HeaderMap::new()), None);
    }

    #[test]
    fn unknown_targets_and_unserved_rows_get_the_modelled_errors() {
        let e = aws_json(handler("Frobnicate", table::find("Frobnicate")).unwrap_err());
        assert_eq!(e.code, ErrorCode::UnknownOperation);
        assert_eq!(
            e.message,
            "Unknown operation: AWSCognitoIdentityService.Frobnicate"
        );
        assert_eq!(e.status().as_u16(), 400);
        let e = aws_json(handler("TagResource", table::find("TagResource")).unwrap_err());
        assert_eq!(e.code, ErrorCode::NotImplemented);
        assert_eq!(
            e.message,
            "TagResource is not implemented by this cogsync version yet"
        );
        assert_eq!(e.status().as_u16(), 501);
        assert!(handler("GetId", table::find("GetId")).is_ok());
    }

    #[test]
    fn signed_operations_and_unknown_targets_refuse_identity_credentials() {
        let identity = Principal::Identity {
            access_key_id: "ASIA".into(),
            pool_id: "p".into(),
            identity_id: "i".into(),
            upstream: None,
        };
        let developer = Principal::Developer {
            access_key_id: "AKIA".into(),
        };
        for target in ["CreateIdentityPool", "TagResource", "Frobnicate"] {
            let access = table::access(table::find(target));
            let e = check_access(target, access, Some(&identity)).unwrap_err();
            assert_eq!(e.code, ErrorCode::NotAuthorized);
            assert_eq!(
                e.message,
                format!("{target} requires developer credentials")
            );
            assert!(check_access(target, access, Some(&developer)).is_ok());
        }
        let access = table::access(table::find("GetId"));
        assert!(check_access("GetId", access, None).is_ok());
    }
}
