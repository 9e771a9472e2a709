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
