//! Identity pools: Create/Describe/Update/Delete/ListIdentityPools.

use serde_json::{json, Value};

use super::members::{max_results, with_next};
use crate::api::error::ApiError;
use crate::api::json::{self, Object};
use crate::api::App;
use crate::identity::PoolSpec;
use crate::store::{PoolDetails, PoolRecord};

/// The pool members cogsync interprets; every other member is kept as sent.
const INTERPRETED: &[&str] = &[
    "IdentityPoolId",
    "IdentityPoolName",
    "AllowUnauthenticatedIdentities",
    "DeveloperProviderName",
];

fn pool_spec(body: &Object) -> Result<PoolSpec, ApiError> {
    let others: Object = body
        .iter()
        .filter(|(k, v)| !INTERPRETED.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(PoolSpec {
        name: json::req_str(body, "IdentityPoolName")?,
        allow_unauthenticated: json::req_bool(body, "AllowUnauthenticatedIdentities")?,
        developer_provider_name: json::opt_str(body, "DeveloperProviderName")?,
        details: Some(details(others)?),
    })
}

/// The members of a pool other than those [`pool_spec`] reads, typed where cogsync reads them;
/// a typed member of the wrong shape is refused in the model's words.
fn details(others: Object) -> Result<PoolDetails, ApiError> {
    let shapes = [
        (
            "SupportedLoginProviders",
            "a map of provider names to app ids (strings)",
        ),
        ("OpenIdConnectProviderARNs", "a list of ARNs (strings)"),
        (
            "CognitoIdentityProviders",
            "a list of objects with ProviderName, ClientId (strings) and ServerSideTokenCheck (a boolean)",
        ),
    ];
    serde_json::from_value(Value::Object(others.clone())).map_err(|_| {
        // Which typed member it was: the first that does not read alone.
        let wrong = shapes.iter().find(|(name, _)| {
            others.get(*name).is_some_and(|v| {
                serde_json::from_value::<PoolDetails>(json!({ *name: v.clone() })).is_err()
            })
        });
        match wrong {
            Some((name, shape)) => ApiError::invalid(format!("Member '{name}' must be {shape}")),
            None => ApiError::invalid("The identity pool's members are malformed"),
        }
    })
}

fn pool_json(p: &PoolRecord) -> Value {
    let mut out = match serde_json::to_value(&p.details) {
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

pub async fn create_identity_pool(app: &App, body: &Object) -> Result<Value, ApiError> {
    Ok(pool_json(
        &app.identity.create_pool(pool_spec(body)?).await?,
    ))
}

pub async fn describe_identity_pool(app: &App, body: &Object) -> Result<Value, ApiError> {
    let id = json::req_str(body, "IdentityPoolId")?;
    Ok(pool_json(&app.identity.describe_pool(&id).await?))
}

pub async fn update_identity_pool(app: &App, body: &Object) -> Result<Value, ApiError> {
    let id = json::req_str(body, "IdentityPoolId")?;
    Ok(pool_json(
        &app.identity.update_pool(&id, pool_spec(body)?).await?,
    ))
}

pub async fn delete_identity_pool(app: &App, body: &Object) -> Result<Value, ApiError> {
    let id = json::req_str(body, "IdentityPoolId")?;
    app.identity.delete_pool(&id).await?;
    Ok(json!({}))
}

pub async fn list_identity_pools(app: &App, body: &Object) -> Result<Value, ApiError> {
    let next = json::opt_str(body, "NextToken")?;
    let (pools, next) = app
        .identity
        .list_pools(max_results(body)?, next.as_deref())
        .await?;
    let list: Vec<Value> = pools
        .iter()
        .map(|p| json!({ "IdentityPoolId": p.id, "IdentityPoolName": p.name }))
        .collect();
    Ok(with_next(json!({ "IdentityPools": list }), next))
}
