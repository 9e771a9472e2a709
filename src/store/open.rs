//! Opening the store a command is configured for: PostgreSQL when a database URL is given,
//! else the embedded SQLite database in the data directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::{Store, StoreResult};

/// Where a store is, and how to talk to it.
#[derive(Debug, Clone)]
pub struct StoreLocation {
    /// PostgreSQL URL; None selects SQLite in `data_dir`.
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
    /// PostgreSQL connections kept open.
    pub pool_size: usize,
    /// How long one operation may take when no request deadline applies, and PostgreSQL's
    /// `statement_timeout`.
    pub timeout: Duration,
}

/// Default of `--store-timeout`: a few seconds below the shortest common client timeout (the
/// mobile SDKs' 15 s), with room for looking up a lost commit's outcome.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl StoreLocation {
    /// `database_url`, else `data_dir`, with the default pool size and timeout.
    pub fn new(database_url: Option<String>, data_dir: PathBuf) -> Self {
        StoreLocation {
            database_url,
            data_dir,
            pool_size: usize::from(super::postgres::DEFAULT_POOL_SIZE),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Opens (creating and migrating as needed) the store at `at`.
pub async fn open(at: &StoreLocation) -> StoreResult<Arc<dyn Store>> {
    Ok(match &at.database_url {
        Some(url) => Arc::new(PostgresStore::connect_with(url, at.pool_size, at.timeout).await?),
        None => Arc::new(SqliteStore::open(&at.data_dir)?),
    })
}

/// Opens the store at `at` to read it only: on SQLite without taking the data directory's
/// lock, so it can be read while a server runs on it (`cogsync export`).
pub async fn open_to_read(at: &StoreLocation) -> StoreResult<Arc<dyn Store>> {
    Ok(match &at.database_url {
        Some(url) => Arc::new(PostgresStore::connect_with(url, at.pool_size, at.timeout).await?),
        None => Arc::new(SqliteStore::open_read_only(&at.data_dir)?),
    })
}
