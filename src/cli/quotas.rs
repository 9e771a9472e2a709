//! The server-wide dataset quotas as flags: `serve` enforces them (a pool's own, set in the
//! console, replace them for that pool), and `import` reports the datasets above them.

use crate::sync::Limits;

/// Dataset quotas (AWS's defaults; AWS lets an account raise them).
#[derive(clap::Args, Debug, Clone)]
pub struct QuotaArgs {
    /// Most live datasets an identity may hold (AWS's default: 20). A pool's own quota, set in
    /// the console, replaces it for that pool. `import` only reports identities above it.
    #[arg(long, default_value_t = Limits::default().datasets_per_identity, env = "COGSYNC_MAX_DATASETS_PER_IDENTITY", value_parser = clap::value_parser!(i64).range(1..))]
    pub max_datasets_per_identity: i64,
    /// Most live records a dataset may hold (AWS's default: 1024). A pool's own quota, set in
    /// the console, replaces it for that pool. `import` only reports datasets above it.
    #[arg(long, default_value_t = Limits::default().records_per_dataset, env = "COGSYNC_MAX_RECORDS_PER_DATASET", value_parser = clap::value_parser!(i64).range(1..))]
    pub max_records_per_dataset: i64,
    /// Most bytes (UTF-8 keys and values of live records) a dataset may hold (AWS's default:
    /// 1048576). A pool's own quota, set in the console, replaces it for that pool. `import`
    /// only reports datasets above it.
    #[arg(long, default_value_t = Limits::default().bytes_per_dataset, env = "COGSYNC_MAX_DATASET_BYTES", value_parser = clap::value_parser!(i64).range(1..))]
    pub max_dataset_bytes: i64,
}

impl QuotaArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            datasets_per_identity: self.max_datasets_per_identity,
            records_per_dataset: self.max_records_per_dataset,
            bytes_per_dataset: self.max_dataset_bytes,
        }
    }
}
