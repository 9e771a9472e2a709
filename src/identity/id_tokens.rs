//! OpenID Connect ID tokens (Google, Apple, Cognito user pools, any OIDC provider), checked
//! without I/O: the caller fetches the keys. A token is looked at before its keys are fetched
//! ([`peek`]: a JWT at all, an asymmetric algorithm, the expected issuer), so that garbage
//! costs no request to the provider; then [`verify`] checks its signature, times, audience and
//! use. Refusals are worded as Cognito words them, since apps match on those words.

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

/// Clock difference allowed between a provider and this server, either way, in seconds.
pub const LEEWAY_S: i64 = 5;

/// What a token that is not a JWT at all is told.
pub const NOT_A_TOKEN: &str = "Not a valid OpenId Connect identity token.";
/// What a token whose signature cannot be checked, or does not hold, is told.
pub const UNVERIFIABLE: &str = "Couldn't verify signed token.";
/// What a token for another app (audience) is told.
pub const OTHER_APP: &str = "Token is not from a supported provider of this identity pool.";

/// What [`peek`] read from a token before any key was fetched.
#[derive(Debug, Clone)]
pub struct Peeked {
    pub alg: Algorithm,
    pub kid: Option<String>,
}

/// Which claim names the app a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// `aud` (Apple, Cognito user pools).
    Aud,
    /// `azp` when the token has one, else `aud` (AWS's rule for OIDC providers).
    AzpElseAud,
    /// `aud` or `azp` (Google: an Android app's token has the web client in `aud` and its
    /// own client in `azp`, and pools list either).
    AudOrAzp,
}

/// What a provider's tokens must say.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    /// Accepted `iss` values.
    pub issuers: &'a [String],
    /// Accepted client ids.
    pub audiences: &'a [String],
    pub audience: Audience,
    /// The required `token_use` (`id` for Cognito user pools).
    pub token_use: Option<&'a str>,
}

/// Why [`verify`] refused a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Signed with a key the set does not hold (by its `kid`): the keys may have rotated.
    UnknownKey,
    /// Not acceptable, in the client's words.
    Invalid(String),
}

#[derive(Deserialize)]
struct Unverified {
    #[serde(default)]
    iss: Option<String>,
}

/// Reads a token's header and issuer without checking anything else: a JWT, signed with an
/// asymmetric algorithm, from one of `issuers`.
pub fn peek(token: &str, issuers: &[String]) -> Result<Peeked, String> {
    let header = decode_header(token).map_err(|_| NOT_A_TOKEN.to_owned())?;
    if matches!(
        header.alg,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return Err(UNVERIFIABLE.into());
    }
    let payload = token.split('.').nth(1).ok_or(NOT_A_TOKEN)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| NOT_A_TOKEN.to_owned())?;
    let claims: Unverified = serde_json::from_slice(&bytes).map_err(|_| NOT_A_TOKEN.to_owned())?;
    match claims.iss {
        Some(iss) if issuers.contains(&iss) => Ok(Peeked {
            alg: header.alg,
            kid: header.kid,
        }),
        Some(_) => Err("Issuer doesn't match providerName".into()),
        None => Err("Missing a required claim: iss".into()),
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    token_use: Option<String>,
}

/// The subject of `token`, if `keys` verify it and it is what `expect` asks for, current at
/// `now_s`.
pub fn verify(
    token: &str,
    peeked: &Peeked,
    keys: &JwkSet,
    expect: &Expect<'_>,
    now_s: i64,
) -> Result<String, Refusal> {
    let invalid = |m: &str| Refusal::Invalid(m.to_owned());
    let jwk = match &peeked.kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or(Refusal::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid(UNVERIFIABLE))?;
    let mut validation = Validation::new(peeked.alg);
    validation.set_issuer(expect.issuers);
    // Audience and times are checked below, in Cognito's words and with this module's leeway.
    validation.validate_aud = false;
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims::<&str>(&[]);
    let claims = decode::<Claims>(token, &key, &validation)
        .map_err(|e| Refusal::Invalid(rejection(e.kind())))?
        .claims;
    check_times(claims.exp, claims.nbf, now_s).map_err(Refusal::Invalid)?;
    check_audience(&claims, expect)?;
    if let Some(wanted) = expect.token_use {
        if claims.token_use.as_deref() != Some(wanted) {
            return Err(Refusal::Invalid(format!(
                "The token's use is not {wanted} (token_use)"
            )));
        }
    }
    match claims.sub {
        Some(sub) if !sub.is_empty() => Ok(sub),
        _ => Err(invalid("Missing a required claim: sub")),
    }
}

fn check_audience(claims: &Claims, expect: &Expect<'_>) -> Result<(), Refusal> {
    let auds: Vec<&str> = match &claims.aud {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(all)) => all.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if auds.is_empty() {
        return Err(Refusal::Invalid("Missing a required claim: aud".into()));
    }
    let listed = |a: &str| expect.audiences.iter().any(|x| x == a);
    let azp = claims.azp.as_deref();
    let ok = match expect.audience {
        Audience::Aud => auds.iter().any(|a| listed(a)),
        Audience::AzpElseAud => match azp {
            Some(azp) => listed(azp),
            None => auds.iter().any(|a| listed(a)),
        },
        Audience::AudOrAzp => auds.iter().any(|a| listed(a)) || azp.is_some_and(listed),
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::Invalid(OTHER_APP.into()))
    }
}

/// A token is current from its `nbf` (if any) until its `exp`, give or take [`LEEWAY_S`].
fn check_times(exp: Option<i64>, nbf: Option<i64>, now_s: i64) -> Result<(), String> {
    let exp = exp.ok_or("Missing a required claim: exp")?;
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
        ErrorKind::InvalidIssuer => "Issuer doesn't match providerName".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("Missing a required claim: {claim}"),
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_) => UNVERIFIABLE.into(),
        _ => NOT_A_TOKEN.into(),
    }
}
