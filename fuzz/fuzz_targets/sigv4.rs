//! Fuzz target: see `cogsync::fuzzing::sigv4`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cogsync::fuzzing::sigv4(data));
