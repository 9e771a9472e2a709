//! Push straight to the Apple Push Notification service for the APNS and APNS_SANDBOX platform
//! applications the operator maps to a token-based signing key: an ES256 provider token from
//! the `.p8` key, its key id and team id, reused for 45 minutes ([`rules::JWT_REUSE_SECS`]);
//! HTTP/2 to the production or the sandbox host; a background push with the body the SNS
//! path sends. What an answer means is [`rules::classify`].

pub mod rules;

use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokio::sync::Mutex;

use super::outbound;
use crate::sync::ports::PushError;

/// APNs' production host (`--provider-url api.push.apple.com=URL` replaces it).
pub const PRODUCTION: (&str, &str) = ("api.push.apple.com", "https://api.push.apple.com");
/// APNs' development host (`--provider-url api.sandbox.push.apple.com=URL` replaces it).
pub const SANDBOX: (&str, &str) = (
    "api.sandbox.push.apple.com",
    "https://api.sandbox.push.apple.com",
);

/// A token-based signing key and the app it pushes to.
pub struct ApnsKey {
    pub key_id: String,
    pub team_id: String,
    /// The app's bundle id.
    pub topic: String,
    /// The development environment (an APNS_SANDBOX application).
    pub sandbox: bool,
    key: EncodingKey,
}

impl std::fmt::Debug for ApnsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsKey")
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .field("topic", &self.topic)
            .field("sandbox", &self.sandbox)
            .finish_non_exhaustive()
    }
}

impl ApnsKey {
    /// The key of the `.p8` file's text `pem`; why not (never quoting the key).
    pub fn new(
        pem: &str,
        key_id: &str,
        team_id: &str,
        topic: &str,
        sandbox: bool,
    ) -> Result<ApnsKey, String> {
        let key = EncodingKey::from_ec_pem(pem.as_bytes())
            .map_err(|_| "not a P-256 private key in PEM (an APNs .p8 key)".to_string())?;
        let key = ApnsKey {
            key_id: key_id.to_owned(),
            team_id: team_id.to_owned(),
            topic: topic.to_owned(),
            sandbox,
            key,
        };
        // A key that cannot sign stops start-up rather than every push.
        key.provider_token(0)?;
        Ok(key)
    }

    /// A provider token issued at `now` (seconds since the epoch).
    pub fn provider_token(&self, now: i64) -> Result<String, String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        header.typ = None;
        let claims = rules::JwtClaims {
            iss: &self.team_id,
            iat: now,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("cannot sign the APNs provider token: {e}"))
    }
}

/// One key's sender.
pub struct Apns {
    key: Arc<ApnsKey>,
    http: reqwest::Client,
    base: String,
    /// The provider token and when it was issued (seconds).
    jwt: Mutex<Option<(String, i64)>>,
}

impl Apns {
    /// A sender for `key`, reaching APNs at `base`, over `http` (an HTTP/2 client).
    pub fn new(key: Arc<ApnsKey>, base: &str, http: reqwest::Client) -> Apns {
        Apns {
            key,
            http,
            base: base.trim_end_matches('/').to_owned(),
            jwt: Mutex::new(None),
        }
    }

    /// Sends `platform_body` to the device holding `token`.
    pub async fn send(&self, token: &str, platform_body: &str) -> Result<(), PushError> {
        if !rules::is_device_token(token) {
            return Err(PushError::Gone(
                "BadDeviceToken: not a hexadecimal APNs device token".into(),
            ));
        }
        let jwt = self.provider_token().await.map_err(PushError::Retry)?;
        let mut request = self
            .http
            .post(format!("{}/3/device/{token}", self.base))
            .header(reqwest::header::AUTHORIZATION, format!("bearer {jwt}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(platform_body.to_owned());
        for (name, value) in rules::headers(&self.key.topic) {
            request = request.header(name, value);
        }
        let answer = outbound::fetch(request)
            .await
            .map_err(|e| PushError::Retry(format!("APNs: {e}")))?;
        match rules::classify(answer.status, &answer.body) {
            rules::Outcome::Sent => Ok(()),
            rules::Outcome::Gone(reason) => Err(PushError::Gone(reason)),
            rules::Outcome::Rejected(reason) => Err(PushError::Rejected(reason)),
            rules::Outcome::StaleToken(reason) => {
                self.forget(&jwt).await;
                Err(PushError::Retry(reason))
            }
            rules::Outcome::Retry(reason) => {
                if answer.status == 403 || answer.status == 400 {
                    tracing::warn!(topic = %self.key.topic, key_id = %self.key.key_id, %reason,
                        "APNs refuses cogsync's key or topic: pushes wait until it is put right");
                }
                Err(PushError::Retry(reason))
            }
        }
    }

    /// The provider token while it may be reused, else a new one.
    async fn provider_token(&self) -> Result<String, String> {
        let mut cached = self.jwt.lock().await;
        let now = crate::timeutil::now_ms() / 1000;
        if let Some((jwt, _)) = cached
            .as_ref()
            .filter(|(_, issued)| rules::jwt_fresh(*issued, now))
        {
            return Ok(jwt.clone());
        }
        let jwt = self.key.provider_token(now)?;
        *cached = Some((jwt.clone(), now));
        Ok(jwt)
    }

    /// Drops the cached provider token if it is still `expired`.
    async fn forget(&self, expired: &str) {
        let mut cached = self.jwt.lock().await;
        if cached.as_ref().is_some_and(|(jwt, _)| jwt == expired) {
            *cached = None;
        }
    }
}
