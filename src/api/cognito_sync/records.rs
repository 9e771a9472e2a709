//! Record operations: ListRecords and UpdateRecords (the sync itself).

use serde::Serialize;
use serde_json::Value;

use super::{Body, SyncCall};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::json;
use crate::store::RecordRow;
use crate::sync::{ListRecordsInput, Patch, PatchOp, UpdateRecordsInput};
use crate::timeutil::ms_to_epoch_seconds;

/// A record as both operations answer it (the model's `Record`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RecordJson<'a> {
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    sync_count: i64,
    last_modified_date: f64,
    last_modified_by: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_last_modified_date: Option<f64>,
}

impl<'a> From<&'a RecordRow> for RecordJson<'a> {
    fn from(r: &'a RecordRow) -> Self {
        RecordJson {
            key: &r.key,
            value: r.value.as_deref(),
            sync_count: r.sync_count,
            last_modified_date: ms_to_epoch_seconds(r.last_modified_ms),
            last_modified_by: &r.last_modified_by,
            device_last_modified_date: r.device_last_modified_ms.map(ms_to_epoch_seconds),
        }
    }
}

/// ListRecords' answer (the model's `ListRecordsResponse`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListRecordsJson<'a> {
    records: Vec<RecordJson<'a>>,
    count: usize,
    dataset_sync_count: i64,
    dataset_exists: bool,
    dataset_deleted_after_requested_sync_count: bool,
    merged_dataset_names: &'a [String],
    sync_session_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_modified_by: Option<&'a str>,
}

/// UpdateRecords' answer (the model's `UpdateRecordsResponse`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateRecordsJson<'a> {
    records: Vec<RecordJson<'a>>,
}

fn serialized(body: &impl Serialize) -> Result<Body, ApiError> {
    serde_json::to_string(body)
        .map(Body::Serialized)
        .map_err(|e| ApiError {
            // After a write, the write stands: this says nothing of it.
            detail: Some(format!("cannot encode the answer: {e}")),
            ..ApiError::new(
                ErrorCode::InternalError,
                "An internal error occurred while encoding the answer",
            )
        })
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

pub async fn list_records(c: SyncCall<'_>) -> Result<Body, ApiError> {
    let input = ListRecordsInput {
        last_sync_count: c.query.int("lastSyncCount")?,
        next_token: c.query.get("nextToken").map(str::to_owned),
        max_results: c.query.int("maxResults")?,
    };
    let out = c.sync.list_records(c.caller, &c.dataset(), input).await?;
    serialized(&ListRecordsJson {
        records: out.records.iter().map(RecordJson::from).collect(),
        count: out.records.len(),
        dataset_sync_count: out.dataset_sync_count,
        dataset_exists: out.dataset_exists,
        dataset_deleted_after_requested_sync_count: out.deleted_after_requested_sync_count,
        merged_dataset_names: &out.merged_dataset_names,
        sync_session_token: &out.sync_session_token,
        next_token: out.next_token.as_deref(),
        last_modified_by: out.last_modified_by.as_deref(),
    })
}

pub async fn update_records(c: SyncCall<'_>) -> Result<Body, ApiError> {
    let body = json::object(c.body)?;
    let input = UpdateRecordsInput {
        device_id: json::opt_str(&body, "DeviceId")?,
        sync_session_token: json::opt_str(&body, "SyncSessionToken")?,
        patches: parse_patches(&body)?,
    };
    let written = c.sync.update_records(c.caller, &c.dataset(), input).await?;
    serialized(&UpdateRecordsJson {
        records: written.iter().map(RecordJson::from).collect(),
    })
}
