//! The holes an attack on a running server found, each closed and kept closed: rate limits
//! charged to the wrong party, an admin listener that could starve the device port or be
//! reached through DNS rebinding, sign-in and signature guessing that nothing slowed, headers
//! that define the operation left unsigned, OIDC tokens used before `nbf` or well after
//! `exp`, and library internals in error messages. (cogsync's own OpenID tokens are in
//! `openid_tokens.rs`; descriptor exhaustion in `descriptors.rs`.)

use std::num::NonZeroU32;

use axum::http::Method;

use crate::common::*;

fn rate(per_second: u32, burst: u32) -> Option<cogsync::rate::Rate> {
    Some(cogsync::rate::Rate {
        per_second: NonZeroU32::new(per_second).unwrap(),
        burst: NonZeroU32::new(burst).unwrap(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiming_at_another_identity_spends_only_the_callers_own_allowance() {
    let s = TestServer::start_custom(|c| c.throttle.per_identity = rate(5, 10)).await;
    let (pool, victim) = s.pool_and_identity().await;
    let attacker = s.new_identity(&pool).await;
    let a = sync_as(
        &s.endpoint,
        credentials_for(&s, &attacker, &[]).await.unwrap(),
    );
    let mut codes = Vec::new();
    for _ in 0..15 {
        let e = a
            .list_datasets()
            .identity_pool_id(&pool)
            .identity_id(&victim)
            .send()
            .await
            .unwrap_err();
        codes.push(code_of(&e).0);
    }
    assert!(codes
        .iter()
        .all(|c| c == "NotAuthorizedException" || c == "TooManyRequestsException"));
    assert!(
        codes.iter().any(|c| c == "TooManyRequestsException"),
        "the attacker spends its own allowance: {codes:?}"
    );
    let v = sync_as(
        &s.endpoint,
        credentials_for(&s, &victim, &[]).await.unwrap(),
    );
    v.list_datasets()
        .identity_pool_id(&pool)
        .identity_id(&victim)
        .send()
        .await
        .expect("the victim's allowance is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_of_other_pools_and_unsigned_calls_do_not_spend_a_pools_allowance() {
    let s = TestServer::start_custom(|c| c.throttle.per_pool = rate(5, 10)).await;
    let (victim_pool, victim) = s.pool_and_identity().await;
    let (other_pool, guest) = s.pool_and_identity().await;
    let g = sync_as(&s.endpoint, credentials_for(&s, &guest, &[]).await.unwrap());
    for _ in 0..15 {
        let _ = g
            .list_datasets()
            .identity_pool_id(&victim_pool)
            .identity_id(&victim)
            .send()
            .await;
    }
    // Unsigned GetId calls naming the pool, with logins that prove nothing.
    for _ in 0..15 {
        let refused = s
            .identity()
            .get_id()
            .identity_pool_id(&victim_pool)
            .logins("graph.facebook.com", "bogus")
            .send()
            .await;
        assert!(refused.is_err());
    }
    let v = sync_as(
        &s.endpoint,
        credentials_for(&s, &victim, &[]).await.unwrap(),
    );
    v.list_datasets()
        .identity_pool_id(&victim_pool)
        .identity_id(&victim)
        .send()
        .await
        .expect("the pool's allowance is its own callers'");
    assert_ne!(victim_pool, other_pool);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_answers_only_addresses_localhost_and_its_named_hosts() {
    let s = TestServer::start_custom(|c| {
        c.admin_listen = Some("127.0.0.1:0".parse().unwrap());
        c.admin_hosts = vec!["metrics.internal".into()];
    })
    .await;
    let admin = s.admin.clone().unwrap();
    let port = admin.rsplit(':').next().unwrap().to_owned();
    let http = reqwest::Client::new();
    let status_for = |host: String| {
        let (http, url) = (http.clone(), format!("{admin}/metrics"));
        async move {
            http.get(url)
                .header("host", host)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("metrics.internal:{port}"),
    ] {
        assert_eq!(status_for(host.clone()).await, 200, "{host}");
    }
    // A page of another site whose name resolves to 127.0.0.1 (DNS rebinding).
    for host in [
        format!("attacker.example:{port}"),
        "localhost.attacker.example".into(),
    ] {
        assert_eq!(status_for(host.clone()).await, 421, "{host}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sign_in_locks_out_even_the_right_secret_after_a_run_of_failures() {
    let s =
        TestServer::start_custom(|c| c.admin_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let admin = s.admin.clone().unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sign_in = |secret: &'static str| {
        let (http, url) = (http.clone(), format!("{admin}/console/sign-in"));
        async move {
            http.post(url)
                .form(&[("access_key", ACCESS_KEY), ("secret", secret)])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let mut statuses = Vec::new();
    for _ in 0..200 {
        statuses.push(sign_in("a wrong guess").await);
    }
    assert_eq!(statuses[0], 401);
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        wrong <= 11,
        "guessing is stopped after ten failures: {statuses:?}"
    );
    assert_eq!(
        sign_in(SECRET_KEY).await,
        429,
        "right after a run of failures the right secret is refused too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_signatures_is_refused_before_more_are_verified() {
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    let path = format!(
        "/identitypools/{}/identities/{}/datasets",
        enc(&pool),
        enc(&id)
    );
    let wrong = || Sign {
        secret: "not-the-secret-not-the-secret-not",
        ..Sign::default()
    };
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let r = raw(&s.endpoint, Method::GET, &path, &[], b"", Some(wrong())).await;
        statuses.push(r.status.as_u16());
    }
    assert_eq!(statuses[0], 403);
    assert_eq!(*statuses.last().unwrap(), 429, "{statuses:?}");
    let r = raw(&s.endpoint, Method::GET, &path, &[], b"", Some(wrong())).await;
    assert_aws_error(&r, 429, "TooManyRequestsException");
    // While the address is locked out, even a good signature is not looked at.
    let r = raw(
        &s.endpoint,
        Method::GET,
        &path,
        &[],
        b"",
        Some(Sign::default()),
    )
    .await;
    assert_eq!(r.status.as_u16(), 429);
}

/// A Cognito Identity request signed by hand (SigV4 as the SDKs compute it) over the headers
/// `signed` only, plus x-amz-date; sent with the headers of `signed` and `sent`, and the host.
async fn signed_over(
    s: &TestServer,
    signed: &[(&str, &str)],
    sent: &[(&str, &str)],
    body: &[u8],
) -> Raw {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let now = time::OffsetDateTime::now_utc();
    let date = format!("{:04}{:02}{:02}", now.year(), now.month() as u8, now.day());
    let amz_date = format!(
        "{date}T{:02}{:02}{:02}Z",
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut names: Vec<(String, String)> = signed
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .chain([("x-amz-date".to_string(), amz_date.clone())])
        .collect();
    names.sort();
    let canonical_headers: String = names.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_names = names
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "POST\n/\n\n{canonical_headers}\n{signed_names}\n{}",
        hex::encode(Sha256::digest(body))
    );
    let scope = format!("{date}/us-east-1/cognito-identity/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = cogsync::auth::sigv4::signing_key(SECRET_KEY, &date, "us-east-1", "cognito-identity");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={signed_names}, Signature={signature}"
    );
    let mut headers: Vec<(&str, &str)> = signed
        .iter()
        .filter(|(k, _)| *k != "host")
        .copied()
        .collect();
    headers.extend(sent.iter().copied());
    headers.push(("x-amz-date", &amz_date));
    headers.push(("authorization", &auth));
    raw(&s.endpoint, Method::POST, "/", &headers, body, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operation_and_the_host_must_be_signed() {
    let s = TestServer::start().await;
    let pool = s.new_pool(true).await;
    let host = s.endpoint.trim_start_matches("http://").to_owned();
    let body = format!(r#"{{"IdentityPoolId":"{pool}"}}"#);
    let json = ("content-type", "application/x-amz-json-1.1");
    // Signed for DescribeIdentityPool without its target, replayed as DeleteIdentityPool.
    let replayed = signed_over(
        &s,
        &[("host", &host)],
        &[
            json,
            (
                "x-amz-target",
                "AWSCognitoIdentityService.DeleteIdentityPool",
            ),
        ],
        body.as_bytes(),
    )
    .await;
    assert_aws_error(&replayed, 403, "IncompleteSignatureException");
    s.identity()
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .expect("the pool survives");
    // The host left out of the signature.
    let target = (
        "x-amz-target",
        "AWSCognitoIdentityService.DescribeIdentityPool",
    );
    let hostless = signed_over(&s, &[target], &[json], body.as_bytes()).await;
    assert_aws_error(&hostless, 403, "IncompleteSignatureException");
    // Both signed, as every SDK does: served.
    let whole = signed_over(&s, &[("host", &host), target], &[json], body.as_bytes()).await;
    assert_eq!(whole.status.as_u16(), 200, "{}", whole.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_tokens_are_refused_before_nbf_and_soon_after_exp() {
    let s = TestServer::start_custom(|c| c.oidc_providers = oidc().providers.clone()).await;
    let pool = login_pool(&s, false).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let early = oidc().token_with(
        0,
        serde_json::json!({"sub": "a", "nbf": now + 3600, "exp": now + 7200}),
    );
    let (code, message) = get_id_with(&s, &pool, &[(oidc().name(0), &early)])
        .await
        .unwrap_err();
    assert_eq!(code, "NotAuthorizedException");
    assert!(message.contains("not valid yet"), "{message}");
    let late = oidc().token_with(0, serde_json::json!({"sub": "a", "exp": now - 30}));
    let (code, message) = get_id_with(&s, &pool, &[(oidc().name(0), &late)])
        .await
        .unwrap_err();
    assert_eq!(code, "NotAuthorizedException");
    assert!(message.contains("Token expired"), "{message}");
    let current = oidc().token_with(
        0,
        serde_json::json!({"sub": "a", "nbf": now - 1, "exp": now + 60}),
    );
    get_id_with(&s, &pool, &[(oidc().name(0), &current)])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_messages_say_what_was_wrong_without_library_internals() {
    let s = TestServer::start_custom(|c| c.oidc_providers = oidc().providers.clone()).await;
    let pool = login_pool(&s, false).await;
    // An unsigned token ("alg": "none").
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(br#"{"sub":"a","iss":"https://id.example.com","aud":"x","exp":9999999999}"#)
    );
    let (_, message) = get_id_with(&s, &pool, &[(oidc().name(0), &none)])
        .await
        .unwrap_err();
    // A body nested past the parser's limit.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let body = format!(r#"{{"IdentityPoolId":{deep}}}"#);
    let nested = raw(
        &s.endpoint,
        Method::POST,
        "/",
        &[
            ("x-amz-target", "AWSCognitoIdentityService.GetId"),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        body.as_bytes(),
        None,
    )
    .await;
    assert_aws_error(&nested, 400, "InvalidParameterException");
    let nested_message = nested.body["message"].as_str().unwrap().to_owned();
    for m in [&message, &nested_message] {
        for internal in ["unknown variant", "expected one of", "recursion limit"] {
            assert!(!m.contains(internal), "{m}");
        }
    }
    assert!(
        nested_message.contains("nests too deeply"),
        "{nested_message}"
    );
}

#[test]
fn a_short_developer_secret_from_the_environment_stops_start_up_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cogsync"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "off",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("COGSYNC_ACCESS_KEY_ID", "AKCSSHORTSECRET")
        .env("COGSYNC_SECRET_ACCESS_KEY", "hunter2")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("7 characters") && stderr.contains("at least 16"),
        "{stderr}"
    );
}
