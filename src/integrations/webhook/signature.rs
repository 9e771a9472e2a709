//! The Standard Webhooks 1.0 signature of a stream webhook's POST, pure: HMAC-SHA256 over
//! `<webhook-id>.<webhook-timestamp>.<body>` keyed with the base64 bytes of a `whsec_` secret,
//! sent as `webhook-signature: v1,<base64>`; and the receiver's check, for tests and the
//! docs' example to agree with.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a receiver lets a timestamp be from its clock (the reference libraries' 5 minutes).
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// A webhook's signing key (the bytes of a `whsec_` secret); never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookKey(Vec<u8>);

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKey([redacted])")
    }
}

impl WebhookKey {
    /// The key of `whsec_<base64>` (24 to 64 bytes, as the specification asks); why not,
    /// never quoting the secret.
    pub fn parse(secret: &str) -> Result<WebhookKey, String> {
        let b64 = secret
            .trim()
            .strip_prefix("whsec_")
            .ok_or("not a whsec_ secret (whsec_ and 24 to 64 random bytes in base64)")?;
        let key = STANDARD
            .decode(b64)
            .map_err(|_| "the part after whsec_ is not base64")?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "the secret is {} bytes; Standard Webhooks asks for 24 to 64",
                key.len()
            ));
        }
        Ok(WebhookKey(key))
    }
}

fn mac(key: &WebhookKey, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    mac
}

/// The `webhook-signature` header's value for message `id` sent at `timestamp` (seconds).
pub fn sign(key: &WebhookKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(key, id, timestamp, body).finalize().into_bytes();
    format!("v1,{}", STANDARD.encode(tag))
}

/// Whether `signatures` (space-separated `v1,<base64>`) has one for `body` from `key`, sent at
/// `timestamp` no further than [`TOLERANCE_SECS`] from `now`; compared in constant time.
pub fn verify(
    key: &WebhookKey,
    id: &str,
    timestamp: i64,
    body: &[u8],
    signatures: &str,
    now: i64,
) -> bool {
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return false;
    }
    signatures
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .any(|tag| mac(key, id, timestamp, body).verify_slice(&tag).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks reference library's own vector.
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1649367553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;

    #[test]
    fn the_reference_vector_is_signed_alike() {
        let key = WebhookKey::parse(SECRET).unwrap();
        assert_eq!(
            sign(&key, ID, TS, BODY),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn the_receiver_checks_body_id_and_time() {
        let key = WebhookKey::parse(SECRET).unwrap();
        let sig = sign(&key, ID, TS, BODY);
        assert!(verify(&key, ID, TS, BODY, &sig, TS + 10));
        assert!(
            verify(&key, ID, TS, BODY, &format!("v1,bm9wZQ== {sig}"), TS),
            "rotation: any of them"
        );
        assert!(!verify(&key, ID, TS, b"{}", &sig, TS));
        assert!(!verify(&key, "msg_other", TS, BODY, &sig, TS));
        assert!(
            !verify(&key, ID, TS, BODY, &sig, TS + TOLERANCE_SECS + 1),
            "too old"
        );
        assert!(
            !verify(&key, ID, TS, BODY, &sig, TS - TOLERANCE_SECS - 1),
            "too new"
        );
        let other = WebhookKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert!(!verify(&other, ID, TS, BODY, &sig, TS));
    }

    #[test]
    fn secrets_must_be_whsec_base64_of_24_to_64_bytes() {
        assert!(WebhookKey::parse(&format!("{SECRET}\n")).is_ok());
        for bad in [
            "C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "whsec_!!!",
            "whsec_c2hvcnQ=",
        ] {
            let e = WebhookKey::parse(bad).unwrap_err();
            assert!(!e.contains("C2FVsBQ"), "{e}");
        }
        assert!(!format!("{:?}", WebhookKey::parse(SECRET).unwrap()).contains("C2FV"));
    }
}
