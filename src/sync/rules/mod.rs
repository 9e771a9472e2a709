//! The Cognito Sync rules, as pure functions: no I/O, unit-tested without a database. The
//! service (the rest of `sync/`) does the I/O and hands these to the store as deciders.

pub mod bulk;
pub mod mirror;
pub mod push;
pub mod push_events;
pub mod quotas;
pub mod settings;
pub mod streams;
pub mod trigger;
mod update;
mod usage;

pub use quotas::Limits;
pub use update::*;
pub use usage::usage;
