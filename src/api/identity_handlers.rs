//! Cognito Identity (awsJson1.1) operations: `POST /` with
//! `X-Amz-Target: AWSCognitoIdentityService.<Operation>`.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::error::{ApiError, ErrorCode, Protocol};
use super::json;
use super::App;
use crate::identity::PoolSpec;
use crate::store::{IdentityRecord, PoolRecord};
use crate::timeutil::ms_to_epoch_seconds;

pub const TARGET_PREFIX: &str = "AWSCognitoIdentityService.";

/// Operations callable without a signature (the model marks them `smithy.api#noAuth`).
pub fn is_unsigned(op: &str) -> bool {
    matches!(
        op,
        "GetId" | "GetCredentialsForIdentity" | "GetOpenIdToken" | "UnlinkIdentity"
    )
}

/// Every operation of the Cognito Identity model, so unknown names can be told apart from
/// known ones this version does not serve.
const MODEL_OPERATIONS: &[&str] = &[
    "CreateIdentityPool",
    "DeleteIdentities",
    "DeleteIdentityPool",
    "DescribeIdentity",
    "DescribeIdentityPool",
    "GetCredentialsForIdentity",
    "GetId",
    "GetIdentityPoolRoles",
    "GetOpenIdToken",
    "GetOpenIdTokenForDeveloperIdentity",
    "GetPrincipalTagAttributeMap",
    "ListIdentities",
    "ListIdentityPools",
    "ListTagsForResource",
    "LookupDeveloperIdentity",
    "MergeDeveloperIdentities",
    "SetIdentityPoolRoles",
    "SetPrincipalTagAttributeMap",
    "TagResource",
    "UnlinkDeveloperIdentity",
    "UnlinkIdentity",
    "UntagResource",
    "UpdateIdentityPool",
];

fn ok_json(body: Value) -> Response {
    let mut resp = body.to_string().into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    resp
}

/// The pool members cogsync interprets; every other member is kept as sent.
const INTERPRETED: &[&str] = &[
    "IdentityPoolId",
    "IdentityPoolName",
    "AllowUnauthenticatedIdentities",
    "DeveloperProviderName",
];

fn pool_spec(body: &json::Object) -> Result<PoolSpec, ApiError> {
    let extra = body
        .iter()
        .filter(|(k, v)| !INTERPRETED.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(PoolSpec {
        name: json::req_str(body, "IdentityPoolName")?,
        allow_unauthenticated: json::req_bool(body, "AllowUnauthenticatedIdentities")?,
        developer_provider_name: json::opt_str(body, "DeveloperProviderName")?,
        extra,
    })
}

fn pool_json(p: &PoolRecord) -> Value {
    let mut out = match serde_json::from_str::<Value>(&p.extra_json) {
        Ok(Value::Object(m)) => Value::Object(m),
        _ => json!({}),
    };
    out["IdentityPoolId"] = json!(p.id);
    out["IdentityPoolName"] = json!(p.name);
    out["AllowUnauthenticatedIdentities"] = json!(p.allow_unauthenticated);
    if let Some(dev) = &p.developer_provider_name {
        out["DeveloperProviderName"] = json!(dev);
    }
    out
}

fn identity_json(i: &IdentityRecord) -> Value {
    json!({
        "IdentityId": i.id,
        "Logins": [],
        "CreationDate": ms_to_epoch_seconds(i.created_ms),
        "LastModifiedDate": ms_to_epoch_seconds(i.last_modified_ms),
    })
}

fn with_next(mut v: Value, next: Option<String>) -> Value {
    if let Some(t) = next {
        v["NextToken"] = json!(t);
    }
    v
}

fn max_results(body: &json::Object) -> Result<i64, ApiError> {
    json::opt_i64(body, "MaxResults")?.ok_or_else(|| crate::validate::missing("maxResults").into())
}

/// Runs one Cognito Identity operation (authentication already checked by the caller).
pub async fn dispatch(app: &App, op: &str, body: &[u8]) -> Result<Response, ApiError> {
    let run = async {
        let body = json::object(body)?;
        let ids = &app.identity;
        let out = match op {
            "CreateIdentityPool" => pool_json(&ids.create_pool(pool_spec(&body)?).await?),
            "DescribeIdentityPool" => pool_json(
                &ids.describe_pool(&json::req_str(&body, "IdentityPoolId")?)
                    .await?,
            ),
            "UpdateIdentityPool" => {
                let id = json::req_str(&body, "IdentityPoolId")?;
                pool_json(&ids.update_pool(&id, pool_spec(&body)?).await?)
            }
            "DeleteIdentityPool" => {
                ids.delete_pool(&json::req_str(&body, "IdentityPoolId")?)
                    .await?;
                json!({})
            }
            "ListIdentityPools" => {
                let (pools, next) = ids
                    .list_pools(
                        max_results(&body)?,
                        json::opt_str(&body, "NextToken")?.as_deref(),
                    )
                    .await?;
                let list: Vec<Value> = pools
                    .iter()
                    .map(|p| json!({ "IdentityPoolId": p.id, "IdentityPoolName": p.name }))
                    .collect();
                with_next(json!({ "IdentityPools": list }), next)
            }
            "GetId" => {
                let pool_id = json::req_str(&body, "IdentityPoolId")?;
                let has_logins = json::opt_object(&body, "Logins")?.is_some_and(|m| !m.is_empty());
                let identity = ids.get_id(&pool_id, has_logins).await?;
                json!({ "IdentityId": identity.id })
            }
            "ListIdentities" => {
                let pool_id = json::req_str(&body, "IdentityPoolId")?;
                let (list, next) = ids
                    .list_identities(
                        &pool_id,
                        max_results(&body)?,
                        json::opt_str(&body, "NextToken")?.as_deref(),
                    )
                    .await?;
                let list: Vec<Value> = list.iter().map(identity_json).collect();
                with_next(
                    json!({ "IdentityPoolId": pool_id, "Identities": list }),
                    next,
                )
            }
            "DescribeIdentity" => identity_json(
                &ids.describe_identity(&json::req_str(&body, "IdentityId")?)
                    .await?,
            ),
            known if MODEL_OPERATIONS.contains(&known) => {
                return Err(ApiError::new(
                    ErrorCode::NotImplemented,
                    format!("{known} is not implemented by this cogsync version yet"),
                ))
            }
            unknown => {
                return Err(ApiError::new(
                    ErrorCode::UnknownOperation,
                    format!("Unknown operation: {TARGET_PREFIX}{unknown}"),
                ))
            }
        };
        Ok::<_, ApiError>(ok_json(out))
    };
    run.await.map_err(|e| e.with_protocol(Protocol::AwsJson))
}
