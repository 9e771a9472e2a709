//! Where a stream's records go: the sink the operator routes the stream's name to (a webhook,
//! NATS JetStream), else Kinesis. Looked up at delivery, so events written before a route
//! changed follow the route as it is now.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::nats::NatsSink;
use super::routes::{Routes, StreamRoute};
use super::webhook::WebhookSink;
use crate::sync::ports::{StreamError, StreamRecord, StreamSink};

pub struct StreamRouter {
    kinesis: Arc<dyn StreamSink>,
    routed: HashMap<String, Arc<dyn StreamSink>>,
}

impl StreamRouter {
    /// `kinesis` for the streams `routes` leaves alone; `webhook_http` the webhooks' client.
    pub fn new(
        kinesis: Arc<dyn StreamSink>,
        routes: &Routes,
        webhook_http: &reqwest::Client,
    ) -> StreamRouter {
        let routed = routes
            .streams
            .iter()
            .map(|(stream, route)| {
                let sink: Arc<dyn StreamSink> = match route {
                    StreamRoute::Webhook(w) => Arc::new(WebhookSink::new(w, webhook_http.clone())),
                    StreamRoute::Nats(n) => Arc::new(NatsSink::new(n)),
                };
                (stream.clone(), sink)
            })
            .collect();
        StreamRouter { kinesis, routed }
    }
}

#[async_trait]
impl StreamSink for StreamRouter {
    async fn put_record(&self, record: StreamRecord<'_>) -> Result<(), StreamError> {
        match self.routed.get(record.stream) {
            Some(sink) => sink.put_record(record).await,
            None => self.kinesis.put_record(record).await,
        }
    }
}
