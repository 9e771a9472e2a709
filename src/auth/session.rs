//! Temporary credentials for Cognito identities, as GetCredentialsForIdentity vends them.
//!
//! They are stateless: the session token is a sealed `(access key, pool, identity, expiry)` and
//! the secret key is derived from the server secret and the access key id, so any node sharing
//! the store can verify them without a lookup. For a pool attached to an upstream the token
//! also carries the identity's upstream credentials, which forwarded calls are signed with
//! (signed, not encrypted: they are the device's own, what the upstream would have given it).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::AuthError;
use crate::tokens::TokenSigner;
use crate::upstream::UpstreamCredentials;

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
    /// The identity's credentials at the pool's upstream, when vended while attached.
    pub upstream: Option<UpstreamCredentials>,
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

    /// Fresh credentials for one identity of one pool; with `upstream`, its credentials at the
    /// pool's upstream ride along, and these expire a minute before those.
    pub fn issue(
        &self,
        pool_id: &str,
        identity_id: &str,
        upstream: Option<&UpstreamCredentials>,
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
        let mut expiration_ms = now_ms + self.lifetime_ms;
        if let Some(up) = upstream {
            expiration_ms = expiration_ms
                .min(up.expiration_ms - 60_000)
                .max(now_ms + 60_000);
        }
        let expires = expiration_ms.to_string();
        let mut fields = vec![access_key_id.as_str(), pool_id, identity_id, &expires];
        let up_expires = upstream.map(|u| u.expiration_ms.to_string());
        if let (Some(up), Some(up_expires)) = (upstream, &up_expires) {
            fields.extend([
                up.access_key_id.as_str(),
                up.secret_access_key.as_str(),
                up.session_token.as_str(),
                up_expires.as_str(),
            ]);
        }
        let session_token = self.signer.seal(PURPOSE, &fields);
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
        let (own, upstream) = match fields.as_slice() {
            [own @ .., key, secret, token, expires] if own.len() == 4 => {
                let expiration_ms = expires.parse().map_err(|_| AuthError::UnrecognizedClient)?;
                let up = UpstreamCredentials {
                    access_key_id: key.clone(),
                    secret_access_key: secret.clone(),
                    session_token: token.clone(),
                    expiration_ms,
                };
                (own, Some(up))
            }
            own => (own, None),
        };
        let [key, pool_id, identity_id, expires] = own else {
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
                upstream,
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
        let c = i.issue("us-east-1:p", "us-east-1:i", None, 10_000).unwrap();
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
        let a = i.issue("p:1", "i:1", None, 0).unwrap();
        let b = i.issue("p:1", "i:2", None, 0).unwrap();
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

    #[test]
    fn upstream_credentials_ride_along_and_bound_the_expiry() {
        let i = SessionIssuer::new(TokenSigner::new(b"server secret".to_vec()), 3_600_000);
        let up = UpstreamCredentials {
            access_key_id: "ASIAUPSTREAM".into(),
            secret_access_key: "upstream secret".into(),
            session_token: "upstream|token with:separators".into(),
            expiration_ms: 1_000_000,
        };
        let c = i.issue("p:1", "i:1", Some(&up), 0).unwrap();
        assert_eq!(c.expiration_ms, 940_000, "a minute before the upstream's");
        let (_, who) = i.verify(&c.access_key_id, &c.session_token, 1).unwrap();
        assert_eq!(who.upstream, Some(up));
        let plain = i.issue("p:1", "i:1", None, 0).unwrap();
        let (_, who) = i
            .verify(&plain.access_key_id, &plain.session_token, 1)
            .unwrap();
        assert_eq!(who.upstream, None);
    }
}
