//! A pool's Cognito Sync settings, read and compare-and-set.

use super::parts;
use crate::store::sql::interface::{Op, Tx};
use crate::store::{PoolSettings, StoreResult};

pub struct GetSettings {
    pub pool_id: String,
}

impl Op for GetSettings {
    type Output = PoolSettings;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<PoolSettings> {
        parts::settings(tx, &self.pool_id).await
    }
}

/// Stores the settings if the stored version is the one before theirs.
pub struct PutSettings {
    pub pool_id: String,
    pub settings: PoolSettings,
}

impl Op for PutSettings {
    type Output = bool;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<bool> {
        parts::put_settings(tx, &self.pool_id, &self.settings).await
    }
}
