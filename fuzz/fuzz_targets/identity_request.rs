//! Fuzz target: see `cogsync::fuzzing::identity_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cogsync::fuzzing::identity_request(data));
