//! Outbound HTTP to services that are not AWS (identity providers, sync-trigger webhooks, and
//! the deliveries of [`super::routes`]: FCM, APNs, stream webhooks): one way to build a client
//! and to read an answer, with the limits every such call needs. A bounded time to connect and
//! to answer; a few idle connections kept per host; redirects followed only within the host
//! asked (and at most three), none for deliveries; certificates checked against the system's
//! roots (and, for deliveries, the operator's extra ones); an answer read up to
//! [`MAX_ANSWER_BYTES`] and no further. Errors never carry the URL, whose query may hold a
//! token or an app secret.

use std::time::Duration;

/// The most of an answer that is read.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;
/// Time to open a connection (TCP and TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Idle connections kept per host.
const IDLE_PER_HOST: usize = 4;

/// A status and a body, read whole (up to the cap).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// How long the answer may be reused, from `Cache-Control: max-age` or `Expires`.
    pub max_age: Option<Duration>,
}

/// A client for calls that must finish within `timeout` each.
pub fn client(timeout: Duration) -> reqwest::Client {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().cloned();
        let same_host = first.is_some_and(|f| {
            f.host_str() == attempt.url().host_str() && f.scheme() == attempt.url().scheme()
        });
        if attempt.previous().len() > 3 {
            attempt.error("more than three redirects")
        } else if same_host {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    let builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .pool_max_idle_per_host(IDLE_PER_HOST)
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(redirects)
        .user_agent(concat!("cogsync/", env!("CARGO_PKG_VERSION")));
    // Building fails only when the TLS backend cannot start; a default client then still
    // verifies certificates (against the bundled roots).
    with_system_roots(builder).build().unwrap_or_default()
}

/// The system's root certificates in place of the bundled ones, when it has any.
fn with_system_roots(mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    let system = rustls_native_certs::load_native_certs().certs;
    if !system.is_empty() {
        builder = builder.tls_built_in_root_certs(false);
        for cert in system {
            if let Ok(c) = reqwest::Certificate::from_der(cert.as_ref()) {
                builder = builder.add_root_certificate(c);
            }
        }
    }
    builder
}

/// The certificates of a PEM bundle (`--delivery-ca-file`); an error if it holds none.
pub fn extra_roots(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, String> {
    let certs = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| format!("not PEM certificates ({e})"))?;
    if certs.is_empty() {
        return Err("no PEM certificate in it".into());
    }
    Ok(certs)
}

/// A client for deliveries (FCM, APNs, stream webhooks): each call within `timeout`, no
/// redirect followed (an answer is the service's own), the system's roots and `extra_roots_pem`
/// trusted; HTTP/2 only when `http2_only` (APNs: over TLS by ALPN, `http://` by prior
/// knowledge). Why not, when the TLS backend cannot start.
pub fn delivery_client(
    timeout: Duration,
    extra_roots_pem: Option<&[u8]>,
    http2_only: bool,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .pool_max_idle_per_host(IDLE_PER_HOST)
        .pool_idle_timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cogsync/", env!("CARGO_PKG_VERSION")));
    builder = with_system_roots(builder);
    if let Some(pem) = extra_roots_pem {
        for cert in extra_roots(pem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    if http2_only {
        builder = builder
            .http2_prior_knowledge()
            .http2_keep_alive_interval(Duration::from_secs(60))
            .http2_keep_alive_while_idle(true);
    }
    builder
        .build()
        .map_err(|e| format!("cannot start an HTTP client: {e}"))
}

/// A request's failure, without its URL (for callers that read answers their own way).
pub fn failure(e: reqwest::Error) -> String {
    describe(e)
}

/// Sends `request` and reads its answer, up to [`MAX_ANSWER_BYTES`].
pub async fn fetch(request: reqwest::RequestBuilder) -> Result<Answer, String> {
    let mut resp = request.send().await.map_err(describe)?;
    let status = resp.status().as_u16();
    let max_age = max_age(resp.headers());
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(describe)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!(
                "the answer is larger than {MAX_ANSWER_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        body,
        max_age,
    })
}

/// A request's failure, without its URL.
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirected too often or elsewhere"
    } else {
        "failed"
    };
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    format!("{kind} ({detail})")
}

/// `Cache-Control: max-age=N`, else `Expires` (an HTTP date) from now. `no-store` and
/// `no-cache` count as zero.
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(cc) = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    {
        for directive in cc.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(n) = lower.strip_prefix("max-age=") {
                if let Ok(secs) = n.trim_matches('"').parse::<u64>() {
                    return Some(Duration::from_secs(secs));
                }
            }
        }
    }
    let expires = headers
        .get(reqwest::header::EXPIRES)
        .and_then(|v| v.to_str().ok())?;
    let at = time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc2822)
        .ok()?;
    let left = at - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, CACHE_CONTROL, EXPIRES};

    #[test]
    fn cache_lifetimes_come_from_max_age_then_expires() {
        let mut h = HeaderMap::new();
        h.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=21600, must-revalidate"),
        );
        assert_eq!(max_age(&h), Some(Duration::from_secs(21600)));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        assert_eq!(max_age(&h), Some(Duration::ZERO));
        let mut h = HeaderMap::new();
        h.insert(
            EXPIRES,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(max_age(&h), Some(Duration::ZERO));
        let later = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
        let text = later
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        h.insert(EXPIRES, HeaderValue::from_str(&text).unwrap());
        let age = max_age(&h).unwrap();
        assert!(age > Duration::from_secs(7000) && age <= Duration::from_secs(7200));
        assert_eq!(max_age(&HeaderMap::new()), None);
    }
}
