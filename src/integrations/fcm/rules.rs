//! FCM HTTP v1's rules, pure: the OAuth 2.0 JWT-bearer assertion's claims and the token
//! endpoint's answer, when a cached access token is due for renewal, the `messages:send` body
//! made from the body the SNS path sends, and what an answer means for the device.

use serde::Serialize;
use serde_json::{json, Map, Value};

/// The scope FCM's `messages:send` needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// RFC 7523's grant type, form-encoded.
pub const GRANT_TYPE_FORM: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
/// Lifetime asked for an assertion (Google allows at most an hour).
const ASSERTION_SECS: i64 = 3600;
/// An access token is renewed this long before it expires.
const RENEW_BEFORE_SECS: i64 = 300;

/// The assertion's claims: signed RS256 with the service account's key.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct AssertionClaims<'a> {
    pub iss: &'a str,
    pub scope: &'a str,
    pub aud: &'a str,
    pub iat: i64,
    pub exp: i64,
}

/// The claims for `client_email` at `now` (seconds), for the token endpoint `token_uri`
/// (the audience Google names is its token endpoint, the one the file gives).
pub fn assertion_claims<'a>(
    client_email: &'a str,
    token_uri: &'a str,
    now: i64,
) -> AssertionClaims<'a> {
    AssertionClaims {
        iss: client_email,
        scope: SCOPE,
        aud: token_uri,
        iat: now,
        exp: now + ASSERTION_SECS,
    }
}

/// The access token and its lifetime in seconds from the token endpoint's answer.
pub fn token_answer(status: u16, body: &[u8]) -> Result<(String, i64), String> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        // `{"error":"invalid_grant","error_description":"…"}`: an operator's problem (a
        // revoked key, a clock far off), retried and logged, never a device's.
        let error = v["error"].as_str().unwrap_or("no error code");
        let description = v["error_description"].as_str().unwrap_or("");
        return Err(format!(
            "the token endpoint answered {status}: {error} {description}"
        ));
    }
    let token = v["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or("the token endpoint's answer has no access_token")?;
    let lifetime = v["expires_in"].as_i64().unwrap_or(ASSERTION_SECS);
    Ok((token.to_owned(), lifetime))
}

/// Whether a token expiring at `expires_at` may still be used at `now` (seconds).
pub fn token_fresh(expires_at: i64, now: i64) -> bool {
    now + RENEW_BEFORE_SECS < expires_at
}

/// The `messages:send` body for `token`: a data-only message whose data is the GCM body's
/// `data` map (every value a string, as FCM requires).
pub fn message(token: &str, platform_body: &str) -> Result<Value, String> {
    let body: Value = serde_json::from_str(platform_body)
        .map_err(|e| format!("the push body is not JSON: {e}"))?;
    let data = body["data"]
        .as_object()
        .ok_or("the push body has no data map")?;
    let data: Map<String, Value> = data
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), Value::String(text))
        })
        .collect();
    Ok(json!({ "message": { "token": token, "data": data } }))
}

/// What an answer of `messages:send` means.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// The token is unregistered or invalid, or belongs to another project: the device is
    /// disabled.
    Gone(String),
    /// Refused for good for the message's sake: dropped.
    Rejected(String),
    /// The access token was refused: a new one, then again later.
    Unauthorized(String),
    /// Worth another attempt later.
    Retry(String),
}

/// The meaning of `status` and `body` (a `google.rpc.Status`, or anything a proxy sends).
/// The code is the `FcmError` detail's `errorCode`, else the status's `status`.
pub fn classify(status: u16, body: &[u8]) -> Outcome {
    if (200..300).contains(&status) {
        return Outcome::Sent;
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &v["error"];
    let is_status = error.is_object();
    let details = error["details"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let fcm_code = details
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.firebase.fcm.v1.FcmError")
        .and_then(|d| d["errorCode"].as_str());
    let code = fcm_code.or(error["status"].as_str()).unwrap_or("");
    let message = error["message"].as_str().unwrap_or("");
    let reason = format!("FCM answered {status} {code} {message}")
        .trim_end()
        .to_owned();
    let token_field = details.iter().any(|d| {
        d["fieldViolations"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["field"] == "message.token"))
    });
    match (status, code) {
        (_, "UNREGISTERED") | (_, "SENDER_ID_MISMATCH") => Outcome::Gone(reason),
        // A google.rpc.Status 404 is the token's; a proxy's page is not.
        (404, _) if is_status => Outcome::Gone(reason),
        (404, _) => Outcome::Retry(reason),
        (400, _) if token_field || message.contains("registration token") => Outcome::Gone(reason),
        (401, "THIRD_PARTY_AUTH_ERROR") | (401, "APNS_AUTH_ERROR") => Outcome::Retry(reason),
        (401, _) => Outcome::Unauthorized(reason),
        (403, _) | (408, _) | (429, _) => Outcome::Retry(reason),
        (500..=599, _) => Outcome::Retry(reason),
        (400..=499, _) => Outcome::Rejected(reason),
        _ => Outcome::Retry(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_data_only_with_the_sns_paths_fields_as_strings() {
        let body = r#"{"data":{"source":"cognito-sync","identityPoolId":"p","identityId":"i","datasetName":"ds","syncCount":"7"}}"#;
        let m = message("tok", body).unwrap();
        assert_eq!(
            m,
            json!({"message": {"token": "tok", "data": {"source": "cognito-sync",
                "identityPoolId": "p", "identityId": "i", "datasetName": "ds", "syncCount": "7"}}})
        );
        let m = message("tok", r#"{"data":{"syncCount":7}}"#).unwrap();
        assert_eq!(m["message"]["data"]["syncCount"], "7");
        assert!(message("tok", r#"{"aps":{}}"#).is_err());
    }

    #[test]
    fn tokens_are_read_and_renewed_five_minutes_early() {
        assert_eq!(
            token_answer(
                200,
                br#"{"access_token":"ya29.x","expires_in":1800,"token_type":"Bearer"}"#
            ),
            Ok(("ya29.x".into(), 1800))
        );
        let refused = token_answer(
            400,
            br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
        )
        .unwrap_err();
        assert!(
            refused.contains("invalid_grant Invalid JWT Signature."),
            "{refused}"
        );
        assert!(token_answer(200, b"{}").is_err());
        assert!(token_fresh(1000, 600));
        assert!(!token_fresh(1000, 700));
        let c = assertion_claims(
            "sa@p.iam.gserviceaccount.com",
            "https://oauth2.googleapis.com/token",
            100,
        );
        assert_eq!((c.iat, c.exp, c.scope), (100, 3700, SCOPE));
    }

    fn fcm_error(status: u16, code: &str) -> Vec<u8> {
        json!({"error": {"code": status, "message": "m", "status": "X",
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn answers_are_classified_as_the_table_says() {
        assert_eq!(
            classify(200, br#"{"name":"projects/p/messages/1"}"#),
            Outcome::Sent
        );
        let gone = |o: Outcome| matches!(o, Outcome::Gone(_));
        assert!(gone(classify(404, &fcm_error(404, "UNREGISTERED"))));
        assert!(gone(classify(403, &fcm_error(403, "SENDER_ID_MISMATCH"))));
        assert!(gone(classify(404, br#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#)));
        let invalid_token = json!({"error": {"code": 400, "message": "The registration token is not a valid FCM registration token", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INVALID_ARGUMENT"}]}});
        assert!(gone(classify(400, invalid_token.to_string().as_bytes())));
        let field = json!({"error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}]}]}});
        assert!(gone(classify(400, field.to_string().as_bytes())));
        // The message's own fault: dropped, the device kept.
        let too_big =
            br#"{"error":{"code":400,"message":"Message is too big","status":"INVALID_ARGUMENT"}}"#;
        assert!(matches!(classify(400, too_big), Outcome::Rejected(_)));
        assert!(matches!(
            classify(401, br#"{"error":{"code":401,"status":"UNAUTHENTICATED"}}"#),
            Outcome::Unauthorized(_)
        ));
        assert!(matches!(
            classify(401, &fcm_error(401, "THIRD_PARTY_AUTH_ERROR")),
            Outcome::Retry(_)
        ));
        for status in [429, 500, 502, 503, 504] {
            assert!(
                matches!(
                    classify(status, b"<html>bad gateway</html>"),
                    Outcome::Retry(_)
                ),
                "{status}"
            );
        }
        // A proxy's 404 page (a wrong base URL) disables nobody and loses nothing.
        assert!(matches!(
            classify(404, b"<html>not found</html>"),
            Outcome::Retry(_)
        ));
    }
}
