//! PostgreSQL connections killed under a running server: the request in flight fails with
//! InternalErrorException, later requests succeed once the pool reconnects, and nothing is
//! half-written.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_connection_fails_the_request_in_flight_and_then_recovers() {
    let Some(s) = TestServer::start_postgres(
        "pg_connection_loss::a_lost_connection_fails_the_request_in_flight_and_then_recovers",
    )
    .await
    else {
        return;
    };
    let url = s.database.as_ref().unwrap().url.clone();
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    push(&c, &pool, &id, "ds", vec![replace("before", "1", 0)])
        .await
        .unwrap();

    // Hold the identity's row lock from outside so the next write blocks mid-transaction.
    let (locker, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    locker.batch_execute("BEGIN").await.unwrap();
    locker
        .execute("SELECT 1 FROM identities WHERE id = $1 FOR UPDATE", &[&id])
        .await
        .unwrap();

    let token = session_token(&c, &pool, &id, "ds").await;
    let in_flight = {
        let (c, pool, id) = (c.clone(), pool.clone(), id.clone());
        tokio::spawn(async move {
            c.update_records()
                .identity_pool_id(pool)
                .identity_id(id)
                .dataset_name("ds")
                .sync_session_token(token)
                .record_patches(replace("during-a", "x", 0))
                .record_patches(replace("during-b", "y", 0))
                .send()
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!in_flight.is_finished(), "the write waits for the lock");

    // Kill every server connection (not the locker's).
    let killed = locker
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .len();
    assert!(killed >= 1);
    let err = in_flight.await.unwrap().unwrap_err();
    assert_eq!(code_of(&err).0, "InternalErrorException");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
    locker.batch_execute("ROLLBACK").await.unwrap();

    // Later requests succeed once the pool has replaced its dead connections.
    let mut recovered = None;
    for _ in 0..50 {
        match c
            .list_records()
            .identity_pool_id(&pool)
            .identity_id(&id)
            .dataset_name("ds")
            .send()
            .await
        {
            Ok(out) => {
                recovered = Some(out);
                break;
            }
            Err(e) => {
                assert_eq!(code_of(&e).0, "InternalErrorException");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    let out = recovered.expect("the server recovers after the connections are replaced");
    let keys: Vec<_> = out.records().iter().map(|r| r.key().unwrap()).collect();
    assert_eq!(
        keys,
        ["before"],
        "the interrupted write left nothing behind"
    );
    assert_eq!(out.dataset_sync_count(), Some(1));

    push(&c, &pool, &id, "ds", vec![replace("after", "2", 0)])
        .await
        .unwrap();
    let (records, out) = pull(&c, &pool, &id, "ds", 0).await;
    assert_eq!(records.len(), 2);
    assert_eq!(out.dataset_sync_count(), Some(2));
}
