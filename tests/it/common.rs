//! Test harness: an in-process server with a temporary data directory, SDK clients pointed at
//! it, and a raw signer for hand-made requests.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sdk_cognitoidentity as cid;
use aws_sdk_cognitosync as cs;
use aws_smithy_async::time::StaticTimeSource;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use bytes::Bytes;
use cogsync::auth::DeveloperCredentials;
use cogsync::config::ServerConfig;
use cogsync::server::RunningServer;
use http_body_util::{BodyExt, Full};

pub const ACCESS_KEY: &str = "AKIDTESTCOGSYNC00001";
pub const SECRET_KEY: &str = "test/secret+key/for/cogsync/integration0";

/// Runs each named `async fn(TestServer)` once per storage backend: as `sqlite::NAME`, and as
/// `postgres::NAME` (skipped, with a message, when `COGSYNC_TEST_DATABASE_URL` is unset).
macro_rules! backend_tests {
    // Servers whose configuration `configure` (an `fn(&mut ServerConfig)`) adjusts.
    (configured $configure:ident; $($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::TestServer::start_custom(super::$configure).await).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    let server =
                        crate::common::TestServer::start_postgres_custom(test, super::$configure);
                    if let Some(s) = server.await {
                        super::$name(s).await
                    }
                }
            )+
        }
    };
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::TestServer::start().await).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    if let Some(s) = crate::common::TestServer::start_postgres(test).await {
                        super::$name(s).await
                    }
                }
            )+
        }
    };
}

pub struct TestServer {
    _server: RunningServer,
    pub endpoint: String,
    /// The admin listener's base URL, when the configuration asked for one.
    pub admin: Option<String>,
    pub dir: tempfile::TempDir,
    /// Dropped after the server: the database of a PostgreSQL-backed run.
    pub database: Option<cogsync::testing::TestDatabase>,
}

pub fn dev_credentials() -> DeveloperCredentials {
    DeveloperCredentials {
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: SECRET_KEY.into(),
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A server on a fresh PostgreSQL database, or None when no test database is configured.
    pub async fn start_postgres(test: &str) -> Option<Self> {
        let db = cogsync::testing::TestDatabase::create(test).await?;
        Some(Self::start_with(Some(db)).await)
    }

    /// [`TestServer::start_postgres`] with a configuration adjusted by `f`.
    pub async fn start_postgres_custom(
        test: &str,
        f: impl FnOnce(&mut ServerConfig),
    ) -> Option<Self> {
        let db = cogsync::testing::TestDatabase::create(test).await?;
        Some(Self::start_configured(Some(db), f).await)
    }

    /// The server's data directory (its SQLite database lives there).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A SQLite-backed server with a configuration adjusted by `f`.
    pub async fn start_custom(f: impl FnOnce(&mut ServerConfig)) -> Self {
        Self::start_configured(None, f).await
    }

    async fn start_with(database: Option<cogsync::testing::TestDatabase>) -> Self {
        Self::start_configured(database, |_| {}).await
    }

    /// A server over a store something else filled: `dir` as its data directory (its SQLite
    /// database), or `database` when given.
    pub async fn start_on(
        dir: tempfile::TempDir,
        database: Option<cogsync::testing::TestDatabase>,
    ) -> Self {
        Self::start_in(dir, database, |_| {}).await
    }

    async fn start_configured(
        database: Option<cogsync::testing::TestDatabase>,
        f: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), database, f).await
    }

    /// As [`TestServer::start_on`], with a configuration adjusted by `f`.
    pub async fn start_in(
        dir: tempfile::TempDir,
        database: Option<cogsync::testing::TestDatabase>,
        f: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let mut config = ServerConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            dir.path().to_path_buf(),
            dev_credentials(),
        );
        config.database_url = database.as_ref().map(|d| d.url.clone());
        config.oidc_providers = oidc().providers.clone();
        f(&mut config);
        let server = cogsync::server::start(config).await.unwrap();
        let endpoint = format!("http://{}", server.addr());
        let admin = server.admin_addr().map(|a| format!("http://{a}"));
        TestServer {
            _server: server,
            endpoint,
            admin,
            dir,
            database,
        }
    }

    /// Stops the server and hands back its data directory and database.
    pub async fn stop(self) -> (tempfile::TempDir, Option<cogsync::testing::TestDatabase>) {
        self._server.shutdown().await.unwrap();
        (self.dir, self.database)
    }

    pub fn sync(&self) -> cs::Client {
        self.sync_with(ACCESS_KEY, SECRET_KEY, None)
    }

    pub fn sync_with(&self, key: &str, secret: &str, clock: Option<SystemTime>) -> cs::Client {
        sync_client(&self.endpoint, key, secret, clock)
    }

    pub fn identity(&self) -> cid::Client {
        identity_client(&self.endpoint, ACCESS_KEY, SECRET_KEY)
    }

    /// A new pool allowing unauthenticated identities, and one identity in it.
    pub async fn pool_and_identity(&self) -> (String, String) {
        let pool = self.new_pool(true).await;
        let id = self.new_identity(&pool).await;
        (pool, id)
    }

    pub async fn new_pool(&self, allow_unauthenticated: bool) -> String {
        self.identity()
            .create_identity_pool()
            .identity_pool_name("test pool")
            .allow_unauthenticated_identities(allow_unauthenticated)
            .send()
            .await
            .unwrap()
            .identity_pool_id
    }

    pub async fn new_identity(&self, pool: &str) -> String {
        self.identity()
            .get_id()
            .identity_pool_id(pool)
            .send()
            .await
            .unwrap()
            .identity_id
            .unwrap()
    }
}

/// A raw HTTP response.
pub struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

/// Signing choices for [`raw`].
pub struct Sign<'a> {
    pub key: &'a str,
    pub secret: &'a str,
    pub service: &'a str,
    pub time: SystemTime,
    /// Session token of temporary credentials.
    pub token: Option<&'a str>,
}

impl Default for Sign<'_> {
    fn default() -> Self {
        Sign {
            key: ACCESS_KEY,
            secret: SECRET_KEY,
            service: "cognito-sync",
            time: SystemTime::now(),
            token: None,
        }
    }
}

/// Sends a request built by hand, signed like the AWS SDKs sign non-S3 services (the path
/// double-encoded, no `x-amz-content-sha256`) unless `sign` is None.
pub async fn raw(
    endpoint: &str,
    method: Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    sign: Option<Sign<'_>>,
) -> Raw {
    let uri = format!("{endpoint}{path_and_query}");
    let mut req = Request::builder().method(method.clone()).uri(&uri);
    let host = endpoint.trim_start_matches("http://").to_string();
    req = req.header("host", &host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
    if let Some(s) = sign {
        let to_sign: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
            .collect();
        for (k, v) in sigv4_headers(&s, method.as_str(), &uri, &to_sign, body) {
            req.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
    }
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let resp = client.request(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Raw {
        status,
        headers,
        body,
    }
}

/// Asserts the AWS error wire form: status, `x-amzn-ErrorType`, `__type`, and a message.
pub fn assert_aws_error(r: &Raw, status: u16, shape: &str) {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.body);
    assert_eq!(
        r.headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok()),
        Some(shape)
    );
    assert_eq!(r.body["__type"], shape, "body: {}", r.body);
    assert!(
        r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "body: {}",
        r.body
    );
    assert!(r.headers.contains_key("x-amzn-requestid"));
}

/// Percent-encodes `:` the way SDKs put ids into paths.
pub fn enc(id: &str) -> String {
    id.replace(':', "%3A")
}

/// Error code and message of any SDK error (service errors and unmodelled ones alike).
pub fn code_of<E: cs::error::ProvideErrorMetadata>(e: &E) -> (String, String) {
    (
        e.code().unwrap_or("<none>").to_string(),
        e.message().unwrap_or("").to_string(),
    )
}

pub fn patch(
    op: cs::types::Operation,
    key: &str,
    value: Option<&str>,
    sync_count: i64,
) -> cs::types::RecordPatch {
    cs::types::RecordPatch::builder()
        .op(op)
        .key(key)
        .set_value(value.map(Into::into))
        .sync_count(sync_count)
        .build()
        .unwrap()
}

pub fn replace(key: &str, value: &str, sync_count: i64) -> cs::types::RecordPatch {
    patch(cs::types::Operation::Replace, key, Some(value), sync_count)
}

pub fn remove(key: &str, sync_count: i64) -> cs::types::RecordPatch {
    patch(cs::types::Operation::Remove, key, None, sync_count)
}

/// ListDatasets for an identity, reduced to success or the error's code and message.
pub async fn try_list(
    c: &aws_sdk_cognitosync::Client,
    pool: &str,
    id: &str,
) -> Result<(), (String, String)> {
    c.list_datasets()
        .identity_pool_id(pool)
        .identity_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code_of(&e))
}

/// Pulls everything after `last`, following NextToken, like the Android and JS sync managers.
pub async fn pull(
    c: &cs::Client,
    pool: &str,
    id: &str,
    ds: &str,
    last: i64,
) -> (
    Vec<cs::types::Record>,
    cs::operation::list_records::ListRecordsOutput,
) {
    let mut records = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = c
            .list_records()
            .identity_pool_id(pool)
            .identity_id(id)
            .dataset_name(ds)
            .last_sync_count(last)
            .max_results(1024)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        records.extend(out.records().iter().cloned());
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return (records, out);
        }
    }
}

/// One UpdateRecords call with a fresh session token.
pub async fn push(
    c: &cs::Client,
    pool: &str,
    id: &str,
    ds: &str,
    patches: Vec<cs::types::RecordPatch>,
) -> Result<Vec<cs::types::Record>, (String, String)> {
    let token = c
        .list_records()
        .identity_pool_id(pool)
        .identity_id(id)
        .dataset_name(ds)
        .send()
        .await
        .unwrap()
        .sync_session_token
        .unwrap();
    c.update_records()
        .identity_pool_id(pool)
        .identity_id(id)
        .dataset_name(ds)
        .sync_session_token(token)
        .set_record_patches(Some(patches))
        .send()
        .await
        .map(|o| o.records().to_vec())
        .map_err(|e| code_of(&e))
}

pub fn sync_client(
    endpoint: &str,
    key: &str,
    secret: &str,
    clock: Option<SystemTime>,
) -> cs::Client {
    let mut b = cs::Config::builder()
        .behavior_version(cs::config::BehaviorVersion::latest())
        .region(cs::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .retry_config(cs::config::retry::RetryConfig::disabled())
        .http_client(aws_smithy_http_client::Builder::new().build_http());
    if let Some(t) = clock {
        b = b.time_source(StaticTimeSource::new(t));
    }
    cs::Client::from_conf(b.build())
}

pub fn identity_client(endpoint: &str, key: &str, secret: &str) -> cid::Client {
    let conf = cid::Config::builder()
        .behavior_version(cid::config::BehaviorVersion::latest())
        .region(cid::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .retry_config(cid::config::retry::RetryConfig::disabled())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    cid::Client::from_conf(conf)
}

type SyncResult<O, E> = Result<O, cs::error::SdkError<E>>;

/// A fresh SyncSessionToken for a dataset, from ListRecords.
pub async fn session_token(c: &cs::Client, pool: &str, id: &str, ds: &str) -> String {
    c.list_records()
        .identity_pool_id(pool)
        .identity_id(id)
        .dataset_name(ds)
        .send()
        .await
        .unwrap()
        .sync_session_token
        .unwrap()
}

pub async fn describe(
    c: &cs::Client,
    pool: &str,
    id: &str,
    ds: &str,
) -> SyncResult<
    cs::operation::describe_dataset::DescribeDatasetOutput,
    cs::operation::describe_dataset::DescribeDatasetError,
> {
    c.describe_dataset()
        .identity_pool_id(pool)
        .identity_id(id)
        .dataset_name(ds)
        .send()
        .await
}

pub async fn delete(
    c: &cs::Client,
    pool: &str,
    id: &str,
    ds: &str,
) -> SyncResult<
    cs::operation::delete_dataset::DeleteDatasetOutput,
    cs::operation::delete_dataset::DeleteDatasetError,
> {
    c.delete_dataset()
        .identity_pool_id(pool)
        .identity_id(id)
        .dataset_name(ds)
        .send()
        .await
}

/// The raw path of a dataset, with ids encoded as SDKs encode them.
pub fn dataset_path(pool: &str, id: &str, ds: &str) -> String {
    format!(
        "/identitypools/{}/identities/{}/datasets/{ds}",
        enc(pool),
        enc(id)
    )
}

/// SigV4 headers for a request, computed by the official signer with the SDKs' default
/// settings (double-encoded path, no `x-amz-content-sha256`).
pub fn sigv4_headers(
    s: &Sign<'_>,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<(String, String)> {
    let settings = aws_sigv4::http_request::SigningSettings::default();
    sigv4_headers_with(settings, s, method, url, headers, body)
}

/// [`sigv4_headers`] with other signer settings (e.g. sending `x-amz-content-sha256`).
pub fn sigv4_headers_with(
    settings: aws_sigv4::http_request::SigningSettings,
    s: &Sign<'_>,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest};
    let identity =
        Credentials::new(s.key, s.secret, s.token.map(str::to_owned), None, "raw").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(s.service)
        .time(s.time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let (out, _) = instructions.into_parts();
    out.iter()
        .map(|h| (h.name().to_string(), h.value().to_string()))
        .collect()
}

/// SigV4 headers for a Cognito Sync request signed with the developer credentials.
pub fn signed_headers(
    endpoint: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    let host = endpoint.trim_start_matches("http://").to_string();
    let url = format!("{endpoint}{path}");
    sigv4_headers(
        &Sign::default(),
        method,
        &url,
        &[("host".into(), host)],
        body,
    )
}

/// A Cognito Sync client signing with `creds` (temporary credentials carry a session token).
pub fn sync_as(endpoint: &str, creds: Credentials) -> cs::Client {
    let conf = cs::Config::builder()
        .behavior_version(cs::config::BehaviorVersion::latest())
        .region(cs::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .retry_config(cs::config::retry::RetryConfig::disabled())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    cs::Client::from_conf(conf)
}

/// GetCredentialsForIdentity through the SDK, as SDK credentials.
pub async fn credentials_for(
    s: &TestServer,
    id: &str,
    logins: &[(&str, &str)],
) -> Result<Credentials, (String, String)> {
    vended_credentials(&s.identity(), id, logins).await
}

/// GetCredentialsForIdentity through `ids`, as SDK credentials.
pub async fn vended_credentials(
    ids: &cid::Client,
    id: &str,
    logins: &[(&str, &str)],
) -> Result<Credentials, (String, String)> {
    let mut req = ids.get_credentials_for_identity().identity_id(id);
    for (p, t) in logins {
        req = req.logins(*p, *t);
    }
    let out = req.send().await.map_err(|e| code_of(&e))?;
    let c = out.credentials().unwrap();
    Ok(Credentials::new(
        c.access_key_id().unwrap(),
        c.secret_key().unwrap(),
        c.session_token().map(str::to_owned),
        None,
        "cognito-identity",
    ))
}

/// GetId with logins through the SDK.
pub async fn get_id_with(
    s: &TestServer,
    pool: &str,
    logins: &[(&str, &str)],
) -> Result<String, (String, String)> {
    let mut req = s.identity().get_id().identity_pool_id(pool);
    for (p, t) in logins {
        req = req.logins(*p, *t);
    }
    req.send()
        .await
        .map(|o| o.identity_id.unwrap())
        .map_err(|e| code_of(&e))
}

pub const OIDC_AUDIENCE: &str = "cogsync-test-client";

/// Two OpenID Connect providers with signing keys made for this test run.
pub struct OidcFixture {
    pub providers: Vec<cogsync::identity::oidc_verify::OidcProvider>,
    keys: Vec<jsonwebtoken::EncodingKey>,
}

/// The test OIDC providers: index 0 is `id.example.com`, index 1 is `login.example.org`.
pub fn oidc() -> &'static OidcFixture {
    static FIXTURE: std::sync::OnceLock<OidcFixture> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        use base64::Engine;
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::pkcs8::EncodePrivateKey;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut providers = Vec::new();
        let mut keys = Vec::new();
        for host in ["id.example.com", "login.example.org"] {
            let secret = loop {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).unwrap();
                if let Ok(k) = p256::SecretKey::from_slice(&bytes) {
                    break k;
                }
            };
            let point = secret.public_key().to_encoded_point(false);
            let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(serde_json::json!({"keys": [{
                "kty": "EC", "crv": "P-256", "kid": format!("{host}-key"), "alg": "ES256", "use": "sig",
                "x": b64.encode(point.x().unwrap()), "y": b64.encode(point.y().unwrap()),
            }]}))
            .unwrap();
            providers.push(cogsync::identity::oidc_verify::OidcProvider::new(
                format!("arn:aws:iam::000000000000:oidc-provider/{host}"),
                format!("https://{host}"),
                vec![OIDC_AUDIENCE.to_string()],
                jwks,
            ));
            keys.push(jsonwebtoken::EncodingKey::from_ec_der(secret.to_pkcs8_der().unwrap().as_bytes()));
        }
        OidcFixture { providers, keys }
    })
}

impl OidcFixture {
    /// An ES256 ID token from provider `i` for `sub`, expiring `ttl_s` seconds from now.
    pub fn token(&self, i: usize, sub: &str, aud: &str, ttl_s: i64) -> String {
        let p = &self.providers[i];
        let now = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(format!("{}-key", p.name));
        let claims = serde_json::json!({"iss": p.issuer, "sub": sub, "aud": aud, "iat": now, "exp": now + ttl_s});
        jsonwebtoken::encode(&header, &claims, &self.keys[i]).unwrap()
    }

    /// A token from provider `i` with `claims` over its issuer and the test audience.
    pub fn token_with(&self, i: usize, claims: serde_json::Value) -> String {
        let p = &self.providers[i];
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(format!("{}-key", p.name));
        let mut all = serde_json::json!({"iss": p.issuer, "aud": OIDC_AUDIENCE});
        for (k, v) in claims.as_object().unwrap() {
            all[k] = v.clone();
        }
        jsonwebtoken::encode(&header, &all, &self.keys[i]).unwrap()
    }

    /// Provider `i`'s Logins key.
    pub fn name(&self, i: usize) -> &str {
        &self.providers[i].name
    }
}

/// A pool that accepts the test OIDC providers and a developer provider `login.myapp`.
pub async fn login_pool(s: &TestServer, allow_unauthenticated: bool) -> String {
    s.identity()
        .create_identity_pool()
        .identity_pool_name("logins")
        .allow_unauthenticated_identities(allow_unauthenticated)
        .developer_provider_name("login.myapp")
        .set_open_id_connect_provider_arns(Some(
            oidc().providers.iter().map(|p| p.arn.clone()).collect(),
        ))
        .send()
        .await
        .unwrap()
        .identity_pool_id
}

/// The URL in `var`, or None after telling the terminal that `test` is skipped.
fn service_url(var: &str, what: &str, example: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: needs {what}; set {var} (e.g. {example})"
            );
            None
        }
    }
}

/// The moto server URL tests of AWS integrations use, or None (after announcing the skip).
pub fn moto_url(test: &str) -> Option<String> {
    service_url(
        "COGSYNC_TEST_MOTO_URL",
        "moto",
        "http://127.0.0.1:5055",
        test,
    )
}

/// A second moto for Lambda tests, or None after announcing the skip.
pub fn moto_lambda_url(test: &str) -> Option<String> {
    service_url(
        "COGSYNC_TEST_MOTO_LAMBDA_URL",
        "a moto for Lambda",
        "http://127.0.0.1:5056",
        test,
    )
}

/// Settings that point cogsync's AWS clients at `endpoint` with moto's dummy credentials.
pub fn aws_at(endpoint: &str) -> cogsync::integrations::aws::AwsSettings {
    cogsync::integrations::aws::AwsSettings {
        region: "us-east-1".into(),
        endpoint: Some(endpoint.to_string()),
        kinesis_endpoint: None,
        sns_endpoint: None,
        lambda_endpoint: None,
        credentials: Some(Credentials::new("testing", "testing", None, None, "moto")),
    }
}

/// A new pool and one unauthenticated identity on the server at `endpoint`.
pub async fn pool_and_identity_at(endpoint: &str) -> (String, String) {
    pool_and_identity_via(&identity_client(endpoint, ACCESS_KEY, SECRET_KEY)).await
}

/// A new pool and one unauthenticated identity, through `ids` (developer credentials).
pub async fn pool_and_identity_via(ids: &cid::Client) -> (String, String) {
    let pool = ids
        .create_identity_pool()
        .identity_pool_name("p")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let id = ids
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    (pool, id)
}

/// A console session on `s`'s admin listener, signed in over plain HTTP with the developer
/// credentials: a client that does not follow redirects, and the session's cookie.
pub async fn console_session(s: &TestServer) -> (reqwest::Client, String) {
    let admin = s
        .admin
        .as_deref()
        .expect("the server has an admin listener");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = http
        .post(format!("{admin}/console/sign-in"))
        .form(&[("access_key", ACCESS_KEY), ("secret", SECRET_KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    let session = cookie.split(';').next().unwrap().to_owned();
    (http, session)
}

/// A pool's quotas set as an operator sets them: the Quotas form of the pool's console page,
/// filled with (datasets per identity, records per dataset, bytes per dataset), blank for
/// the server's. Answers the message the page shows after.
pub async fn set_quotas(s: &TestServer, pool: &str, quotas: [&str; 3]) -> String {
    let admin = s.admin.as_deref().unwrap();
    let (http, session) = console_session(s).await;
    let page_url = format!("{admin}/console/pools/{pool}");
    let get = |url: String| http.get(url).header("cookie", &session).send();
    let html = get(page_url.clone()).await.unwrap().text().await.unwrap();
    assert!(
        html.contains("/quotas\""),
        "the pool page has a Quotas form"
    );
    let needle = "name=\"csrf\" value=\"";
    let at = html.find(needle).unwrap() + needle.len();
    let csrf = html[at..].split('"').next().unwrap().to_owned();
    let [datasets, records, bytes] = quotas;
    let posted = http
        .post(format!("{page_url}/quotas"))
        .header("cookie", &session)
        .form(&[
            ("csrf", csrf.as_str()),
            ("datasets_per_identity", datasets),
            ("records_per_dataset", records),
            ("bytes_per_dataset", bytes),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 303);
    let after = get(page_url).await.unwrap().text().await.unwrap();
    let flash = after
        .find("class=\"flash")
        .expect("a message after the form");
    let text = &after[flash..];
    let start = text.find('>').unwrap() + 1;
    text[start..].split('<').next().unwrap().to_owned()
}
