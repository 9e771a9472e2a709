//! cogsync's calls to the world outside: Kinesis (Cognito Streams), SNS push and sync triggers
//! (Lambda or a webhook), which leave after commit, and the identity providers that check
//! logins ([`logins`]). Each adapter implements a port a service owns ([`crate::sync::ports`],
//! [`crate::identity::ports`]); the outbox [`dispatcher`] drives the Kinesis and SNS ones.

pub mod aws;
pub mod dispatcher;
pub mod kinesis;
pub mod logins;
pub mod outbound;
pub mod sns;
pub mod trigger_invoker;
pub mod upstream;

#[cfg(test)]
mod stream_race_tests;
