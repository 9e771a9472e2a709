//! Side effects that leave cogsync after commit: Kinesis (Cognito Streams) now, SNS and
//! Lambda later. Every one is fed by the transactional outbox through the [`dispatcher`].

pub mod aws;
pub mod dispatcher;
pub mod kinesis;

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
