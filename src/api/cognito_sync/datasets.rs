//! Dataset operations: ListDatasets, DescribeDataset, DeleteDataset.

use serde_json::{json, Value};

use super::SyncCall;
use crate::api::error::ApiError;
use crate::store::DatasetRow;
use crate::timeutil::ms_to_epoch_seconds;

fn dataset_json(d: &DatasetRow) -> Value {
    json!({
        "IdentityId": d.identity_id,
        "DatasetName": d.name,
        "CreationDate": ms_to_epoch_seconds(d.creation_ms),
        "LastModifiedDate": ms_to_epoch_seconds(d.last_modified_ms),
        "LastModifiedBy": d.last_modified_by,
        "DataStorage": d.data_storage,
        "NumRecords": d.num_records,
    })
}

pub async fn list_datasets(c: SyncCall<'_>) -> Result<Value, ApiError> {
    let page = c
        .sync
        .list_datasets(
            c.caller,
            &c.route.pool_id,
            &c.route.identity_id,
            c.query.get("nextToken"),
            c.query.int("maxResults")?,
        )
        .await?;
    let mut out = json!({
        "Datasets": page.datasets.iter().map(dataset_json).collect::<Vec<_>>(),
        "Count": page.datasets.len(),
    });
    if let Some(t) = page.next_token {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

pub async fn describe_dataset(c: SyncCall<'_>) -> Result<Value, ApiError> {
    let d = c.sync.describe_dataset(c.caller, &c.dataset()).await?;
    Ok(json!({ "Dataset": dataset_json(&d) }))
}

pub async fn delete_dataset(c: SyncCall<'_>) -> Result<Value, ApiError> {
    let d = c.sync.delete_dataset(c.caller, &c.dataset()).await?;
    Ok(json!({ "Dataset": dataset_json(&d) }))
}
