//! A pool's Cognito Sync settings, read and changed as the rules decide.

use super::parts;
use crate::store::sql::interface::{Lock, Op, Tx};
use crate::store::{PoolSettings, SettingsDecider, StoreResult};

pub struct GetSettings {
    pub pool_id: String,
}

impl Op for GetSettings {
    type Output = PoolSettings;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<PoolSettings> {
        parts::settings(tx, &self.pool_id).await
    }
}

/// Stores what the decider makes of the stored settings, serialised per pool.
pub struct UpdateSettings {
    pub pool_id: String,
    pub decide: SettingsDecider,
}

impl Op for UpdateSettings {
    type Output = bool;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<bool> {
        let pool = self.pool_id.as_str();
        tx.lock(Lock::Pool, pool).await?;
        let current = parts::settings(tx, pool).await?;
        match (self.decide)(&current) {
            Some(next) => {
                parts::put_settings(tx, pool, &next).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
