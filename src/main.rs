//! The `cogsync` binary: runs what [`cogsync::cli`] parses.

use std::process::ExitCode;

use cogsync::auth::credentials::{CredentialSource, DeveloperCredentials};
use cogsync::cli::{self, Command, HealthcheckArgs, ServeArgs};
use cogsync::identity::oidc_verify::OidcProvider;
use cogsync::signals::Signals;

/// mimalloc rather than the system allocator: a request allocates a few hundred small blocks
/// on one worker thread and often frees them on another, which glibc's arenas serialise on
/// locks (a third of a ListRecords' CPU in a profile; docs/benchmarks.md has the A/B).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let cli = match cli::parse(std::env::args_os().collect()) {
        Ok(cli) => cli,
        // Wrong flags, and --help and --version too: as clap says (stdout or stderr, status).
        Err(cli::ParseError::Clap(e)) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
        Err(cli::ParseError::Config(e)) => {
            eprintln!("cogsync: {e}");
            return ExitCode::from(2);
        }
    };
    cli::init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(*args, signals)),
        Command::Import(args) => runtime.block_on(until_stopped(
            cogsync::migrate::cli::import(args),
            signals,
            "import interrupted; run it again to continue where it stopped",
        )),
        Command::Upstream(args) => runtime.block_on(cogsync::migrate::upstream_cli::run(args)),
        Command::Export(args) => runtime.block_on(until_stopped(
            cogsync::migrate::cli::export(args),
            signals,
            "export interrupted; the file is incomplete (it has no end line)",
        )),
        Command::Healthcheck(HealthcheckArgs {
            admin_listen,
            ready,
        }) => {
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

/// Starts the server and serves until SIGTERM or SIGINT, reloading the TLS certificate on
/// SIGHUP. A stop requested while it is still starting ends it at once, cleanly.
async fn serve(o: ServeArgs, mut signals: Signals) -> ExitCode {
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

/// Everything from the flags to a server answering requests.
async fn start(o: ServeArgs) -> Result<cogsync::server::RunningServer, ExitCode> {
    let oidc = match &o.oidc_providers {
        Some(path) => match OidcProvider::load_all(path) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("cogsync: cannot load OIDC providers: {e}");
                return Err(ExitCode::FAILURE);
            }
        },
        None => Vec::new(),
    };
    let providers = match o.provider_settings() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cogsync: cannot load identity provider settings: {e}");
            return Err(ExitCode::FAILURE);
        }
    };
    let routes = match o.routes.routes() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cogsync: cannot load the push and stream routes: {e}");
            return Err(ExitCode::FAILURE);
        }
    };
    let store = match cogsync::store::open(&o.store_location()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cogsync: cannot open the store: {e}");
            return Err(ExitCode::FAILURE);
        }
    };
    let (resolved, kept_in) = match &o.database_url {
        Some(_) => (
            DeveloperCredentials::resolve_shared(&*store).await,
            "the database".to_string(),
        ),
        None => (
            DeveloperCredentials::resolve(&o.data_dir),
            o.data_dir.display().to_string(),
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
    cogsync::server::start_with_store(o.config(credentials, oidc, providers, routes), store)
        .await
        .map_err(|e| {
            eprintln!("cogsync: {e}");
            ExitCode::FAILURE
        })
}
