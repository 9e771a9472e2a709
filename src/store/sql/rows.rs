//! Column lists and row decoders, one per stored type. The lists are macros so statements
//! built with `concat!` stay `&'static str`.

use super::interface::Row;
use crate::store::{
    AttachState, BulkJob, DatasetRow, DeviceRecord, IdentityRecord, NodeBeat, PoolRecord,
    PoolSettings, RecordRow, StoreError, StoreResult, UpstreamPool,
};

macro_rules! pool_cols {
    () => {
        "id, name, allow_unauthenticated, developer_provider_name, extra_json, created_ms"
    };
}
macro_rules! identity_cols {
    () => {
        "id, pool_id, created_ms, last_modified_ms"
    };
}
macro_rules! dataset_cols {
    () => {
        "identity_id, name, live, sync_count, creation_ms, last_modified_ms, last_modified_by, \
         data_storage, num_records, deleted_at_sync_count, merged_into"
    };
}
macro_rules! record_cols {
    () => {
        "key, value, sync_count, last_modified_ms, last_modified_by, device_last_modified_ms"
    };
}
macro_rules! device_cols {
    () => {
        "id, identity_id, platform, token, endpoint_arn, disabled, created_ms"
    };
}
macro_rules! bulk_cols {
    () => {
        "status, start_ms, complete_ms, failure_message, last_success_ms"
    };
}
macro_rules! settings_cols {
    () => {
        "version, push_sync, cognito_streams, events, limits"
    };
}
macro_rules! upstream_cols {
    () => {
        "pool_id, state, version, upstream, attached_ms, changed_ms, copy_done_ms, \
         copy_lease_node, copy_lease_until, report"
    };
}
pub(crate) use {
    bulk_cols, dataset_cols, device_cols, identity_cols, pool_cols, record_cols, settings_cols,
    upstream_cols,
};

pub fn pool(r: Row) -> StoreResult<PoolRecord> {
    let mut c = r.cols();
    let id = c.text()?;
    Ok(PoolRecord {
        name: c.text()?,
        allow_unauthenticated: c.bool()?,
        developer_provider_name: c.opt_text()?,
        details: decoded(&id, "members", &c.text()?)?,
        created_ms: c.int()?,
        id,
    })
}

/// A pool's JSON column `what`, as its type; a value that does not decode is corrupt.
fn decoded<T: serde::de::DeserializeOwned>(
    pool_id: &str,
    what: &str,
    text: &str,
) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Corrupt(format!(
            "pool {pool_id}: its stored {what} do not decode ({e})"
        ))
    })
}

/// A typed value as its JSON column.
pub fn encoded<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("cannot encode: {e}")))
}

pub fn identity(r: Row) -> StoreResult<IdentityRecord> {
    let mut c = r.cols();
    Ok(IdentityRecord {
        id: c.text()?,
        pool_id: c.text()?,
        created_ms: c.int()?,
        last_modified_ms: c.int()?,
    })
}

pub fn dataset(r: Row) -> StoreResult<DatasetRow> {
    let mut c = r.cols();
    Ok(DatasetRow {
        identity_id: c.text()?,
        name: c.text()?,
        live: c.bool()?,
        sync_count: c.int()?,
        creation_ms: c.int()?,
        last_modified_ms: c.int()?,
        last_modified_by: c.text()?,
        data_storage: c.int()?,
        num_records: c.int()?,
        deleted_at_sync_count: c.opt_int()?,
        merged_into: c.opt_text()?,
    })
}

pub fn record(r: Row) -> StoreResult<RecordRow> {
    let mut c = r.cols();
    Ok(RecordRow {
        key: c.text()?,
        value: c.opt_text()?,
        sync_count: c.int()?,
        last_modified_ms: c.int()?,
        last_modified_by: c.text()?,
        device_last_modified_ms: c.opt_int()?,
    })
}

pub fn device(r: Row) -> StoreResult<DeviceRecord> {
    let mut c = r.cols();
    Ok(DeviceRecord {
        id: c.text()?,
        identity_id: c.text()?,
        platform: c.text()?,
        token: c.text()?,
        endpoint_arn: c.text()?,
        disabled: c.bool()?,
        created_ms: c.int()?,
    })
}

pub fn bulk_job(r: Row) -> StoreResult<BulkJob> {
    let mut c = r.cols();
    Ok(BulkJob {
        status: c.text()?,
        start_ms: c.opt_int()?,
        complete_ms: c.opt_int()?,
        failure_message: c.opt_text()?,
        last_success_ms: c.opt_int()?,
    })
}

/// A pool's settings row: (pool id, version, push sync, streams, events, limits).
pub fn settings(r: Row) -> StoreResult<PoolSettings> {
    let mut c = r.cols();
    let pool = c.text()?;
    let version = c.int()?;
    let push_sync = c.opt_text()?;
    let cognito_streams = c.opt_text()?;
    let events = c.text()?;
    let limits = c.opt_text()?;
    Ok(PoolSettings {
        version,
        push_sync: push_sync
            .map(|t| decoded(&pool, "push sync settings", &t))
            .transpose()?,
        cognito_streams: cognito_streams
            .map(|t| decoded(&pool, "Cognito Streams settings", &t))
            .transpose()?,
        events: decoded(&pool, "events", &events)?,
        limits: limits
            .map(|t| decoded(&pool, "quotas", &t))
            .transpose()?
            .unwrap_or_default(),
    })
}

/// A pool's attachment row ([`upstream_cols`]).
pub fn upstream_pool(r: Row) -> StoreResult<UpstreamPool> {
    let mut c = r.cols();
    let pool_id = c.text()?;
    let state = c.text()?;
    let state = AttachState::parse(&state).ok_or_else(|| {
        StoreError::Corrupt(format!("pool {pool_id}: attachment state {state:?}"))
    })?;
    let version = c.int()?;
    let upstream = c.text()?;
    let attached_ms = c.int()?;
    let changed_ms = c.int()?;
    let copy_done_ms = c.opt_int()?;
    let lease_node = c.opt_text()?;
    let lease_until = c.opt_int()?;
    Ok(UpstreamPool {
        pool_id,
        state,
        version,
        upstream,
        attached_ms,
        changed_ms,
        copy_done_ms,
        copy_lease: lease_node.zip(lease_until),
        report: c.opt_text()?,
    })
}

/// A node's heartbeat row: (node id, seen, acks as JSON).
pub fn node_beat(r: Row) -> StoreResult<NodeBeat> {
    let mut c = r.cols();
    let node_id = c.text()?;
    let seen_ms = c.int()?;
    let acks = c.text()?;
    Ok(NodeBeat {
        acks: serde_json::from_str(&acks).map_err(|e| {
            StoreError::Corrupt(format!("node {node_id}: its acknowledgements ({e})"))
        })?,
        node_id,
        seen_ms,
    })
}

/// A one-column text row.
pub fn text(r: Row) -> StoreResult<String> {
    r.cols().text()
}

/// A one-column integer row.
pub fn int(r: Row) -> StoreResult<i64> {
    r.cols().int()
}

/// A (provider, subject) row.
pub fn login(r: Row) -> StoreResult<(String, String)> {
    let mut c = r.cols();
    Ok((c.text()?, c.text()?))
}

/// Decodes every row.
pub fn all<T>(rows: Vec<Row>, f: fn(Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.into_iter().map(f).collect()
}

/// Decodes the first row, if any.
pub fn opt<T>(rows: Vec<Row>, f: fn(Row) -> StoreResult<T>) -> StoreResult<Option<T>> {
    rows.into_iter().next().map(f).transpose()
}
