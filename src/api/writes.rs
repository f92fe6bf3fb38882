//! Write handlers: each authenticates, reads and validates its body, and
//! sends one [`Request`] to the publisher, which checks the safety rule,
//! persists, publishes and audits. Nothing here changes state by itself.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{Method, Uri};
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Value, json};

use super::ApiContext;
use super::auth::{Writer, request_line};
use super::errors::{ApiError, ErrorCode};
use super::routes::param;
use super::views::override_json;
use crate::overrides::audit::{Entry, Outcome};
use crate::overrides::{Action, ForceState, MAX_WEIGHT, Report, Request, RequestKind};

/// Longest accepted `why`.
const MAX_WHY: usize = 1000;

/// Longest accepted expiry: a year. Longer is "forever", which is `null`.
const MAX_EXPIRES_SECS: u64 = 366 * 24 * 3600;

/// `PUT /v1/regions/{region}/weight`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightBody {
    weight: u32,
    /// Checked (and trimmed) by [`parse_body`] before typing; declared so it is allowed.
    #[serde(rename = "why")]
    _why: IgnoredAny,
    expires_in_secs: Option<u64>,
    #[serde(default)]
    force: bool,
}

/// `POST /v1/regions/{region}/drain`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DrainBody {
    #[serde(rename = "why")]
    _why: IgnoredAny,
    expires_in_secs: Option<u64>,
    #[serde(default)]
    force: bool,
}

/// What `POST /v1/regions/{region}/force` may ask for.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ForceArg {
    Up,
    Down,
    Clear,
}

/// `POST /v1/regions/{region}/force`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForceBody {
    state: ForceArg,
    #[serde(rename = "why")]
    _why: IgnoredAny,
    expires_in_secs: Option<u64>,
    #[serde(default)]
    force: bool,
}

/// `DELETE /v1/overrides/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    #[serde(rename = "why")]
    _why: IgnoredAny,
    #[serde(default)]
    force: bool,
}

/// The request parts the handlers need for errors and audit lines.
pub struct Attempt<'a> {
    ctx: &'a ApiContext,
    who: String,
    what: String,
}

impl Attempt<'_> {
    /// Audits a request refused before it reached the publisher, and returns the error.
    pub(super) fn invalid(&self, e: ApiError) -> ApiError {
        self.ctx.audit.record_or_log(&Entry {
            time: crate::clock::now(),
            who: self.who.clone(),
            what: self.what.clone(),
            why: String::new(),
            result: Outcome::Invalid,
            detail: Some(e.message.clone()),
        });
        e
    }
}

/// Reads a JSON body: 400 when it is not JSON or lacks `why`, 422 when its
/// values are wrong. Returns the typed body and the trimmed `why`.
pub(super) fn parse_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<(T, String), ApiError> {
    let bytes = body.map_err(|e| {
        ApiError::new(
            e.status(),
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ErrorCode::BodyTooLarge
            } else {
                ErrorCode::BadBody
            },
            e.body_text(),
        )
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
fn check_expiry(expires_in_secs: Option<u64>) -> Result<(), ApiError> {
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

/// 404 unless the region is in the served config. (The publisher checks
/// again, against the config it holds when the change lands.)
fn known_region(ctx: &ApiContext, region: &str) -> Result<(), ApiError> {
    if ctx.snapshot.load().plan.region_index.contains_key(region) {
        Ok(())
    } else {
        Err(ApiError::not_found(
            ErrorCode::UnknownRegion,
            format!("unknown region {region:?}"),
        ))
    }
}

/// Sends the request to the publisher and renders what it did.
async fn submit(ctx: &ApiContext, request: Request) -> Result<Json<Value>, ApiError> {
    let Report {
        generation,
        applied,
    } = ctx.publisher.change_overrides(request).await?;
    let now = crate::clock::now();
    Ok(Json(json!({
        "generation": generation,
        "created": applied.created.as_ref().map(|o| override_json(o, now)),
        "removed": applied.removed.iter().map(|o| override_json(o, now)).collect::<Vec<_>>(),
    })))
}

pub(super) fn attempt<'a>(
    ctx: &'a ApiContext,
    who: &Writer,
    method: &Method,
    uri: &Uri,
) -> Attempt<'a> {
    Attempt {
        ctx,
        who: who.0.clone(),
        what: request_line(method, uri),
    }
}

/// A region write's body: the fields every such write shares, and the
/// change it asks for.
trait RegionWrite: DeserializeOwned {
    /// Seconds until the override lapses; `None` for never.
    fn expires_in_secs(&self) -> Option<u64>;
    /// Whether the caller overrides the safety rule.
    fn force(&self) -> bool;
    /// The change for `region`, or 422 when the body's values are wrong.
    fn kind(&self, region: String) -> Result<RequestKind, ApiError>;
}

impl RegionWrite for WeightBody {
    fn expires_in_secs(&self) -> Option<u64> {
        self.expires_in_secs
    }
    fn force(&self) -> bool {
        self.force
    }
    fn kind(&self, region: String) -> Result<RequestKind, ApiError> {
        if self.weight > MAX_WEIGHT {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                format!("`weight` must be between 0 and {MAX_WEIGHT}"),
            ));
        }
        let action = Action::Weight {
            weight: self.weight,
        };
        Ok(RequestKind::Set { region, action })
    }
}

impl RegionWrite for DrainBody {
    fn expires_in_secs(&self) -> Option<u64> {
        self.expires_in_secs
    }
    fn force(&self) -> bool {
        self.force
    }
    fn kind(&self, region: String) -> Result<RequestKind, ApiError> {
        Ok(RequestKind::Set {
            region,
            action: Action::Drain,
        })
    }
}

impl RegionWrite for ForceBody {
    fn expires_in_secs(&self) -> Option<u64> {
        self.expires_in_secs
    }
    fn force(&self) -> bool {
        self.force
    }
    fn kind(&self, region: String) -> Result<RequestKind, ApiError> {
        let state = match self.state {
            ForceArg::Up => ForceState::Up,
            ForceArg::Down => ForceState::Down,
            ForceArg::Clear if self.expires_in_secs.is_some() => {
                return Err(ApiError::invalid(
                    ErrorCode::InvalidField,
                    "`expires_in_secs` does not apply to `clear`",
                ));
            }
            ForceArg::Clear => return Ok(RequestKind::ClearForce { region }),
        };
        let action = Action::Force { state };
        Ok(RequestKind::Set { region, action })
    }
}

/// The shared path of every region write: validate the region and the
/// body (auditing a refusal), then hand the change to the publisher.
async fn region_write<B: RegionWrite>(
    ctx: ApiContext,
    writer: Writer,
    method: Method,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let at = attempt(&ctx, &writer, &method, &uri);
    let (kind, body, why) = (|| {
        let region = param(path)?;
        known_region(&ctx, &region)?;
        let (body, why): (B, String) = parse_body(body)?;
        check_expiry(body.expires_in_secs())?;
        Ok((body.kind(region)?, body, why))
    })()
    .map_err(|e| at.invalid(e))?;
    let request = Request {
        kind,
        who: writer.0,
        why,
        force: body.force(),
        expires_in_secs: body.expires_in_secs(),
    };
    submit(&ctx, request).await
}

/// `PUT /v1/regions/{region}/weight`.
pub async fn put_weight(
    State(ctx): State<ApiContext>,
    writer: Writer,
    method: Method,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    region_write::<WeightBody>(ctx, writer, method, uri, path, body).await
}

/// `POST /v1/regions/{region}/drain`.
pub async fn post_drain(
    State(ctx): State<ApiContext>,
    writer: Writer,
    method: Method,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    region_write::<DrainBody>(ctx, writer, method, uri, path, body).await
}

/// `POST /v1/regions/{region}/force`.
pub async fn post_force(
    State(ctx): State<ApiContext>,
    writer: Writer,
    method: Method,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    region_write::<ForceBody>(ctx, writer, method, uri, path, body).await
}

/// `DELETE /v1/overrides/{id}`.
pub async fn delete_override(
    State(ctx): State<ApiContext>,
    writer: Writer,
    method: Method,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let at = attempt(&ctx, &writer, &method, &uri);
    let (id, body, why) = (|| {
        let id = param(path)?;
        if ctx.snapshot.load().overrides.get(&id).is_none() {
            return Err(ApiError::not_found(
                ErrorCode::UnknownOverride,
                format!("no override with id {id:?}"),
            ));
        }
        let (body, why): (DeleteBody, String) = parse_body(body)?;
        Ok((id, body, why))
    })()
    .map_err(|e| at.invalid(e))?;
    let request = Request {
        kind: RequestKind::Delete { id },
        who: writer.0,
        why,
        force: body.force,
        expires_in_secs: None,
    };
    submit(&ctx, request).await
}
