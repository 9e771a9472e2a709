//! The `cogsync` command line: its commands and flags, read with a configuration file's
//! settings under them (see [`crate::config_file`]), and logging as `--log-format` says. The
//! binary (`main.rs`) runs what this parses; the docs' examples are checked against it.

pub mod quotas;
pub mod routes;
pub mod serve;

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub use serve::ServeArgs;

#[derive(Parser)]
#[command(
    name = "cogsync",
    version,
    about = "A self-hosted, wire-compatible Amazon Cognito Sync server"
)]
pub struct Cli {
    /// Log lines as text for people, or as one JSON object a line for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "COGSYNC_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Bring data in: from another Cognito Sync endpoint (AWS included) or an export file
    /// (see docs/migrating.md).
    Import(crate::migrate::cli::ImportArgs),
    /// Write the store (or some pools) to an export file: a backup, or the way to move a
    /// store to another engine.
    Export(crate::migrate::cli::ExportArgs),
    /// Upstream mode: detach a pool from its upstream, or list the pools' attachments.
    Upstream(crate::migrate::upstream_cli::UpstreamArgs),
    /// Ask a running server's admin listener whether it is alive (exit status 0) or not (1):
    /// a container's HEALTHCHECK, with no tool besides this binary.
    Healthcheck(HealthcheckArgs),
}

#[derive(clap::Args)]
pub struct HealthcheckArgs {
    /// The admin listener's address, as the server was given it (0.0.0.0 is probed on
    /// 127.0.0.1).
    #[arg(long, default_value = "127.0.0.1:8081", env = "COGSYNC_ADMIN_LISTEN", value_parser = serve::admin_address)]
    pub admin_listen: serve::AdminAddress,
    /// Ask /readyz (store reachable, schema current) instead of /healthz.
    #[arg(long)]
    pub ready: bool,
}

/// Why a command line was not read: clap's own answer (which `--help` and `--version` are
/// too), or what is wrong with the configuration file.
#[derive(Debug)]
pub enum ParseError {
    Clap(clap::Error),
    Config(String),
}

/// `args` (the program's name first) read as a command line, with the settings of the file
/// `--config FILE` or `COGSYNC_CONFIG` names for the flags neither it nor the environment
/// sets.
pub fn parse(args: Vec<OsString>) -> Result<Cli, ParseError> {
    let named = crate::config_file::path_in(&args).or_else(|| std::env::var_os("COGSYNC_CONFIG"));
    let mut command = Cli::command();
    // Global flags (--log-format) become each subcommand's own once built.
    command.build();
    let merged = match named {
        None => args,
        Some(path) => {
            let name = args.get(1).map(|a| a.to_string_lossy().into_owned());
            match name.as_deref().and_then(|n| command.find_subcommand(n)) {
                None => args,
                Some(sub) => {
                    let siblings: Vec<&clap::Command> = command.get_subcommands().collect();
                    crate::config_file::merge(sub, &siblings, std::path::Path::new(&path), &args)
                        .map_err(ParseError::Config)?
                }
            }
        }
    };
    let matches = Cli::command()
        .try_get_matches_from(merged)
        .map_err(ParseError::Clap)?;
    Cli::from_arg_matches(&matches).map_err(ParseError::Clap)
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), in `format`; in colour only for a
/// person at a terminal, not into a file or a pipe.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}
