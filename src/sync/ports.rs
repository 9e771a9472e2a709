//! The ports of the sync service: what it needs from the world outside cogsync (a stream sink
//! for Cognito Streams, push, a sync-trigger invoker, a pool's upstream in upstream mode), as
//! traits the service owns with their error types. The adapters in the integrations layer
//! implement them (with the AWS SDKs, or the direct providers and sinks the operator maps AWS
//! names to), importing them from here; the service and the tests only see these traits.

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

/// One Cognito Streams record to put on a stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamRecord<'a> {
    /// The stream the pool names (`CognitoStreams.StreamName`).
    pub stream: &'a str,
    /// `<identityId>/<datasetName>`.
    pub partition_key: &'a str,
    /// The record, JSON.
    pub data: &'a [u8],
    /// The outbox event's id: the same on every attempt to deliver this record (an idempotency
    /// key for sinks that de-duplicate).
    pub event_id: i64,
}

/// Where stream outbox events go (Kinesis, or the sink the operator maps the stream name to).
#[async_trait]
pub trait StreamSink: Send + Sync {
    async fn put_record(&self, record: StreamRecord<'_>) -> Result<(), StreamError>;
}

/// Why a push could not be sent.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PushError {
    /// Worth retrying later.
    #[error("{0}")]
    Retry(String),
    /// The endpoint (or the token) is disabled, deleted or unregistered: the device gets no
    /// more pushes.
    #[error("endpoint unusable: {0}")]
    Gone(String),
    /// The provider refused this push for good, and not for the device's sake (a payload it
    /// will never take): retrying cannot help, so it is dropped, with an error logged.
    #[error("push refused: {0}")]
    Rejected(String),
}

/// One push straight to a provider (FCM, APNs), for a device of a platform application the
/// operator maps to one.
#[derive(Debug, Clone, Copy)]
pub struct DirectPush<'a> {
    /// The pool's SNS platform application the device registered with.
    pub application_arn: &'a str,
    /// `GCM`, `APNS`, `APNS_SANDBOX`.
    pub platform: &'a str,
    /// The device token.
    pub token: &'a str,
    /// The platform's body, JSON, as the SNS message carries it for the platform.
    pub body: &'a str,
}

/// Push notifications: through SNS platform endpoints, or straight to FCM or APNs for the
/// platform applications the operator maps to them.
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
    /// Whether devices of this platform application are pushed directly (the operator mapped
    /// it to FCM or APNs): registered without SNS, and pushed with [`Self::send_direct`].
    fn direct(&self, _application_arn: &str) -> bool {
        false
    }
    /// Sends a push straight to the provider its application is mapped to.
    async fn send_direct(&self, push: &DirectPush<'_>) -> Result<(), PushError> {
        Err(PushError::Retry(format!(
            "no direct push provider for {}",
            push.application_arn
        )))
    }
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
