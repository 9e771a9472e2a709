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
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
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

    /// The token's subject, if it is a valid, current ID token of this provider for one of
    /// its audiences; why not, in words fit for the client (never the JWT library's).
    pub fn verify(&self, token: &str, now_s: i64) -> Result<String, String> {
        const UNVERIFIABLE: &str = "Couldn't verify signed token.";
        let header = decode_header(token).map_err(|_| NOT_A_TOKEN.to_owned())?;
        let jwk = match &header.kid {
            Some(kid) => self.jwks.find(kid),
            None if self.jwks.keys.len() == 1 => self.jwks.keys.first(),
            None => None,
        }
        .ok_or(UNVERIFIABLE)?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(UNVERIFIABLE.into());
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|_| UNVERIFIABLE.to_owned())?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        // Times are checked below, with this module's leeway and in the client's words.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "aud", "sub"]);
        let claims = decode::<Claims>(token, &key, &validation)
            .map_err(|e| rejection(e.kind()))?
            .claims;
        check_times(claims.exp, claims.nbf, now_s)?;
        if claims.sub.is_empty() {
            return Err("The token has an empty subject (sub).".into());
        }
        Ok(claims.sub)
    }
}

/// What a token that is not a JWT at all is told.
const NOT_A_TOKEN: &str = "Not a valid OpenId Connect identity token.";

/// Clock difference allowed between a provider and this server, either way, in seconds.
pub const LEEWAY_S: i64 = 5;

/// A token is current from its `nbf` (if any) until its `exp`, give or take [`LEEWAY_S`].
fn check_times(exp: Option<i64>, nbf: Option<i64>, now_s: i64) -> Result<(), String> {
    let exp = exp.ok_or("The token has no expiry (exp).")?;
    if now_s >= exp + LEEWAY_S {
        return Err(format!("Token expired: {now_s} >= {exp}"));
    }
    if let Some(nbf) = nbf {
        if now_s + LEEWAY_S < nbf {
            return Err(format!("Token is not valid yet: {now_s} < {nbf}"));
        }
    }
    Ok(())
}

/// The JWT library's refusal, in the client's words.
fn rejection(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::InvalidIssuer => "The token's issuer (iss) is not this provider.".into(),
        ErrorKind::InvalidAudience => "Incorrect token audience.".into(),
        ErrorKind::MissingRequiredClaim(claim) => {
            format!("The token has no {claim} claim.")
        }
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_) => "Couldn't verify signed token.".into(),
        _ => NOT_A_TOKEN.into(),
    }
}
