//! Bulk publish: BulkPublish starts a pool's export to its Cognito stream,
//! GetBulkPublishDetails reports on it.

use serde_json::{json, Value};

use super::SyncCall;
use crate::api::error::ApiError;
use crate::timeutil::ms_to_epoch_seconds;

pub async fn bulk_publish(c: SyncCall<'_>) -> Result<Value, ApiError> {
    c.sync.bulk_publish(&c.route.pool_id).await?;
    Ok(json!({ "IdentityPoolId": c.route.pool_id }))
}

pub async fn get_bulk_publish_details(c: SyncCall<'_>) -> Result<Value, ApiError> {
    let job = c.sync.bulk_publish_details(&c.route.pool_id).await?;
    let mut out = json!({
        "IdentityPoolId": c.route.pool_id,
        "BulkPublishStatus": job.status,
    });
    if let Some(ms) = job.start_ms {
        out["BulkPublishStartTime"] = json!(ms_to_epoch_seconds(ms));
    }
    if let Some(ms) = job.complete_ms {
        out["BulkPublishCompleteTime"] = json!(ms_to_epoch_seconds(ms));
    }
    if let Some(m) = job.failure_message {
        out["FailureMessage"] = json!(m);
    }
    Ok(out)
}
