//! The one place where failures become wire errors: every error has an AWS shape name, an
//! HTTP status, an `x-amzn-ErrorType` header and a `{"__type","message"}` body.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::AuthError;
use crate::identity::IdentityError;
use crate::sync::SyncError;

/// The error shapes cogsync emits: the models' exceptions plus the protocol-level ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidParameter,
    ConcurrentModification,
    DuplicateRequest,
    AlreadyStreamed,
    InvalidConfiguration,
    InvalidLambdaFunctionOutput,
    LambdaThrottled,
    LambdaSocketTimeout,
    NotAuthorized,
    ResourceNotFound,
    ResourceConflict,
    LimitExceeded,
    TooManyRequests,
    InternalError,
    MissingAuthenticationToken,
    IncompleteSignature,
    InvalidSignature,
    UnrecognizedClient,
    ExpiredToken,
    DeveloperUserAlreadyRegistered,
    UnknownOperation,
    NotImplemented,
    RequestEntityTooLarge,
    RequestTimeout,
}

impl ErrorCode {
    pub fn shape(self) -> &'static str {
        match self {
            ErrorCode::InvalidParameter => "InvalidParameterException",
            ErrorCode::ConcurrentModification => "ConcurrentModificationException",
            ErrorCode::DuplicateRequest => "DuplicateRequestException",
            ErrorCode::InvalidConfiguration => "InvalidConfigurationException",
            ErrorCode::InvalidLambdaFunctionOutput => "InvalidLambdaFunctionOutputException",
            ErrorCode::LambdaThrottled => "LambdaThrottledException",
            ErrorCode::LambdaSocketTimeout => "LambdaSocketTimeoutException",
            ErrorCode::AlreadyStreamed => "AlreadyStreamedException",
            ErrorCode::NotAuthorized => "NotAuthorizedException",
            ErrorCode::ResourceNotFound => "ResourceNotFoundException",
            ErrorCode::ResourceConflict => "ResourceConflictException",
            ErrorCode::LimitExceeded => "LimitExceededException",
            ErrorCode::TooManyRequests => "TooManyRequestsException",
            ErrorCode::InternalError => "InternalErrorException",
            ErrorCode::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ErrorCode::IncompleteSignature => "IncompleteSignatureException",
            ErrorCode::InvalidSignature => "InvalidSignatureException",
            ErrorCode::UnrecognizedClient => "UnrecognizedClientException",
            ErrorCode::ExpiredToken => "ExpiredTokenException",
            ErrorCode::DeveloperUserAlreadyRegistered => "DeveloperUserAlreadyRegisteredException",
            ErrorCode::UnknownOperation => "UnknownOperationException",
            ErrorCode::NotImplemented => "NotImplementedException",
            ErrorCode::RequestEntityTooLarge => "RequestEntityTooLargeException",
            ErrorCode::RequestTimeout => "RequestTimeoutException",
        }
    }

    /// Status for Cognito Sync (restJson1: each exception's modelled `httpStatusCode`).
    fn rest_status(self) -> StatusCode {
        match self {
            ErrorCode::NotAuthorized
            | ErrorCode::MissingAuthenticationToken
            | ErrorCode::IncompleteSignature
            | ErrorCode::InvalidSignature
            | ErrorCode::UnrecognizedClient
            | ErrorCode::ExpiredToken => StatusCode::FORBIDDEN,
            ErrorCode::ResourceNotFound | ErrorCode::UnknownOperation => StatusCode::NOT_FOUND,
            ErrorCode::ResourceConflict => StatusCode::CONFLICT,
            ErrorCode::TooManyRequests | ErrorCode::LambdaThrottled => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ErrorCode::LambdaSocketTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorCode::RequestEntityTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::InvalidParameter
            | ErrorCode::ConcurrentModification
            | ErrorCode::DuplicateRequest
            | ErrorCode::InvalidConfiguration
            | ErrorCode::InvalidLambdaFunctionOutput
            | ErrorCode::AlreadyStreamed
            | ErrorCode::LimitExceeded
            | ErrorCode::DeveloperUserAlreadyRegistered => StatusCode::BAD_REQUEST,
        }
    }

    /// Status for Cognito Identity (awsJson1.1: client errors are 400, faults 500; signature
    /// failures stay 403 like the rest of AWS). Throttling answers 429 on both APIs: every SDK
    /// retries that status, and the shape name as well.
    fn json_status(self) -> StatusCode {
        match self {
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorCode::RequestEntityTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::MissingAuthenticationToken
            | ErrorCode::IncompleteSignature
            | ErrorCode::InvalidSignature
            | ErrorCode::UnrecognizedClient
            | ErrorCode::ExpiredToken => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Which protocol the failing request spoke; decides status and Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    RestJson,
    AwsJson,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub protocol: Protocol,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            protocol: Protocol::RestJson,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameter, message)
    }

    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    pub fn status(&self) -> StatusCode {
        match self.protocol {
            Protocol::RestJson => self.code.rest_status(),
            Protocol::AwsJson => self.code.json_status(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "__type": self.code.shape(), "message": self.message });
        let content_type = match self.protocol {
            Protocol::RestJson => "application/json",
            Protocol::AwsJson => "application/x-amz-json-1.1",
        };
        let mut resp = (self.status(), body.to_string()).into_response();
        let headers = resp.headers_mut();
        headers.insert("content-type", HeaderValue::from_static(content_type));
        headers.insert(
            "x-amzn-errortype",
            HeaderValue::from_static(self.code.shape()),
        );
        resp
    }
}

/// The answer to a write the store could not get through contention in time: the details stay
/// in the log, the client is told to retry (every SDK retries 429 with backoff).
fn busy_message(detail: &str) -> String {
    tracing::warn!(%detail, "store busy; answered 429");
    "Too many concurrent requests for this data; retry the request".to_owned()
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        let code = match &e {
            SyncError::InvalidParameter(_) => ErrorCode::InvalidParameter,
            SyncError::NotFound(_) => ErrorCode::ResourceNotFound,
            SyncError::NotAuthorized(_) => ErrorCode::NotAuthorized,
            SyncError::Conflict { .. } => ErrorCode::ResourceConflict,
            SyncError::LimitExceeded(_) => ErrorCode::LimitExceeded,
            SyncError::ConcurrentModification(_) => ErrorCode::ConcurrentModification,
            SyncError::DuplicateRequest(_) => ErrorCode::DuplicateRequest,
            SyncError::InvalidConfiguration(_) => ErrorCode::InvalidConfiguration,
            SyncError::InvalidLambdaOutput(_) => ErrorCode::InvalidLambdaFunctionOutput,
            SyncError::LambdaThrottled(_) => ErrorCode::LambdaThrottled,
            SyncError::LambdaTimeout(_) => ErrorCode::LambdaSocketTimeout,
            SyncError::AlreadyStreamed(_) => ErrorCode::AlreadyStreamed,
            SyncError::Busy(_) => ErrorCode::TooManyRequests,
            SyncError::Internal(_) => ErrorCode::InternalError,
        };
        let message = match e {
            SyncError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "An internal error occurred; the request was not applied".to_owned()
            }
            SyncError::Busy(detail) => busy_message(&detail),
            other => other.to_string(),
        };
        ApiError::new(code, message)
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        let code = match &e {
            IdentityError::InvalidParameter(_) => ErrorCode::InvalidParameter,
            IdentityError::NotFound(_) => ErrorCode::ResourceNotFound,
            IdentityError::NotAuthorized(_) => ErrorCode::NotAuthorized,
            IdentityError::Conflict(_) => ErrorCode::ResourceConflict,
            IdentityError::DeveloperUserAlreadyRegistered(_) => {
                ErrorCode::DeveloperUserAlreadyRegistered
            }
            IdentityError::Busy(_) => ErrorCode::TooManyRequests,
            IdentityError::Internal(_) => ErrorCode::InternalError,
        };
        let message = match e {
            IdentityError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "An internal error occurred; the request was not applied".to_owned()
            }
            IdentityError::Busy(detail) => busy_message(&detail),
            other => other.to_string(),
        };
        ApiError::new(code, message).with_protocol(Protocol::AwsJson)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let code = match &e {
            AuthError::Missing => ErrorCode::MissingAuthenticationToken,
            AuthError::Incomplete(_) => ErrorCode::IncompleteSignature,
            AuthError::UnrecognizedClient => ErrorCode::UnrecognizedClient,
            AuthError::ExpiredToken => ErrorCode::ExpiredToken,
            AuthError::InvalidSignature(_) => ErrorCode::InvalidSignature,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<crate::validate::Violation> for ApiError {
    fn from(v: crate::validate::Violation) -> Self {
        ApiError::invalid(v.0)
    }
}
