//! The OpenID tokens cogsync itself issues (GetOpenIdToken,
//! GetOpenIdTokenForDeveloperIdentity): JWTs signed with a key derived from the server secret,
//! accepted back as the `cognito-identity.amazonaws.com` login.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::tokens::TokenSigner;

/// The Logins key under which clients present a cogsync-issued OpenID token.
pub const COGNITO_PROVIDER: &str = "cognito-identity.amazonaws.com";
const ISSUER: &str = "https://cognito-identity.amazonaws.com";

#[derive(Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    amr: Vec<String>,
}

#[derive(Clone)]
pub struct OpenIdTokens {
    key: Vec<u8>,
}

impl OpenIdTokens {
    pub fn new(signer: &TokenSigner) -> Self {
        OpenIdTokens {
            key: signer.derive("openid-token", b""),
        }
    }

    /// A token naming `identity_id` of `pool_id`, valid for `ttl_s` seconds.
    pub fn issue(
        &self,
        pool_id: &str,
        identity_id: &str,
        providers: &[String],
        ttl_s: i64,
        now_s: i64,
    ) -> String {
        let mut amr = vec![if providers.is_empty() {
            "unauthenticated"
        } else {
            "authenticated"
        }
        .to_owned()];
        amr.extend(providers.iter().cloned());
        let claims = Claims {
            iss: ISSUER.into(),
            sub: identity_id.into(),
            aud: pool_id.into(),
            exp: now_s + ttl_s,
            iat: now_s,
            amr,
        };
        // HS256 over an in-memory key cannot fail.
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.key),
        )
        .unwrap_or_default()
    }

    /// The (pool, identity) a valid, unexpired token names.
    pub fn verify(&self, token: &str) -> Result<(String, String), String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.validate_aud = false;
        let data = decode::<Claims>(token, &DecodingKey::from_secret(&self.key), &validation)
            .map_err(|e| format!("token rejected: {e}"))?;
        Ok((data.claims.aud, data.claims.sub))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_bound_to_the_server_secret() {
        let t = OpenIdTokens::new(&TokenSigner::new(b"secret".to_vec()));
        let now = crate::timeutil::now_ms() / 1000;
        let token = t.issue(
            "us-east-1:p",
            "us-east-1:i",
            &["login.dev".into()],
            600,
            now,
        );
        assert_eq!(
            t.verify(&token).unwrap(),
            ("us-east-1:p".into(), "us-east-1:i".into())
        );
        let other = OpenIdTokens::new(&TokenSigner::new(b"other".to_vec()));
        assert!(other.verify(&token).is_err());
        let expired = t.issue("p", "i", &[], 1, now - 3600);
        assert!(t.verify(&expired).is_err());
    }
}
