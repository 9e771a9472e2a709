//! Usage figures (DescribeIdentityUsage, DescribeIdentityPoolUsage): what the store's raw
//! sums of datasets make.

use crate::store::{DatasetTotals, Usage};

/// Usage as DescribeIdentityUsage and DescribeIdentityPoolUsage report it: live datasets,
/// their storage and latest change; sync sessions count every successful UpdateRecords, so
/// deleted datasets' SyncCounts are included.
pub fn usage(t: &DatasetTotals) -> Usage {
    Usage {
        dataset_count: t.live.datasets,
        data_storage: t.live.data_storage,
        sync_sessions: t.live.sync_count + t.deleted.sync_count,
        last_modified_ms: t.live.last_modified_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_live_datasets_and_every_sync_session() {
        use crate::store::Totals;
        let t = DatasetTotals {
            live: Totals {
                datasets: 2,
                data_storage: 17,
                sync_count: 3,
                last_modified_ms: Some(200),
            },
            deleted: Totals {
                datasets: 1,
                data_storage: 0,
                sync_count: 4,
                last_modified_ms: Some(900),
            },
        };
        assert_eq!(
            usage(&t),
            Usage {
                dataset_count: 2,
                data_storage: 17,
                sync_sessions: 7,
                last_modified_ms: Some(200)
            }
        );
        assert_eq!(usage(&DatasetTotals::default()), Usage::default());
    }
}
