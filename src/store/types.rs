//! Plain data that crosses the [`Store`](super::Store) boundary. No rules live here: the sync
//! service decides, the store persists. The pool's configuration is typed here, once: the
//! store decodes it where rows are read (a malformed stored value is
//! [`StoreError::Corrupt`](super::StoreError), never taken for "not set").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An identity pool as Cognito Identity describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolRecord {
    pub id: String,
    pub name: String,
    pub allow_unauthenticated: bool,
    pub developer_provider_name: Option<String>,
    /// The other IdentityPool members.
    pub details: PoolDetails,
    pub created_ms: i64,
}

/// The IdentityPool members besides its id, name, guest flag and developer provider: the
/// login providers cogsync interprets, typed, and every other member a client sent (tags,
/// SAML providers, …), kept as sent. Absent and empty are told apart, as a client sent them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PoolDetails {
    /// Public providers (`graph.facebook.com`, `accounts.google.com`, …) and their app ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_login_providers: Option<BTreeMap<String, String>>,
    /// IAM OpenID Connect provider ARNs.
    #[serde(
        default,
        rename = "OpenIdConnectProviderARNs",
        skip_serializing_if = "Option::is_none"
    )]
    pub open_id_connect_provider_arns: Option<Vec<String>>,
    /// Cognito user pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cognito_identity_providers: Option<Vec<CognitoIdentityProvider>>,
    /// Every other member, as the client sent it.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// A Cognito user pool an identity pool accepts tokens of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CognitoIdentityProvider {
    /// `cognito-idp.<region>.amazonaws.com/<user pool id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    /// The app client id the tokens must be for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_token_check: Option<bool>,
}

/// One identity of a pool.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityRecord {
    pub id: String,
    pub pool_id: String,
    pub created_ms: i64,
    pub last_modified_ms: i64,
}

/// Dataset metadata, including the state kept after a delete (the counter and the marker).
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRow {
    pub identity_id: String,
    pub name: String,
    /// False once deleted; the row stays so the counter never goes backwards.
    pub live: bool,
    pub sync_count: i64,
    pub creation_ms: i64,
    pub last_modified_ms: i64,
    pub last_modified_by: String,
    pub data_storage: i64,
    pub num_records: i64,
    /// The dataset SyncCount at its most recent deletion, if it was ever deleted.
    pub deleted_at_sync_count: Option<i64>,
    /// For a dataset copied in by an identity merge (`<name>.<old identity>`): the `<name>`
    /// whose ListRecords reports it in `MergedDatasetNames`.
    pub merged_into: Option<String>,
}

/// One record; `value == None` is a tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRow {
    pub key: String,
    pub value: Option<String>,
    pub sync_count: i64,
    pub last_modified_ms: i64,
    pub last_modified_by: String,
    pub device_last_modified_ms: Option<i64>,
}

/// What the store reads, inside the write transaction, for the rules to decide on.
#[derive(Debug, Clone)]
pub struct UpdateSnapshot {
    pub dataset: Option<DatasetRow>,
    /// Stored records for the keys named by the patches (absent keys were never written).
    pub existing: std::collections::HashMap<String, RecordRow>,
    /// Live datasets of the identity, this one included if live.
    pub live_datasets: i64,
    /// Enabled devices subscribed to this dataset (push sync).
    pub subscribers: Vec<DeviceRecord>,
}

/// A device registered for push sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub id: String,
    pub identity_id: String,
    /// APNS, APNS_SANDBOX, GCM or ADM.
    pub platform: String,
    pub token: String,
    /// The SNS platform endpoint pushes go to.
    pub endpoint_arn: String,
    /// Set when SNS reported the endpoint disabled or gone; it gets no more pushes.
    pub disabled: bool,
    pub created_ms: i64,
}

/// What the rules decided: the dataset's new metadata and every record to write, plus the
/// side effects to commit with them.
#[derive(Debug, Clone)]
pub struct UpdatePlan {
    pub dataset: DatasetRow,
    pub records: Vec<RecordRow>,
    /// Outbox events written in the same transaction, delivered after commit.
    pub outbox: Vec<NewOutboxEvent>,
}

/// A side effect to deliver after commit (a stream record, a push, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxEvent {
    pub pool_id: String,
    /// Events of one key are delivered in order, one at a time.
    pub stream_key: String,
    /// Where it goes, e.g. `kinesis:<stream name>`.
    pub target: String,
    pub payload: String,
    /// The bulk-publish job (its pool id) the event belongs to, if any.
    pub job: Option<String>,
}

/// A claimed outbox event.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub id: i64,
    pub event: NewOutboxEvent,
    /// Failed deliveries so far.
    pub attempts: i64,
}

/// What deleting a live dataset writes, decided by the rules from its row before the delete:
/// the row it keeps, and the outbox events (stamped `at_ms`). Its records and subscriptions go.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletePlan {
    pub dataset: DatasetRow,
    pub outbox: Vec<NewOutboxEvent>,
    pub at_ms: i64,
}

/// The delete rules, run by the store inside its transaction on the live dataset's row.
pub type DeleteDecider = Box<dyn Fn(&DatasetRow) -> DeletePlan + Send + Sync>;

/// Outbox events publishing one live dataset with its live records (bulk publish).
pub type DatasetEvents =
    Box<dyn Fn(&DatasetRow, &[RecordRow]) -> Vec<NewOutboxEvent> + Send + Sync>;

/// The stored state of a pool's bulk publish.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkJob {
    /// The job's status, in the words the rules chose (`sync::rules::bulk`).
    pub status: String,
    pub start_ms: Option<i64>,
    pub complete_ms: Option<i64>,
    pub failure_message: Option<String>,
    pub last_success_ms: Option<i64>,
}

/// What happened to a pool's bulk publish, as the store saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkEvent<'a> {
    /// BulkPublish was called.
    Requested,
    /// No event of the job is left undelivered (or it had none).
    Drained,
    /// An event of the job cannot be delivered, for this reason; its others were dropped.
    DeliveryFailed(&'a str),
}

/// The bulk-publish rules, run by the store inside its transaction on the stored job (None
/// when never requested): the job to store, None to leave it, or a refusal.
pub type BulkDecider = Box<
    dyn Fn(Option<&BulkJob>, BulkEvent<'_>) -> Result<Option<BulkJob>, Rejection> + Send + Sync,
>;

/// A reason the rules refused an update; carried through the store unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// A patch's SyncCount differs from the stored record's.
    Conflict { key: String, stored: i64, sent: i64 },
    /// A quota would be exceeded.
    LimitExceeded(String),
    /// A bulk publish of the pool is in progress.
    BulkInProgress,
    /// The last successful bulk publish is too recent.
    BulkTooSoon,
    /// The login rules refused: the logins do not prove the identity.
    NotAuthorized(String),
    /// The login rules refused: a named identity or developer user does not exist.
    NotFound(String),
    /// The login rules refused: the developer user belongs to another identity.
    DeveloperUserAlreadyRegistered(String),
    /// The rules refused a change as invalid (e.g. a pool's developer provider, once set).
    InvalidParameter(String),
}

/// A login: (provider, subject), unique within a pool.
pub type LoginKey = (String, String);

/// What a login transaction reads before its rules decide.
#[derive(Debug, Clone, Default)]
pub struct LoginQuery {
    /// Logins whose owners to find.
    pub logins: Vec<LoginKey>,
    /// Identities to read (with their logins) besides the owners found.
    pub identities: Vec<String>,
}

/// What a login transaction found, as of its start (under the pool's login lock when it
/// writes).
#[derive(Debug, Clone, Default)]
pub struct LoginSnapshot {
    /// The identity each queried login is linked to; unlinked logins are absent.
    pub owners: std::collections::HashMap<LoginKey, String>,
    /// The queried identities and the owners found, those that exist.
    pub identities: std::collections::HashMap<String, IdentityRecord>,
    /// The logins of each identity in `identities`, ordered.
    pub logins: std::collections::HashMap<String, Vec<LoginKey>>,
}

/// The writes the login rules decided, applied in this order: create, merges, unlinks, links.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginPlan {
    /// A new identity to create.
    pub create: Option<IdentityRecord>,
    /// (source, destination): the source's live datasets go to the destination as the
    /// [`MergeCopier`] says, its logins move to the destination, and it is deleted.
    pub merges: Vec<(String, String)>,
    /// Logins to unlink from the identity holding them: (login, identity).
    pub unlink: Vec<(LoginKey, String)>,
    /// Logins to link: (login, identity). A login linked meanwhile stays as it is.
    pub link: Vec<(LoginKey, String)>,
    /// The identity the operation answers with.
    pub identity_id: String,
}

impl LoginPlan {
    /// A plan that answers `identity_id` and writes nothing.
    pub fn read_only(identity_id: impl Into<String>) -> Self {
        LoginPlan {
            create: None,
            merges: Vec::new(),
            unlink: Vec::new(),
            link: Vec::new(),
            identity_id: identity_id.into(),
        }
    }

    pub fn writes(&self) -> bool {
        self.create.is_some()
            || !self.merges.is_empty()
            || !self.unlink.is_empty()
            || !self.link.is_empty()
    }
}

/// A dataset with its records (tombstones included), as a merge reads or writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetCopy {
    pub dataset: DatasetRow,
    pub records: Vec<RecordRow>,
}

/// The merge rule, run by the store inside the login transaction for each planned merge:
/// given the source identity, the destination and the source's live datasets, the datasets
/// (with their records) the destination receives; written as they are, replacing any of the
/// same name.
pub type MergeCopier =
    std::sync::Arc<dyn Fn(&str, &str, Vec<DatasetCopy>, i64) -> Vec<DatasetCopy> + Send + Sync>;

/// The login rules, run by the store on a snapshot (again, under the lock, when the plan
/// writes).
pub type LoginDecider = Box<dyn Fn(&LoginSnapshot) -> Result<LoginPlan, Rejection> + Send + Sync>;

/// The rules, run by the store inside its write transaction. A backend that retries a
/// transaction (after a serialization failure) runs them again on the fresh snapshot.
pub type UpdateDecider =
    Box<dyn Fn(&UpdateSnapshot) -> Result<UpdatePlan, Rejection> + Send + Sync>;

/// A mirror's plan over the same snapshot as [`UpdateDecider`]'s; None writes nothing.
pub type MirrorDecider = Box<dyn Fn(&UpdateSnapshot) -> Option<UpdatePlan> + Send + Sync>;

/// One page of ListRecords, read from a single consistent snapshot.
#[derive(Debug, Clone)]
pub struct RecordsPage {
    pub dataset: Option<DatasetRow>,
    pub records: Vec<RecordRow>,
    /// True when more records follow the last one returned.
    pub more: bool,
    /// Live datasets merged into this one (their names).
    pub merged: Vec<String>,
}

/// A pool's Cognito Sync settings, versioned for optimistic concurrency; `version` 0 means
/// never set. A part never set is None.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolSettings {
    pub version: i64,
    pub push_sync: Option<PushSync>,
    pub cognito_streams: Option<CognitoStreams>,
    /// Event type → function (the only type is `SyncTrigger`).
    pub events: BTreeMap<String, String>,
    /// The pool's own quotas, where the operator raised or lowered the server's.
    pub limits: PoolLimits,
}

/// A pool's quotas (AWS lets an account raise them); a quota not set (None) is the server's.
/// Stored as JSON, NULL when none is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasets_per_identity: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_per_dataset: Option<i64>,
    /// Σ UTF-8 bytes of the keys and values of a dataset's live records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_dataset: Option<i64>,
}

impl PoolLimits {
    /// None set: the server's quotas apply.
    pub fn is_unset(&self) -> bool {
        *self == PoolLimits::default()
    }
}

/// Push sync: the SNS platform applications the pool's devices register with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PushSync {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_arns: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// Cognito Streams: the Kinesis stream the pool's changes go to, and whether they do.
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

/// Decides, inside a store transaction serialised with the pool's other writes, what a pool's
/// description becomes given the stored one, or refuses.
pub type PoolDecider = Box<dyn Fn(&PoolRecord) -> Result<PoolRecord, Rejection> + Send + Sync>;

/// Decides, inside a store transaction, what a pool's settings become given the stored ones
/// (version and all); None leaves them as they are.
pub type SettingsDecider = Box<dyn Fn(&PoolSettings) -> Option<PoolSettings> + Send + Sync>;

/// What [`Store::stream_target_gone`](super::Store::stream_target_gone) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TargetGone {
    /// The pool's settings were changed (by the decider).
    pub settings_changed: bool,
    /// Undelivered events dropped.
    pub dropped: u64,
    /// The pool's bulk publish lost events and the rules changed it (failed it).
    pub job_failed: bool,
}

/// Usage figures, as the rules (`sync::rules::usage`) make them of [`DatasetTotals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Live datasets.
    pub dataset_count: i64,
    /// Σ DataStorage of live datasets.
    pub data_storage: i64,
    /// Σ SyncCount over datasets, deleted ones included: one per successful UpdateRecords.
    pub sync_sessions: i64,
    /// The latest LastModifiedDate of a live dataset.
    pub last_modified_ms: Option<i64>,
}

/// Sums over some datasets' rows, from one consistent read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub datasets: i64,
    pub data_storage: i64,
    pub sync_count: i64,
    pub last_modified_ms: Option<i64>,
}

/// The datasets of an identity or a pool, summed apart: live ones and deleted ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DatasetTotals {
    pub live: Totals,
    pub deleted: Totals,
}

/// Position after which a record listing continues: (record SyncCount, key).
pub type RecordCursor = (i64, String);
