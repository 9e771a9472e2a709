//! Developer credentials: from `COGSYNC_ACCESS_KEY_ID` / `COGSYNC_SECRET_ACCESS_KEY`, or
//! generated on first start and kept in the data directory (mode 0600), or, on a shared
//! PostgreSQL database, in the database so every node has the same pair.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::store::Store;

pub const ACCESS_KEY_ENV: &str = "COGSYNC_ACCESS_KEY_ID";
pub const SECRET_KEY_ENV: &str = "COGSYNC_SECRET_ACCESS_KEY";
const FILE_NAME: &str = "developer-credentials.json";
/// The shortest developer secret accepted from the environment or a file: the secret is all
/// that stands between the internet and every pool (generated ones have 40 characters, as
/// AWS's do).
pub const MIN_SECRET_CHARS: usize = 16;
const STORE_SECRET_NAME: &str = "developer-credentials";

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeveloperCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for DeveloperCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeveloperCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Where the credentials in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    Environment,
    Stored,
    /// Generated just now; the caller prints them once.
    Generated,
}

fn random_string(alphabet: &[u8], len: usize) -> std::io::Result<String> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect())
}

impl DeveloperCredentials {
    /// A fresh random pair shaped like AWS keys.
    pub fn generate() -> std::io::Result<Self> {
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        Ok(DeveloperCredentials {
            access_key_id: format!("AKCS{}", random_string(UPPER, 16)?),
            secret_access_key: random_string(SECRET, 40)?,
        })
    }

    fn from_env() -> std::io::Result<Option<Self>> {
        let id = std::env::var(ACCESS_KEY_ENV).ok().filter(|v| !v.is_empty());
        let secret = std::env::var(SECRET_KEY_ENV).ok().filter(|v| !v.is_empty());
        let (Some(id), Some(secret)) = (id, secret) else {
            return Ok(None);
        };
        let creds = DeveloperCredentials {
            access_key_id: id,
            secret_access_key: secret,
        };
        creds.strong_enough(SECRET_KEY_ENV)?;
        Ok(Some(creds))
    }

    /// Refuses a secret short enough to guess; `from` says where it was read.
    fn strong_enough(&self, from: &str) -> std::io::Result<()> {
        let chars = self.secret_access_key.chars().count();
        if chars >= MIN_SECRET_CHARS {
            return Ok(());
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "the developer secret in {from} has {chars} characters; at least {MIN_SECRET_CHARS} are required, \
                 because it alone lets anyone on the network administer every pool (unset it to have a 40-character one generated)"
            ),
        ))
    }

    /// For a shared database: the environment first, else the pair kept in the database
    /// (the first node to start generates it), so every node accepts the same credentials.
    pub async fn resolve_shared(store: &dyn Store) -> std::io::Result<(Self, CredentialSource)> {
        if let Some(creds) = Self::from_env()? {
            return Ok((creds, CredentialSource::Environment));
        }
        let fresh = Self::generate()?;
        let stored = store
            .secret(STORE_SECRET_NAME, serde_json::to_vec(&fresh)?)
            .await
            .map_err(std::io::Error::other)?;
        let creds: Self = serde_json::from_slice(&stored)?;
        let source = if creds == fresh {
            CredentialSource::Generated
        } else {
            CredentialSource::Stored
        };
        Ok((creds, source))
    }

    /// Environment first, then the stored file; None when neither has a pair (nothing is
    /// generated: for a tool talking to a running server).
    pub fn existing(data_dir: &Path) -> std::io::Result<Option<Self>> {
        if let Some(creds) = Self::from_env()? {
            return Ok(Some(creds));
        }
        match std::fs::read(data_dir.join(FILE_NAME)) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Environment first, then the stored file, else a new pair written to the file.
    pub fn resolve(data_dir: &Path) -> std::io::Result<(Self, CredentialSource)> {
        if let Some(creds) = Self::from_env()? {
            return Ok((creds, CredentialSource::Environment));
        }
        let path = data_dir.join(FILE_NAME);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let creds: Self = serde_json::from_slice(&bytes).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} is not valid: {e}", path.display()),
                    )
                })?;
                creds.strong_enough(&path.display().to_string())?;
                Ok((creds, CredentialSource::Stored))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let creds = Self::generate()?;
                crate::private_fs::create_private_dir(data_dir)?;
                write_private(&path, &serde_json::to_vec_pretty(&creds)?)?;
                Ok((creds, CredentialSource::Generated))
            }
            Err(e) => Err(e),
        }
    }
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_are_stored_privately_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        // The environment variables are not set in tests (the test harness never sets them).
        if std::env::var(ACCESS_KEY_ENV).is_ok() {
            return;
        }
        let (first, src) = DeveloperCredentials::resolve(dir.path()).unwrap();
        assert_eq!(src, CredentialSource::Generated);
        assert!(first.access_key_id.starts_with("AKCS") && first.access_key_id.len() == 20);
        assert_eq!(first.secret_access_key.len(), 40);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, src) = DeveloperCredentials::resolve(dir.path()).unwrap();
        assert_eq!(src, CredentialSource::Stored);
        assert_eq!(again, first);
        assert!(!format!("{first:?}").contains(&first.secret_access_key));
    }

    #[test]
    fn a_short_secret_in_the_file_is_refused_with_the_reason() {
        if std::env::var(ACCESS_KEY_ENV).is_ok() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let short = DeveloperCredentials {
            access_key_id: "AKCSSHORT".into(),
            secret_access_key: "fifteen-chars!!".into(),
        };
        write_private(
            &dir.path().join(FILE_NAME),
            &serde_json::to_vec(&short).unwrap(),
        )
        .unwrap();
        let refused = DeveloperCredentials::resolve(dir.path()).unwrap_err();
        let message = refused.to_string();
        assert!(message.contains("15 characters"), "{message}");
        assert!(message.contains("at least 16"), "{message}");
    }
}
