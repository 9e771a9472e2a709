//! The admin listener (health, readiness, metrics, the console) on an address of its own:
//! served by the same accept loop as the device port, with the same header limits and
//! timeouts, but a small connection cap of its own, so that no number of connections to it
//! can take the descriptors the device port needs (and the reverse).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::StartError;
use crate::admin::console::history::{self, History};
use crate::admin::console::session::Sessions;
use crate::admin::console::Console;
use crate::admin::{self, Admin};
use crate::api::App;
use crate::config::HttpLimits;
use crate::store::Store;

/// Connections the admin listener serves at once: probes, a scraper, a few console users.
pub const MAX_CONNECTIONS: usize = 32;
/// Longest wait for a request's headers (and keep-alive idle time) there: its clients are
/// probes and scrapers, so idle connections are given back quickly.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The admin listener serving in the background: where, and how to stop it.
pub(super) struct AdminListener {
    pub addr: SocketAddr,
    pub stop: oneshot::Sender<()>,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Binds the admin listener and serves it in the background (plain HTTP/1.1; it is meant
/// for loopback or a private network), with the console's sampler beside it. Requests whose
/// `Host` is not one of `hosts` or an address are refused (see [`admin::host`]).
pub(super) async fn start(
    at: SocketAddr,
    app: Arc<App>,
    store: Arc<dyn Store>,
    limits: &HttpLimits,
    hosts: Vec<String>,
    up: &super::upstream::Upstream,
) -> Result<AdminListener, StartError> {
    let bind_error = |source| StartError::Bind { addr: at, source };
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let history = Arc::new(History::default());
    let sampler = {
        let (store, metrics) = (store.clone(), app.metrics.clone());
        tokio::spawn(history::sample(
            history.clone(),
            metrics.clone(),
            move || {
                let (store, metrics) = (store.clone(), metrics.clone());
                async move { admin::gauges(&*store, &metrics).await }
            },
        ))
    };
    let admin = Arc::new(Admin {
        store: store.clone(),
        metrics: app.metrics.clone(),
        attachments: up.attachments.clone(),
    });
    let upstream = Arc::new(admin::upstream::UpstreamAdmin {
        app: app.clone(),
        store: store.clone(),
        source: up.source.clone(),
        attachments: up.attachments.clone(),
    });
    let console = Arc::new(Console {
        sessions: Sessions::new(app.auth.developer().clone()),
        app,
        store,
        history,
    });
    let router = admin::router(admin, console, upstream, admin::host::Allowed::new(hosts));
    let limits = HttpLimits {
        max_connections: MAX_CONNECTIONS,
        header_read_timeout: limits.header_read_timeout.min(HEADER_TIMEOUT),
        ..limits.clone()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = super::accept::serve(listener, None, router, limits, None, async {
            let _ = stopped.await;
        })
        .await;
        // Awaited, so that its hold on the store is gone when the listener's task ends.
        sampler.abort();
        let _ = sampler.await;
        served
    });
    Ok(AdminListener { addr, stop, task })
}
