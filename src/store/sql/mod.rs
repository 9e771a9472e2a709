//! The one SQL implementation of [`Store`](super::Store), for every engine.
//!
//! The operations ([`ops`]) are written once over a narrow transaction interface
//! ([`interface::Tx`]): statements in, rows of plain values out. An engine
//! ([`interface::Engine`]) only runs them: SQLite (`store/sqlite`) on its writer thread with
//! group commit or on a pooled reader; PostgreSQL (`store/postgres`) on a pooled connection,
//! with row locks and retries of serialization failures. Where the engines' SQL differs, the
//! operation picks by [`interface::Dialect`]: array binds (one statement for many rows) and row
//! locks. The schema is described once ([`schema`]).
//!
//! No rule lives here: what to write is decided by the services' deciders, passed in.

pub mod interface;
pub mod ops;
mod read_cache;
pub mod rows;
pub mod schema;
mod store;

pub use interface::{
    AfterWrite, Answers, Batch, Dialect, Engine, Lock, Mode, Op, Outcome, Param, Row, Sql, Tx,
    Value, POSTGRES, SQLITE,
};
pub use store::SqlStore;
