//! Where `cogsync export --output` may write: a new file private from its first byte, an
//! existing file or a symbolic link only with --force, a device or FIFO as it is — and never a
//! changed mode on anything cogsync did not create (an export to /dev/null once made the
//! machine's /dev/null unusable for every other user).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

fn export(data: &Path, output: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cogsync"))
        .args(["export", "--data-dir"])
        .arg(data)
        .arg("--output")
        .arg(output)
        .args(extra)
        .output()
        .unwrap()
}

/// A data directory with an empty store in it.
fn store_in(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    drop(cogsync::store::sqlite::SqliteStore::open(&data).unwrap());
    data
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_new_export_file_is_private_and_an_existing_one_is_not_overwritten_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let data = store_in(dir.path());
    let out = dir.path().join("store.export");
    assert!(export(&data, &out, &[]).status.success());
    assert_eq!(mode(&out), 0o600);
    let first = std::fs::read(&out).unwrap();
    assert!(first.starts_with(br#"{"format":"cogsync-export""#));

    // An existing file (someone's, readable by others): refused, left exactly as it was.
    let theirs = dir.path().join("theirs.txt");
    std::fs::write(&theirs, "not an export").unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = export(&data, &theirs, &[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "not an export");
    assert_eq!(mode(&theirs), 0o644);
    // With --force: overwritten, its mode kept, and a warning that others can read it.
    let forced = export(&data, &theirs, &["--force"]);
    assert!(forced.status.success());
    assert!(String::from_utf8_lossy(&forced.stderr).contains("readable by other users"));
    assert_eq!(mode(&theirs), 0o644);
    assert_eq!(std::fs::read(&theirs).unwrap(), first);

    // Through a symbolic link: refused, the target untouched.
    let link = dir.path().join("link.export");
    std::os::unix::fs::symlink(&theirs, &link).unwrap();
    std::fs::write(&theirs, "target").unwrap();
    assert!(!export(&data, &link, &[]).status.success());
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "target");
    assert_eq!(mode(&theirs), 0o644);
}

#[test]
fn an_export_to_a_device_node_leaves_its_mode_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("null");
    // A device node of our own, like /dev/null (major 1, minor 3): making one needs root.
    let made = Command::new("mknod")
        .arg(&node)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        eprintln!(
            "SKIPPED export_paths::an_export_to_a_device_node_leaves_its_mode_as_it_was: mknod needs root"
        );
        return;
    }
    std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o666)).unwrap();
    let data = store_in(dir.path());
    let out = export(&data, &node, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = std::fs::metadata(&node).unwrap();
    assert!(meta.file_type().is_char_device());
    assert_eq!(mode(&node), 0o666, "crw-rw-rw- before, crw-rw-rw- after");
    // And the machine's own /dev/null, which any command may be pointed at.
    let before = mode(Path::new("/dev/null"));
    assert!(
        export(&dir.path().join("data"), Path::new("/dev/null"), &[])
            .status
            .success()
    );
    assert_eq!(mode(Path::new("/dev/null")), before);
}
