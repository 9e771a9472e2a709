//! `cogsync serve`'s flags, and the server configuration they make.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::ServerConfig;
use crate::integrations::logins::ProviderSettings;
use crate::tls_listener::TlsFiles;

/// Run the server.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "COGSYNC_LISTEN")]
    pub listen: SocketAddr,
    /// Address of the admin listener (/healthz, /readyz, /metrics and the web console at
    /// /console/), or `off`. Keep it off the internet-facing network.
    #[arg(long, default_value = "127.0.0.1:8081", env = "COGSYNC_ADMIN_LISTEN", value_parser = admin_address)]
    pub admin_listen: AdminAddress,
    /// A host name the admin listener answers to (repeatable, or comma-separated in the
    /// environment), besides IP addresses and `localhost`: the name a scraper or an
    /// operator's browser uses for it. Other names are refused (DNS rebinding).
    #[arg(
        long = "admin-host",
        env = "COGSYNC_ADMIN_HOSTS",
        value_delimiter = ','
    )]
    pub admin_hosts: Vec<String>,
    /// Directory for the embedded database and generated credentials.
    #[arg(long, default_value = "./cogsync-data", env = "COGSYNC_DATA_DIR")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://user@host:port/db); without it the embedded SQLite
    /// database in the data directory is used.
    #[arg(long, env = "COGSYNC_DATABASE_URL")]
    pub database_url: Option<String>,
    /// PostgreSQL connections this node keeps open (with --database-url).
    #[arg(long, default_value_t = crate::store::postgres::DEFAULT_POOL_SIZE, env = "COGSYNC_DB_POOL_SIZE", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub db_pool_size: u16,
    /// JSON file listing the OpenID Connect providers whose ID tokens are accepted as logins
    /// (see docs/devices-and-logins.md).
    #[arg(long, env = "COGSYNC_OIDC_PROVIDERS")]
    pub oidc_providers: Option<PathBuf>,
    /// An identity provider's or push service's base URL in place of its public one, as
    /// NAME=URL (NAME a provider's Logins key: accounts.google.com, appleid.apple.com,
    /// graph.facebook.com, www.amazon.com, cognito-idp.REGION.amazonaws.com/POOL_ID, an OIDC
    /// issuer's host; or fcm.googleapis.com, api.push.apple.com, api.sandbox.push.apple.com).
    /// Repeatable; the environment takes a comma-separated list.
    #[arg(long = "provider-url", env = "COGSYNC_PROVIDER_URLS", value_delimiter = ',', value_parser = provider_url)]
    pub provider_urls: Vec<ProviderUrl>,
    /// JSON file of the secrets cogsync asks identity providers with:
    /// {"graph.facebook.com": {"APP_ID": "APP_SECRET"}}. Facebook secrets may also come from
    /// COGSYNC_FACEBOOK_APP_SECRETS (APP_ID=APP_SECRET, comma-separated).
    #[arg(long, env = "COGSYNC_PROVIDER_SECRETS")]
    pub provider_secrets: Option<PathBuf>,
    /// Lifetime in seconds of the temporary credentials GetCredentialsForIdentity vends.
    #[arg(long, default_value_t = 3600, env = "COGSYNC_CREDENTIALS_TTL", value_parser = clap::value_parser!(u32).range(60..=43_200))]
    pub credentials_ttl: u32,
    /// Region used in new identity pool and identity ids.
    #[arg(long, default_value = "us-east-1", env = "COGSYNC_REGION")]
    pub region: String,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub quotas: super::quotas::QuotaArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub upstream: UpstreamArgs,
    #[command(flatten)]
    pub routes: super::routes::RouteArgs,
    /// TOML file with any of these flags under their names (`listen = "…"`, `data-dir = "…"`);
    /// the environment and the command line override it.
    #[arg(long, env = "COGSYNC_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Upstream mode (see docs/upstream.md): pools that stay another Cognito Sync deployment's
/// (AWS's) until they are detached.
#[derive(clap::Args)]
pub struct UpstreamArgs {
    /// The URL of the Cognito Sync deployment (another cogsync, a proxy) that stays the
    /// authority of the attached pools until they are detached. Its developer credentials come
    /// from the standard AWS chain (AWS_ACCESS_KEY_ID…, AWS_PROFILE).
    #[arg(
        long,
        env = "COGSYNC_UPSTREAM_ENDPOINT",
        conflicts_with = "upstream_region"
    )]
    pub upstream_endpoint: Option<String>,
    /// Upstream mode on AWS: the region whose Cognito Sync keeps the attached pools.
    #[arg(long, env = "COGSYNC_UPSTREAM_REGION")]
    pub upstream_region: Option<String>,
    /// A pool to attach to the upstream (repeatable; comma-separated in the environment), or
    /// `all` for every pool the upstream lists.
    #[arg(
        long = "upstream-pool",
        env = "COGSYNC_UPSTREAM_POOLS",
        value_delimiter = ','
    )]
    pub upstream_pools: Vec<String>,
    /// Seconds one forwarded call may take.
    #[arg(long, default_value_t = 5, env = "COGSYNC_UPSTREAM_TIMEOUT", value_parser = clap::value_parser!(u32).range(1..=60))]
    pub upstream_timeout: u32,
    /// Requests per second the background copy of attached pools makes at most (0: no limit).
    #[arg(long, default_value_t = 5, env = "COGSYNC_UPSTREAM_COPY_RATE")]
    pub upstream_copy_rate: u32,
}

impl UpstreamArgs {
    /// Upstream mode as these flags set it; None without an upstream.
    pub fn config(&self) -> Option<crate::config::UpstreamConfig> {
        if self.upstream_endpoint.is_none() && self.upstream_region.is_none() {
            return None;
        }
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let region = self
            .upstream_region
            .clone()
            .or_else(|| var("AWS_REGION"))
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        let all_pools = self.upstream_pools.iter().any(|p| p == "all");
        Some(crate::config::UpstreamConfig {
            location: crate::integrations::upstream::UpstreamLocation {
                endpoint: self.upstream_endpoint.clone(),
                region,
                timeout: std::time::Duration::from_secs(self.upstream_timeout.into()),
            },
            pools: self
                .upstream_pools
                .iter()
                .filter(|p| *p != "all")
                .cloned()
                .collect(),
            all_pools,
            copy_rate: self.upstream_copy_rate,
        })
    }
}

/// TLS on the listener (see docs/security.md).
#[derive(clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain (server certificate first) to serve HTTPS with; needs --tls-key.
    /// Read again on SIGHUP.
    #[arg(long, env = "COGSYNC_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (RSA, ECDSA or Ed25519; PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, env = "COGSYNC_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    pub fn files(&self) -> Option<TlsFiles> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        }
    }
}

/// Resource bounds and rate limits (see docs/security.md).
#[derive(clap::Args)]
pub struct LimitArgs {
    /// Most connections served at once; more are refused at once with 503 (which SDKs retry).
    /// Lowered at start-up when the open-file limit leaves less room.
    #[arg(long, default_value_t = 1024, env = "COGSYNC_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Seconds a client has to send a request's headers (also the keep-alive idle timeout).
    #[arg(long, default_value_t = 30, env = "COGSYNC_HEADER_TIMEOUT", value_parser = clap::value_parser!(u32).range(1..))]
    pub header_timeout: u32,
    /// Seconds a client has to send a request's body.
    #[arg(long, default_value_t = 60, env = "COGSYNC_BODY_TIMEOUT", value_parser = clap::value_parser!(u32).range(1..))]
    pub body_timeout: u32,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long, default_value_t = 10, env = "COGSYNC_SHUTDOWN_GRACE")]
    pub shutdown_grace: u32,
    /// Seconds a request's store work may take; past it the request is answered (nothing
    /// written, or a commit's outcome looked up) and its database connection dropped.
    #[arg(long, default_value_t = crate::store::DEFAULT_TIMEOUT.as_secs() as u32, env = "COGSYNC_STORE_TIMEOUT", value_parser = clap::value_parser!(u32).range(1..=600))]
    pub store_timeout: u32,
    /// Requests per second one identity may make: `N` or `N:BURST`. Off when unset.
    #[arg(long, env = "COGSYNC_IDENTITY_RATE_LIMIT")]
    pub identity_rate_limit: Option<crate::rate::Rate>,
    /// Requests per second one identity pool may receive: `N` or `N:BURST`. Off when unset.
    #[arg(long, env = "COGSYNC_POOL_RATE_LIMIT")]
    pub pool_rate_limit: Option<crate::rate::Rate>,
    /// Unsigned Cognito Identity calls and failed authentications per second from one client
    /// address: `N`, `N:BURST` or `off`.
    #[arg(long, default_value_t = crate::rate::RateOrOff(Some(crate::api::throttle::DEFAULT_ADDRESS_RATE)), env = "COGSYNC_ADDRESS_RATE_LIMIT")]
    pub address_rate_limit: crate::rate::RateOrOff,
    /// Failed authentications one client address may make (`N` a second, bursts of `BURST`)
    /// before further requests from it are refused unverified for a while; or `off`.
    #[arg(long, default_value_t = crate::rate::RateOrOff(Some(crate::api::throttle::DEFAULT_AUTH_FAILURES)), env = "COGSYNC_AUTH_FAILURE_LIMIT")]
    pub auth_failure_limit: crate::rate::RateOrOff,
    /// Proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For header
    /// names the client address the address limits apply to.
    #[arg(long, env = "COGSYNC_TRUSTED_PROXIES", value_delimiter = ',', value_parser = network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// `--provider-url`: a provider's name and the base URL to reach it at.
#[derive(Clone, Debug)]
pub struct ProviderUrl {
    pub name: String,
    pub url: String,
}

pub fn provider_url(s: &str) -> Result<ProviderUrl, String> {
    let (name, url) = s.trim().split_once('=').ok_or_else(|| {
        format!("{s}: not NAME=URL (e.g. accounts.google.com=https://mirror.example)")
    })?;
    let (name, url) = (name.trim(), url.trim());
    if name.is_empty() || !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("{s}: not NAME=URL with an http:// or https:// URL"));
    }
    Ok(ProviderUrl {
        name: name.to_owned(),
        url: url.to_owned(),
    })
}

pub fn network(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s}: not an address or a network such as 10.0.0.0/8"))
}

impl LimitArgs {
    pub fn apply(&self, config: &mut ServerConfig) {
        use std::time::Duration;
        config.http.max_connections = self.max_connections as usize;
        config.http.header_read_timeout = Duration::from_secs(self.header_timeout.into());
        config.http.body_read_timeout = Duration::from_secs(self.body_timeout.into());
        config.http.shutdown_grace = Duration::from_secs(self.shutdown_grace.into());
        config.store_timeout = Duration::from_secs(self.store_timeout.into());
        config.throttle.per_identity = self.identity_rate_limit;
        config.throttle.per_pool = self.pool_rate_limit;
        config.throttle.per_address = self.address_rate_limit.0;
        config.throttle.auth_failures = self.auth_failure_limit.0;
        config.throttle.trusted_proxies = self.trusted_proxies.clone();
    }
}

/// `--admin-listen`: an address, or none (`off`).
#[derive(Clone, Debug)]
pub struct AdminAddress(pub Option<SocketAddr>);

pub fn admin_address(s: &str) -> Result<AdminAddress, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(AdminAddress(None));
    }
    s.parse()
        .map(|a| AdminAddress(Some(a)))
        .map_err(|e| format!("{s}: {e} (an address such as 127.0.0.1:8081, or `off`)"))
}

impl ServeArgs {
    /// Where the store is, as these flags say.
    pub fn store_location(&self) -> crate::store::StoreLocation {
        crate::store::StoreLocation {
            database_url: self.database_url.clone(),
            data_dir: self.data_dir.clone(),
            pool_size: usize::from(self.db_pool_size),
            timeout: std::time::Duration::from_secs(self.limits.store_timeout.into()),
        }
    }

    /// Where identity providers are reached (`--provider-url`) and their secrets
    /// (`--provider-secrets`, `COGSYNC_FACEBOOK_APP_SECRETS`); why not, when a file or the
    /// variable cannot be read (never showing a secret).
    pub fn provider_settings(&self) -> Result<ProviderSettings, String> {
        let urls = self
            .provider_urls
            .iter()
            .map(|p| (p.name.clone(), p.url.clone()))
            .collect();
        let from_env = std::env::var("COGSYNC_FACEBOOK_APP_SECRETS").ok();
        ProviderSettings::load(urls, self.provider_secrets.as_deref(), from_env.as_deref())
    }

    /// The server's configuration from these flags, the standard AWS environment and the
    /// developer `credentials`; `oidc` the providers read from `--oidc-providers`,
    /// `providers` what [`Self::provider_settings`] made, `routes` what
    /// [`super::routes::RouteArgs::routes`] did.
    pub fn config(
        &self,
        credentials: crate::auth::DeveloperCredentials,
        oidc: Vec<crate::identity::oidc_verify::OidcProvider>,
        providers: ProviderSettings,
        routes: crate::integrations::routes::Routes,
    ) -> ServerConfig {
        let mut config = ServerConfig::new(self.listen, self.data_dir.clone(), credentials);
        config.aws = crate::integrations::aws::AwsSettings::from_env(&self.region);
        config.sync.region = self.region.clone();
        config.region = self.region.clone();
        config.database_url = self.database_url.clone();
        config.db_pool_size = usize::from(self.db_pool_size);
        config.oidc_providers = oidc;
        config.providers = providers;
        config.credentials_ttl_ms = i64::from(self.credentials_ttl) * 1000;
        self.limits.apply(&mut config);
        config.sync.limits = self.quotas.limits();
        config.tls = self.tls.files();
        config.admin_listen = self.admin_listen.0;
        config.admin_hosts = self.admin_hosts.clone();
        config.upstream = self.upstream.config();
        config.routes = routes;
        config
    }
}
