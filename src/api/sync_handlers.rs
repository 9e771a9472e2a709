//! Cognito Sync (restJson1) operations: wire input → service call → wire output.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use super::error::{ApiError, ErrorCode};
use super::json;
use super::route::{Route, SyncOp};
use super::App;
use crate::auth::Principal;
use std::collections::BTreeMap;

use crate::store::{DatasetRow, RecordRow, Usage};
use crate::sync::pool_admin::{CognitoStreams, PoolConfiguration, PushSync};
use crate::sync::{Caller, DatasetRef, ListRecordsInput, Patch, PatchOp, UpdateRecordsInput};
use crate::timeutil::ms_to_epoch_seconds;

/// Decoded query parameters (the last occurrence of a name wins).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<&str>) -> Self {
        let dec = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        Query(
            raw.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (dec(k), dec(v))
                })
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                ApiError::invalid(format!(
                    "1 validation error detected: Value '{}' at '{name}' failed to satisfy constraint: \
                     Member must be a whole number",
                    v.chars().take(64).collect::<String>()
                ))
            }),
        }
    }
}

fn ok_json(body: Value) -> Response {
    let mut resp = body.to_string().into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

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

/// Which credentials an operation accepts (spec §3: the model's documentation of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    DeveloperOnly,
    IdentityOnly,
    Either,
}

fn access(op: SyncOp) -> Access {
    match op {
        SyncOp::BulkPublish
        | SyncOp::DescribeIdentityPoolUsage
        | SyncOp::GetBulkPublishDetails
        | SyncOp::GetCognitoEvents
        | SyncOp::GetIdentityPoolConfiguration
        | SyncOp::ListIdentityPoolUsage
        | SyncOp::SetCognitoEvents
        | SyncOp::SetIdentityPoolConfiguration => Access::DeveloperOnly,
        SyncOp::RegisterDevice | SyncOp::SubscribeToDataset | SyncOp::UnsubscribeFromDataset => {
            Access::IdentityOnly
        }
        SyncOp::DeleteDataset
        | SyncOp::DescribeDataset
        | SyncOp::DescribeIdentityUsage
        | SyncOp::ListDatasets
        | SyncOp::ListRecords
        | SyncOp::UpdateRecords => Access::Either,
    }
}

fn refuse(message: String) -> ApiError {
    ApiError::new(ErrorCode::NotAuthorized, message)
}

/// The caller as the sync rules see it, after the access rules for `route`: the operation
/// must accept the kind of credentials, and identity credentials reach only their own
/// identity in their own pool, and only while that identity exists (not merged or deleted).
/// Operations whose service call refuses a vanished identity's credentials itself.
fn resolved_by_service(op: SyncOp) -> bool {
    matches!(
        op,
        SyncOp::ListDatasets
            | SyncOp::DescribeDataset
            | SyncOp::DeleteDataset
            | SyncOp::ListRecords
            | SyncOp::UpdateRecords
    )
}

async fn caller_for(app: &App, principal: &Principal, route: &Route) -> Result<Caller, ApiError> {
    let op = route.op.name();
    match (access(route.op), principal) {
        (Access::IdentityOnly, Principal::Developer { .. }) => Err(refuse(format!(
            "{op} requires Cognito Identity credentials (from GetCredentialsForIdentity)"
        ))),
        (Access::DeveloperOnly, Principal::Identity { .. }) => {
            Err(refuse(format!("{op} requires developer credentials")))
        }
        (_, Principal::Developer { .. }) => Ok(Caller::Developer {
            account_id: app.account_id.clone(),
        }),
        (
            _,
            Principal::Identity {
                pool_id,
                identity_id,
                ..
            },
        ) => {
            if route.pool_id != *pool_id || route.identity_id != *identity_id {
                return Err(refuse(format!(
                    "These credentials may only access identity {identity_id} of pool {pool_id}"
                )));
            }
            // The dataset operations check the identity in the service, in the same read
            // that resolves it; the others are checked here.
            if !resolved_by_service(route.op)
                && !app.identity.identity_active(pool_id, identity_id).await?
            {
                return Err(refuse(format!(
                    "Identity {identity_id} no longer exists (deleted or merged); get new credentials"
                )));
            }
            Ok(Caller::Identity {
                pool_id: pool_id.clone(),
                identity_id: identity_id.clone(),
            })
        }
    }
}

/// A body member read into its typed form; a wrong shape is an InvalidParameterException.
fn typed_member<T: serde::de::DeserializeOwned>(
    body: &json::Object,
    name: &str,
) -> Result<Option<T>, ApiError> {
    match body.get(name).filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| ApiError::invalid(format!("Member '{name}' is malformed: {e}"))),
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

fn dataset_ref(route: &Route) -> DatasetRef {
    DatasetRef {
        pool_id: route.pool_id.clone(),
        identity_id: route.identity_id.clone(),
        dataset_name: route.dataset_name.clone(),
    }
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

/// Runs one routed Cognito Sync operation for an authenticated principal.
pub async fn dispatch(
    app: &App,
    principal: &Principal,
    route: &Route,
    raw_query: Option<&str>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let caller = caller_for(app, principal, route).await?;
    let query = Query::parse(raw_query);
    let sync = &app.sync;
    match route.op {
        SyncOp::ListDatasets => {
            let page = sync
                .list_datasets(
                    &caller,
                    &route.pool_id,
                    &route.identity_id,
                    query.get("nextToken"),
                    query.int("maxResults")?,
                )
                .await?;
            let mut out = json!({
                "Datasets": page.datasets.iter().map(dataset_json).collect::<Vec<_>>(),
                "Count": page.datasets.len(),
            });
            if let Some(t) = page.next_token {
                out["NextToken"] = json!(t);
            }
            Ok(ok_json(out))
        }
        SyncOp::DescribeDataset => {
            let d = sync.describe_dataset(&caller, &dataset_ref(route)).await?;
            Ok(ok_json(json!({ "Dataset": dataset_json(&d) })))
        }
        SyncOp::DeleteDataset => {
            let d = sync.delete_dataset(&caller, &dataset_ref(route)).await?;
            Ok(ok_json(json!({ "Dataset": dataset_json(&d) })))
        }
        SyncOp::ListRecords => {
            let input = ListRecordsInput {
                last_sync_count: query.int("lastSyncCount")?,
                next_token: query.get("nextToken").map(str::to_owned),
                max_results: query.int("maxResults")?,
            };
            let out = sync
                .list_records(&caller, &dataset_ref(route), input)
                .await?;
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
            Ok(ok_json(body))
        }
        SyncOp::UpdateRecords => {
            let body = json::object(body)?;
            let input = UpdateRecordsInput {
                device_id: json::opt_str(&body, "DeviceId")?,
                sync_session_token: json::opt_str(&body, "SyncSessionToken")?,
                patches: parse_patches(&body)?,
            };
            let written = sync
                .update_records(&caller, &dataset_ref(route), input)
                .await?;
            Ok(ok_json(
                json!({ "Records": written.iter().map(record_json).collect::<Vec<_>>() }),
            ))
        }
        SyncOp::GetIdentityPoolConfiguration => {
            let c = sync.get_configuration(&route.pool_id).await?;
            Ok(ok_json(configuration_json(&route.pool_id, &c)))
        }
        SyncOp::SetIdentityPoolConfiguration => {
            let body = json::object(body)?;
            let push = typed_member::<PushSync>(&body, "PushSync")?;
            let streams = typed_member::<CognitoStreams>(&body, "CognitoStreams")?;
            let c = sync
                .set_configuration(&route.pool_id, push, streams)
                .await?;
            Ok(ok_json(configuration_json(&route.pool_id, &c)))
        }
        SyncOp::GetCognitoEvents => {
            let events = sync.get_events(&route.pool_id).await?;
            Ok(ok_json(json!({ "Events": events })))
        }
        SyncOp::SetCognitoEvents => {
            let body = json::object(body)?;
            let events = typed_member::<BTreeMap<String, String>>(&body, "Events")?
                .ok_or_else(|| crate::validate::missing("events"))?;
            sync.set_events(&route.pool_id, events).await?;
            Ok(ok_json(json!({})))
        }
        SyncOp::DescribeIdentityUsage => {
            let u = sync
                .identity_usage(&caller, &route.pool_id, &route.identity_id)
                .await?;
            let mut usage = json!({
                "IdentityId": route.identity_id,
                "IdentityPoolId": route.pool_id,
                "DatasetCount": u.dataset_count,
                "DataStorage": u.data_storage,
            });
            if let Some(ms) = u.last_modified_ms {
                usage["LastModifiedDate"] = json!(ms_to_epoch_seconds(ms));
            }
            Ok(ok_json(json!({ "IdentityUsage": usage })))
        }
        SyncOp::DescribeIdentityPoolUsage => {
            let u = sync.pool_usage(&route.pool_id).await?;
            Ok(ok_json(
                json!({ "IdentityPoolUsage": pool_usage_json(&route.pool_id, &u) }),
            ))
        }
        SyncOp::ListIdentityPoolUsage => {
            let (pools, max, next) = sync
                .list_pool_usage(query.int("maxResults")?, query.get("nextToken"))
                .await?;
            let mut out = json!({
                "IdentityPoolUsages": pools.iter().map(|p| pool_usage_json(&p.pool_id, &p.usage)).collect::<Vec<_>>(),
                "MaxResults": max,
                "Count": pools.len(),
            });
            if let Some(t) = next {
                out["NextToken"] = json!(t);
            }
            Ok(ok_json(out))
        }
        SyncOp::BulkPublish => {
            sync.bulk_publish(&route.pool_id).await?;
            Ok(ok_json(json!({ "IdentityPoolId": route.pool_id })))
        }
        SyncOp::GetBulkPublishDetails => {
            let job = sync.bulk_publish_details(&route.pool_id).await?;
            let mut out = json!({
                "IdentityPoolId": route.pool_id,
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
            Ok(ok_json(out))
        }
        SyncOp::RegisterDevice => {
            let body = json::object(body)?;
            let platform = json::req_str(&body, "Platform")?;
            let token = json::req_str(&body, "Token")?;
            let id = sync
                .register_device(
                    &caller,
                    &route.pool_id,
                    &route.identity_id,
                    &platform,
                    &token,
                )
                .await?;
            Ok(ok_json(json!({ "DeviceId": id })))
        }
        SyncOp::SubscribeToDataset => {
            sync.subscribe(&caller, &dataset_ref(route), &route.device_id)
                .await?;
            Ok(ok_json(json!({})))
        }
        SyncOp::UnsubscribeFromDataset => {
            sync.unsubscribe(&caller, &dataset_ref(route), &route.device_id)
                .await?;
            Ok(ok_json(json!({})))
        }
    }
}
