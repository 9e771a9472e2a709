//! Mirroring an upstream's dataset (upstream mode), as a pure function over the same snapshot
//! UpdateRecords reads: an answer of the upstream that continues what the store holds is
//! written with the upstream's own SyncCounts, dates and modifiers (no quota, no outbox: the
//! upstream is the authority and its side effects are its own); anything else is skipped and
//! the identity marked for a whole read. A mirror never lowers a count, and writing an answer
//! twice, or an older one after a newer, changes nothing.

use crate::store::{DatasetRow, RecordRow, UpdatePlan, UpdateSnapshot};

use super::update::record_bytes;

/// What the upstream said of a dataset: its records changed after `after` (all of them, not
/// one page) and its SyncCount now.
#[derive(Debug, Clone)]
pub struct UpstreamChange {
    pub after: i64,
    pub sync_count: i64,
    pub exists: bool,
    /// The upstream deleted the dataset after `after`.
    pub deleted_after: bool,
    pub last_modified_by: Option<String>,
    pub records: Vec<RecordRow>,
}

/// Why a change was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The store holds it already.
    Held,
    /// The store misses changes between what it holds and `after`, or the dataset was
    /// deleted meanwhile: the identity must be read whole.
    Gap,
    /// The store is past the upstream (it should never be): read whole to find out.
    Ahead,
}

/// The plan writing `change` over `snapshot`, or why not.
pub fn plan_mirror(
    snapshot: &UpdateSnapshot,
    change: &UpstreamChange,
    identity_id: &str,
    name: &str,
    now_ms: i64,
) -> Result<UpdatePlan, Skip> {
    let live = snapshot.dataset.as_ref().filter(|d| d.live);
    if !change.exists || change.deleted_after {
        return match (live, change.deleted_after) {
            (None, false) => Err(Skip::Held),
            _ => Err(Skip::Gap),
        };
    }
    let held = match (&snapshot.dataset, live) {
        (_, Some(d)) => d.sync_count,
        // A dataset deleted here but live upstream: only a whole listing says what it holds.
        (Some(_), None) => return Err(Skip::Gap),
        (None, None) => 0,
    };
    if held == change.sync_count {
        return Err(Skip::Held);
    }
    if held > change.sync_count {
        return Err(Skip::Ahead);
    }
    if held < change.after {
        return Err(Skip::Gap);
    }
    let (mut storage, mut num_records) = live.map_or((0, 0), |d| (d.data_storage, d.num_records));
    let mut records = Vec::new();
    let mut newest = live.map_or(0, |d| d.last_modified_ms);
    let mut newest_by = live.map(|d| d.last_modified_by.clone());
    for r in change.records.iter().filter(|r| r.sync_count > held) {
        if let Some(RecordRow {
            value: Some(old), ..
        }) = snapshot.existing.get(&r.key)
        {
            storage -= record_bytes(&r.key, old);
            num_records -= 1;
        }
        if let Some(v) = &r.value {
            storage += record_bytes(&r.key, v);
            num_records += 1;
        }
        if r.last_modified_ms >= newest {
            newest = r.last_modified_ms;
            newest_by = Some(r.last_modified_by.clone());
        }
        records.push(r.clone());
    }
    let modified = if newest > 0 { newest } else { now_ms };
    Ok(UpdatePlan {
        dataset: DatasetRow {
            identity_id: identity_id.to_owned(),
            name: name.to_owned(),
            live: true,
            sync_count: change.sync_count,
            creation_ms: live.map_or(modified, |d| d.creation_ms),
            last_modified_ms: modified,
            last_modified_by: change
                .last_modified_by
                .clone()
                .or(newest_by)
                .unwrap_or_default(),
            data_storage: storage,
            num_records,
            deleted_at_sync_count: None,
            merged_into: live.and_then(|d| d.merged_into.clone()),
        },
        records,
        outbox: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, value: Option<&str>, sync_count: i64) -> RecordRow {
        RecordRow {
            key: key.into(),
            value: value.map(Into::into),
            sync_count,
            last_modified_ms: 100 + sync_count,
            last_modified_by: "up".into(),
            device_last_modified_ms: None,
        }
    }

    fn snapshot(held: Option<(i64, bool)>, existing: Vec<RecordRow>) -> UpdateSnapshot {
        let bytes: i64 = existing
            .iter()
            .filter_map(|r| r.value.as_ref().map(|v| record_bytes(&r.key, v)))
            .sum();
        let live_records = existing.iter().filter(|r| r.value.is_some()).count() as i64;
        UpdateSnapshot {
            dataset: held.map(|(count, live)| DatasetRow {
                identity_id: "i".into(),
                name: "d".into(),
                live,
                sync_count: count,
                creation_ms: 7,
                last_modified_ms: 50,
                last_modified_by: "x".into(),
                data_storage: if live { bytes } else { 0 },
                num_records: if live { live_records } else { 0 },
                deleted_at_sync_count: (!live).then_some(count),
                merged_into: None,
            }),
            existing: existing.into_iter().map(|r| (r.key.clone(), r)).collect(),
            live_datasets: 1,
            subscribers: Vec::new(),
        }
    }

    fn change(after: i64, sync_count: i64, records: Vec<RecordRow>) -> UpstreamChange {
        UpstreamChange {
            after,
            sync_count,
            exists: true,
            deleted_after: false,
            last_modified_by: Some("up".into()),
            records,
        }
    }

    #[test]
    fn a_continuation_is_written_with_the_upstreams_counts_and_sizes() {
        let s = snapshot(Some((2, true)), vec![record("a", Some("xx"), 1)]);
        let c = change(
            2,
            3,
            vec![record("a", Some("yyyy"), 3), record("b", None, 3)],
        );
        let plan = plan_mirror(&s, &c, "i", "d", 999).unwrap();
        assert_eq!(plan.dataset.sync_count, 3);
        assert_eq!(plan.dataset.num_records, 1);
        assert_eq!(plan.dataset.data_storage, record_bytes("a", "yyyy"));
        assert_eq!(plan.dataset.creation_ms, 7);
        assert_eq!(plan.dataset.last_modified_ms, 103);
        assert_eq!(plan.records.len(), 2);
        assert!(plan.outbox.is_empty());
    }

    #[test]
    fn a_first_listing_creates_the_dataset_and_older_records_are_not_written_again() {
        let c = change(
            0,
            4,
            vec![record("a", Some("1"), 2), record("b", Some("2"), 4)],
        );
        let plan = plan_mirror(&snapshot(None, vec![]), &c, "i", "d", 999).unwrap();
        assert_eq!((plan.dataset.sync_count, plan.dataset.num_records), (4, 2));
        // The same listing over a store holding count 2: only what came after.
        let s = snapshot(Some((2, true)), vec![record("a", Some("1"), 2)]);
        let plan = plan_mirror(&s, &c, "i", "d", 999).unwrap();
        assert_eq!(
            plan.records
                .iter()
                .map(|r| r.key.as_str())
                .collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(plan.dataset.num_records, 2);
    }

    #[test]
    fn what_does_not_continue_the_store_is_skipped() {
        let held = snapshot(Some((5, true)), vec![]);
        assert_eq!(
            plan_mirror(&held, &change(4, 5, vec![]), "i", "d", 1).unwrap_err(),
            Skip::Held
        );
        assert_eq!(
            plan_mirror(&held, &change(6, 7, vec![]), "i", "d", 1).unwrap_err(),
            Skip::Gap
        );
        assert_eq!(
            plan_mirror(&held, &change(2, 4, vec![]), "i", "d", 1).unwrap_err(),
            Skip::Ahead
        );
        let mut gone = change(5, 6, vec![]);
        gone.deleted_after = true;
        assert_eq!(
            plan_mirror(&held, &gone, "i", "d", 1).unwrap_err(),
            Skip::Gap
        );
        let mut missing = change(0, 0, vec![]);
        missing.exists = false;
        assert_eq!(
            plan_mirror(&held, &missing, "i", "d", 1).unwrap_err(),
            Skip::Gap
        );
        assert_eq!(
            plan_mirror(&snapshot(None, vec![]), &missing, "i", "d", 1).unwrap_err(),
            Skip::Held
        );
        let deleted_here = snapshot(Some((5, false)), vec![]);
        assert_eq!(
            plan_mirror(&deleted_here, &change(0, 7, vec![]), "i", "d", 1).unwrap_err(),
            Skip::Gap
        );
    }
}
