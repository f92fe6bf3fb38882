//! Reloads of large zones without the old and the new answer templates in
//! memory at once.
//!
//! A reload keeps the old zones serving while the new ones load, so its
//! peak holds two generations. Measured on a 1M-record zone (ARCHITECTURE.md
//! "Reload peak"), the templates (`FastTable`) are more than half of a
//! generation and can be rebuilt from the zones at any time, while the zone
//! store is what the full path answers from. So when the served zones hold
//! at least [`LEAN_RELOAD_NAMES`] names, a reload:
//!
//! 1. drops the old templates (the snapshot in force is swapped for the
//!    same one without them, same generation: the same answers, from the
//!    full path, which needs only the zones);
//! 2. loads config and zones without templates and publishes them (the old
//!    zones are freed);
//! 3. builds the new templates on a blocking thread and swaps them in, again
//!    without a new generation.
//!
//! Queries are answered throughout, by the full path from step 1 to 3 (about
//! 2.3 µs of CPU a query instead of 0.1-0.2 µs; the kernel's UDP path costs
//! about 3 µs either way). A failed load rebuilds the old templates. Smaller
//! zones reload as before (templates built with the zones), since their
//! second generation costs little.

use std::sync::Arc;

use crate::answer::FastTable;
use crate::dnssec::Dnssec;
use crate::load::Inputs;
use crate::snapshot::Snapshot;
use crate::traffic::TrafficPlan;
use crate::zone::ZoneSet;

use super::Publisher;

/// Names in the served zones from which reloads drop the templates first
/// (100,000 names: ~10-20 MB of templates, the level at which a second
/// generation starts to show next to the process's ~40 MB base).
pub(crate) const LEAN_RELOAD_NAMES: usize = 100_000;

/// Templates being built for the zones and plan they were started for.
pub(super) struct Building {
    pub(super) task: tokio::task::JoinHandle<FastTable>,
    zones: Arc<ZoneSet>,
    plan: Arc<TrafficPlan>,
    started: std::time::Instant,
}

impl Building {
    /// Builds the templates of `inputs` on a blocking thread.
    pub(super) fn start(inputs: &Inputs) -> Building {
        let (zones, plan, dnssec): (_, _, Arc<Dnssec>) = (
            inputs.zones.clone(),
            inputs.plan.clone(),
            inputs.dnssec.clone(),
        );
        let task = {
            let (zones, plan) = (zones.clone(), plan.clone());
            tokio::task::spawn_blocking(move || {
                let table = crate::load::templates(&zones, &plan, &dnssec);
                crate::zone::memory::note("templates built", 0);
                table
            })
        };
        Building {
            task,
            zones,
            plan,
            started: std::time::Instant::now(),
        }
    }
}

impl Publisher {
    /// Whether the served zones are large enough for a lean reload.
    fn lean_reload_pays(&self) -> bool {
        self.inputs
            .zones
            .iter()
            .map(|zone| zone.name_count())
            .sum::<usize>()
            >= self.lean_reload_names
    }

    /// Before a reload loads: drops the templates when the zones are large
    /// (step 1). Returns whether the load must go without templates (also
    /// when an earlier lean reload's templates are not back yet).
    pub(super) fn begin_reload(&mut self) -> bool {
        if !self.templates_missing && self.lean_reload_pays() {
            self.swap_templates(Arc::new(FastTable::default()));
            self.templates_missing = true;
            crate::zone::memory::note("templates dropped", 0);
        }
        self.templates_missing
    }

    /// Puts templates built by [`Building`] in force (step 3), unless the
    /// inputs they were built for have been replaced meanwhile.
    pub(super) fn install_templates(&mut self, building: &Building, table: FastTable) {
        if !Arc::ptr_eq(&building.zones, &self.inputs.zones)
            || !Arc::ptr_eq(&building.plan, &self.inputs.plan)
        {
            return;
        }
        self.swap_templates(Arc::new(table));
        self.templates_missing = false;
        crate::zone::memory::note("templates installed", 0);
        // How long the full path answered alone after the reload.
        tracing::info!(
            build_ms = building.started.elapsed().as_secs_f64() * 1e3,
            "answer templates rebuilt after a lean reload"
        );
    }

    /// Serves `fast` from now on: in the inputs, for later publishes, and in
    /// the snapshot in force, which is replaced by the same snapshot with
    /// these templates (same generation: the answers do not change, only
    /// which path gives them).
    fn swap_templates(&mut self, fast: Arc<FastTable>) {
        self.inputs.fast = fast.clone();
        let previous = self.snapshot.load_full();
        let next = Snapshot {
            fast,
            ..Snapshot::clone(&previous)
        };
        self.snapshot.store(Arc::new(next));
        // The old templates go with the last reader of the old snapshot;
        // this task should not be the one that frees them.
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::task::spawn_blocking(move || drop(previous));
        }
    }
}
