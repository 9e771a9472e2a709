//! Upstream mode: pools attached to another Cognito Sync deployment (AWS's, while an app's old
//! versions still talk to it) stay that deployment's: their devices' calls are forwarded to it
//! and its answers mirrored into the store, until the operator detaches the pool and it
//! becomes local. This module holds what the sync and identity services share about it: the
//! upstream's credentials and errors, and which pools are attached on this node
//! ([`Attachments`], fed by a heartbeat through the store), with the pure rules of both
//! ([`rules`]). The calls themselves are ports of each service (`sync::ports::UpstreamSync`,
//! `identity::ports::UpstreamIdentity`), which `integrations::upstream` implements.

mod attachments;
pub mod rules;

pub use attachments::{Attachments, InFlight, Route, RouteError, Traffic};
pub use rules::Intent;

/// Credentials of one identity at the upstream (what its GetCredentialsForIdentity vended),
/// carried inside the credentials cogsync vends for that identity so that forwarded calls are
/// signed as the identity (its sync trigger runs, LastModifiedBy is the identity).
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration_ms: i64,
}

impl std::fmt::Debug for UpstreamCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration_ms", &self.expiration_ms)
            .finish_non_exhaustive()
    }
}

/// Who a forwarded call is signed as.
#[derive(Debug, Clone)]
pub enum Signer {
    /// The operator's developer credentials at the upstream (the standard AWS chain).
    Developer,
    /// The identity's own upstream credentials.
    Identity(UpstreamCredentials),
}

/// The models' errors the upstream may answer, relayed to the device as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamCode {
    InvalidParameter,
    NotAuthorized,
    ResourceNotFound,
    ResourceConflict,
    LimitExceeded,
    TooManyRequests,
    InternalError,
    InvalidConfiguration,
    InvalidLambdaFunctionOutput,
    LambdaThrottled,
    LambdaSocketTimeout,
    ConcurrentModification,
    DuplicateRequest,
    AlreadyStreamed,
    DeveloperUserAlreadyRegistered,
    ExternalService,
    InvalidIdentityPoolConfiguration,
    ExpiredToken,
}

impl UpstreamCode {
    /// The code for an error shape name (`ResourceConflictException`), if it is one.
    pub fn of_shape(shape: &str) -> Option<Self> {
        use UpstreamCode::*;
        Some(match shape.trim_end_matches("Exception") {
            "InvalidParameter" => InvalidParameter,
            "NotAuthorized" => NotAuthorized,
            "ResourceNotFound" => ResourceNotFound,
            "ResourceConflict" => ResourceConflict,
            "LimitExceeded" => LimitExceeded,
            "TooManyRequests" => TooManyRequests,
            "InternalError" => InternalError,
            "InvalidConfiguration" => InvalidConfiguration,
            "InvalidLambdaFunctionOutput" => InvalidLambdaFunctionOutput,
            "LambdaThrottled" => LambdaThrottled,
            "LambdaSocketTimeout" => LambdaSocketTimeout,
            "ConcurrentModification" => ConcurrentModification,
            "DuplicateRequest" => DuplicateRequest,
            "AlreadyStreamed" => AlreadyStreamed,
            "DeveloperUserAlreadyRegistered" => DeveloperUserAlreadyRegistered,
            "ExternalService" => ExternalService,
            "InvalidIdentityPoolConfiguration" => InvalidIdentityPoolConfiguration,
            "ExpiredToken" => ExpiredToken,
            _ => return None,
        })
    }
}

/// Why a forwarded call has no answer to relay as a success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream answered one of the models' errors: relayed as it is.
    #[error("{message}")]
    Refused { code: UpstreamCode, message: String },
    /// Nothing reached the upstream (connect, DNS, TLS refused): nothing happened there.
    #[error("the upstream could not be reached: {0}")]
    Unreachable(String),
    /// Sent, but no usable answer (timeout after sending, connection lost, a page that is no
    /// model's error): a write may or may not have been applied there.
    #[error("the upstream did not answer: {0}")]
    Unanswered(String),
    /// The upstream refused cogsync's own credentials: a configuration fault of the operator's.
    #[error("the upstream refused cogsync's credentials: {0}")]
    OurCredentials(String),
}

pub type UpstreamResult<T> = Result<T, UpstreamError>;

/// What a service tells a device of a forwarded call that failed, or of one that could not be
/// routed: each service maps these four onto its own error enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The upstream's own refusal, relayed as it is.
    Relayed { code: UpstreamCode, message: String },
    /// A write sent without an answer: it may or may not have been applied.
    OutcomeUnknown(String),
    /// Nothing happened (unreachable, no answer to a read, cogsync's credentials refused).
    NothingChanged(String),
    /// Try again shortly (a write that waited too long for a detach).
    Busy(String),
}

impl Failure {
    /// How `e`, the outcome of a call of `intent`, is told.
    pub fn of(e: UpstreamError, intent: Intent) -> Failure {
        match e {
            UpstreamError::Refused { code, message } => Failure::Relayed { code, message },
            UpstreamError::Unanswered(detail) if intent == Intent::Write => {
                Failure::OutcomeUnknown(format!("upstream: {detail}"))
            }
            e @ (UpstreamError::Unanswered(_)
            | UpstreamError::Unreachable(_)
            | UpstreamError::OurCredentials(_)) => Failure::NothingChanged(e.to_string()),
        }
    }
}

impl From<RouteError> for Failure {
    fn from(e: RouteError) -> Self {
        match e {
            RouteError::HoldTimedOut => Failure::Busy(e.to_string()),
            RouteError::Stale | RouteError::NoUpstream => Failure::NothingChanged(e.to_string()),
        }
    }
}

/// What a write that only the upstream may make is told while `pool` is attached.
pub fn attached_refusal(what: &str, pool: &str) -> String {
    format!(
        "{what} is not available while identity pool {pool} is attached to its upstream: make \
         the change there, or detach the pool first"
    )
}
