//! The three dataset quotas, enforced before commit with LimitExceededException.

use crate::common::*;

backend_tests!(
    an_identity_holds_at_most_twenty_datasets,
    a_dataset_holds_at_most_1024_records,
    a_dataset_holds_at_most_one_mebibyte_of_keys_and_values
);

fn limit(r: Result<Vec<aws_sdk_cognitosync::types::Record>, (String, String)>) -> String {
    let (code, message) = r.unwrap_err();
    assert_eq!(code, "LimitExceededException", "{message}");
    message
}

async fn an_identity_holds_at_most_twenty_datasets(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    for n in 0..20 {
        push(
            &c,
            &pool,
            &id,
            &format!("ds{n}"),
            vec![replace("k", "v", 0)],
        )
        .await
        .unwrap();
    }
    let msg = limit(push(&c, &pool, &id, "ds20", vec![replace("k", "v", 0)]).await);
    assert!(msg.contains("20 datasets"), "{msg}");
    // Existing datasets still take writes; deleting one makes room.
    push(&c, &pool, &id, "ds0", vec![replace("k", "w", 1)])
        .await
        .unwrap();
    delete(&c, &pool, &id, "ds5").await.unwrap();
    push(&c, &pool, &id, "ds20", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    let list = c
        .list_datasets()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .max_results(64)
        .send()
        .await
        .unwrap();
    assert_eq!(list.count(), 20);
}

async fn a_dataset_holds_at_most_1024_records(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    let full: Vec<_> = (0..1024)
        .map(|i| replace(&format!("key{i:04}"), "v", 0))
        .collect();
    push(&c, &pool, &id, "ds", full).await.unwrap();
    let msg = limit(push(&c, &pool, &id, "ds", vec![replace("one-more", "v", 0)]).await);
    assert!(msg.contains("1024 records"), "{msg}");
    let d = describe(&c, &pool, &id, "ds").await.unwrap();
    assert_eq!(
        d.dataset().unwrap().num_records(),
        Some(1024),
        "the refused write left nothing behind"
    );
    // Replacing in place and removing stay possible at the limit.
    push(
        &c,
        &pool,
        &id,
        "ds",
        vec![replace("key0000", "w", 1), remove("key0001", 1)],
    )
    .await
    .unwrap();
    push(&c, &pool, &id, "ds", vec![replace("one-more", "v", 0)])
        .await
        .unwrap();
}

async fn a_dataset_holds_at_most_one_mebibyte_of_keys_and_values(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    // "k" + 1,048,575 bytes = exactly 1 MiB: allowed.
    let big = "x".repeat(1_048_575);
    push(&c, &pool, &id, "ds", vec![replace("k", &big, 0)])
        .await
        .unwrap();
    let msg = limit(push(&c, &pool, &id, "ds", vec![replace("z", "", 0)]).await);
    assert!(msg.contains("1048576 bytes"), "{msg}");
    // Multi-byte characters count in UTF-8 bytes.
    let (pool2, id2) = s.pool_and_identity().await;
    let wide = "é".repeat(524_288); // 1,048,576 bytes
    let msg = limit(push(&c, &pool2, &id2, "ds", vec![replace("k", &wide, 0)]).await);
    assert!(msg.contains("bytes"), "{msg}");
    let d = describe(&c, &pool, &id, "ds").await.unwrap();
    assert_eq!(d.dataset().unwrap().data_storage(), Some(1_048_576));
}
