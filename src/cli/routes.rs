//! `cogsync serve`'s route flags: the SNS platform applications pushed straight through FCM or
//! APNs, and the Kinesis stream names whose records go to a webhook or NATS JetStream (see
//! docs/streams-push-triggers.md). Their syntax is [`crate::integrations::routes::spec`]'s;
//! their secrets are files or environment variables, read at start-up.

use std::path::PathBuf;

use crate::integrations::routes::spec::{self, ApnsSpec, FcmSpec, NatsSpec, WebhookSpec};
use crate::integrations::routes::{RouteSpecs, Routes};

#[derive(clap::Args)]
pub struct RouteArgs {
    /// Push a GCM platform application's devices through FCM HTTP v1 instead of SNS, as
    /// ARN=service-account=SECRET (SECRET: the service account's JSON key, a file's path or
    /// env:VARIABLE). Repeatable; the environment takes a comma-separated list.
    #[arg(long = "push-fcm", env = "COGSYNC_PUSH_FCM", value_delimiter = ',', value_parser = spec::fcm)]
    pub push_fcm: Vec<FcmSpec>,
    /// Push an APNS or APNS_SANDBOX platform application's devices through APNs instead of
    /// SNS, as ARN=key=SECRET;key-id=KEY_ID;team-id=TEAM_ID;topic=BUNDLE_ID (SECRET: the .p8
    /// signing key, a file's path or env:VARIABLE). Repeatable.
    #[arg(long = "push-apns", env = "COGSYNC_PUSH_APNS", value_delimiter = ',', value_parser = spec::apns)]
    pub push_apns: Vec<ApnsSpec>,
    /// POST a Kinesis stream's records to a webhook instead, signed (Standard Webhooks), as
    /// STREAM=url=URL;secret=SECRET (SECRET: a whsec_ secret, a file's path or env:VARIABLE).
    /// Repeatable.
    #[arg(long = "stream-webhook", env = "COGSYNC_STREAM_WEBHOOKS", value_delimiter = ',', value_parser = spec::webhook)]
    pub stream_webhooks: Vec<WebhookSpec>,
    /// Publish a Kinesis stream's records to NATS JetStream instead, as
    /// STREAM=url=nats://HOST:PORT with optional ;subject=SUBJECT (default cogsync.STREAM),
    /// ;token=SECRET or ;user=USER;password=SECRET. Repeatable.
    #[arg(long = "stream-nats", env = "COGSYNC_STREAM_NATS", value_delimiter = ',', value_parser = spec::nats)]
    pub stream_nats: Vec<NatsSpec>,
    /// PEM certificates that FCM, APNs and stream webhooks may present besides those the
    /// system trusts (a private mirror's or proxy's CA).
    #[arg(long, env = "COGSYNC_DELIVERY_CA_FILE")]
    pub delivery_ca_file: Option<PathBuf>,
}

impl RouteArgs {
    /// The routes, their secrets read; why not (never showing a secret).
    pub fn routes(&self) -> Result<Routes, String> {
        Routes::resolve(&RouteSpecs {
            fcm: &self.push_fcm,
            apns: &self.push_apns,
            webhooks: &self.stream_webhooks,
            nats: &self.stream_nats,
            ca_file: self.delivery_ca_file.as_deref(),
        })
    }
}
