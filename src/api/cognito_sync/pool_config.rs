//! Pool settings: Get/SetIdentityPoolConfiguration (push sync, Cognito Streams) and
//! Get/SetCognitoEvents (the sync trigger).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::SyncCall;
use crate::api::error::ApiError;
use crate::api::json;
use crate::store::{CognitoStreams, PushSync};
use crate::sync::pool_config::PoolConfiguration;

/// A body member read into its typed form; a wrong shape is an InvalidParameterException
/// saying what the member must be (`expected`, in the model's words).
fn typed_member<T: serde::de::DeserializeOwned>(
    body: &json::Object,
    name: &str,
    expected: &str,
) -> Result<Option<T>, ApiError> {
    match body.get(name).filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("Member '{name}' must be {expected}"))),
    }
}

fn configuration_json(pool_id: &str, c: &PoolConfiguration) -> Value {
    let mut out = json!({ "IdentityPoolId": pool_id });
    if let Some(p) = &c.push_sync {
        out["PushSync"] = json!(p);
    }
    if let Some(s) = &c.cognito_streams {
        out["CognitoStreams"] = json!(s);
    }
    out
}

pub async fn get_identity_pool_configuration(c: SyncCall<'_>) -> Result<Value, ApiError> {
    let pool_id = &c.route.pool_id;
    let config = c.sync.get_configuration(pool_id).await?;
    Ok(configuration_json(pool_id, &config))
}

pub async fn set_identity_pool_configuration(c: SyncCall<'_>) -> Result<Value, ApiError> {
    let pool_id = &c.route.pool_id;
    let body = json::object(c.body)?;
    let push = typed_member::<PushSync>(
        &body,
        "PushSync",
        "an object with ApplicationArns (a list of strings) and RoleArn (a string)",
    )?;
    let streams = typed_member::<CognitoStreams>(
        &body,
        "CognitoStreams",
        "an object with StreamName, RoleArn and StreamingStatus (strings)",
    )?;
    let config = c.sync.set_configuration(pool_id, push, streams).await?;
    Ok(configuration_json(pool_id, &config))
}

pub async fn get_cognito_events(c: SyncCall<'_>) -> Result<Value, ApiError> {
    let events = c.sync.get_events(&c.route.pool_id).await?;
    Ok(json!({ "Events": events }))
}

pub async fn set_cognito_events(c: SyncCall<'_>) -> Result<Value, ApiError> {
    let body = json::object(c.body)?;
    let events = typed_member::<BTreeMap<String, String>>(
        &body,
        "Events",
        "a map of event types to Lambda functions (strings)",
    )?
    .ok_or_else(|| crate::validate::missing("events"))?;
    c.sync.set_events(&c.route.pool_id, events).await?;
    Ok(json!({}))
}
