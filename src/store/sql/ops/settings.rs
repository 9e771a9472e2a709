//! A pool's Cognito Sync settings, read and changed as the rules decide.

use super::parts;
use crate::store::sql::interface::{args, Batch, Lock, Op, Tx};
use crate::store::sql::rows;
use crate::store::{IdentityRecord, PoolSettings, SettingsDecider, StoreResult};

/// An identity's record and a pool's settings, in one batch.
pub struct IdentityAndSettings {
    pub identity_id: String,
    pub pool_id: String,
}

impl Op for IdentityAndSettings {
    type Output = (Option<IdentityRecord>, PoolSettings);

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<Self::Output> {
        let mut reads = Batch::default();
        let identity = reads.query(parts::IDENTITY, args![self.identity_id.as_str()]);
        let settings = reads.query(parts::SETTINGS, args![self.pool_id.as_str()]);
        let mut found = reads.run(tx).await?;
        Ok((
            rows::opt(found.rows(identity), rows::identity)?,
            rows::opt(found.rows(settings), rows::settings)?.unwrap_or_default(),
        ))
    }
}

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
