//! What SDKs other than the Rust one send, reproduced by hand: the old and new Android
//! marshallers, raw colons, body-less POSTs, and the wire form of successes and errors.

use axum::http::Method;

use crate::common::*;

#[tokio::test]
async fn an_android_style_request_is_understood() {
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    // %3A in the path, signed double-encoded (%253A) by the SDK signer; no
    // x-amz-content-sha256; a JSON Content-Type on a GET; an X-Amz-Target header.
    let path = format!("/identitypools/{}/identities/{}/datasets/com.example.game/records?lastSyncCount=0&maxResults=1024", enc(&pool), enc(&id));
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "AWSCognitoSyncService.ListRecords"),
    ];
    let r = raw(
        &s.endpoint,
        Method::GET,
        &path,
        &headers,
        b"",
        Some(Sign::default()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers.get("content-type").unwrap(), "application/json");
    assert!(r.headers.contains_key("x-amzn-requestid"));
    // Every field Android unboxes without a null check is present.
    assert_eq!(r.body["Records"], serde_json::json!([]));
    assert_eq!(r.body["Count"], 0);
    assert_eq!(r.body["DatasetSyncCount"], 0);
    assert_eq!(r.body["DatasetExists"], false);
    assert_eq!(r.body["DatasetDeletedAfterRequestedSyncCount"], false);
    let token = r.body["SyncSessionToken"].as_str().unwrap().to_string();

    // UpdateRecords the way Android marshals it (x-amz-json-1.0 from the old SDK, float date).
    let path = format!(
        "/identitypools/{}/identities/{}/datasets/com.example.game",
        enc(&pool),
        enc(&id)
    );
    let body = format!(
        r#"{{"SyncSessionToken":"{token}","DeviceId":"dev-1","RecordPatches":[{{"Op":"replace","Key":"k","Value":"v","SyncCount":0,"DeviceLastModifiedDate":1424801824.343}}]}}"#
    );
    let headers = [
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "AWSCognitoSyncService.UpdateRecords"),
    ];
    let r = raw(
        &s.endpoint,
        Method::POST,
        &path,
        &headers,
        body.as_bytes(),
        Some(Sign::default()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rec = &r.body["Records"][0];
    assert_eq!(rec["SyncCount"], 1);
    assert!(
        rec["LastModifiedDate"].is_number(),
        "timestamps are epoch-second numbers"
    );
    assert_eq!(rec["DeviceLastModifiedDate"].as_f64(), Some(1424801824.343));

    // The same path with raw colons routes to the same identity.
    let path = format!("/identitypools/{pool}/identities/{id}/datasets/com.example.game");
    let r = raw(
        &s.endpoint,
        Method::GET,
        &path,
        &[],
        b"",
        Some(Sign::default()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["Dataset"]["NumRecords"], 1);
    assert_eq!(r.body["Dataset"]["DataStorage"], 2);
}

#[tokio::test]
async fn a_conflict_has_the_exact_error_wire_form() {
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    push(&c, &pool, &id, "ds", vec![replace("highScore", "1", 0)])
        .await
        .unwrap();
    let token = session_token(&c, &pool, &id, "ds").await;
    let path = dataset_path(&pool, &id, "ds");
    let body = format!(
        r#"{{"SyncSessionToken":"{token}","RecordPatches":[{{"Op":"replace","Key":"highScore","Value":"9","SyncCount":0}}]}}"#
    );
    let r = raw(
        &s.endpoint,
        Method::POST,
        &path,
        &[],
        body.as_bytes(),
        Some(Sign::default()),
    )
    .await;
    assert_aws_error(&r, 409, "ResourceConflictException");
    assert_eq!(
        r.body["message"],
        "Current SyncCount for: highScore is: 1 not: 0"
    );
    assert_eq!(r.headers.get("content-type").unwrap(), "application/json");
}

#[tokio::test]
async fn unknown_routes_answer_unknown_operation() {
    let s = TestServer::start().await;
    for (method, path) in [
        (Method::GET, "/"),
        (Method::PUT, "/identitypools"),
        (Method::GET, "/identitypools/a/b/c/d"),
    ] {
        let r = raw(&s.endpoint, method, path, &[], b"", Some(Sign::default())).await;
        assert_aws_error(&r, 404, "UnknownOperationException");
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_without_harm() {
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    let path = dataset_path(&pool, &id, "ds");
    let body = vec![b' '; cogsync::api::MAX_BODY_BYTES + 1];
    let r = raw(&s.endpoint, Method::POST, &path, &[], &body, None).await;
    assert_aws_error(&r, 413, "RequestEntityTooLargeException");
}
