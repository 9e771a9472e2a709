//! The UpdateRecords rules as a pure function over what the store read: conflict detection,
//! the dataset counter, tombstones, storage figures and quotas (the growth rule of
//! [`super::quotas`]). No I/O, so every rule is unit-tested here.

use super::quotas::{check_growth, Held, Limits};
use crate::store::{DatasetRow, RecordRow, Rejection, UpdatePlan, UpdateSnapshot};
use crate::validate::{self, Violation};

/// What a patch does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOp {
    Replace,
    Remove,
}

/// One validated RecordPatch.
#[derive(Debug, Clone)]
pub struct Patch {
    pub op: PatchOp,
    pub key: String,
    /// `replace` without a Value stores the empty string; `remove` ignores any Value.
    pub value: Option<String>,
    pub sync_count: i64,
    pub device_last_modified_ms: Option<i64>,
}

/// Bytes a live record counts toward DataStorage and the size quota.
pub fn record_bytes(key: &str, value: &str) -> i64 {
    (key.len() + value.len()) as i64
}

/// Decides an UpdateRecords call. Every patch must carry the stored record's SyncCount (0 for a
/// key never written; a tombstone keeps its count) or the whole call is refused; on success
/// the dataset counter rises by one and every written record takes the new count.
/// The conflict check: each patch's SyncCount must equal the stored record's (`stored` gives
/// it; 0 for a key never written, and a tombstone keeps its count), or the call is refused
/// naming the first patch that differs.
/// A record's key and value as the model bounds them (`key`/`value` name the members in the
/// refusal). The one check of a patch's contents: the client's patches and a sync trigger's
/// answer both go through it.
pub fn check_record(
    key: &str,
    value: Option<&str>,
    key_member: &str,
    value_member: &str,
) -> Result<(), Violation> {
    validate::length(key, key_member, 1, 1024)?;
    if let Some(v) = value {
        validate::length(v, value_member, 0, 1_048_575)?;
    }
    Ok(())
}

/// UpdateRecords' patches as the model bounds them: each record's contents, a non-negative
/// SyncCount, and no key twice.
pub fn check_patches(patches: &[Patch]) -> Result<(), Violation> {
    let mut seen = std::collections::HashSet::with_capacity(patches.len());
    for (i, p) in patches.iter().enumerate() {
        let member = |m: &str| format!("recordPatches.{}.member.{m}", i + 1);
        check_record(&p.key, p.value.as_deref(), &member("key"), &member("value"))?;
        validate::range(p.sync_count, &member("syncCount"), 0, i64::MAX)?;
        if !seen.insert(p.key.as_str()) {
            return Err(Violation(format!(
                "Duplicate key in RecordPatches: {}",
                p.key
            )));
        }
    }
    Ok(())
}

pub fn check_counts(stored: impl Fn(&str) -> i64, patches: &[Patch]) -> Result<(), Rejection> {
    for p in patches {
        let stored = stored(&p.key);
        if p.sync_count != stored {
            return Err(Rejection::Conflict {
                key: p.key.clone(),
                stored,
                sent: p.sync_count,
            });
        }
    }
    Ok(())
}

/// The row a deleted dataset keeps: no longer live, empty, its counter where it was (so a
/// device's lastSyncCount never runs ahead of it) and remembered as the count at deletion.
pub fn deleted(before: &DatasetRow) -> DatasetRow {
    DatasetRow {
        live: false,
        data_storage: 0,
        num_records: 0,
        deleted_at_sync_count: Some(before.sync_count),
        ..before.clone()
    }
}

pub fn plan_update(
    snapshot: &UpdateSnapshot,
    patches: &[Patch],
    identity_id: &str,
    dataset_name: &str,
    modified_by: &str,
    now_ms: i64,
    limits: Limits,
) -> Result<UpdatePlan, Rejection> {
    let live = snapshot.dataset.as_ref().filter(|d| d.live);

    check_counts(
        |key| snapshot.existing.get(key).map_or(0, |r| r.sync_count),
        patches,
    )?;

    let new_count = snapshot.dataset.as_ref().map_or(0, |d| d.sync_count) + 1;
    let (mut storage, mut num_records) = live.map_or((0, 0), |d| (d.data_storage, d.num_records));
    let mut records = Vec::with_capacity(patches.len());
    for p in patches {
        if let Some(RecordRow {
            value: Some(old), ..
        }) = snapshot.existing.get(&p.key)
        {
            storage -= record_bytes(&p.key, old);
            num_records -= 1;
        }
        let value = match p.op {
            PatchOp::Replace => Some(p.value.clone().unwrap_or_default()),
            PatchOp::Remove => None,
        };
        if let Some(v) = &value {
            storage += record_bytes(&p.key, v);
            num_records += 1;
        }
        records.push(RecordRow {
            key: p.key.clone(),
            value,
            sync_count: new_count,
            last_modified_ms: now_ms,
            last_modified_by: modified_by.to_owned(),
            device_last_modified_ms: p.device_last_modified_ms,
        });
    }

    let before = live.map(|d| Held {
        records: d.num_records,
        bytes: d.data_storage,
    });
    let after = Held {
        records: num_records,
        bytes: storage,
    };
    check_growth(&limits, before, after, snapshot.live_datasets)?;

    Ok(UpdatePlan {
        dataset: DatasetRow {
            identity_id: identity_id.to_owned(),
            name: dataset_name.to_owned(),
            live: true,
            sync_count: new_count,
            creation_ms: live.map_or(now_ms, |d| d.creation_ms),
            last_modified_ms: now_ms,
            last_modified_by: modified_by.to_owned(),
            data_storage: storage,
            num_records,
            deleted_at_sync_count: snapshot
                .dataset
                .as_ref()
                .and_then(|d| d.deleted_at_sync_count),
            // A re-created dataset is no longer a merge copy.
            merged_into: live.and_then(|d| d.merged_into.clone()),
        },
        records,
        outbox: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn patch(op: PatchOp, key: &str, value: Option<&str>, sync_count: i64) -> Patch {
        Patch {
            op,
            key: key.into(),
            value: value.map(Into::into),
            sync_count,
            device_last_modified_ms: None,
        }
    }

    fn record(key: &str, value: Option<&str>, sync_count: i64) -> RecordRow {
        RecordRow {
            key: key.into(),
            value: value.map(Into::into),
            sync_count,
            last_modified_ms: 1,
            last_modified_by: "x".into(),
            device_last_modified_ms: None,
        }
    }

    fn dataset(sync_count: i64, live: bool, storage: i64, num: i64) -> DatasetRow {
        DatasetRow {
            identity_id: "i".into(),
            name: "d".into(),
            live,
            sync_count,
            creation_ms: 5,
            last_modified_ms: 5,
            last_modified_by: "x".into(),
            data_storage: storage,
            num_records: num,
            deleted_at_sync_count: if live { None } else { Some(sync_count) },
            merged_into: None,
        }
    }

    fn snap(d: Option<DatasetRow>, existing: Vec<RecordRow>, live_datasets: i64) -> UpdateSnapshot {
        UpdateSnapshot {
            dataset: d,
            existing: existing
                .into_iter()
                .map(|r| (r.key.clone(), r))
                .collect::<HashMap<_, _>>(),
            live_datasets,
            subscribers: Vec::new(),
        }
    }

    fn plan(s: &UpdateSnapshot, p: &[Patch]) -> Result<UpdatePlan, Rejection> {
        plan_update(s, p, "i", "d", "me", 100, Limits::default())
    }

    #[test]
    fn first_write_creates_the_dataset_at_count_one() {
        let p = plan(
            &snap(None, vec![], 0),
            &[patch(PatchOp::Replace, "k", Some("vv"), 0)],
        )
        .unwrap();
        assert_eq!(p.dataset.sync_count, 1);
        assert_eq!(p.dataset.creation_ms, 100);
        assert_eq!((p.dataset.data_storage, p.dataset.num_records), (3, 1));
        assert_eq!(p.records[0].sync_count, 1);
    }

    #[test]
    fn a_stale_count_refuses_the_whole_call() {
        let s = snap(
            Some(dataset(5, true, 3, 1)),
            vec![record("highScore", Some("10"), 5)],
            1,
        );
        let err = plan(
            &s,
            &[
                patch(PatchOp::Replace, "new", Some("a"), 0),
                patch(PatchOp::Replace, "highScore", Some("10"), 4),
            ],
        )
        .unwrap_err();
        assert_eq!(
            err,
            Rejection::Conflict {
                key: "highScore".into(),
                stored: 5,
                sent: 4
            }
        );
    }

    #[test]
    fn a_new_key_must_be_sent_with_count_zero() {
        let err = plan(
            &snap(Some(dataset(3, true, 0, 0)), vec![], 1),
            &[patch(PatchOp::Replace, "k", Some("v"), 2)],
        )
        .unwrap_err();
        assert_eq!(
            err,
            Rejection::Conflict {
                key: "k".into(),
                stored: 0,
                sent: 2
            }
        );
    }

    #[test]
    fn remove_leaves_a_tombstone_that_keeps_its_count_for_conflicts() {
        let s = snap(
            Some(dataset(2, true, 3, 1)),
            vec![record("k", Some("vv"), 2)],
            1,
        );
        let p = plan(&s, &[patch(PatchOp::Remove, "k", Some("ignored"), 2)]).unwrap();
        assert_eq!(p.records[0].value, None);
        assert_eq!(p.records[0].sync_count, 3);
        assert_eq!((p.dataset.data_storage, p.dataset.num_records), (0, 0));

        let s = snap(Some(dataset(3, true, 0, 0)), vec![record("k", None, 3)], 1);
        assert!(plan(&s, &[patch(PatchOp::Replace, "k", Some("x"), 0)]).is_err());
        assert!(plan(&s, &[patch(PatchOp::Replace, "k", Some("x"), 3)]).is_ok());
    }

    #[test]
    fn recreating_a_deleted_dataset_continues_its_counter() {
        let p = plan(
            &snap(Some(dataset(7, false, 0, 0)), vec![], 0),
            &[patch(PatchOp::Replace, "k", Some("v"), 0)],
        )
        .unwrap();
        assert_eq!(p.dataset.sync_count, 8);
        assert_eq!(p.dataset.creation_ms, 100);
        assert_eq!(p.dataset.deleted_at_sync_count, Some(7));
    }

    #[test]
    fn the_twenty_first_dataset_is_refused_but_existing_ones_still_write() {
        let err = plan(
            &snap(None, vec![], 20),
            &[patch(PatchOp::Replace, "k", Some("v"), 0)],
        )
        .unwrap_err();
        assert!(matches!(err, Rejection::LimitExceeded(m) if m.contains("20 datasets")));
        assert!(plan(
            &snap(Some(dataset(1, true, 0, 0)), vec![], 20),
            &[patch(PatchOp::Replace, "k", Some("v"), 0)]
        )
        .is_ok());
    }

    #[test]
    fn record_and_size_quotas_count_live_records_only() {
        let s = snap(Some(dataset(1, true, 2048, 1024)), vec![], 1);
        let err = plan(&s, &[patch(PatchOp::Replace, "k", Some("v"), 0)]).unwrap_err();
        assert!(matches!(err, Rejection::LimitExceeded(m) if m.contains("1024 records")));

        let s = snap(Some(dataset(1, true, 1024 * 1024 - 1, 1)), vec![], 1);
        assert!(
            plan(&s, &[patch(PatchOp::Replace, "k", Some(""), 0)]).is_ok(),
            "exactly 1 MiB fits"
        );
        let err = plan(&s, &[patch(PatchOp::Replace, "k", Some("v"), 0)]).unwrap_err();
        assert!(matches!(err, Rejection::LimitExceeded(m) if m.contains("1048576 bytes")));

        let s = snap(
            Some(dataset(1, true, 2048, 1024)),
            vec![record("k", Some("v"), 1)],
            1,
        );
        assert!(
            plan(&s, &[patch(PatchOp::Remove, "k", None, 1)]).is_ok(),
            "removes are always allowed"
        );
    }

    #[test]
    fn a_dataset_above_its_limits_can_shrink_but_not_grow() {
        // 2,000 records and 2 MiB, over the default 1,024 records and 1 MiB (brought over
        // from AWS with raised quotas, or the limits lowered since).
        let s = snap(
            Some(dataset(9, true, 2 << 20, 2000)),
            vec![record("k", Some("vvvv"), 9)],
            1,
        );
        let removed = plan(&s, &[patch(PatchOp::Remove, "k", None, 9)]).unwrap();
        assert_eq!(removed.dataset.num_records, 1999);
        let smaller = plan(&s, &[patch(PatchOp::Replace, "k", Some("v"), 9)]).unwrap();
        assert_eq!(smaller.dataset.data_storage, (2 << 20) - 3);
        assert!(
            plan(&s, &[patch(PatchOp::Replace, "k", Some("wwww"), 9)]).is_ok(),
            "rewritten at the same size"
        );
        let more = plan(&s, &[patch(PatchOp::Replace, "new", Some(""), 0)]).unwrap_err();
        assert!(matches!(more, Rejection::LimitExceeded(m) if m.contains("1024 records")));
        let bigger = plan(&s, &[patch(PatchOp::Replace, "k", Some("vvvvv"), 9)]).unwrap_err();
        assert!(matches!(bigger, Rejection::LimitExceeded(m) if m.contains("1048576 bytes")));
        // One record fewer but more bytes: the bytes grew, refused.
        let traded = plan(
            &s,
            &[
                patch(PatchOp::Remove, "k", None, 9),
                patch(PatchOp::Replace, "new", Some("a much longer value"), 0),
            ],
        );
        assert!(traded.is_err());
        // The same dataset under raised limits takes the new record.
        let raised = Limits {
            records_per_dataset: 4096,
            bytes_per_dataset: 4 << 20,
            ..Limits::default()
        };
        let p = plan_update(
            &s,
            &[patch(PatchOp::Replace, "new", Some(""), 0)],
            "i",
            "d",
            "me",
            100,
            raised,
        )
        .unwrap();
        assert_eq!(p.dataset.num_records, 2001);
    }

    #[test]
    fn replace_without_value_stores_the_empty_string() {
        let p = plan(
            &snap(None, vec![], 0),
            &[patch(PatchOp::Replace, "k", None, 0)],
        )
        .unwrap();
        assert_eq!(p.records[0].value.as_deref(), Some(""));
    }

    #[test]
    fn a_deleted_dataset_keeps_its_counter_and_remembers_it() {
        let before = DatasetRow {
            identity_id: "i".into(),
            name: "ds".into(),
            live: true,
            sync_count: 7,
            creation_ms: 1,
            last_modified_ms: 2,
            last_modified_by: "i".into(),
            data_storage: 40,
            num_records: 3,
            deleted_at_sync_count: Some(2),
            merged_into: Some("base".into()),
        };
        let after = deleted(&before);
        assert!(!after.live);
        assert_eq!(
            (after.sync_count, after.deleted_at_sync_count),
            (7, Some(7))
        );
        assert_eq!((after.data_storage, after.num_records), (0, 0));
        assert_eq!(after.merged_into.as_deref(), Some("base"));
    }
}
