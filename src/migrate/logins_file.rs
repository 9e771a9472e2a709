//! `--logins-file`: the app's own record of which user holds which identity, as lines of
//! `identity id,provider,subject` (for example `us-east-1:1a2b…,accounts.google.com,1234567`).
//! Blank lines and lines starting with `#` are skipped; the subject is the rest of the line,
//! commas included. Each login is linked to its identity unless another identity holds it.

use super::{rules, MigrateError};
use crate::store::{IdentityCopy, LoginQuery, MergeCopier, Store};

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

/// What linking a logins file did.
#[derive(Debug, Default)]
pub struct Linked {
    pub logins: u64,
    /// Placeholders of imported logins that a real one replaced.
    pub placeholders_replaced: u64,
    /// What was left, and why: one line each.
    pub problems: Vec<String>,
}

/// Links each login, replacing its identity's placeholder for that provider.
pub async fn link(store: &dyn Store, lines: &[LoginLine]) -> Result<Linked, MigrateError> {
    let mut done = Linked::default();
    let no_merges: MergeCopier = std::sync::Arc::new(|_, _, _, _| Vec::new());
    for l in lines {
        let Some(identity) = store.get_identity(&l.identity_id).await? else {
            done.problems.push(format!(
                "login {} {}: no identity {} in the store",
                l.provider, l.subject, l.identity_id
            ));
            continue;
        };
        let pool_id = identity.pool_id.clone();
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
        done.logins += report.logins_linked.len() as u64;
        if !report.logins_taken.is_empty() {
            done.problems.push(format!(
                "login {} {}: linked to another identity in the store; {} does not get it",
                l.provider, l.subject, l.identity_id
            ));
            continue;
        }
        let placeholder = (l.provider.clone(), rules::unlisted_subject(&l.identity_id));
        let query = LoginQuery {
            logins: vec![placeholder],
            identities: Vec::new(),
        };
        let (id, provider) = (l.identity_id.clone(), l.provider.clone());
        let plan = store
            .login_transaction(
                &pool_id,
                query,
                crate::timeutil::now_ms(),
                Box::new(move |snapshot| Ok(rules::drop_placeholder(&id, &provider, snapshot))),
                no_merges.clone(),
            )
            .await?;
        done.placeholders_replaced += plan.unlink.len() as u64;
    }
    Ok(done)
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
