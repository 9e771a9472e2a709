//! The one place where failures become wire errors: every error has an AWS shape name, an
//! HTTP status, an `x-amzn-ErrorType` header and a `{"__type","message"}` body.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::AuthError;
use crate::identity::IdentityError;
use crate::sync::SyncError;
use crate::upstream::UpstreamCode;

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
    ExternalService,
    InvalidIdentityPoolConfiguration,
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
            ErrorCode::ExternalService => "ExternalServiceException",
            ErrorCode::InvalidIdentityPoolConfiguration => {
                "InvalidIdentityPoolConfigurationException"
            }
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
            | ErrorCode::DeveloperUserAlreadyRegistered
            | ErrorCode::ExternalService
            | ErrorCode::InvalidIdentityPoolConfiguration => StatusCode::BAD_REQUEST,
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
    /// What the log says beside the message (an internal failure's cause); never sent.
    pub detail: Option<String>,
}

/// The message of an internal failure that changed nothing.
pub const NOTHING_CHANGED: &str =
    "An internal error occurred; nothing was changed. Retry the request.";
/// The message of a write whose commit could not be confirmed either way.
pub const OUTCOME_UNKNOWN: &str =
    "An internal error occurred while the change was being committed: \
     it may or may not have been applied. Read the data again before retrying.";

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            protocol: Protocol::RestJson,
            detail: None,
        }
    }

    /// An internal failure that changed nothing; `detail` goes to the log only.
    pub fn internal(detail: impl Into<String>) -> Self {
        ApiError {
            detail: Some(detail.into()),
            ..Self::new(ErrorCode::InternalError, NOTHING_CHANGED)
        }
    }

    /// A write that may or may not have been applied; `detail` goes to the log only.
    pub fn outcome_unknown(detail: impl Into<String>) -> Self {
        ApiError {
            detail: Some(detail.into()),
            ..Self::new(ErrorCode::InternalError, OUTCOME_UNKNOWN)
        }
    }

    /// Contention: the client is told to retry (every SDK retries 429 with backoff); the
    /// details go to the log only.
    fn busy(detail: String) -> Self {
        ApiError {
            detail: Some(detail),
            ..Self::new(
                ErrorCode::TooManyRequests,
                "Too many concurrent requests for this data; retry the request",
            )
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

/// The wire error relaying an upstream's refusal (upstream mode), as the upstream made it.
fn relayed(code: UpstreamCode) -> ErrorCode {
    match code {
        UpstreamCode::InvalidParameter => ErrorCode::InvalidParameter,
        UpstreamCode::NotAuthorized => ErrorCode::NotAuthorized,
        UpstreamCode::ResourceNotFound => ErrorCode::ResourceNotFound,
        UpstreamCode::ResourceConflict => ErrorCode::ResourceConflict,
        UpstreamCode::LimitExceeded => ErrorCode::LimitExceeded,
        UpstreamCode::TooManyRequests => ErrorCode::TooManyRequests,
        UpstreamCode::InternalError => ErrorCode::InternalError,
        UpstreamCode::InvalidConfiguration => ErrorCode::InvalidConfiguration,
        UpstreamCode::InvalidLambdaFunctionOutput => ErrorCode::InvalidLambdaFunctionOutput,
        UpstreamCode::LambdaThrottled => ErrorCode::LambdaThrottled,
        UpstreamCode::LambdaSocketTimeout => ErrorCode::LambdaSocketTimeout,
        UpstreamCode::ConcurrentModification => ErrorCode::ConcurrentModification,
        UpstreamCode::DuplicateRequest => ErrorCode::DuplicateRequest,
        UpstreamCode::AlreadyStreamed => ErrorCode::AlreadyStreamed,
        UpstreamCode::DeveloperUserAlreadyRegistered => ErrorCode::DeveloperUserAlreadyRegistered,
        UpstreamCode::ExternalService => ErrorCode::ExternalService,
        UpstreamCode::InvalidIdentityPoolConfiguration => {
            ErrorCode::InvalidIdentityPoolConfiguration
        }
        UpstreamCode::ExpiredToken => ErrorCode::ExpiredToken,
    }
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
            SyncError::Busy(detail) => return ApiError::busy(detail.clone()),
            SyncError::Internal(detail) => return ApiError::internal(detail.clone()),
            SyncError::OutcomeUnknown(detail) => return ApiError::outcome_unknown(detail.clone()),
            SyncError::Relayed { code, .. } => relayed(*code),
        };
        ApiError::new(code, e.to_string())
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
            IdentityError::ExternalService(_) => ErrorCode::ExternalService,
            IdentityError::Relayed { code, .. } => relayed(*code),
            IdentityError::Busy(detail) => {
                return ApiError::busy(detail.clone()).with_protocol(Protocol::AwsJson)
            }
            IdentityError::Internal(detail) => {
                return ApiError::internal(detail.clone()).with_protocol(Protocol::AwsJson)
            }
            IdentityError::OutcomeUnknown(detail) => {
                return ApiError::outcome_unknown(detail.clone()).with_protocol(Protocol::AwsJson)
            }
        };
        ApiError::new(code, e.to_string()).with_protocol(Protocol::AwsJson)
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
