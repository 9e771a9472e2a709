//! The Cognito Sync service: datasets and records of identities, with the sync-count rules
//! real sync clients depend on. Pure Rust over the [`Store`] trait; no HTTP here.

mod bulk_publish;
mod datasets;
mod devices;
mod error;
mod forward;
mod outbox_target;
pub mod pool_config;
pub mod ports;
mod push_address;
mod records;
pub mod rules;
pub mod usage;

use std::sync::Arc;

use crate::store::{DatasetRow, IdentityRecord, RecordRow, Store};
use crate::timeutil::Clock;
use crate::tokens::TokenSigner;
use crate::validate;
pub use error::{SyncError, SyncResult};
pub use outbox_target::OutboxTarget;
use ports::{PushService, TriggerInvoker};
pub use push_address::{application_of_endpoint, DeviceAddress};
/// For the outbox dispatcher: a pool's settings once Kinesis says its stream was deleted.
pub use rules::streams::turn_off_deleted_stream;
pub use rules::{Limits, Patch, PatchOp};
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
    /// Cognito Identity credentials bound to one identity of one pool (with its credentials
    /// at the pool's upstream, when vended while the pool was attached).
    Identity {
        pool_id: String,
        identity_id: String,
        upstream: Option<crate::upstream::UpstreamCredentials>,
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
    /// Which pools are attached to an upstream (none unless [`Self::with_upstream`]).
    attachments: Arc<crate::upstream::Attachments>,
    /// Where attached pools' calls go.
    upstream: Option<Arc<dyn ports::UpstreamSync>>,
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
            attachments: crate::upstream::Attachments::new(false),
            upstream: None,
        }
    }

    /// The service of a node in upstream mode: pools `attachments` says are attached are
    /// served by `upstream`.
    pub fn with_upstream(
        mut self,
        attachments: Arc<crate::upstream::Attachments>,
        upstream: Option<Arc<dyn ports::UpstreamSync>>,
    ) -> Self {
        self.attachments = attachments;
        self.upstream = upstream;
        self
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
        resolved.map_err(|e| Self::as_seen_by(caller, identity_id, e))
    }

    /// A missing identity as `caller` is told of it: identity credentials whose identity is
    /// gone are refused as not authorized (they should get new ones), not told what exists.
    pub(super) fn as_seen_by(caller: &Caller, identity_id: &str, e: SyncError) -> SyncError {
        match (caller, e) {
            (Caller::Identity { .. }, SyncError::NotFound(_) | SyncError::InvalidParameter(_))
                if validate::aws_id(identity_id, "identityId").is_ok() =>
            {
                SyncError::NotAuthorized(format!(
                    "Identity {identity_id} no longer exists (deleted or merged); get new credentials"
                ))
            }
            (_, e) => e,
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
}
