//! The export file: line-oriented JSON, one object per line, versioned. Documented in
//! `docs/export-format.md`; a change that older readers would misread gets a new version.
//!
//! ```text
//! {"format":"cogsync-export","version":2}
//! {"secret":{...}}          every secret (token signing keys), before the pools
//! {"pool":{...}}            a pool with its settings and bulk-publish job
//! {"identity":{...}}        an identity of the pool above, with logins, devices, subscriptions
//! {"dataset":{...}}         a dataset of the identity above, with all its records
//! {"end":{...}}             counts of what came before: a file without it is cut short
//! ```

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::rules::Quotas;
use crate::store::{
    BulkJob, CognitoStreams, DatasetRecords, DatasetRow, DeviceRecord, IdentityCopy,
    IdentityRecord, PoolCopy, PoolDetails, PoolLimits, PoolRecord, PoolSettings, PushSync,
    RecordRow,
};

pub const FORMAT: &str = "cogsync-export";
/// The version written. 2 added the pool's quotas (`settings.limits`).
pub const VERSION: u32 = 2;
/// The versions read.
pub const READS: [u32; 2] = [1, VERSION];

/// The first line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: String,
    pub version: u32,
}

/// Every line after the first: one object with one member naming what it holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    Secret(Secret),
    Pool(Box<Pool>),
    Identity(Identity),
    Dataset(Dataset),
    End(Counts),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub name: String,
    /// Base64 (standard alphabet, padded).
    pub value: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub id: String,
    pub name: String,
    pub allow_unauthenticated: bool,
    pub developer_provider_name: Option<String>,
    /// The other IdentityPool members (AllowClassicFlow, SupportedLoginProviders, ...).
    /// The other IdentityPool members (login providers, tags, …).
    pub members: PoolDetails,
    pub created_ms: i64,
    pub settings: Settings,
    pub bulk_publish: Option<Bulk>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub version: i64,
    /// PushSync as GetIdentityPoolConfiguration answers it.
    pub push_sync: Option<PushSync>,
    /// CognitoStreams as GetIdentityPoolConfiguration answers it.
    pub cognito_streams: Option<CognitoStreams>,
    /// Event type → Lambda function, as GetCognitoEvents answers it.
    pub events: BTreeMap<String, String>,
    /// The pool's own quotas: in every pool line from version 2 on, in none before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

/// A pool's own quotas; null: the server's applies.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub datasets_per_identity: Option<i64>,
    pub records_per_dataset: Option<i64>,
    pub bytes_per_dataset: Option<i64>,
}

/// Whether a pool line of a file of `version` states the pool's quotas, as that version
/// must: why not, when it breaks its version's rule.
pub fn quotas_of(version: u32, p: &Pool) -> Result<Quotas, String> {
    match (version >= 2, p.settings.limits.is_some()) {
        (true, true) => Ok(Quotas::Carried),
        (false, false) => Ok(Quotas::Unknown),
        (true, false) => Err(format!(
            "pool {}: no settings.limits, which version {version} requires",
            p.id
        )),
        (false, true) => Err(format!(
            "pool {}: settings.limits in a version {version} file (they came in version 2)",
            p.id
        )),
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bulk {
    pub status: String,
    pub start_ms: Option<i64>,
    pub complete_ms: Option<i64>,
    pub failure_message: Option<String>,
    pub last_success_ms: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub id: String,
    pub pool_id: String,
    pub created_ms: i64,
    pub last_modified_ms: i64,
    pub logins: Vec<Login>,
    pub devices: Vec<Device>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub provider: String,
    pub subject: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    pub id: String,
    pub platform: String,
    pub token: String,
    pub endpoint_arn: String,
    pub disabled: bool,
    pub created_ms: i64,
    /// Datasets the device is subscribed to.
    pub subscriptions: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    pub identity_id: String,
    pub name: String,
    /// False for a deleted dataset, kept for its counter.
    pub live: bool,
    pub sync_count: i64,
    pub creation_ms: i64,
    pub last_modified_ms: i64,
    pub last_modified_by: String,
    pub data_storage: i64,
    pub num_records: i64,
    pub deleted_at_sync_count: Option<i64>,
    /// For `<name>.<identity>` copied in by a merge: the dataset that lists it.
    pub merged_into: Option<String>,
    pub records: Vec<Record>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub key: String,
    /// Null for a deleted record (a tombstone).
    pub value: Option<String>,
    pub sync_count: i64,
    pub last_modified_ms: i64,
    pub last_modified_by: String,
    pub device_last_modified_ms: Option<i64>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub secrets: u64,
    pub pools: u64,
    pub identities: u64,
    pub datasets: u64,
    pub records: u64,
}

pub fn header() -> Header {
    Header {
        format: FORMAT.into(),
        version: VERSION,
    }
}

impl Secret {
    pub fn new(name: String, value: &[u8]) -> Self {
        Secret {
            name,
            value: base64::engine::general_purpose::STANDARD.encode(value),
        }
    }

    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.value)
            .map_err(|e| format!("secret {}: {e}", self.name))
    }
}

impl From<&PoolCopy> for Pool {
    fn from(c: &PoolCopy) -> Self {
        let p = &c.pool;
        Pool {
            id: p.id.clone(),
            name: p.name.clone(),
            allow_unauthenticated: p.allow_unauthenticated,
            developer_provider_name: p.developer_provider_name.clone(),
            members: p.details.clone(),
            created_ms: p.created_ms,
            settings: Settings {
                version: c.settings.version,
                push_sync: c.settings.push_sync.clone(),
                cognito_streams: c.settings.cognito_streams.clone(),
                events: c.settings.events.clone(),
                limits: Some(Limits {
                    datasets_per_identity: c.settings.limits.datasets_per_identity,
                    records_per_dataset: c.settings.limits.records_per_dataset,
                    bytes_per_dataset: c.settings.limits.bytes_per_dataset,
                }),
            },
            bulk_publish: c.bulk.as_ref().map(|b| Bulk {
                status: b.status.clone(),
                start_ms: b.start_ms,
                complete_ms: b.complete_ms,
                failure_message: b.failure_message.clone(),
                last_success_ms: b.last_success_ms,
            }),
        }
    }
}

impl From<Pool> for PoolCopy {
    fn from(p: Pool) -> Self {
        PoolCopy {
            pool: PoolRecord {
                id: p.id,
                name: p.name,
                allow_unauthenticated: p.allow_unauthenticated,
                developer_provider_name: p.developer_provider_name,
                details: p.members,
                created_ms: p.created_ms,
            },
            settings: PoolSettings {
                version: p.settings.version,
                push_sync: p.settings.push_sync,
                cognito_streams: p.settings.cognito_streams,
                events: p.settings.events,
                // Not stated (a version 1 file): none here; the import keeps the stored ones.
                limits: p
                    .settings
                    .limits
                    .map_or_else(PoolLimits::default, |l| PoolLimits {
                        datasets_per_identity: l.datasets_per_identity,
                        records_per_dataset: l.records_per_dataset,
                        bytes_per_dataset: l.bytes_per_dataset,
                    }),
            },
            bulk: p.bulk_publish.map(|b| BulkJob {
                status: b.status,
                start_ms: b.start_ms,
                complete_ms: b.complete_ms,
                failure_message: b.failure_message,
                last_success_ms: b.last_success_ms,
            }),
        }
    }
}

impl From<&IdentityCopy> for Identity {
    fn from(c: &IdentityCopy) -> Self {
        let i = &c.identity;
        Identity {
            id: i.id.clone(),
            pool_id: i.pool_id.clone(),
            created_ms: i.created_ms,
            last_modified_ms: i.last_modified_ms,
            logins: c
                .logins
                .iter()
                .map(|(provider, subject)| Login {
                    provider: provider.clone(),
                    subject: subject.clone(),
                })
                .collect(),
            devices: c
                .devices
                .iter()
                .map(|d| Device {
                    id: d.id.clone(),
                    platform: d.platform.clone(),
                    token: d.token.clone(),
                    endpoint_arn: d.endpoint_arn.clone(),
                    disabled: d.disabled,
                    created_ms: d.created_ms,
                    subscriptions: c
                        .subscriptions
                        .iter()
                        .filter(|(_, device)| *device == d.id)
                        .map(|(dataset, _)| dataset.clone())
                        .collect(),
                })
                .collect(),
        }
    }
}

impl Identity {
    /// The identity without datasets yet (they follow on their own lines).
    pub fn into_copy(self) -> IdentityCopy {
        let mut subscriptions = Vec::new();
        let devices = self
            .devices
            .into_iter()
            .map(|d| {
                for dataset in d.subscriptions {
                    subscriptions.push((dataset, d.id.clone()));
                }
                DeviceRecord {
                    id: d.id,
                    identity_id: self.id.clone(),
                    platform: d.platform,
                    token: d.token,
                    endpoint_arn: d.endpoint_arn,
                    disabled: d.disabled,
                    created_ms: d.created_ms,
                }
            })
            .collect();
        subscriptions.sort();
        IdentityCopy {
            identity: IdentityRecord {
                id: self.id,
                pool_id: self.pool_id,
                created_ms: self.created_ms,
                last_modified_ms: self.last_modified_ms,
            },
            logins: self
                .logins
                .into_iter()
                .map(|l| (l.provider, l.subject))
                .collect(),
            datasets: Vec::new(),
            devices,
            subscriptions,
        }
    }
}

impl From<&DatasetRecords> for Dataset {
    fn from(d: &DatasetRecords) -> Self {
        let r = &d.row;
        Dataset {
            identity_id: r.identity_id.clone(),
            name: r.name.clone(),
            live: r.live,
            sync_count: r.sync_count,
            creation_ms: r.creation_ms,
            last_modified_ms: r.last_modified_ms,
            last_modified_by: r.last_modified_by.clone(),
            data_storage: r.data_storage,
            num_records: r.num_records,
            deleted_at_sync_count: r.deleted_at_sync_count,
            merged_into: r.merged_into.clone(),
            records: d
                .records
                .iter()
                .map(|r| Record {
                    key: r.key.clone(),
                    value: r.value.clone(),
                    sync_count: r.sync_count,
                    last_modified_ms: r.last_modified_ms,
                    last_modified_by: r.last_modified_by.clone(),
                    device_last_modified_ms: r.device_last_modified_ms,
                })
                .collect(),
        }
    }
}

impl From<Dataset> for DatasetRecords {
    fn from(d: Dataset) -> Self {
        DatasetRecords {
            row: DatasetRow {
                identity_id: d.identity_id,
                name: d.name,
                live: d.live,
                sync_count: d.sync_count,
                creation_ms: d.creation_ms,
                last_modified_ms: d.last_modified_ms,
                last_modified_by: d.last_modified_by,
                data_storage: d.data_storage,
                num_records: d.num_records,
                deleted_at_sync_count: d.deleted_at_sync_count,
                merged_into: d.merged_into,
            },
            records: d
                .records
                .into_iter()
                .map(|r| RecordRow {
                    key: r.key,
                    value: r.value,
                    sync_count: r.sync_count,
                    last_modified_ms: r.last_modified_ms,
                    last_modified_by: r.last_modified_by,
                    device_last_modified_ms: r.device_last_modified_ms,
                })
                .collect(),
            since: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through_text<T: Serialize + for<'de> Deserialize<'de>>(value: &T) -> T {
        serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap()
    }

    #[test]
    fn an_identity_with_devices_and_subscriptions_round_trips() {
        let copy = IdentityCopy {
            identity: IdentityRecord {
                id: "us-east-1:i".into(),
                pool_id: "us-east-1:p".into(),
                created_ms: 1,
                last_modified_ms: 2,
            },
            logins: vec![("login.app".into(), "u1".into())],
            datasets: Vec::new(),
            devices: vec![DeviceRecord {
                id: "dev1".into(),
                identity_id: "us-east-1:i".into(),
                platform: "GCM".into(),
                token: "t".into(),
                endpoint_arn: "arn:aws:sns:us-east-1:1:endpoint/GCM/app/x".into(),
                disabled: true,
                created_ms: 3,
            }],
            subscriptions: vec![("a".into(), "dev1".into()), ("b".into(), "dev1".into())],
        };
        let line = Line::Identity(Identity::from(&copy));
        let Line::Identity(back) = through_text(&line) else {
            panic!("not an identity line");
        };
        assert_eq!(back.into_copy(), copy);
    }

    #[test]
    fn a_pool_line_keeps_every_member() {
        let copy = PoolCopy {
            pool: PoolRecord {
                id: "us-east-1:p".into(),
                name: "p".into(),
                allow_unauthenticated: false,
                developer_provider_name: Some("login.app".into()),
                details: serde_json::from_str(
                    r#"{"SupportedLoginProviders":{"z":"1","a":"2"},"IdentityPoolTags":{"t":"v"}}"#,
                )
                .unwrap(),
                created_ms: 5,
            },
            settings: PoolSettings {
                version: 7,
                push_sync: None,
                cognito_streams: serde_json::from_str(r#"{"StreamName":"s","RoleArn":"r"}"#)
                    .unwrap(),
                events: [("SyncTrigger".to_owned(), "f".to_owned())].into(),
                limits: PoolLimits {
                    records_per_dataset: Some(4096),
                    ..PoolLimits::default()
                },
            },
            bulk: Some(BulkJob {
                status: "COMPLETE".into(),
                start_ms: Some(1),
                complete_ms: Some(2),
                failure_message: None,
                last_success_ms: Some(2),
            }),
        };
        let Line::Pool(back) = through_text(&Line::Pool(Box::new(Pool::from(&copy)))) else {
            panic!("not a pool line");
        };
        assert_eq!(PoolCopy::from(*back), copy);
    }

    #[test]
    fn pool_lines_state_their_quotas_from_version_2_on() {
        let v1 = r#"{"pool":{"id":"us-east-1:p","name":"p","allow_unauthenticated":true,"developer_provider_name":null,"members":{},"created_ms":1,"settings":{"version":0,"push_sync":null,"cognito_streams":null,"events":{}},"bulk_publish":null}}"#;
        let Line::Pool(old) = serde_json::from_str::<Line>(v1).unwrap() else {
            panic!("not a pool line");
        };
        assert_eq!(quotas_of(1, &old), Ok(Quotas::Unknown));
        assert!(quotas_of(2, &old)
            .unwrap_err()
            .contains("no settings.limits"));
        assert_eq!(PoolCopy::from(*old).settings.limits, PoolLimits::default());

        let v2 = v1.replace(
            r#""events":{}}"#,
            r#""events":{},"limits":{"datasets_per_identity":null,"records_per_dataset":4096,"bytes_per_dataset":null}}"#,
        );
        let Line::Pool(new) = serde_json::from_str::<Line>(&v2).unwrap() else {
            panic!("not a pool line");
        };
        assert_eq!(quotas_of(2, &new), Ok(Quotas::Carried));
        assert!(quotas_of(1, &new).unwrap_err().contains("version 1 file"));
        // Written as read: every quota named, null where the pool has none of its own.
        assert_eq!(serde_json::to_string(&Line::Pool(new)).unwrap(), v2);
        let unknown = v2.replace(r#""bytes_per_dataset":null"#, r#""bytes":1"#);
        assert!(serde_json::from_str::<Line>(&unknown).is_err());
    }
}
