//! The page shell every console page shares (header, navigation, sign-out, the one-time
//! message) and the small formatters its tables use.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::session::{Current, Flash};

/// Headers every console answer carries: nothing framed, nothing fetched from elsewhere,
/// nothing cached, no referrer (with its ids) sent to another site.
pub fn harden(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in set {
        h.insert(name, HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// A link in the trail above a page's title.
pub struct Crumb {
    pub label: String,
    pub href: String,
}

pub fn crumb(label: impl Into<String>, href: impl Into<String>) -> Crumb {
    Crumb {
        label: label.into(),
        href: href.into(),
    }
}

fn document(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · cogsync console" }
                link rel="stylesheet" href="/console/assets/console.css";
            }
            body { (body) }
        }
    }
}

/// A signed-in page: navigation, the trail, the session's message, then `body`.
pub fn page(me: &Current, title: &str, trail: &[Crumb], body: Markup) -> Markup {
    document(
        title,
        html! {
            header class="top" {
                a class="brand" href="/console/" { "cogsync" span { "console" } }
                nav {
                    a href="/console/" { "Overview" }
                    a href="/console/pools" { "Identity pools" }
                }
                form method="post" action="/console/sign-out" class="sign-out" {
                    input type="hidden" name="csrf" value=(me.csrf);
                    button type="submit" { "Sign out" }
                }
            }
            main {
                @if !trail.is_empty() {
                    p class="trail" {
                        @for c in trail {
                            a href=(c.href) { (c.label) } " › "
                        }
                    }
                }
                h1 { (title) }
                @match &me.flash {
                    Some(Flash::Done(m)) => p class="flash done" role="status" { (m) },
                    Some(Flash::Refused(m)) => p class="flash refused" role="alert" { (m) },
                    None => {},
                }
                (body)
            }
        },
    )
}

/// A page with no session: the sign-in form, with `problem` above it.
pub fn sign_in(problem: Option<&str>) -> Markup {
    document(
        "Sign in",
        html! {
            main class="narrow" {
                h1 { "cogsync console" }
                p { "Sign in with the server's developer credentials (the access key id and secret \
                     access key that administer identity pools)." }
                @if let Some(p) = problem {
                    p class="flash refused" role="alert" { (p) }
                }
                form method="post" action="/console/sign-in" class="stack" {
                    label { "Access key id" input name="access_key" autocomplete="username" required autofocus; }
                    label { "Secret access key" input name="secret" type="password" autocomplete="current-password" required; }
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// An answer with a page.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    harden(
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            markup.into_string(),
        )
            .into_response(),
    )
}

/// A 303 to `to` (after a form, so a reload does not post it again).
pub fn see_other(to: &str) -> Response {
    harden((StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response())
}

/// `ms` since the epoch as `2026-12-01 08:30:12 UTC`.
pub fn date(ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
        Ok(t) => format!(
            "{}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => ms.to_string(),
    }
}

/// A byte count for people: `512 B`, `1.5 KiB`, `2.0 MiB`.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A path segment with everything but unreserved characters (and `:`) percent-encoded.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatters_read_as_people_write() {
        assert_eq!(date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(date(1_764_577_812_000), "2025-12-01 08:30:12 UTC");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(seg("us-east-1:ab/c d"), "us-east-1:ab%2Fc%20d");
    }
}
