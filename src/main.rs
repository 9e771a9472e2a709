//! The `cogsync` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cogsync::auth::credentials::{CredentialSource, DeveloperCredentials};
use cogsync::config::{RateOrOff, ServerConfig};
use cogsync::identity::oidc_verify::OidcProvider;
use cogsync::signals::Signals;
use cogsync::tls_listener::TlsFiles;

#[derive(Parser)]
#[command(
    name = "cogsync",
    version,
    about = "A self-hosted, wire-compatible Amazon Cognito Sync server"
)]
struct Cli {
    /// Log lines as text for people, or as one JSON object a line for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "COGSYNC_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), in `format`.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080", env = "COGSYNC_LISTEN")]
        listen: SocketAddr,
        /// Address of the admin listener (/healthz, /readyz, /metrics and the web console at
        /// /console/), or `off`. Keep it off the internet-facing network.
        #[arg(long, default_value = "127.0.0.1:8081", env = "COGSYNC_ADMIN_LISTEN", value_parser = admin_address)]
        admin_listen: AdminAddress,
        /// A host name the admin listener answers to (repeatable, or comma-separated in the
        /// environment), besides IP addresses and `localhost`: the name a scraper or an
        /// operator's browser uses for it. Other names are refused (DNS rebinding).
        #[arg(
            long = "admin-host",
            env = "COGSYNC_ADMIN_HOSTS",
            value_delimiter = ','
        )]
        admin_hosts: Vec<String>,
        /// Directory for the embedded database and generated credentials.
        #[arg(long, default_value = "./cogsync-data", env = "COGSYNC_DATA_DIR")]
        data_dir: PathBuf,
        /// PostgreSQL URL (postgres://user@host:port/db); without it the embedded SQLite
        /// database in the data directory is used.
        #[arg(long, env = "COGSYNC_DATABASE_URL")]
        database_url: Option<String>,
        /// PostgreSQL connections this node keeps open (with --database-url).
        #[arg(long, default_value_t = cogsync::store::postgres::DEFAULT_POOL_SIZE, env = "COGSYNC_DB_POOL_SIZE", value_parser = clap::value_parser!(u16).range(1..=1024))]
        db_pool_size: u16,
        /// JSON file listing the OpenID Connect providers whose ID tokens are accepted as logins
        /// (see docs/devices-and-logins.md).
        #[arg(long, env = "COGSYNC_OIDC_PROVIDERS")]
        oidc_providers: Option<PathBuf>,
        /// Lifetime in seconds of the temporary credentials GetCredentialsForIdentity vends.
        #[arg(long, default_value_t = 3600, env = "COGSYNC_CREDENTIALS_TTL", value_parser = clap::value_parser!(u32).range(60..=43_200))]
        credentials_ttl: u32,
        /// Region used in new identity pool and identity ids.
        #[arg(long, default_value = "us-east-1", env = "COGSYNC_REGION")]
        region: String,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        tls: TlsArgs,
        /// TOML file with any of these flags under their names (`listen = "…"`, `data-dir = "…"`);
        /// the environment and the command line override it.
        #[arg(long, env = "COGSYNC_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Bring data in: from another Cognito Sync endpoint (AWS included) or an export file
    /// (see docs/migrating.md).
    Import(cogsync::migrate::cli::ImportArgs),
    /// Write the store (or some pools) to an export file: a backup, or the way to move a
    /// store to another engine.
    Export(cogsync::migrate::cli::ExportArgs),
    /// Ask a running server's admin listener whether it is alive (exit status 0) or not (1):
    /// a container's HEALTHCHECK, with no tool besides this binary.
    Healthcheck {
        /// The admin listener's address, as the server was given it (0.0.0.0 is probed on
        /// 127.0.0.1).
        #[arg(long, default_value = "127.0.0.1:8081", env = "COGSYNC_ADMIN_LISTEN", value_parser = admin_address)]
        admin_listen: AdminAddress,
        /// Ask /readyz (store reachable, schema current) instead of /healthz.
        #[arg(long)]
        ready: bool,
    },
}

/// TLS on the listener (see docs/security.md).
#[derive(clap::Args)]
struct TlsArgs {
    /// PEM certificate chain (server certificate first) to serve HTTPS with; needs --tls-key.
    /// Read again on SIGHUP.
    #[arg(long, env = "COGSYNC_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key (RSA, ECDSA or Ed25519; PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, env = "COGSYNC_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    fn files(&self) -> Option<TlsFiles> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        }
    }
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cogsync: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Before anything else: from here on SIGTERM, SIGINT and SIGHUP are the server's to
    // handle, so one that arrives during start-up ends it cleanly instead of killing it.
    let signals = {
        let _runtime = runtime.enter();
        Signals::install()
    };
    let signals = match signals {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cogsync: cannot handle signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("cogsync: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve {
            listen,
            admin_listen,
            admin_hosts,
            data_dir,
            database_url,
            db_pool_size,
            oidc_providers,
            credentials_ttl,
            region,
            limits,
            tls,
            config: _,
        } => runtime.block_on(serve(
            Options {
                listen,
                admin_listen: admin_listen.0,
                admin_hosts,
                data_dir,
                database_url,
                db_pool_size: usize::from(db_pool_size),
                oidc_providers,
                credentials_ttl,
                region,
                limits,
                tls: tls.files(),
            },
            signals,
        )),
        Command::Import(args) => runtime.block_on(until_stopped(
            cogsync::migrate::cli::import(args),
            signals,
            "import interrupted; run it again to continue where it stopped",
        )),
        Command::Export(args) => runtime.block_on(until_stopped(
            cogsync::migrate::cli::export(args),
            signals,
            "export interrupted; the file is incomplete (it has no end line)",
        )),
        Command::Healthcheck {
            admin_listen,
            ready,
        } => {
            let Some(at) = admin_listen.0 else {
                eprintln!(
                    "cogsync healthcheck: the admin listener is off (COGSYNC_ADMIN_LISTEN=off)"
                );
                return ExitCode::FAILURE;
            };
            let path = if ready { "/readyz" } else { "/healthz" };
            match runtime.block_on(cogsync::admin::probe::probe(at, path)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cogsync healthcheck: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The command line, with a `--config FILE`'s settings for the flags it and the
/// environment leave unset (see `cogsync::config_file`).
fn parse_cli() -> Result<Cli, String> {
    use clap::CommandFactory;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let named = cogsync::config_file::path_in(&args).or_else(|| std::env::var_os("COGSYNC_CONFIG"));
    let Some(path) = named else {
        return Ok(Cli::parse());
    };
    let mut command = Cli::command();
    // Global flags (--log-format) become each subcommand's own once built.
    command.build();
    let name = args.get(1).map(|a| a.to_string_lossy().into_owned());
    let Some(sub) = name.as_deref().and_then(|n| command.find_subcommand(n)) else {
        return Ok(Cli::parse());
    };
    let merged = cogsync::config_file::merge(sub, std::path::Path::new(&path), &args)?;
    Ok(Cli::parse_from(merged))
}

/// Runs a one-off command until it ends or SIGINT/SIGTERM stops it (exit 130).
async fn until_stopped(
    command: impl std::future::Future<Output = ExitCode>,
    mut signals: Signals,
    stopped: &str,
) -> ExitCode {
    tokio::select! {
        code = command => code,
        () = signals.until_stop(|| {}) => {
            eprintln!("cogsync: {stopped}");
            ExitCode::from(130)
        }
    }
}

/// Resource bounds and rate limits (see docs/security.md).
#[derive(clap::Args)]
struct LimitArgs {
    /// Most connections served at once; more clients wait in the listen backlog.
    #[arg(long, default_value_t = 1024, env = "COGSYNC_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Seconds a client has to send a request's headers (also the keep-alive idle timeout).
    #[arg(long, default_value_t = 30, env = "COGSYNC_HEADER_TIMEOUT", value_parser = clap::value_parser!(u32).range(1..))]
    header_timeout: u32,
    /// Seconds a client has to send a request's body.
    #[arg(long, default_value_t = 60, env = "COGSYNC_BODY_TIMEOUT", value_parser = clap::value_parser!(u32).range(1..))]
    body_timeout: u32,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long, default_value_t = 10, env = "COGSYNC_SHUTDOWN_GRACE")]
    shutdown_grace: u32,
    /// Seconds a request's store work may take; past it the request is answered (nothing
    /// written, or a commit's outcome looked up) and its database connection dropped.
    #[arg(long, default_value_t = cogsync::config::DEFAULT_STORE_TIMEOUT.as_secs() as u32, env = "COGSYNC_STORE_TIMEOUT", value_parser = clap::value_parser!(u32).range(1..=600))]
    store_timeout: u32,
    /// Requests per second one identity may make: `N` or `N:BURST`. Off when unset.
    #[arg(long, env = "COGSYNC_IDENTITY_RATE_LIMIT")]
    identity_rate_limit: Option<cogsync::config::Rate>,
    /// Requests per second one identity pool may receive: `N` or `N:BURST`. Off when unset.
    #[arg(long, env = "COGSYNC_POOL_RATE_LIMIT")]
    pool_rate_limit: Option<cogsync::config::Rate>,
    /// Unsigned Cognito Identity calls and failed authentications per second from one client
    /// address: `N`, `N:BURST` or `off`.
    #[arg(long, default_value_t = RateOrOff(Some(cogsync::config::DEFAULT_ADDRESS_RATE)), env = "COGSYNC_ADDRESS_RATE_LIMIT")]
    address_rate_limit: RateOrOff,
    /// Failed authentications one client address may make (`N` a second, bursts of `BURST`)
    /// before further requests from it are refused unverified for a while; or `off`.
    #[arg(long, default_value_t = RateOrOff(Some(cogsync::config::DEFAULT_AUTH_FAILURES)), env = "COGSYNC_AUTH_FAILURE_LIMIT")]
    auth_failure_limit: RateOrOff,
    /// Proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For header
    /// names the client address the address limits apply to.
    #[arg(long, env = "COGSYNC_TRUSTED_PROXIES", value_delimiter = ',', value_parser = network)]
    trusted_proxies: Vec<ipnet::IpNet>,
}

/// An address or a CIDR network.
fn network(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s}: not an address or a network such as 10.0.0.0/8"))
}

impl LimitArgs {
    fn apply(&self, config: &mut ServerConfig) {
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
struct AdminAddress(Option<SocketAddr>);

fn admin_address(s: &str) -> Result<AdminAddress, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(AdminAddress(None));
    }
    s.parse()
        .map(|a| AdminAddress(Some(a)))
        .map_err(|e| format!("{s}: {e} (an address such as 127.0.0.1:8081, or `off`)"))
}

/// `serve`'s options.
struct Options {
    listen: SocketAddr,
    admin_listen: Option<SocketAddr>,
    admin_hosts: Vec<String>,
    data_dir: PathBuf,
    database_url: Option<String>,
    db_pool_size: usize,
    oidc_providers: Option<PathBuf>,
    credentials_ttl: u32,
    region: String,
    limits: LimitArgs,
    tls: Option<TlsFiles>,
}

/// Starts the server and serves until SIGTERM or SIGINT, reloading the TLS certificate on
/// SIGHUP. A stop requested while it is still starting ends it at once, cleanly.
async fn serve(o: Options, mut signals: Signals) -> ExitCode {
    let started = tokio::select! {
        biased;
        started = start(o) => started,
        () = signals.until_stop(|| tracing::info!("SIGHUP during start-up: nothing to reload yet")) => {
            tracing::info!("stop requested during start-up; exiting");
            return ExitCode::SUCCESS;
        }
    };
    let server = match started {
        Ok(server) => server,
        Err(code) => return code,
    };
    tracing::info!(addr = %server.addr(), "cogsync is serving Cognito Sync and Cognito Identity");
    // The admin line first: "listening on" is the last line of start-up.
    if let Some(admin) = server.admin_addr() {
        println!("cogsync admin (health, metrics) on http://{admin}");
    }
    println!("cogsync listening on {}", server.url());
    signals
        .until_stop(|| match server.reload_tls() {
            Ok(true) => tracing::info!("SIGHUP: TLS certificate reloaded"),
            Ok(false) => tracing::info!("SIGHUP: no TLS certificate to reload"),
            Err(e) => tracing::error!(error = %e, "SIGHUP: TLS certificate not reloaded; still serving the previous one"),
        })
        .await;
    tracing::info!("shutting down: finishing in-flight requests");
    match server.shutdown().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cogsync: server error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Everything from the options to a server answering requests.
async fn start(o: Options) -> Result<cogsync::server::RunningServer, ExitCode> {
    let Options {
        listen,
        admin_listen,
        admin_hosts,
        data_dir,
        database_url,
        db_pool_size,
        oidc_providers,
        credentials_ttl,
        region,
        limits,
        tls,
    } = o;
    let oidc = match &oidc_providers {
        Some(path) => match OidcProvider::load_all(path) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("cogsync: cannot load OIDC providers: {e}");
                return Err(ExitCode::FAILURE);
            }
        },
        None => Vec::new(),
    };
    let location = cogsync::store::StoreLocation {
        database_url: database_url.clone(),
        data_dir: data_dir.clone(),
        pool_size: db_pool_size,
        timeout: std::time::Duration::from_secs(limits.store_timeout.into()),
    };
    let store = match cogsync::store::open(&location).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cogsync: cannot open the store: {e}");
            return Err(ExitCode::FAILURE);
        }
    };
    let (resolved, kept_in) = match &database_url {
        Some(_) => (
            DeveloperCredentials::resolve_shared(&*store).await,
            "the database".to_string(),
        ),
        None => (
            DeveloperCredentials::resolve(&data_dir),
            data_dir.display().to_string(),
        ),
    };
    let (credentials, source) = match resolved {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cogsync: cannot load developer credentials: {e}");
            return Err(ExitCode::FAILURE);
        }
    };
    match source {
        CredentialSource::Generated => println!(
            "Generated developer credentials (stored in {kept_in}; shown only this once):\n  \
             AWS_ACCESS_KEY_ID={}\n  AWS_SECRET_ACCESS_KEY={}",
            credentials.access_key_id, credentials.secret_access_key
        ),
        CredentialSource::Stored => tracing::info!(
            access_key_id = %credentials.access_key_id,
            "using developer credentials stored in {kept_in}"
        ),
        CredentialSource::Environment => tracing::info!(
            access_key_id = %credentials.access_key_id,
            "using developer credentials from the environment"
        ),
    }
    let mut config = ServerConfig::new(listen, data_dir, credentials);
    config.aws = cogsync::integrations::aws::AwsSettings::from_env(&region);
    config.sync.region = region.clone();
    config.region = region;
    config.database_url = database_url;
    config.db_pool_size = db_pool_size;
    config.oidc_providers = oidc;
    config.credentials_ttl_ms = i64::from(credentials_ttl) * 1000;
    limits.apply(&mut config);
    config.tls = tls;
    config.admin_listen = admin_listen;
    config.admin_hosts = admin_hosts;
    cogsync::server::start_with_store(config, store)
        .await
        .map_err(|e| {
            eprintln!("cogsync: {e}");
            ExitCode::FAILURE
        })
}
