//! The store over any engine: [`SqlStore`] holds the engine, the in-memory cache where the
//! engine is the database's sole writer, and the observer; its helpers run an operation in the
//! mode it needs and time it. The [`Store`](crate::store::Store) families are implemented,
//! each beside its operations, in [`ops`](super::ops).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use super::interface::{AfterWrite, Engine, Mode, Op, Row, Value};
use super::ops::Statement;
use super::read_cache::ReadCache;
use super::rows;
use crate::store::{StoreError, StoreObserver, StoreResult};

/// The store, over one engine.
pub struct SqlStore<E> {
    pub(crate) engine: E,
    /// Identities and settings in memory, where only this process writes the database.
    pub(in crate::store::sql) cache: Option<Arc<ReadCache>>,
    /// Told how long each operation took, once someone listens.
    pub(in crate::store::sql) observer: OnceLock<Arc<dyn StoreObserver>>,
}

impl<E: Engine> SqlStore<E> {
    pub fn new(engine: E) -> Self {
        let cache = engine.sole_writer().then(|| Arc::new(ReadCache::default()));
        SqlStore {
            engine,
            cache,
            observer: OnceLock::new(),
        }
    }

    /// `name` took from `started` until now, and ended with `outcome`: a stored value it
    /// could not read is logged and counted here, for every operation.
    pub(in crate::store::sql) fn timed<T>(
        &self,
        name: &'static str,
        started: Instant,
        outcome: &StoreResult<T>,
    ) {
        let observer = self.observer.get();
        if let Some(observer) = observer {
            observer.operation(name, started.elapsed().as_secs_f64());
        }
        if let Err(StoreError::Corrupt(detail)) = outcome {
            tracing::error!(operation = name, %detail, "stored data cannot be read");
            if let Some(observer) = observer {
                observer.corrupt(name);
            }
        }
    }

    /// The store operation `name` (a [`Store`] method's), timed.
    pub(in crate::store::sql) async fn run<O: Op>(
        &self,
        name: &'static str,
        mode: Mode,
        op: O,
    ) -> StoreResult<O::Output> {
        let started = Instant::now();
        let outcome = match mode {
            Mode::Read => self.engine.read(op).await,
            Mode::LongRead => self.engine.long_read(op).await,
            Mode::Write => self.engine.write(op, None).await,
        };
        self.timed(name, started, &outcome);
        outcome
    }

    /// A write, then `forget` with what it committed: what the cache must drop, after the
    /// commit, even if the caller stopped waiting.
    pub(in crate::store::sql) async fn write_then<O: Op>(
        &self,
        name: &'static str,
        op: O,
        forget: impl FnOnce(&ReadCache, Option<&O::Output>) + Send + 'static,
    ) -> StoreResult<O::Output> {
        match &self.cache {
            None => self.run(name, Mode::Write, op).await,
            Some(cache) => {
                let started = Instant::now();
                let cache = cache.clone();
                let settled: AfterWrite<O::Output> = Box::new(move |out| forget(&cache, out));
                let outcome = self.engine.write(op, Some(settled)).await;
                self.timed(name, started, &outcome);
                outcome
            }
        }
    }

    /// One query, on a reader.
    pub(in crate::store::sql) async fn read(
        &self,
        name: &'static str,
        sql: &'static str,
        params: Vec<Value>,
    ) -> StoreResult<Vec<Row>> {
        self.query(name, Mode::Read, sql, params).await
    }

    /// One query that may take long (it sums or scans a pool), on a reader, off the
    /// runtime's threads where the engine reads in place.
    pub(in crate::store::sql) async fn long_read(
        &self,
        name: &'static str,
        sql: &'static str,
        params: Vec<Value>,
    ) -> StoreResult<Vec<Row>> {
        self.query(name, Mode::LongRead, sql, params).await
    }

    async fn query(
        &self,
        name: &'static str,
        mode: Mode,
        sql: &'static str,
        params: Vec<Value>,
    ) -> StoreResult<Vec<Row>> {
        Ok(self
            .run(name, mode, Statement::query(sql, params))
            .await?
            .into_rows())
    }

    /// One page of `parent`'s (`$1`) rows, strictly after `after` (`$2`), at most `limit` (`$3`).
    pub(in crate::store::sql) async fn page<T>(
        &self,
        name: &'static str,
        sql: &'static str,
        parent: &str,
        after: Option<&str>,
        limit: usize,
        decode: fn(Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let params = vec![parent.into(), after.unwrap_or("").into(), limit.into()];
        rows::all(self.read(name, sql, params).await?, decode)
    }

    /// An insert that does nothing on conflict: `AlreadyExists(id)` when it did nothing.
    pub(in crate::store::sql) async fn insert_new(
        &self,
        name: &'static str,
        sql: &'static str,
        params: Vec<Value>,
        id: &str,
    ) -> StoreResult<()> {
        match self.write(name, sql, params).await? {
            0 => Err(StoreError::AlreadyExists(id.to_owned())),
            _ => Ok(()),
        }
    }

    /// One change, in a write transaction; how many rows it changed.
    pub(in crate::store::sql) async fn write(
        &self,
        name: &'static str,
        sql: &'static str,
        params: Vec<Value>,
    ) -> StoreResult<u64> {
        Ok(self
            .run(name, Mode::Write, Statement::execute(sql, params))
            .await?
            .changed())
    }
}
