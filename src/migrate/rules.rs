//! The migration's rules, decided here once and unit-tested without a database: what an import
//! may write over what a store already holds, and when two copies of a dataset are the same.

use sha2::{Digest as _, Sha256};

use crate::store::{DatasetRecords, DatasetRow, DatasetVerdict, PoolSettings, RecordRow};

pub use crate::identity::login_rules::{drop_placeholder, is_unlisted, unlisted_subject};

/// What an import does with `incoming` over the stored row. Never rolls a dataset back: a
/// store ahead of the source (a device moved on since the copy) keeps its own. An incremental
/// copy applies only over the SyncCount it was listed from.
pub fn verdict(stored: Option<&DatasetRow>, incoming: &DatasetRecords) -> DatasetVerdict {
    let Some(stored) = stored else {
        return match incoming.since {
            None | Some(0) => DatasetVerdict::Write,
            Some(_) => DatasetVerdict::NeedsFull,
        };
    };
    let (have, new) = (stored.sync_count, incoming.row.sync_count);
    // Deleted in the store (its count kept) since the source's copy: a device deleted it.
    if !stored.live && incoming.row.live && have >= new {
        return DatasetVerdict::StoreAhead {
            stored: have,
            incoming: new,
        };
    }
    if have > new {
        return DatasetVerdict::StoreAhead {
            stored: have,
            incoming: new,
        };
    }
    if have == new && *stored == incoming.row {
        return DatasetVerdict::Unchanged;
    }
    match incoming.since {
        None => DatasetVerdict::Write,
        Some(base) if base == have => DatasetVerdict::Write,
        Some(_) => DatasetVerdict::NeedsFull,
    }
}

/// [`verdict`], except that a dataset the store wrote itself at or after `local_since_ms` is
/// kept as it is (a pool detached then): reported when the source changed it after that time
/// too (old devices wrote it there: the two have forked), passed over when the source's copy
/// is older (the store carried on from it).
pub fn verdict_keeping_local(
    local_since_ms: i64,
) -> impl Fn(Option<&DatasetRow>, &DatasetRecords) -> DatasetVerdict + Send + Sync {
    move |stored, incoming| match stored {
        Some(s) if s.last_modified_ms >= local_since_ms => {
            if incoming.row.last_modified_ms >= local_since_ms {
                DatasetVerdict::StoreAhead {
                    stored: s.sync_count,
                    incoming: incoming.row.sync_count,
                }
            } else {
                DatasetVerdict::Unchanged
            }
        }
        _ => verdict(stored, incoming),
    }
}

/// Whether an import's source states a pool's quotas: an export file from version 2 on does;
/// a live source (no Cognito API tells them) and a version 1 file do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quotas {
    Carried,
    Unknown,
}

/// Settings to store for a pool: `incoming`'s, at a version past the stored one so that a
/// concurrent compare-and-set notices; None when they already match (nothing to write). Where
/// the source does not state the pool's quotas, the stored ones are kept.
pub fn settings(
    stored: &PoolSettings,
    incoming: &PoolSettings,
    quotas: Quotas,
) -> Option<PoolSettings> {
    let limits = match quotas {
        Quotas::Carried => incoming.limits,
        Quotas::Unknown => stored.limits,
    };
    let same = stored.push_sync == incoming.push_sync
        && stored.cognito_streams == incoming.cognito_streams
        && stored.events == incoming.events
        && stored.limits == limits;
    (!same).then(|| PoolSettings {
        version: incoming.version.max(stored.version + 1),
        limits,
        ..incoming.clone()
    })
}

/// A dataset's content as compared by `--verify`: its SyncCount, how many records (tombstones
/// included) and a SHA-256 over every record's key, value and SyncCount, in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub sync_count: i64,
    pub records: usize,
    pub hash: String,
}

pub fn digest(sync_count: i64, records: &[RecordRow]) -> Digest {
    let mut sorted: Vec<&RecordRow> = records.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut h = Sha256::new();
    for r in sorted {
        h.update(r.key.as_bytes());
        h.update([0]);
        match &r.value {
            Some(v) => {
                h.update([1]);
                h.update(v.as_bytes());
            }
            None => h.update([2]),
        }
        h.update([0]);
        h.update(r.sync_count.to_be_bytes());
    }
    Digest {
        sync_count,
        records: records.len(),
        hash: hex::encode(h.finalize()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PoolLimits;

    fn row(count: i64) -> DatasetRow {
        DatasetRow {
            identity_id: "i".into(),
            name: "d".into(),
            live: true,
            sync_count: count,
            creation_ms: 1,
            last_modified_ms: 2,
            last_modified_by: "x".into(),
            data_storage: 0,
            num_records: 0,
            deleted_at_sync_count: None,
            merged_into: None,
        }
    }

    fn incoming(count: i64, since: Option<i64>) -> DatasetRecords {
        DatasetRecords {
            row: row(count),
            records: Vec::new(),
            since,
        }
    }

    #[test]
    fn a_new_dataset_needs_every_record() {
        assert_eq!(verdict(None, &incoming(3, None)), DatasetVerdict::Write);
        assert_eq!(verdict(None, &incoming(3, Some(0))), DatasetVerdict::Write);
        assert_eq!(
            verdict(None, &incoming(3, Some(2))),
            DatasetVerdict::NeedsFull
        );
    }

    #[test]
    fn a_store_ahead_of_the_source_is_never_rolled_back() {
        let stored = row(7);
        for since in [None, Some(7), Some(0)] {
            assert_eq!(
                verdict(Some(&stored), &incoming(5, since)),
                DatasetVerdict::StoreAhead {
                    stored: 7,
                    incoming: 5
                }
            );
        }
    }

    #[test]
    fn a_dataset_deleted_in_the_store_stays_deleted() {
        let mut deleted = row(4);
        deleted.live = false;
        deleted.deleted_at_sync_count = Some(4);
        for since in [None, Some(4), Some(0)] {
            assert_eq!(
                verdict(Some(&deleted), &incoming(4, since)),
                DatasetVerdict::StoreAhead {
                    stored: 4,
                    incoming: 4
                }
            );
        }
    }

    #[test]
    fn the_same_copy_twice_writes_nothing() {
        assert_eq!(
            verdict(Some(&row(4)), &incoming(4, None)),
            DatasetVerdict::Unchanged
        );
        assert_eq!(
            verdict(Some(&row(4)), &incoming(4, Some(4))),
            DatasetVerdict::Unchanged
        );
    }

    #[test]
    fn a_changed_row_at_the_same_count_is_written() {
        let mut merged = row(4);
        merged.merged_into = Some("d".into());
        assert_eq!(
            verdict(
                Some(&row(4)),
                &DatasetRecords {
                    row: merged,
                    records: Vec::new(),
                    since: Some(4)
                }
            ),
            DatasetVerdict::Write
        );
    }

    #[test]
    fn an_incremental_copy_applies_only_over_its_base() {
        assert_eq!(
            verdict(Some(&row(4)), &incoming(6, Some(4))),
            DatasetVerdict::Write
        );
        assert_eq!(
            verdict(Some(&row(4)), &incoming(6, Some(3))),
            DatasetVerdict::NeedsFull
        );
        assert_eq!(
            verdict(Some(&row(4)), &incoming(6, None)),
            DatasetVerdict::Write
        );
    }

    #[test]
    fn settings_are_written_only_when_they_differ_and_never_at_an_older_version() {
        let stored = PoolSettings {
            version: 5,
            ..PoolSettings::default()
        };
        let carried = Quotas::Carried;
        assert_eq!(settings(&stored, &PoolSettings::default(), carried), None);
        let incoming = PoolSettings {
            version: 2,
            events: [("SyncTrigger".to_owned(), "f".to_owned())].into(),
            ..PoolSettings::default()
        };
        assert_eq!(
            settings(&stored, &incoming, carried).map(|s| s.version),
            Some(6)
        );
        let incoming = PoolSettings {
            version: 9,
            ..incoming
        };
        assert_eq!(
            settings(&stored, &incoming, carried).map(|s| s.version),
            Some(9)
        );
    }

    #[test]
    fn quotas_are_imported_only_from_a_source_that_states_them() {
        let raised = PoolLimits {
            records_per_dataset: Some(4096),
            ..PoolLimits::default()
        };
        let stored = PoolSettings {
            version: 3,
            limits: raised,
            ..PoolSettings::default()
        };
        // A live source (or a version 1 file): the same settings otherwise, nothing to write;
        // other settings changed, written with the stored quotas.
        let live = PoolSettings::default();
        assert_eq!(settings(&stored, &live, Quotas::Unknown), None);
        let trigger = PoolSettings {
            events: [("SyncTrigger".to_owned(), "f".to_owned())].into(),
            ..PoolSettings::default()
        };
        let written = settings(&stored, &trigger, Quotas::Unknown).unwrap();
        assert_eq!((written.limits, written.version), (raised, 4));
        // A file that states them: its quotas, none set included.
        let written = settings(&stored, &live, Quotas::Carried).unwrap();
        assert_eq!(written.limits, PoolLimits::default());
        let lowered = PoolSettings {
            limits: PoolLimits {
                datasets_per_identity: Some(5),
                ..PoolLimits::default()
            },
            ..PoolSettings::default()
        };
        let written = settings(&stored, &lowered, Quotas::Carried).unwrap();
        assert_eq!(written.limits, lowered.limits);
    }

    #[test]
    fn digests_differ_by_value_tombstone_and_count_but_not_order() {
        let r = |k: &str, v: Option<&str>, c: i64| RecordRow {
            key: k.into(),
            value: v.map(Into::into),
            sync_count: c,
            last_modified_ms: 0,
            last_modified_by: String::new(),
            device_last_modified_ms: None,
        };
        let a = digest(2, &[r("a", Some("1"), 1), r("b", None, 2)]);
        assert_eq!(a, digest(2, &[r("b", None, 2), r("a", Some("1"), 1)]));
        assert_ne!(a, digest(2, &[r("a", Some("1"), 1), r("b", Some(""), 2)]));
        assert_ne!(a, digest(2, &[r("a", Some("2"), 1), r("b", None, 2)]));
        assert_ne!(a, digest(2, &[r("a", Some("1"), 2), r("b", None, 2)]));
        assert_ne!(a, digest(3, &[r("a", Some("1"), 1), r("b", None, 2)]));
    }

    #[test]
    fn after_a_detach_the_stores_own_writes_are_kept_and_a_fork_is_told() {
        let row = |count: i64, modified: i64| DatasetRow {
            identity_id: "i".into(),
            name: "d".into(),
            live: true,
            sync_count: count,
            creation_ms: 1,
            last_modified_ms: modified,
            last_modified_by: "x".into(),
            data_storage: 0,
            num_records: 0,
            deleted_at_sync_count: None,
            merged_into: None,
        };
        let incoming = |count, modified| DatasetRecords {
            row: row(count, modified),
            records: Vec::new(),
            since: None,
        };
        let decide = verdict_keeping_local(100);
        // Written here after the switch, the source's copy older: the store carried on.
        assert_eq!(
            decide(Some(&row(9, 150)), &incoming(7, 90)),
            DatasetVerdict::Unchanged
        );
        // Written at both after the switch: forked, kept, told.
        assert!(matches!(
            decide(Some(&row(9, 150)), &incoming(8, 120)),
            DatasetVerdict::StoreAhead { .. }
        ));
        // Not written here since: the source's newer copy comes over.
        assert_eq!(
            decide(Some(&row(7, 90)), &incoming(8, 120)),
            DatasetVerdict::Write
        );
    }
}
