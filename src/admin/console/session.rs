//! Console sign-in: the developer credentials checked in constant time, sessions kept in this
//! process's memory (a sign-out or a restart ends them), a CSRF token per session, and a
//! lock-out after failed sign-ins (per client address, and for all addresses together) that
//! is consulted before the credentials are: while it lasts even the right ones are refused,
//! so a guesser learns nothing.
//!
//! The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page
//! sends it) and scoped to `/console`; it expires with the session.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use governor::Quota;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::credentials::DeveloperCredentials;
use crate::lockout::Lockout;

pub const COOKIE: &str = "cogsync_console";
/// A session ends this long after sign-in, whatever happens.
pub const LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);
/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(60 * 60);
/// Sessions kept at most; signing in past it ends the oldest.
const MAX_SESSIONS: usize = 256;
/// Failed sign-ins allowed per minute from one address: enough for typos, too few to guess a
/// 40-character secret.
const FAILURES_PER_MINUTE: u32 = 10;
/// Failed sign-ins allowed per minute from all addresses together (a guesser with many).
const ALL_FAILURES_PER_MINUTE: u32 = 30;

/// A message shown once, on the next page the session sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flash {
    Done(String),
    Refused(String),
}

struct Session {
    csrf: String,
    signed_in: Instant,
    last_seen: Instant,
    flash: Option<Flash>,
}

/// What a page knows of the session it serves.
pub struct Current {
    pub token: String,
    pub csrf: String,
    pub flash: Option<Flash>,
}

pub struct Sessions {
    credentials: DeveloperCredentials,
    live: Mutex<HashMap<String, Session>>,
    /// Failed sign-ins by client address (None: the address is unknown).
    failures: Lockout<Option<IpAddr>>,
    /// Failed sign-ins from everywhere.
    all_failures: Lockout<()>,
}

/// Why a sign-in was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Wrong key or secret (which one is not said).
    Wrong,
    /// Too many failed sign-ins lately.
    TooMany,
}

fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

fn same(a: &str, b: &str) -> bool {
    // Hashing first makes the comparison's time independent of both lengths.
    Sha256::digest(a.as_bytes())
        .ct_eq(&Sha256::digest(b.as_bytes()))
        .into()
}

impl Sessions {
    pub fn new(credentials: DeveloperCredentials) -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Sessions {
            credentials,
            live: Mutex::new(HashMap::new()),
            failures: Lockout::with_quota(per_minute(FAILURES_PER_MINUTE)),
            all_failures: Lockout::with_quota(per_minute(ALL_FAILURES_PER_MINUTE)),
        }
    }

    /// Checks the pair sent from `from` and opens a session: its cookie token. While `from`
    /// (or everyone) is locked out for failing too often, refused without looking at the pair.
    pub fn sign_in(
        &self,
        from: Option<IpAddr>,
        access_key: &str,
        secret: &str,
    ) -> Result<String, Refusal> {
        if self.failures.locked(&from).is_some() || self.all_failures.locked(&()).is_some() {
            return Err(Refusal::TooMany);
        }
        // Both compared, always: the time taken says nothing about which one was wrong.
        let key_ok = same(access_key, &self.credentials.access_key_id);
        let secret_ok = same(secret, &self.credentials.secret_access_key);
        if !(key_ok & secret_ok) {
            // Both counted (no short-circuit): a failure spends the global allowance too.
            let locked = self.failures.failed(&from) | self.all_failures.failed(&());
            if locked {
                tracing::warn!(address = ?from, "console: too many failed sign-ins; locked out for a while");
            }
            return Err(if locked {
                Refusal::TooMany
            } else {
                Refusal::Wrong
            });
        }
        let (token, csrf) = random_token().zip(random_token()).ok_or(Refusal::Wrong)?;
        let now = Instant::now();
        let mut live = self.live.lock().map_err(|_| Refusal::Wrong)?;
        live.retain(|_, s| Self::alive(s, now));
        if live.len() >= MAX_SESSIONS {
            if let Some(oldest) = live
                .iter()
                .min_by_key(|(_, s)| s.signed_in)
                .map(|(t, _)| t.clone())
            {
                live.remove(&oldest);
            }
        }
        live.insert(
            token.clone(),
            Session {
                csrf,
                signed_in: now,
                last_seen: now,
                flash: None,
            },
        );
        Ok(token)
    }

    fn alive(s: &Session, now: Instant) -> bool {
        now.duration_since(s.signed_in) < LIFETIME && now.duration_since(s.last_seen) < IDLE
    }

    /// The live session the request's cookie names, if any; takes its flash.
    pub fn current(&self, headers: &HeaderMap) -> Option<Current> {
        let token = cookie(headers)?;
        let now = Instant::now();
        let mut live = self.live.lock().ok()?;
        let session = live.get_mut(&token)?;
        if !Self::alive(session, now) {
            live.remove(&token);
            return None;
        }
        session.last_seen = now;
        Some(Current {
            csrf: session.csrf.clone(),
            flash: session.flash.take(),
            token,
        })
    }

    /// Leaves a message for the session's next page.
    pub fn flash(&self, token: &str, flash: Flash) {
        if let Ok(mut live) = self.live.lock() {
            if let Some(s) = live.get_mut(token) {
                s.flash = Some(flash);
            }
        }
    }

    pub fn sign_out(&self, token: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(token);
        }
    }
}

impl Current {
    /// Whether a submitted form carries this session's CSRF token.
    pub fn allows(&self, submitted: &str) -> bool {
        same(submitted, &self.csrf)
    }
}

/// The session cookie's value, if the request has one.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The `Set-Cookie` value that holds `token`.
pub fn set_cookie(token: &str) -> String {
    format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn sessions() -> Sessions {
        Sessions::new(DeveloperCredentials {
            access_key_id: "AKCSKEY".into(),
            secret_access_key: "secret".into(),
        })
    }

    fn with_cookie(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("other=1; {COOKIE}={token}");
        h.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_str(&v).unwrap(),
        );
        h
    }

    const HOME: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn only_the_developer_pair_signs_in_and_a_sign_out_ends_the_session() {
        let s = sessions();
        assert_eq!(s.sign_in(HOME, "AKCSKEY", "wrong"), Err(Refusal::Wrong));
        assert_eq!(s.sign_in(HOME, "wrong", "secret"), Err(Refusal::Wrong));
        let token = s.sign_in(HOME, "AKCSKEY", "secret").unwrap();
        let current = s.current(&with_cookie(&token)).unwrap();
        assert!(current.allows(&current.csrf));
        assert!(!current.allows("forged"));
        assert!(s.current(&with_cookie("not-a-session")).is_none());
        s.sign_out(&token);
        assert!(s.current(&with_cookie(&token)).is_none());
    }

    #[test]
    fn a_flash_is_shown_once() {
        let s = sessions();
        let token = s.sign_in(HOME, "AKCSKEY", "secret").unwrap();
        s.flash(&token, Flash::Done("saved".into()));
        let headers = with_cookie(&token);
        assert_eq!(
            s.current(&headers).unwrap().flash,
            Some(Flash::Done("saved".into()))
        );
        assert_eq!(s.current(&headers).unwrap().flash, None);
    }

    #[test]
    fn after_repeated_failures_an_address_is_locked_out_even_with_the_right_pair() {
        let s = sessions();
        let refusals: Vec<_> = (0..FAILURES_PER_MINUTE + 1)
            .map(|_| s.sign_in(HOME, "AKCSKEY", "guess").unwrap_err())
            .collect();
        assert_eq!(refusals.last(), Some(&Refusal::TooMany));
        // During the lock-out the right pair tells the guesser nothing.
        assert_eq!(s.sign_in(HOME, "AKCSKEY", "secret"), Err(Refusal::TooMany));
        // Another address is not locked out by this one's failures...
        let away: Option<IpAddr> = "192.0.2.7".parse().ok();
        assert!(s.sign_in(away, "AKCSKEY", "secret").is_ok());
        // ...until the failures from everywhere together pass the global allowance.
        for i in 0..ALL_FAILURES_PER_MINUTE {
            let from: Option<IpAddr> = format!("198.51.100.{i}").parse().ok();
            let _ = s.sign_in(from, "AKCSKEY", "guess");
        }
        assert_eq!(s.sign_in(away, "AKCSKEY", "secret"), Err(Refusal::TooMany));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_expiring() {
        let c = set_cookie("t");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"));
        assert!(c.contains(&format!("Max-Age={}", LIFETIME.as_secs())));
    }
}
