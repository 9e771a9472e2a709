//! The web console, on the admin listener under `/console/`: for the operator who holds the
//! developer credentials, a look at pools, identities and data, and the few edits support
//! needs, through the same services (and so the same rules) as the API.
//!
//! Pages are rendered on the server (maud) as plain HTML forms and inline SVG charts; there is
//! no script, and the one stylesheet is compiled into the binary, so it works with no
//! internet access. Every form is a POST carrying the session's CSRF token, and a POST whose
//! `Origin` is another site is refused. See ARCHITECTURE.md for why it is built this way.

mod chart;
mod dataset;
pub mod history;
mod identities;
mod layout;
mod overview;
mod pools;
mod quotas;
pub mod session;

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Form;
use maud::html;
use serde::Deserialize;

use crate::api::error::ApiError;
use crate::api::App;
use crate::store::AdminStore;
use crate::sync::Caller;
use history::History;
use layout::respond;
use session::{Current, Flash, Refusal, Sessions};

const STYLESHEET: &str = include_str!("console.css");

pub struct Console {
    pub app: Arc<App>,
    pub store: Arc<dyn AdminStore>,
    pub sessions: Sessions,
    pub history: Arc<History>,
}

impl Console {
    /// Edits from the console act as the developer, as the API's developer calls do.
    fn caller(&self) -> Caller {
        Caller::Developer {
            account_id: self.app.account_id.clone(),
        }
    }
}

pub fn router(console: Arc<Console>) -> axum::Router {
    axum::Router::new()
        .route("/console", get(overview::show))
        .route("/console/", get(overview::show))
        .route("/console/assets/console.css", get(stylesheet))
        .route("/console/sign-in", get(sign_in_form).post(sign_in))
        .route("/console/sign-out", axum::routing::post(sign_out))
        .route("/console/pools", get(pools::list))
        .route("/console/pools/{pool}", get(pools::show))
        .route(
            "/console/pools/{pool}/identity-pool",
            axum::routing::post(pools::save_identity_pool),
        )
        .route(
            "/console/pools/{pool}/sync",
            axum::routing::post(pools::save_sync),
        )
        .route(
            "/console/pools/{pool}/quotas",
            axum::routing::post(quotas::save),
        )
        .route("/console/pools/{pool}/identities", get(identities::list))
        .route(
            "/console/pools/{pool}/identities/{identity}",
            get(identities::show),
        )
        .route(
            "/console/pools/{pool}/identities/{identity}/datasets/{dataset}",
            get(dataset::show).post(dataset::edit),
        )
        .route(
            "/console/pools/{pool}/identities/{identity}/datasets/{dataset}/delete",
            get(dataset::confirm_delete).post(dataset::delete),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn(same_origin_posts))
        .with_state(console)
}

/// A signed-in request: its session. Without one, the request is sent to the sign-in page.
pub struct Signed(pub Current);

impl FromRequestParts<Arc<Console>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Response> {
        console
            .sessions
            .current(&parts.headers)
            .map(Signed)
            .ok_or_else(|| layout::see_other("/console/sign-in"))
    }
}

/// A signed-in form POST that carries its session's CSRF token: the session and the form.
/// Without a session the request goes to the sign-in page; with another token, or a form
/// that does not parse, it gets a page saying so and nothing is done.
pub struct Posted<T>(pub Current, pub T);

/// A form with the CSRF token every console form carries.
pub trait WithCsrf {
    fn csrf(&self) -> &str;
}

macro_rules! with_csrf {
    ($($form:ty),+) => {
        $(impl $crate::admin::console::WithCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })+
    };
}
use with_csrf;

impl<T> FromRequest<Arc<Console>> for Posted<T>
where
    T: serde::de::DeserializeOwned + WithCsrf + Send,
{
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        console: &Arc<Console>,
    ) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Signed(me) = Signed::from_request_parts(&mut parts, console).await?;
        let req = axum::extract::Request::from_parts(parts, body);
        let Form(form) = Form::<T>::from_request(req, console).await.map_err(|_| {
            failed(
                &me,
                StatusCode::BAD_REQUEST,
                "The form arrived incomplete or malformed; reload the page and try again.",
            )
        })?;
        if !me.allows(form.csrf()) {
            return Err(forged(&me));
        }
        Ok(Posted(me, form))
    }
}

/// Refuses a POST sent by a page of another origin (the `Origin` browsers send with every
/// form POST must name this host).
async fn same_origin_posts(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.method() == Method::POST && !same_origin(req.headers()) {
        return respond(
            StatusCode::FORBIDDEN,
            html! { p { "Refused: this form was sent from another site." } },
        );
    }
    next.run(req).await
}

fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Not a browser's cross-site form (they all send Origin on POST); the CSRF token
        // still has to match.
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(o), Some(h)) if o == h)
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

async fn not_found(headers: HeaderMap, State(console): State<Arc<Console>>) -> Response {
    match console.sessions.current(&headers) {
        Some(me) => failed(&me, StatusCode::NOT_FOUND, "There is no such page."),
        None => layout::see_other("/console/sign-in"),
    }
}

async fn sign_in_form(headers: HeaderMap, State(console): State<Arc<Console>>) -> Response {
    if console.sessions.current(&headers).is_some() {
        return layout::see_other("/console/");
    }
    respond(StatusCode::OK, layout::sign_in(None))
}

#[derive(Deserialize)]
struct SignIn {
    access_key: String,
    secret: String,
}

async fn sign_in(
    State(console): State<Arc<Console>>,
    peer: Option<axum::Extension<crate::api::client_addr::Peer>>,
    Form(form): Form<SignIn>,
) -> Response {
    let from = peer.map(|axum::Extension(p)| p.0.ip());
    match console
        .sessions
        .sign_in(from, form.access_key.trim(), &form.secret)
    {
        Ok(token) => {
            let mut resp = layout::see_other("/console/");
            if let Ok(v) = session::set_cookie(&token).parse() {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Err(Refusal::Wrong) => respond(
            StatusCode::UNAUTHORIZED,
            layout::sign_in(Some(
                "Those credentials are not this server's developer credentials.",
            )),
        ),
        Err(Refusal::TooMany) => respond(
            StatusCode::TOO_MANY_REQUESTS,
            layout::sign_in(Some(
                "Too many failed sign-ins lately: sign-in is locked for a while. Wait a minute and try again.",
            )),
        ),
    }
}

/// A form with nothing but the CSRF token.
#[derive(Deserialize)]
pub struct Csrf {
    csrf: String,
}
with_csrf!(Csrf);

async fn sign_out(State(console): State<Arc<Console>>, Posted(me, _): Posted<Csrf>) -> Response {
    console.sessions.sign_out(&me.token);
    let mut resp = layout::see_other("/console/sign-in");
    if let Ok(v) = session::clear_cookie().parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// A page saying what went wrong.
fn failed(me: &Current, status: StatusCode, message: &str) -> Response {
    respond(
        status,
        layout::page(
            me,
            "Not possible",
            &[layout::crumb("Overview", "/console/")],
            html! { p class="flash refused" role="alert" { (message) } },
        ),
    )
}

/// A service's refusal, as the API would state it (its status and message).
fn refused(me: &Current, e: impl Into<ApiError>) -> Response {
    let e: ApiError = e.into();
    failed(me, e.status(), &e.message)
}

/// A form without this session's token.
fn forged(me: &Current) -> Response {
    failed(
        me,
        StatusCode::FORBIDDEN,
        "This form is stale or was not sent from this console; reload the page and try again.",
    )
}

/// After a form: a message for the next page, and that page.
fn done(console: &Console, me: &Current, flash: Flash, to: &str) -> Response {
    console.sessions.flash(&me.token, flash);
    layout::see_other(to)
}
