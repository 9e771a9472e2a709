//! Bounded resources: connection floods, slow clients, oversized requests and shutdown with
//! requests in flight. Driven over raw TCP, since no SDK misbehaves on purpose.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

fn addr_of(s: &TestServer) -> String {
    s.endpoint.trim_start_matches("http://").to_string()
}

/// Reads until the peer closes (or `limit` passes); returns what arrived and whether the
/// connection was closed by then.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

/// Status code and JSON body of a raw HTTP/1.1 response.
fn parse_response(text: &str) -> (u16, serde_json::Value, String) {
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    (status, json, head.to_ascii_lowercase())
}

async fn list_datasets_works(s: &TestServer, pool: &str, id: &str) {
    // The SDK's standard retries, as a real client has them: a connection refused for a
    // moment (503) is tried again.
    let conf = aws_sdk_cognitosync::Config::builder()
        .behavior_version(aws_sdk_cognitosync::config::BehaviorVersion::latest())
        .region(aws_sdk_cognitosync::config::Region::new("us-east-1"))
        .endpoint_url(&s.endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "t",
        ))
        .retry_config(
            aws_sdk_cognitosync::config::retry::RetryConfig::standard().with_max_attempts(10),
        )
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    let out = aws_sdk_cognitosync::Client::from_conf(conf)
        .list_datasets()
        .identity_pool_id(pool)
        .identity_id(id)
        .send()
        .await
        .expect("a real client is served");
    assert_eq!(out.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_and_slow_connections_does_not_lock_out_a_real_client() {
    let s = TestServer::start_custom(|c| {
        c.http.max_connections = 100;
        c.http.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let (pool, id) = s.pool_and_identity().await;
    let addr = addr_of(&s);
    // Four times the connection cap: half say nothing, half send a few header bytes.
    let mut flood = Vec::new();
    for i in 0..400 {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 0 {
            c.write_all(b"GET /identitypools HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        flood.push(c);
    }
    // The flood is still open, yet the SDK gets its answer once idle slots are reclaimed.
    list_datasets_works(&s, &pool, &id).await;
    // And every flooding connection has been closed by the server.
    for c in flood.iter_mut() {
        let (_, closed) = read_until_closed(c, Duration::from_secs(10)).await;
        assert!(closed, "an idle connection was kept open");
    }
    list_datasets_works(&s, &pool, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_past_the_cap_is_refused_at_once_with_a_503_not_left_in_the_backlog() {
    let s = TestServer::start_custom(|c| c.http.max_connections = 5).await;
    let (pool, id) = s.pool_and_identity().await;
    let addr = addr_of(&s);
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    extra
        .write_all(b"GET /identitypools HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (text, closed) = read_until_closed(&mut extra, Duration::from_secs(10)).await;
    assert!(closed);
    let (status, json, head) = parse_response(&text);
    assert_eq!(status, 503, "{text}");
    assert_eq!(json["__type"], "ServiceUnavailableException");
    assert!(head.contains("retry-after: 1"), "{head}");
    // Once slots are free (the server sees the closes soon after), a client is served.
    drop(held);
    list_datasets_works(&s, &pool, &id).await;
}

#[tokio::test]
async fn headers_sent_too_slowly_are_cut_off() {
    let s = TestServer::start_custom(|c| c.http.header_read_timeout = Duration::from_secs(1)).await;
    let mut c = TcpStream::connect(addr_of(&s)).await.unwrap();
    c.write_all(b"GET /identitypools HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Keep dribbling one header every 300 ms: a slowloris client never finishes.
    let dribble = async {
        for i in 0..40 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if c.write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return true;
            }
        }
        false
    };
    assert!(
        dribble.await,
        "the server kept reading a slow header for 12 s"
    );
}

#[tokio::test]
async fn a_body_sent_too_slowly_gets_request_timeout() {
    let s = TestServer::start_custom(|c| c.http.body_read_timeout = Duration::from_secs(1)).await;
    let (pool, id) = s.pool_and_identity().await;
    let mut c = TcpStream::connect(addr_of(&s)).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{\"Rec",
        dataset_path(&pool, &id, "ds")
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let (text, _) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    let (status, body, head) = parse_response(&text);
    assert_eq!(status, 408, "{text}");
    assert_eq!(body["__type"], "RequestTimeoutException");
    assert!(
        head.contains("x-amzn-errortype: requesttimeoutexception"),
        "{head}"
    );
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_before_it_is_sent() {
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    let mut c = TcpStream::connect(addr_of(&s)).await.unwrap();
    // 100 MB announced, none of it sent: the answer must come without waiting for it.
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n",
        dataset_path(&pool, &id, "ds")
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let (text, _) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    let (status, body, _) = parse_response(&text);
    assert_eq!(status, 413, "{text}");
    assert_eq!(body["__type"], "RequestEntityTooLargeException");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_cut_off() {
    let s = TestServer::start().await;
    let (pool, id) = s.pool_and_identity().await;
    let mut c = TcpStream::connect(addr_of(&s)).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        dataset_path(&pool, &id, "ds")
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    // Send up to 4 MiB; the server answers once it has seen more than the limit.
    while sent < 4 * 1024 * 1024 {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if c.write_all(&frame).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let (text, _) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    let (status, body, _) = parse_response(&text);
    assert_eq!(status, 413, "{text}");
    assert_eq!(body["__type"], "RequestEntityTooLargeException");
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_refused() {
    let s = TestServer::start().await;
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge = format!("X-Big: {}\r\n", "a".repeat(64 * 1024));
    for extra in [many, huge] {
        let mut c = TcpStream::connect(addr_of(&s)).await.unwrap();
        let req = format!("GET /identitypools HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
        let _ = c.write_all(req.as_bytes()).await;
        let (text, closed) = read_until_closed(&mut c, Duration::from_secs(10)).await;
        assert!(closed);
        let (status, _, _) = parse_response(&text);
        assert_eq!(status, 431, "{text}");
    }
    // The server is unharmed.
    let r = raw(
        &s.endpoint,
        axum::http::Method::GET,
        "/identitypools",
        &[],
        b"",
        Some(Sign::default()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_cuts_stragglers_within_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = cogsync::config::ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
        dev_credentials(),
    );
    config.http.shutdown_grace = Duration::from_secs(2);
    let server = cogsync::server::start(config).await.unwrap();
    let addr = server.addr().to_string();
    let endpoint = format!("http://{addr}");
    let (pool, _) = pool_and_identity_at(&endpoint).await;
    // Two requests in flight: one will finish its body during the grace, one never will.
    let body = format!("{{\"IdentityPoolId\":\"{pool}\"}}");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSCognitoIdentityService.GetId\r\n\
         Content-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut finishing = TcpStream::connect(&addr).await.unwrap();
    finishing.write_all(head.as_bytes()).await.unwrap();
    finishing.write_all(&body.as_bytes()[..5]).await.unwrap();
    let mut straggler = TcpStream::connect(&addr).await.unwrap();
    straggler.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // New connections are no longer served.
    let refused = match TcpStream::connect(&addr).await {
        Err(_) => true,
        Ok(mut c) => {
            let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
            let (text, closed) = read_until_closed(&mut c, Duration::from_secs(5)).await;
            closed && text.is_empty()
        }
    };
    assert!(refused, "a new connection was served during shutdown");
    finishing.write_all(&body.as_bytes()[5..]).await.unwrap();
    let (text, _) = read_until_closed(&mut finishing, Duration::from_secs(5)).await;
    let (status, json, _) = parse_response(&text);
    assert_eq!(status, 200, "{text}");
    assert!(json["IdentityId"].as_str().is_some(), "{text}");
    // The straggler is cut when the grace ends, and shutdown returns.
    let (_, closed) = read_until_closed(&mut straggler, Duration::from_secs(10)).await;
    assert!(closed, "the straggler outlived the grace period");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown returned within its bound")
        .unwrap()
        .unwrap();
}
