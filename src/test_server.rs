//! An in-process cogsync for your own tests (feature `test-server`), the way moto's server
//! fixture is used: [`TestServer::start`] serves on `127.0.0.1:0` over a temporary SQLite
//! store and hands back the endpoint and a fresh pair of developer credentials; dropping it
//! (or [`TestServer::stop`]) ends the server and deletes the store.
//!
//! ```toml
//! [dev-dependencies]
//! # cogsync is not on crates.io: name your copy of its repository (a git URL, or a path).
//! cogsync = { git = "https://github.com/YOUR-ORG/cogsync", features = ["test-server"] }
//! aws-sdk-cognitoidentity = "1"
//! aws-sdk-cognitosync = "1"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! ```ignore
//! let server = cogsync::test_server::TestServer::start().await?;
//! let config = aws_sdk_cognitosync::Config::builder()
//!     .behavior_version_latest()
//!     .endpoint_url(server.endpoint())
//!     .region(aws_sdk_cognitosync::config::Region::new(server.region().to_owned()))
//!     .credentials_provider(aws_sdk_cognitosync::config::Credentials::new(
//!         server.access_key_id(), server.secret_access_key(), None, None, "test"))
//!     .build();
//! // … create a pool with aws-sdk-cognitoidentity, then ListRecords / UpdateRecords.
//! ```
//!
//! `tests/it/test_server.rs` in this repository runs that flow: it creates a pool and an
//! identity and syncs a record through the official SDK crates (docs/testing.md has the
//! whole example).

use crate::auth::DeveloperCredentials;
use crate::config::ServerConfig;
use crate::server::{RunningServer, StartError};

/// A cogsync serving in the background of the current tokio runtime.
pub struct TestServer {
    server: Option<RunningServer>,
    endpoint: String,
    credentials: DeveloperCredentials,
    region: String,
    // Removed after the server has stopped (field order).
    _store: tempfile::TempDir,
}

impl TestServer {
    /// A server with the defaults: SQLite in a temporary directory, region `us-east-1`, no
    /// admin listener, AWS integrations (Kinesis, SNS, Lambda) configured from the
    /// environment as the binary's are.
    pub async fn start() -> Result<Self, StartError> {
        Self::start_with(|_| {}).await
    }

    /// As [`TestServer::start`], with the configuration adjusted by `configure` first (rate
    /// limits, an admin listener, limits of the sync rules, …).
    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> Result<Self, StartError> {
        let store = tempfile::tempdir().map_err(|e| StartError::Store(e.to_string()))?;
        let credentials =
            DeveloperCredentials::generate().map_err(|e| StartError::Store(e.to_string()))?;
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let mut config = ServerConfig::new(loopback, store.path().to_path_buf(), credentials);
        configure(&mut config);
        let credentials = config.credentials.clone();
        let region = config.region.clone();
        let server = crate::server::start(config).await?;
        Ok(TestServer {
            endpoint: format!("http://{}", server.addr()),
            server: Some(server),
            credentials,
            region,
            _store: store,
        })
    }

    /// The URL to give an SDK as its endpoint (`http://127.0.0.1:<port>`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The developer access key id: administers pools, acts for any identity.
    pub fn access_key_id(&self) -> &str {
        &self.credentials.access_key_id
    }

    pub fn secret_access_key(&self) -> &str {
        &self.credentials.secret_access_key
    }

    /// The region in the ids the server makes, for the SDK's configuration.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The admin listener's URL, if the configuration asked for one.
    pub fn admin_endpoint(&self) -> Option<String> {
        self.server
            .as_ref()
            .and_then(|s| s.admin_addr())
            .map(|a| format!("http://{a}"))
    }

    /// Stops the server (requests in flight finish) and deletes its store.
    pub async fn stop(mut self) -> std::io::Result<()> {
        match self.server.take() {
            Some(server) => server.shutdown().await,
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.as_mut() {
            server.stop_soon();
        }
    }
}
