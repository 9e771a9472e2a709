//! Persistence. The [`Store`] trait is all the services see; SQLite is the embedded default.
//! Every backend must pass the shared conformance suite in [`conformance`].

mod attachment;
mod families;
mod open;
mod transfer;
mod types;

pub mod postgres;
pub mod sql;
pub mod sqlite;

#[cfg(test)]
pub(crate) mod conformance;

pub use attachment::*;
pub use families::*;

/// Every family trait, to call the store's methods on a concrete store: `use
/// cogsync::store::prelude::*`.
pub mod prelude {
    pub use super::{
        AdminStore, DataStore, DeviceStore, DispatchStore, IdentityStore, OutboxStore, PoolStore,
        Store, TransferStore, UpstreamStore,
    };
}
pub use open::{open, open_to_read, StoreLocation, DEFAULT_TIMEOUT};
pub use transfer::*;
pub use types::*;

/// A storage failure. `Rejected` carries the rules' own refusal out of a write transaction.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("update rejected: {0:?}")]
    Rejected(Rejection),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The store failed, or did not answer in time, and nothing was written: whatever the
    /// operation was, it did not commit.
    #[error("storage backend failed: {0}")]
    Backend(String),
    /// Contention the backend could not resolve within its retries; the client may retry.
    #[error("storage backend too busy: {0}")]
    Busy(String),
    /// A write's commit was sent but its outcome could not be learned (the connection was
    /// lost with the reply, and asking again failed): it may or may not have been applied.
    #[error("commit outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// The identity a write is for was deleted (or merged away) while the write waited:
    /// nothing was written.
    #[error("identity gone: {0}")]
    IdentityGone(String),
    /// A stored value cannot be read as what it should be (a pool's configuration that does
    /// not decode): nothing was done with it.
    #[error("stored data unreadable: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What a store reports of its own work. The metrics implement it; the store knows nothing
/// of them.
pub trait StoreObserver: Send + Sync {
    /// The store operation `name` (a [`Store`] method's) took `seconds`.
    fn operation(&self, name: &'static str, seconds: f64);
    /// The SQLite writer committed `writes` writes together (group commit).
    fn commit(&self, writes: usize);
    /// The store operation `name` found a stored value it could not read.
    fn corrupt(&self, name: &'static str);
}
