//! Where a secret of a route comes from: a file, or an environment variable (`env:NAME`),
//! never the flag's own text (a command line is visible to every user of the machine, a
//! configuration file is copied around) and never a pool's settings. A secret read is held in
//! a [`Secret`], which never shows itself; errors name the file or the variable, never what it
//! holds.

use std::path::PathBuf;

/// A secret's source, as the operator wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    File(PathBuf),
    Env(String),
}

impl SecretRef {
    /// `env:NAME`, or a path.
    pub fn parse(text: &str) -> Result<SecretRef, String> {
        let text = text.trim();
        match text.strip_prefix("env:") {
            Some("") => Err("env: names no variable".into()),
            Some(name) => Ok(SecretRef::Env(name.to_owned())),
            None if text.is_empty() => Err("an empty path".into()),
            None => Ok(SecretRef::File(PathBuf::from(text))),
        }
    }

    /// What the source holds, or why it cannot be read (never showing a secret).
    pub fn read(&self) -> Result<Secret, String> {
        match self {
            SecretRef::File(path) => std::fs::read_to_string(path)
                .map(Secret)
                .map_err(|e| format!("{}: {e}", path.display())),
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => Ok(Secret(v)),
                Ok(_) => Err(format!("the environment variable {name} is empty")),
                Err(_) => Err(format!("the environment variable {name} is not set")),
            },
        }
    }

    /// Where the secret comes from, for messages.
    pub fn describe(&self) -> String {
        match self {
            SecretRef::File(path) => path.display().to_string(),
            SecretRef::Env(name) => format!("the environment variable {name}"),
        }
    }
}

/// A secret's text; never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Secret {
        Secret(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_comes_from_a_file_or_the_environment_and_never_shows() {
        assert_eq!(
            SecretRef::parse("env:COGSYNC_X"),
            Ok(SecretRef::Env("COGSYNC_X".into()))
        );
        assert_eq!(
            SecretRef::parse(" /run/secrets/x "),
            Ok(SecretRef::File("/run/secrets/x".into()))
        );
        assert!(SecretRef::parse("env:").is_err() && SecretRef::parse("").is_err());
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), "s3cret").unwrap();
        let secret = SecretRef::File(f.path().into()).read().unwrap();
        assert_eq!(secret.expose(), "s3cret");
        assert!(!format!("{secret:?}").contains("s3cret"));
        let missing = SecretRef::Env("COGSYNC_TEST_NO_SUCH_VARIABLE".into())
            .read()
            .unwrap_err();
        assert!(
            missing.contains("COGSYNC_TEST_NO_SUCH_VARIABLE is not set"),
            "{missing}"
        );
    }
}
