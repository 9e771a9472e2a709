//! The embedded default engine: one SQLite file in WAL mode with `synchronous=FULL`, so every
//! acknowledged write is fsync'd. One writer thread owns the writing connection and commits
//! waiting writes together (group commit); readers use a small pool of their own connections
//! and see consistent snapshots. The operations themselves are the shared ones
//! ([`crate::store::sql`]).

pub mod lock;
mod tx;

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::Connection;

use crate::store::sql::schema;
use crate::store::sql::{AfterWrite, Engine, Op, SqlStore};
use crate::store::{StoreError, StoreObserver, StoreResult};
use tx::{finish_now, sqlite_error, SqliteTx};

pub use crate::store::sql::schema::SCHEMA_VERSION;

/// The store on SQLite.
pub type SqliteStore = SqlStore<SqliteEngine>;

/// Reader connections, all opened at start (opening one costs far more than a query, and a
/// process out of descriptors could not open one later): reads run in place on the runtime's
/// threads, so a few cover them; a read finding none free waits for one.
const READERS: usize = 8;

/// Each connection's page cache, in KiB (SQLite's default is 2,000). With a million
/// identities, 64 clients' pages and the B-tree levels above them came to about SQLite's
/// default: every read missed and read its pages from the operating system again (list cost
/// 45% more than on an empty store; docs/benchmarks.md). Readers are taken last-in first-out,
/// so on a quiet server only a few fill theirs; at most (READERS + 1) × this in all.
const CACHE_KIB: i64 = 4096;
/// Descriptors one connection holds: the database, its WAL and its shared-memory index.
const FILES_PER_CONNECTION: usize = 3;
/// Most writes one transaction (one fsync) carries.
const MAX_BATCH: usize = 256;
/// Prepared statements kept per connection: more than the store has (see [`prepare_once`]).
const STATEMENT_CACHE: usize = 128;

/// Delivers a write's outcome once its batch is committed.
type Completion = Box<dyn FnOnce(Result<(), BatchFailure>) + Send>;

/// Why a batch of writes was not committed, and whether that much is certain.
#[derive(Debug, Clone)]
enum BatchFailure {
    /// Rolled back: none of its writes took effect.
    RolledBack(String),
    /// The COMMIT failed writing to the disk (an I/O error, an fsync that failed): its
    /// frames may have reached the WAL, where the next open would find them committed.
    Unknown(String),
}

impl BatchFailure {
    fn into_store_error(self) -> StoreError {
        match self {
            BatchFailure::RolledBack(e) => StoreError::Backend(e),
            BatchFailure::Unknown(e) => StoreError::OutcomeUnknown(e),
        }
    }
}
/// A write: runs inside a savepoint (or, given no connection, is answered with its batch's
/// failure without running); says whether to keep its changes.
type Job = Box<dyn FnOnce(Option<&mut Connection>) -> (bool, Completion) + Send>;

pub struct SqliteEngine {
    path: std::path::PathBuf,
    /// The queue of the writer thread, which owns the writing connection; None when the
    /// store was opened read-only.
    writer: Option<Mutex<std::sync::mpsc::Sender<Job>>>,
    /// The data directory's lock, held by a store that writes (see [`lock`]).
    _lock: Option<lock::DirLock>,
    /// The idle readers, and a permit for each.
    readers: Mutex<Vec<Connection>>,
    free_readers: tokio::sync::Semaphore,
    /// Told each group commit's size, once someone listens (shared with the writer thread).
    observer: Arc<Watcher>,
}

/// The writer thread's observer, set once.
type Watcher = OnceLock<Arc<dyn StoreObserver>>;

fn backend<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn open_connection(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    prepare_once(&conn)?;
    Ok(conn)
}

/// Every connection's page cache is [`CACHE_KIB`]. Statements are compiled once per
/// connection: the cache holds every statement the store
/// has, and the query planner stability guarantee keeps SQLite from compiling a statement
/// again whenever a parameter its plan looked at (a range bound, a LIMIT) gets a new value,
/// which it otherwise does on every request (its plans here do not depend on those values).
fn prepare_once(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// A reader: the database is in WAL mode already (the writer set it, and it persists).
fn open_reader(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    prepare_once(&conn)?;
    Ok(conn)
}

/// Brings the database up to [`SCHEMA_VERSION`], tracked in `PRAGMA user_version`. The
/// version is read inside a write transaction, so two processes opening one new database
/// at once (a server and `cogsync import`) take turns rather than both migrating.
fn migrate(conn: &mut Connection) -> Result<(), String> {
    let e = |e: rusqlite::Error| e.to_string();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(e)?;
    let current: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(e)?;
    for (version, sql) in schema::pending(current, &crate::store::sql::SQLITE)? {
        tx.execute_batch(&sql).map_err(e)?;
        tx.pragma_update(None, "user_version", version).map_err(e)?;
    }
    tx.commit().map_err(e)
}

/// Group commit: takes every write waiting, runs each in a savepoint of one transaction,
/// commits once, then answers them all. Under load many writes share one fsync; alone, a
/// write commits at once.
fn writer_loop(
    mut conn: Connection,
    queue: std::sync::mpsc::Receiver<Job>,
    observer: Arc<Watcher>,
) {
    while let Ok(first) = queue.recv() {
        let mut pending = std::collections::VecDeque::from([first]);
        while pending.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => pending.push_back(job),
                Err(_) => break,
            }
        }
        let mut completions = Vec::with_capacity(pending.len());
        let committed = run_batch(&mut conn, &mut pending, &mut completions);
        match (&committed, observer.get()) {
            (Err(_), _) => {
                let _ = conn.execute_batch("ROLLBACK");
            }
            (Ok(()), Some(observer)) => observer.commit(completions.len()),
            (Ok(()), None) => {}
        }
        // Writes the failed batch never reached are answered with its failure, unrun.
        for job in pending {
            completions.push(job(None).1);
        }
        for complete in completions {
            // A panicking completion must not take the writer (and every later write) down.
            let answered = panic::catch_unwind(AssertUnwindSafe(|| complete(committed.clone())));
            if answered.is_err() {
                tracing::error!("a write's completion panicked");
            }
        }
    }
}

fn run_batch(
    conn: &mut Connection,
    pending: &mut std::collections::VecDeque<Job>,
    completions: &mut Vec<Completion>,
) -> Result<(), BatchFailure> {
    let step = |conn: &Connection, sql: &str| {
        conn.execute_batch(sql)
            .map_err(|e| BatchFailure::RolledBack(e.to_string()))
    };
    step(conn, "BEGIN IMMEDIATE")?;
    while !pending.is_empty() {
        // Taken from the queue only once its savepoint exists: a write this batch never ran
        // stays queued, and is answered with the batch's failure.
        step(conn, "SAVEPOINT write")?;
        let Some(job) = pending.pop_front() else {
            break;
        };
        // A write that panics is undone and its caller answered (its reply is dropped); the
        // writer thread and the rest of the batch carry on.
        let keep = match panic::catch_unwind(AssertUnwindSafe(|| job(Some(&mut *conn)))) {
            Ok((keep, complete)) => {
                completions.push(complete);
                keep
            }
            Err(_) => {
                tracing::error!("a write panicked; its changes are rolled back");
                false
            }
        };
        if !keep {
            step(conn, "ROLLBACK TO write")?;
        }
        step(conn, "RELEASE write")?;
    }
    conn.execute_batch("COMMIT").map_err(|e| match &e {
        // A full disk fails the commit before anything is written (SQLite rolls back).
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::SystemIoFailure => {
            BatchFailure::Unknown(e.to_string())
        }
        _ => BatchFailure::RolledBack(e.to_string()),
    })
}

impl SqlStore<SqliteEngine> {
    /// Opens (creating if needed) `cogsync.sqlite3` in `dir` and applies migrations, holding
    /// the directory's lock: refused while another process has it open to write.
    pub fn open(dir: &Path) -> StoreResult<Self> {
        crate::private_fs::create_private_dir(dir).map_err(backend)?;
        let held = lock::lock(dir)?;
        let path = dir.join(DATABASE);
        crate::private_fs::touch_private_file(&path).map_err(backend)?;
        let mut writer = open_connection(&path).map_err(backend)?;
        migrate(&mut writer).map_err(StoreError::Backend)?;
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let observer = Arc::new(Watcher::new());
        let watching = observer.clone();
        std::thread::Builder::new()
            .name("cogsync-sqlite-writer".into())
            .spawn(move || writer_loop(writer, queue, watching))
            .map_err(backend)?;
        let readers = (0..READERS)
            .map(|_| open_reader(&path))
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        Ok(SqlStore::new(SqliteEngine {
            path,
            writer: Some(Mutex::new(jobs)),
            _lock: Some(held),
            readers: Mutex::new(readers),
            free_readers: tokio::sync::Semaphore::new(READERS),
            observer,
        }))
    }

    /// Opens an existing store in `dir` to read only, without the directory's lock: a server
    /// may be writing it meanwhile (each read is a consistent snapshot; SQLite's write-ahead
    /// log keeps readers and the writer apart). Refused when there is no store there, or one
    /// of another schema version.
    pub fn open_read_only(dir: &Path) -> StoreResult<Self> {
        let path = dir.join(DATABASE);
        if !path.is_file() {
            return Err(StoreError::Backend(format!(
                "no store at {}",
                path.display()
            )));
        }
        let readers = (0..READERS)
            .map(|_| open_reader(&path))
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        let version: i64 = readers
            .first()
            .ok_or_else(|| StoreError::Backend("no reader".into()))?
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        if version != SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "the store at {} is at schema version {version}; this cogsync reads version {SCHEMA_VERSION} (start this version's server on it once to upgrade it)",
                path.display()
            )));
        }
        Ok(SqlStore::new(SqliteEngine {
            path,
            writer: None,
            _lock: None,
            readers: Mutex::new(readers),
            free_readers: tokio::sync::Semaphore::new(READERS),
            observer: Arc::new(Watcher::new()),
        }))
    }
}

/// The database file in a data directory.
const DATABASE: &str = "cogsync.sqlite3";

impl SqliteEngine {
    async fn reader_permit(&self) -> StoreResult<tokio::sync::SemaphorePermit<'_>> {
        self.free_readers
            .acquire()
            .await
            .map_err(|_| StoreError::Backend("the SQLite readers are closed".into()))
    }

    /// An idle reader (a permit guarantees one; should the pool's lock have been poisoned, a
    /// fresh one does the read).
    fn take_reader(&self) -> StoreResult<Connection> {
        match self.readers.lock().ok().and_then(|mut v| v.pop()) {
            Some(c) => Ok(c),
            None => open_reader(&self.path).map_err(sqlite_error),
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.readers.lock() {
            idle.push(conn);
        }
    }
}

impl Engine for SqliteEngine {
    /// The writer thread is the only writer of the file (the directory's lock sees to it); a
    /// read-only store is not, and keeps nothing in memory.
    fn sole_writer(&self) -> bool {
        self.writer.is_some()
    }

    fn observe(&self, observer: Arc<dyn StoreObserver>) {
        let _ = self.observer.set(observer);
    }

    /// Runs `op` on the writer thread inside its own savepoint of a batch transaction, and
    /// answers once the batch is committed (fsync'd). An error rolls back `op`'s changes only.
    async fn write<O: Op>(
        &self,
        op: O,
        settled: Option<AfterWrite<O::Output>>,
    ) -> StoreResult<O::Output> {
        let (reply, answer) = tokio::sync::oneshot::channel::<StoreResult<O::Output>>();
        let job: Job = Box::new(move |conn: Option<&mut Connection>| {
            let result = match conn {
                Some(conn) => finish_now(op.run(&mut SqliteTx::new(conn))),
                None => Err(StoreError::Backend("the write's batch failed".into())),
            };
            let keep = result.is_ok();
            let complete: Completion = Box::new(move |committed: Result<(), BatchFailure>| {
                let outcome = match (result, committed) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Ok(_), Err(e)) => Err(e.into_store_error()),
                    (Err(e), _) => Err(e),
                };
                // After the commit, on this thread: it happens even if nobody waits.
                if let Some(settled) = settled {
                    settled(outcome.as_ref().ok());
                }
                let _ = reply.send(outcome);
            });
            (keep, complete)
        });
        self.writer
            .as_ref()
            .ok_or_else(|| StoreError::Backend("this store was opened to read only".into()))?
            .lock()
            .map_err(|_| StoreError::Backend("writer queue lock poisoned".into()))?
            .send(job)
            .map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the SQLite writer dropped a request".into()))?
    }

    /// Runs `op` on a pooled reader. WAL readers never wait for the writer and these are
    /// small index lookups, so they run in place: a hop to the blocking pool costs more than
    /// the query.
    async fn read<O: Op>(&self, op: O) -> StoreResult<O::Output> {
        let _permit = self.reader_permit().await?;
        let mut conn = self.take_reader()?;
        let result = finish_now(op.run(&mut SqliteTx::new(&mut conn)));
        self.give_back(conn);
        result
    }

    /// Sums over a pool, an identity exported whole: on the blocking pool, so a long read
    /// does not hold one of the runtime's few threads.
    async fn long_read<O: Op>(&self, op: O) -> StoreResult<O::Output> {
        let _permit = self.reader_permit().await?;
        let mut conn = self.take_reader()?;
        let ran = tokio::task::spawn_blocking(move || {
            let result = finish_now(op.run(&mut SqliteTx::new(&mut conn)));
            (conn, result)
        })
        .await;
        match ran {
            Ok((conn, result)) => {
                self.give_back(conn);
                result
            }
            Err(e) => Err(StoreError::Backend(format!("a long read failed: {e}"))),
        }
    }

    /// The writer and every reader.
    fn descriptors(&self) -> usize {
        (READERS + 1) * FILES_PER_CONNECTION
    }
}

#[cfg(test)]
mod tests;
