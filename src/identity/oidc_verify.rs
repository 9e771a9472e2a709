//! OpenID Connect providers whose ID tokens are accepted as logins, configured per server (a
//! pool enables one by listing its ARN in `OpenIdConnectProviderARNs`). Tokens are checked
//! with the `jsonwebtoken` crate: signature against the provider's JWKS, `iss`, `aud`, `exp`.

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

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
    /// …or in a file (relative paths are relative to the configuration file).
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
    jwks: JwkSet,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

impl OidcProvider {
    pub fn new(arn: String, issuer: String, audiences: Vec<String>, jwks: JwkSet) -> Self {
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
            jwks,
        }
    }

    /// Reads a JSON array of providers (`arn`, `issuer`, `audiences`, and `jwks` or `jwks_file`).
    pub fn load_all(path: &Path) -> Result<Vec<OidcProvider>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let configs: Vec<ProviderConfig> =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        configs
            .into_iter()
            .map(|c| {
                let jwks = match (c.jwks, c.jwks_file) {
                    (Some(set), None) => set,
                    (None, Some(file)) => {
                        let file = base.join(file);
                        let text = std::fs::read_to_string(&file)
                            .map_err(|e| format!("{}: {e}", file.display()))?;
                        serde_json::from_str(&text)
                            .map_err(|e| format!("{}: {e}", file.display()))?
                    }
                    _ => {
                        return Err(format!(
                            "provider {}: give exactly one of jwks and jwks_file",
                            c.arn
                        ))
                    }
                };
                Ok(OidcProvider::new(c.arn, c.issuer, c.audiences, jwks))
            })
            .collect()
    }

    /// The token's subject, if it is a valid, unexpired ID token of this provider for one of
    /// its audiences.
    pub fn verify(&self, token: &str) -> Result<String, String> {
        let header = decode_header(token).map_err(|e| format!("malformed token: {e}"))?;
        let jwk = match &header.kid {
            Some(kid) => self.jwks.find(kid),
            None if self.jwks.keys.len() == 1 => self.jwks.keys.first(),
            None => None,
        }
        .ok_or("no signing key matches the token")?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err("symmetric algorithms are not accepted for OIDC tokens".into());
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable signing key: {e}"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = decode::<Claims>(token, &key, &validation)
            .map_err(|e| format!("token rejected: {e}"))?;
        if data.claims.sub.is_empty() {
            return Err("token rejected: empty sub".into());
        }
        Ok(data.claims.sub)
    }
}
