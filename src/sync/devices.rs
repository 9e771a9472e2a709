//! The device operations: RegisterDevice, SubscribeToDataset and UnsubscribeFromDataset (the
//! rules they follow are in [`rules::push`](super::rules::push)). A device of a platform
//! application the operator maps to FCM or APNs registers without SNS.

use super::rules::push::{application_for, registered_device, Registration, Stored, PLATFORMS};
use super::{Caller, DatasetRef, DeviceAddress, Missing, SyncError, SyncResult, SyncService};
use crate::store::{DeviceRecord, PushSync, StoreError};
use crate::timeutil::now_ms;
use crate::upstream::Intent;
use crate::validate;

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
        caller: &Caller,
        pool_id: &str,
        identity_id: &str,
        platform: &str,
        token: &str,
    ) -> SyncResult<String> {
        if let Some(f) = self.forward(pool_id, Intent::Write).await? {
            return self
                .forward_register_device(f, caller, pool_id, identity_id, platform, token)
                .await;
        }
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
        let endpoint = if self.push.direct(&app) {
            // Mapped to FCM or APNs: the token is the address, and nothing is asked.
            DeviceAddress::Direct {
                application_arn: app,
            }
            .encode()
        } else {
            match self
                .register_with_sns(&app, token, identity_id, existing.as_ref())
                .await?
            {
                Ok(arn) => arn,
                Err(kept) => return Ok(kept),
            }
        };
        let registration = Registration {
            identity_id,
            platform,
            token,
            endpoint_arn: &endpoint,
        };
        let device = match registered_device(existing.as_ref(), &registration, now_ms()) {
            Stored::AsItIs(id) => return Ok(id),
            Stored::Write(device) => device,
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

    /// The SNS endpoint for a token (Ok(Ok(arn))), or, when SNS fails, the id of the device
    /// already registered with it, which keeps its registration (Ok(Err(id))).
    async fn register_with_sns(
        &self,
        app: &str,
        token: &str,
        identity_id: &str,
        existing: Option<&DeviceRecord>,
    ) -> SyncResult<Result<String, String>> {
        // SNS is asked every time: it may have disabled the endpoint (a stale token) without
        // cogsync knowing, and registering again is how a device gets its pushes back.
        match self.push.create_endpoint(app, token, identity_id).await {
            Ok(arn) => Ok(Ok(arn)),
            Err(e) => match existing {
                // SNS failed (unreachable, or refused): a registered device keeps the
                // registration it has rather than fail its app's start-up.
                Some(d) if !d.disabled => {
                    tracing::warn!(device = %d.id, error = %e, "cannot refresh the SNS endpoint; keeping the registration");
                    Ok(Err(d.id.clone()))
                }
                _ => Err(SyncError::Internal(format!(
                    "cannot create the SNS endpoint: {e}"
                ))),
            },
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
        caller: &Caller,
        r: &DatasetRef,
        device_id: &str,
    ) -> SyncResult<()> {
        if let Some(f) = self.forward(&r.pool_id, Intent::Write).await? {
            return self
                .forward_subscription(f, caller, r, device_id, true)
                .await;
        }
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
        caller: &Caller,
        r: &DatasetRef,
        device_id: &str,
    ) -> SyncResult<()> {
        if let Some(f) = self.forward(&r.pool_id, Intent::Write).await? {
            return self
                .forward_subscription(f, caller, r, device_id, false)
                .await;
        }
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
