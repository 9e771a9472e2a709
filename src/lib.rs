//! cogsync: a self-hosted server that speaks the Amazon Cognito Sync API (2014-06-30) and the
//! Cognito Identity subset needed to create pools and identities.
//!
//! Layers, top-down: [`api`] (HTTP, wire formats, errors) → [`auth`] (SigV4, principals) →
//! [`sync`] / [`identity`] (the rules) → [`store`] (persistence behind a trait).

pub mod admin;
pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod config_file;
pub mod deadline;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod identity;
pub mod integrations;
pub mod lockout;
pub mod metrics;
pub mod migrate;
pub mod private_fs;
pub mod rate;
pub mod server;
pub mod signals;
pub mod store;
pub mod sync;
#[cfg(feature = "test-server")]
pub mod test_server;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod timeutil;
pub mod tls_listener;
pub mod tokens;
pub mod upstream;
pub mod validate;
