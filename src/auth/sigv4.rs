//! AWS Signature Version 4 verification (header and presigned-query forms), as the AWS SDKs
//! sign non-S3 services: the canonical URI is the raw request path encoded once more (`%3A`
//! is signed as `%253A`), and the payload hash is computed here when the client sends no
//! `x-amz-content-sha256`.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Allowed distance between the request's X-Amz-Date and the server clock.
pub const MAX_SKEW: Duration = Duration::minutes(15);

/// Everything SigV4 looks at, borrowed from the request.
pub struct RequestView<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Why a request was not authenticated; `api::error` gives each its wire form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Missing Authentication Token")]
    Missing,
    #[error("{0}")]
    Incomplete(String),
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    #[error("The security token included in the request is expired")]
    ExpiredToken,
    #[error("{0}")]
    InvalidSignature(String),
}

/// The signed parts of a request's authentication, parsed but not yet checked.
#[derive(Debug)]
struct Parsed {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
    session_token: Option<String>,
    presigned_expires: Option<i64>,
}

/// A request whose signature checked out.
#[derive(Debug, Clone)]
pub struct Verified {
    pub access_key_id: String,
    pub session_token: Option<String>,
    pub region: String,
}

fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_uri_encoded(&mut out, s, false);
    out
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::Incomplete(format!("Duplicate header: {name}")));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| AuthError::Incomplete(format!("Header {name} is not valid text")))
}

/// Raw query pairs, percent-decoded (`+` is a literal plus, as SigV4 treats it).
fn query_pairs(raw_query: Option<&str>) -> Vec<(String, String)> {
    raw_query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            (dec(k), dec(v))
        })
        .collect()
}

fn parse_credential(credential: &str) -> Result<(String, String, String, String), AuthError> {
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [key, date, region, service, "aws4_request"] if !key.is_empty() => Ok((
            key.to_string(),
            date.to_string(),
            region.to_string(),
            service.to_string(),
        )),
        _ => Err(AuthError::Incomplete(format!(
            "Credential should be scoped to a valid region, service and terminator: '{credential}'"
        ))),
    }
}

fn parse(req: &RequestView<'_>, query: &[(String, String)]) -> Result<Parsed, AuthError> {
    if let Some(auth) = header_str(req.headers, "authorization")? {
        let rest = auth.strip_prefix(ALGORITHM).ok_or_else(|| {
            AuthError::Incomplete(format!(
                "Unsupported authorization algorithm; expected {ALGORITHM}"
            ))
        })?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let Some((k, v)) = part.trim().split_once('=') else {
                continue;
            };
            match k {
                "Credential" => credential = Some(v.trim()),
                "SignedHeaders" => signed = Some(v.trim()),
                "Signature" => signature = Some(v.trim()),
                _ => {}
            }
        }
        let need = |v: Option<&str>, what: &str| {
            v.filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    AuthError::Incomplete(format!(
                        "Authorization header requires '{what}' parameter."
                    ))
                })
        };
        let credential = need(credential, "Credential")?;
        let signed = need(signed, "SignedHeaders")?;
        let signature = need(signature, "Signature")?;
        let amz_date = header_str(req.headers, "x-amz-date")?
            .ok_or_else(|| {
                AuthError::Incomplete(
                    "Authorization header requires existence of a 'X-Amz-Date' header.".into(),
                )
            })?
            .to_owned();
        let (access_key_id, date, region, service) = parse_credential(&credential)?;
        return Ok(Parsed {
            access_key_id,
            date,
            region,
            service,
            signed_headers: signed.split(';').map(str::to_owned).collect(),
            signature,
            amz_date,
            session_token: header_str(req.headers, "x-amz-security-token")?.map(str::to_owned),
            presigned_expires: None,
        });
    }
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let Some(algorithm) = get("X-Amz-Algorithm") else {
        return Err(AuthError::Missing);
    };
    if algorithm != ALGORITHM {
        return Err(AuthError::Incomplete(format!(
            "Unsupported X-Amz-Algorithm; expected {ALGORITHM}"
        )));
    }
    let need = |name: &str| {
        get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            AuthError::Incomplete(format!(
                "Presigned request requires the '{name}' query parameter."
            ))
        })
    };
    let (access_key_id, date, region, service) = parse_credential(&need("X-Amz-Credential")?)?;
    let expires = need("X-Amz-Expires")?
        .parse::<i64>()
        .ok()
        .filter(|e| (1..=604_800).contains(e))
        .ok_or_else(|| {
            AuthError::Incomplete("X-Amz-Expires must be between 1 and 604800 seconds".into())
        })?;
    Ok(Parsed {
        access_key_id,
        date,
        region,
        service,
        signed_headers: need("X-Amz-SignedHeaders")?
            .split(';')
            .map(str::to_owned)
            .collect(),
        signature: need("X-Amz-Signature")?,
        amz_date: need("X-Amz-Date")?,
        session_token: get("X-Amz-Security-Token"),
        presigned_expires: Some(expires),
    })
}

/// The headers that say what a request is must be signed, or a captured signature could be
/// replayed as another request: `host` always (another server, another name), and
/// `x-amz-target` whenever the request carries it (it names the Cognito Identity operation:
/// a signature for DescribeIdentityPool must not delete the pool). Every AWS SDK signs both.
fn check_signed_headers(headers: &HeaderMap, signed: &[String]) -> Result<(), AuthError> {
    if !signed.iter().any(|h| h == "host") {
        return Err(AuthError::Incomplete(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    if headers.contains_key("x-amz-target") && !signed.iter().any(|h| h == "x-amz-target") {
        return Err(AuthError::Incomplete(
            "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization when the request carries it."
                .into(),
        ));
    }
    Ok(())
}

/// Any region is served (a client configured for any region reaches this one server, and
/// the region is part of what is signed, so a signature cannot be moved to another), but it
/// must look like one: lowercase letters, digits and dashes.
fn check_region(region: &str) -> Result<(), AuthError> {
    let valid = !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            region.chars().take(40).collect::<String>()
        )))
    }
}

fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(s, format)
        .ok()
        .map(|d| d.assume_utc())
}

fn format_amz_date(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn check_time(p: &Parsed, now: OffsetDateTime) -> Result<(), AuthError> {
    let signed_at = parse_amz_date(&p.amz_date)
        .ok_or_else(|| AuthError::Incomplete(format!("Invalid X-Amz-Date: '{}'", p.amz_date)))?;
    if !p.amz_date.starts_with(&p.date) {
        return Err(AuthError::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            p.date,
            &p.amz_date[..8.min(p.amz_date.len())]
        )));
    }
    if let Some(expires) = p.presigned_expires {
        if now > signed_at + Duration::seconds(expires) {
            return Err(AuthError::InvalidSignature(
                "Signature expired: the presigned request has expired".into(),
            ));
        }
        if signed_at > now + MAX_SKEW {
            return Err(AuthError::InvalidSignature(
                "Signature not yet current".into(),
            ));
        }
        return Ok(());
    }
    if signed_at < now - MAX_SKEW {
        return Err(AuthError::InvalidSignature(format!(
            "Signature expired: {} is now earlier than {} ({} - 15 min.)",
            p.amz_date,
            format_amz_date(now - MAX_SKEW),
            format_amz_date(now)
        )));
    }
    if signed_at > now + MAX_SKEW {
        return Err(AuthError::InvalidSignature(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            p.amz_date,
            format_amz_date(now + MAX_SKEW),
            format_amz_date(now)
        )));
    }
    Ok(())
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC-SHA256 accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The SigV4 signing key for one day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// Appends `s` SigV4-"URI encoded" (every byte but A-Z a-z 0-9 - _ . ~ as `%XX`), keeping
/// `/` when `keep_slash` (the path's separators).
fn push_uri_encoded(out: &mut String, s: &str, keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        }
    }
}

/// The canonical URI every AWS SDK signs for a non-S3 service: the raw path encoded once
/// more (`%3A` becomes `%253A`), its `/` kept.
fn canonical_uri_double(raw_path: &str) -> String {
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    let mut out = String::with_capacity(path.len() + 16);
    push_uri_encoded(&mut out, path, true);
    out
}

/// The canonical URI a hand-written signer may have signed instead: each segment of the path
/// decoded, then encoded exactly once. None when it is the same as the double-encoded one.
fn canonical_uri_single(raw_path: &str) -> Option<String> {
    if !raw_path.contains('%') {
        return None;
    }
    let mut out = String::with_capacity(raw_path.len() + 16);
    for (i, segment) in raw_path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        push_uri_encoded(
            &mut out,
            &percent_decode_str(segment).decode_utf8_lossy(),
            false,
        );
    }
    (out != canonical_uri_double(raw_path)).then_some(out)
}

fn canonical_query(query: &[(String, String)], presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn canonical_headers(headers: &HeaderMap, signed: &[String]) -> Result<String, AuthError> {
    let mut out = String::with_capacity(256);
    for name in signed {
        out.push_str(name);
        out.push(':');
        let mut values = 0;
        for value in headers.get_all(name.as_str()) {
            if values > 0 {
                out.push(',');
            }
            values += 1;
            // Trimmed, and each run of whitespace inside made one space.
            let text = String::from_utf8_lossy(value.as_bytes());
            for (i, word) in text.split_whitespace().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
        if values == 0 {
            return Err(AuthError::InvalidSignature(format!(
                "The request signature we calculated does not match the signature you provided: \
                 signed header '{name}' is not in the request"
            )));
        }
        out.push('\n');
    }
    Ok(out)
}

/// The payload hash the canonical request ends with: the SHA-256 of the body received, hashed
/// once here. A client may also send it as `x-amz-content-sha256` (signed or not); then it must
/// be that same hash, or a captured signature could be replayed with another body.
///
/// `UNSIGNED-PAYLOAD` and the `STREAMING-…` forms are refused: no AWS SDK sends them to
/// Cognito Sync or Cognito Identity unless a user swaps in an S3-style signer by hand (see
/// docs/security.md), and accepting them would leave the body unsigned.
fn payload_hash(req: &RequestView<'_>) -> Result<String, AuthError> {
    let computed = hex::encode(Sha256::digest(req.body));
    match header_str(req.headers, "x-amz-content-sha256")? {
        None => Ok(computed),
        Some(claimed) if claimed.eq_ignore_ascii_case(&computed) => Ok(claimed.to_owned()),
        Some(claimed) if claimed == "UNSIGNED-PAYLOAD" || claimed.starts_with("STREAMING-") => {
            Err(AuthError::InvalidSignature(format!(
                "x-amz-content-sha256 '{claimed}' is not accepted by this service: sign the \
                 request body (its hex SHA-256)."
            )))
        }
        Some(_) => Err(AuthError::InvalidSignature(
            "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
        )),
    }
}

/// Verifies the request signature for `service`. `secret_for` maps an access key id and its
/// session token to the secret key, or None when the key is unknown.
pub fn verify(
    req: &RequestView<'_>,
    service: &str,
    now: OffsetDateTime,
    secret_for: impl FnOnce(&str, Option<&str>) -> Result<String, AuthError>,
) -> Result<Verified, AuthError> {
    let query = query_pairs(req.raw_query);
    let p = parse(req, &query)?;
    if p.service != service {
        return Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped to correct service: '{service}'."
        )));
    }
    check_region(&p.region)?;
    check_time(&p, now)?;
    let mut signed_headers = p.signed_headers.clone();
    signed_headers
        .iter_mut()
        .for_each(|h| *h = h.to_ascii_lowercase());
    check_signed_headers(req.headers, &signed_headers)?;
    let secret = secret_for(&p.access_key_id, p.session_token.as_deref())?;
    let headers = canonical_headers(req.headers, &signed_headers)?;
    let payload_hash = payload_hash(req)?;
    let query = canonical_query(&query, p.presigned_expires.is_some());
    let scope = format!("{}/{}/{}/aws4_request", p.date, p.region, p.service);
    let key = signing_key(&secret, &p.date, &p.region, &p.service);
    let provided = hex::decode(&p.signature).unwrap_or_default();
    let signed_list = signed_headers.join(";");
    let matches = |uri: &str| {
        let mut canonical = Sha256::new();
        for part in [req.method, uri, &query, &headers, &signed_list] {
            canonical.update(part.as_bytes());
            canonical.update(b"\n");
        }
        canonical.update(payload_hash.as_bytes());
        let mut to_sign = String::with_capacity(160);
        for part in [ALGORITHM, "\n", &p.amz_date, "\n", &scope, "\n"] {
            to_sign.push_str(part);
        }
        to_sign.push_str(&hex::encode(canonical.finalize()));
        let expected = hmac(&key, to_sign.as_bytes());
        bool::from(expected.as_slice().ct_eq(provided.as_slice()))
    };
    let signed_as_sdks_do = matches(&canonical_uri_double(req.raw_path));
    if signed_as_sdks_do || canonical_uri_single(req.raw_path).is_some_and(|uri| matches(&uri)) {
        return Ok(Verified {
            access_key_id: p.access_key_id,
            session_token: p.session_token,
            region: p.region,
        });
    }
    Err(AuthError::InvalidSignature(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uri_double_encodes_the_raw_path() {
        let path = "/identitypools/us-east-1%3Aabc/identities/x";
        assert_eq!(
            canonical_uri_double(path),
            "/identitypools/us-east-1%253Aabc/identities/x"
        );
        assert_eq!(
            canonical_uri_single(path).as_deref(),
            Some("/identitypools/us-east-1%3Aabc/identities/x")
        );
        assert_eq!(canonical_uri_double("/a/b.c-d_e~f"), "/a/b.c-d_e~f");
        assert_eq!(canonical_uri_single("/a/b.c-d_e~f"), None);
        assert_eq!(canonical_uri_double(""), "/");
        // A segment that decodes to a '/' keeps it encoded; bytes that are not UTF-8 once
        // decoded are signed as U+FFFD, as the SDKs' signers do with text.
        assert_eq!(
            canonical_uri_single("/a%2Fb/%FF").as_deref(),
            Some("/a%2Fb/%EF%BF%BD")
        );
        // A '%' that starts no escape is the same either way.
        assert_eq!(canonical_uri_single("/100%zz"), None);
        assert_eq!(canonical_uri_double("/é"), "/%C3%A9");
    }

    #[test]
    fn canonical_query_sorts_and_strictly_encodes() {
        let q = query_pairs(Some("nextToken=a%2Bb&maxResults=3&lastSyncCount=0"));
        assert_eq!(
            canonical_query(&q, false),
            "lastSyncCount=0&maxResults=3&nextToken=a%2Bb"
        );
    }

    /// Headers of a request signed by the official signer over `body`, with
    /// `x-amz-content-sha256` sent and signed.
    fn signed_with_hash(body: &[u8], unsigned: bool) -> HeaderMap {
        use aws_sigv4::http_request::{
            sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
        };
        let identity = aws_credential_types::Credentials::new("AKID", "SECRET", None, None, "t");
        let identity = identity.into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("cognito-sync")
            .time(std::time::SystemTime::now())
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable_body = if unsigned {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Bytes(body)
        };
        let request = SignableRequest::new(
            "POST",
            "http://localhost/identitypools/p/identities/i/datasets/d",
            [("host", "localhost")].into_iter(),
            signable_body,
        )
        .unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let mut headers = HeaderMap::new();
        headers.insert("host", "localhost".parse().unwrap());
        for (name, value) in instructions.headers() {
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        headers
    }

    fn check(headers: &HeaderMap, body: &[u8]) -> Result<Verified, AuthError> {
        let req = RequestView {
            method: "POST",
            raw_path: "/identitypools/p/identities/i/datasets/d",
            raw_query: None,
            headers,
            body,
        };
        verify(&req, "cognito-sync", OffsetDateTime::now_utc(), |_, _| {
            Ok("SECRET".into())
        })
    }

    #[test]
    fn the_signed_content_hash_must_hash_the_body_received() {
        let headers = signed_with_hash(b"{\"a\":1}", false);
        assert!(headers.contains_key("x-amz-content-sha256"));
        assert!(check(&headers, b"{\"a\":1}").is_ok());
        let Err(AuthError::InvalidSignature(message)) = check(&headers, b"{\"a\":2}") else {
            panic!("another body with the same signature must be refused");
        };
        assert!(message.contains("x-amz-content-sha256"), "{message}");
    }

    #[test]
    fn an_unsigned_payload_is_refused() {
        let headers = signed_with_hash(b"{}", true);
        assert_eq!(headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
        let Err(AuthError::InvalidSignature(message)) = check(&headers, b"{}") else {
            panic!("UNSIGNED-PAYLOAD must be refused");
        };
        assert!(message.contains("UNSIGNED-PAYLOAD"), "{message}");
    }

    #[test]
    fn signing_key_matches_the_aws_documentation_example() {
        // From the AWS SigV4 documentation ("Examples of how to derive a signing key").
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }
}
