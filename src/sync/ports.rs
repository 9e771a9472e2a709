//! The ports of the sync service: what it needs from the world outside cogsync (a Kinesis
//! stream sink, SNS push, a sync-trigger invoker), as traits the service owns with their error
//! types. The adapters in the integrations layer implement them with the AWS SDKs and a
//! webhook client, importing them from here; the service and the tests only see these traits.

use async_trait::async_trait;
use serde_json::Value;

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
