//! Response bodies of the read endpoints and of writes that succeed.
//! Times are RFC 3339 strings; `null` means "none" and is always present
//! unless a field says it is omitted.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::ClusterState;
use crate::overrides::time::format as rfc3339;
use crate::traffic::ForceState;

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Alive {
    /// Always `alive`.
    pub status: String,
}

/// `GET /readyz` when ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    /// Always `ready`.
    pub status: String,
    /// The snapshot generation served.
    pub generation: u64,
    /// Where operator state lives and whether this copy is current.
    pub cluster: ClusterState,
}

/// A forced state as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Forced {
    /// Forced up.
    Up,
    /// Forced down.
    Down,
}

impl From<ForceState> for Forced {
    fn from(state: ForceState) -> Forced {
        match state {
            ForceState::Up => Forced::Up,
            ForceState::Down => Forced::Down,
        }
    }
}

/// What an override does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverrideAction {
    /// Sets the effective weight (`weight`).
    Weight,
    /// Effective weight 0.
    Drain,
    /// Forces the region up or down (`state`).
    Force,
}

/// One active override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Override {
    /// `ov-` and 12 hex digits.
    pub id: String,
    /// The region it applies to.
    pub region: String,
    /// What it does.
    pub action: OverrideAction,
    /// For action `weight`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// For action `force`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Forced>,
    /// The token's name.
    pub who: String,
    /// The operator's reason.
    pub why: String,
    /// When it was made.
    #[schema(format = DateTime)]
    pub created: String,
    /// When it lapses by itself; `null` for never.
    #[schema(format = DateTime)]
    pub expires: Option<String>,
    /// Seconds left, when it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
    /// The drill that made it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<String>,
}

impl Override {
    /// The view of `o` at `now` (seconds left counted from `now`).
    pub fn of(o: &crate::overrides::Override, now: SystemTime) -> Override {
        use crate::overrides::Action;
        let (action, weight, state) = match o.action {
            Action::Weight { weight } => (OverrideAction::Weight, Some(weight), None),
            Action::Drain => (OverrideAction::Drain, None, None),
            Action::Force { state } => (OverrideAction::Force, None, Some(state.into())),
        };
        Override {
            id: o.id.clone(),
            region: o.region.clone(),
            action,
            weight,
            state,
            who: o.who.clone(),
            why: o.why.clone(),
            created: rfc3339(o.created),
            expires: o.expires.map(rfc3339),
            expires_in_secs: o
                .expires
                .map(|at| at.duration_since(now).map_or(0, |d| d.as_secs())),
            drill: o.drill.clone(),
        }
    }
}

/// `GET /v1/overrides`: active overrides, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OverrideList {
    /// The snapshot generation read.
    pub generation: u64,
    /// The overrides.
    pub overrides: Vec<Override>,
}

/// What a successful write did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChangeResult {
    /// The snapshot generation carrying the change.
    pub generation: u64,
    /// The override made, if any.
    pub created: Option<Override>,
    /// Deleted, cleared, or replaced by `created`.
    pub removed: Vec<Override>,
}

/// What an endpoint answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    /// An IPv4 address.
    A,
    /// An IPv6 address.
    Aaaa,
    /// A target name.
    Cname,
}

/// One endpoint of a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Endpoint {
    /// Its id (`[regions.x] endpoints[].id`, or its answer).
    pub id: String,
    /// What kind of record it answers with.
    pub kind: EndpointKind,
    /// The address or target name.
    pub answer: String,
    /// Where its health check goes, if elsewhere.
    pub probe: Option<String>,
    /// Whether answers include it.
    pub up: bool,
    /// The checker's view (state, consecutive counts, last probe, latency,
    /// last failure); `null` for unchecked endpoints.
    #[schema(value_type = Option<Object>)]
    pub check: Option<Value>,
}

/// One region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Region {
    /// `[regions.<name>]`.
    pub name: String,
    /// The weight in config.
    pub configured_weight: u32,
    /// The weight answers use (after overrides).
    pub effective_weight: u32,
    /// What health results alone say.
    pub checks_healthy: bool,
    /// Effective health, after any forced state.
    pub healthy: bool,
    /// The forced state, if any.
    pub forced: Option<Forced>,
    /// Effective weight 0.
    pub drained: bool,
    /// Healthy and effective weight above 0.
    pub available: bool,
    /// Endpoints that must be up for the region to be healthy.
    pub min_healthy: u64,
    /// Endpoints up now.
    pub endpoints_up: u64,
    /// `[latitude, longitude]`, when configured.
    pub coordinates: Option<Vec<f64>>,
    /// The services that use it.
    pub services: Vec<String>,
    /// Overrides on it.
    pub overrides: Vec<Override>,
    /// Its endpoints.
    pub endpoints: Vec<Endpoint>,
}

/// `GET /v1/regions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegionList {
    /// The snapshot generation read.
    pub generation: u64,
    /// Every region, in config order.
    pub regions: Vec<Region>,
}

/// A service's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyName {
    /// Tiers in order.
    Failover,
    /// By weight.
    Weighted,
    /// By client location rules.
    Geo,
    /// By distance.
    Nearest,
    /// Several endpoints at once.
    Multivalue,
}

/// What a service answers when no region is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllDownName {
    /// Answer as if every region were up.
    FailOpen,
    /// Answer from `fallback`.
    Fallback,
    /// Answer with no records.
    Empty,
}

/// One of a service's regions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceRegion {
    /// The region.
    pub name: String,
    /// Healthy and effective weight above 0.
    pub available: bool,
    /// Effective health.
    pub healthy: bool,
    /// The forced state, if any.
    pub forced: Option<Forced>,
    /// The weight in config.
    pub configured_weight: u32,
    /// The weight answers use.
    pub effective_weight: u32,
    /// Its endpoints.
    pub endpoints: Vec<Endpoint>,
}

/// One managed name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Service {
    /// The name, with the trailing dot.
    pub name: String,
    /// Its policy.
    pub policy: PolicyName,
    /// Answer TTL.
    pub ttl: u32,
    /// What it answers when no region is available.
    pub all_down: AllDownName,
    /// The fallback region, for `all_down = "fallback"`.
    pub fallback: Option<String>,
    /// Some region is available.
    pub available: bool,
    /// How many regions are.
    pub available_regions: u64,
    /// Failover: the tiers, by region name (omitted otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Vec<Vec<String>>>,
    /// Multivalue: most endpoints per answer (omitted otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_answers: Option<u64>,
    /// Its regions' state.
    pub regions: Vec<ServiceRegion>,
    /// Overrides on its regions.
    pub overrides: Vec<Override>,
}

/// `GET /v1/services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceList {
    /// The snapshot generation read.
    pub generation: u64,
    /// Every managed name.
    pub services: Vec<Service>,
}
