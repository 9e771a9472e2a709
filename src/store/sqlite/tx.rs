//! SQLite's side of the transaction interface: statements prepared once per connection
//! (cached), `$N` parameters bound by number, cells read back as plain values. SQLite calls
//! never wait, so every future here is ready at once; [`finish_now`] runs an operation to its
//! end without an executor.

use std::future::{ready, Future};
use std::task::{Context, Poll, Waker};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, Statement};

use crate::store::sql::{Dialect, Lock, Outcome, Param, Row, Sql, Tx, Value, SQLITE};
use crate::store::{StoreError, StoreResult};

/// A transaction (or a reader's connection) on SQLite.
pub struct SqliteTx<'c> {
    conn: &'c mut Connection,
}

impl<'c> SqliteTx<'c> {
    pub fn new(conn: &'c mut Connection) -> Self {
        SqliteTx { conn }
    }
}

pub fn sqlite_error(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::AlreadyExists(e.to_string())
        }
        // Only after the busy timeout: contention, answered 429.
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == ErrorCode::DatabaseBusy || f.code == ErrorCode::DatabaseLocked =>
        {
            StoreError::Busy(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Null => ValueRef::Null,
            Param::Int(i) => ValueRef::Integer(*i),
            Param::Bool(b) => ValueRef::Integer(i64::from(*b)),
            Param::Text(s) => ValueRef::Text(s.as_bytes()),
            Param::Bytes(b) => ValueRef::Blob(b),
            Param::Texts(_) | Param::OptTexts(_) | Param::Ints(_) | Param::OptInts(_) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    "SQLite takes no array parameters".into(),
                ))
            }
        }))
    }
}

/// Binds `$N` to `params[N - 1]`. SQLite numbers named parameters by first appearance, so
/// each is looked up by its name.
fn bind(st: &mut Statement<'_>, params: &[Param<'_>]) -> StoreResult<()> {
    for index in 1..=st.parameter_count() {
        let number = st
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=params.len()).contains(n))
            .ok_or_else(|| {
                StoreError::Backend(format!("statement parameter {index} has no value"))
            })?;
        st.raw_bind_parameter(index, &params[number - 1])
            .map_err(sqlite_error)?;
    }
    Ok(())
}

fn cell(v: ValueRef<'_>) -> StoreResult<Value> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Text(t) => Value::Text(
            String::from_utf8(t.to_vec())
                .map_err(|e| StoreError::Backend(format!("stored text is not UTF-8: {e}")))?,
        ),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
        ValueRef::Real(r) => return Err(StoreError::Backend(format!("unexpected real {r}"))),
    })
}

/// Runs a statement, prepared once per connection.
fn run_now(conn: &Connection, sql: Sql<'_>) -> StoreResult<Outcome> {
    let mut st = conn.prepare_cached(sql.text).map_err(sqlite_error)?;
    bind(&mut st, sql.params)?;
    if !sql.rows {
        return Ok(Outcome::Changed(
            st.raw_execute().map_err(sqlite_error)? as u64
        ));
    }
    let width = st.column_count();
    let mut found = st.raw_query();
    let mut out = Vec::new();
    while let Some(r) = found.next().map_err(sqlite_error)? {
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            cells.push(cell(r.get_ref(i).map_err(sqlite_error)?)?);
        }
        out.push(Row(cells));
    }
    Ok(Outcome::Rows(out))
}

impl Tx for SqliteTx<'_> {
    const DIALECT: Dialect = SQLITE;

    /// SQLite never waits: the answer is ready at once.
    fn statement(&mut self, sql: Sql<'_>) -> impl Future<Output = StoreResult<Outcome>> + Send {
        ready(run_now(self.conn, sql))
    }

    /// One writer serialises every write, so nothing needs locking; the statement only
    /// tells whether the row still exists (a write must not outlive its identity).
    fn lock_sql(lock: Lock) -> Option<&'static str> {
        Some(match lock {
            Lock::Identity => "SELECT 1 FROM identities WHERE id = $1",
            Lock::Pool => "SELECT 1 FROM identity_pools WHERE id = $1",
            Lock::Job => "SELECT 1 FROM bulk_publish WHERE pool_id = $1",
        })
    }
}

/// Runs an operation over [`SqliteTx`] to its end. Its futures are all ready at once, so one
/// poll finishes it; a future that is not is a bug, reported as a store failure.
pub fn finish_now<T>(f: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(StoreError::Backend(
            "a SQLite operation waited for something".into(),
        )),
    }
}
