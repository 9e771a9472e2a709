//! The sync service's refusals, and how the store's failures become them (exhaustively).

use crate::store::{Rejection, StoreError};
use crate::validate::Violation;

/// A refusal by the sync service; `api::error` maps each to its wire error in one place.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NotAuthorized(String),
    #[error("Current SyncCount for: {key} is: {stored} not: {sent}")]
    Conflict { key: String, stored: i64, sent: i64 },
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    ConcurrentModification(String),
    #[error("{0}")]
    DuplicateRequest(String),
    #[error("{0}")]
    InvalidConfiguration(String),
    #[error("{0}")]
    InvalidLambdaOutput(String),
    #[error("{0}")]
    LambdaThrottled(String),
    #[error("{0}")]
    LambdaTimeout(String),
    #[error("{0}")]
    AlreadyStreamed(String),
    /// Contention the store could not resolve in time; the client should retry.
    #[error("{0}")]
    Busy(String),
    /// Failed, nothing changed (the detail is for the log).
    #[error("{0}")]
    Internal(String),
    /// A write that may or may not have been applied (the detail is for the log).
    #[error("{0}")]
    OutcomeUnknown(String),
    /// A pool's upstream refused the call: its answer, relayed as it is.
    #[error("{message}")]
    Relayed {
        code: crate::upstream::UpstreamCode,
        message: String,
    },
}

impl From<Violation> for SyncError {
    fn from(v: Violation) -> Self {
        SyncError::InvalidParameter(v.0)
    }
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(Rejection::Conflict { key, stored, sent }) => {
                SyncError::Conflict { key, stored, sent }
            }
            StoreError::Rejected(Rejection::LimitExceeded(m)) => SyncError::LimitExceeded(m),
            StoreError::Rejected(Rejection::BulkInProgress) => SyncError::DuplicateRequest(
                "A bulk publish of this identity pool is already in progress".into(),
            ),
            StoreError::Rejected(Rejection::BulkTooSoon) => SyncError::AlreadyStreamed(
                "The last successful bulk publish of this identity pool completed less than 24 hours ago"
                    .into(),
            ),
            StoreError::Busy(detail) => SyncError::Busy(detail),
            // Refusals of the login rules never come out of a sync write.
            StoreError::Rejected(
                r @ (Rejection::NotAuthorized(_)
                | Rejection::NotFound(_)
                | Rejection::DeveloperUserAlreadyRegistered(_)
                | Rejection::InvalidParameter(_)),
            ) => SyncError::Internal(format!("unexpected refusal from the store: {r:?}")),
            StoreError::AlreadyExists(what) => {
                SyncError::Internal(format!("unexpected duplicate in the store: {what}"))
            }
            StoreError::Backend(detail) => SyncError::Internal(detail),
            StoreError::OutcomeUnknown(detail) => SyncError::OutcomeUnknown(detail),
            StoreError::Corrupt(detail) => SyncError::Internal(detail),
            // Deleted (or merged away) while the write waited for it: as if it had been
            // missing when the request came (identity credentials are told to get new ones
            // where the service knows the caller).
            StoreError::IdentityGone(id) => {
                SyncError::NotFound(format!("Identity not found: {id} (deleted or merged)"))
            }
        }
    }
}

pub type SyncResult<T> = Result<T, SyncError>;
