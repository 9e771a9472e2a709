//! The store's operations, written once over [`Tx`](super::Tx): one statement
//! ([`Statement`]), or a struct per multi-statement transaction in the file of its family.

pub mod admin;
pub mod data;
pub mod devices;
pub mod identities;
pub mod outbox;
pub mod parts;
pub mod pools;
pub mod transfer;
pub mod upstream;

use super::interface::{Op, Outcome, Param, Sql, Tx, Value};
use crate::store::StoreResult;

/// One statement with the parameters it owns; answers its rows (a `RETURNING` or a `SELECT`)
/// and the count of rows it changed.
pub struct Statement {
    sql: &'static str,
    params: Vec<Value>,
    /// A query, or a change with `RETURNING`: its rows are the answer.
    returns_rows: bool,
}

impl Statement {
    /// A statement answering rows (`SELECT`, or a change with `RETURNING`).
    pub fn query(sql: &'static str, params: Vec<Value>) -> Self {
        Statement {
            sql,
            params,
            returns_rows: true,
        }
    }

    /// A change answering how many rows it changed.
    pub fn execute(sql: &'static str, params: Vec<Value>) -> Self {
        Statement {
            sql,
            params,
            returns_rows: false,
        }
    }
}

impl Op for Statement {
    type Output = Outcome;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<Outcome> {
        let params: Vec<Param<'_>> = self.params.iter().map(Value::as_param).collect();
        let sql = Sql {
            text: self.sql,
            params: &params,
            rows: self.returns_rows,
        };
        tx.statement(sql).await
    }
}
