//! The upstream of upstream mode, reached with the official SDK clients: the Cognito Sync and
//! Cognito Identity calls the services forward for attached pools ([`UpstreamSync`],
//! [`UpstreamIdentity`]). Developer calls are signed with the standard AWS credential chain
//! (as `cogsync import` does); identity calls with the identity's own upstream credentials;
//! the unsigned Cognito Identity calls go unsigned, as the SDK sends them. No retries here: the
//! device's SDK retries what is retryable, and a retried write after an unseen success would
//! be answered a false conflict.

use std::time::Duration;

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sdk_cognitoidentity as cid;
use aws_sdk_cognitosync as cs;
use cs::error::{ProvideErrorMetadata, SdkError};
use cs::primitives::DateTime;

use super::aws::{dataset_of, http_client, local_credentials, millis, record_of};
use crate::identity::ports::UpstreamIdentity;
use crate::store::{DatasetRow, RecordRow, Usage};
use crate::sync::ports::{UpstreamListing, UpstreamRecords, UpstreamSync};
use crate::sync::{DatasetRef, Patch, PatchOp};
use crate::upstream::{Signer, UpstreamCode, UpstreamCredentials, UpstreamError, UpstreamResult};

/// Where the upstream is.
#[derive(Debug, Clone)]
pub struct UpstreamLocation {
    /// One URL for both services (another cogsync, a proxy); None: AWS's endpoints.
    pub endpoint: Option<String>,
    /// The upstream's region (AWS's endpoints, and the signature's scope).
    pub region: String,
    /// How long one forwarded call may take.
    pub timeout: Duration,
}

impl UpstreamLocation {
    /// How the store records which upstream a pool is attached to.
    pub fn describe(&self) -> String {
        match &self.endpoint {
            Some(url) => format!("endpoint:{}", url.trim_end_matches('/')),
            None => format!("region:{}", self.region),
        }
    }
}

pub struct AwsUpstream {
    sync: cs::Client,
    identity: cid::Client,
}

impl AwsUpstream {
    /// Clients for `at`, signing developer calls with the standard credential chain; an
    /// error in one line when no credentials are found.
    pub async fn connect(at: &UpstreamLocation) -> Result<AwsUpstream, String> {
        let region = aws_config::Region::new(at.region.clone());
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3).min(at.timeout))
            .operation_timeout(at.timeout)
            .build();
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http_client())
            .region(region.clone())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(timeouts)
            .credentials_provider(local_credentials(&region));
        let config = loader.load().await;
        super::aws::check_credentials(&config, false, "the upstream").await?;
        // Always an explicit endpoint: AWS_ENDPOINT_URL may point the server's own
        // integrations at a stand-in, and must not send the upstream's calls there too.
        let (sync_url, identity_url) = match &at.endpoint {
            Some(url) => (url.clone(), url.clone()),
            None => (
                format!("https://cognito-sync.{}.amazonaws.com", at.region),
                format!("https://cognito-identity.{}.amazonaws.com", at.region),
            ),
        };
        let identity = cid::config::Builder::from(&config).endpoint_url(identity_url);
        let sync = cs::config::Builder::from(&config).endpoint_url(sync_url);
        Ok(AwsUpstream {
            sync: cs::Client::from_conf(sync.build()),
            identity: cid::Client::from_conf(identity.build()),
        })
    }

    /// A sync-client configuration override signing as `signer`.
    fn signed(signer: &Signer) -> Option<cs::config::Builder> {
        match signer {
            Signer::Developer => None,
            Signer::Identity(c) => Some(cs::config::Builder::default().credentials_provider(
                Credentials::new(
                    c.access_key_id.clone(),
                    c.secret_access_key.clone(),
                    Some(c.session_token.clone()),
                    None,
                    "upstream identity",
                ),
            )),
        }
    }
}

/// Sends a Cognito Sync request signed as `$signer`.
macro_rules! send_as {
    ($signer:expr, $request:expr) => {{
        let request = $request;
        let sent = match AwsUpstream::signed($signer) {
            Some(config) => request.customize().config_override(config).send().await,
            None => request.send().await,
        };
        sent.map_err(|e| error_of(e, $signer))
    }};
}

/// An SDK failure as an [`UpstreamError`].
fn error_of<E, R>(e: SdkError<E, R>, signer: &Signer) -> UpstreamError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let shape = err.code().unwrap_or_default().to_owned();
            let message = err.message().unwrap_or_default().to_owned();
            refused(&shape, message, signer)
        }
        SdkError::DispatchFailure(d) => {
            let text = format!("{:?}", d.as_connector_error());
            if d.is_io() && (text.contains("onnect") || text.contains("refused")) {
                UpstreamError::Unreachable(text)
            } else {
                UpstreamError::Unanswered(text)
            }
        }
        SdkError::ConstructionFailure(c) => UpstreamError::Unreachable(format!("{c:?}")),
        other => UpstreamError::Unanswered(format!("{other:?}")),
    }
}

/// A modelled error of the upstream, relayed; a refusal of the credentials cogsync signed with.
fn refused(shape: &str, message: String, signer: &Signer) -> UpstreamError {
    const SIGNATURE: [&str; 5] = [
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "AccessDeniedException",
    ];
    let ours = SIGNATURE.contains(&shape) || shape == "ExpiredTokenException";
    match (ours, signer) {
        (true, Signer::Identity(_)) => UpstreamError::Refused {
            code: UpstreamCode::ExpiredToken,
            message: format!(
                "The upstream refused the identity's credentials ({shape}): get new credentials"
            ),
        },
        (true, Signer::Developer) => UpstreamError::OurCredentials(format!("{shape}: {message}")),
        (false, _) => match UpstreamCode::of_shape(shape) {
            Some(code) => UpstreamError::Refused { code, message },
            None => UpstreamError::Unanswered(format!("an unknown error {shape}: {message}")),
        },
    }
}

fn patch_of(p: &Patch) -> UpstreamResult<cs::types::RecordPatch> {
    let op = match p.op {
        PatchOp::Replace => cs::types::Operation::Replace,
        PatchOp::Remove => cs::types::Operation::Remove,
    };
    cs::types::RecordPatch::builder()
        .op(op)
        .key(&p.key)
        .set_value(p.value.clone())
        .sync_count(p.sync_count)
        .set_device_last_modified_date(p.device_last_modified_ms.map(DateTime::from_millis))
        .build()
        .map_err(|e| UpstreamError::Unreachable(format!("a record patch: {e}")))
}

fn max_results(n: Option<i64>) -> Option<i32> {
    n.map(|n| i32::try_from(n).unwrap_or(i32::MAX))
}

/// A dataset the upstream answered without one.
fn no_dataset(r: &DatasetRef) -> UpstreamError {
    UpstreamError::Unanswered(format!("no dataset in the answer for {}", r.dataset_name))
}

#[async_trait]
impl UpstreamSync for AwsUpstream {
    async fn list_records(
        &self,
        signer: &Signer,
        r: &DatasetRef,
        listing: UpstreamListing<'_>,
    ) -> UpstreamResult<UpstreamRecords> {
        let request = self
            .sync
            .list_records()
            .identity_pool_id(&r.pool_id)
            .identity_id(&r.identity_id)
            .dataset_name(&r.dataset_name)
            .set_last_sync_count(listing.last_sync_count)
            .set_next_token(listing.next_token.map(str::to_owned))
            .set_max_results(max_results(listing.max_results));
        let out = send_as!(signer, request)?;
        Ok(UpstreamRecords {
            records: out.records().iter().map(record_of).collect(),
            next_token: out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            dataset_sync_count: out.dataset_sync_count().unwrap_or(0),
            last_modified_by: out.last_modified_by().map(str::to_owned),
            dataset_exists: out.dataset_exists(),
            deleted_after_requested_sync_count: out.dataset_deleted_after_requested_sync_count(),
            merged_dataset_names: out.merged_dataset_names().to_vec(),
            sync_session_token: out.sync_session_token().unwrap_or_default().to_owned(),
        })
    }

    async fn update_records(
        &self,
        signer: &Signer,
        r: &DatasetRef,
        device_id: Option<&str>,
        sync_session_token: &str,
        patches: &[Patch],
    ) -> UpstreamResult<Vec<RecordRow>> {
        let patches = patches
            .iter()
            .map(patch_of)
            .collect::<Result<Vec<_>, _>>()?;
        let request = self
            .sync
            .update_records()
            .identity_pool_id(&r.pool_id)
            .identity_id(&r.identity_id)
            .dataset_name(&r.dataset_name)
            .set_device_id(device_id.map(str::to_owned))
            .set_record_patches(Some(patches))
            .sync_session_token(sync_session_token);
        let out = send_as!(signer, request)?;
        Ok(out.records().iter().map(record_of).collect())
    }

    async fn list_datasets(
        &self,
        signer: &Signer,
        pool_id: &str,
        identity_id: &str,
        next_token: Option<&str>,
        max: Option<i64>,
    ) -> UpstreamResult<(Vec<DatasetRow>, Option<String>)> {
        let request = self
            .sync
            .list_datasets()
            .identity_pool_id(pool_id)
            .identity_id(identity_id)
            .set_next_token(next_token.map(str::to_owned))
            .set_max_results(max_results(max));
        let out = send_as!(signer, request)?;
        let next = out
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok((out.datasets().iter().map(dataset_of).collect(), next))
    }

    async fn describe_dataset(
        &self,
        signer: &Signer,
        r: &DatasetRef,
    ) -> UpstreamResult<DatasetRow> {
        let request = self
            .sync
            .describe_dataset()
            .identity_pool_id(&r.pool_id)
            .identity_id(&r.identity_id)
            .dataset_name(&r.dataset_name);
        let out = send_as!(signer, request)?;
        out.dataset().map(dataset_of).ok_or_else(|| no_dataset(r))
    }

    async fn delete_dataset(&self, signer: &Signer, r: &DatasetRef) -> UpstreamResult<DatasetRow> {
        let request = self
            .sync
            .delete_dataset()
            .identity_pool_id(&r.pool_id)
            .identity_id(&r.identity_id)
            .dataset_name(&r.dataset_name);
        let out = send_as!(signer, request)?;
        out.dataset().map(dataset_of).ok_or_else(|| no_dataset(r))
    }

    async fn identity_usage(
        &self,
        signer: &Signer,
        pool_id: &str,
        identity_id: &str,
    ) -> UpstreamResult<Usage> {
        let request = self
            .sync
            .describe_identity_usage()
            .identity_pool_id(pool_id)
            .identity_id(identity_id);
        let out = send_as!(signer, request)?;
        let u = out.identity_usage();
        Ok(Usage {
            dataset_count: i64::from(u.map_or(0, |u| u.dataset_count())),
            data_storage: u.and_then(|u| u.data_storage()).unwrap_or(0),
            sync_sessions: 0,
            last_modified_ms: u.and_then(|u| u.last_modified_date()).map(millis),
        })
    }

    async fn register_device(
        &self,
        signer: &Signer,
        pool_id: &str,
        identity_id: &str,
        platform: &str,
        token: &str,
    ) -> UpstreamResult<String> {
        let request = self
            .sync
            .register_device()
            .identity_pool_id(pool_id)
            .identity_id(identity_id)
            .platform(cs::types::Platform::from(platform))
            .token(token);
        let out = send_as!(signer, request)?;
        Ok(out.device_id().unwrap_or_default().to_owned())
    }

    async fn subscription(
        &self,
        signer: &Signer,
        r: &DatasetRef,
        device_id: &str,
        subscribe: bool,
    ) -> UpstreamResult<()> {
        if subscribe {
            let request = self
                .sync
                .subscribe_to_dataset()
                .identity_pool_id(&r.pool_id)
                .identity_id(&r.identity_id)
                .dataset_name(&r.dataset_name)
                .device_id(device_id);
            send_as!(signer, request)?;
        } else {
            let request = self
                .sync
                .unsubscribe_from_dataset()
                .identity_pool_id(&r.pool_id)
                .identity_id(&r.identity_id)
                .dataset_name(&r.dataset_name)
                .device_id(device_id);
            send_as!(signer, request)?;
        }
        Ok(())
    }
}

fn logins_map(logins: &[(String, String)]) -> Option<std::collections::HashMap<String, String>> {
    (!logins.is_empty()).then(|| logins.iter().cloned().collect())
}

#[async_trait]
impl UpstreamIdentity for AwsUpstream {
    async fn get_id(&self, pool_id: &str, logins: &[(String, String)]) -> UpstreamResult<String> {
        let out = self
            .identity
            .get_id()
            .identity_pool_id(pool_id)
            .set_logins(logins_map(logins))
            .send()
            .await
            .map_err(|e| error_of(e, &Signer::Developer))?;
        out.identity_id()
            .map(str::to_owned)
            .ok_or_else(|| UpstreamError::Unanswered("GetId answered no IdentityId".into()))
    }

    async fn credentials_for_identity(
        &self,
        identity_id: &str,
        logins: &[(String, String)],
    ) -> UpstreamResult<UpstreamCredentials> {
        let out = self
            .identity
            .get_credentials_for_identity()
            .identity_id(identity_id)
            .set_logins(logins_map(logins))
            .send()
            .await
            .map_err(|e| error_of(e, &Signer::Developer))?;
        let c = out.credentials().ok_or_else(|| {
            UpstreamError::Unanswered("GetCredentialsForIdentity answered no Credentials".into())
        })?;
        Ok(UpstreamCredentials {
            access_key_id: c.access_key_id().unwrap_or_default().to_owned(),
            secret_access_key: c.secret_key().unwrap_or_default().to_owned(),
            session_token: c.session_token().unwrap_or_default().to_owned(),
            expiration_ms: c.expiration().map_or(0, millis),
        })
    }

    async fn open_id_token(
        &self,
        identity_id: &str,
        logins: &[(String, String)],
    ) -> UpstreamResult<(String, String)> {
        let out = self
            .identity
            .get_open_id_token()
            .identity_id(identity_id)
            .set_logins(logins_map(logins))
            .send()
            .await
            .map_err(|e| error_of(e, &Signer::Developer))?;
        Ok((
            out.identity_id().unwrap_or(identity_id).to_owned(),
            out.token().unwrap_or_default().to_owned(),
        ))
    }

    async fn open_id_token_for_developer(
        &self,
        pool_id: &str,
        identity_id: Option<&str>,
        logins: &[(String, String)],
        token_duration_s: Option<i64>,
    ) -> UpstreamResult<(String, String)> {
        let out = self
            .identity
            .get_open_id_token_for_developer_identity()
            .identity_pool_id(pool_id)
            .set_identity_id(identity_id.map(str::to_owned))
            .set_logins(Some(logins.iter().cloned().collect()))
            .set_token_duration(token_duration_s)
            .send()
            .await
            .map_err(|e| error_of(e, &Signer::Developer))?;
        Ok((
            out.identity_id().unwrap_or_default().to_owned(),
            out.token().unwrap_or_default().to_owned(),
        ))
    }
}
