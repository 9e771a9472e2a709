//! Side effects that leave cogsync after commit: Kinesis (Cognito Streams) now, SNS and
//! Lambda later. Every one is fed by the transactional outbox through the [`dispatcher`].

pub mod aws;
pub mod dispatcher;
pub mod kinesis;
pub mod sns;
pub mod trigger;

use async_trait::async_trait;

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
