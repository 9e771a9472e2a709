//! What crosses the [`Store`](super::Store) boundary when data moves between stores (export,
//! import, migration off another Cognito Sync endpoint): whole pools and whole identities.
//! The rules for what an import may overwrite are the migration's (`migrate::rules`); the
//! store runs them on what it holds and persists the outcome.

use super::{BulkJob, DatasetRow, DeviceRecord, IdentityRecord, LoginKey, PoolRecord};
use super::{PoolSettings, RecordRow};

/// A pool with everything stored beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolCopy {
    pub pool: PoolRecord,
    pub settings: PoolSettings,
    pub bulk: Option<BulkJob>,
}

/// A dataset row with its records (tombstones included).
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRecords {
    pub row: DatasetRow,
    pub records: Vec<RecordRow>,
    /// None: `records` are all of the dataset's. Some(n): only those changed after SyncCount
    /// n (an incremental copy, valid over a stored dataset at exactly n).
    pub since: Option<i64>,
}

/// Everything stored of one identity.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityCopy {
    pub identity: IdentityRecord,
    /// (provider, subject), ordered.
    pub logins: Vec<LoginKey>,
    /// Live, deleted and merged datasets, by name.
    pub datasets: Vec<DatasetRecords>,
    /// By id.
    pub devices: Vec<DeviceRecord>,
    /// (dataset name, device id), ordered.
    pub subscriptions: Vec<(String, String)>,
}

/// What an import does with one incoming dataset, given the stored one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetVerdict {
    /// Write it: the row, and the records (all of them replacing the stored ones, or the
    /// changed ones over them).
    Write,
    /// The store already holds exactly this.
    Unchanged,
    /// The store holds a later SyncCount: a device moved on; never rolled back.
    StoreAhead { stored: i64, incoming: i64 },
    /// An incremental copy whose base is not what the store holds: it needs a full copy.
    NeedsFull,
}

/// The import rule, run by the store inside the identity's write transaction for each
/// incoming dataset, on the stored row (None when absent).
pub type ImportDecider =
    Box<dyn Fn(Option<&DatasetRow>, &DatasetRecords) -> DatasetVerdict + Send + Sync>;

/// What importing one identity did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityImport {
    /// The identity row was created (false: it existed and only its dates were set).
    pub created: bool,
    /// The identity exists in another pool: nothing was written.
    pub foreign_pool: Option<String>,
    pub datasets_written: u64,
    pub records_written: u64,
    pub datasets_unchanged: u64,
    /// (dataset, stored SyncCount, incoming SyncCount).
    pub store_ahead: Vec<(String, i64, i64)>,
    /// Datasets whose incremental copy needs a full one.
    pub needs_full: Vec<String>,
    /// Logins linked to another identity in the store: left linked to that one.
    pub logins_taken: Vec<LoginKey>,
    /// Logins linked to it now (those it held already are not).
    pub logins_linked: Vec<LoginKey>,
}
