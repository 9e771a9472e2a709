//! Usage operations: DescribeIdentityUsage, DescribeIdentityPoolUsage, ListIdentityPoolUsage.

use serde_json::{json, Value};

use super::SyncCall;
use crate::api::error::ApiError;
use crate::store::Usage;
use crate::timeutil::ms_to_epoch_seconds;

fn pool_usage_json(pool_id: &str, u: &Usage) -> Value {
    let mut out = json!({
        "IdentityPoolId": pool_id,
        "SyncSessionsCount": u.sync_sessions,
        "DataStorage": u.data_storage,
    });
    if let Some(ms) = u.last_modified_ms {
        out["LastModifiedDate"] = json!(ms_to_epoch_seconds(ms));
    }
    out
}

pub async fn describe_identity_usage(c: SyncCall<'_>) -> Result<Value, ApiError> {
    let r = c.route;
    let u = c
        .sync
        .identity_usage(c.caller, &r.pool_id, &r.identity_id)
        .await?;
    let mut usage = json!({
        "IdentityId": r.identity_id,
        "IdentityPoolId": r.pool_id,
        "DatasetCount": u.dataset_count,
        "DataStorage": u.data_storage,
    });
    if let Some(ms) = u.last_modified_ms {
        usage["LastModifiedDate"] = json!(ms_to_epoch_seconds(ms));
    }
    Ok(json!({ "IdentityUsage": usage }))
}

pub async fn describe_identity_pool_usage(c: SyncCall<'_>) -> Result<Value, ApiError> {
    let pool_id = &c.route.pool_id;
    let u = c.sync.pool_usage(pool_id).await?;
    Ok(json!({ "IdentityPoolUsage": pool_usage_json(pool_id, &u) }))
}

pub async fn list_identity_pool_usage(c: SyncCall<'_>) -> Result<Value, ApiError> {
    let (pools, max, next) = c
        .sync
        .list_pool_usage(c.query.int("maxResults")?, c.query.get("nextToken"))
        .await?;
    let mut out = json!({
        "IdentityPoolUsages": pools
            .iter()
            .map(|p| pool_usage_json(&p.pool_id, &p.usage))
            .collect::<Vec<_>>(),
        "MaxResults": max,
        "Count": pools.len(),
    });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}
