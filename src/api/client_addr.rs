//! The address a request comes from: the TCP peer, or, when the peer is a proxy the operator
//! trusts (`--trusted-proxies`), the address that proxy saw, from `X-Forwarded-For`. Rate
//! limits and lock-outs that key on the caller's address use it; it is never used to grant
//! anything.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The TCP peer of a connection, put in each request's extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The client's address: the peer's, unless the peer is in `trusted`; then the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy (each proxy appends the address
/// it saw, so entries to the left of an untrusted one may be forged by the client).
pub fn client_ip(peer: Option<Peer>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?.0.ip();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut chain: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return Some(peer);
        };
        for entry in text.split(',') {
            match entry.trim().parse::<IpAddr>() {
                Ok(ip) => chain.push(ip),
                // Something we cannot read: trust nothing the header says.
                Err(_) => return Some(peer),
            }
        }
    }
    Some(
        chain
            .into_iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn peer(s: &str) -> Option<Peer> {
        Some(Peer(format!("{s}:1234").parse().unwrap()))
    }

    fn forwarded(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = forwarded("1.1.1.1, 2.2.2.2");
        // An untrusted peer cannot name another address.
        assert_eq!(
            client_ip(peer("3.3.3.3"), &h, &trusted),
            "3.3.3.3".parse().ok()
        );
        // A trusted proxy: the right-most address it did not add itself.
        assert_eq!(
            client_ip(peer("10.0.0.2"), &h, &trusted),
            "2.2.2.2".parse().ok()
        );
        let chained = forwarded("1.1.1.1, 2.2.2.2, 10.0.0.7");
        assert_eq!(
            client_ip(peer("10.0.0.2"), &chained, &trusted),
            "2.2.2.2".parse().ok()
        );
        // Nothing usable: the proxy itself.
        assert_eq!(
            client_ip(peer("10.0.0.2"), &HeaderMap::new(), &trusted),
            "10.0.0.2".parse().ok()
        );
        assert_eq!(
            client_ip(peer("10.0.0.2"), &forwarded("junk"), &trusted),
            "10.0.0.2".parse().ok()
        );
        assert_eq!(client_ip(None, &h, &trusted), None);
    }
}
