//! The scale-out engine: PostgreSQL (and, by keeping to portable SQL, CockroachDB and
//! YugabyteDB), shared by any number of stateless cogsync nodes. The operations themselves are
//! the shared ones ([`crate::store::sql`]); this engine runs them.
//!
//! Client: tokio-postgres with a deadpool pool. Both are async-native, small, and need no
//! database at build time (sqlx's checked macros would); statements are prepared once per
//! connection.
//!
//! Writes to one identity's data are serialised by a row lock on the identity, login and
//! settings writes of a pool by one on the pool (see [`tx`]). Serialization failures and
//! deadlocks are retried a bounded number of times, then reported as contention.

pub mod tls;
mod tx;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::{timeout_at, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use crate::store::sql::schema;
use crate::store::sql::{AfterWrite, Engine, Op, SqlStore};
use crate::store::{StoreError, StoreResult};
use tx::{db_error, rolled_back, Mark, PgTx};

pub use crate::store::sql::schema::SCHEMA_VERSION;

/// The store on PostgreSQL.
pub type PostgresStore = SqlStore<PostgresEngine>;

/// Connections kept per node unless told otherwise (`--db-pool-size`).
pub const DEFAULT_POOL_SIZE: u16 = 16;
/// Attempts of a write transaction that hits a serialization failure or deadlock.
const WRITE_ATTEMPTS: usize = 5;
/// How a write transaction begins: at the isolation level its operations are written for,
/// said rather than left to the server's default (which another database may set otherwise).
const BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";

pub struct PostgresEngine {
    pool: Pool,
    /// See [`PostgresEngine::round_trips`].
    round_trips: AtomicU64,
    /// How long an operation may take outside a request (inside one, the request's deadline
    /// applies; see [`crate::deadline`]).
    timeout: Duration,
    /// How a write transaction begins ([`BEGIN`]; tests try others).
    begin: &'static str,
}

/// How long, past the deadline, a write whose COMMIT went unanswered may spend finding out
/// whether it committed.
const RESOLVE_FOR: Duration = Duration::from_secs(2);

/// A store operation past its deadline: given up, nothing written.
fn too_late(what: &str) -> StoreError {
    StoreError::Backend(format!(
        "the database did not answer in time ({what}); the connection was dropped"
    ))
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    // The causes carry the useful part ("… TLS handshake: … certificate was refused …").
    let mut message = format!("no database connection: {e}");
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    StoreError::Backend(message)
}

/// Brings the database up to [`SCHEMA_VERSION`] in one transaction that holds the version row,
/// so nodes starting together migrate once; refuses a database written by a newer binary.
async fn migrate(client: &mut deadpool_postgres::Client) -> Result<(), String> {
    let e = |e: tokio_postgres::Error| e.to_string();
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS cogsync_schema (id INT PRIMARY KEY, version BIGINT NOT NULL);
             INSERT INTO cogsync_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;",
        )
        .await
        .map_err(e)?;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(e)?;
    let current: i64 = tx
        .query_one(
            "SELECT version FROM cogsync_schema WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await
        .map_err(e)?
        .try_get(0)
        .map_err(e)?;
    for (version, sql) in schema::pending(current, &crate::store::sql::POSTGRES)? {
        tx.batch_execute(&sql).await.map_err(e)?;
        tx.execute(
            "UPDATE cogsync_schema SET version = $1 WHERE id = 1",
            &[&version],
        )
        .await
        .map_err(e)?;
    }
    tx.commit().await.map_err(e)
}

/// Whether the isolation level a transaction that asked for READ COMMITTED reports is what
/// cogsync's operations are written for: a database that runs them at another level (some
/// engines that speak PostgreSQL's protocol map READ COMMITTED to snapshot isolation) would
/// break rules silently (a bulk publish that never drains, a quota counted twice).
pub fn isolation_in_force(reported: &str) -> Result<(), String> {
    if reported.trim().eq_ignore_ascii_case("read committed") {
        Ok(())
    } else {
        Err(format!(
            "the database runs a READ COMMITTED transaction at isolation level \"{reported}\"; \
             cogsync needs read committed (see docs/scaling.md)"
        ))
    }
}

/// Asks the database which isolation level a write transaction of cogsync's gets.
async fn probe_isolation(client: &mut deadpool_postgres::Client) -> Result<(), String> {
    let e = |e: tokio_postgres::Error| e.to_string();
    let tx = client.transaction().await.map_err(e)?;
    tx.batch_execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .await
        .map_err(e)?;
    let reported: String = tx
        .query_one("SELECT current_setting('transaction_isolation')", &[])
        .await
        .and_then(|r| r.try_get(0))
        .map_err(e)?;
    tx.rollback().await.map_err(e)?;
    isolation_in_force(&reported)
}

impl SqlStore<PostgresEngine> {
    /// Connects to `url` (a `postgres://` URL or key=value string, with libpq's TLS options:
    /// see [`tls`]) and applies migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with_pool(url, usize::from(DEFAULT_POOL_SIZE)).await
    }

    /// [`Self::connect`], keeping up to `pool_size` connections open.
    pub async fn connect_with_pool(url: &str, pool_size: usize) -> StoreResult<Self> {
        Self::connect_with(url, pool_size, crate::store::DEFAULT_TIMEOUT).await
    }

    /// [`Self::connect_with_pool`], with `timeout` as each statement's limit on the server
    /// (`statement_timeout`) and an operation's outside a request.
    pub async fn connect_with(url: &str, pool_size: usize, timeout: Duration) -> StoreResult<Self> {
        let bad_url = |e: String| StoreError::Backend(format!("bad database URL: {e}"));
        let (url, tls) = tls::split(url).map_err(bad_url)?;
        let connector = tls.connector().map_err(bad_url)?;
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| bad_url(e.to_string()))?;
        // The server gives up a statement by itself too, so one stuck behind a lock or a
        // stall does not outlive the request that sent it. Notices (such as "relation
        // already exists" from the idempotent schema setup at every start) are not sent:
        // warnings and errors are.
        let limit = format!(
            "-c statement_timeout={} -c client_min_messages=warning",
            timeout.as_millis()
        );
        let options = match config.get_options() {
            Some(given) => format!("{given} {limit}"),
            None => limit,
        };
        config.options(&options);
        let manager = Manager::from_config(
            config,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let engine = PostgresEngine {
            pool,
            round_trips: AtomicU64::new(0),
            timeout,
            begin: BEGIN,
        };
        let mut last = String::new();
        // Nodes starting together may race on CREATE TABLE IF NOT EXISTS; a retry settles it.
        for _ in 0..3 {
            let mut client = engine.client().await?;
            match migrate(&mut client).await {
                Ok(()) => {
                    probe_isolation(&mut client)
                        .await
                        .map_err(StoreError::Backend)?;
                    return Ok(SqlStore::new(engine));
                }
                Err(e) if e.contains("newer than this cogsync") => {
                    return Err(StoreError::Backend(e))
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(StoreError::Backend(last))
    }
}

/// A pooled connection that may be inside a transaction this node began. Unless the
/// transaction was settled (committed, rolled back, or never begun), dropping it closes the
/// connection instead of returning it to the pool: the next user must not run inside it.
struct Held {
    client: Option<deadpool_postgres::Client>,
    settled: bool,
}

impl Held {
    fn open(client: deadpool_postgres::Client) -> Self {
        Held {
            client: Some(client),
            settled: false,
        }
    }

    fn client(&self) -> StoreResult<&deadpool_postgres::Client> {
        self.client
            .as_ref()
            .ok_or_else(|| StoreError::Backend("the connection was closed".into()))
    }

    /// The transaction ended: the connection may go back to the pool.
    fn settled(&mut self) {
        self.settled = true;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.settled {
            if let Some(client) = self.client.take() {
                drop(deadpool_postgres::Object::take(client));
            }
        }
    }
}

impl SqlStore<PostgresEngine> {
    /// See [`PostgresEngine::round_trips`].
    pub fn round_trips(&self) -> u64 {
        self.engine.round_trips()
    }
}

impl PostgresEngine {
    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Exchanges with the database server so far, on every connection of this node: a
    /// pipelined batch counts once, a statement prepared for the first time on a connection
    /// once more. (Statistics, for tests and the benchmark's explanations.)
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// One write transaction: its `BEGIN` goes with the operation's first statements, its
    /// `COMMIT` (or `ROLLBACK`) after them, all before `deadline`. Cancelled or out of time in
    /// between, the connection is closed, never returned to the pool inside the transaction
    /// (the server then rolls it back). A `COMMIT` whose answer is lost is looked up.
    async fn write_once<O: Op>(&self, op: &O, deadline: Instant) -> StoreResult<O::Output> {
        let client = timeout_at(deadline, self.client())
            .await
            .map_err(|_| too_late("waiting for a connection"))??;
        let mut held = Held::open(client);
        let (outcome, mark) = {
            let client = held.client()?;
            let mut tx = PgTx::new(client, &self.round_trips, Some(self.begin));
            let outcome = timeout_at(deadline, op.run(&mut tx))
                .await
                .map_err(|_| too_late("during the transaction"))?;
            if !tx.begun() {
                held.settled();
                return outcome;
            }
            (outcome, tx.mark())
        };
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let end = if outcome.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let ended = timeout_at(deadline, held.client()?.batch_execute(end)).await;
        match ended {
            Ok(Ok(())) => {
                held.settled();
                outcome
            }
            // Not committing anyway: the connection leaves the pool (on drop), the error stands.
            _ if outcome.is_err() => outcome,
            // The server answered the COMMIT with a refusal that means "rolled back".
            Ok(Err(e)) if rolled_back(&e) => Err(db_error(e)),
            // Sent, and its answer lost (connection gone, or no answer in time): find out.
            Ok(Err(e)) => {
                drop(held);
                self.resolve(mark, outcome, &e.to_string()).await
            }
            Err(_) => {
                drop(held);
                self.resolve(mark, outcome, "no answer in time").await
            }
        }
    }

    /// What became of a transaction whose COMMIT was sent but not answered: asked of the
    /// server on another connection (`txid_status`), within [`RESOLVE_FOR`]. Committed: the
    /// operation's output. Aborted: nothing written. Still in progress (its process has not
    /// yet seen the connection go): asked again, and, half-way through, its process is ended
    /// so the answer settles. Unanswerable: the outcome is unknown.
    async fn resolve<T>(
        &self,
        mark: Option<Mark>,
        output: StoreResult<T>,
        lost: &str,
    ) -> StoreResult<T> {
        let unknown = |why: &str| {
            StoreError::OutcomeUnknown(format!("the COMMIT's answer was lost ({lost}) and {why}"))
        };
        let Some(mark) = mark else {
            return Err(unknown("the transaction's id was not known"));
        };
        let give_up = Instant::now() + RESOLVE_FOR;
        let halfway = Instant::now() + RESOLVE_FOR / 2;
        let mut ended_it = false;
        loop {
            let status = timeout_at(
                give_up,
                self.txid_status(mark, !ended_it && Instant::now() >= halfway),
            )
            .await;
            match status {
                Ok(Ok((Some(s), _))) if s == "committed" => {
                    tracing::warn!(txid = mark.txid, %lost, "a COMMIT's answer was lost; it had committed");
                    return output;
                }
                Ok(Ok((Some(s), _))) if s == "aborted" => {
                    return Err(StoreError::Backend(format!(
                        "the COMMIT's answer was lost ({lost}); the transaction did not commit"
                    )))
                }
                Ok(Ok((_, ended))) => {
                    ended_it |= ended;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(Err(e)) => return Err(unknown(&format!("asking the database failed: {e}"))),
                Err(_) => return Err(unknown("the database did not say in time")),
            }
        }
    }

    /// `txid_status` of the mark's transaction (None: unknown to the server), on a pooled
    /// connection; with `end`, its server process is ended first. Whether it was ended.
    async fn txid_status(&self, mark: Mark, end: bool) -> StoreResult<(Option<String>, bool)> {
        let client = self.client().await?;
        let mut ended = false;
        if end {
            ended = client
                .query_one("SELECT pg_terminate_backend($1)", &[&mark.backend_pid])
                .await
                .map_err(db_error)?
                .try_get::<_, bool>(0)
                .unwrap_or(false);
        }
        let status = client
            .query_one("SELECT txid_status($1)", &[&mark.txid])
            .await
            .map_err(db_error)?
            .try_get::<_, Option<String>>(0)
            .map_err(db_error)?;
        Ok((status, ended))
    }

    /// Runs a write transaction again after serialization failures, a bounded number of
    /// times, all before the deadline.
    async fn write_retried<O: Op>(&self, op: &O) -> StoreResult<O::Output> {
        let deadline = crate::deadline::for_work(self.timeout);
        let mut outcome = self.write_once(op, deadline).await;
        for _ in 1..WRITE_ATTEMPTS {
            match outcome {
                Err(StoreError::Busy(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    outcome = self.write_once(op, deadline).await;
                }
                _ => break,
            }
        }
        outcome
    }
}

impl Engine for PostgresEngine {
    /// Other nodes write the same database.
    fn sole_writer(&self) -> bool {
        false
    }

    /// One socket per pooled connection, and one for a connection being replaced.
    fn descriptors(&self) -> usize {
        self.pool.status().max_size + 1
    }

    /// Runs `op` on a pooled connection before the deadline; out of time, the connection is
    /// dropped rather than returned (an answer may still be on its way on it).
    async fn read<O: Op>(&self, op: O) -> StoreResult<O::Output> {
        let deadline = crate::deadline::for_work(self.timeout);
        let client = timeout_at(deadline, self.client())
            .await
            .map_err(|_| too_late("waiting for a connection"))??;
        let answered = timeout_at(
            deadline,
            op.run(&mut PgTx::new(&client, &self.round_trips, None)),
        )
        .await;
        match answered {
            Ok(outcome) => outcome,
            Err(_) => {
                drop(deadpool_postgres::Object::take(client));
                Err(too_late("during a read"))
            }
        }
    }

    /// Runs `settled` only if the caller waits to the end: other nodes write the same
    /// database, so nothing here keeps state that a write must correct.
    async fn write<O: Op>(
        &self,
        op: O,
        settled: Option<AfterWrite<O::Output>>,
    ) -> StoreResult<O::Output> {
        let outcome = self.write_retried(&op).await;
        if let Some(settled) = settled {
            settled(outcome.as_ref().ok());
        }
        outcome
    }
}

#[cfg(test)]
mod tests;
