//! An identity provider's signing keys for tests: the two RSA keys of `tests/fixtures`, which
//! sign RS256 ID tokens the way Google, Apple and Cognito user pools do, and their public
//! halves as the JWKs a provider publishes.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;

const PEMS: [&str; 2] = [
    include_str!("../../tests/fixtures/rsa-2048.pkcs1.pem"),
    include_str!("../../tests/fixtures/rsa-2048-b.pkcs1.pem"),
];
const JWKS: [&str; 2] = [
    include_str!("../../tests/fixtures/rsa-2048.jwk.json"),
    include_str!("../../tests/fixtures/rsa-2048-b.jwk.json"),
];

/// One signing key of a test provider, known by `kid`.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    key: EncodingKey,
    public: Value,
}

impl SigningKey {
    /// Fixture key `which` (0 or 1) under the key id `kid`.
    pub fn fixture(which: usize, kid: &str) -> Self {
        let pem = PEMS[which];
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("the fixture is PEM");
        let mut public: Value = serde_json::from_str(JWKS[which]).expect("the fixture is a JWK");
        public["kid"] = kid.into();
        public["alg"] = "RS256".into();
        public["use"] = "sig".into();
        SigningKey {
            kid: kid.to_owned(),
            key: EncodingKey::from_rsa_der(&der),
            public,
        }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        self.public.clone()
    }

    /// An RS256 JWT of `claims`, naming this key.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("RS256 signs")
    }
}

/// A JWK set of `keys`.
pub fn jwks(keys: &[&SigningKey]) -> Value {
    serde_json::json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

/// Seconds since the epoch, now.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
