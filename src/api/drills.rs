//! Drill endpoints: `POST /v1/drills` (start), `GET /v1/drills` (list),
//! `GET /v1/drills/{id}` (report), `POST /v1/drills/{id}/stop`. Starting
//! and stopping go through [`crate::drills::Drills`], which sends the
//! override changes to the publisher (safety rule, durability, audit).

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::ApiContext;
use super::auth::Reader;
use super::errors::{ApiError, ErrorCode};
use super::extract::{DrillId, Write};
use super::routes::param;
use crate::contract::{DeleteRequest, DrillList, DrillRequest, DrillSummary};
use crate::drills::report::DrillReport;
use crate::drills::{DrillError, StartDrill};

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

/// `POST /v1/drills`: starts a drill; answers with its report.
pub async fn start(
    State(ctx): State<ApiContext>,
    w: Write<(), DrillRequest>,
) -> Result<Json<DrillReport>, ApiError> {
    let request = StartDrill {
        regions: w.body.regions.clone(),
        duration_secs: w.body.duration_secs,
        why: w.why.clone(),
        services: w.body.services.clone(),
        force: w.body.force,
        who: w.who.clone(),
        scheduled: None,
    };
    answer(&w, ctx.drills.start(request).await)
}

/// The report, or the error; refusals by the publisher are audited there,
/// ours here.
fn answer<T>(
    w: &Write<T, impl Sized>,
    result: Result<DrillReport, DrillError>,
) -> Result<Json<DrillReport>, ApiError> {
    match result {
        Ok(report) => Ok(Json(report)),
        Err(DrillError::Change(e)) => Err(e.into()),
        Err(e) => Err(w.refused(e.into())),
    }
}

/// `GET /v1/drills`: every drill, oldest first.
pub async fn list(State(ctx): State<ApiContext>, _: Reader) -> Json<DrillList> {
    let drills = ctx.drills.list().iter().map(DrillSummary::of).collect();
    Json(DrillList { drills })
}

/// `GET /v1/drills/{id}`: the report.
pub async fn show(
    State(ctx): State<ApiContext>,
    _: Reader,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<DrillReport>, ApiError> {
    let id = param(path)?;
    let report = ctx
        .drills
        .get(&id)
        .ok_or_else(|| ApiError::from(DrillError::UnknownDrill(id)))?;
    Ok(Json(report))
}

/// `POST /v1/drills/{id}/stop`: rolls the drill back now.
pub async fn stop(
    State(ctx): State<ApiContext>,
    w: Write<DrillId, DeleteRequest>,
) -> Result<Json<DrillReport>, ApiError> {
    let result = ctx.drills.stop(&w.target.0, &w.who, &w.why).await;
    answer(&w, result)
}
