//! The Cognito Identity subset, through the official aws-sdk-cognitoidentity crate.

use aws_sdk_cognitoidentity as cid;
use axum::http::Method;

use crate::common::*;

backend_tests!(
    pools_are_created_described_listed_updated_and_deleted,
    get_id_creates_unauthenticated_identities_where_the_pool_allows,
    identity_inputs_are_validated,
    only_the_no_auth_operations_work_unsigned,
    deleting_a_pool_removes_its_identities_and_data
);

fn is_lower_region_uuid(id: &str) -> bool {
    let Some((region, uuid)) = id.split_once(':') else {
        return false;
    };
    region == "us-east-1"
        && uuid.len() == 36
        && uuid
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c) || c == '-')
}

async fn pools_are_created_described_listed_updated_and_deleted(s: TestServer) {
    let c = s.identity();
    let created = c
        .create_identity_pool()
        .identity_pool_name("My app")
        .allow_unauthenticated_identities(true)
        .allow_classic_flow(true)
        .supported_login_providers("graph.facebook.com", "12345")
        .developer_provider_name("login.myapp")
        .identity_pool_tags("team", "sync")
        .send()
        .await
        .unwrap();
    let pool = created.identity_pool_id().to_string();
    assert!(is_lower_region_uuid(&pool), "{pool}");
    let d = c
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(d.identity_pool_name(), "My app");
    assert!(d.allow_unauthenticated_identities());
    assert_eq!(d.allow_classic_flow(), Some(true));
    assert_eq!(
        d.supported_login_providers()
            .unwrap()
            .get("graph.facebook.com")
            .map(String::as_str),
        Some("12345")
    );
    assert_eq!(d.developer_provider_name(), Some("login.myapp"));
    assert_eq!(
        d.identity_pool_tags()
            .unwrap()
            .get("team")
            .map(String::as_str),
        Some("sync")
    );

    let second = s.new_pool(false).await;
    let page1 = c.list_identity_pools().max_results(1).send().await.unwrap();
    assert_eq!(page1.identity_pools().len(), 1);
    let page2 = c
        .list_identity_pools()
        .max_results(1)
        .next_token(page1.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page2.identity_pools().len(), 1);
    assert!(page2.next_token().is_none());
    let mut ids: Vec<_> = page1
        .identity_pools()
        .iter()
        .chain(page2.identity_pools())
        .map(|p| p.identity_pool_id().unwrap().to_string())
        .collect();
    ids.sort();
    let mut expected = vec![pool.clone(), second.clone()];
    expected.sort();
    assert_eq!(ids, expected);

    let updated = c
        .update_identity_pool()
        .identity_pool_id(&pool)
        .identity_pool_name("Renamed")
        .allow_unauthenticated_identities(false)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.identity_pool_name(), "Renamed");
    assert_eq!(
        updated.developer_provider_name(),
        Some("login.myapp"),
        "kept once set"
    );
    let err = c
        .update_identity_pool()
        .identity_pool_id(&pool)
        .identity_pool_name("Renamed")
        .allow_unauthenticated_identities(false)
        .developer_provider_name("other.provider")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_parameter_exception());

    c.delete_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    let err = c
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = c
        .delete_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}

async fn get_id_creates_unauthenticated_identities_where_the_pool_allows(s: TestServer) {
    let c = s.identity();
    let open = s.new_pool(true).await;
    let closed = s.new_pool(false).await;
    let a = s.new_identity(&open).await;
    let b = s.new_identity(&open).await;
    assert_ne!(a, b);
    assert!(is_lower_region_uuid(&a), "{a}");

    let err = c
        .get_id()
        .identity_pool_id(&closed)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_authorized_exception());
    let err = c
        .get_id()
        .identity_pool_id("us-east-1:00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = c
        .get_id()
        .identity_pool_id(&open)
        .logins("graph.facebook.com", "token")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_not_authorized_exception(),
        "logins come in a later version"
    );

    let list = c
        .list_identities()
        .identity_pool_id(&open)
        .max_results(60)
        .send()
        .await
        .unwrap();
    let mut ids: Vec<_> = list
        .identities()
        .iter()
        .map(|i| i.identity_id().unwrap().to_string())
        .collect();
    ids.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    let page = c
        .list_identities()
        .identity_pool_id(&open)
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert!(page.next_token().is_some());

    let d = c.describe_identity().identity_id(&a).send().await.unwrap();
    assert_eq!(d.identity_id(), Some(a.as_str()));
    assert!(d.creation_date().is_some());
    let err = c
        .describe_identity()
        .identity_id("us-east-1:00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}

async fn identity_inputs_are_validated(s: TestServer) {
    let c = s.identity();
    let err = c
        .create_identity_pool()
        .identity_pool_name("bad/name!")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_parameter_exception());
    let err = c
        .list_identity_pools()
        .max_results(61)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_parameter_exception());
    let err = c
        .describe_identity_pool()
        .identity_pool_id("nope")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_parameter_exception());
}

async fn only_the_no_auth_operations_work_unsigned(s: TestServer) {
    let pool = s.new_pool(true).await;
    let target = |op: &str| format!("AWSCognitoIdentityService.{op}");
    let get_id = target("GetId");
    let headers = [
        ("x-amz-target", get_id.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
    ];
    let r = raw(
        &s.endpoint,
        Method::POST,
        "/",
        &headers,
        format!(r#"{{"IdentityPoolId":"{pool}"}}"#).as_bytes(),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "application/x-amz-json-1.1"
    );
    assert!(r.body["IdentityId"].as_str().is_some());

    let create = target("CreateIdentityPool");
    let headers = [("x-amz-target", create.as_str())];
    let body = br#"{"IdentityPoolName":"x","AllowUnauthenticatedIdentities":true}"#;
    let r = raw(&s.endpoint, Method::POST, "/", &headers, body, None).await;
    assert_aws_error(&r, 403, "MissingAuthenticationTokenException");
    let sign = Sign {
        service: "cognito-identity",
        ..Sign::default()
    };
    let r = raw(&s.endpoint, Method::POST, "/", &headers, body, Some(sign)).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let unknown = target("Frobnicate");
    let r = raw(
        &s.endpoint,
        Method::POST,
        "/",
        &[("x-amz-target", unknown.as_str())],
        b"{}",
        Some(Sign {
            service: "cognito-identity",
            ..Sign::default()
        }),
    )
    .await;
    assert_aws_error(&r, 400, "UnknownOperationException");
    // Unsigned, the same answer: a name no operation has is unknown to anyone.
    let r = raw(
        &s.endpoint,
        Method::POST,
        "/",
        &[("x-amz-target", unknown.as_str())],
        b"{}",
        None,
    )
    .await;
    assert_aws_error(&r, 400, "UnknownOperationException");
    let later = target("GetIdentityPoolRoles");
    let r = raw(
        &s.endpoint,
        Method::POST,
        "/",
        &[("x-amz-target", later.as_str())],
        format!(r#"{{"IdentityPoolId":"{pool}"}}"#).as_bytes(),
        Some(Sign {
            service: "cognito-identity",
            ..Sign::default()
        }),
    )
    .await;
    assert_aws_error(&r, 501, "NotImplementedException");
}

async fn deleting_a_pool_removes_its_identities_and_data(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    push(&s.sync(), &pool, &id, "ds", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    s.identity()
        .delete_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    let err = s
        .identity()
        .describe_identity()
        .identity_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        cid::operation::describe_identity::DescribeIdentityError::ResourceNotFoundException(_)
    ));
    let err = s
        .sync()
        .describe_dataset()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("ds")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}
