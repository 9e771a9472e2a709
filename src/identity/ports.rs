//! The ports of the identity service: what it needs from the identity providers outside
//! cogsync to check a login (an OpenID provider's signing keys, Facebook's `debug_token`, Login
//! with Amazon's `tokeninfo` and profile), and from a pool's upstream in upstream mode, as
//! traits the service owns. The adapter in the
//! integrations layer makes the HTTP calls; what the answers mean is decided here, in
//! [`super::providers`], without I/O.

use std::sync::Arc;

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;

use crate::upstream::{UpstreamCredentials, UpstreamResult};

/// Where an OpenID provider's signing keys are found.
#[derive(Debug, Clone)]
pub struct KeySource {
    /// The provider's Logins key (`accounts.google.com`, `cognito-idp.<region>.amazonaws.com/<pool>`,
    /// an OIDC issuer without its scheme): what `--provider-url` names it by.
    pub name: String,
    /// The provider's issuer URL, which its tokens carry in `iss`; its public base URL.
    pub issuer: String,
    pub how: KeysAt,
}

#[derive(Debug, Clone)]
pub enum KeysAt {
    /// Given by the operator (a file, or inline): never fetched.
    Fixed(Arc<JwkSet>),
    /// `<base>/.well-known/openid-configuration`, then its `jwks_uri` (OpenID Connect
    /// Discovery).
    Discovery,
    /// `<base>/.well-known/jwks.json` (Cognito user pools).
    WellKnownJwks,
}

/// A provider that could not be asked (down, timing out, answering nonsense), or that refused
/// cogsync's own credentials: the device's token may be fine. Answered with
/// `ExternalServiceException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// Why a provider's check of a token did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// The provider could not be asked.
    Unreachable(Unreachable),
    /// The provider says the token is not valid (`invalid_token`): NotAuthorized.
    Refused(String),
    /// cogsync cannot ask: the operator gave no secret for this app.
    NoSecret(String),
}

impl From<Unreachable> for ProviderError {
    fn from(u: Unreachable) -> Self {
        ProviderError::Unreachable(u)
    }
}

/// What Facebook's `debug_token` says of a user access token (its `data` object).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FacebookToken {
    pub is_valid: bool,
    pub app_id: Option<String>,
    pub user_id: Option<String>,
    /// `USER`, `PAGE`, `APP`.
    pub kind: Option<String>,
    /// Epoch seconds; 0 for a token that does not expire.
    pub expires_at: Option<i64>,
    /// Facebook's reason when the token is not valid.
    pub error: Option<String>,
}

/// What Login with Amazon's `tokeninfo` says of an access token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AmazonTokenInfo {
    /// The client id the token was issued to.
    pub aud: Option<String>,
    /// The application (security profile) the token belongs to.
    pub app_id: Option<String>,
    pub user_id: Option<String>,
    /// Seconds the token remains valid (not an epoch time).
    pub expires_in: Option<i64>,
}

/// The outside identity providers, as the identity service asks them.
#[async_trait]
pub trait LoginProviders: Send + Sync {
    /// The signing keys of `source` (never [`KeysAt::Fixed`]: those the service holds). With
    /// `unknown_kid`, a token named a key the cached set does not hold: the keys are fetched
    /// again unless that was done a moment ago (a flood of made-up key ids must not become a
    /// flood of fetches).
    async fn signing_keys(
        &self,
        source: &KeySource,
        unknown_kid: Option<&str>,
    ) -> Result<Arc<JwkSet>, Unreachable>;

    /// Facebook's `debug_token` answer for a user access token, asked with the app access
    /// token of `app_id` (made from the secret the operator gave).
    async fn facebook_debug_token(
        &self,
        app_id: &str,
        token: &str,
    ) -> Result<FacebookToken, ProviderError>;

    /// Login with Amazon's `tokeninfo` answer for an access token.
    async fn amazon_token_info(&self, token: &str) -> Result<AmazonTokenInfo, ProviderError>;

    /// The `user_id` of Login with Amazon's profile for an access token.
    async fn amazon_user_id(&self, token: &str) -> Result<String, ProviderError>;
}

/// The Cognito Identity calls forwarded to a pool's upstream while it is attached (see
/// [`crate::upstream`]): the upstream decides who a caller is. The unsigned calls carry the
/// device's own logins, so every provider the upstream accepts works.
#[async_trait]
pub trait UpstreamIdentity: Send + Sync {
    /// GetId (unsigned).
    async fn get_id(&self, pool_id: &str, logins: &[(String, String)]) -> UpstreamResult<String>;
    /// GetCredentialsForIdentity (unsigned).
    async fn credentials_for_identity(
        &self,
        identity_id: &str,
        logins: &[(String, String)],
    ) -> UpstreamResult<UpstreamCredentials>;
    /// GetOpenIdToken (unsigned): (identity, token).
    async fn open_id_token(
        &self,
        identity_id: &str,
        logins: &[(String, String)],
    ) -> UpstreamResult<(String, String)>;
    /// GetOpenIdTokenForDeveloperIdentity (developer): (identity, token).
    async fn open_id_token_for_developer(
        &self,
        pool_id: &str,
        identity_id: Option<&str>,
        logins: &[(String, String)],
        token_duration_s: Option<i64>,
    ) -> UpstreamResult<(String, String)>;
}
