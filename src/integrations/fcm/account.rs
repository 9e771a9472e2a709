//! A Google service account's JSON key, as the operator downloads it from the Google Cloud
//! console, and the RS256 assertion it signs for the OAuth 2.0 JWT-bearer grant. The private
//! key never leaves this type, and `Debug` does not show it.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;

use super::rules;

/// Google's token endpoint, when the file names none.
const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    /// The key's id (the assertion's `kid`).
    pub private_key_id: String,
    /// Where access tokens are asked for (and the assertion's audience).
    pub token_uri: String,
    key: EncodingKey,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct File {
    #[serde(rename = "type")]
    kind: Option<String>,
    project_id: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
    client_email: Option<String>,
    token_uri: Option<String>,
}

impl ServiceAccount {
    /// The account a service-account JSON key describes; why not (never quoting the key).
    pub fn from_json(text: &str) -> Result<ServiceAccount, String> {
        let f: File = serde_json::from_str(text)
            .map_err(|e| format!("not a service account's JSON key (line {})", e.line()))?;
        if f.kind.as_deref() != Some("service_account") {
            return Err(
                "not a service account's key (its \"type\" is not \"service_account\")".into(),
            );
        }
        let field = |v: Option<String>, name: &str| {
            v.filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("the key has no \"{name}\""))
        };
        let pem = field(f.private_key, "private_key")?;
        let key = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|_| "\"private_key\" is not an RSA private key in PEM".to_string())?;
        let token_uri = f.token_uri.unwrap_or_else(|| GOOGLE_TOKEN_URI.into());
        if !(token_uri.starts_with("https://") || token_uri.starts_with("http://")) {
            return Err("\"token_uri\" is not an http(s) URL".into());
        }
        let account = ServiceAccount {
            project_id: field(f.project_id, "project_id")?,
            client_email: field(f.client_email, "client_email")?,
            private_key_id: field(f.private_key_id, "private_key_id")?,
            token_uri,
            key,
        };
        // A key that cannot sign stops start-up rather than every push.
        account.assertion(0)?;
        Ok(account)
    }

    /// The signed assertion at `now` (seconds since the epoch).
    pub fn assertion(&self, now: i64) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.private_key_id.clone());
        let claims = rules::assertion_claims(&self.client_email, &self.token_uri, now);
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("cannot sign the token request: {e}"))
    }
}
