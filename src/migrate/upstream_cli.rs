//! `cogsync upstream detach` and `cogsync upstream status`. With PostgreSQL (`--database-url`)
//! the command works on the store itself, beside the running servers. An embedded store is
//! held by the server running on it, so the command asks that server, through its admin
//! listener, signed with the developer credentials; when no server runs there, it opens the
//! store itself.

use std::process::ExitCode;
use std::time::SystemTime;

use super::cli::StoreArgs;
use super::source::{Source, SourceOptions};
use crate::auth::DeveloperCredentials;
use crate::store::{Store, UpstreamPool};

#[derive(clap::Args, Debug)]
pub struct UpstreamArgs {
    #[command(subcommand)]
    pub action: UpstreamAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum UpstreamAction {
    /// Make an attached pool local, while the servers keep serving (see docs/upstream.md).
    Detach(DetachArgs),
    /// The pools' attachments.
    Status(StatusArgs),
}

#[derive(clap::Args, Debug)]
pub struct DetachArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The pool to detach.
    #[arg(long)]
    pub pool: String,
    /// The admin listener of the server holding an embedded store (as `serve`'s).
    #[arg(long, default_value = "127.0.0.1:8081", env = "COGSYNC_ADMIN_LISTEN")]
    pub admin_listen: String,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The admin listener of the server holding an embedded store (as `serve`'s).
    #[arg(long, default_value = "127.0.0.1:8081", env = "COGSYNC_ADMIN_LISTEN")]
    pub admin_listen: String,
}

pub async fn run(a: UpstreamArgs) -> ExitCode {
    let (store_args, admin, path, method) = match &a.action {
        UpstreamAction::Detach(d) => (
            &d.store,
            &d.admin_listen,
            format!("/upstream/detach?pool={}", urlencode(&d.pool)),
            "POST",
        ),
        UpstreamAction::Status(s) => (&s.store, &s.admin_listen, "/upstream/status".into(), "GET"),
    };
    if store_args.database_url.is_none() {
        match ask_server(store_args, admin, method, &path).await {
            Ok(Some(code)) => return code,
            Ok(None) => {}
            Err(e) => {
                eprintln!("cogsync: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let location = crate::store::StoreLocation::new(
        store_args.database_url.clone(),
        store_args.data_dir.clone(),
    );
    let store = match crate::store::open(&location).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cogsync: cannot open the store: {e}");
            return ExitCode::FAILURE;
        }
    };
    match a.action {
        UpstreamAction::Status(_) => status(&*store).await,
        UpstreamAction::Detach(d) => detach(&*store, &d.pool).await,
    }
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn status(store: &dyn Store) -> ExitCode {
    match store.upstream_pools().await {
        Ok(rows) if rows.is_empty() => println!("no pool is attached to an upstream"),
        Ok(rows) => {
            for r in rows {
                println!(
                    "{} {} {} since {}",
                    r.pool_id,
                    r.state.as_str(),
                    r.upstream,
                    crate::timeutil::iso8601(r.changed_ms)
                );
            }
        }
        Err(e) => {
            eprintln!("cogsync: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Where the upstream a pool is attached to is, as its row records it.
fn source_options(row: &UpstreamPool) -> SourceOptions {
    let (endpoint, region) = match row.upstream.split_once(':') {
        Some(("endpoint", url)) => (Some(url.to_owned()), None),
        Some(("region", region)) => (None, Some(region.to_owned())),
        _ => (None, None),
    };
    SourceOptions {
        endpoint,
        region,
        rate: 0,
        attempts: 3,
        instance_metadata: false,
    }
}

async fn detach(store: &dyn Store, pool: &str) -> ExitCode {
    let row = match store.upstream_pools().await {
        Ok(rows) => rows.into_iter().find(|r| r.pool_id == pool),
        Err(e) => {
            eprintln!("cogsync: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(row) = row else {
        eprintln!("cogsync: pool {pool} is not attached to an upstream");
        return ExitCode::FAILURE;
    };
    let source = match Source::connect(&source_options(&row)).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cogsync: {e}");
            return ExitCode::FAILURE;
        }
    };
    let say = |line: String| println!("{line}");
    match super::detach::run(store, &source, pool, &say).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cogsync: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Asks the server holding the embedded store, if one answers at `admin`: its exit status
/// (None: no server there, the caller opens the store itself).
async fn ask_server(
    store: &StoreArgs,
    admin: &str,
    method: &str,
    path: &str,
) -> Result<Option<ExitCode>, String> {
    let host = admin.replace("0.0.0.0", "127.0.0.1");
    let url = format!("http://{host}{path}");
    let creds = DeveloperCredentials::existing(&store.data_dir)
        .map_err(|e| format!("cannot read the developer credentials: {e}"))?;
    let Some(creds) = creds else {
        return Ok(None);
    };
    let headers = sign(&creds, method, &url, &host)?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(600))
        .build()
        .map_err(|e| e.to_string())?;
    let mut request = client.request(
        reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?,
        &url,
    );
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let answer = match request.send().await {
        Ok(a) => a,
        Err(e) if e.is_connect() => return Ok(None),
        Err(e) => {
            return Err(format!(
                "the server at {host} did not answer: {}",
                e.without_url()
            ))
        }
    };
    let ok = answer.status().is_success();
    let body = answer.text().await.unwrap_or_default();
    if ok {
        print!("{body}");
        Ok(Some(ExitCode::SUCCESS))
    } else {
        eprint!("{body}");
        Ok(Some(ExitCode::FAILURE))
    }
}

/// SigV4 headers for the admin listener's API, signed with the developer credentials.
fn sign(
    creds: &DeveloperCredentials,
    method: &str,
    url: &str,
    host: &str,
) -> Result<Vec<(String, String)>, String> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity = aws_credential_types::Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.clone(),
        None,
        None,
        "developer",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(crate::admin::upstream::SERVICE)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let headers = [("host", host)];
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let (out, _) = instructions.into_parts();
    let mut all: Vec<(String, String)> = out
        .iter()
        .map(|h| (h.name().to_string(), h.value().to_string()))
        .collect();
    all.push(("host".into(), host.to_owned()));
    Ok(all)
}
