//! Fuzz target: see `cogsync::fuzzing::router`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cogsync::fuzzing::router(data));
