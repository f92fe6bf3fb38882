//! Loading: what `switchyard check`, start-up and every reload run. Reads
//! the config file and every zone it names, validates them against each
//! other (file:line:field errors) and compiles what snapshots are built
//! from: the traffic plan, the health plan, the precompiled answers.
//!
//! Below `snapshot` (which builds routing tables from [`Inputs`], health
//! and overrides) and above `answer` (whose [`FastTable`] is built here
//! from the zones and the plan alone).

pub mod digest;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::answer::FastTable;
use crate::config::tokens::Tokens;
use crate::config::{Config, ConfigError};
use crate::geo::GeoDb;
use crate::health::HealthPlan;
use crate::traffic::answer_metrics::AnswerMetrics;
use crate::traffic::drill_plan::DrillPlan;
use crate::traffic::{TrafficPlan, compile};
use crate::zone::{ZoneError, ZoneSet, reload_zones_dir};

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
    /// The NSID option (code, length, value) answers carry when asked,
    /// encoded once per load; empty when disabled.
    pub nsid: Arc<[u8]>,
    /// Which endpoints are health-checked, and how.
    pub health: Arc<HealthPlan>,
    /// Control API tokens from `[api]` (control plane only; never in a snapshot).
    pub tokens: Arc<Tokens>,
    /// `[drills]`, validated against the regions and services.
    pub drills: Arc<DrillPlan>,
    /// Answer counters for `plan` (disabled when `[metrics] query_metrics`
    /// is off).
    pub answers: Arc<AnswerMetrics>,
    /// `[metrics] per_service_answers` resolved against `plan` (marked on
    /// `answers` here, and applied again by the publisher from the
    /// settings generation it publishes).
    pub(crate) exported: Arc<crate::traffic::answer_metrics::Exported>,
    /// The config digest (computed when first asked for).
    pub digest: Arc<digest::LazyDigest>,
    /// DNSSEC keys and the static signatures of the signed zones.
    pub dnssec: Arc<crate::dnssec::Dnssec>,
}

impl Inputs {
    /// Loads and validates the config file and every zone it names. `serve`,
    /// `check` and reloads all go through here, so they cannot disagree.
    pub fn load(config_path: &Path) -> Result<Inputs, LoadError> {
        Inputs::reload(config_path, None, true)
    }

    /// [`Inputs::load`] for a reload: zones of `previous` whose files have
    /// not changed are kept (shared, not parsed again), and the answer
    /// templates are built only when `templates` is true (otherwise `fast`
    /// is empty, every query takes the full path, until
    /// [`Inputs::build_templates`]' table is put in: a large reload goes
    /// this way so that the old and the new templates are never in memory
    /// together; see the publisher's `lean_reload`).
    pub(crate) fn reload(
        config_path: &Path,
        previous: Option<&ZoneSet>,
        templates: bool,
    ) -> Result<Inputs, LoadError> {
        let mut inputs = Inputs::load_without_templates(config_path, previous)?;
        if !templates {
            return Ok(inputs);
        }
        inputs.fast = Arc::new(inputs.build_templates());
        crate::zone::memory::note("templates built", 0);
        Ok(inputs)
    }

    /// Config and zones, checked and compiled, without answer templates.
    fn load_without_templates(
        config_path: &Path,
        previous: Option<&ZoneSet>,
    ) -> Result<Inputs, LoadError> {
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
        let zones =
            reload_zones_dir(&config.server.zones_dir, previous).map_err(LoadError::Zones)?;
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
        crate::zone::memory::note("zones loaded", 0);
        let digest = Arc::new(digest::LazyDigest::new(&config, zones.clone()));
        // Which services `/metrics` shows per service (validated here so a
        // bad name fails `check` and reloads like any config error).
        let exported = crate::traffic::answer_metrics::Exported::resolve(&config, &plan)
            .map_err(LoadError::Config)?;
        // Keys are read and static RRsets signed here, once per load (the
        // managed answers of the initial state with the templates).
        let now = crate::clock::now();
        let dnssec =
            Arc::new(crate::dnssec::Dnssec::load(&config, &zones, now).map_err(LoadError::Config)?);
        let answers = if config.metrics.query_metrics {
            AnswerMetrics::register(&plan, &exported)
        } else {
            AnswerMetrics::disabled()
        };
        Ok(Inputs {
            digest,
            nsid: crate::answer::nsid::encode(config.server.nsid.as_deref()),
            config,
            zones,
            plan: Arc::new(plan),
            geo: Arc::new(geo),
            fast: Arc::new(FastTable::default()),
            health: Arc::new(health),
            tokens: Arc::new(tokens),
            drills: Arc::new(drills),
            answers: Arc::new(answers),
            exported: Arc::new(exported),
            dnssec,
        })
    }

    /// The answer templates of these inputs. Templates depend on the zones
    /// and the plan only (policy answers are never templated), so they are
    /// built once per load; signed zones get templates with their RRSIGs
    /// too, and the managed answers of the initial state are signed here,
    /// so that the first publish finds them signed. Pure apart from the
    /// clock the signatures are dated by.
    pub(crate) fn build_templates(&self) -> FastTable {
        templates(&self.zones, &self.plan, &self.dnssec)
    }
}

/// [`Inputs::build_templates`] from the parts it reads (which a blocking
/// task can hold without copying the config).
pub(crate) fn templates(
    zones: &ZoneSet,
    plan: &TrafficPlan,
    dnssec: &Arc<crate::dnssec::Dnssec>,
) -> FastTable {
    let initial = crate::traffic::TrafficState::compute(
        plan,
        &crate::traffic::HealthInputs::new(),
        &crate::traffic::NoAdjustments,
    );
    let signing = dnssec.for_snapshot(zones, plan, &initial, crate::clock::now());
    FastTable::build_signed(zones, plan, &signing)
}
