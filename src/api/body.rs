//! Reading a request body: bounded in size (declared and actual) and in time.

use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use http_body_util::{BodyExt, Limited};

use super::error::{ApiError, ErrorCode};

/// Largest request body read: a little over the 1 MiB a dataset may hold, leaving room for
/// the JSON around the keys and values and some escaping. A declared `Content-Length` above
/// it is refused before any of the body is read; a chunked body is cut off as it passes.
pub const MAX_BODY_BYTES: usize = 1536 * 1024;

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::RequestEntityTooLarge,
        format!("The request body exceeds {MAX_BODY_BYTES} bytes"),
    )
}

/// Refuses a request whose `Content-Length` announces more than [`MAX_BODY_BYTES`], before
/// reading any of it.
pub fn check_declared_length(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(axum::http::header::CONTENT_LENGTH) else {
        return Ok(());
    };
    match value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(n) if n > MAX_BODY_BYTES as u64 => Err(too_large()),
        Some(_) => Ok(()),
        None => Err(ApiError::invalid(
            "The Content-Length header is not a number",
        )),
    }
}

/// The whole body, if it arrives within `timeout` and within [`MAX_BODY_BYTES`].
pub async fn read(body: Body, timeout: Duration) -> Result<bytes::Bytes, ApiError> {
    let collected = tokio::time::timeout(timeout, Limited::new(body, MAX_BODY_BYTES).collect());
    let Ok(read) = collected.await else {
        return Err(ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "The request body was not received within {} seconds",
                timeout.as_secs()
            ),
        ));
    };
    match read {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(e) => Err(ApiError::invalid(format!(
            "The request body could not be read: {e}"
        ))),
    }
}
