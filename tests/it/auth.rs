//! SigV4: wrong keys, bad signatures, skewed clocks and missing authentication are refused
//! with 403 and the AWS error shapes; presigned requests work.

use std::time::{Duration, SystemTime};

use axum::http::Method;

use crate::common::*;

#[tokio::test]
async fn wrong_secrets_and_unknown_keys_are_refused() {
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    let (code, msg) = try_list(&s.sync_with(ACCESS_KEY, "not-the-secret", None), &pool, &id)
        .await
        .unwrap_err();
    assert_eq!(code, "InvalidSignatureException");
    assert!(
        msg.contains("signature we calculated does not match"),
        "{msg}"
    );
    let (code, _) = try_list(
        &s.sync_with("AKIDUNKNOWN000000000", SECRET_KEY, None),
        &pool,
        &id,
    )
    .await
    .unwrap_err();
    assert_eq!(code, "UnrecognizedClientException");
    assert!(try_list(&s.sync(), &pool, &id).await.is_ok());
}

#[tokio::test]
async fn clock_skew_beyond_fifteen_minutes_is_refused() {
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    let now = SystemTime::now();
    let past = now - Duration::from_secs(20 * 60);
    let (code, msg) = try_list(&s.sync_with(ACCESS_KEY, SECRET_KEY, Some(past)), &pool, &id)
        .await
        .unwrap_err();
    assert_eq!(code, "InvalidSignatureException");
    assert!(msg.starts_with("Signature expired"), "{msg}");
    let future = now + Duration::from_secs(20 * 60);
    let (code, msg) = try_list(
        &s.sync_with(ACCESS_KEY, SECRET_KEY, Some(future)),
        &pool,
        &id,
    )
    .await
    .unwrap_err();
    assert_eq!(code, "InvalidSignatureException");
    assert!(msg.starts_with("Signature not yet current"), "{msg}");
    for skew in [
        now - Duration::from_secs(10 * 60),
        now + Duration::from_secs(10 * 60),
    ] {
        try_list(&s.sync_with(ACCESS_KEY, SECRET_KEY, Some(skew)), &pool, &id)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn unsigned_tampered_and_misscoped_requests_are_refused() {
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    let path = format!(
        "/identitypools/{}/identities/{}/datasets",
        enc(&pool),
        enc(&id)
    );

    let r = raw(&s.endpoint, Method::GET, &path, &[], b"", None).await;
    assert_aws_error(&r, 403, "MissingAuthenticationTokenException");

    let r = raw(
        &s.endpoint,
        Method::GET,
        &path,
        &[],
        b"",
        Some(Sign {
            service: "cognito-identity",
            ..Sign::default()
        }),
    )
    .await;
    assert_aws_error(&r, 403, "InvalidSignatureException");
    assert!(r.body["message"].as_str().unwrap().contains("cognito-sync"));

    // A signature over one query string does not cover another.
    let signed = raw(
        &s.endpoint,
        Method::GET,
        &format!("{path}?maxResults=1"),
        &[],
        b"",
        Some(Sign::default()),
    )
    .await;
    assert_eq!(signed.status, 200);

    let r = raw(
        &s.endpoint,
        Method::GET,
        &path,
        &[
            ("authorization", "AWS4-HMAC-SHA256 Credential=x"),
            ("x-amz-date", "20260101T000000Z"),
        ],
        b"",
        None,
    )
    .await;
    assert_aws_error(&r, 403, "IncompleteSignatureException");
}

#[tokio::test]
async fn a_signature_covers_the_body_even_without_a_content_hash_header() {
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    let token = session_token(&c, &pool, &id, "ds").await;
    let path = dataset_path(&pool, &id, "ds");
    let body = format!(
        r#"{{"SyncSessionToken":"{token}","RecordPatches":[{{"Op":"replace","Key":"k","Value":"v","SyncCount":0}}]}}"#
    );

    // Sign the real body, then send a different one under the same signature.
    let headers = signed_headers(&s.endpoint, "POST", &path, body.as_bytes());
    let hdrs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let tampered = body.replace("\"v\"", "\"evil\"");
    let r = raw(
        &s.endpoint,
        Method::POST,
        &path,
        &hdrs,
        tampered.as_bytes(),
        None,
    )
    .await;
    assert_aws_error(&r, 403, "InvalidSignatureException");
    let r = raw(
        &s.endpoint,
        Method::POST,
        &path,
        &hdrs,
        body.as_bytes(),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn presigned_query_requests_are_accepted() {
    use aws_sigv4::http_request::{
        sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    };
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    let path = format!(
        "/identitypools/{}/identities/{}/datasets",
        enc(&pool),
        enc(&id)
    );
    let url = format!("{}{path}", s.endpoint);
    let host = s.endpoint.trim_start_matches("http://").to_string();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(300));
    let identity =
        aws_credential_types::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "t").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("cognito-sync")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "GET",
        &url,
        [("host", host.as_str())].into_iter(),
        SignableBody::Bytes(b""),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let (_, query) = instructions.into_parts();
    let qs: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect();
    let r = raw(
        &s.endpoint,
        Method::GET,
        &format!("{path}?{}", qs.join("&")),
        &[],
        b"",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["Count"], 0);
}

#[tokio::test]
async fn a_signed_session_token_header_is_accepted() {
    use aws_sdk_cognitosync as cs;
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    let creds = aws_credential_types::Credentials::new(
        ACCESS_KEY,
        SECRET_KEY,
        Some("opaque-session-token".into()),
        None,
        "t",
    );
    let conf = cs::Config::builder()
        .behavior_version(cs::config::BehaviorVersion::latest())
        .region(cs::config::Region::new("eu-west-1"))
        .endpoint_url(&s.endpoint)
        .credentials_provider(creds)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    // x-amz-security-token is among the signed headers, and any region in the scope is fine.
    try_list(&cs::Client::from_conf(conf), &pool, &id)
        .await
        .unwrap();
}
