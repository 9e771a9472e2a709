//! The APNs provider API's rules, pure: the provider token's claims and how long one is
//! reused, the request's headers for a background (silent) push, what a device token looks
//! like, and what an answer means for the device.

use serde::Serialize;
use serde_json::Value;

/// A provider token is reused this long: Apple wants one renewed no more than every 20 and no
/// less than every 60 minutes.
pub const JWT_REUSE_SECS: i64 = 45 * 60;

/// The provider token's claims (ES256, `kid` the key id).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct JwtClaims<'a> {
    pub iss: &'a str,
    pub iat: i64,
}

/// Whether a provider token issued at `issued` may still be used at `now` (seconds).
pub fn jwt_fresh(issued: i64, now: i64) -> bool {
    now >= issued && now - issued < JWT_REUSE_SECS
}

/// The headers of a silent push besides `authorization`: a background push at priority 5 (10
/// is for alerts, and an error for `content-available` alone) for the app `topic`.
pub fn headers(topic: &str) -> [(&'static str, &str); 3] {
    [
        ("apns-push-type", "background"),
        ("apns-priority", "5"),
        ("apns-topic", topic),
    ]
}

/// Whether `token` is an APNs device token (hexadecimal), the only thing put in the path.
pub fn is_device_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= 200 && token.chars().all(|c| c.is_ascii_hexdigit())
}

/// What an APNs answer means.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// The token is no longer valid (or never was) for the app: the device is disabled.
    Gone(String),
    /// Refused for good for the request's sake: dropped.
    Rejected(String),
    /// The provider token expired: a new one, then again later.
    StaleToken(String),
    /// Worth another attempt later (the operator's configuration among them: a wrong topic, a
    /// revoked key).
    Retry(String),
}

/// The meaning of `status` and its JSON `body` (`{"reason": …}`).
pub fn classify(status: u16, body: &[u8]) -> Outcome {
    if status == 200 {
        return Outcome::Sent;
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let reason = v["reason"].as_str().unwrap_or("");
    let text = format!("APNs answered {status} {reason}")
        .trim_end()
        .to_owned();
    match (status, reason) {
        (410, _) => Outcome::Gone(text),
        (400, "BadDeviceToken") | (400, "DeviceTokenNotForTopic") => Outcome::Gone(text),
        (403, "ExpiredProviderToken") => Outcome::StaleToken(text),
        // The operator's: the topic or the key. Pushes wait until it is put right.
        (400, "BadTopic" | "MissingTopic" | "TopicDisallowed") | (403, _) => Outcome::Retry(text),
        (413, _) => Outcome::Rejected(text),
        (400, _) | (404, "BadPath") | (405, _) => Outcome::Rejected(text),
        _ => Outcome::Retry(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_token_is_reused_for_45_minutes() {
        assert!(jwt_fresh(1000, 1000));
        assert!(jwt_fresh(1000, 1000 + 44 * 60));
        assert!(!jwt_fresh(1000, 1000 + 45 * 60));
        assert!(!jwt_fresh(1000, 999), "a clock turned back mints a new one");
    }

    #[test]
    fn silent_pushes_are_background_pushes_at_priority_five() {
        assert_eq!(
            headers("com.example.app"),
            [
                ("apns-push-type", "background"),
                ("apns-priority", "5"),
                ("apns-topic", "com.example.app")
            ]
        );
        assert!(is_device_token("a1b2C3"));
        assert!(!is_device_token("") && !is_device_token("../x") && !is_device_token("ab cd"));
    }

    #[test]
    fn answers_are_classified_as_apples_tables_say() {
        let reason = |r: &str| format!("{{\"reason\":\"{r}\"}}").into_bytes();
        assert_eq!(classify(200, b""), Outcome::Sent);
        let gone = |o: Outcome| matches!(o, Outcome::Gone(_));
        assert!(gone(classify(
            410,
            br#"{"reason":"Unregistered","timestamp":1700000000000}"#
        )));
        assert!(gone(classify(410, &reason("ExpiredToken"))));
        assert!(gone(classify(400, &reason("BadDeviceToken"))));
        assert!(gone(classify(400, &reason("DeviceTokenNotForTopic"))));
        assert!(matches!(
            classify(403, &reason("ExpiredProviderToken")),
            Outcome::StaleToken(_)
        ));
        for (status, r) in [
            (403, "InvalidProviderToken"),
            (403, "Forbidden"),
            (400, "BadTopic"),
            (429, "TooManyRequests"),
            (429, "TooManyProviderTokenUpdates"),
            (500, "InternalServerError"),
            (503, "ServiceUnavailable"),
        ] {
            assert!(
                matches!(classify(status, &reason(r)), Outcome::Retry(_)),
                "{status} {r}"
            );
        }
        for (status, r) in [
            (413, "PayloadTooLarge"),
            (400, "PayloadEmpty"),
            (400, "BadPriority"),
            (405, "MethodNotAllowed"),
        ] {
            assert!(
                matches!(classify(status, &reason(r)), Outcome::Rejected(_)),
                "{status} {r}"
            );
        }
        assert!(matches!(classify(502, b"<html>"), Outcome::Retry(_)));
    }
}
