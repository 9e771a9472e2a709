//! Starting and stopping the HTTP server: bind, open the store, serve (over TLS when a
//! certificate is configured) until told to stop, then finish in-flight requests within a
//! bound. The accept loop caps concurrent connections and every connection has handshake,
//! header, idle and size limits (see [`HttpLimits`]).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::{oneshot, watch, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::admin::console::history::{self, History};
use crate::admin::console::session::Sessions;
use crate::admin::console::Console;
use crate::admin::{self, Admin};
use crate::api::{self, App};
use crate::auth::{Authenticator, SessionIssuer};
use crate::config::{HttpLimits, ServerConfig};
use crate::identity::IdentityService;
use crate::integrations::{
    dispatcher::Dispatcher, kinesis::KinesisSink, sns::SnsPush, trigger_invoker::Triggers,
};
use crate::metrics::Metrics;
use crate::store::{postgres::PostgresStore, sqlite::SqliteStore, Store};
use crate::sync::bulk_rules::BulkStatus;
use crate::sync::ports::{PushService, TriggerInvoker};
use crate::sync::SyncService;
use crate::tls_listener::{TlsError, TlsListener};
use crate::tokens::TokenSigner;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the store: {0}")]
    Store(String),
    #[error("{0}")]
    Tls(#[from] TlsError),
}

/// A server running in the background of the current tokio runtime.
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    dispatcher_stop: watch::Sender<bool>,
    dispatcher: JoinHandle<()>,
    tls: Option<Arc<TlsListener>>,
    /// The admin listener, when it runs.
    admin: Option<AdminListener>,
}

impl RunningServer {
    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin listener's address (health, readiness, metrics), when it runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|a| a.addr)
    }

    /// The base URL clients use: `https://…` when serving TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Reads the TLS certificate and key files again (see [`TlsListener::reload`]). Ok(false)
    /// when the server does not serve TLS.
    pub fn reload_tls(&self) -> Result<bool, TlsError> {
        match &self.tls {
            Some(tls) => tls.reload().map(|()| true),
            None => Ok(false),
        }
    }

    /// Tells the server to stop, without waiting for it (from a `Drop`): it stops accepting,
    /// and its tasks end once their work is done.
    pub fn stop_soon(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.dispatcher_stop.send(true);
        if let Some(admin) = self.admin.take() {
            let _ = admin.stop.send(());
        }
    }

    /// Stops accepting, lets in-flight requests finish, and waits.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = self.task.await.map_err(std::io::Error::other)?;
        let _ = self.dispatcher_stop.send(true);
        let _ = self.dispatcher.await;
        // Health and metrics stay up until the device listener has drained.
        if let Some(admin) = self.admin.take() {
            let _ = admin.stop.send(());
            let _ = admin.task.await;
        }
        served
    }
}

/// Builds the application state over `store`.
pub async fn build_app(
    config: &ServerConfig,
    store: Arc<dyn Store>,
    outbox_signal: Arc<Notify>,
    push: Arc<dyn PushService>,
    triggers: Arc<dyn TriggerInvoker>,
) -> Result<App, StartError> {
    let mut fresh = vec![0u8; 32];
    getrandom::fill(&mut fresh).map_err(|e| StartError::Store(e.to_string()))?;
    let key = store
        .secret("token-signing-key", fresh)
        .await
        .map_err(|e| StartError::Store(e.to_string()))?;
    let tokens = TokenSigner::new(key);
    Ok(App {
        sync: SyncService::new(
            store.clone(),
            tokens.clone(),
            config.sync.clone(),
            outbox_signal,
            push,
            triggers,
        ),
        identity: IdentityService::new(
            store,
            tokens.clone(),
            config.region.clone(),
            config.oidc_providers.clone(),
        ),
        auth: Authenticator::new(
            config.credentials.clone(),
            SessionIssuer::new(tokens.clone(), config.credentials_ttl_ms),
        ),
        account_id: config.account_id.clone(),
        throttle: api::throttle::Throttle::new(&config.throttle),
        body_read_timeout: config.http.body_read_timeout,
        metrics: Arc::new(Metrics::new(&BulkStatus::ALL.map(BulkStatus::as_str))),
    })
}

/// Opens the store: PostgreSQL when a database URL is given (with up to `db_pool_size`
/// connections), else SQLite in `data_dir`.
pub async fn open_store(
    database_url: Option<&str>,
    db_pool_size: usize,
    data_dir: &Path,
) -> Result<Arc<dyn Store>, StartError> {
    let failed = |e: crate::store::StoreError| StartError::Store(e.to_string());
    let store: Arc<dyn Store> = match database_url {
        Some(url) => Arc::new(
            PostgresStore::connect_with_pool(url, db_pool_size)
                .await
                .map_err(failed)?,
        ),
        None => Arc::new(SqliteStore::open(data_dir).map_err(failed)?),
    };
    Ok(store)
}

/// Opens the configured store, binds, and serves in the background.
pub async fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
    let store = open_store(
        config.database_url.as_deref(),
        config.db_pool_size,
        &config.data_dir,
    )
    .await?;
    start_with_store(config, store).await
}

/// Binds and serves over an already open store, in the background.
pub async fn start_with_store(
    config: ServerConfig,
    store: Arc<dyn Store>,
) -> Result<RunningServer, StartError> {
    let tls = match &config.tls {
        Some(files) => Some(Arc::new(TlsListener::load(files.clone())?)),
        None => None,
    };
    let signal = Arc::new(Notify::new());
    let push: Arc<dyn PushService> = Arc::new(SnsPush::new(&config.aws));
    let triggers: Arc<dyn TriggerInvoker> = Arc::new(Triggers::new(&config.aws));
    let app = build_app(
        &config,
        store.clone(),
        signal.clone(),
        push.clone(),
        triggers,
    )
    .await?;
    store.observe(app.metrics.clone());
    let app = Arc::new(app);
    let (dispatcher_stop, stopping) = watch::channel(false);
    let sink = Arc::new(KinesisSink::new(&config.aws));
    let store_for_admin = store.clone();
    let dispatcher = Dispatcher::new(store, sink, push, signal).with_metrics(app.metrics.clone());
    let dispatcher = tokio::spawn(dispatcher.run(stopping));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let admin = match config.admin_listen {
        Some(at) => Some(start_admin(at, app.clone(), store_for_admin).await?),
        None => None,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let acceptor = tls.as_ref().map(|t| t.acceptor());
    let task = tokio::spawn(serve(listener, acceptor, app, config.http.clone(), async {
        let _ = stopped.await;
    }));
    Ok(RunningServer {
        addr,
        stop: Some(stop),
        task,
        dispatcher_stop,
        dispatcher,
        tls,
        admin,
    })
}

/// The admin listener serving in the background: where, and how to stop it.
struct AdminListener {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Binds the admin listener and serves it in the background (plain HTTP/1.1; it is meant
/// for loopback or a private network), with the console's sampler beside it.
async fn start_admin(
    at: SocketAddr,
    app: Arc<App>,
    store: Arc<dyn Store>,
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
    });
    let console = Arc::new(Console {
        sessions: Sessions::new(app.auth.developer().clone()),
        app,
        store,
        history,
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, admin::router(admin, console))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        sampler.abort();
        served
    });
    Ok(AdminListener { addr, stop, task })
}

/// Accepts connections while fewer than `limits.max_connections` are open, serves each
/// with HTTP/1.1 (over TLS when `tls` is set) under the header limits and timeouts, and on
/// `shutdown` stops accepting, lets in-flight requests finish for up to
/// `limits.shutdown_grace`, then cuts the rest.
async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Arc<App>,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = app.metrics.connections.clone();
    let service = TowerToHyperService::new(api::router(app));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_header_size(limits.max_header_bytes);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut saturated = false;
    tokio::pin!(shutdown);
    loop {
        // Forget connections that have closed, so the set holds only open ones.
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
            _ = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let (stream, _peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (http, service, watcher) = (http.clone(), service.clone(), graceful.watcher());
        let open = Open::new(&open);
        match tls.clone() {
            None => {
                let connection =
                    watcher.watch(http.serve_connection(TokioIo::new(stream), service));
                connections.spawn(async move {
                    let _ = connection.await;
                    drop((slot, open));
                });
            }
            Some(acceptor) => {
                // The handshake runs in the connection's task, bounded like the headers, so
                // a slow client holds only its own slot.
                let handshake_timeout = limits.header_read_timeout;
                connections.spawn(async move {
                    let handshake =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await;
                    if let Ok(Ok(stream)) = handshake {
                        let connection =
                            watcher.watch(http.serve_connection(TokioIo::new(stream), service));
                        let _ = connection.await;
                    }
                    drop((slot, open));
                });
            }
        }
        let full = slots.available_permits() == 0;
        if full && !saturated {
            tracing::warn!(
                max = limits.max_connections,
                "connection limit reached; new clients wait until one closes"
            );
        }
        saturated = full;
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = limits.shutdown_grace.as_secs_f64(),
            "in-flight requests did not finish in time; closing their connections"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// One open connection, counted in `cogsync_connections_open` until dropped.
struct Open(prometheus_client::metrics::gauge::Gauge);

impl Open {
    fn new(gauge: &prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Open(gauge.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}
