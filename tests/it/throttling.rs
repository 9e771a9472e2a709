//! Request-rate limits per identity and per pool: 429 TooManyRequestsException, which the
//! SDKs retry; off by default. A request counts toward what its signature proved: identity
//! credentials toward their identity and pool, developer credentials toward the pool they
//! name; unsigned calls toward their address only.

use std::num::NonZeroU32;

use aws_credential_types::Credentials;
use aws_sdk_cognitosync as cs;
use axum::http::Method;
use cogsync::rate::Rate;

use crate::common::*;

fn rate(per_second: u32, burst: u32) -> Option<Rate> {
    Some(Rate {
        per_second: NonZeroU32::new(per_second).unwrap(),
        burst: NonZeroU32::new(burst).unwrap(),
    })
}

#[tokio::test]
async fn an_identity_over_its_rate_gets_429_and_others_do_not() {
    // One request per second sustained, bursts of 3: the fourth quick request is refused.
    let s = TestServer::start_custom(|c| c.throttle.per_identity = rate(1, 3)).await;
    let pool = s.new_pool(true).await;
    let (a, b) = (s.new_identity(&pool).await, s.new_identity(&pool).await);
    let a_creds = credentials_for(&s, &a, &[]).await.unwrap();
    let device_a = sync_as(&s.endpoint, a_creds.clone());
    let device_b = sync_as(&s.endpoint, credentials_for(&s, &b, &[]).await.unwrap());
    for _ in 0..3 {
        try_list(&device_a, &pool, &a).await.unwrap();
    }
    let (code, message) = try_list(&device_a, &pool, &a).await.unwrap_err();
    assert_eq!(code, "TooManyRequestsException", "{message}");
    try_list(&device_b, &pool, &b).await.unwrap();
    // The developer, acting on identity a, is not a's caller: not limited as a.
    try_list(&s.sync(), &pool, &a).await.unwrap();

    // The wire form: 429 with the AWS error shape.
    let r = raw(
        &s.endpoint,
        Method::GET,
        &format!(
            "/identitypools/{}/identities/{}/datasets",
            enc(&pool),
            enc(&a)
        ),
        &[],
        b"",
        Some(Sign {
            key: a_creds.access_key_id(),
            secret: a_creds.secret_access_key(),
            token: a_creds.session_token(),
            ..Sign::default()
        }),
    )
    .await;
    assert_aws_error(&r, 429, "TooManyRequestsException");
}

#[tokio::test]
async fn unsigned_requests_do_not_spend_an_identitys_allowance() {
    let s = TestServer::start_custom(|c| c.throttle.per_identity = rate(1, 2)).await;
    let (pool, id) = s.pool_and_identity().await;
    let path = format!(
        "/identitypools/{}/identities/{}/datasets",
        enc(&pool),
        enc(&id)
    );
    for _ in 0..20 {
        let r = raw(&s.endpoint, Method::GET, &path, &[], b"", None).await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    // Unsigned Cognito Identity calls naming the identity do not count against it either.
    for _ in 0..5 {
        s.identity()
            .get_open_id_token()
            .identity_id(&id)
            .send()
            .await
            .unwrap();
    }
    try_list(&s.sync(), &pool, &id).await.unwrap();
}

#[tokio::test]
async fn a_pool_limit_is_shared_by_its_identities_and_covers_the_identity_api() {
    let s = TestServer::start_custom(|c| c.throttle.per_pool = rate(1, 4)).await;
    let pool = s.new_pool(true).await; // CreateIdentityPool names no pool yet: not counted.
    let other = s.new_pool(true).await;
    // GetId and GetCredentialsForIdentity are unsigned: they count toward the address.
    let (a, b) = (s.new_identity(&pool).await, s.new_identity(&pool).await);
    let device_a = sync_as(&s.endpoint, credentials_for(&s, &a, &[]).await.unwrap());
    let device_b = sync_as(&s.endpoint, credentials_for(&s, &b, &[]).await.unwrap());
    try_list(&device_a, &pool, &a).await.unwrap();
    try_list(&device_b, &pool, &b).await.unwrap();
    try_list(&s.sync(), &pool, &a).await.unwrap(); // the developer counts too: 3 of 4
    s.identity()
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap(); // 4 of 4
    let (code, _) = try_list(&device_a, &pool, &a).await.unwrap_err();
    assert_eq!(code, "TooManyRequestsException");
    let e = s
        .identity()
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_cognitoidentity::error::ProvideErrorMetadata::code(&e),
        Some("TooManyRequestsException")
    );
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(429));
    // Nobody can spend the pool's allowance without proving they belong to it: unsigned
    // calls naming it still pass.
    s.identity()
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    // Another pool is not affected.
    let id = s.new_identity(&other).await;
    try_list(&s.sync(), &other, &id).await.unwrap();
}

#[tokio::test]
async fn the_sdks_standard_retries_ride_out_throttling() {
    let s = TestServer::start_custom(|c| c.throttle.per_identity = rate(4, 1)).await;
    let (pool, id) = s.pool_and_identity().await;
    let conf = cs::Config::builder()
        .behavior_version(cs::config::BehaviorVersion::latest())
        .region(cs::config::Region::new("us-east-1"))
        .endpoint_url(&s.endpoint)
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "t"))
        .retry_config(cs::config::retry::RetryConfig::standard().with_max_attempts(10))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    let c = cs::Client::from_conf(conf);
    // Back-to-back calls exceed 4/s with no burst; retries with backoff get every one through.
    for _ in 0..6 {
        try_list(&c, &pool, &id).await.unwrap();
    }
}

#[tokio::test]
async fn without_configuration_nothing_is_throttled() {
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    for _ in 0..200 {
        try_list(&c, &pool, &id).await.unwrap();
    }
}
