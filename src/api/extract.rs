//! The one extractor every write handler takes. [`Write`] authenticates
//! the bearer token, resolves the path parameter against the served state
//! ([`Target`]), reads the JSON body and its `why`, validates the body's
//! values ([`WriteBody`]), and audits any refusal before the handler runs;
//! the handler keeps the [`Write`] to audit a later refusal of its own.
//!
//! Order (what a request with several faults is told): token (401), path
//! (400, or 404 for an unknown object), body (400 not JSON or no `why`,
//! 413 too large, 422 wrong values).

use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ApiContext;
use super::auth::{Writer, request_line};
use super::errors::{ApiError, ErrorCode};
use super::routes::param;
use crate::contract::{MAX_EXPIRES_SECS, MAX_WHY};
use crate::overrides::Request as Change;
use crate::overrides::RequestKind;
use crate::overrides::audit::{AuditLog, Entry, Outcome};

/// What the path parameter names, checked against the served state before
/// the body is read.
pub trait Target: Sized {
    /// Whether the route has a path parameter at all.
    const PARAM: bool = true;
    /// The target named `param`, or 404 when it does not exist.
    fn resolve(ctx: &ApiContext, param: String) -> Result<Self, ApiError>;
}

/// A route without a path parameter (`POST /v1/drills`).
impl Target for () {
    const PARAM: bool = false;
    fn resolve(_: &ApiContext, _: String) -> Result<(), ApiError> {
        Ok(())
    }
}

/// A region in the served config. (The publisher checks again, against
/// the config it holds when the change lands.)
#[derive(Debug, Clone)]
pub struct RegionName(pub String);

impl Target for RegionName {
    fn resolve(ctx: &ApiContext, region: String) -> Result<RegionName, ApiError> {
        if ctx.snapshot.load().plan.region_index.contains_key(&region) {
            Ok(RegionName(region))
        } else {
            Err(ApiError::not_found(
                ErrorCode::UnknownRegion,
                format!("unknown region {region:?}"),
            ))
        }
    }
}

/// An active override.
#[derive(Debug, Clone)]
pub struct OverrideId(pub String);

impl Target for OverrideId {
    fn resolve(ctx: &ApiContext, id: String) -> Result<OverrideId, ApiError> {
        if ctx.snapshot.load().overrides.get(&id).is_none() {
            return Err(ApiError::not_found(
                ErrorCode::UnknownOverride,
                format!("no override with id {id:?}"),
            ));
        }
        Ok(OverrideId(id))
    }
}

/// A drill id (the drill itself is looked up when it is stopped: its
/// report may live in the cluster store).
#[derive(Debug, Clone)]
pub struct DrillId(pub String);

impl Target for DrillId {
    fn resolve(_: &ApiContext, id: String) -> Result<DrillId, ApiError> {
        Ok(DrillId(id))
    }
}

/// A write body: typed, then checked for values its type cannot refuse.
pub trait WriteBody: DeserializeOwned {
    /// 422 when a value is out of range.
    fn validate(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// An authenticated write whose path, body and `why` passed every check.
pub struct Write<T, B> {
    /// The token's name.
    pub who: String,
    /// What the path names.
    pub target: T,
    /// The typed body.
    pub body: B,
    /// `why`, trimmed.
    pub why: String,
    /// For auditing a refusal after extraction.
    audit: AuditLog,
    /// `METHOD /path`, for the audit line.
    what: String,
}

impl<T, B> Write<T, B> {
    /// Audits a request refused before it reached the publisher (which
    /// audits its own refusals), and returns the error.
    pub fn refused(&self, e: ApiError) -> ApiError {
        refuse(&self.audit, &self.who, &self.what, e)
    }

    /// The override change this write asks the publisher for.
    pub fn change(&self, kind: RequestKind, force: bool, expires_in_secs: Option<u64>) -> Change {
        Change {
            kind,
            who: self.who.clone(),
            why: self.why.clone(),
            force,
            expires_in_secs,
        }
    }
}

/// Records the refusal of `what` by `who` in the audit log; returns `e`.
fn refuse(audit: &AuditLog, who: &str, what: &str, e: ApiError) -> ApiError {
    audit.record_or_log(&Entry {
        time: SystemTime::now(),
        who: who.to_string(),
        what: what.to_string(),
        why: String::new(),
        result: Outcome::Invalid,
        detail: Some(e.message.clone()),
    });
    e
}

impl<T, B> FromRequest<ApiContext> for Write<T, B>
where
    T: Target + Send,
    B: WriteBody + Send,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, ctx: &ApiContext) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        // Failed authentications are counted and audited by the guard.
        let Writer(who) = Writer::from_request_parts(&mut parts, ctx).await?;
        let what = request_line(&parts.method, &parts.uri);
        let path = if T::PARAM {
            Some(Path::<String>::from_request_parts(&mut parts, ctx).await)
        } else {
            None
        };
        let bytes = Bytes::from_request(Request::from_parts(parts, body), ctx).await;
        let checked = (|| -> Result<_, ApiError> {
            let target = T::resolve(ctx, path.map(param).transpose()?.unwrap_or_default())?;
            let (body, why): (B, String) = parse_body(bytes)?;
            body.validate()?;
            Ok((target, body, why))
        })();
        let (target, body, why) = checked.map_err(|e| refuse(&ctx.audit, &who, &what, e))?;
        Ok(Write {
            who,
            target,
            body,
            why,
            audit: ctx.audit.clone(),
            what,
        })
    }
}

/// Reads a JSON body: 400 when it is not JSON or lacks `why`, 422 when its
/// values are wrong. Returns the typed body and the trimmed `why`.
fn parse_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<(T, String), ApiError> {
    let bytes = body.map_err(|e| {
        let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ErrorCode::BodyTooLarge
        } else {
            ErrorCode::BadBody
        };
        ApiError::new(e.status(), code, e.body_text())
    })?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(ErrorCode::BadJson, format!("body is not JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(ApiError::invalid(
            ErrorCode::InvalidBody,
            "body must be a JSON object",
        ));
    };
    let why = match object.get("why") {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                ErrorCode::MissingWhy,
                "`why` is required: say why you are making this change",
            ));
        }
        Some(Value::String(why)) if why.trim().is_empty() => {
            return Err(ApiError::bad_request(
                ErrorCode::MissingWhy,
                "`why` must not be empty",
            ));
        }
        Some(Value::String(why)) if why.chars().count() > MAX_WHY => {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                format!("`why` is longer than {MAX_WHY} characters"),
            ));
        }
        Some(Value::String(why)) => why.trim().to_string(),
        Some(_) => {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "`why` must be a string",
            ));
        }
    };
    // JSON Schema's `integer` includes `383.0`: read integral numbers as
    // integers so the typed fields (`u64`, `u32`) accept every value the
    // document allows.
    let typed = serde_json::from_value(integral(value))
        .map_err(|e| ApiError::invalid(ErrorCode::InvalidField, e.to_string()))?;
    Ok((typed, why))
}

/// `value` with every integral floating-point number (`383.0`) that fits an
/// `i64` or `u64` written as an integer; other values unchanged.
fn integral(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            // The bounds are exact powers of two, so the casts are exact.
            Some(f) if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) => {
                Value::from(f as u64)
            }
            Some(f) if f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..0.0).contains(&f) => {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(integral).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, integral(v))).collect())
        }
        other => other,
    }
}

/// 422 unless `expires_in_secs` is absent or within bounds.
pub fn check_expiry(expires_in_secs: Option<u64>) -> Result<(), ApiError> {
    match expires_in_secs {
        Some(secs) if secs == 0 || secs > MAX_EXPIRES_SECS => Err(ApiError::invalid(
            ErrorCode::InvalidField,
            format!(
                "`expires_in_secs` must be between 1 and {MAX_EXPIRES_SECS} (omit it for no expiry)"
            ),
        )),
        _ => Ok(()),
    }
}
