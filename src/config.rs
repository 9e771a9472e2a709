//! Server configuration, as resolved from the command line and the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::api::throttle::ThrottleSettings;
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
    /// PostgreSQL connections kept open by this node.
    pub db_pool_size: usize,
    /// How long a request's store work may take before it is given up (nothing written, or a
    /// commit's outcome looked up): PostgreSQL's `statement_timeout` and each round trip.
    pub store_timeout: Duration,
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
    pub oidc_providers: Vec<crate::identity::oidc_verify::OidcProvider>,
    /// Where the identity providers are reached, and the secrets they are asked with.
    pub providers: crate::integrations::logins::ProviderSettings,
    /// Connection, header, timeout and shutdown bounds of the HTTP server.
    pub http: HttpLimits,
    /// Request-rate limits per identity and per pool (off by default).
    pub throttle: ThrottleSettings,
    /// Certificate and key of the listener; None serves plain HTTP.
    pub tls: Option<crate::tls_listener::TlsFiles>,
    /// Where the admin listener (health, readiness, metrics) binds; None runs none.
    pub admin_listen: Option<SocketAddr>,
    /// Host names the admin listener answers to besides addresses and `localhost`.
    pub admin_hosts: Vec<String>,
    /// Upstream mode: the pools served by another Cognito Sync deployment until detached.
    pub upstream: Option<UpstreamConfig>,
    /// The platform applications pushed straight through FCM or APNs, and the streams whose
    /// records go to a webhook or NATS JetStream, instead of SNS and Kinesis.
    pub routes: crate::integrations::routes::Routes,
}

/// Upstream mode (see [`crate::upstream`]).
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub location: crate::integrations::upstream::UpstreamLocation,
    /// The pools to attach (besides those attached already).
    pub pools: Vec<String>,
    /// Attach every pool the upstream lists.
    pub all_pools: bool,
    /// The background copy's requests per second at most (0: no limit).
    pub copy_rate: u32,
}

/// Bounds that keep one client (or many) from exhausting the server.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, counted from connect or from the end
    /// of the previous response (so it is also the keep-alive idle timeout).
    pub header_read_timeout: Duration,
    /// Time a client has to send a request's whole body once its headers arrived.
    pub body_read_timeout: Duration,
    /// Most headers one request may carry (more → 431).
    pub max_headers: usize,
    /// Most bytes a request's header section may take (more → 431).
    pub max_header_bytes: usize,
    /// On shutdown, how long in-flight requests get to finish before they are cut.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
            max_headers: 64,
            max_header_bytes: 16 * 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl ServerConfig {
    /// Where the configured store is.
    pub fn store_location(&self) -> crate::store::StoreLocation {
        crate::store::StoreLocation {
            database_url: self.database_url.clone(),
            data_dir: self.data_dir.clone(),
            pool_size: self.db_pool_size,
            timeout: self.store_timeout,
        }
    }

    /// A configuration with the documented defaults for everything but the essentials.
    pub fn new(listen: SocketAddr, data_dir: PathBuf, credentials: DeveloperCredentials) -> Self {
        ServerConfig {
            listen,
            data_dir,
            database_url: None,
            db_pool_size: usize::from(crate::store::postgres::DEFAULT_POOL_SIZE),
            store_timeout: crate::store::DEFAULT_TIMEOUT,
            region: "us-east-1".into(),
            account_id: DEFAULT_ACCOUNT_ID.into(),
            credentials,
            sync: SyncSettings::default(),
            aws: AwsSettings::from_env("us-east-1"),
            credentials_ttl_ms: crate::auth::session::DEFAULT_LIFETIME_MS,
            oidc_providers: Vec::new(),
            providers: Default::default(),
            upstream: None,
            routes: Default::default(),
            http: HttpLimits::default(),
            throttle: ThrottleSettings::default(),
            tls: None,
            admin_listen: None,
            admin_hosts: Vec::new(),
        }
    }
}
