//! API errors: one shape for every failure, `{"error": {"code", "message"}}`,
//! whatever produced it (a handler, an extractor, axum's own 404/405/413).

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::overrides::ChangeError;

/// Largest error body from axum itself that is quoted in a message.
const QUOTED_BODY_LIMIT: usize = 4096;

use crate::contract::ErrorBody;
pub use crate::contract::ErrorCode;

/// An error answer: status, stable machine-readable code, human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code for scripts (`missing_why`, `unknown_region`, `unsafe_change`...).
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
    /// Seconds for a `Retry-After` header (429 answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429: too many failed authentications from this client address;
    /// retry after `secs`.
    pub fn too_many_attempts(secs: u64) -> ApiError {
        ApiError {
            retry_after: Some(secs),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyAttempts,
                format!("too many failed authentications from this address: retry in {secs} s"),
            )
        }
    }

    /// 400: the request cannot be read (bad JSON, missing `why`).
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no valid bearer token.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// 404: no such region, service, override or route.
    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 422: valid JSON with invalid values.
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
}

impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> ApiError {
        let (status, code) = match &e {
            ChangeError::UnknownRegion(_) => (StatusCode::NOT_FOUND, ErrorCode::UnknownRegion),
            ChangeError::UnknownOverride(_) => (StatusCode::NOT_FOUND, ErrorCode::UnknownOverride),
            ChangeError::NotForced(_) => (StatusCode::NOT_FOUND, ErrorCode::NotForced),
            ChangeError::Unsafe(_) => (StatusCode::CONFLICT, ErrorCode::UnsafeChange),
            ChangeError::AlreadyForced(_) => (StatusCode::CONFLICT, ErrorCode::RegionForced),
            ChangeError::Storage(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::StorageFailed)
            }
            ChangeError::Stopped => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::ShuttingDown),
            ChangeError::ClusterUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ClusterUnavailable,
            ),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody::new(self.code, self.message);
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The answer for paths no route serves.
pub async fn fallback(uri: Uri) -> ApiError {
    ApiError::not_found(
        ErrorCode::NoRoute,
        format!("no API route at {}", uri.path()),
    )
}

/// Rewrites any error response that is not already JSON (axum's 405,
/// extractor rejections, body-limit 413...) into the error shape, keeping
/// its status and headers (such as `Allow`).
pub async fn normalize(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, QUOTED_BODY_LIMIT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => ErrorCode::BadRequest,
        StatusCode::NOT_FOUND => ErrorCode::NoRoute,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidBody,
        _ if status.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::Error,
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase()
    } else {
        text
    };
    let body = serde_json::to_vec(&ErrorBody::new(code, message)).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
