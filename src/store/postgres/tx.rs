//! PostgreSQL's side of the transaction interface: statements prepared once per connection
//! (deadpool's statement cache), a batch of independent statements pipelined in one round
//! trip (a write transaction's `BEGIN` rides along with its first batch), parameters typed by
//! what the server expects, cells read back as plain values, and the row locks writers of one
//! identity or pool take turns on.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use deadpool_postgres::{Client, GenericClient};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::Statement;

use crate::store::sql::{Dialect, Lock, Outcome, Param, Row, Sql, Tx, Value, POSTGRES};
use crate::store::{StoreError, StoreResult};

/// Which transaction a write is, on which server process: what is asked, on another
/// connection, when its `COMMIT`'s answer is lost (`txid_status`).
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    pub txid: i64,
    pub backend_pid: i32,
}

/// Read with the `BEGIN` of a write transaction, in the same round trip.
const MARK: &str = "SELECT txid_current(), pg_backend_pid()";

/// A transaction (or, for reads, a pooled connection) on PostgreSQL.
pub struct PgTx<'c> {
    client: &'c Client,
    /// Exchanges with the server so far (statistics: the engine's round-trip counter).
    round_trips: &'c AtomicU64,
    /// `BEGIN`, until it is sent with the first batch.
    begin: Option<&'static str>,
    /// The transaction's id and server process, once it has begun.
    mark: Option<Mark>,
}

impl<'c> PgTx<'c> {
    /// Statements on `client`; inside a transaction started by `begin`, if given.
    pub fn new(
        client: &'c Client,
        round_trips: &'c AtomicU64,
        begin: Option<&'static str>,
    ) -> Self {
        PgTx {
            client,
            round_trips,
            begin,
            mark: None,
        }
    }

    /// Whether the transaction has begun (its `BEGIN` was sent).
    pub fn begun(&self) -> bool {
        self.begin.is_none()
    }

    /// The transaction's id and server process, when it has begun.
    pub fn mark(&self) -> Option<Mark> {
        self.mark
    }

    /// The prepared statement for `sql`: from the connection's cache, or prepared (a round trip).
    async fn prepare(&self, sql: &str) -> StoreResult<Statement> {
        let cached = self.client.statement_cache.size();
        let statement = self.client.prepare_cached(sql).await.map_err(db_error)?;
        if self.client.statement_cache.size() != cached {
            self.round_trips.fetch_add(1, Ordering::Relaxed);
        }
        Ok(statement)
    }
}

/// Whether the server answered a COMMIT with a refusal that means the transaction rolled
/// back (a serialization failure or deadlock, a constraint checked at commit, a bad state).
/// Anything else (no answer, the connection ended, the server shutting down) leaves the
/// outcome to be looked up.
pub fn rolled_back(e: &tokio_postgres::Error) -> bool {
    let Some(code) = e.code() else {
        return false;
    };
    // 40003 (statement completion unknown) says just that: look it up.
    if code.code() == "40003" {
        return false;
    }
    let class = code.code().get(..2).unwrap_or("");
    matches!(class, "40" | "23" | "25" | "22" | "42")
}

pub fn db_error(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        // Serialization failures and deadlocks (retried), a lock not granted within the
        // session's lock_timeout, a statement past statement_timeout: contention, answered 429
        // when retries run out.
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::LOCK_NOT_AVAILABLE
                // A statement past the session's statement_timeout: cogsync cancels none of
                // its own (it drops connections), so this is a statement that waited, most
                // often for a lock. Contention too.
                || *c == SqlState::QUERY_CANCELED =>
        {
            StoreError::Busy(e.to_string())
        }
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::AlreadyExists(e.to_string()),
        _ => {
            let detail = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            StoreError::Backend(format!("{e}{detail}"))
        }
    }
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Param::Null => Ok(IsNull::Yes),
            // Integer columns of either width take an i64 that fits.
            Param::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql_checked(ty, out),
            Param::Int(i) if *ty == Type::INT2 => i16::try_from(*i)?.to_sql_checked(ty, out),
            Param::Int(i) => i.to_sql_checked(ty, out),
            Param::Bool(b) => b.to_sql_checked(ty, out),
            Param::Text(s) => s.to_sql_checked(ty, out),
            Param::Bytes(b) => b.to_sql_checked(ty, out),
            Param::Texts(v) => v.to_sql_checked(ty, out),
            Param::OptTexts(v) => v.to_sql_checked(ty, out),
            Param::Ints(v) => v.to_sql_checked(ty, out),
            Param::OptInts(v) => v.to_sql_checked(ty, out),
        }
    }

    /// Every variant checks the type itself when encoding.
    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

fn cell(row: &tokio_postgres::Row, i: usize) -> Result<Value, tokio_postgres::Error> {
    let ty = row.columns()[i].type_();
    let value = if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)?.map(Value::Int)
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)?
            .map(|v| Value::Int(v.into()))
    } else if *ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(i)?
            .map(|v| Value::Int(v.into()))
    } else if *ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i)?.map(Value::Bool)
    } else if *ty == Type::BYTEA {
        row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Bytes)
    } else {
        row.try_get::<_, Option<String>>(i)?.map(Value::Text)
    };
    Ok(value.unwrap_or(Value::Null))
}

fn to_row(row: &tokio_postgres::Row) -> StoreResult<Row> {
    (0..row.len())
        .map(|i| cell(row, i).map_err(db_error))
        .collect::<StoreResult<Vec<_>>>()
        .map(Row)
}

fn as_sql<'p>(params: &'p [Param<'_>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

type Pending<'f> = Pin<Box<dyn Future<Output = StoreResult<Outcome>> + Send + 'f>>;

/// One prepared statement's outcome.
async fn run(client: &Client, statement: &Statement, sql: Sql<'_>) -> StoreResult<Outcome> {
    let params = as_sql(sql.params);
    if !sql.rows {
        let n = client.execute(statement, &params).await.map_err(db_error)?;
        return Ok(Outcome::Changed(n));
    }
    let found = client.query(statement, &params).await.map_err(db_error)?;
    Ok(Outcome::Rows(
        found.iter().map(to_row).collect::<StoreResult<_>>()?,
    ))
}

impl Tx for PgTx<'_> {
    const DIALECT: Dialect = POSTGRES;

    async fn statement(&mut self, sql: Sql<'_>) -> StoreResult<Outcome> {
        let mut outcomes = self.statements(&[sql]).await?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Backend("a statement answered nothing".into()))
    }

    /// `FOR NO KEY UPDATE` leaves free the key-share locks that inserts referencing the row
    /// take, so a writer holding it cannot deadlock with them.
    fn lock_sql(lock: Lock) -> Option<&'static str> {
        Some(match lock {
            Lock::Identity => "SELECT 1 FROM identities WHERE id = $1 FOR NO KEY UPDATE",
            Lock::Pool => "SELECT 1 FROM identity_pools WHERE id = $1 FOR NO KEY UPDATE",
            Lock::Job => "SELECT 1 FROM bulk_publish WHERE pool_id = $1 FOR UPDATE",
        })
    }

    /// Sends the batch (after a pending `BEGIN`) without waiting between statements: the
    /// server runs them in order and the answers come back together.
    async fn statements(&mut self, batch: &[Sql<'_>]) -> StoreResult<Vec<Outcome>> {
        let begin = self.begin.take();
        // A write transaction learns its id with its BEGIN, in the same round trip.
        let mark = match begin {
            Some(_) => Some(self.prepare(MARK).await?),
            None => None,
        };
        let mut prepared = Vec::with_capacity(batch.len());
        for sql in batch {
            prepared.push(self.prepare(sql.text).await?);
        }
        let client = self.client;
        let mut pending: Vec<Pending<'_>> = Vec::with_capacity(batch.len() + 2);
        if let (Some(begin), Some(mark)) = (begin, &mark) {
            pending.push(Box::pin(async move {
                client.batch_execute(begin).await.map_err(db_error)?;
                Ok(Outcome::Changed(0))
            }));
            pending.push(Box::pin(run(
                client,
                mark,
                Sql {
                    text: MARK,
                    params: &[],
                    rows: true,
                },
            )));
        }
        for (sql, statement) in batch.iter().zip(&prepared) {
            pending.push(Box::pin(run(client, statement, *sql)));
        }
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        // join_all polls in order, so the requests leave in order.
        let mut answers = futures_util::future::join_all(pending).await.into_iter();
        if mark.is_some() {
            answers.next().transpose()?;
            let found = answers.next().transpose()?;
            self.mark = read_mark(found);
        }
        answers.collect()
    }
}

/// The mark's row, as [`MARK`] reads it.
fn read_mark(found: Option<Outcome>) -> Option<Mark> {
    let Some(Outcome::Rows(rows)) = found else {
        return None;
    };
    let mut c = rows.into_iter().next()?.0.into_iter();
    match (c.next(), c.next()) {
        (Some(Value::Int(txid)), Some(Value::Int(pid))) => Some(Mark {
            txid,
            backend_pid: i32::try_from(pid).ok()?,
        }),
        _ => None,
    }
}
