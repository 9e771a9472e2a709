//! OpenID providers' signing keys, fetched when needed and kept while the provider says they
//! may be (`Cache-Control: max-age` or `Expires`, held between [`MIN_TTL`] and [`MAX_TTL`]).
//! Keys rotate: a token naming a key the cached set lacks makes the set fetched again, but at
//! most once per [`REFETCH_EVERY`] per provider, so a flood of made-up key ids costs the
//! provider nothing. One fetch per provider runs at a time; callers waiting for it take its
//! result. A provider that cannot be reached leaves fresh keys in use; once they are stale its
//! logins fail (`ExternalServiceException`) until it answers again, and it is asked at most
//! once per [`RETRY_AFTER`] meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::Deserialize;
use serde_json::Value;

use super::super::outbound;
use crate::identity::ports::{KeySource, KeysAt, Unreachable};

/// Shortest time keys are kept, whatever the provider says.
pub const MIN_TTL: Duration = Duration::from_secs(60);
/// Longest time keys are kept without asking again.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long keys are kept when the provider says nothing.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Least time between two fetches made for unknown key ids.
pub const REFETCH_EVERY: Duration = Duration::from_secs(30);
/// Least time between two attempts at a provider that failed.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    keys: Option<Arc<JwkSet>>,
    fresh_until: Option<Instant>,
    fetched_at: Option<Instant>,
    refetched_for_kid: Option<Instant>,
    failed: Option<(Instant, Unreachable)>,
}

impl State {
    fn fresh(&self, now: Instant) -> Option<Arc<JwkSet>> {
        match (&self.keys, self.fresh_until) {
            (Some(keys), Some(until)) if now < until => Some(keys.clone()),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Provider {
    state: Mutex<State>,
    fetching: tokio::sync::Mutex<()>,
}

pub struct KeyCache {
    http: reqwest::Client,
    providers: Mutex<HashMap<String, Arc<Provider>>>,
}

/// What the cache decided before any fetch.
enum Plan {
    Use(Arc<JwkSet>),
    Fail(Unreachable),
    Fetch,
}

impl KeyCache {
    pub fn new(http: reqwest::Client) -> Self {
        KeyCache {
            http,
            providers: Mutex::new(HashMap::new()),
        }
    }

    fn provider(&self, base: &str) -> Arc<Provider> {
        let mut all = self.providers.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(base.to_owned()).or_default().clone()
    }

    /// The keys of `source`, reached at `base`.
    pub async fn keys(
        &self,
        source: &KeySource,
        base: &str,
        unknown_kid: Option<&str>,
    ) -> Result<Arc<JwkSet>, Unreachable> {
        if let KeysAt::Fixed(keys) = &source.how {
            return Ok(keys.clone());
        }
        let provider = self.provider(base);
        let asked = Instant::now();
        match plan(&provider, asked, unknown_kid.is_some()) {
            Plan::Use(keys) => return Ok(keys),
            Plan::Fail(e) => return Err(e),
            Plan::Fetch => {}
        }
        let _one_at_a_time = provider.fetching.lock().await;
        {
            // Fetched (or failed) by another caller while this one waited: take that.
            let s = lock(&provider.state);
            if s.fetched_at.is_some_and(|t| t >= asked) {
                if let Some(keys) = &s.keys {
                    return Ok(keys.clone());
                }
            }
            if let Some((at, e)) = &s.failed {
                if *at >= asked {
                    return Err(e.clone());
                }
            }
        }
        let fetched = fetch(&self.http, source, base).await;
        let now = Instant::now();
        let mut s = lock(&provider.state);
        match fetched {
            Ok((keys, ttl)) => {
                let keys = Arc::new(keys);
                tracing::info!(provider = %source.name, keys = keys.keys.len(), ttl_secs = ttl.as_secs(), "fetched the provider's signing keys");
                s.keys = Some(keys.clone());
                s.fresh_until = Some(now + ttl);
                s.fetched_at = Some(now);
                s.failed = None;
                Ok(keys)
            }
            Err(e) => {
                let e = Unreachable(format!(
                    "cannot fetch the signing keys of {}: {}",
                    source.name, e.0
                ));
                s.failed = Some((now, e.clone()));
                match s.fresh(now) {
                    // A refetch for an unknown key failed: the keys in hand are still good.
                    Some(keys) => {
                        tracing::warn!(provider = %source.name, error = %e, "keeping the provider's cached signing keys");
                        Ok(keys)
                    }
                    None => Err(e),
                }
            }
        }
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether the keys in hand do, a recent failure stands, or a fetch is needed.
fn plan(provider: &Provider, now: Instant, for_unknown_kid: bool) -> Plan {
    let mut s = lock(&provider.state);
    if let Some(keys) = s.fresh(now) {
        if !for_unknown_kid {
            return Plan::Use(keys);
        }
        if s.refetched_for_kid
            .is_some_and(|t| now.duration_since(t) < REFETCH_EVERY)
        {
            return Plan::Use(keys);
        }
        s.refetched_for_kid = Some(now);
        return Plan::Fetch;
    }
    match &s.failed {
        Some((at, e)) if now.duration_since(*at) < RETRY_AFTER => Plan::Fail(e.clone()),
        _ => Plan::Fetch,
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<Value>,
}

/// Fetches the key set of `source` at `base`, with how long it may be kept.
async fn fetch(
    http: &reqwest::Client,
    source: &KeySource,
    base: &str,
) -> Result<(JwkSet, Duration), Unreachable> {
    let jwks_uri = match &source.how {
        KeysAt::Fixed(keys) => return Ok((keys.as_ref().clone(), MAX_TTL)),
        KeysAt::WellKnownJwks => format!("{base}/.well-known/jwks.json"),
        KeysAt::Discovery => {
            let url = format!("{base}/.well-known/openid-configuration");
            let doc: Discovery = get_json(http, &url, "discovery document").await?.0;
            if doc.issuer.trim_end_matches('/') != source.issuer.trim_end_matches('/') {
                return Err(Unreachable(format!(
                    "the discovery document names issuer {}, not {}",
                    doc.issuer, source.issuer
                )));
            }
            // Keys come over HTTPS, or over what the operator chose for the discovery
            // document itself (a loopback mirror).
            let plain_ok = base.starts_with("http://");
            if !(doc.jwks_uri.starts_with("https://")
                || plain_ok && doc.jwks_uri.starts_with("http://"))
            {
                return Err(Unreachable(format!(
                    "the discovery document's jwks_uri {} is not an HTTPS URL",
                    doc.jwks_uri
                )));
            }
            doc.jwks_uri
        }
    };
    let (raw, max_age): (RawSet, _) = get_json(http, &jwks_uri, "key set").await?;
    // Keys of kinds this server cannot use (or does not know) are left out, not fatal.
    let keys: Vec<Jwk> = raw
        .keys
        .into_iter()
        .filter_map(|k| serde_json::from_value(k).ok())
        .collect();
    if keys.is_empty() {
        return Err(Unreachable("the key set holds no usable key".into()));
    }
    let ttl = max_age.unwrap_or(DEFAULT_TTL).clamp(MIN_TTL, MAX_TTL);
    Ok((JwkSet { keys }, ttl))
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    what: &str,
) -> Result<(T, Option<Duration>), Unreachable> {
    let answer = outbound::fetch(http.get(url))
        .await
        .map_err(|e| Unreachable(format!("its {what} {e}")))?;
    if answer.status != 200 {
        return Err(Unreachable(format!(
            "its {what} answered {}",
            answer.status
        )));
    }
    let value = serde_json::from_slice(&answer.body)
        .map_err(|e| Unreachable(format!("its {what} is not what was expected: {e}")))?;
    Ok((value, answer.max_age))
}
