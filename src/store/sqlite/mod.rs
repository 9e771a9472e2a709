//! The embedded default backend: one SQLite file in WAL mode with `synchronous=FULL`, so every
//! acknowledged write is fsync'd. One writer connection serialises writes; readers use a small
//! pool of their own connections and see consistent snapshots.

mod rows;
mod schema;

pub use schema::SCHEMA_VERSION;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    BulkJob, DatasetCopy, DatasetEvents, DatasetRow, DeleteDecider, DeviceRecord, IdentityRecord,
    LoginDecider, LoginKey, LoginPlan, LoginQuery, LoginSnapshot, MergeCopier, NewOutboxEvent,
    OutboxEvent, PoolRecord, PoolSettings, RecordCursor, RecordRow, RecordsPage, Rejection,
    SettingsDecider, Store, StoreError, StoreResult, TargetGone, UpdateDecider, UpdatePlan,
    UpdateSnapshot, Usage,
};
use rows::{
    dataset_from_row, identity_from_row, pool_from_row, record_from_row, DATASET_COLS, RECORD_COLS,
};

/// Readers kept open for reuse (opening one costs far more than a query); more are opened on
/// demand under load.
const IDLE_READERS: usize = 256;

pub struct SqliteStore {
    inner: Arc<Inner>,
}

/// Delivers a write's outcome once its batch is committed.
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write: runs inside a savepoint; says whether to keep its changes.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

/// Most writes one transaction (one fsync) carries.
const MAX_BATCH: usize = 256;

/// Group commit: takes every write waiting, runs each in a savepoint of one transaction,
/// commits once, then answers them all. Under load many writes share one fsync; alone, a
/// write commits at once.
fn writer_loop(mut conn: Connection, queue: std::sync::mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut pending = std::collections::VecDeque::from([first]);
        while pending.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => pending.push_back(job),
                Err(_) => break,
            }
        }
        let mut completions = Vec::with_capacity(pending.len());
        let committed = (|| -> Result<(), String> {
            let mut tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| e.to_string())?;
            while !pending.is_empty() {
                let sp = tx.savepoint().map_err(|e| e.to_string())?;
                let Some(job) = pending.pop_front() else {
                    break;
                };
                let (keep, complete) = job(&sp);
                completions.push(complete);
                if keep {
                    sp.commit().map_err(|e| e.to_string())?;
                }
            }
            tx.commit().map_err(|e| e.to_string())
        })();
        // Writes the failed batch never reached are answered with its failure.
        for job in pending {
            let (_, complete) = job(&conn);
            completions.push(complete);
        }
        for complete in completions {
            complete(committed.clone());
        }
    }
}

struct Inner {
    path: std::path::PathBuf,
    /// The queue of the writer thread, which owns the writing connection.
    writer: Mutex<std::sync::mpsc::Sender<Job>>,
    readers: Mutex<Vec<Connection>>,
}

fn backend<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn open_connection(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// A reader: the database is in WAL mode already (the writer set it, and it persists).
fn open_reader(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) `cogsync.sqlite3` in `dir` and applies migrations.
    pub fn open(dir: &Path) -> StoreResult<Self> {
        crate::private_fs::create_private_dir(dir).map_err(backend)?;
        let path = dir.join("cogsync.sqlite3");
        crate::private_fs::touch_private_file(&path).map_err(backend)?;
        let mut writer = open_connection(&path).map_err(backend)?;
        schema::migrate(&mut writer).map_err(StoreError::Backend)?;
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("cogsync-sqlite-writer".into())
            .spawn(move || writer_loop(writer, queue))
            .map_err(backend)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(jobs),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Runs `f` on the writer thread inside its own savepoint of a batch transaction, and
    /// answers once the batch is committed (fsync'd). An error rolls back `f`'s changes only.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |conn: &Connection| {
            let result = f(conn);
            let keep = result.is_ok();
            let complete: Completion = Box::new(move |committed: Result<(), String>| {
                let outcome = match (result, committed) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Ok(_), Err(e)) => Err(StoreError::Backend(e)),
                    (Err(e), _) => Err(e),
                };
                let _ = reply.send(outcome);
            });
            (keep, complete)
        });
        self.inner
            .writer
            .lock()
            .map_err(|_| StoreError::Backend("writer queue lock poisoned".into()))?
            .send(job)
            .map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the SQLite writer dropped a request".into()))?
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        // WAL readers never wait for the writer and these queries are small index lookups, so
        // they run in place: a hop to the blocking pool costs more than the query.
        let inner = &self.inner;
        let pooled = inner.readers.lock().ok().and_then(|mut v| v.pop());
        let mut conn = match pooled {
            Some(c) => c,
            None => open_reader(&inner.path).map_err(backend)?,
        };
        let result = f(&mut conn);
        if let Ok(mut idle) = inner.readers.lock() {
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn secret(&self, name: &str, fresh: Vec<u8>) -> StoreResult<Vec<u8>> {
        let name = name.to_owned();
        self.write(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)",
                params![name, fresh],
            )
            .map_err(backend)?;
            c.query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .map_err(backend)
        })
        .await
    }

    async fn create_pool(&self, pool: &PoolRecord) -> StoreResult<()> {
        let p = pool.clone();
        self.write(move |c| {
            let n = c
                .execute(
                    "INSERT OR IGNORE INTO identity_pools
                     (id, name, allow_unauthenticated, developer_provider_name, extra_json, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![p.id, p.name, p.allow_unauthenticated, p.developer_provider_name, p.extra_json, p.created_ms],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::AlreadyExists(p.id));
            }
            Ok(())
        })
        .await
    }

    async fn get_pool(&self, id: &str) -> StoreResult<Option<PoolRecord>> {
        let id = id.to_owned();
        self.read(move |c| {
            c.query_row(
                "SELECT id, name, allow_unauthenticated, developer_provider_name, extra_json, created_ms
                 FROM identity_pools WHERE id = ?1",
                [id],
                pool_from_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn list_pools(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<PoolRecord>> {
        let after = after.unwrap_or("").to_owned();
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT id, name, allow_unauthenticated, developer_provider_name, extra_json, created_ms
                     FROM identity_pools WHERE id > ?1 ORDER BY id LIMIT ?2",
                )
                .map_err(backend)?;
            let rows = st
                .query_map(params![after, sql_limit(limit)], pool_from_row)
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn update_pool(&self, pool: &PoolRecord) -> StoreResult<bool> {
        let p = pool.clone();
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE identity_pools SET name = ?2, allow_unauthenticated = ?3,
                     developer_provider_name = ?4, extra_json = ?5 WHERE id = ?1",
                    params![
                        p.id,
                        p.name,
                        p.allow_unauthenticated,
                        p.developer_provider_name,
                        p.extra_json
                    ],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_pool(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |c| {
            let n = c
                .execute("DELETE FROM identity_pools WHERE id = ?1", [id])
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_identity(&self, identity: &IdentityRecord) -> StoreResult<()> {
        let i = identity.clone();
        self.write(move |c| {
            let n = c
                .execute(
                    "INSERT OR IGNORE INTO identities (id, pool_id, created_ms, last_modified_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![i.id, i.pool_id, i.created_ms, i.last_modified_ms],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::AlreadyExists(i.id));
            }
            Ok(())
        })
        .await
    }

    async fn get_identity(&self, id: &str) -> StoreResult<Option<IdentityRecord>> {
        let id = id.to_owned();
        self.read(move |c| {
            c.query_row(
                "SELECT id, pool_id, created_ms, last_modified_ms FROM identities WHERE id = ?1",
                [id],
                identity_from_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn list_identities(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<IdentityRecord>> {
        let pool_id = pool_id.to_owned();
        let after = after.unwrap_or("").to_owned();
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT id, pool_id, created_ms, last_modified_ms FROM identities
                     WHERE pool_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                )
                .map_err(backend)?;
            let rows = st
                .query_map(params![pool_id, after, sql_limit(limit)], identity_from_row)
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn get_dataset(&self, identity_id: &str, name: &str) -> StoreResult<Option<DatasetRow>> {
        let (identity_id, name) = (identity_id.to_owned(), name.to_owned());
        self.read(move |c| select_dataset(c, &identity_id, &name))
            .await
    }

    async fn list_datasets(
        &self,
        identity_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<DatasetRow>> {
        let identity_id = identity_id.to_owned();
        let after = after.unwrap_or("").to_owned();
        self.read(move |c| {
            let sql = format!(
                "SELECT {DATASET_COLS} FROM datasets
                 WHERE identity_id = ?1 AND live = 1 AND name > ?2 ORDER BY name LIMIT ?3"
            );
            let mut st = c.prepare_cached(&sql).map_err(backend)?;
            let rows = st
                .query_map(
                    params![identity_id, after, sql_limit(limit)],
                    dataset_from_row,
                )
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn list_records(
        &self,
        identity_id: &str,
        name: &str,
        after_sync_count: i64,
        cursor: Option<&RecordCursor>,
        limit: usize,
    ) -> StoreResult<RecordsPage> {
        let (identity_id, name) = (identity_id.to_owned(), name.to_owned());
        let (cursor_count, cursor_key) = cursor.cloned().unwrap_or((i64::MIN, String::new()));
        self.read(move |c| {
            let tx = c.transaction().map_err(backend)?;
            let dataset = select_dataset(&tx, &identity_id, &name)?;
            let mut records = Vec::new();
            if dataset.as_ref().is_some_and(|d| d.live) {
                let sql = format!(
                    "SELECT {RECORD_COLS} FROM records
                     WHERE identity_id = ?1 AND dataset_name = ?2 AND sync_count > ?3
                       AND (sync_count, key) > (?4, ?5)
                     ORDER BY sync_count, key LIMIT ?6"
                );
                let mut st = tx.prepare_cached(&sql).map_err(backend)?;
                let rows = st
                    .query_map(
                        params![
                            identity_id,
                            name,
                            after_sync_count,
                            cursor_count,
                            cursor_key,
                            sql_limit(limit.saturating_add(1))
                        ],
                        record_from_row,
                    )
                    .map_err(backend)?;
                records = rows.collect::<Result<Vec<_>, _>>().map_err(backend)?;
            }
            let merged = {
                let mut st = tx
                    .prepare_cached(
                        "SELECT name FROM datasets WHERE identity_id = ?1 AND merged_into = ?2 AND live = 1
                         ORDER BY name",
                    )
                    .map_err(backend)?;
                let rows = st
                    .query_map(params![identity_id, name], |r| r.get::<_, String>(0))
                    .map_err(backend)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(backend)?
            };
            let more = records.len() > limit;
            records.truncate(limit);
            Ok(RecordsPage {
                dataset,
                records,
                more,
                merged,
            })
        })
        .await
    }

    async fn update_records(
        &self,
        identity_id: &str,
        name: &str,
        keys: Vec<String>,
        decide: UpdateDecider,
    ) -> StoreResult<UpdatePlan> {
        let (identity_id, name) = (identity_id.to_owned(), name.to_owned());
        self.write(move |c| {
            let tx = c;
            let dataset = select_dataset(tx, &identity_id, &name)?;
            let mut existing = std::collections::HashMap::with_capacity(keys.len());
            {
                let sql = format!(
                    "SELECT {RECORD_COLS} FROM records
                     WHERE identity_id = ?1 AND dataset_name = ?2 AND key = ?3"
                );
                let mut st = tx.prepare_cached(&sql).map_err(backend)?;
                for key in &keys {
                    if let Some(r) = st
                        .query_row(params![identity_id, name, key], record_from_row)
                        .optional()
                        .map_err(backend)?
                    {
                        existing.insert(key.clone(), r);
                    }
                }
            }
            let live_datasets: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM datasets WHERE identity_id = ?1 AND live = 1",
                    [&identity_id],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            let subscribers = select_subscribers(tx, &identity_id, &name)?;
            let snapshot = UpdateSnapshot {
                dataset,
                existing,
                live_datasets,
                subscribers,
            };
            let plan = decide(&snapshot).map_err(StoreError::Rejected)?;
            upsert_dataset(tx, &identity_id, &name, &plan.dataset)?;
            upsert_records(tx, &identity_id, &name, &plan.records)?;
            insert_outbox(tx, &plan.outbox, plan.dataset.last_modified_ms)?;
            Ok(plan)
        })
        .await
    }

    async fn delete_dataset(
        &self,
        identity_id: &str,
        name: &str,
        decide: DeleteDecider,
    ) -> StoreResult<Option<DatasetRow>> {
        let (identity_id, name) = (identity_id.to_owned(), name.to_owned());
        self.write(move |c| {
            let tx = c;
            let before = match select_dataset(tx, &identity_id, &name)? {
                Some(d) if d.live => d,
                _ => return Ok(None),
            };
            tx.execute(
                "DELETE FROM records WHERE identity_id = ?1 AND dataset_name = ?2",
                params![identity_id, name],
            )
            .map_err(backend)?;
            tx.execute(
                "DELETE FROM subscriptions WHERE identity_id = ?1 AND dataset_name = ?2",
                params![identity_id, name],
            )
            .map_err(backend)?;
            let plan = decide(&before);
            upsert_dataset(tx, &identity_id, &name, &plan.dataset)?;
            insert_outbox(tx, &plan.outbox, plan.at_ms)?;
            Ok(Some(before))
        })
        .await
    }

    async fn find_login(
        &self,
        pool_id: &str,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<String>> {
        let (p, pr, s) = (pool_id.to_owned(), provider.to_owned(), subject.to_owned());
        self.read(move |c| {
            c.query_row(
                "SELECT identity_id FROM logins WHERE pool_id = ?1 AND provider = ?2 AND subject = ?3",
                params![p, pr, s],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn logins_of(&self, identity_id: &str) -> StoreResult<Vec<(String, String)>> {
        let id = identity_id.to_owned();
        self.read(move |c| {
            let mut st = c
                .prepare_cached("SELECT provider, subject FROM logins WHERE identity_id = ?1 ORDER BY provider, subject")
                .map_err(backend)?;
            let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?))).map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn delete_identity(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |c| {
            let n = c
                .execute("DELETE FROM identities WHERE id = ?1", [id])
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

    async fn login_transaction(
        &self,
        pool_id: &str,
        query: LoginQuery,
        now_ms: i64,
        decide: LoginDecider,
        merge: MergeCopier,
    ) -> StoreResult<LoginPlan> {
        let decide = Arc::new(decide);
        let (pool, q, d) = (pool_id.to_owned(), query.clone(), decide.clone());
        let plan = self
            .read(move |c| {
                let snapshot = login_snapshot(c, &pool, &q)?;
                d(&snapshot).map_err(StoreError::Rejected)
            })
            .await?;
        if !plan.writes() {
            return Ok(plan);
        }
        // The single writer serialises this with every other write.
        let pool = pool_id.to_owned();
        self.write(move |c| {
            let snapshot = login_snapshot(c, &pool, &query)?;
            let plan = decide(&snapshot).map_err(StoreError::Rejected)?;
            apply_login_plan(c, &pool, &plan, now_ms, &merge)?;
            Ok(plan)
        })
        .await
    }

    async fn get_pool_settings(&self, pool_id: &str) -> StoreResult<PoolSettings> {
        let id = pool_id.to_owned();
        self.read(move |c| select_pool_settings(c, &id)).await
    }

    async fn put_pool_settings(&self, pool_id: &str, settings: &PoolSettings) -> StoreResult<bool> {
        let (id, s) = (pool_id.to_owned(), settings.clone());
        self.write(move |c| store_pool_settings(c, &id, &s)).await
    }

    async fn identity_usage(&self, identity_id: &str) -> StoreResult<Usage> {
        let id = identity_id.to_owned();
        self.read(move |c| {
            c.query_row(
                "SELECT COALESCE(SUM(live), 0), COALESCE(SUM(data_storage), 0), COALESCE(SUM(sync_count), 0),
                     MAX(CASE WHEN live = 1 THEN last_modified_ms END)
                 FROM datasets WHERE identity_id = ?1",
                [id],
                usage_from_row,
            )
            .map_err(backend)
        })
        .await
    }

    async fn pool_usage(&self, pool_id: &str) -> StoreResult<Usage> {
        let id = pool_id.to_owned();
        self.read(move |c| {
            c.query_row(
                "SELECT COALESCE(SUM(d.live), 0), COALESCE(SUM(d.data_storage), 0), COALESCE(SUM(d.sync_count), 0),
                     MAX(CASE WHEN d.live = 1 THEN d.last_modified_ms END)
                 FROM datasets d JOIN identities i ON i.id = d.identity_id WHERE i.pool_id = ?1",
                [id],
                usage_from_row,
            )
            .map_err(backend)
        })
        .await
    }

    async fn claim_outbox(
        &self,
        node: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEvent>> {
        let node = node.to_owned();
        self.write(move |c| {
            let mut st = c
                .prepare_cached(
                    "UPDATE outbox SET claimed_by = ?1, claimed_until = ?2 + ?3
                     WHERE id IN (
                         SELECT o.id FROM outbox o
                         WHERE o.next_attempt_ms <= ?2 AND (o.claimed_until IS NULL OR o.claimed_until < ?2)
                           AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.stream_key = o.stream_key AND p.id < o.id)
                         ORDER BY o.id LIMIT ?4)
                     RETURNING id, pool_id, stream_key, target, payload, job, attempts",
                )
                .map_err(backend)?;
            let rows = st
                .query_map(params![node, now_ms, lease_ms, sql_limit(limit)], |r| {
                    Ok(OutboxEvent {
                        id: r.get(0)?,
                        event: NewOutboxEvent {
                            pool_id: r.get(1)?,
                            stream_key: r.get(2)?,
                            target: r.get(3)?,
                            payload: r.get(4)?,
                            job: r.get(5)?,
                        },
                        attempts: r.get(6)?,
                    })
                })
                .map_err(backend)?;
            let mut events = rows.collect::<Result<Vec<_>, _>>().map_err(backend)?;
            events.sort_by_key(|e| e.id);
            Ok(events)
        })
        .await
    }

    async fn complete_outbox(&self, id: i64, now_ms: i64) -> StoreResult<()> {
        self.write(move |c| {
            let tx = c;
            let job: Option<Option<String>> = tx
                .query_row("DELETE FROM outbox WHERE id = ?1 RETURNING job", [id], |r| r.get(0))
                .optional()
                .map_err(backend)?;
            if let Some(Some(job)) = job {
                tx.execute(
                    "UPDATE bulk_publish SET status = 'SUCCEEDED', complete_ms = ?2, last_success_ms = ?2
                     WHERE pool_id = ?1 AND status = 'IN_PROGRESS'
                       AND NOT EXISTS (SELECT 1 FROM outbox WHERE job = ?1)",
                    params![job, now_ms],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn retry_outbox(&self, id: i64, next_attempt_ms: i64, error: &str) -> StoreResult<()> {
        let error = error.to_owned();
        self.write(move |c| {
            c.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?2, last_error = ?3,
                     claimed_by = NULL, claimed_until = NULL
                 WHERE id = ?1",
                params![id, next_attempt_ms, error],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn outbox_backlog(&self) -> StoreResult<i64> {
        self.read(|c| {
            c.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
                .map_err(backend)
        })
        .await
    }

    async fn stream_target_gone(
        &self,
        pool_id: &str,
        target: &str,
        now_ms: i64,
        message: &str,
        decide: SettingsDecider,
    ) -> StoreResult<TargetGone> {
        let (pool_id, target, message) =
            (pool_id.to_owned(), target.to_owned(), message.to_owned());
        self.write(move |c| {
            let mut gone = TargetGone::default();
            let current = select_pool_settings(c, &pool_id)?;
            if let Some(next) = decide(&current) {
                let next = PoolSettings { version: current.version + 1, ..next };
                if !store_pool_settings(c, &pool_id, &next)? {
                    return Err(StoreError::Backend("pool settings changed inside a write".into()));
                }
                gone.settings_changed = true;
            }
            let jobs: Vec<Option<String>> = {
                let mut st = c
                    .prepare("DELETE FROM outbox WHERE pool_id = ?1 AND target = ?2 RETURNING job")
                    .map_err(backend)?;
                let rows = st.query_map(params![pool_id, target], |r| r.get(0)).map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(backend)?
            };
            gone.dropped = jobs.len() as u64;
            if jobs.iter().any(Option::is_some) {
                gone.job_failed = c
                    .execute(
                        "UPDATE bulk_publish SET status = 'FAILED', complete_ms = ?2, failure_message = ?3
                         WHERE pool_id = ?1 AND status = 'IN_PROGRESS'",
                        params![pool_id, now_ms, message],
                    )
                    .map_err(backend)?
                    > 0;
                gone.dropped += c.execute("DELETE FROM outbox WHERE job = ?1", [&pool_id]).map_err(backend)? as u64;
            }
            Ok(gone)
        })
        .await
    }

    async fn start_bulk_publish(
        &self,
        pool_id: &str,
        now_ms: i64,
        min_interval_ms: i64,
        events: DatasetEvents,
    ) -> StoreResult<()> {
        let pool_id = pool_id.to_owned();
        self.write(move |c| {
            let tx = c;
            let state: Option<(String, Option<i64>)> = tx
                .query_row(
                    "SELECT status, last_success_ms FROM bulk_publish WHERE pool_id = ?1",
                    [&pool_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(backend)?;
            if let Some((status, last)) = &state {
                if status == "IN_PROGRESS" {
                    return Err(StoreError::Rejected(Rejection::BulkInProgress));
                }
                if last.is_some_and(|t| now_ms - t < min_interval_ms) {
                    return Err(StoreError::Rejected(Rejection::BulkTooSoon));
                }
            }
            tx.execute(
                "INSERT INTO bulk_publish (pool_id, status, start_ms) VALUES (?1, 'IN_PROGRESS', ?2)
                 ON CONFLICT (pool_id) DO UPDATE SET status = 'IN_PROGRESS', start_ms = ?2,
                     complete_ms = NULL, failure_message = NULL",
                params![pool_id, now_ms],
            )
            .map_err(backend)?;
            let datasets: Vec<DatasetRow> = {
                let sql = format!(
                    "SELECT {DATASET_COLS} FROM datasets
                     WHERE live = 1 AND identity_id IN (SELECT id FROM identities WHERE pool_id = ?1)
                     ORDER BY identity_id, name"
                );
                let mut st = tx.prepare(&sql).map_err(backend)?;
                let rows = st.query_map([&pool_id], dataset_from_row).map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(backend)?
            };
            let mut written = 0;
            for d in &datasets {
                let records: Vec<RecordRow> = {
                    let sql = format!(
                        "SELECT {RECORD_COLS} FROM records
                         WHERE identity_id = ?1 AND dataset_name = ?2 AND value IS NOT NULL ORDER BY key"
                    );
                    let mut st = tx.prepare_cached(&sql).map_err(backend)?;
                    let rows = st.query_map(params![d.identity_id, d.name], record_from_row).map_err(backend)?;
                    rows.collect::<Result<_, _>>().map_err(backend)?
                };
                let batch = events(d, &records);
                written += batch.len();
                insert_outbox(tx, &batch, now_ms)?;
            }
            if written == 0 {
                tx.execute(
                    "UPDATE bulk_publish SET status = 'SUCCEEDED', complete_ms = ?2, last_success_ms = ?2
                     WHERE pool_id = ?1",
                    params![pool_id, now_ms],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn bulk_publish(&self, pool_id: &str) -> StoreResult<BulkJob> {
        let pool_id = pool_id.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT status, start_ms, complete_ms, failure_message, last_success_ms
                 FROM bulk_publish WHERE pool_id = ?1",
                [pool_id],
                |r| {
                    Ok(BulkJob {
                        status: r.get(0)?,
                        start_ms: r.get(1)?,
                        complete_ms: r.get(2)?,
                        failure_message: r.get(3)?,
                        last_success_ms: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(backend)?
            .unwrap_or_else(|| BulkJob {
                status: "NOT_STARTED".into(),
                ..BulkJob::default()
            }))
        })
        .await
    }

    async fn fail_bulk_publish(
        &self,
        pool_id: &str,
        now_ms: i64,
        message: &str,
    ) -> StoreResult<()> {
        let (pool_id, message) = (pool_id.to_owned(), message.to_owned());
        self.write(move |c| {
            let tx = c;
            tx.execute(
                "UPDATE bulk_publish SET status = 'FAILED', complete_ms = ?2, failure_message = ?3
                 WHERE pool_id = ?1 AND status = 'IN_PROGRESS'",
                params![pool_id, now_ms, message],
            )
            .map_err(backend)?;
            tx.execute("DELETE FROM outbox WHERE job = ?1", [&pool_id])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn find_device(
        &self,
        identity_id: &str,
        platform: &str,
        token: &str,
    ) -> StoreResult<Option<DeviceRecord>> {
        let (i, p, t) = (
            identity_id.to_owned(),
            platform.to_owned(),
            token.to_owned(),
        );
        self.read(move |c| {
            let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE identity_id = ?1 AND platform = ?2 AND token = ?3");
            c.query_row(&sql, params![i, p, t], device_from_row).optional().map_err(backend)
        })
        .await
    }

    async fn get_device(&self, id: &str) -> StoreResult<Option<DeviceRecord>> {
        let id = id.to_owned();
        self.read(move |c| {
            let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE id = ?1");
            c.query_row(&sql, [id], device_from_row)
                .optional()
                .map_err(backend)
        })
        .await
    }

    async fn put_device(&self, d: &DeviceRecord) -> StoreResult<()> {
        let d = d.clone();
        self.write(move |c| {
            let result = c.execute(
                "INSERT INTO devices (id, identity_id, platform, token, endpoint_arn, disabled, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET endpoint_arn = excluded.endpoint_arn, disabled = excluded.disabled",
                params![d.id, d.identity_id, d.platform, d.token, d.endpoint_arn, d.disabled, d.created_ms],
            );
            match result {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                    Err(StoreError::AlreadyExists(d.token))
                }
                Err(e) => Err(backend(e)),
            }
        })
        .await
    }

    async fn disable_device(&self, id: &str, endpoint_arn: &str) -> StoreResult<()> {
        let (id, endpoint_arn) = (id.to_owned(), endpoint_arn.to_owned());
        self.write(move |c| {
            c.execute(
                "UPDATE devices SET disabled = 1 WHERE id = ?1 AND endpoint_arn = ?2",
                [id, endpoint_arn],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn subscribe(
        &self,
        identity_id: &str,
        dataset: &str,
        device_id: &str,
    ) -> StoreResult<()> {
        let (i, d, v) = (
            identity_id.to_owned(),
            dataset.to_owned(),
            device_id.to_owned(),
        );
        self.write(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO subscriptions (identity_id, dataset_name, device_id) VALUES (?1, ?2, ?3)",
                params![i, d, v],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn unsubscribe(
        &self,
        identity_id: &str,
        dataset: &str,
        device_id: &str,
    ) -> StoreResult<bool> {
        let (i, d, v) = (
            identity_id.to_owned(),
            dataset.to_owned(),
            device_id.to_owned(),
        );
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM subscriptions WHERE identity_id = ?1 AND dataset_name = ?2 AND device_id = ?3",
                    params![i, d, v],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }
}

/// Merges identity `source` into `dest` inside the caller's transaction: the source's live
/// datasets are read and written to `dest` as the `merge` rule says; its logins move; it is
/// deleted.
fn merge_in(
    c: &Connection,
    source: &str,
    dest: &str,
    now_ms: i64,
    merge: &MergeCopier,
) -> StoreResult<()> {
    let mut live = Vec::new();
    {
        let sql = format!(
            "SELECT {DATASET_COLS} FROM datasets WHERE identity_id = ?1 AND live = 1 ORDER BY name"
        );
        let mut st = c.prepare_cached(&sql).map_err(backend)?;
        let rows = st.query_map([source], dataset_from_row).map_err(backend)?;
        for dataset in rows {
            live.push(dataset.map_err(backend)?);
        }
    }
    let mut copies = Vec::with_capacity(live.len());
    for dataset in live {
        let sql = format!(
            "SELECT {RECORD_COLS} FROM records WHERE identity_id = ?1 AND dataset_name = ?2 ORDER BY key"
        );
        let mut st = c.prepare_cached(&sql).map_err(backend)?;
        let records = st
            .query_map(params![source, dataset.name], record_from_row)
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        copies.push(DatasetCopy { dataset, records });
    }
    for copy in merge(source, dest, copies, now_ms) {
        let name = &copy.dataset.name;
        upsert_dataset(c, dest, name, &copy.dataset)?;
        c.execute(
            "DELETE FROM records WHERE identity_id = ?1 AND dataset_name = ?2",
            params![dest, name],
        )
        .map_err(backend)?;
        upsert_records(c, dest, name, &copy.records)?;
    }
    c.execute(
        "UPDATE logins SET identity_id = ?1 WHERE identity_id = ?2",
        params![dest, source],
    )
    .map_err(backend)?;
    c.execute("DELETE FROM identities WHERE id = ?1", [source])
        .map_err(backend)?;
    Ok(())
}

/// Writes a dataset's row (inserted, or replacing the stored one).
fn upsert_dataset(
    c: &Connection,
    identity_id: &str,
    name: &str,
    d: &DatasetRow,
) -> StoreResult<()> {
    let mut st = c
        .prepare_cached(
            "INSERT INTO datasets (identity_id, name, live, sync_count, creation_ms,
                 last_modified_ms, last_modified_by, data_storage, num_records, deleted_at_sync_count,
                 merged_into)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (identity_id, name) DO UPDATE SET live = ?3, sync_count = ?4,
                 creation_ms = ?5, last_modified_ms = ?6, last_modified_by = ?7,
                 data_storage = ?8, num_records = ?9, deleted_at_sync_count = ?10,
                 merged_into = ?11",
        )
        .map_err(backend)?;
    st.execute(params![
        identity_id,
        name,
        d.live,
        d.sync_count,
        d.creation_ms,
        d.last_modified_ms,
        d.last_modified_by,
        d.data_storage,
        d.num_records,
        d.deleted_at_sync_count,
        d.merged_into
    ])
    .map_err(backend)?;
    Ok(())
}

/// Writes records of a dataset (inserted, or replacing stored ones of the same key).
fn upsert_records(
    c: &Connection,
    identity_id: &str,
    name: &str,
    records: &[RecordRow],
) -> StoreResult<()> {
    let mut st = c
        .prepare_cached(
            "INSERT INTO records (identity_id, dataset_name, key, value, sync_count,
                 last_modified_ms, last_modified_by, device_last_modified_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (identity_id, dataset_name, key) DO UPDATE SET value = ?4,
                 sync_count = ?5, last_modified_ms = ?6, last_modified_by = ?7,
                 device_last_modified_ms = ?8",
        )
        .map_err(backend)?;
    for r in records {
        st.execute(params![
            identity_id,
            name,
            r.key,
            r.value,
            r.sync_count,
            r.last_modified_ms,
            r.last_modified_by,
            r.device_last_modified_ms
        ])
        .map_err(backend)?;
    }
    Ok(())
}

/// Reads what a login transaction's rules decide on.
fn login_snapshot(c: &Connection, pool_id: &str, query: &LoginQuery) -> StoreResult<LoginSnapshot> {
    let mut snapshot = LoginSnapshot::default();
    let mut wanted: Vec<String> = query.identities.clone();
    for (provider, subject) in &query.logins {
        let owner: Option<String> = c
            .prepare_cached(
                "SELECT identity_id FROM logins WHERE pool_id = ?1 AND provider = ?2 AND subject = ?3",
            )
            .and_then(|mut st| st.query_row(params![pool_id, provider, subject], |r| r.get(0)).optional())
            .map_err(backend)?;
        if let Some(owner) = owner {
            wanted.push(owner.clone());
            snapshot
                .owners
                .insert((provider.clone(), subject.clone()), owner);
        }
    }
    for id in wanted {
        if snapshot.identities.contains_key(&id) {
            continue;
        }
        let identity = c
            .prepare_cached(
                "SELECT id, pool_id, created_ms, last_modified_ms FROM identities WHERE id = ?1",
            )
            .and_then(|mut st| st.query_row([&id], identity_from_row).optional())
            .map_err(backend)?;
        let Some(identity) = identity else { continue };
        let logins = c
            .prepare_cached("SELECT provider, subject FROM logins WHERE identity_id = ?1 ORDER BY provider, subject")
            .and_then(|mut st| {
                st.query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<LoginKey>, _>>()
            })
            .map_err(backend)?;
        snapshot.logins.insert(id.clone(), logins);
        snapshot.identities.insert(id, identity);
    }
    Ok(snapshot)
}

/// Applies a login plan inside the caller's transaction.
fn apply_login_plan(
    c: &Connection,
    pool_id: &str,
    plan: &LoginPlan,
    now_ms: i64,
    merge: &MergeCopier,
) -> StoreResult<()> {
    if let Some(i) = &plan.create {
        c.execute(
            "INSERT INTO identities (id, pool_id, created_ms, last_modified_ms) VALUES (?1, ?2, ?3, ?4)",
            params![i.id, i.pool_id, i.created_ms, i.last_modified_ms],
        )
        .map_err(backend)?;
    }
    for (source, dest) in &plan.merges {
        merge_in(c, source, dest, now_ms, merge)?;
    }
    for ((provider, subject), identity) in &plan.unlink {
        c.execute(
            "DELETE FROM logins WHERE pool_id = ?1 AND provider = ?2 AND subject = ?3 AND identity_id = ?4",
            params![pool_id, provider, subject, identity],
        )
        .map_err(backend)?;
    }
    for ((provider, subject), identity) in &plan.link {
        c.execute(
            "INSERT OR IGNORE INTO logins (pool_id, provider, subject, identity_id) VALUES (?1, ?2, ?3, ?4)",
            params![pool_id, provider, subject, identity],
        )
        .map_err(backend)?;
    }
    Ok(())
}

fn select_pool_settings(c: &Connection, pool_id: &str) -> StoreResult<PoolSettings> {
    Ok(c.query_row(
        "SELECT version, push_sync, cognito_streams, events FROM pool_settings WHERE pool_id = ?1",
        [pool_id],
        |r| {
            Ok(PoolSettings {
                version: r.get(0)?,
                push_sync: r.get(1)?,
                cognito_streams: r.get(2)?,
                events: r.get(3)?,
            })
        },
    )
    .optional()
    .map_err(backend)?
    .unwrap_or_default())
}

/// Writes `s` if the stored version is `s.version - 1`; false otherwise.
fn store_pool_settings(c: &Connection, pool_id: &str, s: &PoolSettings) -> StoreResult<bool> {
    let n = if s.version == 1 {
        c.execute(
            "INSERT OR IGNORE INTO pool_settings (pool_id, version, push_sync, cognito_streams, events)
             VALUES (?1, 1, ?2, ?3, ?4)",
            params![pool_id, s.push_sync, s.cognito_streams, s.events],
        )
    } else {
        c.execute(
            "UPDATE pool_settings SET version = ?2, push_sync = ?3, cognito_streams = ?4, events = ?5
             WHERE pool_id = ?1 AND version = ?2 - 1",
            params![pool_id, s.version, s.push_sync, s.cognito_streams, s.events],
        )
    }
    .map_err(backend)?;
    Ok(n == 1)
}

const DEVICE_COLS: &str = "id, identity_id, platform, token, endpoint_arn, disabled, created_ms";

fn device_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        id: r.get(0)?,
        identity_id: r.get(1)?,
        platform: r.get(2)?,
        token: r.get(3)?,
        endpoint_arn: r.get(4)?,
        disabled: r.get(5)?,
        created_ms: r.get(6)?,
    })
}

fn select_subscribers(
    c: &Connection,
    identity_id: &str,
    dataset: &str,
) -> StoreResult<Vec<DeviceRecord>> {
    let sql = format!(
        "SELECT {DEVICE_COLS} FROM devices WHERE NOT disabled AND id IN
             (SELECT device_id FROM subscriptions WHERE identity_id = ?1 AND dataset_name = ?2)
         ORDER BY id"
    );
    let mut st = c.prepare_cached(&sql).map_err(backend)?;
    let rows = st
        .query_map(params![identity_id, dataset], device_from_row)
        .map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
}

fn insert_outbox(tx: &Connection, events: &[NewOutboxEvent], now_ms: i64) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut st = tx
        .prepare_cached(
            "INSERT INTO outbox (pool_id, stream_key, target, payload, job, created_ms, next_attempt_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        )
        .map_err(backend)?;
    for e in events {
        st.execute(params![
            e.pool_id,
            e.stream_key,
            e.target,
            e.payload,
            e.job,
            now_ms
        ])
        .map_err(backend)?;
    }
    Ok(())
}

fn usage_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Usage> {
    Ok(Usage {
        dataset_count: r.get(0)?,
        data_storage: r.get(1)?,
        sync_sessions: r.get(2)?,
        last_modified_ms: r.get(3)?,
    })
}

fn select_dataset(
    c: &Connection,
    identity_id: &str,
    name: &str,
) -> StoreResult<Option<DatasetRow>> {
    let sql = format!("SELECT {DATASET_COLS} FROM datasets WHERE identity_id = ?1 AND name = ?2");
    c.prepare_cached(&sql)
        .map_err(backend)?
        .query_row(params![identity_id, name], dataset_from_row)
        .optional()
        .map_err(backend)
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        (dir, Arc::new(store))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_passes_the_store_conformance_suite() {
        let (_dir, store) = open();
        crate::store::conformance::run_all(store).await;
    }

    #[test]
    fn a_schema_newer_than_the_binary_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join("cogsync.sqlite3")).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = SqliteStore::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("newer than this cogsync understands"), "{err}");
    }

    #[test]
    fn reopening_an_existing_database_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        drop(SqliteStore::open(dir.path()).unwrap());
    }
}
