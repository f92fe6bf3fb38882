//! Response bodies of the read endpoints and of writes that succeed.
//! Times are RFC 3339 strings; `null` means "none" and is always present
//! unless a field says it is omitted.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::drills::report::{Phase, Verdict};
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

/// Where operator state lives and whether this instance's copy is current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClusterState {
    /// `local` (the state dir) or `etcd`.
    pub store: String,
    /// `[cluster] instance`.
    pub instance: Option<String>,
    /// The etcd key prefix.
    pub prefix: Option<String>,
    /// etcd answers and the watch runs (always true for `local`).
    pub connected: bool,
    /// Answers may lag the cluster: etcd is unreachable or has no quorum.
    pub stale: bool,
    /// Since when.
    #[schema(format = DateTime)]
    pub stale_since: Option<String>,
    /// The etcd revision applied here.
    pub revision: i64,
    /// The last store error.
    pub last_error: Option<String>,
}

impl From<&crate::cluster::status::ClusterStatus> for ClusterState {
    fn from(c: &crate::cluster::status::ClusterStatus) -> ClusterState {
        ClusterState {
            store: c.store.to_string(),
            instance: c.instance.clone(),
            prefix: c.prefix.clone(),
            connected: c.connected,
            stale: c.stale(),
            stale_since: c.stale_since.map(rfc3339),
            revision: c.revision,
            last_error: c.last_error.clone(),
        }
    }
}

/// The snapshot served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SnapshotInfo {
    /// Its generation.
    pub generation: u64,
    /// When it was built.
    #[schema(format = DateTime)]
    pub built_at: String,
    /// Seconds since.
    pub age_secs: f64,
}

/// What the snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    /// Zones loaded.
    pub zones: u64,
    /// Regions.
    pub regions: u64,
    /// Endpoints in all regions.
    pub endpoints: u64,
    /// Managed names.
    pub services: u64,
    /// Active overrides.
    pub overrides: u64,
}

/// The last reload (SIGHUP) and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LastReload {
    /// When.
    #[schema(format = DateTime)]
    pub at: String,
    /// Whether it was applied.
    pub ok: bool,
    /// The generation it published.
    pub generation: Option<u64>,
    /// Why it was refused.
    pub error: Option<String>,
}

/// The API's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthInfo {
    /// How many are configured.
    pub tokens: u64,
    /// Reads need a token too.
    pub protect_reads: bool,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// The server's version.
    pub version: String,
    /// Process start.
    #[schema(format = DateTime)]
    pub started_at: String,
    /// Seconds since.
    pub uptime_secs: u64,
    /// Zones loaded and a snapshot published.
    pub ready: bool,
    /// The snapshot served.
    pub snapshot: SnapshotInfo,
    /// What it holds.
    pub counts: Counts,
    /// The last reload, `null` when none since start.
    pub last_reload: Option<LastReload>,
    /// Tokens.
    pub auth: AuthInfo,
    /// Active drills and the last scheduled one.
    pub drills: DrillsStatus,
    /// The cluster store.
    pub cluster: ClusterState,
    /// This instance's `[cluster] instance`.
    pub instance: String,
    /// Every instance seen (in local mode: this one), sorted by name.
    pub instances: Vec<Instance>,
    /// How health verdicts are counted across the cluster (`null` in
    /// local mode).
    pub health_votes: Option<HealthVotes>,
}

/// Drills in `/v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct DrillsStatus {
    /// Drills not finished yet.
    pub active: Vec<ActiveDrill>,
    /// The last drill the schedule started, or tried to.
    pub last_scheduled: Option<LastScheduled>,
}

/// A drill not finished yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ActiveDrill {
    /// `dr-...`.
    pub id: String,
    /// The regions taken out.
    pub regions: Vec<String>,
    /// Where it is.
    pub phase: Phase,
    /// When it rolls back by itself.
    #[schema(format = DateTime)]
    pub ends_at: String,
}

/// The schedule's last run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LastScheduled {
    /// Index in `[[drills.schedule]]`.
    pub schedule: u64,
    /// When it ran.
    #[schema(format = DateTime)]
    pub at: String,
    /// The drill it started; `null` if it could not start one.
    pub drill: Option<String>,
    /// The drill's verdict (`fail` when it could not start).
    pub result: Verdict,
    /// Why it could not start.
    pub error: Option<String>,
}

/// One instance of the cluster, as the answering instance sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Instance {
    /// Its `[cluster] instance`.
    pub instance: String,
    /// Its lease-bound record exists in etcd (false: its lease expired).
    pub live: bool,
    /// SHA-256 of its zones and shared config, hex.
    pub config_digest: String,
    /// The snapshot generation it serves.
    pub generation: u64,
    /// When it started.
    #[schema(format = DateTime)]
    pub started: String,
    /// When it last renewed its record.
    #[schema(format = DateTime)]
    pub last_contact: String,
    /// Same digest as the instance answering.
    pub config_matches: bool,
}

/// Where verdicts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoteSource {
    /// Counted across the cluster.
    Cluster,
    /// etcd cannot be followed: this instance's own verdicts apply.
    Local,
}

/// Where one endpoint's verdict comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TallySource {
    /// The cluster's votes.
    Votes,
    /// This instance's own check.
    Local,
}

/// How health verdicts are counted across the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthVotes {
    /// `[health] quorum`.
    pub quorum: String,
    /// Where verdicts come from now.
    pub source: VoteSource,
    /// Since when.
    #[schema(format = DateTime)]
    pub since: String,
    /// Why etcd cannot be followed.
    pub error: Option<String>,
    /// Each endpoint's count.
    pub endpoints: Vec<VoteTally>,
}

/// One endpoint's votes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VoteTally {
    /// The region.
    pub region: String,
    /// The endpoint.
    pub endpoint: String,
    /// Instances that see it up.
    pub up_votes: u64,
    /// Instances that see it down.
    pub down_votes: u64,
    /// The verdict given to the publisher.
    pub up: bool,
    /// Where the verdict comes from.
    pub source: TallySource,
}

/// One line of `GET /v1/drills`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DrillSummary {
    /// `dr-...`.
    pub id: String,
    /// The regions taken out.
    pub regions: Vec<String>,
    /// The services verified.
    pub services: Vec<String>,
    /// The token's name.
    pub who: String,
    /// The reason.
    pub why: String,
    /// Index in `[[drills.schedule]]` for scheduled drills.
    pub scheduled: Option<u64>,
    /// Where it is.
    pub phase: Phase,
    /// Its verdict.
    pub result: Verdict,
    /// When it was made.
    #[schema(format = DateTime)]
    pub created: String,
    /// When it ends.
    #[schema(format = DateTime)]
    pub ends_at: String,
    /// When it finished.
    #[schema(format = DateTime)]
    pub finished: Option<String>,
    /// Service and vantage pairs verified.
    pub pairs: u64,
    /// Pairs that failed.
    pub failed_pairs: u64,
    /// The slowest convergence seen.
    pub max_convergence_ms: Option<f64>,
}

impl DrillSummary {
    /// The summary of `report`.
    pub fn of(report: &crate::drills::report::DrillReport) -> DrillSummary {
        let failed = report
            .pairs
            .iter()
            .filter(|p| p.result == Verdict::Fail)
            .count();
        DrillSummary {
            id: report.id.clone(),
            regions: report.regions.clone(),
            services: report.services.clone(),
            who: report.who.clone(),
            why: report.why.clone(),
            scheduled: report.scheduled.map(|s| s as u64),
            phase: report.phase,
            result: report.result,
            created: rfc3339(report.created),
            ends_at: rfc3339(report.ends_at),
            finished: report.finished.map(rfc3339),
            pairs: report.pairs.len() as u64,
            failed_pairs: failed as u64,
            max_convergence_ms: report.impact.max_convergence_ms,
        }
    }
}

/// `GET /v1/drills`: every drill, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DrillList {
    /// The drills.
    pub drills: Vec<DrillSummary>,
}
