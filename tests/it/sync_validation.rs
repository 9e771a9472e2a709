//! Model constraints and unknown resources answer with the operation's modelled error.

use aws_sdk_cognitosync::types::{Operation, RecordPatch};
use axum::http::Method;

use crate::common::*;

backend_tests!(
    path_members_must_satisfy_their_patterns_and_lengths,
    record_patches_are_validated_before_anything_is_written,
    query_parameters_are_validated,
    malformed_bodies_get_invalid_parameter,
    unknown_pools_and_identities_are_reported_per_operation
);

async fn path_members_must_satisfy_their_patterns_and_lengths(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    let upper = id.to_uppercase();
    let long_name = "n".repeat(129);
    let cases: Vec<(&str, &str, &str, &str)> = vec![
        (&pool, &upper, "ds", "identityId"),
        ("not-an-id", &id, "ds", "identityPoolId"),
        (&pool, &id, "bad name", "datasetName"),
        (&pool, &id, &long_name, "datasetName"),
        (&pool, &id, "a%2Fb", "datasetName"),
    ];
    for (p, i, d, member) in cases {
        let err = describe(&c, p, i, d).await.unwrap_err();
        let (code, msg) = code_of(&err);
        assert_eq!(code, "InvalidParameterException", "{p} {i} {d}: {msg}");
        assert!(msg.contains(member), "{msg}");
    }
}

async fn record_patches_are_validated_before_anything_is_written(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    let long_key = "k".repeat(1025);
    let long_value = "v".repeat(1_048_576);
    let bad: Vec<(Vec<RecordPatch>, &str)> = vec![
        (
            vec![replace(&long_key, "v", 0)],
            "recordPatches.1.member.key",
        ),
        (
            vec![replace("ok", "v", 0), replace("", "v", 0)],
            "recordPatches.2.member.key",
        ),
        (
            vec![replace("k", &long_value, 0)],
            "recordPatches.1.member.value",
        ),
        (
            vec![patch(Operation::from("upsert"), "k", Some("v"), 0)],
            "recordPatches.1.member.op",
        ),
        (
            vec![replace("k", "v", -1)],
            "recordPatches.1.member.syncCount",
        ),
        (vec![replace("k", "v", 0), remove("k", 0)], "Duplicate key"),
    ];
    for (patches, needle) in bad {
        let (code, msg) = push(&c, &pool, &id, "ds", patches).await.unwrap_err();
        assert_eq!(code, "InvalidParameterException", "{msg}");
        assert!(msg.contains(needle), "expected {needle:?} in {msg}");
    }
    let err = describe(&c, &pool, &id, "ds").await.unwrap_err();
    assert!(
        err.into_service_error().is_resource_not_found_exception(),
        "nothing was created"
    );

    let token = session_token(&c, &pool, &id, "ds").await;
    let err = c
        .update_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("ds")
        .sync_session_token(token)
        .device_id("d".repeat(257))
        .record_patches(replace("k", "v", 0))
        .send()
        .await
        .unwrap_err();
    assert!(code_of(&err).1.contains("deviceId"));
}

async fn query_parameters_are_validated(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    let list = |last: Option<i64>, max: Option<i32>, next: Option<&str>| {
        c.list_records()
            .identity_pool_id(&pool)
            .identity_id(&id)
            .dataset_name("ds")
            .set_last_sync_count(last)
            .set_max_results(max)
            .set_next_token(next.map(Into::into))
            .send()
    };
    for (last, max, next, needle) in [
        (Some(-1), None, None, "lastSyncCount"),
        (None, Some(0), None, "maxResults"),
        (None, None, Some("garbage"), "NextToken"),
    ] {
        let (code, msg) = code_of(&list(last, max, next).await.unwrap_err());
        assert_eq!(code, "InvalidParameterException");
        assert!(msg.contains(needle), "{msg}");
    }
    // Non-numeric integers can only come from hand-made requests.
    let path = format!(
        "/identitypools/{}/identities/{}/datasets/ds/records?lastSyncCount=abc",
        enc(&pool),
        enc(&id)
    );
    let r = raw(
        &s.endpoint,
        Method::GET,
        &path,
        &[],
        b"",
        Some(Sign::default()),
    )
    .await;
    assert_aws_error(&r, 400, "InvalidParameterException");
}

async fn malformed_bodies_get_invalid_parameter(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let path = dataset_path(&pool, &id, "ds");
    let bodies: [&[u8]; 6] = [
        b"{not json",
        b"[1,2]",
        br#"{"SyncSessionToken": 5}"#,
        br#"{"SyncSessionToken": "t", "RecordPatches": {"Key": "k"}}"#,
        br#"{"SyncSessionToken": "t", "RecordPatches": [{"Op": "replace", "Key": "k", "Value": 7, "SyncCount": 0}]}"#,
        b"\xff\xfe",
    ];
    for body in bodies {
        let r = raw(
            &s.endpoint,
            Method::POST,
            &path,
            &[("content-type", "application/json")],
            body,
            Some(Sign::default()),
        )
        .await;
        assert_aws_error(&r, 400, "InvalidParameterException");
    }
    // No SyncSessionToken at all.
    let r = raw(
        &s.endpoint,
        Method::POST,
        &path,
        &[],
        b"{}",
        Some(Sign::default()),
    )
    .await;
    assert_aws_error(&r, 400, "InvalidParameterException");
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("syncSessionToken"));
}

async fn unknown_pools_and_identities_are_reported_per_operation(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let (other_pool, other_id) = s.pool_and_identity().await;
    let c = s.sync();
    let ghost_pool = "us-east-1:00000000-0000-0000-0000-000000000000";
    // Operations that model ResourceNotFoundException use it...
    for (p, i) in [
        (ghost_pool, id.as_str()),
        (pool.as_str(), other_id.as_str()),
    ] {
        let err = describe(&c, p, i, "ds").await.unwrap_err();
        assert!(err.into_service_error().is_resource_not_found_exception());
        let err = c
            .update_records()
            .identity_pool_id(p)
            .identity_id(i)
            .dataset_name("ds")
            .sync_session_token("any")
            .record_patches(replace("k", "v", 0))
            .send()
            .await
            .unwrap_err();
        assert!(err.into_service_error().is_resource_not_found_exception());
        let err = delete(&c, p, i, "ds").await.unwrap_err();
        assert!(err.into_service_error().is_resource_not_found_exception());
    }
    // ...the list operations, which do not, say InvalidParameterException.
    let err = c
        .list_records()
        .identity_pool_id(ghost_pool)
        .identity_id(&id)
        .dataset_name("ds")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&err).0, "InvalidParameterException");
    let err = c
        .list_datasets()
        .identity_pool_id(&other_pool)
        .identity_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&err).0, "InvalidParameterException");
}
