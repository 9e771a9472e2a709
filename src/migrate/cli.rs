//! The `cogsync import` and `cogsync export` commands: their options and what they print.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::copy::{self, CopyOptions};
use super::progress::Progress;
use super::source::{Source, SourceOptions};
use super::{file, logins_file, verify, MigrateError, Summary};
use crate::store::Store;

/// The store an import writes into or an export reads.
#[derive(clap::Args, Debug)]
pub struct StoreArgs {
    /// Directory of the embedded database (as `serve`'s).
    #[arg(long, default_value = "./cogsync-data", env = "COGSYNC_DATA_DIR")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (as `serve`'s); without it the embedded database is used.
    #[arg(long, env = "COGSYNC_DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("from").required(true).args(["source_endpoint", "source_region", "input"])))]
pub struct ImportArgs {
    /// Copy from a Cognito Sync endpoint serving both Cognito Identity and Cognito Sync at this
    /// URL (another cogsync, an emulator). Credentials: the standard AWS environment variables
    /// or shared profile, the source's developer credentials.
    #[arg(long)]
    pub source_endpoint: Option<String>,
    /// Copy from AWS's own Cognito Identity and Cognito Sync in this region.
    #[arg(long)]
    pub source_region: Option<String>,
    /// Read an export file (`-` for standard input) instead of a live source.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Only this identity pool (repeatable); default all.
    #[arg(long = "pool")]
    pub pools: Vec<String>,
    /// Only datasets modified at or after this time are read again (RFC 3339, e.g.
    /// 2026-11-30T18:00:00Z, or seconds since the epoch): the catch-up before a cut-over.
    #[arg(long, value_parser = parse_time)]
    pub since: Option<i64>,
    /// Identities copied at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// Requests per second to the source at most, over all calls (0: no limit). AWS's default
    /// quotas for Cognito Identity's list calls are 5-25 per second.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub rate: u32,
    /// Attempts per source call; throttled (429) and failed calls are retried with backoff.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub attempts: u32,
    /// After copying, compare source and store dataset by dataset; exit 3 on any difference.
    #[arg(long)]
    pub verify: bool,
    /// Look for AWS credentials with the whole standard chain, the instance metadata service
    /// and container endpoints included (by default: environment, profile, web identity).
    #[arg(long)]
    pub use_instance_metadata: bool,
    /// Lines `identity id,provider,subject` from the app's own records: logins of social and
    /// OpenID Connect providers to link to their identities (no API lists them).
    #[arg(long)]
    pub logins_file: Option<PathBuf>,
    /// The server's quotas (as `serve`'s; one configuration file serves both): nothing is
    /// refused for them, what is above them is reported.
    #[command(flatten)]
    pub quotas: crate::cli::quotas::QuotaArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The file to write (`-` for standard output). Holds every secret and all user data: a
    /// new file is created readable by its owner only. An existing file or a symbolic link is
    /// refused without --force; a device or FIFO (/dev/null, a pipe) is written as it is.
    #[arg(long)]
    pub output: PathBuf,
    /// Overwrite an existing file (its mode is kept; a warning says if others can read it), or
    /// write through a symbolic link.
    #[arg(long)]
    pub force: bool,
    /// Only this identity pool (repeatable); default all.
    #[arg(long = "pool")]
    pub pools: Vec<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<i64>() {
        return secs
            .checked_mul(1000)
            .ok_or_else(|| format!("{s}: too far from 1970"));
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{s}: not RFC 3339 nor seconds since the epoch ({e})"))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

async fn open(store: &StoreArgs) -> Result<Arc<dyn Store>, String> {
    let at = crate::store::StoreLocation::new(store.database_url.clone(), store.data_dir.clone());
    crate::store::open(&at)
        .await
        .map_err(|e| format!("cannot open the store: {e}"))
}

/// The store to export: read only (an embedded one may be exported while a server runs).
async fn open_to_read(store: &StoreArgs) -> Result<Arc<dyn Store>, String> {
    let at = crate::store::StoreLocation::new(store.database_url.clone(), store.data_dir.clone());
    crate::store::open_to_read(&at)
        .await
        .map_err(|e| format!("cannot open the store: {e}"))
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("cogsync: {e}");
    ExitCode::FAILURE
}

/// Exit code of an import that finished but found differences (`--verify`).
const DIFFERENT: u8 = 3;

pub async fn import(a: ImportArgs) -> ExitCode {
    let store = match open(&a.store).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let logins = match &a.logins_file {
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| MigrateError::Input(format!("{}: {e}", path.display())))
            .and_then(|t| logins_file::parse(&t))
        {
            Ok(l) => l,
            Err(e) => return fail(e),
        },
        None => Vec::new(),
    };
    let mut source = None;
    let summary = match &a.input {
        Some(path) => import_file(&store, path, a.quotas.limits()).await,
        None => {
            let options = SourceOptions {
                endpoint: a.source_endpoint.clone(),
                region: a.source_region.clone(),
                rate: a.rate,
                attempts: a.attempts,
                instance_metadata: a.use_instance_metadata,
            };
            // Nothing copied yet if the source cannot even be set up: said as it is.
            let s = match Source::connect(&options).await {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let progress = Progress::new("import", None);
            let o = CopyOptions {
                pools: a.pools.clone(),
                since_ms: a.since,
                concurrency: a.concurrency as usize,
                keep_local_since_ms: None,
                limits: a.quotas.limits(),
            };
            let done = copy::copy(&s, &*store, &o, &progress).await;
            progress.finish();
            source = Some(s);
            done
        }
    };
    let mut summary = match summary {
        Ok(s) => s,
        // A file that is not what it should be stays so: no point running it again.
        Err(e @ MigrateError::Input(_)) => return fail(format!("import stopped: {e}")),
        Err(e) => return fail(format!("import stopped: {e}; run it again to continue")),
    };
    if a.logins_file.is_some() {
        summary.logins_file = true;
        match logins_file::link(&*store, &logins).await {
            Ok(linked) => {
                summary.logins_linked += linked.logins;
                summary.placeholders_replaced += linked.placeholders_replaced;
                summary.notes.extend(linked.problems);
            }
            Err(e) => {
                return fail(format!(
                    "linking the logins file: {e}; run it again to continue"
                ))
            }
        }
    }
    for line in summary.lines() {
        println!("{line}");
    }
    if !a.verify {
        return ExitCode::SUCCESS;
    }
    let Some(source) = source else {
        return fail("--verify compares with a live source (--source-endpoint or --source-region)");
    };
    let progress = Progress::new("verify", None);
    let found = verify::verify(
        &source,
        &*store,
        &a.pools,
        a.concurrency as usize,
        &progress,
    )
    .await;
    progress.finish();
    match found {
        Ok(differences) if differences.is_empty() => {
            println!("verified: the store matches the source");
            ExitCode::SUCCESS
        }
        Ok(differences) => {
            for d in &differences {
                println!("DIFFERENT {d}");
            }
            println!("{} differences", differences.len());
            ExitCode::from(DIFFERENT)
        }
        Err(e) => fail(format!("verify stopped: {e}")),
    }
}

async fn import_file(
    store: &Arc<dyn Store>,
    path: &PathBuf,
    limits: crate::sync::Limits,
) -> Result<Summary, MigrateError> {
    let input_error = |e: std::io::Error| MigrateError::Input(format!("{}: {e}", path.display()));
    let (mut reader, size): (Box<dyn BufRead>, Option<u64>) = if path.as_os_str() == "-" {
        (Box::new(BufReader::new(std::io::stdin())), None)
    } else {
        let f = std::fs::File::open(path).map_err(input_error)?;
        let size = f.metadata().ok().map(|m| m.len());
        (Box::new(BufReader::new(f)), size)
    };
    let progress = Progress::new("import", size);
    let done = file::import(store.clone(), &mut reader, limits, &progress).await;
    progress.finish();
    done
}

pub async fn export(a: ExportArgs) -> ExitCode {
    let store = match open_to_read(&a.store).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let mut out: Box<dyn Write> = if a.output.as_os_str() == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout()))
    } else {
        match crate::private_fs::open_for_export(&a.output, a.force) {
            Ok(out) => {
                if let Some(warning) = out.warning {
                    eprintln!("cogsync export: warning: {warning}");
                }
                Box::new(std::io::BufWriter::new(out.file))
            }
            Err(e) => return fail(e.to_string()),
        }
    };
    let progress = Progress::new("export", None);
    let done = file::export(&*store, &a.pools, &mut *out, &progress).await;
    progress.finish();
    match done {
        Ok(c) => {
            eprintln!(
                "exported {} pools, {} identities, {} datasets, {} records, {} secrets",
                c.pools, c.identities, c.datasets, c.records, c.secrets
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("export failed: {e}")),
    }
}
