//! Dataset and record synchronisation as devices drive it through the official SDK.

use std::collections::HashMap;

use crate::common::*;

backend_tests!(
    two_devices_pull_push_conflict_and_resolve,
    records_page_with_url_safe_tokens_and_without_max_results_come_whole,
    removed_records_stay_as_tombstones_that_other_devices_see,
    deleted_datasets_report_the_delete_and_recreate_with_a_rising_counter,
    session_tokens_are_bound_to_their_dataset_and_unforgeable,
    device_timestamps_round_trip_with_millisecond_precision
);

async fn two_devices_pull_push_conflict_and_resolve(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let (a, b) = (s.sync(), s.sync());

    // Device A: first pull of a dataset that does not exist yet.
    let (recs, out) = pull(&a, &pool, &id, "game", 0).await;
    assert!(recs.is_empty());
    assert!(!out.dataset_exists());
    assert_eq!(out.dataset_sync_count(), Some(0));
    assert!(!out.dataset_deleted_after_requested_sync_count());
    let token_a = out.sync_session_token().unwrap().to_string();

    // Device A pushes two new keys (count 0): both take the new dataset count 1.
    let written = a
        .update_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("game")
        .device_id("device-a")
        .sync_session_token(&token_a)
        .record_patches(replace("score", "10", 0))
        .record_patches(replace("name", "ann", 0))
        .send()
        .await
        .unwrap();
    let counts: Vec<i64> = written
        .records()
        .iter()
        .map(|r| r.sync_count().unwrap())
        .collect();
    assert_eq!(counts, [1, 1]);

    // Device B pulls everything and changes the score.
    let (recs, out) = pull(&b, &pool, &id, "game", 0).await;
    assert_eq!(recs.len(), 2);
    assert!(out.dataset_exists());
    assert_eq!(out.dataset_sync_count(), Some(1));
    let b_written = push(&b, &pool, &id, "game", vec![replace("score", "20", 1)])
        .await
        .unwrap();
    assert_eq!(
        b_written[0].sync_count(),
        Some(2),
        "the Android/iOS fast-forward check needs +1"
    );

    // Device A, stale, pushes its own change with the old count: the whole call is refused.
    let err = a
        .update_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("game")
        .sync_session_token(&token_a)
        .record_patches(replace("name", "anna", 1))
        .record_patches(replace("score", "15", 1))
        .send()
        .await
        .unwrap_err();
    let service_err = err.into_service_error();
    assert!(
        service_err.is_resource_conflict_exception(),
        "{service_err:?}"
    );
    assert_eq!(
        code_of(&service_err).1,
        "Current SyncCount for: score is: 2 not: 1"
    );

    // Nothing of the refused call was applied.
    let (recs, _) = pull(&a, &pool, &id, "game", 0).await;
    let values: HashMap<_, _> = recs
        .iter()
        .map(|r| (r.key().unwrap(), r.value().unwrap()))
        .collect();
    assert_eq!(values, HashMap::from([("score", "20"), ("name", "ann")]));

    // A re-pulls from its last count: only what changed since comes back.
    let (recs, out) = pull(&a, &pool, &id, "game", 1).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (recs[0].key(), recs[0].value(), recs[0].sync_count()),
        (Some("score"), Some("20"), Some(2))
    );
    assert_eq!(out.dataset_sync_count(), Some(2));

    // A resolves (keeps its value) with the current count, and B sees it.
    let resolved = push(
        &a,
        &pool,
        &id,
        "game",
        vec![replace("score", "15", 2), replace("name", "anna", 1)],
    )
    .await
    .unwrap();
    assert!(resolved.iter().all(|r| r.sync_count() == Some(3)));
    let (recs, out) = pull(&b, &pool, &id, "game", 2).await;
    let values: HashMap<_, _> = recs
        .iter()
        .map(|r| (r.key().unwrap(), r.value().unwrap()))
        .collect();
    assert_eq!(values, HashMap::from([("score", "15"), ("name", "anna")]));
    assert_eq!(out.dataset_sync_count(), Some(3));

    // Metadata: live records, bytes of keys + values, developer writes show the account id.
    let d = s
        .sync()
        .describe_dataset()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("game")
        .send()
        .await
        .unwrap();
    let d = d.dataset().unwrap();
    assert_eq!(d.num_records(), Some(2));
    assert_eq!(
        d.data_storage(),
        Some(("score15".len() + "nameanna".len()) as i64)
    );
    assert_eq!(d.last_modified_by(), Some("000000000000"));
    assert!(d.creation_date().unwrap().secs() <= d.last_modified_date().unwrap().secs());
    let list = s
        .sync()
        .list_datasets()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(list.count(), 1);
    assert_eq!(list.datasets()[0].dataset_name(), Some("game"));
}

async fn records_page_with_url_safe_tokens_and_without_max_results_come_whole(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    for batch in 0..3 {
        let patches = (0..10)
            .filter(|i| batch * 10 + i < 25)
            .map(|i| replace(&format!("k{:02}", batch * 10 + i), "v", 0))
            .collect();
        push(&c, &pool, &id, "ds", patches).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let out = c
            .list_records()
            .identity_pool_id(&pool)
            .identity_id(&id)
            .dataset_name("ds")
            .max_results(10)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        pages.push(out.count());
        assert_eq!(
            out.count() as usize,
            out.records().len(),
            "Count is the page size"
        );
        seen.extend(
            out.records()
                .iter()
                .map(|r| (r.sync_count().unwrap(), r.key().unwrap().to_string())),
        );
        token = out.next_token().map(str::to_owned);
        match &token {
            Some(t) => assert!(!t.contains(['=', '&', ';', '+', '/']), "{t}"),
            None => break,
        }
    }
    assert_eq!(pages, [10, 10, 5]);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "records come in (SyncCount, key) order");
    assert_eq!(seen.len(), 25);

    // iOS sends no maxResults and never follows NextToken: everything in one page.
    let all = c
        .list_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("ds")
        .send()
        .await
        .unwrap();
    assert_eq!(all.records().len(), 25);
    assert!(all.next_token().is_none());

    // A NextToken is bound to its listing.
    let first = c
        .list_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("ds")
        .max_results(5)
        .send()
        .await
        .unwrap();
    let err = c
        .list_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("ds")
        .last_sync_count(1)
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&err).0, "InvalidParameterException");
}

async fn removed_records_stay_as_tombstones_that_other_devices_see(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    push(
        &c,
        &pool,
        &id,
        "ds",
        vec![replace("a", "1", 0), replace("b", "2", 0)],
    )
    .await
    .unwrap();
    let removed = push(&c, &pool, &id, "ds", vec![remove("a", 1)])
        .await
        .unwrap();
    assert_eq!(removed[0].value(), None);
    assert_eq!(removed[0].sync_count(), Some(2));

    let (recs, _) = pull(&c, &pool, &id, "ds", 1).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (recs[0].key(), recs[0].value()),
        (Some("a"), None),
        "the delete reaches other devices"
    );
    let (recs, _) = pull(&c, &pool, &id, "ds", 0).await;
    assert_eq!(recs.len(), 2, "a full pull includes the tombstone");

    let d = describe(&c, &pool, &id, "ds").await.unwrap();
    assert_eq!(d.dataset().unwrap().num_records(), Some(1));
    assert_eq!(d.dataset().unwrap().data_storage(), Some(2));

    // The tombstone keeps its count: re-adding with 0 conflicts, with its count succeeds.
    assert_eq!(
        push(&c, &pool, &id, "ds", vec![replace("a", "again", 0)])
            .await
            .unwrap_err(),
        (
            "ResourceConflictException".into(),
            "Current SyncCount for: a is: 2 not: 0".into()
        )
    );
    let back = push(&c, &pool, &id, "ds", vec![replace("a", "again", 2)])
        .await
        .unwrap();
    assert_eq!(
        (back[0].value(), back[0].sync_count()),
        (Some("again"), Some(3))
    );
}

async fn deleted_datasets_report_the_delete_and_recreate_with_a_rising_counter(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    for n in 0..3 {
        push(
            &c,
            &pool,
            &id,
            "ds",
            vec![replace(&format!("k{n}"), "v", 0)],
        )
        .await
        .unwrap();
    }
    let deleted = delete(&c, &pool, &id, "ds").await.unwrap();
    let d = deleted.dataset().unwrap();
    assert_eq!(
        (d.dataset_name(), d.num_records()),
        (Some("ds"), Some(3)),
        "the last metadata comes back"
    );

    let err = describe(&c, &pool, &id, "ds").await.unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = delete(&c, &pool, &id, "ds").await.unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    assert_eq!(
        c.list_datasets()
            .identity_pool_id(&pool)
            .identity_id(&id)
            .send()
            .await
            .unwrap()
            .count(),
        0
    );

    // A device that had synced up to 3 learns of the delete; ListRecords never 404s.
    let (recs, out) = pull(&c, &pool, &id, "ds", 3).await;
    assert!(recs.is_empty());
    assert!(!out.dataset_exists());
    assert!(out.dataset_deleted_after_requested_sync_count());
    let (_, out) = pull(&c, &pool, &id, "ds", 0).await;
    assert!(!out.dataset_exists());
    assert!(
        !out.dataset_deleted_after_requested_sync_count(),
        "a device with nothing has nothing to delete"
    );

    // Re-creation continues the counter, so old devices still see a delete happened.
    let written = push(&c, &pool, &id, "ds", vec![replace("fresh", "v", 0)])
        .await
        .unwrap();
    assert_eq!(written[0].sync_count(), Some(4));
    let (recs, out) = pull(&c, &pool, &id, "ds", 2).await;
    assert!(out.dataset_exists());
    assert!(out.dataset_deleted_after_requested_sync_count());
    assert_eq!(
        recs.iter().map(|r| r.key().unwrap()).collect::<Vec<_>>(),
        ["fresh"]
    );
    let (_, out) = pull(&c, &pool, &id, "ds", 4).await;
    assert!(!out.dataset_deleted_after_requested_sync_count());

    // Asking for a count the dataset never reached is an error.
    let err = c
        .list_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("ds")
        .last_sync_count(9)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_of(&err),
        (
            "InvalidParameterException".into(),
            "No such SyncCount: 9 exists for this Dataset".into()
        )
    );
}

async fn session_tokens_are_bound_to_their_dataset_and_unforgeable(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    let other_token = session_token(&c, &pool, &id, "other").await;
    assert!(!other_token.contains(['=', '&', ';', '+', '/']));
    for token in [other_token.as_str(), "forged-token", ""] {
        let err = c
            .update_records()
            .identity_pool_id(&pool)
            .identity_id(&id)
            .dataset_name("ds")
            .sync_session_token(token)
            .record_patches(replace("k", "v", 0))
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            code_of(&err),
            (
                "InvalidParameterException".into(),
                "SyncSessionToken not valid for these inputs".into()
            ),
            "token {token:?}"
        );
    }
    let d = describe(&c, &pool, &id, "ds").await;
    assert!(d.is_err(), "nothing was written with a bad token");
}

async fn device_timestamps_round_trip_with_millisecond_precision(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    let when = aws_sdk_cognitosync::primitives::DateTime::from_millis(1_704_164_645_678);
    let p = aws_sdk_cognitosync::types::RecordPatch::builder()
        .op(aws_sdk_cognitosync::types::Operation::Replace)
        .key("k")
        .value("v")
        .sync_count(0)
        .device_last_modified_date(when)
        .build()
        .unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let written = push(&c, &pool, &id, "ds", vec![p]).await.unwrap();
    // Epoch seconds with three decimals parse back to the same millisecond (a binary float
    // cannot hold .678 exactly, so compare at millisecond precision).
    let ms = |d: Option<&aws_sdk_cognitosync::primitives::DateTime>| {
        (d.unwrap().as_secs_f64() * 1000.0).round() as i64
    };
    assert_eq!(
        ms(written[0].device_last_modified_date()),
        1_704_164_645_678
    );
    let (recs, _) = pull(&c, &pool, &id, "ds", 0).await;
    assert_eq!(ms(recs[0].device_last_modified_date()), 1_704_164_645_678);
    let server_time = recs[0].last_modified_date().unwrap().secs();
    assert!(
        (before - 5..=before + 5).contains(&server_time),
        "LastModifiedDate is server time"
    );
}
