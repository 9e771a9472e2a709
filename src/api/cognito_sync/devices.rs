//! Push devices: RegisterDevice, SubscribeToDataset, UnsubscribeFromDataset.

use serde_json::{json, Value};

use super::SyncCall;
use crate::api::error::ApiError;
use crate::api::json;

pub async fn register_device(c: SyncCall<'_>) -> Result<Value, ApiError> {
    let body = json::object(c.body)?;
    let platform = json::req_str(&body, "Platform")?;
    let token = json::req_str(&body, "Token")?;
    let r = c.route;
    let id = c
        .sync
        .register_device(c.caller, &r.pool_id, &r.identity_id, &platform, &token)
        .await?;
    Ok(json!({ "DeviceId": id }))
}

pub async fn subscribe_to_dataset(c: SyncCall<'_>) -> Result<Value, ApiError> {
    c.sync
        .subscribe(c.caller, &c.dataset(), &c.route.device_id)
        .await?;
    Ok(json!({}))
}

pub async fn unsubscribe_from_dataset(c: SyncCall<'_>) -> Result<Value, ApiError> {
    c.sync
        .unsubscribe(c.caller, &c.dataset(), &c.route.device_id)
        .await?;
    Ok(json!({}))
}
