//! Push sync: device registration, dataset subscriptions, and the silent push each subscribed
//! device (except the writer) gets after an UpdateRecords, in the payloads of spec §8.

use serde_json::json;

use super::pool_admin::PushSync;
use super::{Caller, DatasetRef, Missing, SyncError, SyncResult, SyncService};
use crate::store::{DeviceRecord, NewOutboxEvent, StoreError};
use crate::timeutil::now_ms;
use crate::validate;

/// Target prefix of push outbox events: `sns:<endpoint arn>`.
pub const SNS_TARGET: &str = "sns:";
pub const PLATFORMS: [&str; 4] = ["APNS", "APNS_SANDBOX", "GCM", "ADM"];

/// The pool's SNS platform application for a device platform (`…:app/<PLATFORM>/<name>`).
fn application_for(push: &PushSync, platform: &str) -> Option<String> {
    let marker = format!(":app/{platform}/");
    push.application_arns
        .iter()
        .flatten()
        .find(|arn| arn.contains(&marker))
        .cloned()
}

/// The SNS message (`MessageStructure=json`) for one device: GCM and ADM get the keys as a data
/// map with `syncCount` a decimal string (Android parses it with `Long.parseLong`); APNS gets
/// `aps.content-available = 1` and the keys under `data`.
pub fn message(
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
    json!({ "default": format!("cognito-sync: {dataset} changed"), platform: body.to_string() })
        .to_string()
}

/// Outbox events notifying every subscriber except the device that wrote.
pub fn push_events(
    pool_id: &str,
    identity_id: &str,
    dataset: &str,
    sync_count: i64,
    subscribers: &[DeviceRecord],
    writer: Option<&str>,
) -> Vec<NewOutboxEvent> {
    subscribers
        .iter()
        .filter(|d| Some(d.id.as_str()) != writer && !d.disabled)
        .map(|d| NewOutboxEvent {
            pool_id: pool_id.to_owned(),
            stream_key: format!("push/{}", d.id),
            target: format!("{SNS_TARGET}{}", d.endpoint_arn),
            payload: json!({
                "deviceId": d.id,
                "message": message(&d.platform, pool_id, identity_id, dataset, sync_count),
            })
            .to_string(),
            job: None,
        })
        .collect()
}

impl SyncService {
    async fn push_config(&self, pool_id: &str) -> SyncResult<PushSync> {
        self.get_configuration(pool_id)
            .await?
            .push_sync
            .ok_or_else(|| {
                SyncError::InvalidConfiguration(
                    "Push sync is not configured for this identity pool".into(),
                )
            })
    }

    /// RegisterDevice: the device's id, stable for the same (identity, platform, token).
    pub async fn register_device(
        &self,
        _caller: &Caller,
        pool_id: &str,
        identity_id: &str,
        platform: &str,
        token: &str,
    ) -> SyncResult<String> {
        self.resolve(pool_id, identity_id, Missing::NotFound)
            .await?;
        validate::one_of(platform, "platform", &PLATFORMS)?;
        validate::length(token, "token", 1, 4096)?;
        let push = self.push_config(pool_id).await?;
        let app = application_for(&push, platform).ok_or_else(|| {
            SyncError::InvalidConfiguration(format!(
                "PushSync of this identity pool has no platform application for {platform}"
            ))
        })?;
        let existing = self.store.find_device(identity_id, platform, token).await?;
        if let Some(d) = &existing {
            if !d.disabled {
                return Ok(d.id.clone());
            }
        }
        let endpoint = self
            .push
            .create_endpoint(&app, token, identity_id)
            .await
            .map_err(|e| SyncError::Internal(format!("cannot create the SNS endpoint: {e}")))?;
        let device = DeviceRecord {
            id: existing
                .as_ref()
                .map_or_else(|| uuid::Uuid::new_v4().to_string(), |d| d.id.clone()),
            identity_id: identity_id.to_owned(),
            platform: platform.to_owned(),
            token: token.to_owned(),
            endpoint_arn: endpoint,
            disabled: false,
            created_ms: existing.as_ref().map_or_else(now_ms, |d| d.created_ms),
        };
        match self.store.put_device(&device).await {
            Ok(()) => Ok(device.id),
            // A concurrent registration of the same token won; use its id.
            Err(StoreError::AlreadyExists(_)) => self
                .store
                .find_device(identity_id, platform, token)
                .await?
                .map(|d| d.id)
                .ok_or_else(|| SyncError::Internal("device vanished during registration".into())),
            Err(e) => Err(e.into()),
        }
    }

    async fn subscription_target(&self, r: &DatasetRef, device_id: &str) -> SyncResult<()> {
        self.resolve(&r.pool_id, &r.identity_id, Missing::NotFound)
            .await?;
        validate::dataset_name(&r.dataset_name, "datasetName")?;
        validate::length(device_id, "deviceId", 1, 256)?;
        self.push_config(&r.pool_id).await?;
        match self.store.get_device(device_id).await? {
            Some(d) if d.identity_id == r.identity_id => Ok(()),
            _ => Err(SyncError::NotFound(format!(
                "Device not found: {device_id}"
            ))),
        }
    }

    /// SubscribeToDataset: the dataset must exist and the device be the identity's.
    pub async fn subscribe(
        &self,
        _caller: &Caller,
        r: &DatasetRef,
        device_id: &str,
    ) -> SyncResult<()> {
        self.subscription_target(r, device_id).await?;
        match self
            .store
            .get_dataset(&r.identity_id, &r.dataset_name)
            .await?
        {
            Some(d) if d.live => {}
            _ => {
                return Err(SyncError::NotFound(format!(
                    "Dataset not found: {}",
                    r.dataset_name
                )))
            }
        }
        Ok(self
            .store
            .subscribe(&r.identity_id, &r.dataset_name, device_id)
            .await?)
    }

    /// UnsubscribeFromDataset: ResourceNotFoundException when there was no such subscription.
    pub async fn unsubscribe(
        &self,
        _caller: &Caller,
        r: &DatasetRef,
        device_id: &str,
    ) -> SyncResult<()> {
        self.subscription_target(r, device_id).await?;
        if self
            .store
            .unsubscribe(&r.identity_id, &r.dataset_name, device_id)
            .await?
        {
            Ok(())
        } else {
            Err(SyncError::NotFound(format!(
                "Device {device_id} is not subscribed to dataset {}",
                r.dataset_name
            )))
        }
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

    #[test]
    fn the_writer_is_not_notified() {
        let dev = |id: &str| DeviceRecord {
            id: id.into(),
            identity_id: "i".into(),
            platform: "GCM".into(),
            token: id.into(),
            endpoint_arn: format!("arn:{id}"),
            disabled: false,
            created_ms: 0,
        };
        let events = push_events("p", "i", "ds", 3, &[dev("a"), dev("b")], Some("a"));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].target, "sns:arn:b");
    }
}
