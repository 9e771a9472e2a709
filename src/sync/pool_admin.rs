//! Pool administration for Cognito Sync: the push-sync and streams configuration, the events
//! map, and usage figures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{rules, Caller, SyncError, SyncResult, SyncService};
use crate::store::{PoolSettings, SettingsDecider, Usage};
use crate::validate;

/// The only event type Cognito Sync knows.
pub const SYNC_TRIGGER: &str = "SyncTrigger";
/// Default and largest page of ListIdentityPoolUsage.
pub const POOL_USAGE_PAGE: i64 = 60;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PushSync {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_arns: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CognitoStreams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming_status: Option<String>,
}

/// A pool's Cognito Sync configuration; an absent part was never set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolConfiguration {
    pub push_sync: Option<PushSync>,
    pub cognito_streams: Option<CognitoStreams>,
}

/// Usage of one pool, for the pool-usage operations.
#[derive(Debug, Clone)]
pub struct PoolUsage {
    pub pool_id: String,
    pub usage: Usage,
}

fn check_push_sync(p: &PushSync) -> SyncResult<()> {
    for (i, arn) in p.application_arns.iter().flatten().enumerate() {
        validate::application_arn(arn, &format!("pushSync.applicationArns.{}.member", i + 1))?;
    }
    if let Some(role) = &p.role_arn {
        validate::role_arn(role, "pushSync.roleArn")?;
    }
    Ok(())
}

fn check_streams(s: &CognitoStreams) -> SyncResult<()> {
    if let Some(name) = &s.stream_name {
        validate::length(name, "cognitoStreams.streamName", 1, 128)?;
    }
    if let Some(role) = &s.role_arn {
        validate::role_arn(role, "cognitoStreams.roleArn")?;
    }
    if let Some(status) = &s.streaming_status {
        validate::one_of(
            status,
            "cognitoStreams.streamingStatus",
            &["ENABLED", "DISABLED"],
        )?;
    }
    Ok(())
}

/// A sync-trigger target: what Lambda's Invoke accepts as a function (a name, a partial or full
/// ARN, each with an optional version or alias), or a webhook URL for self-hosters. Stored as
/// given, as AWS does.
fn check_trigger(target: &str) -> SyncResult<()> {
    let ok = if target.starts_with("https://") || target.starts_with("http://") {
        target.len() <= 2048
    } else {
        validate::lambda_function_name(target, "events.SyncTrigger").is_ok()
    };
    if ok {
        Ok(())
    } else {
        Err(SyncError::InvalidParameter(format!(
            "Invalid SyncTrigger target '{}': give a Lambda function name or ARN (as Lambda's Invoke accepts it, at most 170 characters) or an http(s):// URL",
            target.chars().take(64).collect::<String>()
        )))
    }
}

fn parse<T: for<'de> Deserialize<'de>>(json: Option<&str>) -> SyncResult<Option<T>> {
    json.map(|j| {
        serde_json::from_str(j)
            .map_err(|e| SyncError::Internal(format!("stored settings unreadable: {e}")))
    })
    .transpose()
}

fn to_json<T: Serialize>(v: &T) -> SyncResult<String> {
    serde_json::to_string(v).map_err(|e| SyncError::Internal(e.to_string()))
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

    fn configuration(settings: &PoolSettings) -> SyncResult<PoolConfiguration> {
        Ok(PoolConfiguration {
            push_sync: parse(settings.push_sync.as_deref())?,
            cognito_streams: parse(settings.cognito_streams.as_deref())?,
        })
    }

    fn events(settings: &PoolSettings) -> SyncResult<BTreeMap<String, String>> {
        serde_json::from_str(&settings.events)
            .map_err(|e| SyncError::Internal(format!("stored events unreadable: {e}")))
    }

    /// Writes `next` over `current` unless another writer changed the settings meanwhile.
    async fn replace_settings(
        &self,
        pool_id: &str,
        current: &PoolSettings,
        mut next: PoolSettings,
    ) -> SyncResult<()> {
        // Compare-and-set: written only over the version that was read.
        let read = current.version;
        next.version = read + 1;
        let decide: SettingsDecider =
            Box::new(move |stored| (stored.version == read).then(|| next.clone()));
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
        Self::configuration(&self.store.get_pool_settings(pool_id).await?)
    }

    /// Sets the given parts (an omitted part is left as it is) and returns the whole result.
    pub async fn set_configuration(
        &self,
        pool_id: &str,
        push_sync: Option<PushSync>,
        cognito_streams: Option<CognitoStreams>,
    ) -> SyncResult<PoolConfiguration> {
        self.require_pool(pool_id).await?;
        if let Some(p) = &push_sync {
            check_push_sync(p)?;
        }
        if let Some(s) = &cognito_streams {
            check_streams(s)?;
        }
        let current = self.store.get_pool_settings(pool_id).await?;
        let mut next = current.clone();
        if let Some(p) = &push_sync {
            next.push_sync = Some(to_json(p)?);
        }
        if let Some(s) = &cognito_streams {
            next.cognito_streams = Some(to_json(s)?);
        }
        let result = Self::configuration(&next)?;
        self.replace_settings(pool_id, &current, next).await?;
        Ok(result)
    }

    pub async fn get_events(&self, pool_id: &str) -> SyncResult<BTreeMap<String, String>> {
        self.require_pool(pool_id).await?;
        Self::events(&self.store.get_pool_settings(pool_id).await?)
    }

    /// Sets the given event types; an empty value removes one.
    pub async fn set_events(
        &self,
        pool_id: &str,
        events: BTreeMap<String, String>,
    ) -> SyncResult<()> {
        self.require_pool(pool_id).await?;
        if events.len() > 1 {
            return Err(SyncError::InvalidParameter(
                "1 validation error detected: Value at 'events' failed to satisfy constraint: Member must have length less than or equal to 1".into(),
            ));
        }
        for (kind, target) in &events {
            if kind != SYNC_TRIGGER {
                return Err(SyncError::InvalidParameter(format!(
                    "Unknown event type '{}': the only event type is {SYNC_TRIGGER}",
                    kind.chars().take(64).collect::<String>()
                )));
            }
            if !target.is_empty() {
                check_trigger(target)?;
            }
        }
        let current = self.store.get_pool_settings(pool_id).await?;
        let mut map = Self::events(&current)?;
        for (kind, target) in events {
            if target.is_empty() {
                map.remove(&kind);
            } else {
                map.insert(kind, target);
            }
        }
        let next = PoolSettings {
            events: to_json(&map)?,
            ..current.clone()
        };
        self.replace_settings(pool_id, &current, next).await
    }

    /// DescribeIdentityUsage.
    pub async fn identity_usage(
        &self,
        _caller: &Caller,
        pool_id: &str,
        identity_id: &str,
    ) -> SyncResult<Usage> {
        self.resolve(pool_id, identity_id, super::Missing::NotFound)
            .await?;
        Ok(rules::usage(
            &self.store.identity_totals(identity_id).await?,
        ))
    }

    /// DescribeIdentityPoolUsage.
    pub async fn pool_usage(&self, pool_id: &str) -> SyncResult<Usage> {
        self.require_pool(pool_id).await?;
        Ok(rules::usage(&self.store.pool_totals(pool_id).await?))
    }

    /// ListIdentityPoolUsage: pools in id order with their usage, the page size used, and the
    /// token of the next page.
    pub async fn list_pool_usage(
        &self,
        max_results: Option<i64>,
        next_token: Option<&str>,
    ) -> SyncResult<(Vec<PoolUsage>, i64, Option<String>)> {
        let max = max_results.unwrap_or(POOL_USAGE_PAGE);
        validate::range(max, "maxResults", 1, i64::MAX)?;
        let limit = max.min(POOL_USAGE_PAGE) as usize;
        let after = match next_token {
            None => None,
            Some(t) => match self.tokens.open("pool-usage", t).as_deref() {
                Some([last]) => Some(last.clone()),
                _ => return Err(SyncError::InvalidParameter("Invalid NextToken".into())),
            },
        };
        let mut pools = self.store.list_pools(after.as_deref(), limit + 1).await?;
        let next = if pools.len() > limit {
            pools.truncate(limit);
            pools
                .last()
                .map(|p| self.tokens.seal("pool-usage", &[&p.id]))
        } else {
            None
        };
        let mut out = Vec::with_capacity(pools.len());
        for p in pools {
            let usage = rules::usage(&self.store.pool_totals(&p.id).await?);
            out.push(PoolUsage {
                pool_id: p.id,
                usage,
            });
        }
        Ok((out, max, next))
    }
}

#[cfg(test)]
mod tests {
    use super::check_trigger;

    #[test]
    fn triggers_are_lambda_functions_as_invoke_names_them_or_webhooks() {
        for good in [
            "validate",
            "validate:live",
            "123456789012:function:validate",
            "arn:aws:lambda:us-east-1:123456789012:function:validate",
            "https://hooks.example.com/sync",
            "http://127.0.0.1:9000/",
        ] {
            assert!(check_trigger(good).is_ok(), "{good}");
        }
        for bad in [
            "not a function",
            "arn:aws:sqs:us-east-1:123456789012:queue",
            "ftp://example.com/hook",
            &format!("https://example.com/{}", "x".repeat(2048)),
        ] {
            assert!(check_trigger(bad).is_err(), "{bad}");
        }
    }
}
