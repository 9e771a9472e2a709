//! Statements several operations share: reading and writing one kind of row inside the
//! caller's transaction, most of them added to a [`Batch`] so that an operation sends its
//! independent statements together. The two statements written per dialect (array binds)
//! are here.

use crate::store::sql::interface::{args, Batch, Dialect, Lock, Param, Tx};
use crate::store::sql::rows::{
    self, bulk_cols, dataset_cols, device_cols, identity_cols, pool_cols, record_cols,
    settings_cols,
};
use crate::store::{
    BulkDecider, BulkEvent, BulkJob, DatasetRow, NewOutboxEvent, PoolRecord, PoolSettings,
    RecordRow, StoreError, StoreResult,
};

/// A dataset's row, live or deleted: (identity id, name).
pub const DATASET: &str = concat!(
    "SELECT ",
    dataset_cols!(),
    " FROM datasets WHERE identity_id = $1 AND name = $2"
);

pub async fn dataset<X: Tx>(
    tx: &mut X,
    identity_id: &str,
    name: &str,
) -> StoreResult<Option<DatasetRow>> {
    rows::opt(
        tx.query(DATASET, &args![identity_id, name]).await?,
        rows::dataset,
    )
}

/// Live datasets of an identity, by name.
pub async fn live_datasets<X: Tx>(tx: &mut X, identity_id: &str) -> StoreResult<Vec<DatasetRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        dataset_cols!(),
        " FROM datasets WHERE identity_id = $1 AND live ORDER BY name"
    );
    rows::all(tx.query(SQL, &args![identity_id]).await?, rows::dataset)
}

/// Every record of a dataset (tombstones included), by key.
pub async fn records<X: Tx>(
    tx: &mut X,
    identity_id: &str,
    name: &str,
) -> StoreResult<Vec<RecordRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        record_cols!(),
        " FROM records WHERE identity_id = $1 AND dataset_name = $2 ORDER BY key"
    );
    rows::all(
        tx.query(SQL, &args![identity_id, name]).await?,
        rows::record,
    )
}

/// Adds the reads of a dataset's stored records among `keys` (one statement with an array,
/// or one per key); answers the indices of their outcomes.
pub fn read_records_by_key<'a>(
    b: &mut Batch<'a>,
    dialect: Dialect,
    identity_id: &'a str,
    name: &'a str,
    keys: &'a [String],
) -> std::ops::Range<usize> {
    let first = b.len();
    if dialect.array_binds {
        const SQL: &str = concat!(
            "SELECT ",
            record_cols!(),
            " FROM records WHERE identity_id = $1 AND dataset_name = $2 AND key = ANY($3)"
        );
        let keys = Param::Texts(keys.iter().map(String::as_str).collect());
        b.query(SQL, [identity_id.into(), name.into(), keys]);
    } else {
        const SQL: &str = concat!(
            "SELECT ",
            record_cols!(),
            " FROM records WHERE identity_id = $1 AND dataset_name = $2 AND key = $3"
        );
        for key in keys {
            b.query(SQL, args![identity_id, name, key]);
        }
    }
    first..b.len()
}

/// Adds the write of a dataset's row (inserted, or replacing the stored one).
pub fn write_dataset<'a>(
    b: &mut Batch<'a>,
    identity_id: &'a str,
    name: &'a str,
    d: &'a DatasetRow,
) {
    const SQL: &str = concat!(
        "INSERT INTO datasets (",
        dataset_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (identity_id, name) DO UPDATE SET live = excluded.live,
             sync_count = excluded.sync_count, creation_ms = excluded.creation_ms,
             last_modified_ms = excluded.last_modified_ms,
             last_modified_by = excluded.last_modified_by,
             data_storage = excluded.data_storage, num_records = excluded.num_records,
             deleted_at_sync_count = excluded.deleted_at_sync_count,
             merged_into = excluded.merged_into"
    );
    let params = args![
        identity_id,
        name,
        d.live,
        d.sync_count,
        d.creation_ms,
        d.last_modified_ms,
        &d.last_modified_by,
        d.data_storage,
        d.num_records,
        d.deleted_at_sync_count,
        &d.merged_into,
    ];
    b.execute(SQL, params);
}

/// Adds the writes of a dataset's records (inserted, or replacing stored ones of the same
/// key): one statement with arrays, or one per record.
pub fn write_records<'a>(
    b: &mut Batch<'a>,
    dialect: Dialect,
    identity_id: &'a str,
    name: &'a str,
    records: &'a [RecordRow],
) {
    macro_rules! on_conflict {
        () => {
            " ON CONFLICT (identity_id, dataset_name, key) DO UPDATE SET
             value = excluded.value, sync_count = excluded.sync_count,
             last_modified_ms = excluded.last_modified_ms,
             last_modified_by = excluded.last_modified_by,
             device_last_modified_ms = excluded.device_last_modified_ms"
        };
    }
    if records.is_empty() {
        return;
    }
    if dialect.array_binds {
        const SQL: &str = concat!(
            "INSERT INTO records (identity_id, dataset_name, ",
            record_cols!(),
            ") SELECT $1, $2, k, v, c, m, b, d
             FROM UNNEST($3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::BIGINT[], $7::TEXT[], $8::BIGINT[])
                  AS u(k, v, c, m, b, d)",
            on_conflict!()
        );
        let params = [
            identity_id.into(),
            name.into(),
            Param::Texts(records.iter().map(|r| r.key.as_str()).collect()),
            Param::OptTexts(records.iter().map(|r| r.value.as_deref()).collect()),
            Param::Ints(records.iter().map(|r| r.sync_count).collect()),
            Param::Ints(records.iter().map(|r| r.last_modified_ms).collect()),
            Param::Texts(
                records
                    .iter()
                    .map(|r| r.last_modified_by.as_str())
                    .collect(),
            ),
            Param::OptInts(records.iter().map(|r| r.device_last_modified_ms).collect()),
        ];
        b.execute(SQL, params);
    } else {
        const SQL: &str = concat!(
            "INSERT INTO records (identity_id, dataset_name, ",
            record_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            on_conflict!()
        );
        for r in records {
            let params = args![
                identity_id,
                name,
                &r.key,
                &r.value,
                r.sync_count,
                r.last_modified_ms,
                &r.last_modified_by,
                r.device_last_modified_ms,
            ];
            b.execute(SQL, params);
        }
    }
}

/// Enabled devices subscribed to a dataset, by id: (identity id, dataset name).
pub const SUBSCRIBERS: &str = concat!(
    "SELECT ",
    device_cols!(),
    " FROM devices WHERE NOT disabled AND id IN
         (SELECT device_id FROM subscriptions WHERE identity_id = $1 AND dataset_name = $2)
     ORDER BY id"
);

/// Adds the writes of outbox events, due at `now_ms`.
pub fn write_outbox<'a>(b: &mut Batch<'a>, events: &'a [NewOutboxEvent], now_ms: i64) {
    const SQL: &str = "INSERT INTO outbox (pool_id, stream_key, target, payload, job, created_ms, next_attempt_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $6)";
    for e in events {
        let params = args![
            &e.pool_id,
            &e.stream_key,
            &e.target,
            &e.payload,
            &e.job,
            now_ms
        ];
        b.execute(SQL, params);
    }
}

/// An identity's record: (identity id).
pub const IDENTITY: &str = concat!(
    "SELECT ",
    identity_cols!(),
    " FROM identities WHERE id = $1"
);

/// The identity a login is linked to: (pool id, provider, subject).
pub const LOGIN_OWNER: &str =
    "SELECT identity_id FROM logins WHERE pool_id = $1 AND provider = $2 AND subject = $3";

/// An identity's logins as (provider, subject), ordered: (identity id).
pub const LOGINS_OF: &str =
    "SELECT provider, subject FROM logins WHERE identity_id = $1 ORDER BY provider, subject";

/// A pool's settings row: (pool id).
pub const SETTINGS: &str = concat!(
    "SELECT pool_id, ",
    settings_cols!(),
    " FROM pool_settings WHERE pool_id = $1"
);

/// A pool's settings (the default, version 0, when never set).
pub async fn settings<X: Tx>(tx: &mut X, pool_id: &str) -> StoreResult<PoolSettings> {
    Ok(rows::opt(tx.query(SETTINGS, &args![pool_id]).await?, rows::settings)?.unwrap_or_default())
}

/// Writes a pool's settings (inserted, or replacing the stored ones).
pub async fn put_settings<X: Tx>(tx: &mut X, pool_id: &str, s: &PoolSettings) -> StoreResult<()> {
    const SQL: &str = concat!(
        "INSERT INTO pool_settings (pool_id, ",
        settings_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (pool_id) DO UPDATE SET version = excluded.version,
             push_sync = excluded.push_sync, cognito_streams = excluded.cognito_streams,
             events = excluded.events, limits = excluded.limits"
    );
    let push_sync = s.push_sync.as_ref().map(rows::encoded).transpose()?;
    let cognito_streams = s.cognito_streams.as_ref().map(rows::encoded).transpose()?;
    let events = rows::encoded(&s.events)?;
    // None set: NULL, as before pools had quotas of their own.
    let limits = (!s.limits.is_unset())
        .then(|| rows::encoded(&s.limits))
        .transpose()?;
    let params = args![
        pool_id,
        s.version,
        &push_sync,
        &cognito_streams,
        &events,
        &limits
    ];
    tx.execute(SQL, &params).await?;
    Ok(())
}

/// A pool's row, if it exists.
pub async fn pool<X: Tx>(tx: &mut X, id: &str) -> StoreResult<Option<PoolRecord>> {
    rows::opt(tx.query(POOL, &args![id]).await?, rows::pool)
}

/// A pool's row: (id).
pub const POOL: &str = concat!(
    "SELECT ",
    pool_cols!(),
    " FROM identity_pools WHERE id = $1"
);

/// A pool's bulk-publish job written whole: (pool id, status, start, complete, failure
/// message, last success).
pub const PUT_BULK_JOB: &str = concat!(
    "INSERT INTO bulk_publish (pool_id, ",
    bulk_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (pool_id) DO UPDATE SET status = excluded.status,
         start_ms = excluded.start_ms, complete_ms = excluded.complete_ms,
         failure_message = excluded.failure_message, last_success_ms = excluded.last_success_ms"
);

/// A new identity, unless one with its id exists: (id, pool id, created, last modified).
pub const INSERT_IDENTITY: &str = concat!(
    "INSERT INTO identities (",
    identity_cols!(),
    ") VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING"
);

/// An identity goes, with everything stored under it (the schema cascades): (id).
pub const DELETE_IDENTITY: &str = "DELETE FROM identities WHERE id = $1";

/// A pool's bulk-publish job: (pool id).
pub const BULK_JOB: &str = concat!(
    "SELECT ",
    bulk_cols!(),
    " FROM bulk_publish WHERE pool_id = $1"
);

/// A pool's bulk-publish job, if ever requested.
pub async fn bulk_job<X: Tx>(tx: &mut X, pool_id: &str) -> StoreResult<Option<BulkJob>> {
    rows::opt(tx.query(BULK_JOB, &args![pool_id]).await?, rows::bulk_job)
}

/// Every record of a dataset goes: (identity id, dataset name).
pub const CLEAR_RECORDS: &str = "DELETE FROM records WHERE identity_id = $1 AND dataset_name = $2";

/// Stores what `decide` makes of a pool's bulk-publish job on `event`; whether it changed it.
pub async fn decide_bulk_job<X: Tx>(
    tx: &mut X,
    pool_id: &str,
    event: BulkEvent<'_>,
    decide: &BulkDecider,
) -> StoreResult<bool> {
    let current = bulk_job(tx, pool_id).await?;
    let Some(job) = decide(current.as_ref(), event).map_err(StoreError::Rejected)? else {
        return Ok(false);
    };
    let params = args![
        pool_id,
        &job.status,
        job.start_ms,
        job.complete_ms,
        &job.failure_message,
        job.last_success_ms,
    ];
    tx.execute(PUT_BULK_JOB, &params).await?;
    Ok(true)
}

/// Drops a pool's undelivered bulk-publish events; how many.
pub async fn drop_job_events<X: Tx>(tx: &mut X, pool_id: &str) -> StoreResult<u64> {
    tx.execute("DELETE FROM outbox WHERE job = $1", &args![pool_id])
        .await
}

/// Locks an identity's row; an error when the identity no longer exists.
pub async fn lock_identity<X: Tx>(tx: &mut X, identity_id: &str) -> StoreResult<()> {
    if tx.lock(Lock::Identity, identity_id).await? {
        Ok(())
    } else {
        Err(identity_gone(identity_id))
    }
}

/// A write found its identity deleted (or merged away) meanwhile.
pub fn identity_gone(identity_id: &str) -> StoreError {
    StoreError::IdentityGone(identity_id.to_owned())
}
