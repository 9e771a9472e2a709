//! The signature covers the body actually received: a signed `x-amz-content-sha256` that does
//! not hash the body is refused before anything is written, so a captured signature cannot be
//! replayed with another body.

use aws_sigv4::http_request::{PayloadChecksumKind, SigningSettings};
use axum::http::Method;

use crate::common::*;

/// Headers for a POST to `path` signed over `signed_body`, with `x-amz-content-sha256` sent
/// and signed (as S3 clients and some hand-written signers do).
fn signed_with_content_hash(
    endpoint: &str,
    path: &str,
    signed_body: &[u8],
) -> Vec<(String, String)> {
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let host = endpoint.trim_start_matches("http://").to_string();
    let url = format!("{endpoint}{path}");
    sigv4_headers_with(
        settings,
        &Sign::default(),
        "POST",
        &url,
        &[("host".into(), host)],
        signed_body,
    )
}

/// The 403 of a body that does not match its declared hash.
fn assert_hash_refused(r: &Raw) {
    assert_aws_error(r, 403, "InvalidSignatureException");
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("x-amz-content-sha256")),
        "{}",
        r.body
    );
}

fn update_body(token: &str, value: &str) -> String {
    format!(
        r#"{{"SyncSessionToken":"{token}","RecordPatches":[{{"Op":"replace","Key":"owner","Value":"{value}","SyncCount":0}}]}}"#
    )
}

#[tokio::test]
async fn a_signature_replayed_with_another_body_writes_nothing() {
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    let token = session_token(&c, &pool, &id, "profile").await;
    let path = dataset_path(&pool, &id, "profile");
    let honest = update_body(&token, "alice");
    let headers = signed_with_content_hash(&s.endpoint, &path, honest.as_bytes());
    assert!(
        headers.iter().any(|(k, _)| k == "x-amz-content-sha256"),
        "the signer sends the body hash: {headers:?}"
    );
    let as_pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();

    // The same signed headers with the attacker's body.
    let forged = update_body(&token, "mallory");
    let r = raw(
        &s.endpoint,
        Method::POST,
        &path,
        &as_pairs,
        forged.as_bytes(),
        None,
    )
    .await;
    assert_hash_refused(&r);
    let (records, out) = pull(&c, &pool, &id, "profile", 0).await;
    assert!(records.is_empty(), "nothing written: {records:?}");
    assert_eq!(out.dataset_sync_count, Some(0));

    // The body it was signed for goes through: a correct hash header is accepted.
    let r = raw(
        &s.endpoint,
        Method::POST,
        &path,
        &as_pairs,
        honest.as_bytes(),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (records, _) = pull(&c, &pool, &id, "profile", 0).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].value(), Some("alice"));
}

#[tokio::test]
async fn an_unsigned_content_hash_must_match_the_body_too() {
    // x-amz-content-sha256 left out of SignedHeaders still names the payload hash the
    // signature was computed with, so it must hash the body as well.
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    let path = dataset_path(&pool, &id, "profile");
    let body = update_body(&session_token(&s.sync(), &pool, &id, "profile").await, "x");
    let wrong = hex_sha256(b"something else");
    let r = raw(
        &s.endpoint,
        Method::POST,
        &path,
        &[("x-amz-content-sha256", &wrong)],
        body.as_bytes(),
        Some(Sign::default()),
    )
    .await;
    assert_hash_refused(&r);
    let (records, _) = pull(&s.sync(), &pool, &id, "profile", 0).await;
    assert!(records.is_empty());
}

fn hex_sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
