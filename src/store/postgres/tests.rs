//! The PostgreSQL engine's own tests: the conformance suite, a linguistic collation, row
//! locks that order concurrent writers of one pool, and a write cancelled mid-transaction.

use std::sync::Arc;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_store_conformance_suite() {
    let Some(db) =
        crate::testing::TestDatabase::create("postgres_passes_the_store_conformance_suite").await
    else {
        return;
    };
    let store = PostgresStore::connect(&db.url).await.unwrap();
    crate::store::conformance::run_all(Arc::new(store)).await;
}

/// Most installations sort text by a language's rules, not by bytes (the test server's
/// default is C): pages must still be cut and ordered in one order, the bytes'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_a_linguistic_collation() {
    let Some(db) = crate::testing::TestDatabase::create_with(
        "pages_follow_a_linguistic_collation",
        "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
    )
    .await
    else {
        return;
    };
    let store = PostgresStore::connect(&db.url).await.unwrap();
    // The collation really differs from byte order, or this test shows nothing.
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one("SELECT 'a' < 'B', '_x' < '10'", &[])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0) && row.get::<_, bool>(1));
    crate::store::conformance::pages_cut_and_follow_one_order_of_keys(&store).await;
}

/// Two nodes deliver a bulk publish's last two events at the same moment: whichever
/// commits second must find the job drained. Both completions are made to run side by
/// side by holding the job's row lock from outside until both wait for it. With `begin`
/// the engine's transactions start at another isolation level than its own.
async fn last_two_deliveries_drain_the_job(test: &str, begin: Option<&'static str>) {
    use crate::store::conformance::{bump, jobs, record, setup};
    use crate::store::prelude::*;
    use crate::store::{DatasetEvents, NewOutboxEvent};
    let Some(db) = crate::testing::TestDatabase::create(test).await else {
        return;
    };
    let mut store = PostgresStore::connect(&db.url).await.unwrap();
    if let Some(begin) = begin {
        store.engine.begin = begin;
    }
    let store = Arc::new(store);
    setup(&*store, "race:01", "race:a").await;
    for ds in ["d1", "d2"] {
        let write = bump("race:a", ds, vec![record("k", Some("v"), 0)]);
        store
            .update_records("race:a", ds, vec![], write)
            .await
            .unwrap();
    }
    let events: DatasetEvents = Box::new(|d, _| {
        vec![NewOutboxEvent {
            pool_id: "race:01".into(),
            stream_key: format!("bulk/{}", d.name),
            target: "kinesis:s".into(),
            payload: d.name.clone(),
            job: Some("race:01".into()),
        }]
    });
    store
        .start_bulk_publish("race:01", 100, jobs(100), events)
        .await
        .unwrap();
    let claimed = store.claim_outbox("n", 100, 30_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);

    let (holder, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    holder
        .batch_execute("BEGIN; SELECT 1 FROM bulk_publish WHERE pool_id = 'race:01' FOR UPDATE")
        .await
        .unwrap();
    let deliveries: Vec<_> = claimed
        .iter()
        .map(|e| {
            let (store, id) = (store.clone(), e.id);
            tokio::spawn(async move { store.complete_outbox(id, jobs(150)).await })
        })
        .collect();
    // Both wait on the held lock (a condition, not a delay: polled until it holds). A
    // completion that does not take it finishes instead, and would race unseen.
    wait_for_lock_waiters(&db.url, 2, || {
        assert!(
            !deliveries.iter().any(|d| d.is_finished()),
            "a completion of a job's event ran without the job's lock"
        )
    })
    .await;
    holder.batch_execute("COMMIT").await.unwrap();
    for delivery in deliveries {
        delivery.await.unwrap().unwrap();
    }
    let job = store.bulk_publish("race:01").await.unwrap().unwrap();
    assert_eq!(job.status, "drained", "{job:?}");
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
}

/// Polls (on a connection of its own: inside a transaction activity is a snapshot) until
/// `n` sessions of this database wait for a lock, calling `meanwhile` each time.
async fn wait_for_lock_waiters(url: &str, n: i64, meanwhile: impl Fn()) {
    let (watcher, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting == n {
            return;
        }
        meanwhile();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_two_deliveries_of_a_bulk_publish_at_once_drain_it() {
    last_two_deliveries_drain_the_job("the_last_two_deliveries_of_a_bulk_publish_at_once", None)
        .await;
}

/// The same at REPEATABLE READ (as engines that map READ COMMITTED to snapshot isolation
/// would run it): the second completion's check meets the first's deletion as a
/// serialization failure, is retried, and drains the job, instead of leaving it in progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_check_holds_at_repeatable_read_too() {
    let begin = "BEGIN ISOLATION LEVEL REPEATABLE READ";
    last_two_deliveries_drain_the_job("the_drain_check_holds_at_repeatable_read", Some(begin))
        .await;
}

/// Writes a row, says so, then never finishes: a request cancelled mid-transaction.
struct Stuck(std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>);

impl Op for Stuck {
    type Output = ();

    async fn run<X: crate::store::sql::Tx>(&self, tx: &mut X) -> StoreResult<()> {
        crate::store::conformance::write_half(tx, "cancelled").await?;
        if let Some(done) = self.0.lock().unwrap().take() {
            let _ = done.send(());
        }
        std::future::pending::<()>().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_cancelled_mid_transaction_leaves_nothing_for_the_next_one_to_commit() {
    use crate::store::prelude::*;
    let Some(db) =
        crate::testing::TestDatabase::create("a_write_cancelled_mid_transaction_leaves_nothing")
            .await
    else {
        return;
    };
    // One connection: the next write gets the cancelled one's, if it went back.
    let store = PostgresStore::connect_with_pool(&db.url, 1).await.unwrap();
    let (done, written) = tokio::sync::oneshot::channel();
    let stuck = Stuck(std::sync::Mutex::new(Some(done)));
    tokio::select! {
        _ = store.engine.write(stuck, None) => panic!("the stuck write finished"),
        _ = written => {}
    }
    // The cancelled write is dropped here; the next one commits its own work only.
    assert_eq!(
        store.secret("after", b"kept".to_vec()).await.unwrap(),
        b"kept"
    );
    let other = PostgresStore::connect(&db.url).await.unwrap();
    assert_eq!(
        other.secret("cancelled", b"absent".to_vec()).await.unwrap(),
        b"absent",
        "the cancelled write's row was committed by the next transaction"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_refuse_a_newer_schema() {
    let Some(db) =
        crate::testing::TestDatabase::create("migrations_are_idempotent_and_refuse_a_newer_schema")
            .await
    else {
        return;
    };
    drop(PostgresStore::connect(&db.url).await.unwrap());
    let store = PostgresStore::connect(&db.url).await.unwrap();
    store
        .engine
        .client()
        .await
        .unwrap()
        .execute("UPDATE cogsync_schema SET version = version + 1", &[])
        .await
        .unwrap();
    let err = PostgresStore::connect(&db.url)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("newer than this cogsync understands"), "{err}");
}

/// A bulk publish failed by a lost delivery takes the job's lock, as its other transitions
/// do: while someone holds it, the failure waits (polled until it does) instead of deciding
/// the job beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_a_bulk_publish_takes_the_jobs_lock() {
    use crate::store::conformance::{jobs, setup};
    use crate::store::prelude::*;
    use crate::store::{DatasetEvents, NewOutboxEvent};
    let test = "failing_a_bulk_publish_takes_the_jobs_lock";
    let Some(db) = crate::testing::TestDatabase::create(test).await else {
        return;
    };
    let store = Arc::new(PostgresStore::connect(&db.url).await.unwrap());
    setup(&*store, "fail:01", "fail:a").await;
    let write = crate::store::conformance::bump(
        "fail:a",
        "d1",
        vec![crate::store::conformance::record("k", Some("v"), 0)],
    );
    store
        .update_records("fail:a", "d1", vec![], write)
        .await
        .unwrap();
    let events: DatasetEvents = Box::new(|d, _| {
        vec![NewOutboxEvent {
            pool_id: "fail:01".into(),
            stream_key: format!("bulk/{}", d.name),
            target: "kinesis:s".into(),
            payload: d.name.clone(),
            job: Some("fail:01".into()),
        }]
    });
    store
        .start_bulk_publish("fail:01", 100, jobs(100), events)
        .await
        .unwrap();
    let (holder, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    holder
        .batch_execute("BEGIN; SELECT 1 FROM bulk_publish WHERE pool_id = 'fail:01' FOR UPDATE")
        .await
        .unwrap();
    let failing = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .fail_bulk_publish("fail:01", "Kinesis said no", jobs(150))
                .await
        })
    };
    wait_for_lock_waiters(&db.url, 1, || {
        assert!(
            !failing.is_finished(),
            "the bulk publish was failed without the job's lock"
        )
    })
    .await;
    holder.batch_execute("COMMIT").await.unwrap();
    failing.await.unwrap().unwrap();
    let job = store.bulk_publish("fail:01").await.unwrap().unwrap();
    assert_eq!(job.status, "lost: Kinesis said no", "{job:?}");
}

/// A statement stopped by statement_timeout (waiting for a lock another session holds) is
/// contention: the store says Busy (429 to a client), not a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_its_timeout_is_contention() {
    use crate::store::conformance::setup;
    let test = "a_statement_past_its_timeout_is_contention";
    let Some(db) = crate::testing::TestDatabase::create(test).await else {
        return;
    };
    let store = PostgresStore::connect(&db.url).await.unwrap();
    setup(&store, "slow:01", "slow:a").await;
    let (holder, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    holder
        .batch_execute("BEGIN; SELECT 1 FROM identities WHERE id = 'slow:a' FOR UPDATE")
        .await
        .unwrap();
    struct Impatient;
    impl Op for Impatient {
        type Output = ();
        async fn run<X: crate::store::sql::Tx>(&self, tx: &mut X) -> StoreResult<()> {
            tx.execute("SET LOCAL statement_timeout = '50ms'", &[])
                .await?;
            crate::store::sql::ops::parts::lock_identity(tx, "slow:a").await
        }
    }
    let outcome = store.engine.write(Impatient, None).await;
    assert!(
        matches!(outcome, Err(StoreError::Busy(_))),
        "a statement timeout answered {outcome:?}"
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
}

/// A database whose default isolation is SERIALIZABLE still runs cogsync's transactions,
/// migrations included, at READ COMMITTED: said, never left to the default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_say_their_isolation_whatever_the_databases_default() {
    use crate::store::prelude::*;
    let test = "transactions_say_their_isolation";
    let Some(db) = crate::testing::TestDatabase::create(test).await else {
        return;
    };
    let (admin, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET default_transaction_isolation = 'serializable'",
            db.url
                .rsplit('/')
                .next()
                .unwrap()
                .split('?')
                .next()
                .unwrap()
        ))
        .await
        .unwrap();
    let store = PostgresStore::connect(&db.url).await.unwrap();
    crate::store::conformance::setup(&store, "iso:01", "iso:a").await;
    struct Level;
    impl Op for Level {
        type Output = String;
        async fn run<X: crate::store::sql::Tx>(&self, tx: &mut X) -> StoreResult<String> {
            let rows = tx
                .query("SELECT current_setting('transaction_isolation')", &[])
                .await?;
            crate::store::sql::rows::opt(rows, crate::store::sql::rows::text)
                .map(Option::unwrap_or_default)
        }
    }
    assert_eq!(
        store.engine.write(Level, None).await.unwrap(),
        "read committed"
    );
    assert!(store.get_identity("iso:a").await.unwrap().is_some());
    assert!(isolation_in_force("read committed").is_ok());
    let refused = isolation_in_force("serializable").unwrap_err();
    assert!(refused.contains("serializable") && refused.contains("read committed"));
}
