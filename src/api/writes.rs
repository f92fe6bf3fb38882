//! Write handlers: each takes a checked [`Write`] (token, path, body,
//! `why`, refusals audited) and sends one override change to the
//! publisher, which checks the safety rule, persists, publishes and
//! audits. Nothing here changes state by itself.

use std::time::SystemTime;

use axum::Json;
use axum::extract::State;

use super::ApiContext;
use super::errors::{ApiError, ErrorCode};
use super::extract::{OverrideId, RegionName, Write, WriteBody, check_expiry};
use crate::contract::{
    ChangeResult, DeleteRequest, DrainRequest, DrillRequest, ForceRequest, ForceTarget, Override,
    WeightRequest,
};
use crate::overrides::{Action, ForceState, MAX_WEIGHT, Report, Request, RequestKind};

impl WriteBody for WeightRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_expiry(self.expires_in_secs)?;
        if self.weight > MAX_WEIGHT {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                format!("`weight` must be between 0 and {MAX_WEIGHT}"),
            ));
        }
        Ok(())
    }
}

impl WriteBody for DrainRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_expiry(self.expires_in_secs)
    }
}

impl WriteBody for ForceRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_expiry(self.expires_in_secs)?;
        if self.state == ForceTarget::Clear && self.expires_in_secs.is_some() {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "`expires_in_secs` does not apply to `clear`",
            ));
        }
        Ok(())
    }
}

impl WriteBody for DeleteRequest {}

impl WriteBody for DrillRequest {}

/// Sends the request to the publisher and renders what it did.
async fn submit(ctx: &ApiContext, request: Request) -> Result<Json<ChangeResult>, ApiError> {
    let Report {
        generation,
        applied,
    } = ctx.publisher.change_overrides(request).await?;
    let now = SystemTime::now();
    Ok(Json(ChangeResult {
        generation,
        created: applied.created.as_ref().map(|o| Override::of(o, now)),
        removed: applied
            .removed
            .iter()
            .map(|o| Override::of(o, now))
            .collect(),
    }))
}

/// `PUT /v1/regions/{region}/weight`.
pub async fn put_weight(
    State(ctx): State<ApiContext>,
    w: Write<RegionName, WeightRequest>,
) -> Result<Json<ChangeResult>, ApiError> {
    let action = Action::Weight {
        weight: w.body.weight,
    };
    let region = w.target.0.clone();
    let kind = RequestKind::Set { region, action };
    submit(&ctx, w.change(kind, w.body.force, w.body.expires_in_secs)).await
}

/// `POST /v1/regions/{region}/drain`.
pub async fn post_drain(
    State(ctx): State<ApiContext>,
    w: Write<RegionName, DrainRequest>,
) -> Result<Json<ChangeResult>, ApiError> {
    let region = w.target.0.clone();
    let kind = RequestKind::Set {
        region,
        action: Action::Drain,
    };
    submit(&ctx, w.change(kind, w.body.force, w.body.expires_in_secs)).await
}

/// `POST /v1/regions/{region}/force`.
pub async fn post_force(
    State(ctx): State<ApiContext>,
    w: Write<RegionName, ForceRequest>,
) -> Result<Json<ChangeResult>, ApiError> {
    let region = w.target.0.clone();
    let state = match w.body.state {
        ForceTarget::Up => ForceState::Up,
        ForceTarget::Down => ForceState::Down,
        ForceTarget::Clear => {
            let kind = RequestKind::ClearForce { region };
            return submit(&ctx, w.change(kind, w.body.force, None)).await;
        }
    };
    let action = Action::Force { state };
    let kind = RequestKind::Set { region, action };
    submit(&ctx, w.change(kind, w.body.force, w.body.expires_in_secs)).await
}

/// `DELETE /v1/overrides/{id}`.
pub async fn delete_override(
    State(ctx): State<ApiContext>,
    w: Write<OverrideId, DeleteRequest>,
) -> Result<Json<ChangeResult>, ApiError> {
    let kind = RequestKind::Delete {
        id: w.target.0.clone(),
    };
    submit(&ctx, w.change(kind, w.body.force, None)).await
}
