//! Control-plane settings: the one way settings that change on reload
//! reach the control plane.
//!
//! Every load (start-up) and every successful reload produces one
//! immutable [`Settings`] generation: the API tokens, the health plan, the
//! drill settings, which services `/metrics` shows per service, and the
//! last reload's outcome. The publisher is its only writer and hands it
//! out through one `tokio::sync::watch` channel ([`SettingsWatch`]), which
//! gives every consumer both "read the current generation"
//! (`borrow()`) and "wait for the next one" (`changed()`): API auth and
//! `/v1/status` read it per request, the health scheduler follows it (as a
//! [`PlanSource`]), drills and the cluster's orphan check read their
//! timeouts from it.
//!
//! The query path never reads it: what a query needs travels in the
//! snapshot only. Kept out of the snapshot because the query path never
//! needs it (and tokens are secrets).
//!
//! A failed reload publishes no new generation: every setting and the
//! generation number stay as they were; only `last_reload` says why it
//! failed (in a value with the same generation, so consumers that follow
//! the channel wake up, see the same `Arc`s and change nothing).
//!
//! Settings read only at start-up (listeners, `[rrl]`, `[log.queries]`,
//! `[metrics] listen` and `query_metrics`, `[cluster]`, `[api]` limits and
//! audit rotation, `[health] max_concurrent_probes` and `source_address`,
//! `[[drills.schedule]]`) are not applied from later generations: they
//! come from the first load, and a reload does not change them.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;

use crate::config::tokens::Tokens;
use crate::health::HealthPlan;
use crate::health::scheduler::PlanSource;
use crate::load::Inputs;
use crate::traffic::answer_metrics::Exported;
use crate::traffic::drill_plan::DrillPlan;

/// One generation of the control-plane settings; see the module docs.
/// Immutable once published: a change is a new generation.
#[derive(Debug, Clone)]
pub struct Settings {
    /// 1 for the settings loaded at start-up, one more for every
    /// successful reload (a failed reload keeps the number).
    pub generation: u64,
    /// When it was published (its load had just finished).
    pub loaded_at: SystemTime,
    /// API tokens and read protection (`[api]`).
    pub tokens: Arc<Tokens>,
    /// Which endpoints are health-checked, and how (`[checks]`, regions,
    /// `[health]`). The same `Arc` as the previous generation's when a
    /// reload left it equal, so followers can tell "unchanged" cheaply.
    pub health: Arc<HealthPlan>,
    /// `[drills]`: durations, vantages, timeouts.
    pub drills: Arc<DrillPlan>,
    /// `[metrics] per_service_answers`, resolved against the plan.
    pub(crate) exported: Arc<Exported>,
    /// The outcome of the latest reload, if there has been one (the only
    /// field a failed reload changes).
    pub last_reload: Option<ReloadReport>,
}

/// How a reload went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// When it finished.
    pub at: SystemTime,
    /// The snapshot generation it published, or why it failed (the old
    /// snapshot and settings kept serving).
    pub result: Result<u64, String>,
}

/// What consumers hold: the current generation now, and a wake-up when
/// the next one is published. Cheap to clone.
pub type SettingsWatch = watch::Receiver<Arc<Settings>>;

impl Settings {
    /// The settings of freshly loaded `inputs`, as generation
    /// `generation`. Parts equal to `previous`'s keep its `Arc`s.
    pub(crate) fn from_inputs(
        inputs: &Inputs,
        generation: u64,
        previous: Option<&Settings>,
        last_reload: Option<ReloadReport>,
    ) -> Settings {
        let health = match previous {
            Some(p) if *p.health == *inputs.health => p.health.clone(),
            _ => inputs.health.clone(),
        };
        Settings {
            generation,
            loaded_at: crate::clock::now(),
            tokens: inputs.tokens.clone(),
            health,
            drills: inputs.drills.clone(),
            exported: inputs.exported.clone(),
            last_reload,
        }
    }

    /// The same generation with a new reload outcome (a failed reload).
    pub(crate) fn with_reload(&self, report: ReloadReport) -> Settings {
        Settings {
            last_reload: Some(report),
            ..self.clone()
        }
    }
}

/// The health scheduler follows the health plan of each generation.
impl PlanSource for Arc<Settings> {
    fn health_plan(&self) -> &Arc<HealthPlan> {
        &self.health
    }

    fn generation(&self) -> u64 {
        self.generation
    }
}
