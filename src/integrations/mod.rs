//! Side effects that leave cogsync after commit: Kinesis (Cognito Streams), SNS push and sync
//! triggers (Lambda or a webhook). Each adapter implements a port the sync service owns
//! ([`crate::sync::ports`]); the outbox [`dispatcher`] drives the Kinesis and SNS ones.

pub mod aws;
pub mod dispatcher;
pub mod kinesis;
pub mod sns;
pub mod trigger_invoker;

#[cfg(test)]
mod stream_race_tests;
