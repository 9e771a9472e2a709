//! Temporary credentials for Cognito identities, as GetCredentialsForIdentity vends them.
//!
//! They are stateless: the session token is a sealed `(access key, pool, identity, expiry)` and
//! the secret key is derived from the server secret and the access key id, so any node sharing
//! the store can verify them without a lookup.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::AuthError;
use crate::tokens::TokenSigner;

/// Default lifetime of temporary credentials (the AWS default for GetCredentialsForIdentity).
pub const DEFAULT_LIFETIME_MS: i64 = 60 * 60 * 1000;
const PURPOSE: &str = "identity-session";

/// One set of temporary credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration_ms: i64,
}

impl std::fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporaryCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration_ms", &self.expiration_ms)
            .finish_non_exhaustive()
    }
}

/// The identity a verified session token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionIdentity {
    pub pool_id: String,
    pub identity_id: String,
}

#[derive(Clone)]
pub struct SessionIssuer {
    signer: TokenSigner,
    lifetime_ms: i64,
}

impl SessionIssuer {
    pub fn new(signer: TokenSigner, lifetime_ms: i64) -> Self {
        SessionIssuer {
            signer,
            lifetime_ms,
        }
    }

    fn secret_for(&self, access_key_id: &str) -> String {
        let raw = self.signer.derive(PURPOSE, access_key_id.as_bytes());
        URL_SAFE_NO_PAD.encode(raw)[..40].to_owned()
    }

    /// Fresh credentials for one identity of one pool.
    pub fn issue(
        &self,
        pool_id: &str,
        identity_id: &str,
        now_ms: i64,
    ) -> std::io::Result<TemporaryCredentials> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
        let suffix: String = bytes
            .iter()
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
            .collect();
        let access_key_id = format!("ASIA{suffix}");
        let expiration_ms = now_ms + self.lifetime_ms;
        let session_token = self.signer.seal(
            PURPOSE,
            &[
                &access_key_id,
                pool_id,
                identity_id,
                &expiration_ms.to_string(),
            ],
        );
        Ok(TemporaryCredentials {
            secret_access_key: self.secret_for(&access_key_id),
            access_key_id,
            session_token,
            expiration_ms,
        })
    }

    /// Checks a session token against its access key id; returns the secret key to verify the
    /// signature with and the identity the credentials belong to.
    pub fn verify(
        &self,
        access_key_id: &str,
        session_token: &str,
        now_ms: i64,
    ) -> Result<(String, SessionIdentity), AuthError> {
        let fields = self
            .signer
            .open(PURPOSE, session_token)
            .ok_or(AuthError::UnrecognizedClient)?;
        let [key, pool_id, identity_id, expires] = fields.as_slice() else {
            return Err(AuthError::UnrecognizedClient);
        };
        if key != access_key_id {
            return Err(AuthError::UnrecognizedClient);
        }
        let expires: i64 = expires.parse().map_err(|_| AuthError::UnrecognizedClient)?;
        if expires <= now_ms {
            return Err(AuthError::ExpiredToken);
        }
        Ok((
            self.secret_for(access_key_id),
            SessionIdentity {
                pool_id: pool_id.clone(),
                identity_id: identity_id.clone(),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> SessionIssuer {
        SessionIssuer::new(TokenSigner::new(b"server secret".to_vec()), 1000)
    }

    #[test]
    fn issued_credentials_verify_until_they_expire() {
        let i = issuer();
        let c = i.issue("us-east-1:p", "us-east-1:i", 10_000).unwrap();
        assert!(c.access_key_id.starts_with("ASIA") && c.access_key_id.len() == 20);
        assert_eq!(c.expiration_ms, 11_000);
        let (secret, who) = i
            .verify(&c.access_key_id, &c.session_token, 10_500)
            .unwrap();
        assert_eq!(secret, c.secret_access_key);
        assert_eq!(who.identity_id, "us-east-1:i");
        assert_eq!(
            i.verify(&c.access_key_id, &c.session_token, 11_000)
                .unwrap_err(),
            AuthError::ExpiredToken
        );
    }

    #[test]
    fn tokens_are_bound_to_their_key_and_server() {
        let i = issuer();
        let a = i.issue("p:1", "i:1", 0).unwrap();
        let b = i.issue("p:1", "i:2", 0).unwrap();
        assert_ne!(a.secret_access_key, b.secret_access_key);
        assert_eq!(
            i.verify(&a.access_key_id, &b.session_token, 1).unwrap_err(),
            AuthError::UnrecognizedClient
        );
        let other = SessionIssuer::new(TokenSigner::new(b"another".to_vec()), 1000);
        assert_eq!(
            other
                .verify(&a.access_key_id, &a.session_token, 1)
                .unwrap_err(),
            AuthError::UnrecognizedClient
        );
        let mut tampered = a.session_token.clone();
        tampered.insert(3, 'x');
        assert_eq!(
            i.verify(&a.access_key_id, &tampered, 1).unwrap_err(),
            AuthError::UnrecognizedClient
        );
    }
}
