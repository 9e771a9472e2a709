//! The narrow interface between the one SQL implementation and an engine: parameters and row
//! cells as plain values, a transaction that runs statements, the row locks an engine may
//! take, and an engine that runs an operation in a read, a snapshot or a write transaction.
//!
//! Statements are written once, in PostgreSQL's placeholder style (`$1`, `$2`, …), which
//! SQLite also reads (as named parameters; its adapter binds them by number).

use std::future::Future;

use crate::store::{StoreError, StoreResult};

/// A statement parameter, borrowed from the operation that binds it.
#[derive(Debug, Clone)]
pub enum Param<'a> {
    Null,
    Int(i64),
    Bool(bool),
    Text(&'a str),
    Bytes(&'a [u8]),
    /// Arrays, bound only where [`Dialect::array_binds`] holds.
    Texts(Vec<&'a str>),
    OptTexts(Vec<Option<&'a str>>),
    Ints(Vec<i64>),
    OptInts(Vec<Option<i64>>),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Param::Null, Param::Text)
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().into()
    }
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Param::Null, Param::Int)
    }
}

impl From<usize> for Param<'_> {
    /// A count or limit (saturating: no store holds 2^63 rows).
    fn from(v: usize) -> Self {
        Param::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Bytes(v)
    }
}

/// Binds a statement's parameters: `args![a, b]` is `[Param::from(a), Param::from(b)]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => { [$($crate::store::sql::Param::from($v)),*] };
}
pub(crate) use args;

/// A row cell as read back. SQLite reports booleans as integers; [`Cols::bool`] takes both.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// The row's cells in order, to decode one after another.
    pub fn cols(self) -> Cols {
        Cols(self.0.into_iter())
    }
}

/// Decodes a row's cells left to right.
pub struct Cols(std::vec::IntoIter<Value>);

fn mismatch(wanted: &str, got: &Value) -> StoreError {
    StoreError::Backend(format!("stored value {got:?} is not {wanted}"))
}

impl Cols {
    fn next(&mut self) -> StoreResult<Value> {
        self.0
            .next()
            .ok_or_else(|| StoreError::Backend("a row has fewer columns than decoded".into()))
    }

    /// The cells not decoded yet, as a row of their own.
    pub fn rest(self) -> Row {
        Row(self.0.collect())
    }

    /// Passes over `n` cells.
    pub fn skip(&mut self, n: usize) -> StoreResult<()> {
        for _ in 0..n {
            self.next()?;
        }
        Ok(())
    }

    pub fn text(&mut self) -> StoreResult<String> {
        match self.next()? {
            Value::Text(s) => Ok(s),
            v => Err(mismatch("text", &v)),
        }
    }

    pub fn opt_text(&mut self) -> StoreResult<Option<String>> {
        match self.next()? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s)),
            v => Err(mismatch("text or NULL", &v)),
        }
    }

    pub fn int(&mut self) -> StoreResult<i64> {
        match self.next()? {
            Value::Int(i) => Ok(i),
            v => Err(mismatch("an integer", &v)),
        }
    }

    pub fn opt_int(&mut self) -> StoreResult<Option<i64>> {
        match self.next()? {
            Value::Null => Ok(None),
            Value::Int(i) => Ok(Some(i)),
            v => Err(mismatch("an integer or NULL", &v)),
        }
    }

    pub fn bool(&mut self) -> StoreResult<bool> {
        match self.next()? {
            Value::Bool(b) => Ok(b),
            Value::Int(i) => Ok(i != 0),
            v => Err(mismatch("a boolean", &v)),
        }
    }

    pub fn bytes(&mut self) -> StoreResult<Vec<u8>> {
        match self.next()? {
            Value::Bytes(b) => Ok(b),
            v => Err(mismatch("bytes", &v)),
        }
    }
}

/// How an engine's SQL differs, for the few statements and schema words written two ways.
/// Every engine's values are here, side by side ([`SQLITE`], [`POSTGRES`]).
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// Array parameters (`= ANY($1)`, `UNNEST($1::TEXT[], …)`) bind many rows in one
    /// statement; without them, the statement runs once per row.
    pub array_binds: bool,
    /// Row locks (`FOR UPDATE SKIP LOCKED`) exist; an engine with one writer has none.
    pub row_locks: bool,
    /// Schema: a byte string column type.
    pub bytes: &'static str,
    /// Schema: an auto-numbered 64-bit primary key column.
    pub serial: &'static str,
    /// Schema: written after a table whose primary key is its only access path.
    pub without_rowid: &'static str,
    /// The query answering the schema version the database is at.
    pub schema_version: &'static str,
    /// Text compares by bytes (as Rust's `str` does); otherwise by a collation, and a
    /// statement whose order Rust must follow asks for bytes (`COLLATE "C"`).
    pub text_in_byte_order: bool,
}

pub const SQLITE: Dialect = Dialect {
    array_binds: false,
    row_locks: false,
    bytes: "BLOB",
    serial: "INTEGER PRIMARY KEY AUTOINCREMENT",
    without_rowid: " WITHOUT ROWID",
    schema_version: "PRAGMA user_version",
    text_in_byte_order: true,
};

pub const POSTGRES: Dialect = Dialect {
    array_binds: true,
    row_locks: true,
    bytes: "BYTEA",
    serial: "BIGSERIAL PRIMARY KEY",
    without_rowid: "",
    schema_version: "SELECT version FROM cogsync_schema WHERE id = 1",
    text_in_byte_order: false,
};

/// A row a write transaction locks, to take turns with other nodes' writers of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// An identity's data: its datasets, records and merges.
    Identity,
    /// A pool's logins, settings and the start of its bulk publish.
    Pool,
    /// A pool's bulk-publish job (its `bulk_publish` row): every transition of the job after
    /// its start, taken after the outbox rows a transition touches.
    Job,
}

/// What a statement answered.
#[derive(Debug)]
pub enum Outcome {
    /// The rows of a query, or of a change with `RETURNING`.
    Rows(Vec<Row>),
    /// How many rows a change changed.
    Changed(u64),
}

/// One statement to run: its text, its parameters, and whether its rows are the answer.
#[derive(Debug, Clone, Copy)]
pub struct Sql<'a> {
    pub text: &'static str,
    pub params: &'a [Param<'a>],
    /// A query, or a change with `RETURNING`; otherwise the count of rows changed answers.
    pub rows: bool,
}

/// Statements collected to run together ([`Tx::statements`]), each with the parameters it
/// binds; outcomes come back in the order the statements were added.
#[derive(Debug, Default)]
pub struct Batch<'a> {
    items: Vec<(&'static str, Vec<Param<'a>>, bool)>,
}

impl<'a> Batch<'a> {
    /// Adds a statement whose rows are wanted; answers its index among the outcomes.
    pub fn query(&mut self, text: &'static str, params: impl Into<Vec<Param<'a>>>) -> usize {
        self.items.push((text, params.into(), true));
        self.items.len() - 1
    }

    /// Adds a change; answers its index among the outcomes.
    pub fn execute(&mut self, text: &'static str, params: impl Into<Vec<Param<'a>>>) -> usize {
        self.items.push((text, params.into(), false));
        self.items.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Runs the statements (nothing to run: no outcomes).
    pub async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<Answers> {
        if self.items.is_empty() {
            return Ok(Answers(Vec::new()));
        }
        let sqls: Vec<Sql<'_>> = self
            .items
            .iter()
            .map(|(text, params, rows)| Sql {
                text,
                params,
                rows: *rows,
            })
            .collect();
        let outcomes = tx.statements(&sqls).await?;
        Ok(Answers(outcomes.into_iter().map(Some).collect()))
    }
}

/// What a [`Batch`]'s statements answered, by index.
#[derive(Debug)]
pub struct Answers(Vec<Option<Outcome>>);

impl Answers {
    /// The rows statement `index` answered (taken: asking again gives none).
    pub fn rows(&mut self, index: usize) -> Vec<Row> {
        self.0
            .get_mut(index)
            .and_then(Option::take)
            .map(Outcome::into_rows)
            .unwrap_or_default()
    }
}

/// A transaction (or, for reads, a connection) that runs statements. An engine implements
/// [`statement`](Tx::statement) and names its row locks ([`lock_sql`](Tx::lock_sql)); it may
/// send a batch of statements together ([`statements`](Tx::statements)). Operations call the
/// rest.
pub trait Tx: Send {
    const DIALECT: Dialect;

    /// Runs a statement.
    fn statement(&mut self, sql: Sql<'_>) -> impl Future<Output = StoreResult<Outcome>> + Send;

    /// The statement locking a row of `lock` (`$1` its key; it answers a row when the row
    /// exists). An engine whose writes are serialised anyway only looks the row up; None
    /// skips even that (every row then counts as present).
    fn lock_sql(lock: Lock) -> Option<&'static str>;

    /// Runs statements that do not depend on each other's answers, in order; answers each
    /// one's outcome. An engine may send them together (PostgreSQL pipelines them: one round
    /// trip). The first failure fails the batch.
    fn statements(
        &mut self,
        batch: &[Sql<'_>],
    ) -> impl Future<Output = StoreResult<Vec<Outcome>>> + Send {
        async move {
            let mut out = Vec::with_capacity(batch.len());
            for sql in batch {
                out.push(self.statement(*sql).await?);
            }
            Ok(out)
        }
    }

    /// Locks the row `key` of `lock` until the transaction ends; false when the row does not
    /// exist (true, without looking, where nothing is locked).
    fn lock(&mut self, lock: Lock, key: &str) -> impl Future<Output = StoreResult<bool>> + Send {
        async move {
            let Some(text) = Self::lock_sql(lock) else {
                return Ok(true);
            };
            let params = [Param::Text(key)];
            let sql = Sql {
                text,
                params: &params,
                rows: true,
            };
            Ok(!self.statement(sql).await?.into_rows().is_empty())
        }
    }

    /// Runs a statement and returns its rows.
    fn query(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> impl Future<Output = StoreResult<Vec<Row>>> + Send {
        async move {
            let sql = Sql {
                text: sql,
                params,
                rows: true,
            };
            Ok(self.statement(sql).await?.into_rows())
        }
    }

    /// Runs a statement and returns how many rows it changed.
    fn execute(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> impl Future<Output = StoreResult<u64>> + Send {
        async move {
            let sql = Sql {
                text: sql,
                params,
                rows: false,
            };
            Ok(self.statement(sql).await?.changed())
        }
    }
}

impl Outcome {
    /// The rows answered (none for a change without `RETURNING`).
    pub fn into_rows(self) -> Vec<Row> {
        match self {
            Outcome::Rows(rows) => rows,
            Outcome::Changed(_) => Vec::new(),
        }
    }

    /// How many rows a change changed (or a `RETURNING` answered).
    pub fn changed(&self) -> u64 {
        match self {
            Outcome::Rows(rows) => rows.len() as u64,
            Outcome::Changed(n) => *n,
        }
    }
}

/// How an operation's statements run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reads; each statement sees the moment it runs (one statement, one snapshot).
    Read,
    /// Reads that may take long (a pool's sums, an identity exported whole): an engine that
    /// runs reads in place on the async runtime's threads runs these off them.
    LongRead,
    /// A write transaction: all or nothing, durable when answered. An engine may run it
    /// more than once (after a serialization failure); each run starts afresh.
    Write,
}

/// One store operation, written once over [`Tx`].
pub trait Op: Send + Sync + 'static {
    type Output: Send + 'static;
    fn run<X: Tx>(&self, tx: &mut X) -> impl Future<Output = StoreResult<Self::Output>> + Send;
}

/// An engine: runs operations in transactions of the mode asked for.
pub trait Engine: Send + Sync + 'static {
    /// Whether this process is the only writer of the database (so what it read stays true
    /// until it writes otherwise itself).
    fn sole_writer(&self) -> bool;

    /// Runs `op` as a read: no locks taken, nothing written.
    fn read<O: Op>(&self, op: O) -> impl Future<Output = StoreResult<O::Output>> + Send;

    /// Runs `op` as a read that may take long; by default as any read.
    fn long_read<O: Op>(&self, op: O) -> impl Future<Output = StoreResult<O::Output>> + Send {
        self.read(op)
    }

    /// Runs `op` as one write transaction, then `settled` (if any) with what it committed
    /// (None when it committed nothing), once the outcome is final. A [`Engine::sole_writer`]
    /// engine runs `settled` even when the caller stopped waiting (its write goes on); others
    /// may not.
    fn write<O: Op>(
        &self,
        op: O,
        settled: Option<AfterWrite<O::Output>>,
    ) -> impl Future<Output = StoreResult<O::Output>> + Send;

    /// Tells `observer` what the engine itself does (SQLite: each group commit's size).
    fn observe(&self, _observer: std::sync::Arc<dyn crate::store::StoreObserver>) {}

    /// File descriptors the engine holds at most (its connections and their files).
    fn descriptors(&self) -> usize;
}

/// What follows a write once it is settled: given what it committed, if anything.
pub type AfterWrite<T> = Box<dyn FnOnce(Option<&T>) + Send>;

impl Value {
    /// The value as a parameter (for statements whose parameters the operation owns).
    pub fn as_param(&self) -> Param<'_> {
        match self {
            Value::Null => Param::Null,
            Value::Int(i) => Param::Int(*i),
            Value::Bool(b) => Param::Bool(*b),
            Value::Text(s) => Param::Text(s),
            Value::Bytes(b) => Param::Bytes(b),
        }
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Value::Null, Value::from)
    }
}
