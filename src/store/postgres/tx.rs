//! PostgreSQL's side of the transaction interface: statements prepared once per connection
//! (deadpool's statement cache), parameters typed by what the server expects, cells read back
//! as plain values, and the row locks writers of one identity or pool take turns on.

use std::future::Future;

use bytes::BytesMut;
use deadpool_postgres::GenericClient;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type};

use crate::store::sql::{Dialect, Lock, Outcome, Param, Row, Sql, Tx, Value, POSTGRES};
use crate::store::{StoreError, StoreResult};

/// A transaction (or, for reads, a pooled connection) on PostgreSQL.
pub struct PgTx<'c, C> {
    client: &'c C,
}

impl<'c, C> PgTx<'c, C> {
    pub fn new(client: &'c C) -> Self {
        PgTx { client }
    }
}

pub fn db_error(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        // Serialization failures and deadlocks (retried), and a lock not granted within the
        // session's lock_timeout: contention, answered 429 when retries run out.
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::LOCK_NOT_AVAILABLE =>
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

/// Runs a statement, prepared once per connection.
async fn run<C: GenericClient>(client: &C, sql: Sql<'_>) -> StoreResult<Outcome> {
    let statement = client.prepare_cached(sql.text).await.map_err(db_error)?;
    let params = as_sql(sql.params);
    if !sql.rows {
        let n = client
            .execute(&statement, &params)
            .await
            .map_err(db_error)?;
        return Ok(Outcome::Changed(n));
    }
    let found = client.query(&statement, &params).await.map_err(db_error)?;
    Ok(Outcome::Rows(
        found.iter().map(to_row).collect::<StoreResult<_>>()?,
    ))
}

impl<C: GenericClient + Sync> Tx for PgTx<'_, C> {
    const DIALECT: Dialect = POSTGRES;

    fn statement(&mut self, sql: Sql<'_>) -> impl Future<Output = StoreResult<Outcome>> + Send {
        run(self.client, sql)
    }

    /// `FOR NO KEY UPDATE` leaves free the key-share locks that inserts referencing the row
    /// take, so a writer holding it cannot deadlock with them.
    fn lock(&mut self, lock: Lock, key: &str) -> impl Future<Output = StoreResult<bool>> + Send {
        let sql = match lock {
            Lock::Identity => "SELECT 1 FROM identities WHERE id = $1 FOR NO KEY UPDATE",
            Lock::Pool => "SELECT 1 FROM identity_pools WHERE id = $1 FOR NO KEY UPDATE",
        };
        let client = self.client;
        async move {
            let params = [Param::Text(key)];
            let sql = Sql {
                text: sql,
                params: &params,
                rows: true,
            };
            match run(client, sql).await? {
                Outcome::Rows(rows) => Ok(!rows.is_empty()),
                Outcome::Changed(n) => Ok(n > 0),
            }
        }
    }
}
