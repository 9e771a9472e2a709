//! The silent push each subscribed device (except the writer) gets after an UpdateRecords, as
//! outbox events, and which way each goes: through the device's SNS endpoint, or straight to
//! FCM or APNs when the operator maps the device's platform application to one. A device
//! registered through SNS before its application was mapped is pushed directly too (its token
//! is stored), so mapping an application needs no device to register again.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::push::{message, platform_body};
use crate::store::{DeviceRecord, NewOutboxEvent};
use crate::sync::{application_of_endpoint, DeviceAddress, OutboxTarget};

/// Which way a device's pushes go.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Published to its SNS endpoint.
    Sns { endpoint_arn: String },
    /// Sent to the provider its platform application is mapped to.
    Direct { application_arn: String },
}

/// The route of `device`'s pushes, `direct` telling which platform applications are mapped to
/// a direct provider now: a device registered for direct push goes direct; one registered
/// through SNS goes direct if its endpoint's application is mapped, else through SNS.
pub fn route_of(device: &DeviceRecord, direct: &dyn Fn(&str) -> bool) -> Route {
    match DeviceAddress::decode(&device.endpoint_arn) {
        DeviceAddress::Direct { application_arn } => Route::Direct { application_arn },
        DeviceAddress::Sns { endpoint_arn } => match application_of_endpoint(&endpoint_arn) {
            Some(application_arn) if direct(&application_arn) => Route::Direct { application_arn },
            _ => Route::Sns { endpoint_arn },
        },
    }
}

/// The payload of a direct push's outbox event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectPayload {
    #[serde(rename = "deviceId")]
    pub device_id: String,
    /// The device's stored address when the push was decided: a provider's "unregistered"
    /// disables the device only while it still holds this address.
    pub address: String,
    /// The platform application the device registered with (it names the provider).
    pub application: String,
    pub platform: String,
    pub token: String,
    /// The platform's body ([`platform_body`]).
    pub body: String,
}

impl DirectPayload {
    pub fn encode(&self) -> String {
        json!(self).to_string()
    }

    pub fn decode(payload: &str) -> Result<DirectPayload, String> {
        serde_json::from_str(payload).map_err(|e| format!("bad direct push payload: {e}"))
    }
}

/// Outbox events notifying every subscriber except the device that wrote; `direct` tells
/// which platform applications are mapped to a direct provider.
pub fn push_events(
    pool_id: &str,
    identity_id: &str,
    dataset: &str,
    sync_count: i64,
    subscribers: &[DeviceRecord],
    writer: Option<&str>,
    direct: &dyn Fn(&str) -> bool,
) -> Vec<NewOutboxEvent> {
    subscribers
        .iter()
        .filter(|d| Some(d.id.as_str()) != writer && !d.disabled)
        .map(|d| {
            let (target, payload) = match route_of(d, direct) {
                Route::Sns { endpoint_arn } => (
                    OutboxTarget::Sns { endpoint_arn },
                    json!({
                        "deviceId": d.id,
                        "message": message(&d.platform, pool_id, identity_id, dataset, sync_count),
                    })
                    .to_string(),
                ),
                Route::Direct { application_arn } => (
                    OutboxTarget::DirectPush {
                        device_id: d.id.clone(),
                    },
                    DirectPayload {
                        device_id: d.id.clone(),
                        address: d.endpoint_arn.clone(),
                        application: application_arn,
                        platform: d.platform.clone(),
                        token: d.token.clone(),
                        body: platform_body(&d.platform, pool_id, identity_id, dataset, sync_count),
                    }
                    .encode(),
                ),
            };
            NewOutboxEvent {
                pool_id: pool_id.to_owned(),
                stream_key: format!("push/{}", d.id),
                target: target.encode(),
                payload,
                job: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GCM_APP: &str = "arn:aws:sns:us-east-1:1:app/GCM/A";

    fn dev(id: &str, address: &str) -> DeviceRecord {
        DeviceRecord {
            id: id.into(),
            identity_id: "i".into(),
            platform: "GCM".into(),
            token: format!("tok-{id}"),
            endpoint_arn: address.into(),
            disabled: false,
            created_ms: 0,
        }
    }

    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn the_writer_and_disabled_devices_are_not_notified() {
        let mut off = dev("c", "arn:c");
        off.disabled = true;
        let events = push_events(
            "p",
            "i",
            "ds",
            3,
            &[dev("a", "arn:a"), dev("b", "arn:b"), off],
            Some("a"),
            &none,
        );
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].target, "sns:arn:b");
        assert_eq!(events[0].stream_key, "push/b");
        let payload: serde_json::Value = serde_json::from_str(&events[0].payload).unwrap();
        assert_eq!(payload["deviceId"], "b");
        assert!(payload["message"].as_str().unwrap().contains("\"GCM\""));
    }

    #[test]
    fn devices_of_a_mapped_application_are_pushed_directly_with_the_sns_body() {
        let sns_registered = dev("a", "arn:aws:sns:us-east-1:1:endpoint/GCM/A/e1");
        let direct_registered = dev("b", &format!("direct:{GCM_APP}"));
        let elsewhere = dev("c", "arn:aws:sns:us-east-1:1:endpoint/GCM/Other/e3");
        let mapped = |app: &str| app == GCM_APP;
        let events = push_events(
            "p",
            "i",
            "ds",
            7,
            &[sns_registered, direct_registered, elsewhere],
            None,
            &mapped,
        );
        let targets: Vec<&str> = events.iter().map(|e| e.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "direct:a",
                "direct:b",
                "sns:arn:aws:sns:us-east-1:1:endpoint/GCM/Other/e3"
            ]
        );
        let a = DirectPayload::decode(&events[0].payload).unwrap();
        assert_eq!(
            a,
            DirectPayload {
                device_id: "a".into(),
                address: "arn:aws:sns:us-east-1:1:endpoint/GCM/A/e1".into(),
                application: GCM_APP.into(),
                platform: "GCM".into(),
                token: "tok-a".into(),
                body: platform_body("GCM", "p", "i", "ds", 7),
            }
        );
        let b = DirectPayload::decode(&events[1].payload).unwrap();
        assert_eq!(b.address, format!("direct:{GCM_APP}"));
        assert_eq!(b.application, GCM_APP);
    }

    #[test]
    fn a_direct_device_stays_direct_when_its_mapping_is_gone() {
        // Delivery then says what is missing; SNS has no endpoint for it.
        let d = dev("a", &format!("direct:{GCM_APP}"));
        assert_eq!(
            route_of(&d, &none),
            Route::Direct {
                application_arn: GCM_APP.into()
            }
        );
    }
}
