//! Column lists and row decoders for the PostgreSQL queries.

use tokio_postgres::Row;

use crate::store::{DatasetRow, IdentityRecord, PoolRecord, RecordRow};

pub const POOL_COLS: &str =
    "id, name, allow_unauthenticated, developer_provider_name, extra_json, created_ms";

pub const IDENTITY_COLS: &str = "id, pool_id, created_ms, last_modified_ms";

pub const DATASET_COLS: &str = "identity_id, name, live, sync_count, creation_ms, \
    last_modified_ms, last_modified_by, data_storage, num_records, deleted_at_sync_count, \
    merged_into";

pub const RECORD_COLS: &str =
    "key, value, sync_count, last_modified_ms, last_modified_by, device_last_modified_ms";

type R<T> = Result<T, tokio_postgres::Error>;

pub fn pool(r: &Row) -> R<PoolRecord> {
    Ok(PoolRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        allow_unauthenticated: r.try_get(2)?,
        developer_provider_name: r.try_get(3)?,
        extra_json: r.try_get(4)?,
        created_ms: r.try_get(5)?,
    })
}

pub fn identity(r: &Row) -> R<IdentityRecord> {
    Ok(IdentityRecord {
        id: r.try_get(0)?,
        pool_id: r.try_get(1)?,
        created_ms: r.try_get(2)?,
        last_modified_ms: r.try_get(3)?,
    })
}

pub fn dataset(r: &Row) -> R<DatasetRow> {
    Ok(DatasetRow {
        identity_id: r.try_get(0)?,
        name: r.try_get(1)?,
        live: r.try_get(2)?,
        sync_count: r.try_get(3)?,
        creation_ms: r.try_get(4)?,
        last_modified_ms: r.try_get(5)?,
        last_modified_by: r.try_get(6)?,
        data_storage: r.try_get(7)?,
        num_records: r.try_get(8)?,
        deleted_at_sync_count: r.try_get(9)?,
        merged_into: r.try_get(10)?,
    })
}

pub fn record(r: &Row) -> R<RecordRow> {
    Ok(RecordRow {
        key: r.try_get(0)?,
        value: r.try_get(1)?,
        sync_count: r.try_get(2)?,
        last_modified_ms: r.try_get(3)?,
        last_modified_by: r.try_get(4)?,
        device_last_modified_ms: r.try_get(5)?,
    })
}

/// Decodes every row, failing on the first that does not fit.
pub fn all<T>(rows: &[Row], f: fn(&Row) -> R<T>) -> R<Vec<T>> {
    rows.iter().map(f).collect()
}
