//! Cognito Identity (awsJson1.1) operations: `POST /` with
//! `X-Amz-Target: AWSCognitoIdentityService.<Operation>`.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::error::{ApiError, ErrorCode, Protocol};
use super::json;
use super::App;
use crate::auth::Principal;
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

fn identity_json(i: &IdentityRecord, providers: &[String]) -> Value {
    json!({
        "IdentityId": i.id,
        "Logins": providers,
        "CreationDate": ms_to_epoch_seconds(i.created_ms),
        "LastModifiedDate": ms_to_epoch_seconds(i.last_modified_ms),
    })
}

/// The `Logins` map as (provider, token) pairs.
fn logins(body: &json::Object) -> Result<Vec<(String, String)>, ApiError> {
    let Some(map) = json::opt_object(body, "Logins")? else {
        return Ok(Vec::new());
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(t) => Ok((k.clone(), t.clone())),
            _ => Err(ApiError::invalid(format!(
                "Logins value for '{k}' must be a string"
            ))),
        })
        .collect()
}

fn string_list(body: &json::Object, name: &str) -> Result<Vec<String>, ApiError> {
    let Some(list) = json::opt_array(body, name)? else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(ApiError::invalid(format!(
                "Members of '{name}' must be strings"
            ))),
        })
        .collect()
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

/// The pool and identity a request names, for rate limiting (either may be absent; a body
/// that is not a JSON object names neither and fails later with its own error).
pub fn throttle_keys(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(obj) = json::object(body) else {
        return (None, None);
    };
    let pick = |name: &str| obj.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    (pick("IdentityPoolId"), pick("IdentityId"))
}

/// Runs one Cognito Identity operation. `principal` is None for the unsigned operations;
/// every signed one needs developer credentials.
pub async fn dispatch(
    app: &App,
    op: &str,
    principal: Option<&Principal>,
    body: &[u8],
) -> Result<Response, ApiError> {
    run(app, op, principal, body)
        .await
        .map(ok_json)
        .map_err(|e| e.with_protocol(Protocol::AwsJson))
}

async fn run(
    app: &App,
    op: &str,
    principal: Option<&Principal>,
    body: &[u8],
) -> Result<Value, ApiError> {
    if let Some(Principal::Identity { .. }) = principal {
        return Err(ApiError::new(
            ErrorCode::NotAuthorized,
            format!("{op} requires developer credentials"),
        ));
    }
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
            let next = json::opt_str(&body, "NextToken")?;
            let (pools, next) = ids.list_pools(max_results(&body)?, next.as_deref()).await?;
            let list: Vec<Value> = pools
                .iter()
                .map(|p| json!({ "IdentityPoolId": p.id, "IdentityPoolName": p.name }))
                .collect();
            with_next(json!({ "IdentityPools": list }), next)
        }
        "GetId" => {
            let pool_id = json::req_str(&body, "IdentityPoolId")?;
            if let Some(account) = json::opt_str(&body, "AccountId")? {
                crate::validate::length(&account, "accountId", 1, 15)?;
            }
            let identity = ids.get_id(&pool_id, &logins(&body)?).await?;
            json!({ "IdentityId": identity.id })
        }
        "GetCredentialsForIdentity" => {
            let id = json::req_str(&body, "IdentityId")?;
            crate::validate::aws_id(&id, "identityId")?;
            if let Some(arn) = json::opt_str(&body, "CustomRoleArn")? {
                crate::validate::length(&arn, "customRoleArn", 20, 2048)?;
            }
            let (pool, _) = ids.authorize_identity(&id, &logins(&body)?, true).await?;
            let creds = app.auth.issue_credentials(&pool.id, &id).map_err(|e| {
                ApiError::new(
                    ErrorCode::InternalError,
                    format!("cannot issue credentials: {e}"),
                )
            })?;
            json!({
                "IdentityId": id,
                "Credentials": {
                    "AccessKeyId": creds.access_key_id,
                    "SecretKey": creds.secret_access_key,
                    "SessionToken": creds.session_token,
                    "Expiration": ms_to_epoch_seconds(creds.expiration_ms),
                },
            })
        }
        "GetOpenIdToken" => {
            let id = json::req_str(&body, "IdentityId")?;
            crate::validate::aws_id(&id, "identityId")?;
            let t = ids.open_id_token(&id, &logins(&body)?).await?;
            json!({ "IdentityId": t.identity_id, "Token": t.token })
        }
        "GetOpenIdTokenForDeveloperIdentity" => {
            let pool_id = json::req_str(&body, "IdentityPoolId")?;
            let identity = json::opt_str(&body, "IdentityId")?;
            let t = ids
                .open_id_token_for_developer(
                    &pool_id,
                    identity.as_deref(),
                    &logins(&body)?,
                    json::opt_i64(&body, "TokenDuration")?,
                )
                .await?;
            json!({ "IdentityId": t.identity_id, "Token": t.token })
        }
        "LookupDeveloperIdentity" => {
            let (identity, users) = ids
                .lookup_developer_identity(
                    &json::req_str(&body, "IdentityPoolId")?,
                    json::opt_str(&body, "IdentityId")?.as_deref(),
                    json::opt_str(&body, "DeveloperUserIdentifier")?.as_deref(),
                    json::opt_i64(&body, "MaxResults")?,
                )
                .await?;
            json!({ "IdentityId": identity, "DeveloperUserIdentifierList": users })
        }
        "MergeDeveloperIdentities" => {
            let id = ids
                .merge_developer_identities(
                    &json::req_str(&body, "IdentityPoolId")?,
                    &json::req_str(&body, "DeveloperProviderName")?,
                    &json::req_str(&body, "SourceUserIdentifier")?,
                    &json::req_str(&body, "DestinationUserIdentifier")?,
                )
                .await?;
            json!({ "IdentityId": id })
        }
        "UnlinkDeveloperIdentity" => {
            ids.unlink_developer_identity(
                &json::req_str(&body, "IdentityPoolId")?,
                &json::req_str(&body, "IdentityId")?,
                &json::req_str(&body, "DeveloperProviderName")?,
                &json::req_str(&body, "DeveloperUserIdentifier")?,
            )
            .await?;
            json!({})
        }
        "UnlinkIdentity" => {
            let id = json::req_str(&body, "IdentityId")?;
            crate::validate::aws_id(&id, "identityId")?;
            ids.unlink_identity(&id, &logins(&body)?, &string_list(&body, "LoginsToRemove")?)
                .await?;
            json!({})
        }
        "DeleteIdentities" => {
            let unprocessed = ids
                .delete_identities(&string_list(&body, "IdentityIdsToDelete")?)
                .await?;
            let list: Vec<Value> = unprocessed
                .iter()
                .map(|id| json!({ "IdentityId": id, "ErrorCode": "InternalServerError" }))
                .collect();
            json!({ "UnprocessedIdentityIds": list })
        }
        "ListIdentities" => {
            let pool_id = json::req_str(&body, "IdentityPoolId")?;
            let next = json::opt_str(&body, "NextToken")?;
            let (list, next) = ids
                .list_identities(&pool_id, max_results(&body)?, next.as_deref())
                .await?;
            let mut out = Vec::with_capacity(list.len());
            for i in &list {
                out.push(identity_json(i, &ids.login_providers(&i.id).await?));
            }
            with_next(
                json!({ "IdentityPoolId": pool_id, "Identities": out }),
                next,
            )
        }
        "DescribeIdentity" => {
            let i = ids
                .describe_identity(&json::req_str(&body, "IdentityId")?)
                .await?;
            identity_json(&i, &ids.login_providers(&i.id).await?)
        }
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
    Ok(out)
}
