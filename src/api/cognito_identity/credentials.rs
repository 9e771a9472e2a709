//! What a device signs in with: GetCredentialsForIdentity (temporary credentials for Cognito
//! Sync), GetOpenIdToken and GetOpenIdTokenForDeveloperIdentity (cogsync's OpenID tokens).

use serde_json::{json, Value};

use super::members::logins;
use crate::api::error::ApiError;
use crate::api::json::{self, Object};
use crate::api::App;
use crate::timeutil::ms_to_epoch_seconds;

pub async fn get_credentials_for_identity(app: &App, body: &Object) -> Result<Value, ApiError> {
    let id = json::req_str(body, "IdentityId")?;
    crate::validate::aws_id(&id, "identityId")?;
    if let Some(arn) = json::opt_str(body, "CustomRoleArn")? {
        crate::validate::length(&arn, "customRoleArn", 20, 2048)?;
    }
    let authorized = app.identity.credentials(&id, &logins(body)?).await?;
    let creds = app
        .auth
        .issue_credentials(&authorized.pool_id, &id, authorized.upstream.as_ref())
        .map_err(|e| ApiError::internal(format!("cannot issue credentials: {e}")))?;
    Ok(json!({
        "IdentityId": id,
        "Credentials": {
            "AccessKeyId": creds.access_key_id,
            "SecretKey": creds.secret_access_key,
            "SessionToken": creds.session_token,
            "Expiration": ms_to_epoch_seconds(creds.expiration_ms),
        },
    }))
}

pub async fn get_open_id_token(app: &App, body: &Object) -> Result<Value, ApiError> {
    let id = json::req_str(body, "IdentityId")?;
    crate::validate::aws_id(&id, "identityId")?;
    let t = app.identity.open_id_token(&id, &logins(body)?).await?;
    Ok(json!({ "IdentityId": t.identity_id, "Token": t.token }))
}

pub async fn get_open_id_token_for_developer_identity(
    app: &App,
    body: &Object,
) -> Result<Value, ApiError> {
    let pool_id = json::req_str(body, "IdentityPoolId")?;
    let identity = json::opt_str(body, "IdentityId")?;
    let t = app
        .identity
        .open_id_token_for_developer(
            &pool_id,
            identity.as_deref(),
            &logins(body)?,
            json::opt_i64(body, "TokenDuration")?,
        )
        .await?;
    Ok(json!({ "IdentityId": t.identity_id, "Token": t.token }))
}
