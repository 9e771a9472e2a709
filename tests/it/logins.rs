//! Authenticated identities: developer-provider and OpenID Connect logins give stable
//! identities; a login that belongs to another identity merges the two, keeping every record.

use std::collections::HashMap;

use aws_sdk_cognitoidentity as cid;

use crate::common::*;

backend_tests!(
    developer_authenticated_identities_are_stable_and_sync,
    merging_developer_identities_keeps_every_record,
    oidc_logins_are_verified_and_a_second_login_merges,
    identities_and_logins_can_be_deleted_and_unlinked
);

const DEV: &str = "login.myapp";

async fn developer_login(s: &TestServer, pool: &str, user: &str) -> (String, String) {
    let out = s
        .identity()
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(pool)
        .logins(DEV, user)
        .send()
        .await
        .unwrap();
    (out.identity_id.unwrap(), out.token.unwrap())
}

async fn developer_device(
    s: &TestServer,
    pool: &str,
    user: &str,
) -> (String, aws_sdk_cognitosync::Client) {
    let (id, token) = developer_login(s, pool, user).await;
    let creds = credentials_for(s, &id, &[("cognito-identity.amazonaws.com", &token)])
        .await
        .unwrap();
    (id, sync_as(&s.endpoint, creds))
}

fn values(records: &[aws_sdk_cognitosync::types::Record]) -> HashMap<String, Option<String>> {
    records
        .iter()
        .map(|r| (r.key().unwrap().to_string(), r.value().map(str::to_owned)))
        .collect()
}

async fn developer_authenticated_identities_are_stable_and_sync(s: TestServer) {
    let pool = login_pool(&s, false).await;
    let (a, token) = developer_login(&s, &pool, "alice").await;
    let (again, _) = developer_login(&s, &pool, "alice").await;
    assert_eq!(a, again, "the same developer user keeps one identity");

    let creds = credentials_for(&s, &a, &[("cognito-identity.amazonaws.com", &token)])
        .await
        .unwrap();
    let device = sync_as(&s.endpoint, creds);
    push(
        &device,
        &pool,
        &a,
        "profile",
        vec![replace("name", "Alice", 0)],
    )
    .await
    .unwrap();
    let (records, _) = pull(&device, &pool, &a, "profile", 0).await;
    assert_eq!(records.len(), 1);

    // An authenticated identity needs its logins; other tokens do not prove it.
    assert_eq!(
        credentials_for(&s, &a, &[]).await.unwrap_err().0,
        "NotAuthorizedException"
    );
    let (b, b_token) = developer_login(&s, &pool, "bob").await;
    assert_ne!(a, b);
    let err = credentials_for(&s, &a, &[("cognito-identity.amazonaws.com", &b_token)])
        .await
        .unwrap_err();
    assert_eq!(err.0, "NotAuthorizedException");
    let err = credentials_for(&s, &a, &[("cognito-identity.amazonaws.com", "not-a-token")])
        .await
        .unwrap_err();
    assert_eq!(err.0, "NotAuthorizedException");

    let ids = s.identity();
    let found = ids
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .developer_user_identifier("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(found.identity_id(), Some(a.as_str()));
    assert_eq!(found.developer_user_identifier_list(), ["alice"]);
    let found = ids
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(found.developer_user_identifier_list(), ["alice"]);
    let err = ids
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .developer_user_identifier("nobody")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());

    // Claiming alice for bob's identity is refused.
    let err = ids
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&b)
        .logins(DEV, "alice")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .into_service_error()
        .is_developer_user_already_registered_exception());
    // Another provider name is not the pool's developer provider.
    let err = ids
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins("other.dev", "alice")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_parameter_exception());

    // GetOpenIdToken renews the token for a device that holds one.
    let renewed = ids
        .get_open_id_token()
        .identity_id(&a)
        .logins("cognito-identity.amazonaws.com", &token)
        .send()
        .await
        .unwrap();
    credentials_for(
        &s,
        &a,
        &[("cognito-identity.amazonaws.com", renewed.token().unwrap())],
    )
    .await
    .unwrap();
    let described = ids
        .describe_identity()
        .identity_id(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(described.logins(), [DEV]);
}

async fn merging_developer_identities_keeps_every_record(s: TestServer) {
    let pool = login_pool(&s, false).await;
    let (a, alice) = developer_device(&s, &pool, "alice").await;
    let (b, bob) = developer_device(&s, &pool, "bob").await;
    push(&alice, &pool, &a, "game", vec![replace("level", "7", 0)])
        .await
        .unwrap();
    push(
        &bob,
        &pool,
        &b,
        "game",
        vec![
            replace("score", "99", 0),
            replace("coins", "5", 0),
            replace("gone", "x", 0),
        ],
    )
    .await
    .unwrap();
    push(
        &bob,
        &pool,
        &b,
        "game",
        vec![remove("gone", 1), replace("coins", "6", 1)],
    )
    .await
    .unwrap();
    push(&bob, &pool, &b, "prefs", vec![replace("theme", "dark", 0)])
        .await
        .unwrap();

    let merged = s
        .identity()
        .merge_developer_identities()
        .identity_pool_id(&pool)
        .developer_provider_name(DEV)
        .source_user_identifier("bob")
        .destination_user_identifier("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(merged.identity_id(), Some(a.as_str()));

    // Bob's old identity and credentials are gone; bob now signs in to alice's identity.
    let err = bob
        .list_datasets()
        .identity_pool_id(&pool)
        .identity_id(&b)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&err).0, "NotAuthorizedException");
    let err = s
        .identity()
        .describe_identity()
        .identity_id(&b)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        cid::operation::describe_identity::DescribeIdentityError::ResourceNotFoundException(_)
    ));
    assert_eq!(developer_login(&s, &pool, "bob").await.0, a);

    // The merged datasets appear under alice as <name>.<bob's id>, reported by <name>.
    let game_b = format!("game.{b}");
    let (own, out) = pull(&alice, &pool, &a, "game", 0).await;
    assert_eq!(
        values(&own),
        HashMap::from([("level".to_string(), Some("7".to_string()))])
    );
    assert_eq!(out.merged_dataset_names(), std::slice::from_ref(&game_b));
    let (copied, out) = pull(&alice, &pool, &a, &game_b, 0).await;
    assert_eq!(
        out.dataset_sync_count(),
        Some(1),
        "a merged dataset starts at SyncCount 1"
    );
    assert_eq!(
        values(&copied),
        HashMap::from([
            ("score".to_string(), Some("99".to_string())),
            ("coins".to_string(), Some("6".to_string()))
        ]),
        "every live record arrives intact, once"
    );
    assert!(copied.iter().all(|r| r.sync_count() == Some(1)));
    let names: Vec<String> = alice
        .list_datasets()
        .identity_pool_id(&pool)
        .identity_id(&a)
        .send()
        .await
        .unwrap()
        .datasets()
        .iter()
        .map(|d| d.dataset_name().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["game".to_string(), game_b.clone(), format!("prefs.{b}")]
    );

    // The device syncs the merged dataset like any other, then deletes it once folded in.
    let written = push(&alice, &pool, &a, &game_b, vec![replace("score", "100", 1)])
        .await
        .unwrap();
    assert_eq!(written[0].sync_count(), Some(2));
    delete(&alice, &pool, &a, &game_b).await.unwrap();
    let (_, out) = pull(&alice, &pool, &a, "game", 0).await;
    assert!(out.merged_dataset_names().is_empty());

    // Merged datasets count toward the 20-dataset quota.
    for n in 0..18 {
        push(
            &alice,
            &pool,
            &a,
            &format!("extra{n}"),
            vec![replace("k", "v", 0)],
        )
        .await
        .unwrap();
    }
    let (code, _) = push(
        &alice,
        &pool,
        &a,
        "one-too-many",
        vec![replace("k", "v", 0)],
    )
    .await
    .unwrap_err();
    assert_eq!(code, "LimitExceededException");
}

async fn oidc_logins_are_verified_and_a_second_login_merges(s: TestServer) {
    let pool = login_pool(&s, false).await;
    let f = oidc();
    let t1 = f.token(0, "user-1", OIDC_AUDIENCE, 300);
    let x = get_id_with(&s, &pool, &[(f.name(0), &t1)]).await.unwrap();
    assert_eq!(
        get_id_with(
            &s,
            &pool,
            &[(f.name(0), &f.token(0, "user-1", OIDC_AUDIENCE, 300))]
        )
        .await
        .unwrap(),
        x
    );

    for (name, bad) in [
        (f.name(0), f.token(0, "user-1", "another-client", 300)),
        (f.name(0), f.token(0, "user-1", OIDC_AUDIENCE, -600)),
        (f.name(0), f.token(1, "user-1", OIDC_AUDIENCE, 300)),
        (f.name(0), "garbage".to_string()),
        ("accounts.google.com", t1.clone()),
    ] {
        assert_eq!(
            get_id_with(&s, &pool, &[(name, &bad)]).await.unwrap_err().0,
            "NotAuthorizedException",
            "{name}"
        );
    }
    // A pool that does not list the provider does not accept it.
    let plain = s.new_pool(true).await;
    assert_eq!(
        get_id_with(&s, &plain, &[(f.name(0), &t1)])
            .await
            .unwrap_err()
            .0,
        "NotAuthorizedException"
    );

    let x_dev = sync_as(
        &s.endpoint,
        credentials_for(&s, &x, &[(f.name(0), &t1)]).await.unwrap(),
    );
    push(&x_dev, &pool, &x, "notes", vec![replace("a", "1", 0)])
        .await
        .unwrap();

    let ty = f.token(1, "someone", OIDC_AUDIENCE, 300);
    let y = get_id_with(&s, &pool, &[(f.name(1), &ty)]).await.unwrap();
    assert_ne!(x, y);
    let y_dev = sync_as(
        &s.endpoint,
        credentials_for(&s, &y, &[(f.name(1), &ty)]).await.unwrap(),
    );
    push(
        &y_dev,
        &pool,
        &y,
        "notes",
        vec![replace("b", "2", 0), replace("c", "3", 0)],
    )
    .await
    .unwrap();
    push(&y_dev, &pool, &y, "extra", vec![replace("d", "4", 0)])
        .await
        .unwrap();

    // Signing in with both logins makes them one identity: the older one survives.
    let merged = get_id_with(&s, &pool, &[(f.name(0), &t1), (f.name(1), &ty)])
        .await
        .unwrap();
    assert_eq!(merged, x);
    assert_eq!(
        get_id_with(&s, &pool, &[(f.name(1), &ty)]).await.unwrap(),
        x,
        "the second login now leads to x"
    );
    let err = y_dev
        .list_datasets()
        .identity_pool_id(&pool)
        .identity_id(&y)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_of(&err).0,
        "NotAuthorizedException",
        "the merged identity's credentials stop working"
    );

    let x_dev = sync_as(
        &s.endpoint,
        credentials_for(&s, &x, &[(f.name(1), &ty)]).await.unwrap(),
    );
    let (own, out) = pull(&x_dev, &pool, &x, "notes", 0).await;
    assert_eq!(
        values(&own),
        HashMap::from([("a".to_string(), Some("1".to_string()))])
    );
    assert_eq!(out.merged_dataset_names(), [format!("notes.{y}")]);
    let (copied, _) = pull(&x_dev, &pool, &x, &format!("notes.{y}"), 0).await;
    assert_eq!(
        values(&copied),
        HashMap::from([
            ("b".to_string(), Some("2".to_string())),
            ("c".to_string(), Some("3".to_string()))
        ])
    );
    let (copied, _) = pull(&x_dev, &pool, &x, &format!("extra.{y}"), 0).await;
    assert_eq!(
        values(&copied),
        HashMap::from([("d".to_string(), Some("4".to_string()))])
    );
    let described = s
        .identity()
        .describe_identity()
        .identity_id(&x)
        .send()
        .await
        .unwrap();
    let mut logins = described.logins().to_vec();
    logins.sort();
    assert_eq!(logins, [f.name(0).to_string(), f.name(1).to_string()]);
}

async fn identities_and_logins_can_be_deleted_and_unlinked(s: TestServer) {
    let pool = login_pool(&s, true).await;
    let ids = s.identity();
    let (a, alice) = developer_device(&s, &pool, "alice").await;
    push(&alice, &pool, &a, "ds", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    let out = ids
        .delete_identities()
        .identity_ids_to_delete(&a)
        .send()
        .await
        .unwrap();
    assert!(out.unprocessed_identity_ids().is_empty());
    let err = ids
        .describe_identity()
        .identity_id(&a)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        cid::operation::describe_identity::DescribeIdentityError::ResourceNotFoundException(_)
    ));
    let err = describe(&s.sync(), &pool, &a, "ds").await.unwrap_err();
    assert!(
        err.into_service_error().is_resource_not_found_exception(),
        "its data went with it"
    );
    let (a2, _) = developer_login(&s, &pool, "alice").await;
    assert_ne!(a2, a, "its logins went with it too");

    ids.unlink_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&a2)
        .developer_provider_name(DEV)
        .developer_user_identifier("alice")
        .send()
        .await
        .unwrap();
    let err = ids
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .developer_user_identifier("alice")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());

    let f = oidc();
    let t = f.token(0, "user-9", OIDC_AUDIENCE, 300);
    let x = get_id_with(&s, &pool, &[(f.name(0), &t)]).await.unwrap();
    ids.unlink_identity()
        .identity_id(&x)
        .logins(f.name(0), &t)
        .logins_to_remove(f.name(0))
        .send()
        .await
        .unwrap();
    let fresh = get_id_with(&s, &pool, &[(f.name(0), &t)]).await.unwrap();
    assert_ne!(fresh, x, "after unlinking, the login starts a new identity");
    let err = ids
        .unlink_identity()
        .identity_id(&fresh)
        .logins(f.name(0), "garbage")
        .logins_to_remove(f.name(0))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_authorized_exception());
}
