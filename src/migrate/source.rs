//! The source of `cogsync import --source-endpoint / --source-region`: another Cognito Sync
//! deployment (AWS's own, or any server that speaks its API), read through its public APIs
//! with the official SDK clients and the caller's developer credentials.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_cognitoidentity as cid;
use aws_sdk_cognitosync as cs;
use cs::error::ProvideErrorMetadata as _;
use cs::primitives::DateTime;

use super::MigrateError;
use crate::store::{CognitoStreams, PushSync};
use crate::store::{
    DatasetRecords, DatasetRow, IdentityCopy, IdentityRecord, PoolCopy, PoolRecord, PoolSettings,
};

/// The most any list call returns in one page (ListIdentities allows 60).
const PAGE: i32 = 60;

/// Where the source is and how fast it may be asked.
pub struct SourceOptions {
    /// One URL for both services (e.g. another cogsync); None uses AWS's endpoints.
    pub endpoint: Option<String>,
    /// The source's region; None takes it from the environment / profile (else us-east-1).
    pub region: Option<String>,
    /// Requests per second at most, over all calls; 0 for no limit.
    pub rate: u32,
    /// Attempts per call, retries of throttled and failed calls with backoff included.
    pub attempts: u32,
    /// Also ask the instance metadata service and container endpoints for credentials (the
    /// whole standard chain); otherwise only the environment, the shared profile files and a
    /// web identity token, so that a machine with no credentials is told so at once.
    pub instance_metadata: bool,
}

pub struct Source {
    identity: cid::Client,
    sync: cs::Client,
    pacer: Option<tokio::sync::Mutex<tokio::time::Interval>>,
    pub calls: std::sync::atomic::AtomicU64,
}

/// An identity as ListIdentities describes it.
#[derive(Debug, Clone)]
pub struct ListedIdentity {
    pub id: String,
    pub providers: Vec<String>,
    pub created_ms: i64,
    pub last_modified_ms: i64,
}

/// Fails at once, in one line that says what to do, when no credentials can be found.
async fn check_credentials(
    config: &aws_config::SdkConfig,
    instance_metadata: bool,
) -> Result<(), MigrateError> {
    crate::integrations::aws::check_credentials(config, instance_metadata, "the source")
        .await
        .map_err(MigrateError::Source)
}

fn failed(call: &str, e: impl std::fmt::Debug) -> MigrateError {
    MigrateError::Source(format!("{call}: {e:?}"))
}

/// A date as milliseconds. Dates travel as epoch seconds with a decimal fraction, which the
/// SDK parses as a float (`.32` becomes `.319999…`): rounded to the nearest millisecond, not
/// truncated.
fn ms(d: Option<&DateTime>) -> i64 {
    d.map_or(0, millis)
}

pub use crate::integrations::aws::millis;
use crate::integrations::aws::{dataset_of, record_of};

impl Source {
    pub async fn connect(o: &SourceOptions) -> Result<Source, MigrateError> {
        // The region is never looked up on the network: given, or from the environment, or
        // us-east-1 (which another cogsync accepts as well as any).
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let region = o
            .region
            .clone()
            .or_else(|| var("AWS_REGION"))
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_owned());
        let region = aws_config::Region::new(region);
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::integrations::aws::http_client())
            .region(region.clone())
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(o.attempts.max(1))
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(20)),
            );
        if !o.instance_metadata {
            loader =
                loader.credentials_provider(crate::integrations::aws::local_credentials(&region));
        }
        let config = loader.load().await;
        check_credentials(&config, o.instance_metadata).await?;
        let mut identity = cid::config::Builder::from(&config).region(region.clone());
        let mut sync = cs::config::Builder::from(&config).region(region);
        if let Some(url) = &o.endpoint {
            identity = identity.endpoint_url(url);
            sync = sync.endpoint_url(url);
        }
        let pacer = (o.rate > 0).then(|| {
            let mut every = tokio::time::interval(Duration::from_secs(1) / o.rate);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tokio::sync::Mutex::new(every)
        });
        Ok(Source {
            identity: cid::Client::from_conf(identity.build()),
            sync: cs::Client::from_conf(sync.build()),
            pacer,
            calls: Default::default(),
        })
    }

    /// Waits for the next call's turn under `--rate`.
    async fn turn(&self) {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(pacer) = &self.pacer {
            pacer.lock().await.tick().await;
        }
    }

    /// Every item of a listing: `page` fetches one page from a NextToken and answers its
    /// items and the next token (none, or empty, at the end).
    async fn all_pages<T, F, Fut>(&self, mut page: F) -> Result<Vec<T>, MigrateError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), MigrateError>>,
    {
        let (mut all, mut next) = (Vec::new(), None);
        loop {
            self.turn().await;
            let (items, token) = page(next.take()).await?;
            all.extend(items);
            match token.filter(|t| !t.is_empty()) {
                Some(t) => next = Some(t),
                None => return Ok(all),
            }
        }
    }

    pub async fn pool_ids(&self) -> Result<Vec<String>, MigrateError> {
        self.all_pages(|next| async move {
            let page = self
                .identity
                .list_identity_pools()
                .max_results(PAGE)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| failed("ListIdentityPools", e))?;
            let ids = page
                .identity_pools()
                .iter()
                .filter_map(|p| p.identity_pool_id().map(str::to_owned))
                .collect();
            Ok((ids, page.next_token().map(str::to_owned)))
        })
        .await
    }

    /// A pool's description, Cognito Sync configuration and events. The creation date is not
    /// in any answer: `created_ms` is the caller's.
    pub async fn pool(&self, id: &str, created_ms: i64) -> Result<PoolCopy, MigrateError> {
        self.turn().await;
        let d = self
            .identity
            .describe_identity_pool()
            .identity_pool_id(id)
            .send()
            .await
            .map_err(|e| failed("DescribeIdentityPool", e))?;
        let mut extra = serde_json::Map::new();
        if let Some(v) = d.allow_classic_flow() {
            extra.insert("AllowClassicFlow".into(), v.into());
        }
        if let Some(v) = d.supported_login_providers() {
            extra.insert("SupportedLoginProviders".into(), serde_json::json!(v));
        }
        if !d.open_id_connect_provider_arns().is_empty() {
            let v = d.open_id_connect_provider_arns();
            extra.insert("OpenIdConnectProviderARNs".into(), serde_json::json!(v));
        }
        if !d.cognito_identity_providers().is_empty() {
            let v: Vec<serde_json::Value> = d
                .cognito_identity_providers()
                .iter()
                .map(|p| {
                    let mut o = serde_json::Map::new();
                    if let Some(v) = p.provider_name() {
                        o.insert("ProviderName".into(), v.into());
                    }
                    if let Some(v) = p.client_id() {
                        o.insert("ClientId".into(), v.into());
                    }
                    if let Some(v) = p.server_side_token_check() {
                        o.insert("ServerSideTokenCheck".into(), v.into());
                    }
                    serde_json::Value::Object(o)
                })
                .collect();
            extra.insert("CognitoIdentityProviders".into(), v.into());
        }
        if !d.saml_provider_arns().is_empty() {
            let v = d.saml_provider_arns();
            extra.insert("SamlProviderARNs".into(), serde_json::json!(v));
        }
        if let Some(v) = d.identity_pool_tags() {
            extra.insert("IdentityPoolTags".into(), serde_json::json!(v));
        }
        let pool = PoolRecord {
            id: d.identity_pool_id().to_owned(),
            name: d.identity_pool_name().to_owned(),
            allow_unauthenticated: d.allow_unauthenticated_identities(),
            developer_provider_name: d.developer_provider_name().map(str::to_owned),
            details: serde_json::from_value(serde_json::Value::Object(extra))
                .map_err(|e| failed("DescribeIdentityPool", e))?,
            created_ms,
        };
        Ok(PoolCopy {
            settings: self.settings(id).await?,
            pool,
            bulk: None,
        })
    }

    async fn settings(&self, id: &str) -> Result<PoolSettings, MigrateError> {
        self.turn().await;
        let c = self
            .sync
            .get_identity_pool_configuration()
            .identity_pool_id(id)
            .send()
            .await
            .map_err(|e| failed("GetIdentityPoolConfiguration", e))?;
        let push_sync = c.push_sync().map(|p| PushSync {
            application_arns: p.application_arns.clone(),
            role_arn: p.role_arn().map(str::to_owned),
        });
        let cognito_streams = c.cognito_streams().map(|s| CognitoStreams {
            stream_name: s.stream_name().map(str::to_owned),
            role_arn: s.role_arn().map(str::to_owned),
            streaming_status: s.streaming_status().map(|v| v.as_str().to_owned()),
        });
        self.turn().await;
        let e = self
            .sync
            .get_cognito_events()
            .identity_pool_id(id)
            .send()
            .await
            .map_err(|e| failed("GetCognitoEvents", e))?;
        let events: std::collections::BTreeMap<String, String> = e
            .events()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let set = push_sync.is_some() || cognito_streams.is_some() || !events.is_empty();
        Ok(PoolSettings {
            version: i64::from(set),
            push_sync,
            cognito_streams,
            events,
            // No Cognito API tells them (the import keeps the store's).
            limits: Default::default(),
        })
    }

    /// One page of a pool's identities, and the token of the next.
    pub async fn identities(
        &self,
        pool_id: &str,
        next: Option<String>,
    ) -> Result<(Vec<ListedIdentity>, Option<String>), MigrateError> {
        self.turn().await;
        let page = self
            .identity
            .list_identities()
            .identity_pool_id(pool_id)
            .max_results(PAGE)
            .hide_disabled(false)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| failed("ListIdentities", e))?;
        let listed = page
            .identities()
            .iter()
            .filter_map(|i| {
                Some(ListedIdentity {
                    id: i.identity_id()?.to_owned(),
                    providers: i.logins().to_vec(),
                    created_ms: ms(i.creation_date()),
                    last_modified_ms: ms(i.last_modified_date()),
                })
            })
            .collect();
        let next = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok((listed, next))
    }

    /// One identity as ListIdentities would list it (DescribeIdentity).
    pub async fn describe_identity(
        &self,
        identity_id: &str,
    ) -> Result<ListedIdentity, MigrateError> {
        self.turn().await;
        let d = self
            .identity
            .describe_identity()
            .identity_id(identity_id)
            .send()
            .await
            .map_err(|e| failed("DescribeIdentity", e))?;
        Ok(ListedIdentity {
            id: d.identity_id().unwrap_or(identity_id).to_owned(),
            providers: d.logins().to_vec(),
            created_ms: ms(d.creation_date()),
            last_modified_ms: ms(d.last_modified_date()),
        })
    }

    /// The developer user identifiers linked to an identity.
    pub async fn developer_users(
        &self,
        pool_id: &str,
        identity_id: &str,
    ) -> Result<Vec<String>, MigrateError> {
        self.all_pages(|next| async move {
            let page = self
                .identity
                .lookup_developer_identity()
                .identity_pool_id(pool_id)
                .identity_id(identity_id)
                .max_results(PAGE)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| failed("LookupDeveloperIdentity", e))?;
            let users = page.developer_user_identifier_list().to_vec();
            Ok((users, page.next_token().map(str::to_owned)))
        })
        .await
    }

    /// An identity's datasets as ListDatasets describes them (SyncCount not included).
    pub async fn datasets(
        &self,
        pool_id: &str,
        identity_id: &str,
    ) -> Result<Vec<cs::types::Dataset>, MigrateError> {
        self.all_pages(|next| async move {
            let page = self
                .sync
                .list_datasets()
                .identity_pool_id(pool_id)
                .identity_id(identity_id)
                .max_results(PAGE)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| failed("ListDatasets", e))?;
            Ok((
                page.datasets().to_vec(),
                page.next_token().map(str::to_owned),
            ))
        })
        .await
    }

    /// A dataset's records changed after `since` (tombstones included), with its SyncCount and
    /// the names merged into it. When the source says the dataset was deleted after `since`,
    /// lists it again from 0.
    pub async fn records(
        &self,
        pool_id: &str,
        identity_id: &str,
        listed: &cs::types::Dataset,
        since: i64,
    ) -> Result<(DatasetRecords, Vec<String>), MigrateError> {
        let name = listed.dataset_name().unwrap_or_default();
        let mut from = since;
        'listing: loop {
            let (mut records, mut merged, mut count) = (Vec::new(), Vec::new(), None);
            let mut next: Option<String> = None;
            loop {
                self.turn().await;
                let page = self
                    .sync
                    .list_records()
                    .identity_pool_id(pool_id)
                    .identity_id(identity_id)
                    .dataset_name(name)
                    .last_sync_count(from)
                    .max_results(1024)
                    .set_next_token(next.take())
                    .send()
                    .await;
                let page = match page {
                    // The store is ahead of the source ("No such SyncCount"): the whole
                    // dataset, for the rules to see and leave as it is.
                    Err(e) if from > 0 && e.code() == Some("InvalidParameterException") => {
                        from = 0;
                        continue 'listing;
                    }
                    other => other.map_err(|e| failed("ListRecords", e))?,
                };
                if from > 0 && page.dataset_deleted_after_requested_sync_count() {
                    from = 0;
                    continue 'listing;
                }
                // Every page must come from one state of the dataset: a write between pages
                // (the count moved) means listing again, or a key read on an earlier page
                // would be stored with its old value at the new count.
                let now = page.dataset_sync_count().unwrap_or(0);
                match count {
                    None => count = Some(now),
                    Some(first) if first != now => continue 'listing,
                    Some(_) => {}
                }
                merged.extend(page.merged_dataset_names().iter().cloned());
                records.extend(page.records().iter().map(record_of));
                match page.next_token() {
                    Some(t) if !t.is_empty() => next = Some(t.to_owned()),
                    _ => break,
                }
            }
            let row = DatasetRow {
                identity_id: identity_id.to_owned(),
                sync_count: count.unwrap_or(0),
                ..dataset_of(listed)
            };
            merged.sort();
            merged.dedup();
            // A key on two pages: the highest SyncCount wins (and PostgreSQL's one-statement
            // upsert must not see a key twice).
            records.sort_by(|a, b| a.key.cmp(&b.key).then(b.sync_count.cmp(&a.sync_count)));
            records.dedup_by(|later, first| later.key == first.key);
            let since = (from > 0).then_some(from);
            return Ok((
                DatasetRecords {
                    row,
                    records,
                    since,
                },
                merged,
            ));
        }
    }
}

impl Source {
    /// The bytes a pool's datasets hold (DescribeIdentityPoolUsage): what a copy's progress
    /// is measured against, for its ETA.
    pub async fn pool_storage(&self, pool_id: &str) -> Result<u64, MigrateError> {
        self.turn().await;
        let usage = self
            .sync
            .describe_identity_pool_usage()
            .identity_pool_id(pool_id)
            .send()
            .await
            .map_err(|e| failed("DescribeIdentityPoolUsage", e))?;
        let bytes = usage
            .identity_pool_usage()
            .and_then(|u| u.data_storage())
            .unwrap_or(0);
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// The names ListRecords of `name` reports merged into it (the dataset itself may not
    /// exist).
    pub async fn merged_names(
        &self,
        pool_id: &str,
        identity_id: &str,
        name: &str,
    ) -> Result<Vec<String>, MigrateError> {
        self.turn().await;
        let page = self
            .sync
            .list_records()
            .identity_pool_id(pool_id)
            .identity_id(identity_id)
            .dataset_name(name)
            .max_results(1)
            .send()
            .await
            .map_err(|e| failed("ListRecords", e))?;
        Ok(page.merged_dataset_names().to_vec())
    }
}

/// An identity as the source describes it, before its datasets.
pub fn identity_of(pool_id: &str, listed: &ListedIdentity) -> IdentityCopy {
    IdentityCopy {
        identity: IdentityRecord {
            id: listed.id.clone(),
            pool_id: pool_id.to_owned(),
            created_ms: listed.created_ms,
            last_modified_ms: listed.last_modified_ms,
        },
        logins: Vec::new(),
        datasets: Vec::new(),
        devices: Vec::new(),
        subscriptions: Vec::new(),
    }
}

/// Marks each dataset another one lists in its MergedDatasetNames as merged into that one.
pub fn link_merged(datasets: &mut [DatasetRecords], merged: &HashMap<String, Vec<String>>) {
    for (into, names) in merged {
        for d in datasets.iter_mut() {
            if names.contains(&d.row.name) {
                d.row.merged_into = Some(into.clone());
            }
        }
    }
}
