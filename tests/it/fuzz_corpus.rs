//! Replays every input kept by the fuzzers (`fuzz/corpus/<target>`: seeds plus what the
//! fuzzers found interesting; `fuzz/regressions/<target>`: inputs that once broke
//! something) through the same entry points the `cargo fuzz` targets use.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

fn replay(target: &str, entry: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    let mut failed = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            if catch_unwind(AssertUnwindSafe(|| entry(&data))).is_err() {
                failed.push(file.display().to_string());
            }
            replayed += 1;
        }
    }
    assert!(
        replayed >= 5,
        "the {target} corpus is missing ({replayed} inputs)"
    );
    assert!(failed.is_empty(), "{target} inputs that fail: {failed:#?}");
}

#[test]
fn sigv4_corpus() {
    replay("sigv4", cogsync::fuzzing::sigv4);
}

#[test]
fn router_corpus() {
    replay("router", cogsync::fuzzing::router);
}

#[test]
fn sync_request_corpus() {
    replay("sync_request", cogsync::fuzzing::sync_request);
}

#[test]
fn identity_request_corpus() {
    replay("identity_request", cogsync::fuzzing::identity_request);
}
