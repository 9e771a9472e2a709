//! Column lists and row decoders shared by the SQLite queries.

use rusqlite::Row;

use crate::store::{DatasetRow, IdentityRecord, PoolRecord, RecordRow};

pub const DATASET_COLS: &str = "identity_id, name, live, sync_count, creation_ms, \
    last_modified_ms, last_modified_by, data_storage, num_records, deleted_at_sync_count, \
    merged_into";

pub const RECORD_COLS: &str =
    "key, value, sync_count, last_modified_ms, last_modified_by, device_last_modified_ms";

pub fn dataset_from_row(r: &Row<'_>) -> rusqlite::Result<DatasetRow> {
    Ok(DatasetRow {
        identity_id: r.get(0)?,
        name: r.get(1)?,
        live: r.get(2)?,
        sync_count: r.get(3)?,
        creation_ms: r.get(4)?,
        last_modified_ms: r.get(5)?,
        last_modified_by: r.get(6)?,
        data_storage: r.get(7)?,
        num_records: r.get(8)?,
        deleted_at_sync_count: r.get(9)?,
        merged_into: r.get(10)?,
    })
}

pub fn record_from_row(r: &Row<'_>) -> rusqlite::Result<RecordRow> {
    Ok(RecordRow {
        key: r.get(0)?,
        value: r.get(1)?,
        sync_count: r.get(2)?,
        last_modified_ms: r.get(3)?,
        last_modified_by: r.get(4)?,
        device_last_modified_ms: r.get(5)?,
    })
}

pub fn pool_from_row(r: &Row<'_>) -> rusqlite::Result<PoolRecord> {
    Ok(PoolRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        allow_unauthenticated: r.get(2)?,
        developer_provider_name: r.get(3)?,
        extra_json: r.get(4)?,
        created_ms: r.get(5)?,
    })
}

pub fn identity_from_row(r: &Row<'_>) -> rusqlite::Result<IdentityRecord> {
    Ok(IdentityRecord {
        id: r.get(0)?,
        pool_id: r.get(1)?,
        created_ms: r.get(2)?,
        last_modified_ms: r.get(3)?,
    })
}
