//! Files and directories only the server's own user may read: the data directory holds the
//! developer secret and the database with the token-signing key; an export holds every secret.
//!
//! cogsync never changes the mode or owner of a path it did not create: a new file is created
//! with mode 0600 from its first byte (`O_CREAT | O_EXCL`); an existing path is written as it
//! is, or refused (see [`open_for_export`]).

use std::path::Path;

/// Creates `dir` (and missing parents) with mode 0700 on Unix. An existing directory is left
/// as it is, with a warning when other users can read it.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        warn_if_shared(dir);
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates an empty file with mode 0600 on Unix unless it exists (SQLite then gives its
/// `-wal` and `-shm` companions the same mode).
pub fn touch_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Where [`open_for_export`] writes, and what the caller should tell the user about it.
pub struct ExportFile {
    pub file: std::fs::File,
    /// A warning to print (an existing file others can read), if any.
    pub warning: Option<String>,
}

/// Why [`open_for_export`] refused a path.
#[derive(Debug, thiserror::Error)]
pub enum ExportPathError {
    #[error("{0} exists; give --force to overwrite it (its mode is kept)")]
    Exists(String),
    #[error("{0} is a symbolic link; give --force to write where it points")]
    Symlink(String),
    #[error("{0} is a directory")]
    Directory(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Opens `path` to write an export to, by these rules (no mode is ever changed):
/// - absent: created with mode 0600, exclusively, never through a symlink;
/// - a character device or a FIFO (`/dev/null`, `/dev/stdout`, a pipe): written to as it is;
/// - a regular file: refused unless `force`; then truncated, its mode kept, with a warning if
///   other users can read it;
/// - a symbolic link: refused unless `force`; then the same rules for what it points to.
pub fn open_for_export(path: &Path, force: bool) -> Result<ExportFile, ExportPathError> {
    use std::fs::OpenOptions;
    #[cfg(unix)]
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
    let shown = path.display().to_string();
    let io = |e: std::io::Error| ExportPathError::Io(shown.clone(), e);
    let found = match std::fs::symlink_metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let Some(meta) = found else {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
        return options
            .open(path)
            .map(|file| ExportFile {
                file,
                warning: None,
            })
            .map_err(io);
    };
    let kind = meta.file_type();
    if kind.is_symlink() && !force {
        return Err(ExportPathError::Symlink(shown));
    }
    // What the path is, through the link when `force` allows following it.
    let target = if kind.is_symlink() {
        std::fs::metadata(path).map_err(io)?
    } else {
        meta
    };
    if target.is_dir() {
        return Err(ExportPathError::Directory(shown));
    }
    #[cfg(unix)]
    {
        let t = target.file_type();
        if t.is_char_device() || t.is_fifo() {
            let file = OpenOptions::new().write(true).open(path).map_err(io)?;
            return Ok(ExportFile {
                file,
                warning: None,
            });
        }
    }
    if !force {
        return Err(ExportPathError::Exists(shown));
    }
    let file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(io)?;
    #[cfg(unix)]
    let warning = (target.permissions().mode() & 0o077 != 0).then(|| {
        format!(
            "{shown} is readable by other users (mode {:o}) and now holds every secret of the store; \
             its mode was left as it is",
            target.permissions().mode() & 0o777
        )
    });
    #[cfg(not(unix))]
    let warning = None;
    Ok(ExportFile { file, warning })
}

fn warn_if_shared(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(dir) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    dir = %dir.display(),
                    "the data directory is readable by other users; it holds secrets (chmod 700 it)"
                );
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_export_creates_a_private_file_and_changes_no_existing_ones_mode() {
        let root = tempfile::tempdir().unwrap();
        let new = root.path().join("new.export");
        let mut f = open_for_export(&new, false).unwrap();
        assert!(f.warning.is_none());
        f.file.write_all(b"x").unwrap();
        assert_eq!(mode(&new), 0o600);

        let shared = root.path().join("shared.export");
        std::fs::write(&shared, "keep me").unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            open_for_export(&shared, false),
            Err(ExportPathError::Exists(_))
        ));
        assert_eq!(std::fs::read_to_string(&shared).unwrap(), "keep me");
        let forced = open_for_export(&shared, true).unwrap();
        assert!(forced.warning.unwrap().contains("readable by other users"));
        assert_eq!(mode(&shared), 0o644, "the mode is the owner's business");
        assert_eq!(std::fs::read_to_string(&shared).unwrap(), "");

        let link = root.path().join("link.export");
        let target = root.path().join("target");
        std::fs::write(&target, "target").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            open_for_export(&link, false),
            Err(ExportPathError::Symlink(_))
        ));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "target");
        assert_eq!(mode(&target), 0o640);
        // A dangling link is refused too, not followed to create its target.
        let dangling = root.path().join("dangling");
        std::os::unix::fs::symlink(root.path().join("nowhere"), &dangling).unwrap();
        assert!(open_for_export(&dangling, false).is_err());
        assert!(!root.path().join("nowhere").exists());

        assert!(matches!(
            open_for_export(root.path(), true),
            Err(ExportPathError::Directory(_))
        ));
        // /dev/null is written to as it is.
        let before = mode(Path::new("/dev/null"));
        open_for_export(Path::new("/dev/null"), false).unwrap();
        assert_eq!(mode(Path::new("/dev/null")), before);
    }

    #[test]
    fn new_directories_and_files_are_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let file = dir.join("db");
        touch_private_file(&file).unwrap();
        touch_private_file(&file).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
