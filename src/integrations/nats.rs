//! A stream sink that publishes each Cognito Streams record (the JSON Kinesis would get) to
//! NATS JetStream with the official `async-nats` client, and waits for the stream's
//! acknowledgement. The subject is the route's (`cogsync.<stream>` unless the operator names
//! another); the partition key (`<identityId>/<datasetName>`, which may hold `.`, NATS's token
//! separator) travels in the `Cogsync-Partition-Key` header. `Nats-Msg-Id` is
//! `cogsync-<outbox event id>`, the same on every attempt, so the server's de-duplication
//! window makes a redelivery harmless (an ack marked duplicate is a delivery).
//!
//! The connection is made on first use and kept (the client reconnects by itself). "No
//! stream for the subject" turns Cognito Streams off for the pool, as a deleted Kinesis stream
//! does, only once JetStream itself confirms it lists no stream for the subject; a JetStream
//! that is down or electing a leader is retried.

use std::time::Duration;

use async_nats::jetstream::context::{GetStreamByNameErrorKind, PublishErrorKind};
use async_nats::jetstream::{self, Context};
use async_trait::async_trait;
use tokio::sync::OnceCell;

use super::routes::{NatsAuth, NatsRoute};
use crate::sync::ports::{StreamError, StreamRecord, StreamSink};

/// Time to connect, and to wait for an acknowledgement.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct NatsSink {
    route: NatsRoute,
    js: OnceCell<Context>,
}

impl NatsSink {
    pub fn new(route: &NatsRoute) -> NatsSink {
        NatsSink {
            route: route.clone(),
            js: OnceCell::new(),
        }
    }

    /// The JetStream context, connecting the first time (and again after a failed first time).
    async fn context(&self) -> Result<&Context, StreamError> {
        self.js
            .get_or_try_init(|| async {
                let mut options = async_nats::ConnectOptions::new()
                    .name("cogsync")
                    .connection_timeout(TIMEOUT);
                options = match &self.route.auth {
                    NatsAuth::None => options,
                    NatsAuth::Token(token) => options.token(token.expose().to_owned()),
                    NatsAuth::UserPassword { user, password } => {
                        options.user_and_password(user.clone(), password.expose().to_owned())
                    }
                };
                let client = options
                    .connect(self.route.url.as_str())
                    .await
                    .map_err(|e| StreamError::Retry(format!("cannot connect to NATS: {e}")))?;
                let mut js = jetstream::new(client);
                js.set_timeout(TIMEOUT);
                Ok(js)
            })
            .await
    }

    /// After "no stream for the subject": NotFound if JetStream lists none for it, else Retry.
    async fn confirm_missing(&self, js: &Context, publish_error: String) -> StreamError {
        match js.stream_by_subject(self.route.subject.as_str()).await {
            Err(e) if e.kind() == GetStreamByNameErrorKind::NotFound => {
                StreamError::NotFound(format!(
                    "no JetStream stream takes the subject {}",
                    self.route.subject
                ))
            }
            Ok(stream) => StreamError::Retry(format!(
                "{publish_error} (yet the JetStream stream {stream} takes the subject)"
            )),
            Err(e) => {
                StreamError::Retry(format!("{publish_error} (and JetStream cannot say: {e})"))
            }
        }
    }
}

/// Whether a publish error is worth another attempt as it is (else: confirm a missing stream).
pub fn missing_stream(kind: &PublishErrorKind) -> bool {
    matches!(kind, PublishErrorKind::StreamNotFound)
}

#[async_trait]
impl StreamSink for NatsSink {
    async fn put_record(&self, record: StreamRecord<'_>) -> Result<(), StreamError> {
        let js = self.context().await?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("cogsync-{}", record.event_id).as_str(),
        );
        headers.insert("Cogsync-Partition-Key", record.partition_key);
        let subject = self.route.subject.clone();
        let published = async {
            js.publish_with_headers(subject, headers, record.data.to_vec().into())
                .await?
                .await
        };
        match published.await {
            Ok(_ack) => Ok(()),
            Err(e) if missing_stream(&e.kind()) => {
                Err(self.confirm_missing(js, e.to_string()).await)
            }
            Err(e) => Err(StreamError::Retry(format!("NATS JetStream: {e}"))),
        }
    }
}
