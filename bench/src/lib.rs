//! The sync benchmark: devices with identity credentials driving a server over HTTP exactly as
//! the sync managers do, an `echo` baseline with the same client machinery, a ledger of
//! acknowledged writes checked against the server after every write workload, and reports
//! (text, JSON, SVG). The `cogsync-bench` binary and the test suite's smoke run use it.

pub mod client;
mod clients;
pub mod cpu;
pub mod echo;
pub mod replay;
pub mod report;
mod stream;
mod workloads;

use std::time::Duration;

use aws_credential_types::Credentials;
use axum::http::Method;
use serde_json::{json, Value};

use client::{HttpClient, Reply, Signer};
pub use echo::start_echo;
pub use workloads::{run, Targets, Workload, WorkloadResult};

/// One simulated device: an identity with its temporary credentials and its own dataset.
#[derive(Clone)]
pub struct Device {
    pub http: HttpClient,
    pub signer: Signer,
    /// The developer's signer for Cognito Identity (the developer-login workload).
    pub developer: Signer,
    pub pool: String,
    pub identity: String,
    pub dataset: String,
}

fn enc(id: &str) -> String {
    id.replace(':', "%3A")
}

fn expect(reply: Result<Reply, String>, what: &str) -> Result<Value, String> {
    match reply {
        Ok(r) if r.status == 200 => Ok(r.body),
        Ok(r) => Err(format!("{what}: HTTP {} {}", r.status, r.body)),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

async fn identity_call(
    http: &HttpClient,
    op: &str,
    body: Value,
    signer: Option<&Signer>,
) -> Result<Value, String> {
    let target = format!("AWSCognitoIdentityService.{op}");
    let reply = http
        .call(
            Method::POST,
            "/",
            &[
                ("x-amz-target", &target),
                ("content-type", "application/x-amz-json-1.1"),
            ],
            body.to_string().into_bytes(),
            signer,
        )
        .await;
    expect(reply, op)
}

/// The developer provider of the benchmark's pool.
pub const DEVELOPER_PROVIDER: &str = "bench.login";

/// Creates a pool and `n` identities with temporary credentials, each with dataset `ds-<i>`.
pub async fn provision(
    endpoint: &str,
    developer: &Credentials,
    n: usize,
) -> Result<Vec<Device>, String> {
    let http = HttpClient::new(endpoint);
    let dev = Signer {
        credentials: developer.clone(),
        service: "cognito-identity",
    };
    let pool = identity_call(
        &http,
        "CreateIdentityPool",
        json!({
            "IdentityPoolName": "bench",
            "AllowUnauthenticatedIdentities": true,
            "DeveloperProviderName": DEVELOPER_PROVIDER,
        }),
        Some(&dev),
    )
    .await?["IdentityPoolId"]
        .as_str()
        .ok_or("no pool id")?
        .to_owned();
    let mut devices = Vec::with_capacity(n);
    for i in 0..n {
        let id = identity_call(&http, "GetId", json!({ "IdentityPoolId": pool }), None).await?
            ["IdentityId"]
            .as_str()
            .ok_or("no identity id")?
            .to_owned();
        let creds = identity_call(
            &http,
            "GetCredentialsForIdentity",
            json!({ "IdentityId": id }),
            None,
        )
        .await?;
        let c = &creds["Credentials"];
        let field = |k: &str| c[k].as_str().map(str::to_owned).ok_or(format!("no {k}"));
        let credentials = Credentials::new(
            field("AccessKeyId")?,
            field("SecretKey")?,
            Some(field("SessionToken")?),
            None,
            "bench",
        );
        devices.push(Device {
            developer: dev.clone(),
            http: http.clone(),
            signer: Signer {
                credentials,
                service: "cognito-sync",
            },
            pool: pool.clone(),
            identity: id,
            dataset: format!("ds-{i}"),
        });
    }
    Ok(devices)
}

impl Device {
    fn dataset_path(&self) -> String {
        format!(
            "/identitypools/{}/identities/{}/datasets/{}",
            enc(&self.pool),
            enc(&self.identity),
            self.dataset
        )
    }

    fn records_path(&self, last: i64) -> String {
        format!("{}/records?lastSyncCount={last}", self.dataset_path())
    }

    /// ListRecords after `last` (everything in one page, as iOS asks).
    pub async fn list(&self, last: i64) -> Result<Reply, String> {
        let path = self.records_path(last);
        self.http
            .call(Method::GET, &path, &[], Vec::new(), Some(&self.signer))
            .await
    }

    /// The request `list(last)` sends, signed now, as bytes to send again and again.
    pub fn presign_list(&self, last: i64) -> Result<Vec<u8>, String> {
        let path = self.records_path(last);
        self.http
            .presign(Method::GET, &path, &[], &[], Some(&self.signer))
    }

    /// UpdateRecords with `replace` patches of (key, value, count).
    pub async fn update(
        &self,
        token: &str,
        patches: &[(String, String, i64)],
    ) -> Result<Reply, String> {
        let patches: Vec<Value> = patches
            .iter()
            .map(|(k, v, c)| json!({ "Op": "replace", "Key": k, "Value": v, "SyncCount": c }))
            .collect();
        let body = json!({ "SyncSessionToken": token, "RecordPatches": patches })
            .to_string()
            .into_bytes();
        self.http
            .call(
                Method::POST,
                &self.dataset_path(),
                &[("content-type", "application/json")],
                body,
                Some(&self.signer),
            )
            .await
    }

    /// GetId without logins (unsigned): a new identity of the device's pool.
    pub async fn new_identity(&self) -> Result<Reply, String> {
        let body = json!({ "IdentityPoolId": self.pool });
        self.identity_request("GetId", body, None).await
    }

    /// GetOpenIdTokenForDeveloperIdentity for developer user `user` of the device's pool.
    pub async fn developer_login(&self, user: &str) -> Result<Reply, String> {
        let body = json!({
            "IdentityPoolId": self.pool,
            "Logins": { DEVELOPER_PROVIDER: user },
        });
        let developer = self.developer.clone();
        self.identity_request("GetOpenIdTokenForDeveloperIdentity", body, Some(&developer))
            .await
    }

    async fn identity_request(
        &self,
        op: &str,
        body: Value,
        signer: Option<&Signer>,
    ) -> Result<Reply, String> {
        let target = format!("AWSCognitoIdentityService.{op}");
        self.http
            .call(
                Method::POST,
                "/",
                &[
                    ("x-amz-target", &target),
                    ("content-type", "application/x-amz-json-1.1"),
                ],
                body.to_string().into_bytes(),
                signer,
            )
            .await
    }

    /// A SyncSessionToken for the device's dataset.
    pub async fn session_token(&self) -> Result<String, String> {
        let body = expect(self.list(0).await, "ListRecords")?;
        body["SyncSessionToken"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "no token".into())
    }
}

/// How long or how much to run a workload.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub duration: Duration,
    /// Stop after this many requests in all (smoke runs); None: run for `duration`.
    pub max_requests: Option<u64>,
}

/// Fills a SQLite data directory with `identities` identities of one pool, each with one
/// dataset of 10 records, written through the store (many at a time, so group commit batches
/// them). Used to measure start-up time and memory on a large store.
pub async fn preload(data_dir: &std::path::Path, identities: usize) -> Result<(), String> {
    use cogsync::store::{sqlite::SqliteStore, IdentityRecord, PoolRecord, Store};
    use cogsync::sync::rules::{plan_update, Limits, Patch, PatchOp};
    use std::sync::Arc;

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(data_dir).map_err(|e| e.to_string())?);
    let now = cogsync::timeutil::now_ms();
    let pool = format!("us-east-1:{}", uuid::Uuid::new_v4());
    store
        .create_pool(&PoolRecord {
            id: pool.clone(),
            name: "preload".into(),
            allow_unauthenticated: true,
            developer_provider_name: None,
            details: Default::default(),
            created_ms: now,
        })
        .await
        .map_err(|e| e.to_string())?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (store, pool, next) = (store.clone(), pool.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= identities {
                    return Ok::<(), String>(());
                }
                let id = format!("us-east-1:{}", uuid::Uuid::new_v4());
                store
                    .create_identity(&IdentityRecord {
                        id: id.clone(),
                        pool_id: pool.clone(),
                        created_ms: now,
                        last_modified_ms: now,
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                let patches: Vec<Patch> = (0..10)
                    .map(|k| Patch {
                        op: PatchOp::Replace,
                        key: format!("key{k}"),
                        value: Some(format!("value {k} of identity {i}")),
                        sync_count: 0,
                        device_last_modified_ms: None,
                    })
                    .collect();
                let keys = patches.iter().map(|p| p.key.clone()).collect();
                let owner = id.clone();
                store
                    .update_records(
                        &id,
                        "settings",
                        keys,
                        Box::new(move |snap| {
                            plan_update(
                                snap,
                                &patches,
                                &owner,
                                "settings",
                                &owner,
                                now,
                                Limits::default(),
                            )
                        }),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    Ok(())
}
