//! The Cognito Sync service: datasets and records of identities, with the sync-count rules
//! real sync clients depend on. Pure Rust over the [`Store`] trait; no HTTP here.

pub mod bulk_publish;
pub mod bulk_rules;
mod outbox_target;
pub mod pool_admin;
pub mod ports;
pub mod push;
pub mod rules;
pub mod streams;
pub mod trigger_rules;

use std::sync::Arc;

use crate::store::{DatasetRow, IdentityRecord, RecordRow, Rejection, Store, StoreError};
use crate::timeutil::{now_ms, Clock};
use crate::tokens::TokenSigner;
use crate::validate::{self, Violation};
pub use outbox_target::OutboxTarget;
use ports::{PushService, TriggerInvoker};
pub use rules::{Limits, Patch, PatchOp};
/// For the outbox dispatcher: a pool's settings once Kinesis says its stream was deleted.
pub use streams::turn_off_deleted_stream;
use tokio::sync::Notify;

/// How long a SyncSessionToken from ListRecords stays valid for UpdateRecords.
pub const SYNC_SESSION_TTL_MS: i64 = 60 * 60 * 1000;
/// Largest page an explicit `maxResults` can ask for.
pub const MAX_PAGE: i64 = 1024;

/// Who is acting, as far as the sync rules care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Developer (account) credentials: records show the account id as their modifier.
    Developer { account_id: String },
    /// Cognito Identity credentials bound to one identity of one pool.
    Identity {
        pool_id: String,
        identity_id: String,
    },
}

impl Caller {
    fn modified_by(&self) -> &str {
        match self {
            Caller::Developer { account_id } => account_id,
            Caller::Identity { identity_id, .. } => identity_id,
        }
    }
}

/// A refusal by the sync service; `api::error` maps each to its wire error in one place.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NotAuthorized(String),
    #[error("Current SyncCount for: {key} is: {stored} not: {sent}")]
    Conflict { key: String, stored: i64, sent: i64 },
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    ConcurrentModification(String),
    #[error("{0}")]
    DuplicateRequest(String),
    #[error("{0}")]
    InvalidConfiguration(String),
    #[error("{0}")]
    InvalidLambdaOutput(String),
    #[error("{0}")]
    LambdaThrottled(String),
    #[error("{0}")]
    LambdaTimeout(String),
    #[error("{0}")]
    AlreadyStreamed(String),
    /// Contention the store could not resolve in time; the client should retry.
    #[error("{0}")]
    Busy(String),
    /// Failed, nothing changed (the detail is for the log).
    #[error("{0}")]
    Internal(String),
    /// A write that may or may not have been applied (the detail is for the log).
    #[error("{0}")]
    OutcomeUnknown(String),
}

impl From<Violation> for SyncError {
    fn from(v: Violation) -> Self {
        SyncError::InvalidParameter(v.0)
    }
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(Rejection::Conflict { key, stored, sent }) => {
                SyncError::Conflict { key, stored, sent }
            }
            StoreError::Rejected(Rejection::LimitExceeded(m)) => SyncError::LimitExceeded(m),
            StoreError::Rejected(Rejection::BulkInProgress) => SyncError::DuplicateRequest(
                "A bulk publish of this identity pool is already in progress".into(),
            ),
            StoreError::Rejected(Rejection::BulkTooSoon) => SyncError::AlreadyStreamed(
                "The last successful bulk publish of this identity pool completed less than 24 hours ago"
                    .into(),
            ),
            StoreError::Busy(detail) => SyncError::Busy(detail),
            // Refusals of the login rules never come out of a sync write.
            StoreError::Rejected(
                r @ (Rejection::NotAuthorized(_)
                | Rejection::NotFound(_)
                | Rejection::DeveloperUserAlreadyRegistered(_)),
            ) => SyncError::Internal(format!("unexpected refusal from the store: {r:?}")),
            StoreError::AlreadyExists(what) => {
                SyncError::Internal(format!("unexpected duplicate in the store: {what}"))
            }
            StoreError::Backend(detail) => SyncError::Internal(detail),
            StoreError::OutcomeUnknown(detail) => SyncError::OutcomeUnknown(detail),
        }
    }
}

pub type SyncResult<T> = Result<T, SyncError>;

/// How a missing pool or identity is reported: operations whose model lists
/// ResourceNotFoundException use it; the list operations, which do not, say InvalidParameter.
#[derive(Clone, Copy)]
pub(crate) enum Missing {
    NotFound,
    InvalidParameter,
}

/// Path members every dataset operation carries.
#[derive(Debug, Clone)]
pub struct DatasetRef {
    pub pool_id: String,
    pub identity_id: String,
    pub dataset_name: String,
}

#[derive(Debug, Default, Clone)]
pub struct ListRecordsInput {
    pub last_sync_count: Option<i64>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct ListRecordsOutput {
    pub records: Vec<RecordRow>,
    pub next_token: Option<String>,
    pub dataset_sync_count: i64,
    pub last_modified_by: Option<String>,
    pub dataset_exists: bool,
    pub deleted_after_requested_sync_count: bool,
    pub sync_session_token: String,
    /// Datasets merged into this one from other identities (`<name>.<identity>`).
    pub merged_dataset_names: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct UpdateRecordsInput {
    pub device_id: Option<String>,
    pub sync_session_token: Option<String>,
    pub patches: Vec<Patch>,
}

#[derive(Debug, Clone)]
pub struct DatasetsPage {
    pub datasets: Vec<DatasetRow>,
    pub next_token: Option<String>,
}

/// What the sync service needs besides the store and the token key.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub limits: Limits,
    /// Time for the time-based rules (the bulk-publish interval).
    pub clock: Arc<dyn Clock>,
    /// The least time between two successful bulk publishes of a pool (24 hours on AWS).
    pub bulk_publish_interval_ms: i64,
    /// The region named in sync-trigger events.
    pub region: String,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            limits: Limits::default(),
            clock: Arc::new(crate::timeutil::SystemClock),
            bulk_publish_interval_ms: 24 * 60 * 60 * 1000,
            region: "us-east-1".into(),
        }
    }
}

pub struct SyncService {
    store: Arc<dyn Store>,
    tokens: TokenSigner,
    limits: Limits,
    clock: Arc<dyn Clock>,
    bulk_publish_interval_ms: i64,
    /// Woken after a commit that wrote outbox events, so delivery starts at once.
    outbox_signal: Arc<Notify>,
    /// Creates SNS endpoints for RegisterDevice.
    push: Arc<dyn PushService>,
    /// Runs sync triggers.
    triggers: Arc<dyn TriggerInvoker>,
    region: String,
}

impl SyncService {
    pub fn new(
        store: Arc<dyn Store>,
        tokens: TokenSigner,
        settings: SyncSettings,
        outbox_signal: Arc<Notify>,
        push: Arc<dyn PushService>,
        triggers: Arc<dyn TriggerInvoker>,
    ) -> Self {
        SyncService {
            store,
            tokens,
            limits: settings.limits,
            clock: settings.clock,
            bulk_publish_interval_ms: settings.bulk_publish_interval_ms,
            outbox_signal,
            push,
            triggers,
            region: settings.region,
        }
    }

    /// The stream the pool publishes to, if Cognito Streams is enabled for it.
    async fn stream_of(&self, pool_id: &str) -> SyncResult<Option<String>> {
        Ok(streams::stream_of(
            &self.store.get_pool_settings(pool_id).await?,
        ))
    }

    /// [`Self::resolve`] on behalf of `caller`: identity credentials whose identity is gone
    /// (deleted, or merged into another) are refused as not authorized rather than told
    /// what exists, so the API layer need not read the identity a second time.
    async fn resolve_for(
        &self,
        caller: &Caller,
        pool_id: &str,
        identity_id: &str,
        missing: Missing,
    ) -> SyncResult<()> {
        let resolved = self.resolve(pool_id, identity_id, missing).await;
        Self::for_caller(caller, identity_id, resolved)
    }

    /// [`Self::resolve_for`] with the identity already read (`found`).
    async fn resolve_found_for(
        &self,
        caller: &Caller,
        pool_id: &str,
        identity_id: &str,
        missing: Missing,
        found: Option<IdentityRecord>,
    ) -> SyncResult<()> {
        let resolved = self
            .resolve_found(pool_id, identity_id, missing, found)
            .await;
        Self::for_caller(caller, identity_id, resolved)
    }

    fn for_caller(caller: &Caller, identity_id: &str, resolved: SyncResult<()>) -> SyncResult<()> {
        match (caller, resolved) {
            (Caller::Identity { .. }, Err(SyncError::NotFound(_) | SyncError::InvalidParameter(_)))
                if validate::aws_id(identity_id, "identityId").is_ok() =>
            {
                Err(SyncError::NotAuthorized(format!(
                    "Identity {identity_id} no longer exists (deleted or merged); get new credentials"
                )))
            }
            (_, resolved) => resolved,
        }
    }

    async fn resolve_dataset_for(
        &self,
        caller: &Caller,
        r: &DatasetRef,
        missing: Missing,
    ) -> SyncResult<()> {
        self.resolve_for(caller, &r.pool_id, &r.identity_id, missing)
            .await?;
        validate::dataset_name(&r.dataset_name, "datasetName")?;
        Ok(())
    }

    /// Checks the path ids and that the identity exists in the pool.
    async fn resolve(&self, pool_id: &str, identity_id: &str, missing: Missing) -> SyncResult<()> {
        validate::aws_id(pool_id, "identityPoolId")?;
        validate::aws_id(identity_id, "identityId")?;
        let found = self.store.get_identity(identity_id).await?;
        self.resolve_found(pool_id, identity_id, missing, found)
            .await
    }

    /// [`Self::resolve`] with the identity already read (`found`); the ids are valid.
    async fn resolve_found(
        &self,
        pool_id: &str,
        identity_id: &str,
        missing: Missing,
        found: Option<IdentityRecord>,
    ) -> SyncResult<()> {
        let fail = |m: String| match missing {
            Missing::NotFound => SyncError::NotFound(m),
            Missing::InvalidParameter => SyncError::InvalidParameter(m),
        };
        // One read in the common case: an identity's pool exists (the schema cascades).
        if found.is_some_and(|i| i.pool_id == pool_id) {
            return Ok(());
        }
        if self.store.get_pool(pool_id).await?.is_none() {
            return Err(fail(format!("Identity pool not found: {pool_id}")));
        }
        Err(fail(format!(
            "Identity not found in pool {pool_id}: {identity_id}"
        )))
    }

    fn page_size(max_results: Option<i64>, cap: i64) -> SyncResult<usize> {
        match max_results {
            None => Ok(usize::MAX),
            Some(n) => {
                validate::range(n, "maxResults", 1, i64::MAX)?;
                Ok(n.min(cap) as usize)
            }
        }
    }

    pub async fn list_datasets(
        &self,
        caller: &Caller,
        pool_id: &str,
        identity_id: &str,
        next_token: Option<&str>,
        max_results: Option<i64>,
    ) -> SyncResult<DatasetsPage> {
        self.resolve_for(caller, pool_id, identity_id, Missing::InvalidParameter)
            .await?;
        let limit = Self::page_size(max_results, MAX_PAGE)?;
        let after = match next_token {
            None => None,
            Some(t) => match self.tokens.open("datasets", t).as_deref() {
                Some([p, i, name]) if p == pool_id && i == identity_id => Some(name.clone()),
                _ => return Err(SyncError::InvalidParameter("Invalid NextToken".into())),
            },
        };
        let mut datasets = self
            .store
            .list_datasets(identity_id, after.as_deref(), limit.saturating_add(1))
            .await?;
        let next_token = if datasets.len() > limit {
            datasets.truncate(limit);
            datasets.last().map(|d| {
                self.tokens
                    .seal("datasets", &[pool_id, identity_id, &d.name])
            })
        } else {
            None
        };
        Ok(DatasetsPage {
            datasets,
            next_token,
        })
    }

    pub async fn describe_dataset(
        &self,
        caller: &Caller,
        r: &DatasetRef,
    ) -> SyncResult<DatasetRow> {
        self.resolve_dataset_for(caller, r, Missing::NotFound)
            .await?;
        match self
            .store
            .get_dataset(&r.identity_id, &r.dataset_name)
            .await?
        {
            Some(d) if d.live => Ok(d),
            _ => Err(dataset_not_found(r)),
        }
    }

    pub async fn delete_dataset(&self, caller: &Caller, r: &DatasetRef) -> SyncResult<DatasetRow> {
        self.resolve_dataset_for(caller, r, Missing::NotFound)
            .await?;
        let stream = self.stream_of(&r.pool_id).await?;
        let publishes = stream.is_some();
        let pool_id = r.pool_id.clone();
        let now = now_ms();
        let decide: crate::store::DeleteDecider =
            Box::new(move |before: &DatasetRow| crate::store::DeletePlan {
                dataset: rules::deleted(before),
                outbox: stream
                    .as_ref()
                    .map(|s| streams::delete_events(&pool_id, s, before, now))
                    .unwrap_or_default(),
                at_ms: now,
            });
        let deleted = self
            .store
            .delete_dataset(&r.identity_id, &r.dataset_name, decide)
            .await?
            .ok_or_else(|| dataset_not_found(r))?;
        if publishes {
            self.outbox_signal.notify_one();
        }
        Ok(deleted)
    }

    pub async fn list_records(
        &self,
        caller: &Caller,
        r: &DatasetRef,
        input: ListRecordsInput,
    ) -> SyncResult<ListRecordsOutput> {
        self.resolve_dataset_for(caller, r, Missing::InvalidParameter)
            .await?;
        let after = input.last_sync_count.unwrap_or(0);
        validate::range(after, "lastSyncCount", 0, i64::MAX)?;
        let limit = Self::page_size(input.max_results, MAX_PAGE)?;
        let after_text = after.to_string();
        let cursor = match input.next_token.as_deref() {
            None => None,
            Some(t) => match self.tokens.open("records", t).as_deref() {
                Some([p, i, d, a, count, key])
                    if p == &r.pool_id
                        && i == &r.identity_id
                        && d == &r.dataset_name
                        && a == &after_text =>
                {
                    let count = count
                        .parse::<i64>()
                        .map_err(|_| SyncError::InvalidParameter("Invalid NextToken".into()))?;
                    Some((count, key.clone()))
                }
                _ => return Err(SyncError::InvalidParameter("Invalid NextToken".into())),
            },
        };
        let page = self
            .store
            .list_records(
                &r.identity_id,
                &r.dataset_name,
                after,
                cursor.as_ref(),
                limit,
            )
            .await?;
        let live = page.dataset.as_ref().filter(|d| d.live);
        if let Some(d) = live {
            if after > d.sync_count {
                return Err(SyncError::InvalidParameter(format!(
                    "No such SyncCount: {after} exists for this Dataset"
                )));
            }
        }
        let deleted_after = after > 0
            && page
                .dataset
                .as_ref()
                .and_then(|d| d.deleted_at_sync_count)
                .is_some_and(|deleted_at| deleted_at >= after);
        let next_token = if page.more {
            page.records.last().map(|last| {
                self.tokens.seal(
                    "records",
                    &[
                        &r.pool_id,
                        &r.identity_id,
                        &r.dataset_name,
                        &after_text,
                        &last.sync_count.to_string(),
                        &last.key,
                    ],
                )
            })
        } else {
            None
        };
        Ok(ListRecordsOutput {
            records: page.records,
            next_token,
            dataset_sync_count: page.dataset.as_ref().map_or(0, |d| d.sync_count),
            last_modified_by: live.map(|d| d.last_modified_by.clone()),
            dataset_exists: live.is_some(),
            deleted_after_requested_sync_count: deleted_after,
            sync_session_token: self.issue_session_token(r),
            merged_dataset_names: page.merged,
        })
    }

    fn issue_session_token(&self, r: &DatasetRef) -> String {
        let expires = (now_ms() + SYNC_SESSION_TTL_MS).to_string();
        let session = uuid::Uuid::new_v4().simple().to_string();
        self.tokens.seal(
            "sync-session",
            &[
                &r.pool_id,
                &r.identity_id,
                &r.dataset_name,
                &session,
                &expires,
            ],
        )
    }

    fn check_session_token(&self, r: &DatasetRef, token: Option<&str>) -> SyncResult<()> {
        let token = token.ok_or_else(|| validate::missing("syncSessionToken"))?;
        let valid = match self.tokens.open("sync-session", token).as_deref() {
            Some([p, i, d, _session, expires]) => {
                p == &r.pool_id
                    && i == &r.identity_id
                    && d == &r.dataset_name
                    && expires.parse::<i64>().is_ok_and(|e| e > now_ms())
            }
            _ => false,
        };
        if valid {
            Ok(())
        } else {
            Err(SyncError::InvalidParameter(
                "SyncSessionToken not valid for these inputs".into(),
            ))
        }
    }

    /// Applies the patches atomically; returns every record written.
    pub async fn update_records(
        &self,
        caller: &Caller,
        r: &DatasetRef,
        input: UpdateRecordsInput,
    ) -> SyncResult<Vec<RecordRow>> {
        validate::aws_id(&r.pool_id, "identityPoolId")?;
        validate::aws_id(&r.identity_id, "identityId")?;
        validate::dataset_name(&r.dataset_name, "datasetName")?;
        if let Some(device) = &input.device_id {
            validate::length(device, "deviceId", 1, 256)?;
        }
        validate_patches(&input.patches)?;
        // The identity and the pool's settings in one read (one round trip on PostgreSQL).
        let (found, settings) = self
            .store
            .identity_and_settings(&r.identity_id, &r.pool_id)
            .await?;
        self.resolve_found_for(caller, &r.pool_id, &r.identity_id, Missing::NotFound, found)
            .await?;
        self.check_session_token(r, input.sync_session_token.as_deref())?;
        if input.patches.is_empty() {
            return Ok(Vec::new());
        }
        let stream = streams::stream_of(&settings);
        // The sync trigger runs for identity credentials only (developer writes bypass it).
        let trigger = match caller {
            Caller::Identity { .. } => trigger_rules::target_of(&settings),
            Caller::Developer { .. } => None,
        };
        let (patches, expected_count) = match trigger {
            None => (input.patches, None),
            Some(target) => self.run_trigger(&target, r, input.patches).await?,
        };
        if patches.is_empty() {
            return Ok(Vec::new());
        }
        let keys = patches.iter().map(|p| p.key.clone()).collect();
        let (identity_id, name) = (r.identity_id.clone(), r.dataset_name.clone());
        let modified_by = caller.modified_by().to_owned();
        let limits = self.limits;
        let pool_id = r.pool_id.clone();
        let writer = input.device_id.clone();
        let plan = self
            .store
            .update_records(
                &r.identity_id,
                &r.dataset_name,
                keys,
                Box::new(move |snapshot| {
                    if let Some(expected) = expected_count {
                        trigger_rules::check_unchanged(snapshot, expected, &patches)?;
                    }
                    let mut plan = rules::plan_update(
                        snapshot,
                        &patches,
                        &identity_id,
                        &name,
                        &modified_by,
                        now_ms(),
                        limits,
                    )?;
                    if let Some(stream) = &stream {
                        plan.outbox =
                            streams::update_events(&pool_id, stream, &plan.dataset, &plan.records);
                    }
                    plan.outbox.extend(push::push_events(
                        &pool_id,
                        &identity_id,
                        &name,
                        plan.dataset.sync_count,
                        &snapshot.subscribers,
                        writer.as_deref(),
                    ));
                    Ok(plan)
                }),
            )
            .await?;
        if !plan.outbox.is_empty() {
            self.outbox_signal.notify_one();
        }
        Ok(plan.records)
    }
}

fn dataset_not_found(r: &DatasetRef) -> SyncError {
    SyncError::NotFound(format!("Dataset not found: {}", r.dataset_name))
}

fn validate_patches(patches: &[Patch]) -> SyncResult<()> {
    let mut seen = std::collections::HashSet::with_capacity(patches.len());
    for (i, p) in patches.iter().enumerate() {
        let member = |m: &str| format!("recordPatches.{}.member.{m}", i + 1);
        validate::length(&p.key, &member("key"), 1, 1024)?;
        if let Some(v) = &p.value {
            validate::length(v, &member("value"), 0, 1_048_575)?;
        }
        validate::range(p.sync_count, &member("syncCount"), 0, i64::MAX)?;
        if !seen.insert(p.key.as_str()) {
            return Err(SyncError::InvalidParameter(format!(
                "Duplicate key in RecordPatches: {}",
                p.key
            )));
        }
    }
    Ok(())
}
