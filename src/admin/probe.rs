//! `cogsync healthcheck`: asks a running server's admin listener whether it is alive (or
//! ready), for a container's HEALTHCHECK or a supervisor, with no tool besides the binary.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// How long the probe waits for an answer.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Where to reach a listener bound to `bound`: the loopback address of its family when it
/// listens on every address (`0.0.0.0`, `::`), else the address itself.
pub fn reachable(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

/// GETs `path` (`/healthz` or `/readyz`) from the admin listener bound to `bound`: Ok when it
/// answers 200, else what went wrong.
pub async fn probe(bound: SocketAddr, path: &str) -> Result<(), String> {
    let url = format!("http://{}{path}", reachable(bound));
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let answer = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = answer.status();
    if status.is_success() {
        return Ok(());
    }
    let body = answer.text().await.unwrap_or_default();
    Err(format!("{url}: {status} {}", body.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listener_is_probed_on_loopback() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(reachable(at("0.0.0.0:8081")), at("127.0.0.1:8081"));
        assert_eq!(reachable(at("[::]:8081")), at("[::1]:8081"));
        assert_eq!(reachable(at("10.0.0.5:9000")), at("10.0.0.5:9000"));
    }
}
