//! The OpenID tokens cogsync itself issues (GetOpenIdToken,
//! GetOpenIdTokenForDeveloperIdentity): JWTs signed with a key derived from the server secret,
//! accepted back as the `cognito-identity.amazonaws.com` login.
//!
//! A token names the logins it was issued for (as digests, so a developer user identifier
//! handed to a third party with the token is not disclosed): it proves its identity only while
//! the identity still has them, or, for a token issued without logins, while the identity has
//! none and its pool allows guests (see `login_rules`).

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
    /// Digests of the logins the token was issued for (`login_rules::login_digest`); none for
    /// an unauthenticated identity's token.
    #[serde(default)]
    logins: Vec<String>,
}

/// What a valid, unexpired token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoToken {
    pub pool_id: String,
    pub identity_id: String,
    /// Digests of the logins it was issued for.
    pub logins: Vec<String>,
    /// When it expires, in epoch seconds.
    pub expires_s: i64,
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

    /// A token naming `identity_id` of `pool_id`, issued for the logins whose digests are
    /// `logins`, valid for `ttl_s` seconds.
    pub fn issue(
        &self,
        pool_id: &str,
        identity_id: &str,
        providers: &[String],
        logins: &[String],
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
            logins: logins.to_vec(),
        };
        // HS256 over an in-memory key cannot fail.
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.key),
        )
        .unwrap_or_default()
    }

    /// What a valid, unexpired token says; why not, in words fit for the client.
    pub fn verify(&self, token: &str, now_s: i64) -> Result<CognitoToken, String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.validate_aud = false;
        // Expiry is checked below against the caller's clock, with no leeway: these tokens
        // are made and checked by cogsync nodes sharing one clock source.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let data = decode::<Claims>(token, &DecodingKey::from_secret(&self.key), &validation)
            .map_err(|_| "Not a Cognito token.".to_owned())?;
        let claims = data.claims;
        if now_s >= claims.exp {
            return Err(format!("Token expired: {now_s} >= {}", claims.exp));
        }
        Ok(CognitoToken {
            pool_id: claims.aud,
            identity_id: claims.sub,
            logins: claims.logins,
            expires_s: claims.exp,
        })
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
            &["d1".into()],
            600,
            now,
        );
        assert_eq!(
            t.verify(&token, now).unwrap(),
            CognitoToken {
                pool_id: "us-east-1:p".into(),
                identity_id: "us-east-1:i".into(),
                logins: vec!["d1".into()],
                expires_s: now + 600,
            }
        );
        let other = OpenIdTokens::new(&TokenSigner::new(b"other".to_vec()));
        assert_eq!(
            other.verify(&token, now).unwrap_err(),
            "Not a Cognito token."
        );
        // Expired at its `exp` second exactly: no leeway.
        let short = t.issue("p", "i", &[], &[], 60, now);
        assert!(t.verify(&short, now + 59).is_ok());
        assert_eq!(
            t.verify(&short, now + 60).unwrap_err(),
            format!("Token expired: {} >= {}", now + 60, now + 60)
        );
    }
}
