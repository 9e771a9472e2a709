//! Login with Amazon access tokens: `tokeninfo` says whom a token was issued to (its client and
//! application) and for how much longer; the profile gives the user's id. An invalid or
//! expired token is answered 400 `invalid_token`.

use serde::Deserialize;

use super::super::outbound;
use crate::identity::ports::{AmazonTokenInfo, ProviderError, Unreachable};

pub use crate::identity::providers::AMAZON as NAME;
pub const PUBLIC_BASE: &str = "https://api.amazon.com";

#[derive(Deserialize)]
struct TokenInfo {
    #[serde(default)]
    aud: Option<String>,
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    exp: Option<i64>,
}

#[derive(Deserialize)]
struct Refusal {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

#[derive(Deserialize)]
struct Profile {
    user_id: String,
}

/// The answer of a call, or why there is none: a refusal of the token, or an unreachable
/// provider.
async fn call<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<T, ProviderError> {
    let unreachable = |m: String| ProviderError::Unreachable(Unreachable(m));
    let answer = outbound::fetch(request)
        .await
        .map_err(|e| unreachable(format!("Login with Amazon's {what} {e}")))?;
    if answer.status == 200 {
        return serde_json::from_slice(&answer.body)
            .map_err(|e| unreachable(format!("Login with Amazon's {what} answer: {e}")));
    }
    match serde_json::from_slice::<Refusal>(&answer.body) {
        Ok(r) if (400..500).contains(&answer.status) && r.error == "invalid_token" => Err(
            ProviderError::Refused(format!("Login with Amazon: {}", r.error_description)),
        ),
        _ => Err(unreachable(format!(
            "Login with Amazon's {what} answered {}",
            answer.status
        ))),
    }
}

pub async fn token_info(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> Result<AmazonTokenInfo, ProviderError> {
    let request = http
        .get(format!("{base}/auth/o2/tokeninfo"))
        .query(&[("access_token", token)]);
    let info: TokenInfo = call(request, "tokeninfo").await?;
    Ok(AmazonTokenInfo {
        aud: info.aud,
        app_id: info.app_id,
        user_id: info.user_id,
        expires_in: info.exp,
    })
}

pub async fn user_id(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> Result<String, ProviderError> {
    let request = http.get(format!("{base}/user/profile")).bearer_auth(token);
    let profile: Profile = call(request, "profile").await?;
    Ok(profile.user_id)
}
