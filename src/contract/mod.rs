//! The control API's contract: every request body and response body the
//! HTTP API speaks, as serde types shared by the handlers (which serialize
//! responses and read requests) and `ctl` (which writes requests and reads
//! responses). The OpenAPI document's schemas are derived from the same
//! types ([`utoipa::ToSchema`]), so the three can no longer drift apart.
//!
//! - [`requests`]: the write bodies (`WeightRequest`, `DrillRequest`...).
//! - [`views`]: the read answers (`Region`, `Service`, `Override`...).
//! - [`status`]: `GET /v1/status`.
//! - [`drills`]: the drill list.
//! - [`explain`]: `GET /v1/explain`'s answer.
//! - [`traffic`]: `GET /v1/traffic`'s answer.
//! - [`ErrorCode`] and [`ErrorBody`]: the one error shape.
//!
//! It sits between the control plane and the surfaces (`api`, `ctl`): it
//! reads domain types to build views, and knows nothing of HTTP.

pub mod drills;
pub mod explain;
pub mod requests;
pub mod status;
pub mod traffic;
pub mod views;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(crate) use drills::*;
pub use explain::*;
pub use requests::*;
pub use status::*;
pub(crate) use traffic::*;
pub use views::*;

/// Every error code the API answers with: stable, for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body could not be read.
    BadBody,
    /// The body is not JSON.
    BadJson,
    /// A path parameter cannot be decoded.
    BadPath,
    /// The query string is missing a parameter or has a wrong one.
    BadQuery,
    /// The drill is not running (stop).
    DrillNotRunning,
    /// Valid JSON with a wrong value.
    InvalidField,
    /// No route at this path.
    NoRoute,
    /// Not ready yet (readyz).
    NotReady,
    /// The change could not be persisted.
    StorageFailed,
    /// Missing or wrong bearer token.
    Unauthorized,
    /// No such drill.
    UnknownDrill,
    /// No such override.
    UnknownOverride,
    /// No such region.
    UnknownRegion,
    /// No such service.
    UnknownService,
    /// Too many failed authentications from this address.
    TooManyAttempts,
    /// Refused by the safety rule.
    UnsafeChange,
    /// The region already has a forced state.
    RegionForced,
    /// The region has no forced state to clear.
    NotForced,
    /// The server is stopping.
    ShuttingDown,
    /// The cluster store cannot take writes now.
    ClusterUnavailable,
    /// The body is over the limit.
    BodyTooLarge,
    /// A request axum could not read.
    BadRequest,
    /// The path does not serve this method.
    MethodNotAllowed,
    /// The body is not declared as JSON.
    UnsupportedMediaType,
    /// The body is not a JSON object, or axum refused its values.
    InvalidBody,
    /// A server error.
    Internal,
    /// Any other failure.
    Error,
    /// `why` is missing or empty.
    MissingWhy,
    /// The body did not arrive in time.
    BodyTimeout,
}

/// The one error shape: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable code for scripts (`missing_why`, `unknown_region`, `unsafe_change`...).
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

impl ErrorBody {
    /// The body for `code` and `message`.
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}
