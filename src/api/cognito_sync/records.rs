//! Record operations: ListRecords and UpdateRecords (the sync itself).

use serde_json::{json, Value};

use super::SyncCall;
use crate::api::error::ApiError;
use crate::api::json;
use crate::store::RecordRow;
use crate::sync::{ListRecordsInput, Patch, PatchOp, UpdateRecordsInput};
use crate::timeutil::ms_to_epoch_seconds;

fn record_json(r: &RecordRow) -> Value {
    let mut v = json!({
        "Key": r.key,
        "SyncCount": r.sync_count,
        "LastModifiedDate": ms_to_epoch_seconds(r.last_modified_ms),
        "LastModifiedBy": r.last_modified_by,
    });
    if let Some(value) = &r.value {
        v["Value"] = json!(value);
    }
    if let Some(ms) = r.device_last_modified_ms {
        v["DeviceLastModifiedDate"] = json!(ms_to_epoch_seconds(ms));
    }
    v
}

fn parse_patches(body: &json::Object) -> Result<Vec<Patch>, ApiError> {
    let Some(list) = json::opt_array(body, "RecordPatches")? else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let member = |m: &str| format!("recordPatches.{}.member.{m}", i + 1);
            let Value::Object(p) = item else {
                return Err(ApiError::invalid(format!(
                    "recordPatches.{} must be an object",
                    i + 1
                )));
            };
            let op =
                json::opt_str(p, "Op")?.ok_or_else(|| crate::validate::missing(&member("op")))?;
            crate::validate::one_of(&op, &member("op"), &["replace", "remove"])?;
            let key =
                json::opt_str(p, "Key")?.ok_or_else(|| crate::validate::missing(&member("key")))?;
            let sync_count = json::opt_i64(p, "SyncCount")?
                .ok_or_else(|| crate::validate::missing(&member("syncCount")))?;
            Ok(Patch {
                op: if op == "replace" {
                    PatchOp::Replace
                } else {
                    PatchOp::Remove
                },
                key,
                value: json::opt_str(p, "Value")?,
                sync_count,
                device_last_modified_ms: json::opt_timestamp_ms(p, "DeviceLastModifiedDate")?,
            })
        })
        .collect()
}

pub async fn list_records(c: SyncCall<'_>) -> Result<Value, ApiError> {
    let input = ListRecordsInput {
        last_sync_count: c.query.int("lastSyncCount")?,
        next_token: c.query.get("nextToken").map(str::to_owned),
        max_results: c.query.int("maxResults")?,
    };
    let out = c.sync.list_records(c.caller, &c.dataset(), input).await?;
    let mut body = json!({
        "Records": out.records.iter().map(record_json).collect::<Vec<_>>(),
        "Count": out.records.len(),
        "DatasetSyncCount": out.dataset_sync_count,
        "DatasetExists": out.dataset_exists,
        "DatasetDeletedAfterRequestedSyncCount": out.deleted_after_requested_sync_count,
        "MergedDatasetNames": out.merged_dataset_names,
        "SyncSessionToken": out.sync_session_token,
    });
    if let Some(t) = out.next_token {
        body["NextToken"] = json!(t);
    }
    if let Some(by) = out.last_modified_by {
        body["LastModifiedBy"] = json!(by);
    }
    Ok(body)
}

pub async fn update_records(c: SyncCall<'_>) -> Result<Value, ApiError> {
    let body = json::object(c.body)?;
    let input = UpdateRecordsInput {
        device_id: json::opt_str(&body, "DeviceId")?,
        sync_session_token: json::opt_str(&body, "SyncSessionToken")?,
        patches: parse_patches(&body)?,
    };
    let written = c.sync.update_records(c.caller, &c.dataset(), input).await?;
    Ok(json!({ "Records": written.iter().map(record_json).collect::<Vec<_>>() }))
}
