//! Tamper-proof, URL-safe tokens (SyncSessionTokens, pagination NextTokens, session tokens of
//! temporary credentials) and keys derived from the server secret.
//!
//! A token is `base64url(json fields) "." base64url(hmac)`, with no padding, so it never holds
//! `=`, `&`, `;`, `+` or `/` (old Android marshallers build query strings without encoding).
//! The HMAC key lives in the store, so every node sharing a store accepts every node's tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the HMAC kept in a token.
const MAC_LEN: usize = 16;

#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl TokenSigner {
    pub fn new(key: Vec<u8>) -> Self {
        TokenSigner { key }
    }

    fn mac(&self, purpose: &str, payload: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => return Vec::new(),
        };
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac.finalize().into_bytes()[..MAC_LEN].to_vec()
    }

    /// Seals `fields` for `purpose`; only [`open`](Self::open) with the same purpose reads them.
    pub fn seal(&self, purpose: &str, fields: &[&str]) -> String {
        let payload = serde_json::to_vec(fields).unwrap_or_default();
        let mac = self.mac(purpose, &payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(mac)
        )
    }

    /// A value derived from the server secret for `purpose` and `input` (32 bytes), so every
    /// node sharing the secret derives the same one.
    pub fn derive(&self, purpose: &str, input: &[u8]) -> Vec<u8> {
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.key) else {
            return Vec::new();
        };
        mac.update(b"derive\0");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }

    /// The fields of a token sealed for `purpose`, or None if it is malformed or forged.
    pub fn open(&self, purpose: &str, token: &str) -> Option<Vec<String>> {
        let (payload, mac) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let expected = self.mac(purpose, &payload);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_slice(),
            mac.as_slice(),
        )) {
            return None;
        }
        serde_json::from_slice(&payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_fields_round_trip_and_are_url_safe() {
        let s = TokenSigner::new(b"k".to_vec());
        let t = s.seal("sst", &["us-east-1:ab", "key with spaces & = ;", "ü"]);
        assert!(!t.contains(['=', '&', ';', '+', '/']), "{t}");
        assert_eq!(
            s.open("sst", &t).unwrap(),
            vec!["us-east-1:ab", "key with spaces & = ;", "ü"]
        );
    }

    #[test]
    fn forged_or_repurposed_tokens_are_refused() {
        let s = TokenSigner::new(b"k".to_vec());
        let t = s.seal("sst", &["a"]);
        assert!(s.open("next", &t).is_none());
        assert!(TokenSigner::new(b"other".to_vec())
            .open("sst", &t)
            .is_none());
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(br#"["b"]"#),
            t.split_once('.').unwrap().1
        );
        assert!(s.open("sst", &forged).is_none());
        assert!(s.open("sst", "garbage").is_none());
        assert!(s.open("sst", "").is_none());
    }
}
