//! Push sync's rules: which platform application a device registers with, what a registration
//! stores, and the silent push's payloads of spec §8 ([`super::push_events`] makes the outbox
//! events that carry them).

use serde_json::json;

use crate::store::{DeviceRecord, PushSync};

/// The device platforms RegisterDevice accepts.
pub const PLATFORMS: [&str; 4] = ["APNS", "APNS_SANDBOX", "GCM", "ADM"];

/// The pool's SNS platform application for a device platform (`…:app/<PLATFORM>/<name>`).
pub fn application_for(push: &PushSync, platform: &str) -> Option<String> {
    let marker = format!(":app/{platform}/");
    push.application_arns
        .iter()
        .flatten()
        .find(|arn| arn.contains(&marker))
        .cloned()
}

/// What the device gets for `platform`, JSON: GCM and ADM the keys as a data map with
/// `syncCount` a decimal string (Android parses it with `Long.parseLong`); APNS
/// `aps.content-available = 1` and the keys under `data`, `syncCount` a number. SNS delivers
/// it as the platform's part of the message; FCM and APNs get the same.
pub fn platform_body(
    platform: &str,
    pool_id: &str,
    identity_id: &str,
    dataset: &str,
    sync_count: i64,
) -> String {
    let data = |count: serde_json::Value| {
        json!({
            "source": "cognito-sync",
            "identityPoolId": pool_id,
            "identityId": identity_id,
            "datasetName": dataset,
            "syncCount": count,
        })
    };
    let body = match platform {
        "APNS" | "APNS_SANDBOX" => {
            json!({ "aps": { "content-available": 1 }, "data": data(json!(sync_count)) })
        }
        _ => json!({ "data": data(json!(sync_count.to_string())) }),
    };
    body.to_string()
}

/// The SNS message (`MessageStructure=json`) for one device: the platform's body
/// ([`platform_body`]) under the platform's name, and the `default` text SNS requires.
pub fn message(
    platform: &str,
    pool_id: &str,
    identity_id: &str,
    dataset: &str,
    sync_count: i64,
) -> String {
    let body = platform_body(platform, pool_id, identity_id, dataset, sync_count);
    json!({ "default": format!("cognito-sync: {dataset} changed"), platform: body }).to_string()
}

/// A device token SNS has just accepted, and the endpoint it gave (or, for a platform
/// application pushed directly, the device's direct address: see
/// [`DeviceAddress`](crate::sync::DeviceAddress)).
pub struct Registration<'a> {
    pub identity_id: &'a str,
    pub platform: &'a str,
    pub token: &'a str,
    pub endpoint_arn: &'a str,
}

/// What a registration does to the stored device.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// The stored device (this id) is already right.
    AsItIs(String),
    /// Write this device.
    Write(DeviceRecord),
}

/// The device after a registration. The same (identity, platform, token) keeps its id; a
/// device marked disabled (SNS said its endpoint was disabled or gone, or the provider that
/// the token was unregistered) is enabled again, since SNS has just enabled the endpoint (or
/// the app has just handed the token over again).
pub fn registered_device(
    existing: Option<&DeviceRecord>,
    r: &Registration<'_>,
    now_ms: i64,
) -> Stored {
    match existing {
        Some(d) if !d.disabled && d.endpoint_arn == r.endpoint_arn => Stored::AsItIs(d.id.clone()),
        Some(d) => Stored::Write(DeviceRecord {
            endpoint_arn: r.endpoint_arn.to_owned(),
            disabled: false,
            ..d.clone()
        }),
        None => Stored::Write(DeviceRecord {
            id: uuid::Uuid::new_v4().to_string(),
            identity_id: r.identity_id.to_owned(),
            platform: r.platform.to_owned(),
            token: r.token.to_owned(),
            endpoint_arn: r.endpoint_arn.to_owned(),
            disabled: false,
            created_ms: now_ms,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn android_payloads_carry_the_count_as_a_string_and_apns_under_data() {
        let m: serde_json::Value =
            serde_json::from_str(&message("GCM", "p", "i", "ds", 7)).unwrap();
        assert!(m["default"].is_string());
        let gcm: serde_json::Value = serde_json::from_str(m["GCM"].as_str().unwrap()).unwrap();
        assert_eq!(gcm["data"]["syncCount"], "7");
        assert_eq!(gcm["data"]["source"], "cognito-sync");
        let m: serde_json::Value =
            serde_json::from_str(&message("APNS_SANDBOX", "p", "i", "ds", 7)).unwrap();
        let apns: serde_json::Value =
            serde_json::from_str(m["APNS_SANDBOX"].as_str().unwrap()).unwrap();
        assert_eq!(apns["aps"]["content-available"], 1);
        assert_eq!(apns["data"]["datasetName"], "ds");
        assert_eq!(apns["data"]["syncCount"], 7);
    }

    fn registration(endpoint_arn: &str) -> Registration<'_> {
        Registration {
            identity_id: "i",
            platform: "GCM",
            token: "t",
            endpoint_arn,
        }
    }

    fn device(disabled: bool, endpoint_arn: &str) -> DeviceRecord {
        DeviceRecord {
            id: "d1".into(),
            identity_id: "i".into(),
            platform: "GCM".into(),
            token: "t".into(),
            endpoint_arn: endpoint_arn.into(),
            disabled,
            created_ms: 5,
        }
    }

    #[test]
    fn a_registered_device_with_a_working_endpoint_is_left_as_it_is() {
        assert_eq!(
            registered_device(Some(&device(false, "arn:e")), &registration("arn:e"), 9),
            Stored::AsItIs("d1".into())
        );
    }

    #[test]
    fn registering_again_revives_a_disabled_device_under_its_id() {
        let Stored::Write(d) =
            registered_device(Some(&device(true, "arn:e")), &registration("arn:e"), 9)
        else {
            panic!("a disabled device must be written");
        };
        assert_eq!(
            d,
            device(false, "arn:e"),
            "same id and creation time, enabled"
        );
        let Stored::Write(d) =
            registered_device(Some(&device(false, "arn:e")), &registration("arn:new"), 9)
        else {
            panic!("a new endpoint must be written");
        };
        assert_eq!(d, device(false, "arn:new"));
    }

    #[test]
    fn a_new_token_gets_a_new_device() {
        let Stored::Write(d) = registered_device(None, &registration("arn:e"), 9) else {
            panic!("a new device must be written");
        };
        assert_ne!(d.id, "d1");
        assert_eq!(
            (
                d.token.as_str(),
                d.endpoint_arn.as_str(),
                d.disabled,
                d.created_ms
            ),
            ("t", "arn:e", false, 9)
        );
    }
}
