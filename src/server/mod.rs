//! Starting and stopping the server: assemble the application over the store, start the
//! outbox dispatcher, bind the device listener (over TLS when a certificate is configured)
//! and the admin listener, serve until told to stop, then finish in-flight requests within a
//! bound. The accept loop is [`accept`]; the admin listener [`admin_listener`].

mod accept;
pub mod admin_listener;
mod deliveries;
mod descriptors;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;

use crate::api::{self, App};
use crate::auth::{Authenticator, SessionIssuer};
use crate::config::ServerConfig;
use crate::identity::IdentityService;
use crate::integrations::logins::HttpLoginProviders;
use crate::integrations::{dispatcher::Dispatcher, trigger_invoker::Triggers};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::sync::ports::{PushService, TriggerInvoker};
use crate::sync::rules::bulk::BulkStatus;
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
    #[error("upstream mode: {0}")]
    Upstream(String),
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("push and stream routes: {0}")]
    Routes(String),
}

/// A server running in the background of the current tokio runtime.
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    dispatcher_stop: watch::Sender<bool>,
    dispatcher: JoinHandle<()>,
    /// The task logging the counts of failures left out of the log (it holds the app).
    error_log: JoinHandle<()>,
    /// Upstream mode's heartbeat and background copy.
    upstream_tasks: Vec<JoinHandle<()>>,
    tls: Option<Arc<TlsListener>>,
    /// The admin listener, when it runs.
    admin: Option<admin_listener::AdminListener>,
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

    /// Stops accepting, lets in-flight requests finish, and waits for every task of the
    /// server, so that the store is closed when it returns.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = self.task.await.map_err(std::io::Error::other)?;
        let _ = self.dispatcher_stop.send(true);
        let _ = self.dispatcher.await;
        let _ = (&mut self.error_log).await;
        for task in self.upstream_tasks.drain(..) {
            let _ = task.await;
        }
        // Health and metrics stay up until the device listener has drained.
        if let Some(admin) = self.admin.take() {
            let _ = admin.stop.send(());
            let _ = admin.task.await;
        }
        // Every task holding the store has ended, so the store is closed (an embedded one's
        // data directory free for the next process) when this returns.
        served
    }
}

/// Builds the application state over `store`, its pools attached as `up` says.
pub async fn build_app(
    config: &ServerConfig,
    store: Arc<dyn Store>,
    outbox_signal: Arc<Notify>,
    push: Arc<dyn PushService>,
    triggers: Arc<dyn TriggerInvoker>,
    up: &upstream::Upstream,
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
        )
        .with_upstream(
            up.attachments.clone(),
            up.port
                .clone()
                .map(|p| p as Arc<dyn crate::sync::ports::UpstreamSync>),
        ),
        identity: IdentityService::new(
            store,
            tokens.clone(),
            config.region.clone(),
            config.oidc_providers.clone(),
            Arc::new(HttpLoginProviders::new(config.providers.clone())),
        )
        .with_upstream(
            up.attachments.clone(),
            up.port
                .clone()
                .map(|p| p as Arc<dyn crate::identity::ports::UpstreamIdentity>),
        ),
        auth: Authenticator::new(
            config.credentials.clone(),
            SessionIssuer::new(tokens.clone(), config.credentials_ttl_ms),
        ),
        account_id: config.account_id.clone(),
        throttle: api::throttle::Throttle::new(&config.throttle),
        trusted_proxies: config.throttle.trusted_proxies.clone(),
        body_read_timeout: config.http.body_read_timeout,
        metrics: Arc::new(Metrics::new(&BulkStatus::ALL.map(BulkStatus::as_str))),
        error_log: api::error_log::ErrorLog::default(),
        store_timeout: config.store_timeout,
    })
}

/// Opens the configured store, binds, and serves in the background.
pub async fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
    let store = crate::store::open(&config.store_location())
        .await
        .map_err(|e| StartError::Store(e.to_string()))?;
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
    let deliveries::Deliveries { push, streams } = deliveries::build(&config)?;
    let triggers: Arc<dyn TriggerInvoker> = Arc::new(Triggers::new(&config.aws));
    let up = upstream::prepare(config.upstream.as_ref(), &store).await?;
    let app = build_app(
        &config,
        store.clone(),
        signal.clone(),
        push.clone(),
        triggers,
        &up,
    )
    .await?;
    store.observe(app.metrics.clone());
    let app = Arc::new(app);
    let (dispatcher_stop, stopping) = watch::channel(false);
    // The counts of failures left out of the log, logged as each window ends.
    let error_log = tokio::spawn({
        let (app, mut stop) = (app.clone(), stopping.clone());
        async move {
            let mut tick = tokio::time::interval(api::error_log::WINDOW);
            loop {
                tokio::select! {
                    _ = tick.tick() => app.error_log.flush(),
                    _ = stop.changed() => break,
                }
            }
        }
    });
    let upstream_tasks = upstream::spawn(&up, store.clone(), stopping.clone());
    let store_for_admin = store.clone();
    let store_descriptors = store.descriptors();
    let dispatcher =
        Dispatcher::new(store, streams, push, signal).with_metrics(app.metrics.clone());
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
    // Descriptors: the soft limit raised, the store's and the admin listener's set aside,
    // the device port capped to the rest.
    let open_files = descriptors::raise_soft_limit();
    let admin_reserve = match config.admin_listen {
        Some(_) => admin_listener::MAX_CONNECTIONS,
        None => 0,
    };
    let mut http = config.http.clone();
    http.max_connections = descriptors::connection_cap(
        http.max_connections,
        open_files,
        store_descriptors + admin_reserve,
    );
    let admin = match config.admin_listen {
        Some(at) => Some(
            admin_listener::start(
                at,
                app.clone(),
                store_for_admin,
                &config.http,
                config.admin_hosts.clone(),
                &up,
            )
            .await?,
        ),
        None => None,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let acceptor = tls.as_ref().map(|t| t.acceptor());
    let open = app.metrics.connections.clone();
    let router = api::router(app);
    let task = tokio::spawn(accept::serve(
        listener,
        acceptor,
        router,
        http,
        Some(open),
        async {
            let _ = stopped.await;
        },
    ));
    Ok(RunningServer {
        addr,
        stop: Some(stop),
        task,
        dispatcher_stop,
        dispatcher,
        error_log,
        upstream_tasks,
        tls,
        admin,
    })
}
