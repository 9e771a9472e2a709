//! The server's push and stream sink: SNS and Kinesis, but for the platform applications and
//! streams the operator routes to FCM, APNs, a webhook or NATS JetStream
//! ([`crate::integrations::routes`]).

use std::sync::Arc;
use std::time::Duration;

use super::StartError;
use crate::config::ServerConfig;
use crate::integrations::push_router::{self, PushRouter};
use crate::integrations::stream_router::StreamRouter;
use crate::integrations::{kinesis::KinesisSink, outbound, sns::SnsPush, webhook};
use crate::sync::ports::{PushService, StreamSink};

/// How long one direct push (FCM, APNs) may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Deliveries {
    pub push: Arc<dyn PushService>,
    pub streams: Arc<dyn StreamSink>,
}

pub fn build(config: &ServerConfig) -> Result<Deliveries, StartError> {
    let extra_roots = config.routes.extra_roots_pem.as_deref();
    let client = |timeout, http2_only| {
        outbound::delivery_client(timeout, extra_roots, http2_only).map_err(StartError::Routes)
    };
    let clients = push_router::Clients {
        fcm: client(PUSH_TIMEOUT, false)?,
        apns: client(PUSH_TIMEOUT, true)?,
    };
    let sns: Arc<dyn PushService> = Arc::new(SnsPush::new(&config.aws));
    let push = PushRouter::new(sns, &config.routes, &config.providers.urls, &clients);
    let kinesis: Arc<dyn StreamSink> = Arc::new(KinesisSink::new(&config.aws));
    let webhooks = client(webhook::TIMEOUT, false)?;
    let streams = StreamRouter::new(kinesis, &config.routes, &webhooks);
    Ok(Deliveries {
        push: Arc::new(push),
        streams: Arc::new(streams),
    })
}
