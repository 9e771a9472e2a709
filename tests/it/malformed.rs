//! Malformed and hostile requests, table-driven: each gets its modelled error with the AWS
//! wire form (never a panic or a 500), and none of them changes stored data.

use axum::http::Method;

use crate::common::*;

/// How a table row is authenticated.
enum Auth {
    /// Signed with the developer credentials by the official signer.
    Developer,
    /// No signature at all.
    Unsigned,
    /// Signed, then these headers appended (doubling or corrupting the signature's).
    Tampered(&'static [(&'static str, &'static str)]),
    /// Extra headers only, unsigned.
    Headers(&'static [(&'static str, &'static str)]),
}

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    target: Option<&'static str>,
    body: Vec<u8>,
    auth: Auth,
    status: u16,
    shape: &'static str,
}

fn case(
    name: &'static str,
    method: Method,
    path: String,
    body: impl Into<Vec<u8>>,
    status: u16,
    shape: &'static str,
) -> Case {
    Case {
        name,
        method,
        path,
        target: None,
        body: body.into(),
        auth: Auth::Developer,
        status,
        shape,
    }
}

fn identity_case(name: &'static str, op: &'static str, body: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        method: Method::POST,
        path: "/".into(),
        target: Some(op),
        body: body.into(),
        auth: Auth::Developer,
        status: 400,
        shape: "InvalidParameterException",
    }
}

async fn send(s: &TestServer, c: &Case) -> Raw {
    let host = s.endpoint.trim_start_matches("http://").to_string();
    let mut headers: Vec<(String, String)> = vec![("host".into(), host)];
    if let Some(op) = c.target {
        headers.push((
            "x-amz-target".into(),
            format!("AWSCognitoIdentityService.{op}"),
        ));
        headers.push(("content-type".into(), "application/x-amz-json-1.1".into()));
    }
    let service = if c.target.is_some() {
        "cognito-identity"
    } else {
        "cognito-sync"
    };
    let sign = |headers: &[(String, String)]| {
        sigv4_headers(
            &Sign {
                service,
                ..Sign::default()
            },
            c.method.as_str(),
            &format!("{}{}", s.endpoint, c.path),
            headers,
            &c.body,
        )
    };
    match c.auth {
        Auth::Developer => {
            let signed = sign(&headers);
            headers.extend(signed);
        }
        Auth::Unsigned => {}
        Auth::Tampered(extra) => {
            let signed = sign(&headers);
            headers.extend(signed);
            headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        }
        Auth::Headers(extra) => {
            headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        }
    }
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(k, _)| k != "host")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    raw(
        &s.endpoint,
        c.method.clone(),
        &c.path,
        &headers,
        &c.body,
        None,
    )
    .await
}

fn update_body(token: &str, patches: &str) -> String {
    format!(r#"{{"SyncSessionToken":"{token}","RecordPatches":{patches}}}"#)
}

async fn malformed_requests_get_their_modelled_errors_and_change_nothing(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    push(&c, &pool, &id, "ds", vec![replace("k", "v0", 0)])
        .await
        .unwrap();
    let token = session_token(&c, &pool, &id, "ds").await;
    let ds = dataset_path(&pool, &id, "ds");
    let records = format!("{ds}/records");
    let datasets = format!(
        "/identitypools/{}/identities/{}/datasets",
        enc(&pool),
        enc(&id)
    );
    let patch = |count: &str| {
        update_body(
            &token,
            &format!(r#"[{{"Op":"replace","Key":"k","Value":"x","SyncCount":{count}}}]"#),
        )
    };
    let bad = "InvalidParameterException";
    let pool_body = |rest: &str| format!(r#"{{"IdentityPoolId":"{pool}"{rest}}}"#);
    let table = vec![
        // Bodies that are not what the model says.
        case("truncated JSON", Method::POST, ds.clone(), r#"{"SyncSessionToken":"#, 400, bad),
        case("JSON array as body", Method::POST, ds.clone(), "[1,2]", 400, bad),
        case("trailing garbage", Method::POST, ds.clone(), update_body(&token, "[]") + "}}", 400, bad),
        case("patches not a list", Method::POST, ds.clone(), update_body(&token, r#""k""#), 400, bad),
        case("SyncCount as a string", Method::POST, ds.clone(), patch(r#""1""#), 400, bad),
        case("SyncCount beyond 64 bits", Method::POST, ds.clone(), patch("99999999999999999999999"), 400, bad),
        case("SyncCount as a huge float", Method::POST, ds.clone(), patch("1e300"), 400, bad),
        case("SyncCount fractional", Method::POST, ds.clone(), patch("1.5"), 400, bad),
        case("negative SyncCount", Method::POST, ds.clone(), patch("-1"), 400, bad),
        case(
            "device date out of range",
            Method::POST,
            ds.clone(),
            update_body(&token, r#"[{"Op":"replace","Key":"k","Value":"x","SyncCount":1,"DeviceLastModifiedDate":1e300}]"#),
            400,
            bad,
        ),
        case(
            "Value an object",
            Method::POST,
            ds.clone(),
            update_body(&token, r#"[{"Op":"replace","Key":"k","Value":{"a":1},"SyncCount":1}]"#),
            400,
            bad,
        ),
        case(
            "unknown Op",
            Method::POST,
            ds.clone(),
            update_body(&token, r#"[{"Op":"upsert","Key":"k","Value":"x","SyncCount":1}]"#),
            400,
            bad,
        ),
        case(
            "duplicate keys in one patch list",
            Method::POST,
            ds.clone(),
            update_body(
                &token,
                r#"[{"Op":"replace","Key":"k","Value":"a","SyncCount":1},{"Op":"remove","Key":"k","SyncCount":1}]"#,
            ),
            400,
            bad,
        ),
        case(
            "invalid UTF-8 in the body",
            Method::POST,
            ds.clone(),
            [&b"{\"SyncSessionToken\":\""[..], b"\xff\xfe", b"\",\"RecordPatches\":[]}"].concat(),
            400,
            bad,
        ),
        case(
            "invalid UTF-8 in a key",
            Method::POST,
            ds.clone(),
            [&br#"{"SyncSessionToken":"t","RecordPatches":[{"Op":"remove","Key":""#[..], b"\xc3\x28", br#"","SyncCount":1}]}"#].concat(),
            400,
            bad,
        ),
        case("session token of another dataset", Method::POST, format!("{datasets}/other"), update_body(&token, "[]"), 400, bad),
        // Query parameters.
        case("negative maxResults", Method::GET, format!("{records}?maxResults=-1"), "", 400, bad),
        case("maxResults beyond 64 bits", Method::GET, format!("{records}?maxResults=99999999999999999999"), "", 400, bad),
        case("lastSyncCount not a number", Method::GET, format!("{records}?lastSyncCount=abc"), "", 400, bad),
        case("nextToken forged", Method::GET, format!("{datasets}?nextToken=AAAA"), "", 400, bad),
        // Names that try to escape their place.
        case("dot-dot and encoded slashes in a dataset name", Method::GET, format!("{datasets}/..%2F..%2Fetc"), "", 400, bad),
        case("encoded slash in a dataset name", Method::POST, format!("{datasets}/a%2Fb"), update_body(&token, "[]"), 400, bad),
        case("invalid UTF-8 in the path", Method::GET, format!("{datasets}/%C3%28"), "", 400, bad),
        case("encoded slash in a pool id", Method::GET, format!("/identitypools/a%2Fb/identities/{}/datasets", enc(&id)), "", 400, bad),
        case("extra path segments", Method::GET, format!("{records}/../../x"), "", 404, "UnknownOperationException"),
        case("wrong method", Method::PUT, ds.clone(), "", 404, "UnknownOperationException"),
        // Authentication that is missing, doubled or mangled.
        Case {
            auth: Auth::Unsigned,
            ..case("no signature", Method::GET, records.clone(), "", 403, "MissingAuthenticationTokenException")
        },
        Case {
            auth: Auth::Tampered(&[("authorization", "AWS4-HMAC-SHA256 Credential=AKIDX/20260101/us-east-1/cognito-sync/aws4_request, SignedHeaders=host, Signature=00")]),
            ..case("two Authorization headers", Method::GET, records.clone(), "", 403, "IncompleteSignatureException")
        },
        Case {
            auth: Auth::Tampered(&[("x-amz-date", "20200101T000000Z")]),
            ..case("two X-Amz-Date headers", Method::GET, records.clone(), "", 403, "IncompleteSignatureException")
        },
        Case {
            auth: Auth::Headers(&[("authorization", "AWS4-HMAC-SHA256 garbage")]),
            ..case("Authorization without parts", Method::GET, records.clone(), "", 403, "IncompleteSignatureException")
        },
        Case {
            auth: Auth::Headers(&[
                ("authorization", "AWS4-HMAC-SHA256 Credential=AKIDNOBODY/20260101/us-east-1/cognito-sync/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000"),
                ("x-amz-date", "20260101T000000Z"),
            ]),
            ..case("a signature dated long ago", Method::GET, records.clone(), "", 403, "InvalidSignatureException")
        },
        // Cognito Identity bodies.
        identity_case("identity: truncated JSON", "GetId", r#"{"IdentityPoolId":"#),
        identity_case("identity: body not an object", "GetId", r#""x""#),
        identity_case("identity: pool id a number", "GetId", r#"{"IdentityPoolId":7}"#),
        identity_case("identity: negative MaxResults", "ListIdentities", pool_body(r#","MaxResults":-1"#)),
        identity_case("identity: MaxResults beyond 64 bits", "ListIdentities", pool_body(r#","MaxResults":1e30"#)),
        identity_case("identity: Logins not a map", "GetId", pool_body(r#","Logins":["a"]"#)),
        identity_case(
            "identity: invalid UTF-8",
            "DescribeIdentityPool",
            [&br#"{"IdentityPoolId":""#[..], b"\xff", br#""}"#].concat(),
        ),
        identity_case("identity: encoded slash in a pool id", "DescribeIdentityPool", r#"{"IdentityPoolId":"us-east-1%2F..%2Fx"}"#),
    ];
    for c in &table {
        let r = send(&s, c).await;
        assert!(
            r.status.as_u16() == c.status
                && r.headers
                    .get("x-amzn-errortype")
                    .and_then(|v| v.to_str().ok())
                    == Some(c.shape),
            "{}: expected {} {}, got {} {}",
            c.name,
            c.status,
            c.shape,
            r.status,
            r.body
        );
        assert_aws_error(&r, c.status, c.shape);
    }
    // Nothing above touched the dataset.
    let (records, out) = pull(&c, &pool, &id, "ds", 0).await;
    assert_eq!(out.dataset_sync_count(), Some(1));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].value(), Some("v0"));
    assert!(describe(&c, &pool, &id, "other").await.is_err());
}

/// A signature is bound to its path, body and credentials: replaying another identity's
/// request, or signing a request for another identity, gets nobody in.
async fn signatures_cannot_be_replayed_across_identities(s: TestServer) {
    let pool = s.new_pool(true).await;
    let (a, b) = (s.new_identity(&pool).await, s.new_identity(&pool).await);
    let dev = s.sync();
    push(&dev, &pool, &b, "secret", vec![replace("pin", "1234", 0)])
        .await
        .unwrap();
    let creds_a = credentials_for(&s, &a, &[]).await.unwrap();
    let host = s.endpoint.trim_start_matches("http://").to_string();
    let path_a = format!("{}/records", dataset_path(&pool, &a, "secret"));
    let path_b = format!("{}/records", dataset_path(&pool, &b, "secret"));
    let sign_a = |path: &str| {
        sigv4_headers(
            &Sign {
                key: creds_a.access_key_id(),
                secret: creds_a.secret_access_key(),
                token: creds_a.session_token(),
                ..Sign::default()
            },
            "GET",
            &format!("{}{path}", s.endpoint),
            &[("host".into(), host.clone())],
            b"",
        )
    };
    let as_pairs = |h: &[(String, String)]| -> Vec<(String, String)> { h.to_vec() };
    let send_with = |path: String, headers: Vec<(String, String)>| {
        let endpoint = s.endpoint.clone();
        async move {
            let h: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            raw(&endpoint, Method::GET, &path, &h, b"", None).await
        }
    };

    // A's own request works, and the same signed headers replayed verbatim work too (SigV4
    // allows replays within the clock-skew window; they reveal nothing new).
    let signed = as_pairs(&sign_a(&path_a));
    assert_eq!(send_with(path_a.clone(), signed.clone()).await.status, 200);
    assert_eq!(send_with(path_a.clone(), signed.clone()).await.status, 200);
    // The same signature aimed at B's path fails: the path is signed.
    let r = send_with(path_b.clone(), signed).await;
    assert_aws_error(&r, 403, "InvalidSignatureException");
    // A correctly signed request from A for B's data is refused by authorization.
    let r = send_with(path_b.clone(), as_pairs(&sign_a(&path_b))).await;
    assert_aws_error(&r, 403, "NotAuthorizedException");
    assert!(!r.body.to_string().contains("1234"));
    // A's key and secret with B's session token: the token names another key.
    let creds_b = credentials_for(&s, &b, &[]).await.unwrap();
    let mixed = sigv4_headers(
        &Sign {
            key: creds_a.access_key_id(),
            secret: creds_a.secret_access_key(),
            token: creds_b.session_token(),
            ..Sign::default()
        },
        "GET",
        &format!("{}{path_b}", s.endpoint),
        &[("host".into(), host.clone())],
        b"",
    );
    let r = send_with(path_b.clone(), mixed).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!r.body.to_string().contains("1234"));
    // B's data is intact.
    let (records, _) = pull(&dev, &pool, &b, "secret", 0).await;
    assert_eq!(records[0].value(), Some("1234"));
}

backend_tests!(
    malformed_requests_get_their_modelled_errors_and_change_nothing,
    signatures_cannot_be_replayed_across_identities,
);
