//! What an import brings in above its pool's quotas. An import never refuses nor cuts a
//! dataset for a quota (AWS lets an account raise them, so a source may hold more); it writes
//! everything and says, pool by pool, what is above the quotas the server will apply, with
//! the real sizes, so the operator can raise them. Pure: found here, printed by the summary.

use std::collections::BTreeMap;

use crate::store::{DatasetRow, IdentityCopy};
use crate::sync::Limits;

/// The largest value seen of one measure, and where: (value, `identity/dataset` or identity).
type Largest = Option<(i64, String)>;

fn keep_largest(largest: &mut Largest, value: i64, at: impl FnOnce() -> String) {
    if largest.as_ref().is_none_or(|(v, _)| value > *v) {
        *largest = Some((value, at()));
    }
}

/// A pool's findings so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolAbove {
    /// The quotas compared with: the pool's own where set, the server's where not.
    pub limits: Limits,
    /// Live datasets holding more records or bytes than allowed.
    pub datasets: u64,
    pub most_records: Largest,
    pub most_bytes: Largest,
    /// Identities holding more live datasets than allowed.
    pub identities: u64,
    pub most_datasets: Largest,
}

impl PoolAbove {
    fn new(limits: Limits) -> Self {
        PoolAbove {
            limits,
            datasets: 0,
            most_records: None,
            most_bytes: None,
            identities: 0,
            most_datasets: None,
        }
    }
}

/// Everything above the quotas an import has seen, by pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AboveQuotas {
    pools: BTreeMap<String, PoolAbove>,
}

impl AboveQuotas {
    /// Looks at one identity as the import brings it in (its live datasets' sizes as the
    /// source states them), against `limits`, its pool's.
    pub fn add(&mut self, copy: &IdentityCopy, limits: Limits) {
        let rows = copy.datasets.iter().map(|d| &d.row);
        self.add_rows(&copy.identity.pool_id, &copy.identity.id, rows, limits);
    }

    /// [`Self::add`] of an identity's dataset rows.
    pub fn add_rows<'a>(
        &mut self,
        pool_id: &str,
        identity_id: &str,
        rows: impl IntoIterator<Item = &'a DatasetRow>,
        limits: Limits,
    ) {
        let live: Vec<&DatasetRow> = rows.into_iter().filter(|d| d.live).collect();
        let over: Vec<&DatasetRow> = live
            .iter()
            .copied()
            .filter(|d| {
                d.num_records > limits.records_per_dataset
                    || d.data_storage > limits.bytes_per_dataset
            })
            .collect();
        let many = live.len() as i64 > limits.datasets_per_identity;
        if over.is_empty() && !many {
            return;
        }
        let pool = self
            .pools
            .entry(pool_id.to_owned())
            .or_insert_with(|| PoolAbove::new(limits));
        for d in over {
            pool.datasets += 1;
            let at = || format!("{identity_id}/{}", d.name);
            keep_largest(&mut pool.most_records, d.num_records, at);
            keep_largest(&mut pool.most_bytes, d.data_storage, at);
        }
        if many {
            pool.identities += 1;
            keep_largest(&mut pool.most_datasets, live.len() as i64, || {
                identity_id.to_owned()
            });
        }
    }

    /// One line per pool with anything above its quotas, for a person.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (pool_id, p) in &self.pools {
            let l = &p.limits;
            if let (Some((records, at_r)), Some((bytes, at_b))) = (&p.most_records, &p.most_bytes) {
                let largest = if at_r == at_b {
                    format!("largest {at_r}: {records} records, {bytes} bytes")
                } else {
                    format!("most records {records} ({at_r}), most bytes {bytes} ({at_b})")
                };
                out.push(format!(
                    "pool {pool_id}: {} dataset{} above this pool's limits of {} records / {} \
                     bytes a dataset, imported whole ({largest}); they can shrink but not grow \
                     until the limits are raised: set the pool's quotas (console) or \
                     --max-records-per-dataset / --max-dataset-bytes",
                    p.datasets,
                    if p.datasets == 1 { "" } else { "s" },
                    l.records_per_dataset,
                    l.bytes_per_dataset,
                ));
            }
            if let Some((most, at)) = &p.most_datasets {
                out.push(format!(
                    "pool {pool_id}: {} identit{} above this pool's limit of {} datasets, \
                     imported whole (most {most} datasets: {at}); no new dataset can be made \
                     there until the limit is raised: set the pool's quotas (console) or \
                     --max-datasets-per-identity",
                    p.identities,
                    if p.identities == 1 { "y" } else { "ies" },
                    l.datasets_per_identity,
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DatasetRecords, IdentityRecord};

    fn dataset(name: &str, live: bool, records: i64, bytes: i64) -> DatasetRecords {
        DatasetRecords {
            row: DatasetRow {
                identity_id: "i".into(),
                name: name.into(),
                live,
                sync_count: 1,
                creation_ms: 0,
                last_modified_ms: 0,
                last_modified_by: "x".into(),
                data_storage: bytes,
                num_records: records,
                deleted_at_sync_count: None,
                merged_into: None,
            },
            records: Vec::new(),
            since: None,
        }
    }

    fn identity(id: &str, datasets: Vec<DatasetRecords>) -> IdentityCopy {
        IdentityCopy {
            identity: IdentityRecord {
                id: id.into(),
                pool_id: "p".into(),
                created_ms: 0,
                last_modified_ms: 0,
            },
            logins: Vec::new(),
            datasets,
            devices: Vec::new(),
            subscriptions: Vec::new(),
        }
    }

    #[test]
    fn nothing_is_said_of_what_fits() {
        let mut a = AboveQuotas::default();
        let at_limit = dataset("d", true, 1024, 1 << 20);
        let deleted = dataset("gone", false, 5000, 5 << 20);
        a.add(&identity("i", vec![at_limit, deleted]), Limits::default());
        assert!(a.lines().is_empty());
    }

    #[test]
    fn datasets_above_are_named_with_their_real_sizes() {
        let mut a = AboveQuotas::default();
        let limits = Limits::default();
        a.add(
            &identity("a", vec![dataset("big", true, 2000, 30_000)]),
            limits,
        );
        a.add(
            &identity("b", vec![dataset("wide", true, 10, 3 << 20)]),
            limits,
        );
        let lines = a.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert!(
            line.starts_with(
                "pool p: 2 datasets above this pool's limits of 1024 records / 1048576 bytes"
            ),
            "{line}"
        );
        let most = format!("most records 2000 (a/big), most bytes {} (b/wide)", 3 << 20);
        assert!(line.contains(&most), "{line}");
        assert!(line.contains("--max-records-per-dataset"), "{line}");
        // One dataset the largest both ways: named once.
        let mut one = AboveQuotas::default();
        one.add(
            &identity("a", vec![dataset("big", true, 2000, 30_000)]),
            limits,
        );
        let lines = one.lines();
        assert!(
            lines[0].contains("1 dataset above")
                && lines[0].contains("(largest a/big: 2000 records, 30000 bytes)"),
            "{lines:?}"
        );
    }

    #[test]
    fn identities_with_too_many_datasets_are_counted() {
        let mut a = AboveQuotas::default();
        let limits = Limits {
            datasets_per_identity: 2,
            ..Limits::default()
        };
        let three = (0..3)
            .map(|n| dataset(&format!("d{n}"), true, 1, 1))
            .collect();
        a.add(&identity("many", three), limits);
        let lines = a.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("1 identity above this pool's limit of 2 datasets"),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("most 3 datasets: many"), "{}", lines[0]);
    }
}
