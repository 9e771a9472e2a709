//! The accept loop both listeners share: each connection served with HTTP/1.1 (over TLS when
//! configured) under the header limits and timeouts of [`HttpLimits`], at most
//! `max_connections` at once. A connection past the cap is refused at once (plain HTTP: a
//! `503` with `Retry-After`, which every SDK retries; TLS: closed), rather than left to time
//! out in the listen backlog. Each request carries its connection's peer address
//! ([`Peer`]) for the address limits. On shutdown, in-flight requests get a bounded grace.

use std::future::Future;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::api::client_addr::Peer;
use crate::config::HttpLimits;
use std::sync::Arc;

/// Connections past the cap being refused at once (each for at most a second); more are
/// closed without an answer. Within the descriptors `descriptors` sets aside for refusals.
pub const REFUSING_AT_ONCE: usize = 32;

/// What a client past the connection cap reads before the connection closes: an AWS-shaped
/// 503, which every SDK retries.
fn refusal() -> Vec<u8> {
    const BODY: &str = r#"{"__type":"ServiceUnavailableException","message":"Too many connections; retry shortly"}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n\
         content-type: application/json\r\nx-amzn-ErrorType: ServiceUnavailableException\r\n\
         Content-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    )
    .into_bytes()
}

/// Serves `router` on `listener` until `shutdown` resolves (see the module's description).
/// `open`, when given, counts the open connections.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: axum::Router,
    limits: HttpLimits,
    open: Option<Gauge>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = TowerToHyperService::new(router);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_header_size(limits.max_header_bytes);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut saturated = false;
    tokio::pin!(shutdown);
    loop {
        // Forget connections that have closed, so the set holds only open ones.
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if !saturated {
                tracing::warn!(
                    max = limits.max_connections,
                    "connection limit reached; new clients are refused (503) until one closes"
                );
                saturated = true;
            }
            refuse(&mut connections, &refusing, stream, tls.is_none());
            continue;
        };
        saturated = false;
        let _ = stream.set_nodelay(true);
        let (http, watcher) = (http.clone(), graceful.watcher());
        // Each request learns the connection's peer (for the address limits).
        let service = {
            let service = service.clone();
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                hyper::service::Service::call(&service, req)
            })
        };
        let open = open.as_ref().map(Open::new);
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

/// Turns away a connection past the cap. Plain HTTP: its request's head is read (an answer
/// sent before the request is one an HTTP client may not take as an answer), then the 503 is
/// written and the connection closed, all within a second so a client that sends or reads
/// nothing cannot hold the descriptor. TLS, or more refusals at once than `refusing` allows:
/// closed at once.
fn refuse(
    connections: &mut JoinSet<()>,
    refusing: &Arc<Semaphore>,
    mut stream: tokio::net::TcpStream,
    plain: bool,
) {
    let Some(permit) = refusing.clone().try_acquire_owned().ok().filter(|_| plain) else {
        return;
    };
    connections.spawn(async move {
        let answer = async {
            let mut head = Vec::with_capacity(1024);
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    return Ok(());
                }
                head.extend_from_slice(&buf[..n]);
            }
            stream.write_all(&refusal()).await?;
            stream.shutdown().await
        };
        let _: Result<std::io::Result<()>, _> =
            tokio::time::timeout(std::time::Duration::from_secs(1), answer).await;
        drop(permit);
    });
}

/// One open connection, counted until dropped.
struct Open(Gauge);

impl Open {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Open(gauge.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_refusal_is_one_whole_http_response() {
        let bytes = super::refusal();
        let text = std::str::from_utf8(&bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length);
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["__type"], "ServiceUnavailableException");
    }
}
