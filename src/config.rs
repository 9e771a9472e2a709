//! Server configuration, as resolved from the command line and the environment.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::DeveloperCredentials;
use crate::integrations::aws::AwsSettings;
use crate::sync::SyncSettings;

/// Default of `--store-timeout`: a few seconds below the shortest common client timeout (the
/// mobile SDKs' 15 s), with room for looking up a lost commit's outcome.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// A sustained rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.per_second, self.burst)
    }
}

/// A rate limit that may be switched off: a [`Rate`], or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateOrOff(pub Option<Rate>);

impl std::fmt::Display for RateOrOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(rate) => rate.fmt(f),
            None => f.write_str("off"),
        }
    }
}

impl std::str::FromStr for RateOrOff {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("off") {
            return Ok(RateOrOff(None));
        }
        s.parse::<Rate>().map(|r| RateOrOff(Some(r)))
    }
}

impl std::str::FromStr for Rate {
    type Err = String;

    /// `N` (N requests per second, bursts of N) or `N:B` (bursts of B).
    fn from_str(s: &str) -> Result<Self, String> {
        let number = |t: &str| {
            t.trim()
                .parse::<NonZeroU32>()
                .map_err(|_| format!("'{t}' is not a positive whole number"))
        };
        let (rate, burst) = match s.split_once(':') {
            Some((r, b)) => (number(r)?, number(b)?),
            None => (number(s)?, number(s)?),
        };
        Ok(Rate {
            per_second: rate,
            burst,
        })
    }
}

/// Request-rate limits; `None` means unlimited (see `api::throttle` for who is charged).
#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    /// Requests per second one identity may make with its credentials.
    pub per_identity: Option<Rate>,
    /// Requests per second all callers together may make against one identity pool.
    pub per_pool: Option<Rate>,
    /// Unsigned Cognito Identity calls and failed authentications per second from one address.
    pub per_address: Option<Rate>,
    /// Failed authentications one address may make before it is locked out for a while.
    pub auth_failures: Option<Rate>,
    /// Proxies whose `X-Forwarded-For` names the client's address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// `N:B` with compile-time constants.
const fn rate(per_second: u32, burst: u32) -> Rate {
    match (NonZeroU32::new(per_second), NonZeroU32::new(burst)) {
        (Some(per_second), Some(burst)) => Rate { per_second, burst },
        _ => panic!("rates are positive"),
    }
}

/// Default of `--address-rate-limit`: generous for many devices behind one NAT, a bound for
/// one flooding client.
pub const DEFAULT_ADDRESS_RATE: Rate = rate(100, 200);
/// Default of `--auth-failure-limit`.
pub const DEFAULT_AUTH_FAILURES: Rate = rate(5, 20);

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            per_identity: None,
            per_pool: None,
            per_address: Some(DEFAULT_ADDRESS_RATE),
            auth_failures: Some(DEFAULT_AUTH_FAILURES),
            trusted_proxies: Vec::new(),
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
            store_timeout: DEFAULT_STORE_TIMEOUT,
            region: "us-east-1".into(),
            account_id: DEFAULT_ACCOUNT_ID.into(),
            credentials,
            sync: SyncSettings::default(),
            aws: AwsSettings::from_env("us-east-1"),
            credentials_ttl_ms: crate::auth::session::DEFAULT_LIFETIME_MS,
            oidc_providers: Vec::new(),
            http: HttpLimits::default(),
            throttle: ThrottleSettings::default(),
            tls: None,
            admin_listen: None,
            admin_hosts: Vec::new(),
        }
    }
}
