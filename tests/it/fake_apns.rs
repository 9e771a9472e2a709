//! APNs' provider API, faked on 127.0.0.1 as Apple serves it: HTTP/2 only, over TLS (ALPN
//! `h2`) with a certificate from a throwaway CA the client is told to trust
//! (`--delivery-ca-file`). Each `POST /3/device/<token>` must carry a provider token (ES256,
//! `kid` the key id, `iss` the team, issued within the hour) that verifies with the test key's
//! public half, `apns-push-type: background`, `apns-priority: 5`, the app's `apns-topic`, and
//! a body with `aps.content-available = 1`. What it answers a device token can be scripted
//! (410 Unregistered); accepted pushes and the distinct provider tokens seen are recorded.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};

use crate::pki::Pki;

pub const KEY_ID: &str = "ABC123DEFG";
pub const TEAM_ID: &str = "DEF123GHIJ";
pub const TOPIC: &str = "com.example.cogsync";

/// One accepted push: the device token and the body.
#[derive(Clone, Debug)]
pub struct Pushed {
    pub token: String,
    pub body: Value,
}

#[derive(Default)]
struct Apns {
    pushed: Mutex<Vec<Pushed>>,
    /// Why requests were refused as malformed (none, when cogsync sends right).
    refused: Mutex<Vec<String>>,
    jwts: Mutex<HashSet<String>>,
    attempts: Mutex<HashMap<String, usize>>,
    unregistered: Mutex<HashSet<String>>,
}

pub struct FakeApns {
    apns: Arc<Apns>,
    url: String,
    /// The CA the client must trust (PEM).
    pub ca_pem: String,
    /// The `.p8` key (PKCS#8 PEM) cogsync signs with.
    pub key_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApns {
    pub async fn start() -> FakeApns {
        let pki = Pki::new("fake APNs");
        let cert = pki.server_cert(rcgen::KeyPair::generate().unwrap());
        let signing = rcgen::KeyPair::generate().unwrap();
        let public = DecodingKey::from_ec_pem(signing.public_key_pem().as_bytes()).unwrap();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert.chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let apns = Arc::new(Apns::default());
        let (state, public) = (apns.clone(), Arc::new(public));
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, state, public) = (acceptor.clone(), state.clone(), public.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    if !h2 {
                        state.refused.lock().unwrap().push("ALPN is not h2".into());
                        return;
                    }
                    let service = hyper::service::service_fn(move |req| {
                        let (state, public) = (state.clone(), public.clone());
                        async move { Ok::<_, Infallible>(answer(&state, &public, req).await) }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        FakeApns {
            apns,
            url,
            ca_pem: pki.root_pem(),
            key_pem: signing.serialize_pem(),
            task,
        }
    }

    /// The base URL (`--provider-url api.sandbox.push.apple.com=<this>`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pushed_to(&self, token: &str) -> Vec<Pushed> {
        let pushed = self.apns.pushed.lock().unwrap();
        pushed
            .iter()
            .filter(|p| p.token == token)
            .cloned()
            .collect()
    }

    pub fn refused(&self) -> Vec<String> {
        self.apns.refused.lock().unwrap().clone()
    }

    /// How many different provider tokens were presented.
    pub fn distinct_jwts(&self) -> usize {
        self.apns.jwts.lock().unwrap().len()
    }

    pub fn attempts(&self, token: &str) -> usize {
        let attempts = self.apns.attempts.lock().unwrap();
        attempts.get(token).copied().unwrap_or(0)
    }

    /// Answers 410 Unregistered to every push to `token`.
    pub fn unregister(&self, token: &str) {
        self.apns
            .unregistered
            .lock()
            .unwrap()
            .insert(token.to_owned());
    }
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    r
}

/// Why the request is not one APNs accepts, if it is not.
fn check(
    public: &DecodingKey,
    req: &hyper::http::request::Parts,
    body: &Value,
) -> Result<String, String> {
    if req.version != Version::HTTP_2 || req.method != hyper::Method::POST {
        return Err(format!("{:?} {}", req.version, req.method));
    }
    let token = req
        .uri
        .path()
        .strip_prefix("/3/device/")
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| format!("path {}", req.uri.path()))?;
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let expected = [
        ("apns-push-type", "background"),
        ("apns-priority", "5"),
        ("apns-topic", TOPIC),
    ];
    for (name, value) in expected {
        if header(name) != value {
            return Err(format!("{name}: {:?}", header(name)));
        }
    }
    let authorization = header("authorization");
    let jwt = authorization
        .strip_prefix("bearer ")
        .ok_or("no bearer provider token")?;
    let head = jsonwebtoken::decode_header(jwt).map_err(|e| e.to_string())?;
    if head.alg != Algorithm::ES256 || head.kid.as_deref() != Some(KEY_ID) {
        return Err(format!("provider token header {head:?}"));
    }
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss"]);
    validation.set_issuer(&[TEAM_ID]);
    let claims = jsonwebtoken::decode::<Value>(jwt, public, &validation)
        .map_err(|e| format!("provider token: {e}"))?
        .claims;
    let age = cogsync::testing::idp::now_s() - claims["iat"].as_i64().unwrap_or(0);
    if !(0..3600).contains(&age) {
        return Err(format!("provider token issued {age} s ago"));
    }
    if body["aps"] != json!({"content-available": 1}) {
        return Err(format!("body {body}"));
    }
    Ok(token.to_owned())
}

async fn answer(
    state: &Apns,
    public: &DecodingKey,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let jwt = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (parts, incoming) = req.into_parts();
    let bytes = incoming
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    match check(public, &parts, &body) {
        Err(why) => {
            state.refused.lock().unwrap().push(why.clone());
            reply(400, json!({"reason": "BadRequest", "why": why}))
        }
        Ok(token) => {
            state.jwts.lock().unwrap().insert(jwt);
            *state
                .attempts
                .lock()
                .unwrap()
                .entry(token.clone())
                .or_default() += 1;
            if state.unregistered.lock().unwrap().contains(&token) {
                return reply(
                    410,
                    json!({"reason": "Unregistered", "timestamp": 1_700_000_000_000i64}),
                );
            }
            state.pushed.lock().unwrap().push(Pushed { token, body });
            let mut r = reply(200, Value::Null);
            *r.body_mut() = Full::new(Bytes::new());
            r.headers_mut()
                .insert("apns-id", uuid::Uuid::new_v4().to_string().parse().unwrap());
            r
        }
    }
}
