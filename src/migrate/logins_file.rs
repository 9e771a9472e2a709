//! `--logins-file`: the app's own record of which user holds which identity, as lines of
//! `identity id,provider,subject` (for example `us-east-1:1a2b…,accounts.google.com,1234567`).
//! Blank lines and lines starting with `#` are skipped; the subject is the rest of the line,
//! commas included. Each login is linked to its identity unless another identity holds it.

use super::{rules, MigrateError};
use crate::store::{IdentityCopy, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLine {
    pub identity_id: String,
    pub provider: String,
    pub subject: String,
}

pub fn parse(text: &str) -> Result<Vec<LoginLine>, MigrateError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, ',').map(str::trim);
        match (parts.next(), parts.next(), parts.next()) {
            (Some(i), Some(p), Some(s)) if !i.is_empty() && !p.is_empty() && !s.is_empty() => out
                .push(LoginLine {
                    identity_id: i.into(),
                    provider: p.into(),
                    subject: s.into(),
                }),
            _ => {
                return Err(MigrateError::Input(format!(
                    "logins file line {}: expected `identity id,provider,subject`",
                    n + 1
                )))
            }
        }
    }
    Ok(out)
}

/// Links each login; answers how many were linked and what was left, one line each.
pub async fn link(
    store: &dyn Store,
    lines: &[LoginLine],
) -> Result<(u64, Vec<String>), MigrateError> {
    let (mut linked, mut problems) = (0, Vec::new());
    for l in lines {
        let Some(identity) = store.get_identity(&l.identity_id).await? else {
            problems.push(format!(
                "login {} {}: no identity {} in the store",
                l.provider, l.subject, l.identity_id
            ));
            continue;
        };
        let copy = IdentityCopy {
            identity,
            logins: vec![(l.provider.clone(), l.subject.clone())],
            datasets: Vec::new(),
            devices: Vec::new(),
            subscriptions: Vec::new(),
        };
        let report = store
            .import_identity(copy, Box::new(rules::verdict))
            .await?;
        linked += report.logins_linked;
        if !report.logins_taken.is_empty() {
            problems.push(format!(
                "login {} {}: linked to another identity in the store; {} does not get it",
                l.provider, l.subject, l.identity_id
            ));
        }
    }
    Ok((linked, problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_identity_provider_subject_with_commas_kept_in_the_subject() {
        let text = "# from our users table\n\nus-east-1:a, accounts.google.com ,123\nus-east-1:b,login.example.com,x,y\n";
        let lines = parse(text).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].provider, "accounts.google.com");
        assert_eq!(lines[1].subject, "x,y");
        let err = parse("us-east-1:a,only-two\n").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
