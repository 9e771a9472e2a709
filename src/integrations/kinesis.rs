//! Kinesis delivery with the official `aws-sdk-kinesis` crate. Kinesis's
//! `ResourceNotFoundException` (the stream was deleted) is told apart from failures worth
//! retrying.

use async_trait::async_trait;
use aws_sdk_kinesis::primitives::Blob;

use super::aws::{http_client, AwsSettings};
use crate::sync::ports::{StreamError, StreamRecord, StreamSink};

pub struct KinesisSink {
    client: aws_sdk_kinesis::Client,
}

impl KinesisSink {
    pub fn new(settings: &AwsSettings) -> Self {
        let mut b = aws_sdk_kinesis::Config::builder()
            .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
            .region(aws_sdk_kinesis::config::Region::new(
                settings.region.clone(),
            ))
            .http_client(http_client());
        if let Some(url) = settings
            .kinesis_endpoint
            .as_ref()
            .or(settings.endpoint.as_ref())
        {
            b = b.endpoint_url(url);
        }
        if let Some(c) = &settings.credentials {
            b = b.credentials_provider(c.clone());
        }
        KinesisSink {
            client: aws_sdk_kinesis::Client::from_conf(b.build()),
        }
    }
}

#[async_trait]
impl StreamSink for KinesisSink {
    async fn put_record(&self, record: StreamRecord<'_>) -> Result<(), StreamError> {
        self.client
            .put_record()
            .stream_name(record.stream)
            .partition_key(record.partition_key)
            .data(Blob::new(record.data))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let text = aws_sdk_kinesis::error::DisplayErrorContext(&e).to_string();
                // Only the service's own "no such stream" means deleted; an unreachable or
                // failing Kinesis is retried.
                match e.as_service_error() {
                    Some(err) if err.is_resource_not_found_exception() => {
                        StreamError::NotFound(text)
                    }
                    _ => StreamError::Retry(text),
                }
            })
    }
}
