//! `GET /v1/status`: the server, its snapshot, reloads, tokens, drills,
//! and the cluster (store, instances, health votes).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::drills::report::{Phase, Verdict};
use crate::overrides::time::format as rfc3339;

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

/// The control-plane settings generation in force: one per load (start-up
/// is 1, every successful reload adds one; a failed reload keeps it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SettingsInfo {
    /// The generation the tokens, drill limits and health plan shown come
    /// from.
    pub generation: u64,
    /// When it was published (its load had just finished).
    #[schema(format = DateTime)]
    pub loaded_at: String,
    /// The generation whose health plan the health checker has applied
    /// (equal to `generation` once it caught up, a moment after a reload).
    pub health_checks: u64,
    /// `[drills] max_duration_secs` of this generation.
    pub drills_max_duration_secs: u64,
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
    /// The control-plane settings generation.
    pub settings: SettingsInfo,
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
