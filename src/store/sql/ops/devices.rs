//! Devices registered for push sync and their subscriptions ([`DeviceStore`]).

use async_trait::async_trait;

use crate::store::sql::interface::Engine;
use crate::store::sql::rows::{self, device_cols};
use crate::store::sql::SqlStore;
use crate::store::*;

#[async_trait]
impl<E: Engine> DeviceStore for SqlStore<E> {
    async fn find_device(
        &self,
        identity_id: &str,
        platform: &str,
        token: &str,
    ) -> StoreResult<Option<DeviceRecord>> {
        const SQL: &str = concat!(
            "SELECT ",
            device_cols!(),
            " FROM devices WHERE identity_id = $1 AND platform = $2 AND token = $3"
        );
        let params = vec![identity_id.into(), platform.into(), token.into()];
        rows::opt(self.read("find_device", SQL, params).await?, rows::device)
    }

    async fn get_device(&self, id: &str) -> StoreResult<Option<DeviceRecord>> {
        const SQL: &str = concat!("SELECT ", device_cols!(), " FROM devices WHERE id = $1");
        rows::opt(
            self.read("get_device", SQL, vec![id.into()]).await?,
            rows::device,
        )
    }

    async fn put_device(&self, d: &DeviceRecord) -> StoreResult<()> {
        const SQL: &str = concat!(
            "INSERT INTO devices (",
            device_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET endpoint_arn = excluded.endpoint_arn,
                 disabled = excluded.disabled"
        );
        let params = vec![
            d.id.as_str().into(),
            d.identity_id.as_str().into(),
            d.platform.as_str().into(),
            d.token.as_str().into(),
            d.endpoint_arn.as_str().into(),
            d.disabled.into(),
            d.created_ms.into(),
        ];
        match self.write("put_device", SQL, params).await {
            Ok(_) => Ok(()),
            // Another device id holds this (identity, platform, token).
            Err(StoreError::AlreadyExists(_)) => Err(StoreError::AlreadyExists(d.token.clone())),
            Err(e) => Err(e),
        }
    }

    async fn disable_device(&self, id: &str, endpoint_arn: &str) -> StoreResult<()> {
        const SQL: &str = "UPDATE devices SET disabled = TRUE WHERE id = $1 AND endpoint_arn = $2";
        self.write("disable_device", SQL, vec![id.into(), endpoint_arn.into()])
            .await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        identity_id: &str,
        dataset: &str,
        device_id: &str,
    ) -> StoreResult<()> {
        const SQL: &str = "INSERT INTO subscriptions (identity_id, dataset_name, device_id)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
        self.write(
            "subscribe",
            SQL,
            vec![identity_id.into(), dataset.into(), device_id.into()],
        )
        .await?;
        Ok(())
    }

    async fn unsubscribe(
        &self,
        identity_id: &str,
        dataset: &str,
        device_id: &str,
    ) -> StoreResult<bool> {
        const SQL: &str =
            "DELETE FROM subscriptions WHERE identity_id = $1 AND dataset_name = $2 AND device_id = $3";
        let params = vec![identity_id.into(), dataset.into(), device_id.into()];
        Ok(self.write("unsubscribe", SQL, params).await? > 0)
    }
}
