//! Temporary credentials from GetCredentialsForIdentity: devices sync with them, and they
//! reach only their own identity's data through the operations that accept them.

use aws_credential_types::Credentials;
use axum::http::Method;

use crate::common::*;

backend_tests!(
    a_deleted_identitys_credentials_open_nothing,
    a_device_syncs_with_its_own_temporary_credentials,
    temporary_credentials_are_confined_to_their_identity,
    every_operation_refuses_foreign_identities_and_pools
);

async fn a_device_syncs_with_its_own_temporary_credentials(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let creds = credentials_for(&s, &id, &[]).await.unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert!(creds.session_token().is_some());
    let device = sync_as(&s.endpoint, creds);
    let written = push(
        &device,
        &pool,
        &id,
        "settings",
        vec![replace("theme", "dark", 0)],
    )
    .await
    .unwrap();
    assert_eq!(
        written[0].last_modified_by(),
        Some(id.as_str()),
        "identity writes name the identity"
    );
    let (records, out) = pull(&device, &pool, &id, "settings", 0).await;
    assert_eq!(records.len(), 1);
    assert_eq!(out.last_modified_by(), Some(id.as_str()));
    let listed = device
        .list_datasets()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.count(), 1);
    describe(&device, &pool, &id, "settings").await.unwrap();
    delete(&device, &pool, &id, "settings").await.unwrap();

    // The developer still reaches every identity's data.
    push(&s.sync(), &pool, &id, "admin", vec![replace("k", "v", 0)])
        .await
        .unwrap();
}

async fn temporary_credentials_are_confined_to_their_identity(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let other = s.new_identity(&pool).await;
    push(
        &s.sync(),
        &pool,
        &other,
        "private",
        vec![replace("secret", "x", 0)],
    )
    .await
    .unwrap();
    let device = sync_as(&s.endpoint, credentials_for(&s, &id, &[]).await.unwrap());

    let err = device
        .list_records()
        .identity_pool_id(&pool)
        .identity_id(&other)
        .dataset_name("private")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&err).0, "NotAuthorizedException");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    let err = describe(&device, &pool, &other, "private")
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_authorized_exception());

    // Developer-only operations refuse identity credentials, on both APIs.
    let err = device
        .get_cognito_events()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_authorized_exception());
    let token = credentials_for(&s, &id, &[]).await.unwrap();
    let creds_sign = Sign {
        key: token.access_key_id(),
        secret: token.secret_access_key(),
        token: token.session_token(),
        service: "cognito-identity",
        ..Sign::default()
    };
    let r = raw(
        &s.endpoint,
        Method::POST,
        "/",
        &[(
            "x-amz-target",
            "AWSCognitoIdentityService.CreateIdentityPool",
        )],
        br#"{"IdentityPoolName":"x","AllowUnauthenticatedIdentities":true}"#,
        Some(creds_sign),
    )
    .await;
    assert_aws_error(&r, 400, "NotAuthorizedException");

    // Identity-only operations refuse developer credentials and pass identity credentials
    // on to the operation itself.
    let r = raw(
        &s.endpoint,
        Method::POST,
        &format!("/identitypools/{}/identity/{}/device", enc(&pool), enc(&id)),
        &[],
        br#"{"Platform":"GCM","Token":"t"}"#,
        Some(Sign::default()),
    )
    .await;
    assert_aws_error(&r, 403, "NotAuthorizedException");
    let sign = Sign {
        key: token.access_key_id(),
        secret: token.secret_access_key(),
        token: token.session_token(),
        ..Sign::default()
    };
    let r = raw(
        &s.endpoint,
        Method::POST,
        &format!("/identitypools/{}/identity/{}/device", enc(&pool), enc(&id)),
        &[],
        br#"{"Platform":"GCM","Token":"t"}"#,
        Some(sign),
    )
    .await;
    assert_aws_error(&r, 400, "InvalidConfigurationException");

    // A tampered session token is not recognised.
    let mut forged = token.session_token().unwrap().to_string();
    forged.replace_range(5..6, if &forged[5..6] == "A" { "B" } else { "A" });
    let tampered = Credentials::new(
        token.access_key_id(),
        token.secret_access_key(),
        Some(forged),
        None,
        "t",
    );
    let err = sync_as(&s.endpoint, tampered)
        .list_datasets()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&err).0, "UnrecognizedClientException");
    // Another identity's session token under these keys is not recognised either.
    let other_creds = credentials_for(&s, &other, &[]).await.unwrap();
    let mixed = Credentials::new(
        token.access_key_id(),
        token.secret_access_key(),
        other_creds.session_token().map(str::to_owned),
        None,
        "t",
    );
    let err = sync_as(&s.endpoint, mixed)
        .list_datasets()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&err).0, "UnrecognizedClientException");

    // Unauthenticated identities get no credentials once the pool stops allowing them.
    s.identity()
        .update_identity_pool()
        .identity_pool_id(&pool)
        .identity_pool_name("test pool")
        .allow_unauthenticated_identities(false)
        .send()
        .await
        .unwrap();
    assert_eq!(
        credentials_for(&s, &id, &[]).await.unwrap_err().0,
        "NotAuthorizedException"
    );
    let err = s
        .identity()
        .get_credentials_for_identity()
        .identity_id("us-east-1:00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}

/// For each of the 17 operations: identity credentials aimed at another identity of the same
/// pool, or at another pool, are refused with 403 NotAuthorizedException.
async fn every_operation_refuses_foreign_identities_and_pools(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let other = s.new_identity(&pool).await;
    let (other_pool, stranger) = s.pool_and_identity().await;
    let creds = credentials_for(&s, &id, &[]).await.unwrap();
    let sign = || Sign {
        key: creds.access_key_id(),
        secret: creds.secret_access_key(),
        token: creds.session_token(),
        ..Sign::default()
    };
    let (p, i, op_, st) = (enc(&pool), enc(&other), enc(&other_pool), enc(&stranger));
    let targets = [
        (p.clone(), i.clone()),
        (op_.clone(), st.clone()),
        (op_.clone(), enc(&id)),
    ];
    for (tp, ti) in &targets {
        let cases = [
            (Method::POST, format!("/identitypools/{tp}/bulkpublish"), ""),
            (
                Method::DELETE,
                format!("/identitypools/{tp}/identities/{ti}/datasets/ds"),
                "",
            ),
            (
                Method::GET,
                format!("/identitypools/{tp}/identities/{ti}/datasets/ds"),
                "",
            ),
            (Method::GET, format!("/identitypools/{tp}"), ""),
            (
                Method::GET,
                format!("/identitypools/{tp}/identities/{ti}"),
                "",
            ),
            (
                Method::POST,
                format!("/identitypools/{tp}/getBulkPublishDetails"),
                "",
            ),
            (Method::GET, format!("/identitypools/{tp}/events"), ""),
            (
                Method::GET,
                format!("/identitypools/{tp}/configuration"),
                "",
            ),
            (
                Method::GET,
                format!("/identitypools/{tp}/identities/{ti}/datasets"),
                "",
            ),
            (Method::GET, "/identitypools".to_string(), ""),
            (
                Method::GET,
                format!("/identitypools/{tp}/identities/{ti}/datasets/ds/records"),
                "",
            ),
            (
                Method::POST,
                format!("/identitypools/{tp}/identity/{ti}/device"),
                r#"{"Platform":"GCM","Token":"t"}"#,
            ),
            (
                Method::POST,
                format!("/identitypools/{tp}/events"),
                r#"{"Events":{}}"#,
            ),
            (
                Method::POST,
                format!("/identitypools/{tp}/configuration"),
                "{}",
            ),
            (
                Method::POST,
                format!("/identitypools/{tp}/identities/{ti}/datasets/ds/subscriptions/dev"),
                "",
            ),
            (
                Method::DELETE,
                format!("/identitypools/{tp}/identities/{ti}/datasets/ds/subscriptions/dev"),
                "",
            ),
            (
                Method::POST,
                format!("/identitypools/{tp}/identities/{ti}/datasets/ds"),
                r#"{"SyncSessionToken":"x","RecordPatches":[]}"#,
            ),
        ];
        assert_eq!(cases.len(), 17);
        for (method, path, body) in cases {
            let r = raw(
                &s.endpoint,
                method.clone(),
                &path,
                &[],
                body.as_bytes(),
                Some(sign()),
            )
            .await;
            assert_aws_error(&r, 403, "NotAuthorizedException");
            let _ = (&method, &path);
        }
    }
    // Nothing of the other identities was touched; their own credentials still work.
    let mine = sync_as(&s.endpoint, credentials_for(&s, &other, &[]).await.unwrap());
    assert_eq!(
        mine.list_datasets()
            .identity_pool_id(&pool)
            .identity_id(&other)
            .send()
            .await
            .unwrap()
            .count(),
        0
    );
}

/// Credentials outlive their identity's deletion, but open nothing: every operation an
/// identity may call answers 403 NotAuthorizedException, and no data is revealed.
async fn a_deleted_identitys_credentials_open_nothing(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let dev = s.sync();
    push(
        &dev,
        &pool,
        &id,
        "ds",
        vec![replace("k", "secret-value", 0)],
    )
    .await
    .unwrap();
    let c = sync_as(&s.endpoint, credentials_for(&s, &id, &[]).await.unwrap());
    let token = session_token(&c, &pool, &id, "ds").await;
    s.identity()
        .delete_identities()
        .identity_ids_to_delete(&id)
        .send()
        .await
        .unwrap();
    let mut errors = vec![
        code_of(
            &c.list_datasets()
                .identity_pool_id(&pool)
                .identity_id(&id)
                .send()
                .await
                .unwrap_err(),
        ),
        code_of(
            &c.list_records()
                .identity_pool_id(&pool)
                .identity_id(&id)
                .dataset_name("ds")
                .send()
                .await
                .unwrap_err(),
        ),
        code_of(&describe(&c, &pool, &id, "ds").await.unwrap_err()),
        code_of(&delete(&c, &pool, &id, "ds").await.unwrap_err()),
        code_of(
            &c.describe_identity_usage()
                .identity_pool_id(&pool)
                .identity_id(&id)
                .send()
                .await
                .unwrap_err(),
        ),
    ];
    errors.push(code_of(
        &c.update_records()
            .identity_pool_id(&pool)
            .identity_id(&id)
            .dataset_name("ds")
            .sync_session_token(token)
            .record_patches(replace("k", "v2", 1))
            .send()
            .await
            .unwrap_err(),
    ));
    for (code, message) in errors {
        assert_eq!(code, "NotAuthorizedException", "{message}");
        assert!(!message.contains("secret-value"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_credentials_get_an_expired_token_error() {
    let s = TestServer::start_custom(|c| c.credentials_ttl_ms = 1_000).await;
    let (pool, id) = s.pool_and_identity().await;
    let creds = credentials_for(&s, &id, &[]).await.unwrap();
    let device = sync_as(&s.endpoint, creds);
    push(&device, &pool, &id, "ds", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let err = device
        .update_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("ds")
        .sync_session_token("any")
        .record_patches(replace("k", "w", 1))
        .send()
        .await
        .unwrap_err();
    let (code, message) = code_of(&err);
    assert_eq!(code, "ExpiredTokenException", "{message}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    let (records, _) = pull(&s.sync(), &pool, &id, "ds", 0).await;
    assert_eq!(
        records[0].value(),
        Some("v"),
        "nothing was written with expired credentials"
    );
}
