//! Developer-authenticated identities: Lookup/Merge/UnlinkDeveloperIdentity.

use serde_json::{json, Value};

use crate::api::error::ApiError;
use crate::api::json::{self, Object};
use crate::api::App;

pub async fn lookup_developer_identity(app: &App, body: &Object) -> Result<Value, ApiError> {
    let (identity, users) = app
        .identity
        .lookup_developer_identity(
            &json::req_str(body, "IdentityPoolId")?,
            json::opt_str(body, "IdentityId")?.as_deref(),
            json::opt_str(body, "DeveloperUserIdentifier")?.as_deref(),
            json::opt_i64(body, "MaxResults")?,
        )
        .await?;
    Ok(json!({ "IdentityId": identity, "DeveloperUserIdentifierList": users }))
}

pub async fn merge_developer_identities(app: &App, body: &Object) -> Result<Value, ApiError> {
    let id = app
        .identity
        .merge_developer_identities(
            &json::req_str(body, "IdentityPoolId")?,
            &json::req_str(body, "DeveloperProviderName")?,
            &json::req_str(body, "SourceUserIdentifier")?,
            &json::req_str(body, "DestinationUserIdentifier")?,
        )
        .await?;
    Ok(json!({ "IdentityId": id }))
}

pub async fn unlink_developer_identity(app: &App, body: &Object) -> Result<Value, ApiError> {
    app.identity
        .unlink_developer_identity(
            &json::req_str(body, "IdentityPoolId")?,
            &json::req_str(body, "IdentityId")?,
            &json::req_str(body, "DeveloperProviderName")?,
            &json::req_str(body, "DeveloperUserIdentifier")?,
        )
        .await?;
    Ok(json!({}))
}
