//! Fuzz target: see `cogsync::fuzzing::sync_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cogsync::fuzzing::sync_request(data));
