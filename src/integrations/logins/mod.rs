//! The identity providers cogsync asks to check a login ([`LoginProviders`], the identity
//! service's port): OpenID providers' signing keys, fetched by discovery and kept fresh
//! ([`keys`]); Facebook's `debug_token` ([`facebook`]); Login with Amazon's `tokeninfo` and
//! profile ([`amazon`]). Every call goes through [`super::outbound`]'s limits, and is made
//! before the store's transaction, never inside it.

mod amazon;
mod facebook;
mod keys;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;

use crate::identity::ports::{
    AmazonTokenInfo, FacebookToken, KeySource, LoginProviders, ProviderError, Unreachable,
};

/// How long one call to a provider may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Where providers are reached and the secrets cogsync asks them with.
#[derive(Clone, Default)]
pub struct ProviderSettings {
    /// `--provider-url`: a provider's base URL in place of its public one, by the provider's
    /// Logins key (`accounts.google.com`, `graph.facebook.com`, `www.amazon.com`, a user pool's
    /// `cognito-idp.<region>.amazonaws.com/<id>`, an OIDC issuer without its scheme).
    pub urls: BTreeMap<String, String>,
    /// Facebook app secrets by app id (`--provider-secrets`, `COGSYNC_FACEBOOK_APP_SECRETS`).
    pub facebook_app_secrets: BTreeMap<String, String>,
}

impl std::fmt::Debug for ProviderSettings {
    /// Secrets are never shown: only which apps have one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("urls", &self.urls)
            .field(
                "facebook_app_secrets",
                &self.facebook_app_secrets.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ProviderSettings {
    /// `urls`, with the secrets of the JSON file `secrets_file`
    /// (`{"graph.facebook.com": {"APP_ID": "APP_SECRET"}}`) and of `facebook_env`
    /// (`APP_ID=APP_SECRET`, comma-separated). Errors never show a secret.
    pub fn load(
        urls: BTreeMap<String, String>,
        secrets_file: Option<&std::path::Path>,
        facebook_env: Option<&str>,
    ) -> Result<Self, String> {
        let mut facebook_app_secrets = BTreeMap::new();
        if let Some(path) = secrets_file {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut all: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_str(&text)
                .map_err(|e| {
                format!(
                    "{}: not a JSON object of providers and their apps' secrets (line {})",
                    path.display(),
                    e.line()
                )
            })?;
            if let Some(other) = all.keys().find(|k| *k != facebook::NAME) {
                return Err(format!(
                    "{}: {other} takes no secret (only {} does)",
                    path.display(),
                    facebook::NAME
                ));
            }
            facebook_app_secrets = all.remove(facebook::NAME).unwrap_or_default();
        }
        for pair in facebook_env.unwrap_or_default().split(',').map(str::trim) {
            if pair.is_empty() {
                continue;
            }
            match pair.split_once('=') {
                Some((app, secret)) if !app.trim().is_empty() && !secret.trim().is_empty() => {
                    facebook_app_secrets.insert(app.trim().to_owned(), secret.trim().to_owned());
                }
                _ => {
                    return Err(
                        "COGSYNC_FACEBOOK_APP_SECRETS: each entry is APP_ID=APP_SECRET".into(),
                    )
                }
            }
        }
        Ok(ProviderSettings {
            urls,
            facebook_app_secrets,
        })
    }

    /// The base URL of provider `name`: the operator's, else `public`, without a trailing `/`.
    fn base<'a>(&'a self, name: &str, public: &'a str) -> &'a str {
        self.urls
            .get(name)
            .map(String::as_str)
            .unwrap_or(public)
            .trim_end_matches('/')
    }
}

/// The [`LoginProviders`] of a running server: HTTPS to the providers.
pub struct HttpLoginProviders {
    settings: ProviderSettings,
    http: reqwest::Client,
    keys: keys::KeyCache,
}

impl HttpLoginProviders {
    pub fn new(settings: ProviderSettings) -> Self {
        let http = super::outbound::client(CALL_TIMEOUT);
        HttpLoginProviders {
            keys: keys::KeyCache::new(http.clone()),
            settings,
            http,
        }
    }
}

#[async_trait]
impl LoginProviders for HttpLoginProviders {
    async fn signing_keys(
        &self,
        source: &KeySource,
        unknown_kid: Option<&str>,
    ) -> Result<Arc<JwkSet>, Unreachable> {
        let base = self.settings.base(&source.name, &source.issuer);
        self.keys.keys(source, base, unknown_kid).await
    }

    async fn facebook_debug_token(
        &self,
        app_id: &str,
        token: &str,
    ) -> Result<FacebookToken, ProviderError> {
        let secret = self
            .settings
            .facebook_app_secrets
            .get(app_id)
            .ok_or_else(|| {
                ProviderError::NoSecret(format!(
                    "cogsync has no app secret for Facebook app {app_id} (the operator gives it with --provider-secrets)"
                ))
            })?;
        let base = self.settings.base(facebook::NAME, facebook::PUBLIC_BASE);
        facebook::debug_token(&self.http, base, app_id, secret, token).await
    }

    async fn amazon_token_info(&self, token: &str) -> Result<AmazonTokenInfo, ProviderError> {
        let base = self.settings.base(amazon::NAME, amazon::PUBLIC_BASE);
        amazon::token_info(&self.http, base, token).await
    }

    async fn amazon_user_id(&self, token: &str) -> Result<String, ProviderError> {
        let base = self.settings.base(amazon::NAME, amazon::PUBLIC_BASE);
        amazon::user_id(&self.http, base, token).await
    }
}
