//! Pool configuration operations: Get/SetIdentityPoolConfiguration (push sync, Cognito
//! Streams), Get/SetCognitoEvents (the sync trigger), and the pool's own quotas (no Cognito
//! API sets them; the console does). Every change is a compare-and-set over the version read
//! ([`rules::settings`](super::rules::settings)).

use std::collections::BTreeMap;

use super::rules::quotas::{check_pool_limits, Limits};
use super::rules::settings::{
    check_events, check_push_sync, check_streams, events_after, replace_if_unchanged,
};
use super::{SyncError, SyncResult, SyncService};
use crate::store::{CognitoStreams, PoolLimits, PoolSettings, PushSync};
use crate::validate;

/// A pool's Cognito Sync configuration; an absent part was never set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolConfiguration {
    pub push_sync: Option<PushSync>,
    pub cognito_streams: Option<CognitoStreams>,
}

/// A pool's quotas: its own (None where not set) and the server's, which apply where not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolQuotas {
    pub pool: PoolLimits,
    pub server: Limits,
}

impl PoolQuotas {
    /// The quotas UpdateRecords applies in the pool.
    pub fn effective(&self) -> Limits {
        self.server.for_pool(&self.pool)
    }
}

impl SyncService {
    /// Validates the pool id; ResourceNotFoundException when the pool does not exist.
    pub(super) async fn require_pool(&self, pool_id: &str) -> SyncResult<()> {
        validate::aws_id(pool_id, "identityPoolId")?;
        if self.store.get_pool(pool_id).await?.is_none() {
            return Err(SyncError::NotFound(format!(
                "Identity pool not found: {pool_id}"
            )));
        }
        Ok(())
    }

    /// Writes `next` over `current` unless another writer changed the settings meanwhile.
    async fn replace_settings(
        &self,
        pool_id: &str,
        current: &PoolSettings,
        next: PoolSettings,
    ) -> SyncResult<()> {
        let decide = replace_if_unchanged(current, next);
        if self.store.update_pool_settings(pool_id, decide).await? {
            Ok(())
        } else {
            Err(SyncError::ConcurrentModification(
                "The identity pool's configuration was changed by another request; read it and try again".into(),
            ))
        }
    }

    pub async fn get_configuration(&self, pool_id: &str) -> SyncResult<PoolConfiguration> {
        self.require_pool(pool_id).await?;
        let settings = self.store.get_pool_settings(pool_id).await?;
        Ok(PoolConfiguration {
            push_sync: settings.push_sync,
            cognito_streams: settings.cognito_streams,
        })
    }

    /// Sets the given parts (an omitted part is left as it is) and returns the whole result.
    pub async fn set_configuration(
        &self,
        pool_id: &str,
        push_sync: Option<PushSync>,
        cognito_streams: Option<CognitoStreams>,
    ) -> SyncResult<PoolConfiguration> {
        self.require_pool(pool_id).await?;
        self.refuse_if_attached(pool_id, "SetIdentityPoolConfiguration")?;
        if let Some(p) = &push_sync {
            check_push_sync(p)?;
        }
        if let Some(s) = &cognito_streams {
            check_streams(s)?;
        }
        let current = self.store.get_pool_settings(pool_id).await?;
        let next = PoolSettings {
            push_sync: push_sync.or_else(|| current.push_sync.clone()),
            cognito_streams: cognito_streams.or_else(|| current.cognito_streams.clone()),
            ..current.clone()
        };
        let result = PoolConfiguration {
            push_sync: next.push_sync.clone(),
            cognito_streams: next.cognito_streams.clone(),
        };
        self.replace_settings(pool_id, &current, next).await?;
        Ok(result)
    }

    pub async fn get_events(&self, pool_id: &str) -> SyncResult<BTreeMap<String, String>> {
        self.require_pool(pool_id).await?;
        Ok(self.store.get_pool_settings(pool_id).await?.events)
    }

    /// Sets the given event types; an empty value removes one.
    pub async fn set_events(
        &self,
        pool_id: &str,
        events: BTreeMap<String, String>,
    ) -> SyncResult<()> {
        self.require_pool(pool_id).await?;
        self.refuse_if_attached(pool_id, "SetCognitoEvents")?;
        check_events(&events)?;
        let current = self.store.get_pool_settings(pool_id).await?;
        let next = PoolSettings {
            events: events_after(&current.events, events),
            ..current.clone()
        };
        self.replace_settings(pool_id, &current, next).await
    }

    pub async fn get_quotas(&self, pool_id: &str) -> SyncResult<PoolQuotas> {
        self.require_pool(pool_id).await?;
        let settings = self.store.get_pool_settings(pool_id).await?;
        Ok(PoolQuotas {
            pool: settings.limits,
            server: self.limits,
        })
    }

    /// Sets the pool's own quotas, all three (None: the server's applies).
    pub async fn set_quotas(&self, pool_id: &str, limits: PoolLimits) -> SyncResult<()> {
        self.require_pool(pool_id).await?;
        check_pool_limits(&limits)?;
        let current = self.store.get_pool_settings(pool_id).await?;
        let next = PoolSettings {
            limits,
            ..current.clone()
        };
        self.replace_settings(pool_id, &current, next).await
    }
}
