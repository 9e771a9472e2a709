//! Contention the store cannot get through in time is answered `429 TooManyRequestsException`
//! (which every SDK retries), never a 500, and nothing is written.

use cogsync::testing::TestDatabase;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_cannot_get_its_lock_in_time_is_answered_429() {
    let Some(db) = TestDatabase::create(
        "store_busy::a_write_that_cannot_get_its_lock_in_time_is_answered_429",
    )
    .await
    else {
        return;
    };
    // The operator's lock_timeout bounds how long a write waits for a row lock.
    let url = format!("{}?options=-c%20lock_timeout%3D100ms", db.url);
    let s = TestServer::start_custom(|c| c.database_url = Some(url)).await;
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();

    // Another session holds the identity's row lock (a long transaction elsewhere).
    let (holder, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    holder.batch_execute("BEGIN").await.unwrap();
    holder
        .execute("SELECT 1 FROM identities WHERE id = $1 FOR UPDATE", &[&id])
        .await
        .unwrap();

    let (code, message) = push(&c, &pool, &id, "ds", vec![replace("k", "v", 0)])
        .await
        .unwrap_err();
    assert_eq!(code, "TooManyRequestsException", "{message}");
    assert!(
        !message.contains("lock"),
        "no database detail leaks: {message}"
    );

    holder.batch_execute("ROLLBACK").await.unwrap();
    let (records, _) = pull(&c, &pool, &id, "ds", 0).await;
    assert!(records.is_empty(), "the refused write left nothing behind");
    push(&c, &pool, &id, "ds", vec![replace("k", "v", 0)])
        .await
        .unwrap();
}
