//! Bringing data in and out: `cogsync import` from another Cognito Sync endpoint (AWS
//! included) or from an export file, and `cogsync export`. Everything is written through the
//! [`Store`] with the rules in [`rules`]: an import never rolls a dataset back, never refuses
//! or cuts one for a quota (it reports those above, [`quotas`]), and a second run of the same
//! import changes nothing.
//!
//! A tool, not a request path: it sits beside `api`, over the store, and uses the sync
//! service's configuration types for the settings it copies.

pub mod cli;
pub mod copy;
pub mod detach;
pub mod file;
pub mod follow;
pub mod format;
pub mod logins_file;
pub mod progress;
pub mod quotas;
pub mod rules;
pub mod source;
pub mod upstream_cli;
pub mod verify;

use crate::store::{IdentityCopy, IdentityImport, PoolCopy, Store, StoreError};
use crate::sync::Limits;

/// Why an import or export stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("source: {0}")]
    Source(String),
    #[error("input: {0}")]
    Input(String),
    #[error("output: {0}")]
    Output(String),
}

/// What an import did, for the summary printed at its end.
#[derive(Debug, Default)]
pub struct Summary {
    pub pools: u64,
    pub identities_created: u64,
    pub identities_existing: u64,
    pub datasets_written: u64,
    pub records_written: u64,
    pub datasets_unchanged: u64,
    /// Real logins linked (developer users; the logins file's), placeholders not counted.
    pub logins_linked: u64,
    /// Logins of the source whose subjects no API lists (each held by a placeholder).
    pub unlisted_logins: u64,
    /// Placeholders replaced by the logins file's real logins.
    pub placeholders_replaced: u64,
    /// Whether a logins file was given.
    pub logins_file: bool,
    /// What was left as it was, and why: one line each.
    pub notes: Vec<String>,
    /// Copied from a live source, whose APIs do not list everything.
    pub from_source: bool,
    /// What was brought in above its pool's quotas (imported whole all the same).
    pub above_quotas: quotas::AboveQuotas,
}

impl Summary {
    pub fn add(&mut self, identity_id: &str, r: &IdentityImport) {
        if let Some(pool) = &r.foreign_pool {
            self.notes.push(format!(
                "identity {identity_id}: exists in pool {pool} of the store; not imported"
            ));
            return;
        }
        if r.created {
            self.identities_created += 1;
        } else {
            self.identities_existing += 1;
        }
        self.datasets_written += r.datasets_written;
        self.records_written += r.records_written;
        self.datasets_unchanged += r.datasets_unchanged;
        self.logins_linked += r
            .logins_linked
            .iter()
            .filter(|(_, subject)| !rules::is_unlisted(subject))
            .count() as u64;
        for (name, stored, incoming) in &r.store_ahead {
            self.notes.push(format!(
                "dataset {identity_id}/{name}: the store is at SyncCount {stored}, the source at \
                 {incoming}; left as it is (a device has moved on since)"
            ));
        }
        for name in &r.needs_full {
            self.notes.push(format!(
                "dataset {identity_id}/{name}: changed in the store while being copied; run again"
            ));
        }
        for (provider, subject) in &r.logins_taken {
            self.notes.push(format!(
                "login {provider} {subject}: linked to another identity in the store; {identity_id} \
                 does not get it"
            ));
        }
    }

    /// The summary, in lines for a person.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} pools; identities: {} created, {} already there; datasets: {} written \
             ({} records), {} unchanged; {} logins linked",
            self.pools,
            self.identities_created,
            self.identities_existing,
            self.datasets_written,
            self.records_written,
            self.datasets_unchanged,
            self.logins_linked,
        )];
        let left = self
            .unlisted_logins
            .saturating_sub(self.placeholders_replaced);
        if self.logins_file {
            out.push(format!(
                "logins file: {} placeholders replaced by real logins",
                self.placeholders_replaced
            ));
        }
        if left > 0 {
            let hint = if self.logins_file {
                "not in the logins file"
            } else {
                "link them with --logins-file (see docs/migrating.md)"
            };
            out.push(format!(
                "{left} logins of social or OpenID Connect providers hold a placeholder, as no API \
                 lists their subjects: {hint}"
            ));
        }
        if self.from_source {
            out.push(
                "not copied, as no API lists them: push device registrations and subscriptions \
                 (the SDKs register again on launch), the SyncCount history of deleted datasets"
                    .into(),
            );
        }
        out.extend(self.above_quotas.lines());
        out.extend(self.notes.iter().cloned());
        out
    }
}

/// An identity copy's (datasets, records), for the progress.
pub fn counts(copy: &IdentityCopy) -> (u64, u64) {
    let records = copy.datasets.iter().map(|d| d.records.len() as u64).sum();
    (copy.datasets.len() as u64, records)
}

/// Writes a pool with its settings (at a version past the stored one when they differ; its
/// quotas only where the source states them). Answers the quotas the pool has then, the
/// server's `limits` where it has none of its own.
pub async fn store_pool(
    store: &dyn Store,
    copy: &PoolCopy,
    quotas: rules::Quotas,
    limits: Limits,
) -> Result<Limits, MigrateError> {
    let incoming = copy.settings.clone();
    store
        .import_pool(
            &copy.pool,
            copy.bulk.as_ref(),
            Box::new(move |stored| rules::settings(stored, &incoming, quotas)),
        )
        .await?;
    let stored = store.get_pool_settings(&copy.pool.id).await?;
    Ok(limits.for_pool(&stored.limits))
}
