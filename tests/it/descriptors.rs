//! File descriptors under a low open-file limit: hundreds of idle connections to either
//! listener take neither the descriptors the store needs nor the other listener's; a client
//! already connected keeps being served, and new clients are served once there is room.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::common::*;
use crate::process;

/// Opens `n` connections to `addr` that say nothing, keeping those the server leaves open.
async fn idle_connections(addr: &str, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        if let Ok(Ok(c)) =
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
        {
            held.push(c);
        }
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_under_a_low_open_file_limit_starve_neither_the_store_nor_a_listener() {
    let dir = tempfile::tempdir().unwrap();
    let server = process::spawn_with_open_files(
        dir.path(),
        Some((ACCESS_KEY, SECRET_KEY)),
        // Idle connections are not reclaimed during the test: only the caps protect.
        &["--header-timeout", "300"],
        256,
    );
    let endpoint = server.endpoint.clone();
    let admin = server.admin().expect("the admin listener runs");
    let (pool, id) = pool_and_identity_at(&endpoint).await;
    // A device connected before the flood, on a kept-alive connection.
    let device = sync_client(&endpoint, ACCESS_KEY, SECRET_KEY, None);
    push(&device, &pool, &id, "before", vec![replace("k", "v", 0)])
        .await
        .unwrap();

    let device_flood = idle_connections(endpoint.trim_start_matches("http://"), 300).await;
    let admin_flood = idle_connections(admin.trim_start_matches("http://"), 300).await;

    // The connected device is served, reads and writes, on new datasets too — now, not
    // once the flood's connections time out minutes later.
    let served = async {
        for n in 0..10 {
            let name = format!("during-{n}");
            push(&device, &pool, &id, &name, vec![replace("k", "v", 0)])
                .await
                .unwrap_or_else(|e| panic!("a connected client was refused: {e:?}"));
            let (records, _) = pull(&device, &pool, &id, &name, 0).await;
            assert_eq!(records.len(), 1);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), served)
        .await
        .expect("the connected client was kept waiting while the flood held the descriptors");
    // Its descriptors are not gone: a new connection is accepted and dealt with, not left
    // in the backlog (the flood past each cap was turned away, not held).
    assert!(server_has_room(&endpoint).await, "a new connection hung");

    drop(device_flood);
    drop(admin_flood);
    // Once the flood is gone, new clients of both listeners are served.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let healthy = reqwest::get(format!("{admin}/healthz"))
            .await
            .is_ok_and(|r| r.status() == 200);
        if healthy {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/healthz never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fresh = sync_client(&endpoint, ACCESS_KEY, SECRET_KEY, None);
    try_list(&fresh, &pool, &id).await.unwrap();
    drop(server);
}

/// Whether a new connection to the device port is dealt with at all (served, refused with a
/// 503, or closed) rather than left hanging, as it is when the server cannot accept it.
async fn server_has_room(endpoint: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut c = TcpStream::connect(endpoint.trim_start_matches("http://")).await?;
        c.write_all(b"GET /identitypools HTTP/1.1\r\nHost: x\r\n\r\n")
            .await?;
        let mut buf = [0u8; 64];
        c.read(&mut buf).await
    };
    // Any answer, or the connection closed: both mean it was accepted and dealt with.
    matches!(
        tokio::time::timeout(Duration::from_secs(10), attempt).await,
        Ok(Ok(_)) | Ok(Err(_))
    )
}
