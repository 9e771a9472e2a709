//! One process per SQLite data directory. The engine keeps identities and settings in memory
//! on the assumption that it is the database's only writer; a second process writing the same
//! file would break that (a server answered 500 after another deleted an identity under it).
//! So every process that opens a data directory to write (`serve`, `import`) holds an
//! exclusive lock on `cogsync.lock` in it for as long as it runs; the kernel releases it when
//! the process ends, however it ends. A second one is refused at once, told which process
//! holds the directory. (`export` opens the database read-only, without the lock: SQLite's
//! write-ahead log lets it read while a server writes.)

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

use crate::store::{StoreError, StoreResult};

pub const FILE_NAME: &str = "cogsync.lock";

/// The lock, held until dropped.
pub struct DirLock {
    _file: File,
}

/// Takes the data directory's lock, or says who holds it.
pub fn lock(dir: &Path) -> StoreResult<DirLock> {
    let path = dir.join(FILE_NAME);
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
    if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = match holder.trim() {
            "" => "another process".to_owned(),
            pid => format!("process {pid}"),
        };
        return Err(StoreError::Backend(format!(
            "the data directory {} is in use by another cogsync ({holder}). One process at a time \
             may write an embedded store: stop that one first (or give this command another \
             --data-dir). `cogsync export` can read it while it runs.",
            dir.display()
        )));
    }
    // Ours now: say who holds it, for the next one to be told.
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the lock holder's pid");
    }
    Ok(DirLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path()).unwrap();
        // flock locks belong to the open file: a second open, even in this process, is refused.
        let refused = lock(dir.path()).err().unwrap().to_string();
        assert!(
            refused.contains(&format!("process {}", std::process::id())),
            "{refused}"
        );
        assert!(refused.contains("in use by another cogsync"), "{refused}");
        drop(first);
        lock(dir.path()).unwrap();
    }
}
