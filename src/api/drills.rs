//! Drill endpoints: `POST /v1/drills` (start), `GET /v1/drills` (list),
//! `GET /v1/drills/{id}` (report), `POST /v1/drills/{id}/stop`. Starting
//! and stopping go through [`crate::drills::Drills`], which sends the
//! override changes to the publisher (safety rule, durability, audit).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use super::ApiContext;
use super::auth::{Reader, Writer};
use super::errors::{ApiError, ErrorCode};
use super::routes::param;
use super::writes::{attempt, parse_body};
use crate::drills::report::DrillReport;
use crate::drills::{DrillError, StartDrill};

/// `POST /v1/drills`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    regions: Vec<String>,
    duration_secs: u64,
    #[serde(rename = "why")]
    _why: IgnoredAny,
    services: Option<Vec<String>>,
    #[serde(default)]
    force: bool,
}

/// `POST /v1/drills/{id}/stop`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopBody {
    #[serde(rename = "why")]
    _why: IgnoredAny,
    /// Accepted because the document (`DeleteRequest`) allows it: a rollback
    /// only removes the drill's own overrides, so the safety rule cannot
    /// refuse it and there is nothing to force.
    #[serde(default, rename = "force")]
    _force: bool,
}

impl From<DrillError> for ApiError {
    fn from(e: DrillError) -> ApiError {
        let message = e.to_string();
        match e {
            DrillError::Invalid(_) | DrillError::NoVantages => {
                ApiError::invalid(ErrorCode::InvalidField, message)
            }
            DrillError::UnknownRegion(_) => ApiError::not_found(ErrorCode::UnknownRegion, message),
            DrillError::UnknownService(_) => {
                ApiError::not_found(ErrorCode::UnknownService, message)
            }
            DrillError::UnknownDrill(_) => ApiError::not_found(ErrorCode::UnknownDrill, message),
            DrillError::NotRunning(_) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::DrillNotRunning, message)
            }
            DrillError::Change(change) => change.into(),
            DrillError::Storage(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::StorageFailed,
                message,
            ),
        }
    }
}

/// A report as the API shows it.
fn report_json(report: &DrillReport) -> Value {
    serde_json::to_value(report).unwrap_or(Value::Null)
}

/// One line of `GET /v1/drills`.
fn summary_json(report: &DrillReport) -> Value {
    let failed = report
        .pairs
        .iter()
        .filter(|p| p.result == crate::drills::report::Verdict::Fail)
        .count();
    json!({
        "id": report.id,
        "regions": report.regions,
        "services": report.services,
        "who": report.who,
        "why": report.why,
        "scheduled": report.scheduled,
        "phase": report.phase,
        "result": report.result,
        "created": crate::overrides::time::format(report.created),
        "ends_at": crate::overrides::time::format(report.ends_at),
        "finished": report.finished.map(crate::overrides::time::format),
        "pairs": report.pairs.len(),
        "failed_pairs": failed,
        "max_convergence_ms": report.impact.max_convergence_ms,
    })
}

/// `POST /v1/drills`: starts a drill; answers with its report.
pub async fn start(
    State(ctx): State<ApiContext>,
    writer: Writer,
    method: Method,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let at = attempt(&ctx, &writer, &method, &uri);
    let (body, why): (StartBody, String) = parse_body(body).map_err(|e| at.invalid(e))?;
    let request = StartDrill {
        regions: body.regions,
        duration_secs: body.duration_secs,
        why,
        services: body.services,
        force: body.force,
        who: writer.0.clone(),
        scheduled: None,
    };
    match ctx.drills.start(request).await {
        Ok(report) => Ok(Json(report_json(&report))),
        // Refusals by the publisher are audited there; ours here.
        Err(DrillError::Change(e)) => Err(e.into()),
        Err(e) => Err(at.invalid(e.into())),
    }
}

/// `GET /v1/drills`: every drill, oldest first.
pub async fn list(State(ctx): State<ApiContext>, _: Reader) -> Json<Value> {
    let list: Vec<Value> = ctx.drills.list().iter().map(summary_json).collect();
    Json(json!({"drills": list}))
}

/// `GET /v1/drills/{id}`: the report.
pub async fn show(
    State(ctx): State<ApiContext>,
    _: Reader,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = param(path)?;
    let report = ctx
        .drills
        .get(&id)
        .ok_or_else(|| ApiError::from(DrillError::UnknownDrill(id)))?;
    Ok(Json(report_json(&report)))
}

/// `POST /v1/drills/{id}/stop`: rolls the drill back now.
pub async fn stop(
    State(ctx): State<ApiContext>,
    writer: Writer,
    method: Method,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let at = attempt(&ctx, &writer, &method, &uri);
    let (id, why) = (|| {
        let id = param(path)?;
        let (_, why): (StopBody, String) = parse_body(body)?;
        Ok((id, why))
    })()
    .map_err(|e| at.invalid(e))?;
    match ctx.drills.stop(&id, &writer.0, &why).await {
        Ok(report) => Ok(Json(report_json(&report))),
        Err(DrillError::Change(e)) => Err(e.into()),
        Err(e) => Err(at.invalid(e.into())),
    }
}
