//! Facebook user access tokens, checked with the Graph API's `debug_token`, asked with the
//! app's access token (`<app id>|<app secret>`). Facebook answers 200 for a token it can read,
//! valid or not (`is_valid`); a 4xx with an `error` object means it refused cogsync's own app
//! token (a wrong secret), which is the operator's to fix, not the device's.

use serde::Deserialize;
use serde_json::Value;

use super::super::outbound;
use crate::identity::ports::{FacebookToken, ProviderError, Unreachable};

pub use crate::identity::providers::FACEBOOK as NAME;
/// The Graph API, unversioned (the oldest version still served), where `debug_token` has the
/// same shape in every version.
pub const PUBLIC_BASE: &str = "https://graph.facebook.com";

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<GraphError>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    is_valid: bool,
    /// A string, or a number in older answers.
    #[serde(default)]
    app_id: Option<Value>,
    #[serde(default)]
    user_id: Option<Value>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    error: Option<GraphError>,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
}

/// An id Facebook gives as a string or a number, as a string.
fn id(v: Option<Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub async fn debug_token(
    http: &reqwest::Client,
    base: &str,
    app_id: &str,
    secret: &str,
    token: &str,
) -> Result<FacebookToken, ProviderError> {
    let app_token = format!("{app_id}|{secret}");
    let request = http
        .get(format!("{base}/debug_token"))
        .query(&[("input_token", token), ("access_token", &app_token)]);
    let unreachable = |m: String| ProviderError::Unreachable(Unreachable(m));
    let answer = outbound::fetch(request)
        .await
        .map_err(|e| unreachable(format!("Facebook's debug_token {e}")))?;
    let parsed: Option<Answer> = serde_json::from_slice(&answer.body).ok();
    match (answer.status, parsed) {
        (200, Some(Answer { data: Some(d), .. })) => Ok(FacebookToken {
            is_valid: d.is_valid,
            app_id: id(d.app_id),
            user_id: id(d.user_id),
            kind: d.kind,
            expires_at: d.expires_at,
            error: d.error.map(|e| e.message),
        }),
        (400..=499, Some(Answer { error: Some(e), .. })) => Err(unreachable(format!(
            "Facebook refused cogsync's access token for app {app_id} (is its app secret right?): {}",
            e.message
        ))),
        (status, _) => Err(unreachable(format!(
            "Facebook's debug_token answered {status} without a token's details"
        ))),
    }
}
