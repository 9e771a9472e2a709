//! cogsync's calls to the world outside: Cognito Streams (Kinesis, or the webhook or NATS
//! JetStream the operator routes a stream to), push (SNS, or FCM and APNs directly) and sync
//! triggers (Lambda or a webhook), which leave after commit, and the identity providers that
//! check logins ([`logins`]). Each adapter implements a port a service owns
//! ([`crate::sync::ports`], [`crate::identity::ports`]); the outbox [`dispatcher`] drives the
//! stream and push ones, through [`stream_router`] and [`push_router`], which follow the
//! operator's [`routes`].

pub mod apns;
pub mod aws;
pub mod dispatcher;
pub mod fcm;
pub mod kinesis;
pub mod logins;
pub mod nats;
pub mod outbound;
pub mod push_router;
pub mod routes;
pub mod sns;
pub mod stream_router;
pub mod trigger_invoker;
pub mod upstream;
pub mod webhook;

#[cfg(test)]
mod stream_race_tests;
