//! HTTPS on the listener, against the real binary: a device flow through the official SDKs
//! over a certificate chain, and a certificate renewed under SIGHUP while a client stays
//! connected.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_cognitoidentity as cid;
use aws_sdk_cognitosync as cs;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::common::{ACCESS_KEY, SECRET_KEY};
use crate::pki::{rsa_key, rsa_key_pkcs1_pem, Pki};
use crate::process::{sigterm, spawn, Proc};

/// An SDK HTTP client that trusts only the test root.
fn https_client(root_pem: &str) -> SharedHttpClient {
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(root_pem.as_bytes());
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap(),
        )
        .build_https()
}

fn start_tls(dir: &Path, chain_pem: &str, key_pem: &str) -> Proc {
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    std::fs::write(&cert, chain_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    let p = spawn(
        &dir.join("data"),
        Some((ACCESS_KEY, SECRET_KEY)),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(p.endpoint.starts_with("https://"), "{}", p.endpoint);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_flow_runs_over_tls_with_an_rsa_certificate_chain() {
    let pki = Pki::new("flow");
    let server = pki.server_cert(rsa_key());
    let dir = tempfile::tempdir().unwrap();
    // The key file in PKCS#1 form ("BEGIN RSA PRIVATE KEY"), the chain with its intermediate.
    let mut p = start_tls(dir.path(), &server.chain_pem, &rsa_key_pkcs1_pem());
    let http = https_client(&pki.root_pem());

    let identity = cid::Client::from_conf(
        cid::Config::builder()
            .behavior_version(cid::config::BehaviorVersion::latest())
            .region(cid::config::Region::new("us-east-1"))
            .endpoint_url(&p.endpoint)
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "t"))
            .http_client(http.clone())
            .build(),
    );
    let (pool, id) = crate::common::pool_and_identity_via(&identity).await;
    let creds = crate::common::vended_credentials(&identity, &id, &[])
        .await
        .unwrap();
    let device = cs::Client::from_conf(
        cs::Config::builder()
            .behavior_version(cs::config::BehaviorVersion::latest())
            .region(cs::config::Region::new("us-east-1"))
            .endpoint_url(&p.endpoint)
            .credentials_provider(creds)
            .http_client(http)
            .build(),
    );
    let listed = device
        .list_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("settings")
        .send()
        .await
        .unwrap();
    device
        .update_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("settings")
        .sync_session_token(listed.sync_session_token.unwrap())
        .record_patches(crate::common::replace("theme", "dark", 0))
        .send()
        .await
        .unwrap();
    let back = device
        .list_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("settings")
        .send()
        .await
        .unwrap();
    assert_eq!(back.records()[0].value(), Some("dark"));
    assert_eq!(back.dataset_sync_count, Some(1));
    assert_eq!(sigterm(&mut p).code(), Some(0));
}

/// One kept-alive HTTPS connection and the certificate it was made with.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    certificate: Vec<u8>,
}

async fn connect(endpoint: &str, root_pem: &str) -> Connection {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(root_pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let addr = endpoint.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let certificate = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    Connection {
        sender,
        certificate,
    }
}

impl Connection {
    /// An unsigned request: the server answers it (403, no credentials) on this connection.
    async fn ask(&mut self) -> u16 {
        let request = hyper::Request::get("/identitypools?maxResults=1")
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        self.sender
            .send_request(request)
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_after_sighup_without_dropping_connections() {
    let pki = Pki::new("renewal");
    let first = pki.server_cert(rcgen::KeyPair::generate().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut p = start_tls(dir.path(), &first.chain_pem, &first.key_pem);
    let root = pki.root_pem();

    let mut kept = connect(&p.endpoint, &root).await;
    assert_eq!(kept.certificate, first.der);
    assert_eq!(kept.ask().await, 403);

    // Renew: new key, new certificate, written over the old files; then SIGHUP.
    let renewed = pki.server_cert(rcgen::KeyPair::generate().unwrap());
    std::fs::write(dir.path().join("server.crt"), &renewed.chain_pem).unwrap();
    std::fs::write(dir.path().join("server.key"), &renewed.key_pem).unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &p.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());

    // The reload happens when the server handles the signal: new connections soon get the
    // renewed certificate.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut fresh = connect(&p.endpoint, &root).await;
        if fresh.certificate == renewed.der {
            assert_eq!(fresh.ask().await, 403);
            break;
        }
        assert_eq!(fresh.certificate, first.der);
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload the certificate"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The connection made before the renewal is still open and still answered.
    assert_eq!(kept.ask().await, 403);
    assert_eq!(kept.certificate, first.der);
    assert_eq!(sigterm(&mut p).code(), Some(0));
}
