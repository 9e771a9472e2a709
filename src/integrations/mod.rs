//! Side effects that leave cogsync after commit: Kinesis (Cognito Streams) now, SNS and
//! Lambda later. Every one is fed by the transactional outbox through the [`dispatcher`].

pub mod aws;
pub mod dispatcher;
pub mod kinesis;
pub mod sns;
pub mod trigger;

use async_trait::async_trait;

/// A delivery failure; the dispatcher retries with backoff.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

/// Where Kinesis outbox events go.
#[async_trait]
pub trait StreamSink: Send + Sync {
    async fn put_record(
        &self,
        stream: &str,
        partition_key: &str,
        data: Vec<u8>,
    ) -> Result<(), DeliveryError>;
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
