//! The ports of the sync service: what it needs from the world outside cogsync (a Kinesis
//! stream sink, SNS push, a sync-trigger invoker, a pool's upstream in upstream mode), as
//! traits the service owns with their error types. The adapters in the integrations layer implement them with the AWS SDKs and a
//! webhook client, importing them from here; the service and the tests only see these traits.

use async_trait::async_trait;
use serde_json::Value;

use super::{DatasetRef, Patch};
use crate::upstream::{Signer, UpstreamResult};

/// A call to an integration failed (e.g. an SNS endpoint could not be created).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

/// Why a stream record could not be put.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StreamError {
    /// Worth retrying later: the stream is unreachable, throttled or failing.
    #[error("{0}")]
    Retry(String),
    /// The service answered that the stream does not exist: it was deleted, which turns
    /// Cognito Streams off for the pools that publish to it.
    #[error("stream not found: {0}")]
    NotFound(String),
}

/// Where Kinesis outbox events go.
#[async_trait]
pub trait StreamSink: Send + Sync {
    async fn put_record(
        &self,
        stream: &str,
        partition_key: &str,
        data: Vec<u8>,
    ) -> Result<(), StreamError>;
}

/// Why a push could not be sent.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PushError {
    /// Worth retrying later.
    #[error("{0}")]
    Retry(String),
    /// The endpoint is disabled or deleted: the device gets no more pushes.
    #[error("endpoint unusable: {0}")]
    Gone(String),
}

/// Push notifications through SNS platform endpoints.
#[async_trait]
pub trait PushService: Send + Sync {
    /// Creates (or finds, for the same token) the platform endpoint for a device token.
    async fn create_endpoint(
        &self,
        application_arn: &str,
        token: &str,
        user_data: &str,
    ) -> Result<String, DeliveryError>;
    /// Publishes a `MessageStructure=json` message to an endpoint.
    async fn publish(&self, endpoint_arn: &str, message: &str) -> Result<(), PushError>;
}

/// Why a sync trigger gave no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TriggerError {
    /// Lambda throttled the call, or the webhook answered 429.
    #[error("{0}")]
    Throttled(String),
    /// The function raised an error, could not be invoked, or the webhook answered non-2xx.
    #[error("{0}")]
    FunctionError(String),
    /// No answer within the trigger's time limit (five seconds, as on AWS).
    #[error("{0}")]
    Timeout(String),
    /// The answer is not JSON.
    #[error("{0}")]
    BadOutput(String),
    /// The target could not be reached at all.
    #[error("{0}")]
    Unreachable(String),
}

/// Runs the sync trigger configured for a pool.
#[async_trait]
pub trait TriggerInvoker: Send + Sync {
    /// Sends the event to `target` (a Lambda function name or ARN, or a URL) and returns its
    /// JSON answer.
    async fn invoke(&self, target: &str, event: &Value) -> Result<Value, TriggerError>;
}

/// A ListRecords answer of the upstream (upstream mode).
#[derive(Debug, Clone, Default)]
pub struct UpstreamRecords {
    pub records: Vec<crate::store::RecordRow>,
    pub next_token: Option<String>,
    pub dataset_sync_count: i64,
    pub last_modified_by: Option<String>,
    pub dataset_exists: bool,
    pub deleted_after_requested_sync_count: bool,
    pub merged_dataset_names: Vec<String>,
    pub sync_session_token: String,
}

/// What ListRecords asks the upstream.
#[derive(Debug, Clone, Default)]
pub struct UpstreamListing<'a> {
    pub last_sync_count: Option<i64>,
    pub next_token: Option<&'a str>,
    pub max_results: Option<i64>,
}

/// The Cognito Sync calls forwarded to a pool's upstream while the pool is attached (see
/// [`crate::upstream`]), signed as `signer`. Its answers are what the device gets.
#[async_trait]
pub trait UpstreamSync: Send + Sync {
    async fn list_records(
        &self,
        signer: &Signer,
        r: &DatasetRef,
        listing: UpstreamListing<'_>,
    ) -> UpstreamResult<UpstreamRecords>;
    /// The records as written (their new SyncCount).
    async fn update_records(
        &self,
        signer: &Signer,
        r: &DatasetRef,
        device_id: Option<&str>,
        sync_session_token: &str,
        patches: &[Patch],
    ) -> UpstreamResult<Vec<crate::store::RecordRow>>;
    /// A page of datasets (their SyncCounts are not in the answer: 0) and the next token.
    async fn list_datasets(
        &self,
        signer: &Signer,
        pool_id: &str,
        identity_id: &str,
        next_token: Option<&str>,
        max_results: Option<i64>,
    ) -> UpstreamResult<(Vec<crate::store::DatasetRow>, Option<String>)>;
    async fn describe_dataset(
        &self,
        signer: &Signer,
        r: &DatasetRef,
    ) -> UpstreamResult<crate::store::DatasetRow>;
    async fn delete_dataset(
        &self,
        signer: &Signer,
        r: &DatasetRef,
    ) -> UpstreamResult<crate::store::DatasetRow>;
    async fn identity_usage(
        &self,
        signer: &Signer,
        pool_id: &str,
        identity_id: &str,
    ) -> UpstreamResult<crate::store::Usage>;
    /// The upstream's device id.
    async fn register_device(
        &self,
        signer: &Signer,
        pool_id: &str,
        identity_id: &str,
        platform: &str,
        token: &str,
    ) -> UpstreamResult<String>;
    async fn subscription(
        &self,
        signer: &Signer,
        r: &DatasetRef,
        device_id: &str,
        subscribe: bool,
    ) -> UpstreamResult<()>;
}
