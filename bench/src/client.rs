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

    /// The server's host:port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The headers of a request: host, `headers`, and the signature's (X-Amz-Date,
    /// Authorization, X-Amz-Security-Token) when `signer` is given, signed now.
    fn headers(
        &self,
        method: &Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        signer: Option<&Signer>,
    ) -> Result<Vec<(String, String)>, String> {
        let mut all: Vec<(String, String)> = vec![("host".into(), self.host.clone())];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
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
                uri,
                all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                SignableBody::Bytes(body),
            )
            .map_err(|e| e.to_string())?;
            let (instructions, _) = sign(signable, &params)
                .map_err(|e| e.to_string())?
                .into_parts();
            let (signed, _) = instructions.into_parts();
            all.extend(
                signed
                    .iter()
                    .map(|h| (h.name().to_owned(), h.value().to_owned())),
            );
        }
        Ok(all)
    }

    /// The bytes of the HTTP/1.1 request `call` would send now, signature included, for a
    /// replaying client to send again and again.
    pub fn presign(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        signer: Option<&Signer>,
    ) -> Result<Vec<u8>, String> {
        let uri = format!("{}{}", self.endpoint, path_and_query);
        let mut out = format!("{method} {path_and_query} HTTP/1.1\r\n").into_bytes();
        for (name, value) in self.headers(&method, &uri, headers, body, signer)? {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if !body.is_empty() {
            out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        Ok(out)
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
        let mut builder = Request::builder().method(method.clone()).uri(&uri);
        for (name, value) in self.headers(&method, &uri, headers, &body, signer)? {
            builder = builder.header(name, value);
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

impl HttpClient {
    /// GET `path`, unsigned: the status and the body as text (the admin listener's metrics).
    pub async fn get_text(&self, path: &str) -> Result<(u16, String), String> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(format!("{}{path}", self.endpoint))
            .header("host", &self.host)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let resp = self.inner.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The request a client sent to a listener that answers `{}`, as text.
    async fn received(listener: &tokio::net::TcpListener) -> String {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        while !buf.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            socket.read_exact(&mut byte).await.unwrap();
            buf.push(byte[0]);
        }
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
        socket.write_all(answer).await.unwrap();
        String::from_utf8(buf).unwrap()
    }

    /// Header lines with the values that change with the signing time blanked.
    fn timeless(request: &str) -> Vec<String> {
        request
            .split("\r\n")
            .map(|line| match line.split_once(": ") {
                Some((name @ ("x-amz-date" | "authorization"), _)) => format!("{name}: …"),
                _ => line.to_owned(),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_presigned_request_is_the_one_call_sends() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = HttpClient::new(&format!("http://{}", listener.local_addr().unwrap()));
        let signer = Signer {
            credentials: Credentials::new("AKTEST", "secret", Some("token".into()), None, "t"),
            service: "cognito-sync",
        };
        let path = "/identitypools/p/identities/us-east-1%3Ai/datasets/d/records?lastSyncCount=0";
        let (sent, reply) = tokio::join!(
            received(&listener),
            http.call(Method::GET, path, &[], Vec::new(), Some(&signer))
        );
        assert_eq!(reply.unwrap().status, 200);
        let presigned = http
            .presign(Method::GET, path, &[], &[], Some(&signer))
            .unwrap();
        let presigned = String::from_utf8(presigned).unwrap();
        assert_eq!(timeless(&presigned), timeless(&sent));
        assert!(presigned.contains("x-amz-security-token: token\r\n"));
    }
}
