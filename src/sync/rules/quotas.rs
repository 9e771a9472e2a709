//! The dataset quotas: the server's (its flags), a pool's own over them, what a pool's own
//! may be set to, and the growth rule UpdateRecords applies. AWS lets an account raise these
//! quotas, so a dataset may hold more than a limit (brought over from AWS, or the limit
//! lowered since): only a write that grows a quantity past its limit is refused, so such a
//! dataset can always shrink.

use crate::store::{PoolLimits, Rejection};
use crate::validate::{self, Violation};

/// The quotas UpdateRecords enforces before commit (Cognito Sync's documented defaults
/// unless the server's flags or the pool's own say otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub datasets_per_identity: i64,
    pub records_per_dataset: i64,
    /// Σ UTF-8 bytes of keys and values of live records.
    pub bytes_per_dataset: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            datasets_per_identity: 20,
            records_per_dataset: 1024,
            bytes_per_dataset: 1024 * 1024,
        }
    }
}

impl Limits {
    /// The quotas of a pool: its own where set, these (the server's) where not.
    pub fn for_pool(&self, pool: &PoolLimits) -> Limits {
        Limits {
            datasets_per_identity: pool
                .datasets_per_identity
                .unwrap_or(self.datasets_per_identity),
            records_per_dataset: pool.records_per_dataset.unwrap_or(self.records_per_dataset),
            bytes_per_dataset: pool.bytes_per_dataset.unwrap_or(self.bytes_per_dataset),
        }
    }
}

/// A pool's own quotas as they may be set: each one, where set, at least 1.
pub fn check_pool_limits(l: &PoolLimits) -> Result<(), Violation> {
    let each = [
        (l.datasets_per_identity, "limits.datasetsPerIdentity"),
        (l.records_per_dataset, "limits.recordsPerDataset"),
        (l.bytes_per_dataset, "limits.bytesPerDataset"),
    ];
    for (value, member) in each {
        if let Some(v) = value {
            validate::range(v, member, 1, i64::MAX)?;
        }
    }
    Ok(())
}

/// What a dataset holds, as the quotas count it: live records and their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Held {
    pub records: i64,
    pub bytes: i64,
}

/// The growth rule for a write to a dataset that held `before` (nothing when it is new) and
/// would hold `after`: refused only where a quantity ends above its limit *and* above what it
/// was. A new dataset is refused when the identity already holds `live_datasets` at or above
/// its limit.
pub fn check_growth(
    limits: &Limits,
    before: Option<Held>,
    after: Held,
    live_datasets: i64,
) -> Result<(), Rejection> {
    if before.is_none() && live_datasets >= limits.datasets_per_identity {
        return Err(Rejection::LimitExceeded(format!(
            "Dataset limit exceeded: an identity can have at most {} datasets",
            limits.datasets_per_identity
        )));
    }
    let before = before.unwrap_or_default();
    if after.records > limits.records_per_dataset && after.records > before.records {
        return Err(Rejection::LimitExceeded(format!(
            "Record limit exceeded: a dataset can hold at most {} records",
            limits.records_per_dataset
        )));
    }
    if after.bytes > limits.bytes_per_dataset && after.bytes > before.bytes {
        return Err(Rejection::LimitExceeded(format!(
            "Dataset size limit exceeded: the keys and values of a dataset can total at most {} bytes",
            limits.bytes_per_dataset
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(datasets: i64, records: i64, bytes: i64) -> Limits {
        Limits {
            datasets_per_identity: datasets,
            records_per_dataset: records,
            bytes_per_dataset: bytes,
        }
    }

    fn held(records: i64, bytes: i64) -> Held {
        Held { records, bytes }
    }

    #[test]
    fn a_pools_own_quotas_replace_the_servers_one_by_one() {
        let server = limits(20, 1024, 1 << 20);
        assert_eq!(server.for_pool(&PoolLimits::default()), server);
        let pool = PoolLimits {
            records_per_dataset: Some(4096),
            bytes_per_dataset: Some(10),
            ..PoolLimits::default()
        };
        assert_eq!(server.for_pool(&pool), limits(20, 4096, 10));
    }

    #[test]
    fn a_pools_quotas_are_at_least_one_where_set() {
        assert!(check_pool_limits(&PoolLimits::default()).is_ok());
        let one = PoolLimits {
            datasets_per_identity: Some(1),
            records_per_dataset: Some(1),
            bytes_per_dataset: Some(1),
        };
        assert!(check_pool_limits(&one).is_ok());
        for bad in [0, -5] {
            let l = PoolLimits {
                records_per_dataset: Some(bad),
                ..PoolLimits::default()
            };
            let err = check_pool_limits(&l).unwrap_err();
            assert!(err.0.contains("limits.recordsPerDataset"), "{}", err.0);
        }
    }

    #[test]
    fn growing_past_a_limit_is_refused() {
        let l = limits(2, 10, 100);
        let grew = check_growth(&l, Some(held(10, 50)), held(11, 50), 1).unwrap_err();
        assert!(matches!(grew, Rejection::LimitExceeded(m) if m.contains("at most 10 records")));
        let grew = check_growth(&l, Some(held(5, 100)), held(5, 101), 1).unwrap_err();
        assert!(matches!(grew, Rejection::LimitExceeded(m) if m.contains("at most 100 bytes")));
        let new = check_growth(&l, None, held(1, 1), 2).unwrap_err();
        assert!(matches!(new, Rejection::LimitExceeded(m) if m.contains("at most 2 datasets")));
        // A new dataset grows from nothing.
        assert!(check_growth(&l, None, held(11, 1), 0).is_err());
        assert!(
            check_growth(&l, None, held(10, 100), 1).is_ok(),
            "at the limits"
        );
    }

    #[test]
    fn a_dataset_above_a_lowered_limit_may_shrink_or_stay_but_not_grow() {
        let l = limits(2, 10, 100);
        let above = held(50, 500);
        assert!(
            check_growth(&l, Some(above), held(49, 490), 5).is_ok(),
            "shrinks"
        );
        assert!(
            check_growth(&l, Some(above), held(50, 500), 5).is_ok(),
            "stays"
        );
        assert!(
            check_growth(&l, Some(above), held(50, 400), 5).is_ok(),
            "values made smaller in place"
        );
        assert!(check_growth(&l, Some(above), held(51, 500), 5).is_err());
        assert!(check_growth(&l, Some(above), held(40, 501), 5).is_err());
        // An identity above its dataset limit still writes to the datasets it has.
        assert!(check_growth(&l, Some(held(1, 1)), held(2, 2), 5).is_ok());
    }
}
