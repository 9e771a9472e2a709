//! Server configuration, as resolved from the command line and the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::auth::DeveloperCredentials;
use crate::integrations::aws::AwsSettings;
use crate::sync::SyncSettings;

/// Shown as LastModifiedBy for writes made with developer credentials (AWS shows the
/// account id there).
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// PostgreSQL URL; None selects the embedded SQLite database in `data_dir`.
    pub database_url: Option<String>,
    /// Prefix of new pool and identity ids (`REGION:uuid`).
    pub region: String,
    pub account_id: String,
    pub credentials: DeveloperCredentials,
    /// Quotas, the clock and the bulk-publish interval of the sync rules.
    pub sync: SyncSettings,
    /// How to reach AWS (or compatible) services for integrations.
    pub aws: AwsSettings,
    /// Lifetime of the temporary credentials GetCredentialsForIdentity vends.
    pub credentials_ttl_ms: i64,
    /// OpenID Connect providers whose tokens are accepted as logins.
    pub oidc_providers: Vec<crate::identity::oidc::OidcProvider>,
}

impl ServerConfig {
    /// A configuration with the documented defaults for everything but the essentials.
    pub fn new(listen: SocketAddr, data_dir: PathBuf, credentials: DeveloperCredentials) -> Self {
        ServerConfig {
            listen,
            data_dir,
            database_url: None,
            region: "us-east-1".into(),
            account_id: DEFAULT_ACCOUNT_ID.into(),
            credentials,
            sync: SyncSettings::default(),
            aws: AwsSettings::from_env("us-east-1"),
            credentials_ttl_ms: crate::auth::session::DEFAULT_LIFETIME_MS,
            oidc_providers: Vec::new(),
        }
    }
}
