//! The SQLite engine: the conformance suite, and what only this engine does (one writer, readers
//! off the runtime, its lock, its cache).

use std::sync::Arc;

use super::*;
use crate::store::prelude::*;

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

/// Writes a row, then panics: a bug in one write.
struct Panics;

impl Op for Panics {
    type Output = ();

    async fn run<X: crate::store::sql::Tx>(&self, tx: &mut X) -> StoreResult<()> {
        crate::store::conformance::write_half(tx, "panicked").await?;
        panic!("a bug in a write");
    }
}

/// A write that panics is answered with an error and undone; the writer thread lives on
/// for the writes after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_write_is_undone_and_the_writer_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert!(store.engine.write(Panics, None).await.is_err());
    assert_eq!(
        store.secret("after", b"kept".to_vec()).await.unwrap(),
        b"kept"
    );
    assert_eq!(
        store.secret("panicked", b"absent".to_vec()).await.unwrap(),
        b"absent"
    );
}

/// A client hanging up after its DeleteIdentities reached the writer: the writer still
/// deletes, and the identity cached by an earlier read must not outlive the delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_whose_caller_hung_up_is_not_served_from_memory() {
    use crate::store::conformance::{identity, pool};
    use futures_util::FutureExt;
    let (_dir, store) = open();
    store.create_pool(&pool("h:01")).await.unwrap();
    store
        .create_identity(&identity("h:a", "h:01"))
        .await
        .unwrap();
    let (cached, _) = store.identity_and_settings("h:a", "h:01").await.unwrap();
    assert!(cached.is_some());
    // Polled once (the write is queued), then dropped: the caller is gone.
    assert!(store.delete_identity("h:a").now_or_never().is_none());
    // Writes run in order: once this one is answered, the delete is committed.
    store.secret("barrier", b"x".to_vec()).await.unwrap();
    assert_eq!(store.get_identity("h:a").await.unwrap(), None);
    assert_eq!(
        store.identity_and_settings("h:a", "h:01").await.unwrap().0,
        None
    );
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

/// A statement whose plan looks at its parameters (ListRecords' page: range bounds and a
/// LIMIT) runs with new values on every request; it must not be compiled again each time.
#[test]
fn statements_are_compiled_once_whatever_their_parameters() {
    use crate::store::sql::{Param, Sql, Tx};
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open_connection(&dir.path().join("db")).unwrap();
    migrate(&mut conn).unwrap();
    let page = crate::store::sql::ops::data::PAGE;
    for n in 0..5_i64 {
        let params = [
            Param::Text("us-east-1:a"),
            Param::Text("ds"),
            Param::Int(n),
            Param::Int(n * 7),
            Param::Text("k"),
            Param::Int(n + 2),
        ];
        let sql = Sql {
            text: page,
            params: &params,
            rows: true,
        };
        finish_now(SqliteTx::new(&mut conn).statement(sql)).unwrap();
    }
    let st = conn.prepare_cached(page).unwrap();
    assert_eq!(
        st.get_status(rusqlite::StatementStatus::RePrepare),
        0,
        "compiled again for new parameter values"
    );
}

#[test]
fn reopening_an_existing_database_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    drop(SqliteStore::open(dir.path()).unwrap());
}

/// A pool's stored configuration that does not decode is an error for whoever reads it,
/// and counted: never taken for "streaming off" or "no trigger".
#[tokio::test]
async fn a_malformed_stored_configuration_is_an_error_never_not_set() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Counts(AtomicUsize);
    impl crate::store::StoreObserver for Counts {
        fn operation(&self, _: &'static str, _: f64) {}
        fn commit(&self, _: usize) {}
        fn corrupt(&self, _: &'static str) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (dir, store) = open();
    let counts = Arc::new(Counts(AtomicUsize::new(0)));
    store.observe(counts.clone());
    store
        .create_pool(&crate::store::conformance::pool("us-east-1:p"))
        .await
        .unwrap();
    store
        .update_pool_settings(
            "us-east-1:p",
            Box::new(|s| {
                Some(crate::store::PoolSettings {
                    version: s.version + 1,
                    ..s.clone()
                })
            }),
        )
        .await
        .unwrap();
    let conn = Connection::open(dir.path().join("cogsync.sqlite3")).unwrap();
    conn.execute(
        "UPDATE pool_settings SET cognito_streams = '{\"StreamName\": 5'",
        [],
    )
    .unwrap();
    // A new store: nothing of the pool in memory.
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    store.observe(counts.clone());
    let read = store.get_pool_settings("us-east-1:p").await;
    assert!(
        matches!(read, Err(crate::store::StoreError::Corrupt(ref m)) if m.contains("us-east-1:p")),
        "{read:?}"
    );
    assert_eq!(counts.0.load(Ordering::SeqCst), 1);
    // Quotas that do not decode are as corrupt (not "the server's").
    drop(store);
    conn.execute(
        "UPDATE pool_settings SET cognito_streams = NULL, \
         limits = '{\"records_per_dataset\": \"many\"}'",
        [],
    )
    .unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.observe(counts.clone());
    let read = store.get_pool_settings("us-east-1:p").await;
    assert!(
        matches!(read, Err(crate::store::StoreError::Corrupt(ref m)) if m.contains("quotas")),
        "{read:?}"
    );
    assert_eq!(counts.0.load(Ordering::SeqCst), 2);
}

/// Reads that may take long (a pool's sums, an export) leave the runtime's threads; the
/// small ones stay in place.
#[tokio::test]
async fn long_reads_run_off_the_runtimes_thread() {
    struct Where;
    impl Op for Where {
        type Output = std::thread::ThreadId;
        async fn run<X: crate::store::sql::Tx>(
            &self,
            _: &mut X,
        ) -> StoreResult<std::thread::ThreadId> {
            Ok(std::thread::current().id())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let here = std::thread::current().id();
    assert_eq!(store.engine.read(Where).await.unwrap(), here);
    assert_ne!(store.engine.long_read(Where).await.unwrap(), here);
}
