//! How cogsync reaches AWS services (or compatible ones such as moto or LocalStack): endpoint,
//! region and credentials from server configuration and the standard AWS environment
//! variables, with an explicit HTTP client (plain HTTP for `http://` endpoints, rustls for
//! HTTPS).

use aws_credential_types::Credentials;
use aws_smithy_http_client::tls;

/// Connection settings shared by the AWS clients.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Region for the clients (`AWS_REGION`, else the server's `--region`).
    pub region: String,
    /// One endpoint for every service (e.g. a moto or LocalStack URL); None uses AWS's.
    pub endpoint: Option<String>,
    /// Per-service endpoint for Kinesis, overriding `endpoint`.
    pub kinesis_endpoint: Option<String>,
    /// Per-service endpoint for SNS, overriding `endpoint`.
    pub sns_endpoint: Option<String>,
    /// Per-service endpoint for Lambda, overriding `endpoint`.
    pub lambda_endpoint: Option<String>,
    /// From `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`.
    pub credentials: Option<Credentials>,
}

impl AwsSettings {
    /// Settings from the standard AWS environment variables, defaulting the region.
    pub fn from_env(default_region: &str) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Some(Credentials::new(
                id,
                secret,
                var("AWS_SESSION_TOKEN"),
                None,
                "environment",
            )),
            _ => None,
        };
        AwsSettings {
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| default_region.to_owned()),
            endpoint: var("AWS_ENDPOINT_URL"),
            kinesis_endpoint: var("AWS_ENDPOINT_URL_KINESIS"),
            sns_endpoint: var("AWS_ENDPOINT_URL_SNS"),
            lambda_endpoint: var("AWS_ENDPOINT_URL_LAMBDA"),
            credentials,
        }
    }
}

/// An HTTP client for the SDKs: rustls with the ring provider (also serves `http://`).
pub fn http_client() -> aws_sdk_kinesis::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The credentials that need no network to find: the environment, the shared profile files
/// and a web identity token (which the operator configures, and which asks STS).
pub fn local_credentials(
    region: &aws_config::Region,
) -> aws_config::meta::credentials::CredentialsProviderChain {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::profile::ProfileFileCredentialsProvider;
    use aws_config::provider_config::ProviderConfig;
    use aws_config::web_identity_token::WebIdentityTokenCredentialsProvider;
    let config = ProviderConfig::default()
        .with_http_client(crate::integrations::aws::http_client())
        .with_region(Some(region.clone()));
    aws_config::meta::credentials::CredentialsProviderChain::first_try(
        "environment",
        EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else(
        "profile",
        ProfileFileCredentialsProvider::builder()
            .configure(&config)
            .build(),
    )
    .or_else(
        "web identity token",
        WebIdentityTokenCredentialsProvider::builder()
            .configure(&config)
            .build(),
    )
}

/// Fails at once, in one line that says what to do, when `config` finds no credentials for
/// `whom` (the import's source, the server's upstream).
pub async fn check_credentials(
    config: &aws_config::SdkConfig,
    instance_metadata: bool,
    whom: &str,
) -> Result<(), String> {
    use aws_credential_types::provider::ProvideCredentials;
    let found = match config.credentials_provider() {
        Some(p) => p.provide_credentials().await.is_ok(),
        None => false,
    };
    if found {
        return Ok(());
    }
    let more = if instance_metadata {
        ""
    } else {
        "; on an EC2 instance or in a container with a role, add --use-instance-metadata"
    };
    Err(format!(
        "no AWS credentials for {whom}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for \
         another cogsync, its developer credentials), or AWS_PROFILE naming a profile in ~/.aws{more}"
    ))
}

/// A date of the SDKs as milliseconds. Dates travel as epoch seconds with a decimal
/// fraction, which the SDK parses as a float (`.32` becomes `.319999…`): rounded to the nearest
/// millisecond, not truncated.
pub fn millis(d: &aws_sdk_cognitosync::primitives::DateTime) -> i64 {
    d.secs() * 1000 + i64::from((d.subsec_nanos() + 500_000) / 1_000_000)
}

/// A date of the SDKs as milliseconds, 0 when absent.
pub fn ms(d: Option<&aws_sdk_cognitosync::primitives::DateTime>) -> i64 {
    d.map_or(0, millis)
}

/// A record of Cognito Sync's answers as the store keeps it.
pub fn record_of(r: &aws_sdk_cognitosync::types::Record) -> crate::store::RecordRow {
    crate::store::RecordRow {
        key: r.key().unwrap_or_default().to_owned(),
        value: r.value().map(str::to_owned),
        sync_count: r.sync_count().unwrap_or(0),
        last_modified_ms: ms(r.last_modified_date()),
        last_modified_by: r.last_modified_by().unwrap_or_default().to_owned(),
        device_last_modified_ms: r.device_last_modified_date().map(millis),
    }
}

/// A dataset of Cognito Sync's answers (ListDatasets, DescribeDataset) as a live row; its
/// SyncCount is in no such answer (0).
pub fn dataset_of(d: &aws_sdk_cognitosync::types::Dataset) -> crate::store::DatasetRow {
    crate::store::DatasetRow {
        identity_id: d.identity_id().unwrap_or_default().to_owned(),
        name: d.dataset_name().unwrap_or_default().to_owned(),
        live: true,
        sync_count: 0,
        creation_ms: ms(d.creation_date()),
        last_modified_ms: ms(d.last_modified_date()),
        last_modified_by: d.last_modified_by().unwrap_or_default().to_owned(),
        data_storage: d.data_storage().unwrap_or(0),
        num_records: d.num_records().unwrap_or(0),
        deleted_at_sync_count: None,
        merged_into: None,
    }
}
