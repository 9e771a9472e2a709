//! Concurrent writers on one dataset: no lost update, exactly one winner per count.

use crate::common::*;

backend_tests!(
    thirty_two_racers_with_the_same_counts_produce_exactly_one_winner,
    concurrent_writers_of_different_keys_all_land
);

async fn thirty_two_racers_with_the_same_counts_produce_exactly_one_winner(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    let token = session_token(&c, &pool, &id, "race").await;
    let tasks: Vec<_> = (0..32)
        .map(|n| {
            let (c, pool, id, token) = (s.sync(), pool.clone(), id.clone(), token.clone());
            tokio::spawn(async move {
                c.update_records()
                    .identity_pool_id(pool)
                    .identity_id(id)
                    .dataset_name("race")
                    .sync_session_token(token)
                    .record_patches(replace("shared", &format!("writer {n}"), 0))
                    .send()
                    .await
                    .map_err(|e| code_of(&e).0)
            })
        })
        .collect();
    let mut wins = 0;
    let mut conflicts = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(code) if code == "ResourceConflictException" => conflicts += 1,
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert_eq!((wins, conflicts), (1, 31));
    let (_, out) = pull(&c, &pool, &id, "race", 0).await;
    assert_eq!(out.dataset_sync_count(), Some(wins));
}

async fn concurrent_writers_of_different_keys_all_land(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let (c, pool, id) = (s.sync(), pool.clone(), id.clone());
            tokio::spawn(async move {
                push(
                    &c,
                    &pool,
                    &id,
                    "ds",
                    vec![replace(&format!("k{n}"), "v", 0)],
                )
                .await
            })
        })
        .collect();
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.unwrap().unwrap()[0].sync_count().unwrap());
    }
    counts.sort();
    assert_eq!(
        counts,
        (1..=16).collect::<Vec<_>>(),
        "each write got its own count"
    );
    let (recs, out) = pull(&s.sync(), &pool, &id, "ds", 0).await;
    assert_eq!(recs.len(), 16);
    assert_eq!(out.dataset_sync_count(), Some(16));
}
