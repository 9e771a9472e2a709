//! End-to-end tests: the real server on 127.0.0.1:0, driven by the official AWS SDK crates and
//! by raw SigV4-signed requests for what SDKs do not send. One binary, many modules, so the
//! SDKs are linked once.

#[macro_use]
mod common;

mod admin;
mod auth;
mod bench_smoke;
mod body_hash;
mod config_file;
mod console;
mod container;
mod crash;
mod data_dir_lock;
mod descriptors;
mod docs_examples;
mod export_paths;
mod fake_apns;
mod fake_fcm;
mod fake_idp;
mod fake_webhook;
mod fuzz_corpus;
mod hardening;
mod identity_api;
mod identity_credentials;
mod kinesis_support;
mod login_race;
mod logins;
mod malformed;
mod migrate;
mod multi_node;
mod nats_support;
mod off_aws;
mod openid_tokens;
mod overload;
mod pg_connection_loss;
mod pg_faults;
mod pg_round_trips;
mod pg_tls;
mod pki;
mod pool_admin;
mod process;
mod provider_logins;
mod push;
mod push_apns;
mod push_fcm;
mod raw_requests;
mod restart;
mod routes_support;
mod secrets;
mod signals;
mod store_busy;
mod streams;
mod streams_nats;
mod streams_webhook;
mod sync_flow;
mod sync_limits;
mod sync_quotas;
mod sync_race;
mod sync_validation;
mod test_server;
mod throttling;
mod tls;
mod triggers;
mod upstream;
mod upstream_detach;
