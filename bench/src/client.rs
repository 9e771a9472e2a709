//! The benchmark's device client: SigV4-signed JSON requests over keep-alive HTTP/1.1 (the
//! official signer, with the SDKs' settings), as an SDK on a device sends them.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use axum::http::{Method, Request};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use serde_json::Value;

/// A response: status and parsed JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

#[derive(Clone)]
pub struct Signer {
    pub credentials: Credentials,
    pub service: &'static str,
}

#[derive(Clone)]
pub struct HttpClient {
    endpoint: String,
    host: String,
    inner: Client<HttpConnector, Full<Bytes>>,
}

impl HttpClient {
    pub fn new(endpoint: &str) -> Self {
        let inner = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build_http();
        HttpClient {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            host: endpoint
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned(),
            inner,
        }
    }

    /// Sends one request, signed when `signer` is given.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        signer: Option<&Signer>,
    ) -> Result<Reply, String> {
        let uri = format!("{}{}", self.endpoint, path_and_query);
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .header("host", &self.host);
        let mut all: Vec<(String, String)> = vec![("host".into(), self.host.clone())];
        for (k, v) in headers {
            builder = builder.header(*k, *v);
            all.push((k.to_string(), v.to_string()));
        }
        if let Some(s) = signer {
            let identity = s.credentials.clone().into();
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name(s.service)
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .map_err(|e| e.to_string())?
                .into();
            let signable = SignableRequest::new(
                method.as_str(),
                &uri,
                all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                SignableBody::Bytes(&body),
            )
            .map_err(|e| e.to_string())?;
            let (instructions, _) = sign(signable, &params)
                .map_err(|e| e.to_string())?
                .into_parts();
            let (signed, _) = instructions.into_parts();
            for h in signed {
                builder = builder.header(h.name(), h.value());
            }
        }
        let req = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = self.inner.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply { status, body })
    }
}
