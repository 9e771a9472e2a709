//! Push straight to Firebase Cloud Messaging (HTTP v1) for the GCM platform applications the
//! operator maps to a Google service account: an access token from the account's token
//! endpoint (the OAuth 2.0 JWT-bearer grant, [`account`]), kept until five minutes before it
//! expires, then `POST /v1/projects/<project>/messages:send` with the data the SNS path sends.
//! What an answer means is [`rules::classify`].

mod account;
pub mod rules;

use std::sync::Arc;

use tokio::sync::Mutex;

pub use account::ServiceAccount;

use super::outbound;
use crate::sync::ports::PushError;

/// FCM's public base URL (`--provider-url fcm.googleapis.com=URL` replaces it).
pub const PUBLIC_BASE: &str = "https://fcm.googleapis.com";
/// The `--provider-url` name of FCM.
pub const NAME: &str = "fcm.googleapis.com";

struct AccessToken {
    value: String,
    /// Seconds since the epoch.
    expires_at: i64,
}

/// One service account's sender.
pub struct Fcm {
    account: Arc<ServiceAccount>,
    http: reqwest::Client,
    send_url: String,
    token: Mutex<Option<AccessToken>>,
}

impl Fcm {
    /// A sender for `account`, reaching FCM at `base`.
    pub fn new(account: Arc<ServiceAccount>, base: &str, http: reqwest::Client) -> Fcm {
        let send_url = format!(
            "{}/v1/projects/{}/messages:send",
            base.trim_end_matches('/'),
            account.project_id
        );
        Fcm {
            account,
            http,
            send_url,
            token: Mutex::new(None),
        }
    }

    /// Sends `platform_body`'s data to the device holding `token`.
    pub async fn send(&self, token: &str, platform_body: &str) -> Result<(), PushError> {
        let message = rules::message(token, platform_body).map_err(PushError::Rejected)?;
        let bearer = self.access_token().await.map_err(PushError::Retry)?;
        let request = self
            .http
            .post(&self.send_url)
            .bearer_auth(&bearer)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(message.to_string());
        let answer = outbound::fetch(request)
            .await
            .map_err(|e| PushError::Retry(format!("FCM: {e}")))?;
        match rules::classify(answer.status, &answer.body) {
            rules::Outcome::Sent => Ok(()),
            rules::Outcome::Gone(reason) => {
                if reason.contains("SENDER_ID_MISMATCH") {
                    tracing::warn!(project = %self.account.project_id, %reason,
                        "FCM says a token belongs to another project: is the service account the app's?");
                }
                Err(PushError::Gone(reason))
            }
            rules::Outcome::Rejected(reason) => Err(PushError::Rejected(reason)),
            rules::Outcome::Unauthorized(reason) => {
                // The next attempt asks for a new token.
                self.forget(&bearer).await;
                Err(PushError::Retry(reason))
            }
            rules::Outcome::Retry(reason) => Err(PushError::Retry(reason)),
        }
    }

    /// A cached access token while it is fresh, else a new one.
    async fn access_token(&self) -> Result<String, String> {
        let mut cached = self.token.lock().await;
        let now = now_secs();
        if let Some(t) = cached
            .as_ref()
            .filter(|t| rules::token_fresh(t.expires_at, now))
        {
            return Ok(t.value.clone());
        }
        let assertion = self.account.assertion(now)?;
        let request = self
            .http
            .post(&self.account.token_uri)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(format!(
                "grant_type={}&assertion={assertion}",
                rules::GRANT_TYPE_FORM
            ));
        let answer = outbound::fetch(request)
            .await
            .map_err(|e| format!("FCM token endpoint: {e}"))?;
        let (value, lifetime) =
            rules::token_answer(answer.status, &answer.body).inspect_err(|e| {
                tracing::error!(account = %self.account.client_email, error = %e,
                "FCM: the service account got no access token; pushes wait");
            })?;
        *cached = Some(AccessToken {
            value: value.clone(),
            expires_at: now + lifetime,
        });
        Ok(value)
    }

    /// Drops the cached token if it is still `refused`.
    async fn forget(&self, refused: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == refused) {
            *cached = None;
        }
    }
}

fn now_secs() -> i64 {
    crate::timeutil::now_ms() / 1000
}
