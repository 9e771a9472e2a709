//! OpenID Connect providers whose ID tokens are accepted as logins, configured per server (a
//! pool enables one by listing its ARN in `OpenIdConnectProviderARNs`): the `--oidc-providers`
//! file. A provider's keys are found by discovery from its issuer (kept fresh as they rotate),
//! or given in the file for offline use. Tokens are checked in [`super::id_tokens`].

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;

use super::ports::KeysAt;

/// One entry of the `--oidc-providers` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderConfig {
    /// The IAM OIDC provider ARN pools list, e.g. `arn:aws:iam::123456789012:oidc-provider/id.example.com`.
    arn: String,
    /// The `iss` of the tokens, e.g. `https://id.example.com`.
    issuer: String,
    /// Accepted `aud` values (client ids).
    audiences: Vec<String>,
    /// The signing keys, inline…
    #[serde(default)]
    jwks: Option<JwkSet>,
    /// …or in a file (relative paths are relative to the configuration file); with neither,
    /// they are found by discovery from `issuer`.
    #[serde(default)]
    jwks_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct OidcProvider {
    pub arn: String,
    pub issuer: String,
    /// The Logins key clients use: the issuer without its scheme.
    pub name: String,
    pub audiences: Vec<String>,
    /// Where its signing keys are.
    pub keys: KeysAt,
}

impl OidcProvider {
    /// A provider whose keys are `jwks`, never fetched.
    pub fn new(arn: String, issuer: String, audiences: Vec<String>, jwks: JwkSet) -> Self {
        Self::with_keys(arn, issuer, audiences, super::providers::fixed(jwks))
    }

    /// A provider whose keys are found by discovery from its issuer.
    pub fn discovered(arn: String, issuer: String, audiences: Vec<String>) -> Self {
        Self::with_keys(arn, issuer, audiences, KeysAt::Discovery)
    }

    fn with_keys(arn: String, issuer: String, audiences: Vec<String>, keys: KeysAt) -> Self {
        let name = issuer
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        OidcProvider {
            arn,
            issuer,
            name,
            audiences,
            keys,
        }
    }

    /// Reads a JSON array of providers (`arn`, `issuer`, `audiences`, and optionally `jwks` or
    /// `jwks_file`).
    pub fn load_all(path: &Path) -> Result<Vec<OidcProvider>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let configs: Vec<ProviderConfig> =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        configs
            .into_iter()
            .map(|c| {
                let keys = match (c.jwks, c.jwks_file) {
                    (Some(set), None) => super::providers::fixed(set),
                    (None, Some(file)) => {
                        let file = base.join(file);
                        let text = std::fs::read_to_string(&file)
                            .map_err(|e| format!("{}: {e}", file.display()))?;
                        super::providers::fixed(
                            serde_json::from_str(&text)
                                .map_err(|e| format!("{}: {e}", file.display()))?,
                        )
                    }
                    (None, None) => KeysAt::Discovery,
                    (Some(_), Some(_)) => {
                        return Err(format!(
                            "provider {}: give at most one of jwks and jwks_file",
                            c.arn
                        ))
                    }
                };
                Ok(OidcProvider::with_keys(c.arn, c.issuer, c.audiences, keys))
            })
            .collect()
    }
}
