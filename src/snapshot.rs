//! The routing table snapshot: the one immutable value every query is
//! answered from, and the pure function that builds it.
//!
//! The publisher is the only code that builds snapshots and stores them; the
//! query path only ever calls `load()` on the shared [`SnapshotHandle`].

pub mod digest;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::answer::FastTable;
use crate::config::tokens::Tokens;
use crate::config::{Config, ConfigError};
use crate::geo::GeoDb;
use crate::health::HealthPlan;
use crate::overrides::OverrideSet;
use crate::traffic::answer_metrics::AnswerMetrics;
use crate::traffic::drill_plan::DrillPlan;
use crate::traffic::{HealthInputs, TrafficPlan, TrafficState, compile};
use crate::zone::{ZoneError, load_zones_dir};

/// The lock-free cell the query path reads snapshots from.
pub type SnapshotHandle = Arc<ArcSwap<Snapshot>>;

/// Every served zone; defined in `zone` (re-exported here for old paths).
pub use crate::zone::ZoneSet;

/// The immutable routing table: everything a query needs, precompiled.
///
/// Cloning is cheap (shared parts are `Arc`s; the per-region state is
/// copied) and is for `explain`, which answers from a copy that records no
/// metrics.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Increases by one with every publish, so operators can see swaps happen.
    pub generation: u64,
    /// When the publisher built it.
    pub built_at: SystemTime,
    /// The served zones.
    pub zones: Arc<ZoneSet>,
    /// Regions and services as configured (shared across publishes).
    pub plan: Arc<TrafficPlan>,
    /// Per-region health and effective weight for this publish.
    pub state: TrafficState,
    /// Client location sources.
    pub geo: Arc<GeoDb>,
    /// Largest UDP response for EDNS clients (from `server.edns_udp_payload`).
    pub edns_udp_payload: u16,
    /// Precompiled wire answers for the static part of the zones.
    pub fast: Arc<FastTable>,
    /// The NSID option (code, length, value) to add to answers of queries
    /// that ask for it, encoded once here; empty when disabled.
    pub nsid: Arc<[u8]>,
    /// The operator overrides `state` was computed with (for the API).
    pub overrides: Arc<OverrideSet>,
    /// Drill settings from `[drills]` (control plane only; carried here so
    /// drills follow reloads like everything else).
    pub drills: Arc<DrillPlan>,
    /// Where managed answers are counted (laid out like `plan`).
    pub answers: Arc<AnswerMetrics>,
    /// The digest of the config and zones this was built from (control
    /// plane only: a cluster's instances compare it).
    pub config_digest: Arc<digest::LazyDigest>,
}

impl Snapshot {
    /// Builds a snapshot from validated inputs and current endpoint health,
    /// with no overrides. Pure: same inputs, same table.
    pub fn build(
        inputs: &Inputs,
        health: &HealthInputs,
        generation: u64,
        now: SystemTime,
    ) -> Snapshot {
        Snapshot::build_with(inputs, health, &Arc::default(), generation, now)
    }

    /// Builds a snapshot from validated inputs, endpoint health and operator
    /// overrides. Pure: same inputs, same table.
    pub fn build_with(
        inputs: &Inputs,
        health: &HealthInputs,
        overrides: &Arc<OverrideSet>,
        generation: u64,
        now: SystemTime,
    ) -> Snapshot {
        Snapshot {
            generation,
            built_at: now,
            zones: inputs.zones.clone(),
            overrides: overrides.clone(),
            state: TrafficState::compute(&inputs.plan, health, overrides),
            plan: inputs.plan.clone(),
            geo: inputs.geo.clone(),
            edns_udp_payload: inputs.config.server.edns_udp_payload.max(512),
            fast: inputs.fast.clone(),
            nsid: crate::answer::nsid::encode(inputs.config.server.nsid.as_deref()),
            drills: inputs.drills.clone(),
            answers: inputs.answers.clone(),
            config_digest: inputs.digest.clone(),
        }
    }

    /// A copy that answers identically but counts nothing, for `explain`
    /// (asking why must not look like traffic).
    pub fn without_metrics(&self) -> Snapshot {
        Snapshot {
            answers: Arc::new(AnswerMetrics::disabled()),
            ..self.clone()
        }
    }
}

/// Why configuration or zones could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The config file is wrong.
    Config(Vec<ConfigError>),
    /// One or more zone files are wrong.
    Zones(Vec<ZoneError>),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = match self {
            LoadError::Config(errors) => errors.iter().map(|e| e.to_string()).collect(),
            LoadError::Zones(errors) => errors.iter().map(|e| e.to_string()).collect(),
        };
        write!(f, "{}", lines.join("\n"))
    }
}

impl std::error::Error for LoadError {}

/// Validated inputs for a snapshot: what `check` verifies and `serve` serves.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The parsed configuration.
    pub config: Config,
    /// Every zone from `zones_dir`, indexed.
    pub zones: Arc<ZoneSet>,
    /// Regions and services, checked against the zones.
    pub plan: Arc<TrafficPlan>,
    /// Client location sources named by `[geo]`.
    pub geo: Arc<GeoDb>,
    /// Precompiled answers for these zones and services (see [`FastTable`]).
    pub fast: Arc<FastTable>,
    /// Which endpoints are health-checked, and how.
    pub health: Arc<HealthPlan>,
    /// Control API tokens from `[api]` (control plane only; never in a snapshot).
    pub tokens: Arc<Tokens>,
    /// `[drills]`, validated against the regions and services.
    pub drills: Arc<DrillPlan>,
    /// Answer counters for `plan` (disabled when `[metrics] query_metrics`
    /// is off).
    pub answers: Arc<AnswerMetrics>,
    /// The config digest (computed when first asked for).
    pub digest: Arc<digest::LazyDigest>,
}

impl Inputs {
    /// Loads and validates the config file and every zone it names. `serve`,
    /// `check` and reloads all go through here, so they cannot disagree.
    pub fn load(config_path: &Path) -> Result<Inputs, LoadError> {
        let mut config = Config::load(config_path).map_err(|e| LoadError::Config(vec![e]))?;
        // NSID defaults to the instance name (`[cluster] instance`, itself
        // the host name by default), so `dig +nsid` names the nameserver as
        // `/v1/status` does; read here (loading does I/O; building does not).
        let instance = config.cluster.instance.clone();
        config.server.nsid.get_or_insert_with(|| {
            if instance.is_empty() {
                crate::answer::nsid::host_name()
            } else {
                instance
            }
        });
        let zones = load_zones_dir(&config.server.zones_dir).map_err(LoadError::Zones)?;
        let zones = ZoneSet::new(zones);
        let geo = GeoDb::load(&config);
        let plan = compile(&config, &zones);
        // Checks are resolved against the compiled regions, so they are
        // validated only once those compile.
        let health = match &plan {
            Ok(plan) => Some(crate::health::compile(&config, plan)),
            Err(_) => None,
        };
        let tokens = Tokens::load(&config);
        let drills = match &plan {
            Ok(plan) => Some(crate::traffic::drill_plan::compile(&config, plan)),
            Err(_) => None,
        };
        let (geo, plan, health, tokens, drills) = match (geo, plan, health, tokens, drills) {
            (Ok(geo), Ok(plan), Some(Ok(health)), Ok(tokens), Some(Ok(drills))) => {
                (geo, plan, health, tokens, drills)
            }
            (geo, plan, health, tokens, drills) => {
                let mut errors = geo.err().unwrap_or_default();
                errors.extend(plan.err().unwrap_or_default());
                errors.extend(health.and_then(Result::err).unwrap_or_default());
                errors.extend(tokens.err().unwrap_or_default());
                errors.extend(drills.and_then(Result::err).unwrap_or_default());
                return Err(LoadError::Config(errors));
            }
        };
        let zones = Arc::new(zones);
        let digest = Arc::new(digest::LazyDigest::new(&config, zones.clone()));
        // Which services `/metrics` shows per service (validated here so a
        // bad name fails `check` and reloads like any config error).
        let exported = crate::traffic::answer_metrics::Exported::resolve(&config, &plan)
            .map_err(LoadError::Config)?;
        let mut inputs = Inputs {
            digest,
            config,
            zones,
            plan: Arc::new(plan),
            geo: Arc::new(geo),
            fast: Arc::new(FastTable::default()),
            health: Arc::new(health),
            tokens: Arc::new(tokens),
            drills: Arc::new(drills),
            answers: Arc::new(AnswerMetrics::disabled()),
        };
        // Templates come from the full path, which needs a snapshot to run on;
        // health does not matter for them (policy answers are never templated).
        // Its answer counters stay disabled: precompiling is not traffic.
        let probe = Snapshot::build(&inputs, &HealthInputs::new(), 0, SystemTime::UNIX_EPOCH);
        inputs.fast = Arc::new(FastTable::build(&probe));
        if inputs.config.metrics.query_metrics {
            inputs.answers = Arc::new(AnswerMetrics::register(&inputs.plan, &exported));
        }
        Ok(inputs)
    }
}
