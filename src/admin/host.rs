//! The admin listener answers only requests addressed to it by a name the operator expects:
//! a page on another site cannot make a browser talk to it through DNS rebinding (a name of
//! the attacker's that resolves to 127.0.0.1), which would let it sign in to the console or
//! read `/metrics`. Accepted `Host`s: IP addresses (a rebinding attack needs a name), the
//! loopback name `localhost`, and the names given with `--admin-host`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The host names the operator allows besides addresses and `localhost` (lowercase).
#[derive(Clone, Default)]
pub struct Allowed(Arc<Vec<String>>);

impl Allowed {
    pub fn new(names: Vec<String>) -> Self {
        Allowed(Arc::new(
            names
                .into_iter()
                .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
        ))
    }

    /// Whether a request with this `Host` header value is for us.
    pub fn admits(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        let name = name.trim_end_matches('.');
        name.parse::<std::net::IpAddr>().is_ok()
            || name == "localhost"
            || self.0.iter().any(|allowed| allowed == name)
    }
}

/// The name part of a `Host` value: without the port; `[v6]` without its brackets.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(v6, _)| v6);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Refuses (421 Misdirected Request) a request whose `Host` is missing or not allowed.
pub async fn check(State(allowed): State<Allowed>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if allowed.admits(host) {
        return next.run(req).await;
    }
    tracing::warn!(host, "admin listener: request for an unexpected Host refused (add it with --admin-host if it is yours)");
    (
        StatusCode::MISDIRECTED_REQUEST,
        "This admin listener does not answer for that host name; give it with --admin-host.\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_localhost_and_named_hosts_only() {
        let a = Allowed::new(vec!["Cogsync.Internal".into()]);
        for ok in [
            "127.0.0.1:8081",
            "127.0.0.1",
            "[::1]:8081",
            "10.1.2.3:9",
            "localhost:8081",
            "LOCALHOST",
            "cogsync.internal:8081",
            "cogsync.internal.",
        ] {
            assert!(a.admits(ok), "{ok}");
        }
        for refused in [
            "evil.example:8081",
            "",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
        ] {
            assert!(!a.admits(refused), "{refused}");
        }
    }
}
