//! A stream sink that POSTs each Cognito Streams record (the JSON Kinesis would get) to the
//! operator's URL, signed as Standard Webhooks 1.0 says ([`signature`]): `webhook-id` is
//! `cogsync_<outbox event id>`, the same on every attempt, so a receiver de-duplicates
//! redeliveries; `webhook-timestamp` is the attempt's. A 2xx answer is delivered; 410 means
//! the endpoint is gone for good, as a deleted Kinesis stream is (Cognito Streams turns off
//! for the pool); anything else, a redirect included (none is followed), is retried.

pub mod signature;

use std::time::Duration;

use async_trait::async_trait;

use super::outbound;
use super::routes::WebhookRoute;
use crate::sync::ports::{StreamError, StreamRecord, StreamSink};
use signature::WebhookKey;

/// How long one POST may take (Standard Webhooks suggests 15 to 30 seconds; the outbox's
/// lease is 30).
pub const TIMEOUT: Duration = Duration::from_secs(15);

pub struct WebhookSink {
    url: String,
    key: WebhookKey,
    http: reqwest::Client,
}

impl WebhookSink {
    pub fn new(route: &WebhookRoute, http: reqwest::Client) -> WebhookSink {
        WebhookSink {
            url: route.url.clone(),
            key: route.key.clone(),
            http,
        }
    }
}

/// The `webhook-id` of an outbox event.
pub fn message_id(event_id: i64) -> String {
    format!("cogsync_{event_id}")
}

/// What the endpoint's answer means.
pub fn outcome(status: u16) -> Result<(), StreamError> {
    match status {
        200..=299 => Ok(()),
        410 => Err(StreamError::NotFound(
            "the webhook answered 410 Gone".into(),
        )),
        other => Err(StreamError::Retry(format!("the webhook answered {other}"))),
    }
}

#[async_trait]
impl StreamSink for WebhookSink {
    async fn put_record(&self, record: StreamRecord<'_>) -> Result<(), StreamError> {
        let id = message_id(record.event_id);
        let timestamp = crate::timeutil::now_ms() / 1000;
        let request = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature::sign(&self.key, &id, timestamp, record.data),
            )
            .header("cogsync-stream", record.stream)
            .header("cogsync-partition-key", record.partition_key)
            .body(record.data.to_vec());
        let answer = outbound::fetch(request)
            .await
            .map_err(|e| StreamError::Retry(format!("webhook for {}: {e}", record.stream)))?;
        outcome(answer.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_2xx_is_delivered_and_410_is_gone() {
        assert!(outcome(200).is_ok() && outcome(204).is_ok());
        assert!(matches!(outcome(410), Err(StreamError::NotFound(_))));
        for status in [301, 302, 400, 404, 429, 500, 503] {
            assert!(
                matches!(outcome(status), Err(StreamError::Retry(_))),
                "{status}"
            );
        }
        assert_eq!(message_id(42), "cogsync_42");
    }
}
