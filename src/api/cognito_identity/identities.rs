//! Identities: GetId, DescribeIdentity, ListIdentities, DeleteIdentities, UnlinkIdentity.

use serde_json::{json, Value};

use super::members::{logins, max_results, string_list, with_next};
use crate::api::error::ApiError;
use crate::api::json::{self, Object};
use crate::api::App;
use crate::store::IdentityRecord;
use crate::timeutil::ms_to_epoch_seconds;

fn identity_json(i: &IdentityRecord, providers: &[String]) -> Value {
    json!({
        "IdentityId": i.id,
        "Logins": providers,
        "CreationDate": ms_to_epoch_seconds(i.created_ms),
        "LastModifiedDate": ms_to_epoch_seconds(i.last_modified_ms),
    })
}

pub async fn get_id(app: &App, body: &Object) -> Result<Value, ApiError> {
    let pool_id = json::req_str(body, "IdentityPoolId")?;
    if let Some(account) = json::opt_str(body, "AccountId")? {
        crate::validate::length(&account, "accountId", 1, 15)?;
    }
    let identity = app.identity.get_id(&pool_id, &logins(body)?).await?;
    Ok(json!({ "IdentityId": identity.id }))
}

pub async fn describe_identity(app: &App, body: &Object) -> Result<Value, ApiError> {
    let ids = &app.identity;
    let i = ids
        .describe_identity(&json::req_str(body, "IdentityId")?)
        .await?;
    Ok(identity_json(&i, &ids.login_providers(&i.id).await?))
}

pub async fn list_identities(app: &App, body: &Object) -> Result<Value, ApiError> {
    let ids = &app.identity;
    let pool_id = json::req_str(body, "IdentityPoolId")?;
    let next = json::opt_str(body, "NextToken")?;
    let (list, next) = ids
        .list_identities(&pool_id, max_results(body)?, next.as_deref())
        .await?;
    let mut out = Vec::with_capacity(list.len());
    for i in &list {
        out.push(identity_json(i, &ids.login_providers(&i.id).await?));
    }
    Ok(with_next(
        json!({ "IdentityPoolId": pool_id, "Identities": out }),
        next,
    ))
}

pub async fn delete_identities(app: &App, body: &Object) -> Result<Value, ApiError> {
    let unprocessed = app
        .identity
        .delete_identities(&string_list(body, "IdentityIdsToDelete")?)
        .await?;
    let list: Vec<Value> = unprocessed
        .iter()
        .map(|id| json!({ "IdentityId": id, "ErrorCode": "InternalServerError" }))
        .collect();
    Ok(json!({ "UnprocessedIdentityIds": list }))
}

pub async fn unlink_identity(app: &App, body: &Object) -> Result<Value, ApiError> {
    let id = json::req_str(body, "IdentityId")?;
    crate::validate::aws_id(&id, "identityId")?;
    app.identity
        .unlink_identity(&id, &logins(body)?, &string_list(body, "LoginsToRemove")?)
        .await?;
    Ok(json!({}))
}
