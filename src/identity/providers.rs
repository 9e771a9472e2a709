//! Which identity provider a `Logins` key names on a pool, and what its tokens must prove, as
//! pure functions (the identity service asks the provider through its port and decides here):
//!
//! - a public provider the pool lists in `SupportedLoginProviders`: Google and Apple ID tokens
//!   (OpenID Connect), Facebook user access tokens (`debug_token`), Login with Amazon access
//!   tokens (`tokeninfo`); Twitter and Digits are refused, said so;
//! - a Cognito user pool the pool lists in `CognitoIdentityProviders`: its ID tokens;
//! - an OpenID provider configured on the server (`--oidc-providers`) whose ARN the pool lists
//!   in `OpenIdConnectProviderARNs`;
//! - SAML providers are refused, said so; any other key is not the pool's.
//!
//! The subject recorded for a login is what AWS records, so that a login imported from AWS
//! is found again: `sub` for ID tokens, Facebook's `user_id`, Amazon's `user_id`.

use std::sync::Arc;

use super::id_tokens::{Audience, OTHER_APP};
use super::oidc_verify::OidcProvider;
use super::ports::{AmazonTokenInfo, FacebookToken, KeySource, KeysAt};
use crate::store::PoolRecord;

pub const GOOGLE: &str = "accounts.google.com";
pub const APPLE: &str = "appleid.apple.com";
pub const FACEBOOK: &str = "graph.facebook.com";
pub const AMAZON: &str = "www.amazon.com";
const TWITTER: &str = "api.twitter.com";
const DIGITS: &str = "www.digits.com";

/// What a login's token is checked with.
#[derive(Debug, Clone)]
pub enum Check {
    /// An OpenID Connect ID token.
    IdToken(IdTokenCheck),
    /// A Facebook user access token of app `app_id`.
    Facebook { app_id: String },
    /// A Login with Amazon access token of the app (or client) `app_id`.
    Amazon { app_id: String },
}

/// What an ID token must say, and where its keys are.
#[derive(Debug, Clone)]
pub struct IdTokenCheck {
    pub keys: KeySource,
    pub issuers: Vec<String>,
    pub audiences: Vec<String>,
    pub audience: Audience,
    pub token_use: Option<&'static str>,
}

/// The check of a login under `key` on `pool`, or the refusal (the message after
/// `Invalid login token. ` where AWS puts one).
pub fn check_for(pool: &PoolRecord, key: &str, oidc: &[OidcProvider]) -> Result<Check, String> {
    let details = &pool.details;
    if let Some(value) = details
        .supported_login_providers
        .as_ref()
        .and_then(|p| p.get(key))
    {
        return public(key, value);
    }
    let user_pool_clients: Vec<String> = details
        .cognito_identity_providers
        .iter()
        .flatten()
        .filter(|p| p.provider_name.as_deref() == Some(key))
        .filter_map(|p| p.client_id.clone())
        .collect();
    if !user_pool_clients.is_empty() {
        let issuer = format!("https://{key}");
        return Ok(Check::IdToken(IdTokenCheck {
            keys: KeySource {
                name: key.to_owned(),
                issuer: issuer.clone(),
                how: KeysAt::WellKnownJwks,
            },
            issuers: vec![issuer],
            audiences: user_pool_clients,
            audience: Audience::Aud,
            token_use: Some("id"),
        }));
    }
    let arns = details
        .open_id_connect_provider_arns
        .as_deref()
        .unwrap_or_default();
    if let Some(p) = oidc.iter().find(|p| p.name == key && arns.contains(&p.arn)) {
        return Ok(Check::IdToken(IdTokenCheck {
            keys: KeySource {
                name: p.name.clone(),
                issuer: p.issuer.clone(),
                how: p.keys.clone(),
            },
            issuers: vec![p.issuer.clone()],
            audiences: p.audiences.clone(),
            audience: Audience::AzpElseAud,
            token_use: None,
        }));
    }
    if key.starts_with("arn:") && key.contains(":saml-provider/") {
        return Err(format!(
            "SAML logins ({key}) are not supported by cogsync; see docs/devices-and-logins.md"
        ));
    }
    Err(OTHER_APP.into())
}

/// A provider of `SupportedLoginProviders`, `value` being the pool's app (client) id for it.
fn public(key: &str, value: &str) -> Result<Check, String> {
    // Several client ids may be listed, separated by `;` (the model's pattern allows it).
    let ids = || value.split(';').map(str::trim).filter(|s| !s.is_empty());
    let jwt = |issuer: &str, issuers: &[&str], audience| {
        Ok(Check::IdToken(IdTokenCheck {
            keys: KeySource {
                name: key.to_owned(),
                issuer: issuer.to_owned(),
                how: KeysAt::Discovery,
            },
            issuers: issuers.iter().map(|s| s.to_string()).collect(),
            audiences: ids().map(str::to_owned).collect(),
            audience,
            token_use: None,
        }))
    };
    match key {
        GOOGLE => jwt(
            "https://accounts.google.com",
            &["https://accounts.google.com", "accounts.google.com"],
            Audience::AudOrAzp,
        ),
        APPLE => jwt(
            "https://appleid.apple.com",
            &["https://appleid.apple.com"],
            Audience::Aud,
        ),
        FACEBOOK => Ok(Check::Facebook {
            app_id: value.trim().to_owned(),
        }),
        AMAZON => Ok(Check::Amazon {
            app_id: value.trim().to_owned(),
        }),
        TWITTER | DIGITS => Err(format!(
            "{key} logins (OAuth 1.0a) are not supported by cogsync; see docs/devices-and-logins.md"
        )),
        other => Err(format!(
            "{other} is not a login provider cogsync knows; see docs/devices-and-logins.md"
        )),
    }
}

/// The subject of a Facebook token `debug_token` described, if it is a valid user token of
/// `app_id` at `now_s`.
pub fn facebook_subject(t: &FacebookToken, app_id: &str, now_s: i64) -> Result<String, String> {
    if !t.is_valid {
        return Err(format!(
            "Facebook says the token is not valid: {}",
            t.error.as_deref().unwrap_or("no reason given")
        ));
    }
    if t.app_id.as_deref() != Some(app_id) {
        return Err(OTHER_APP.into());
    }
    if t.kind.as_deref().is_some_and(|k| k != "USER") {
        return Err("The token is not a Facebook user access token.".into());
    }
    match t.expires_at {
        Some(exp) if exp != 0 && exp <= now_s => {
            return Err(format!("Token expired: {now_s} >= {exp}"));
        }
        _ => {}
    }
    t.user_id
        .clone()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| "Facebook named no user for the token.".into())
}

/// Whether a Login with Amazon token `tokeninfo` described is one of the pool's app
/// (`app_id` the pool's value: its client id or its application id, which sources disagree on).
pub fn amazon_token_fits(t: &AmazonTokenInfo, app_id: &str) -> Result<(), String> {
    let ours = t.aud.as_deref() == Some(app_id) || t.app_id.as_deref() == Some(app_id);
    if !ours {
        return Err(OTHER_APP.into());
    }
    if t.expires_in.is_some_and(|left| left <= 0) {
        return Err("Token expired.".into());
    }
    Ok(())
}

/// The subject of an Amazon login: the profile's `user_id`, which must be the one tokeninfo
/// named, if it named one.
pub fn amazon_subject(t: &AmazonTokenInfo, profile_user_id: String) -> Result<String, String> {
    match &t.user_id {
        Some(u) if *u != profile_user_id => {
            Err("Login with Amazon named two different users for the token.".into())
        }
        _ if profile_user_id.is_empty() => {
            Err("Login with Amazon named no user for the token.".into())
        }
        _ => Ok(profile_user_id),
    }
}

/// Keys given by the operator, for a provider with no discovery.
pub fn fixed(keys: jsonwebtoken::jwk::JwkSet) -> KeysAt {
    KeysAt::Fixed(Arc::new(keys))
}

#[cfg(test)]
#[path = "providers_tests.rs"]
mod tests;
