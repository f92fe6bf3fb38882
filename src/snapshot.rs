//! The routing table snapshot: the one immutable value every query is
//! answered from, and the pure function that builds it from loaded
//! [`Inputs`], endpoint health and operator overrides.
//!
//! The publisher is the only code that builds snapshots and stores them; the
//! query path only ever calls `load()` on the shared [`SnapshotHandle`] and
//! answers from [`Snapshot::view`].

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::answer::{FastTable, View};
use crate::geo::GeoDb;
use crate::load::digest;
use crate::overrides::OverrideSet;
use crate::traffic::answer_metrics::AnswerMetrics;
use crate::traffic::{HealthInputs, RegionId, TrafficPlan, TrafficState};

/// Loading moved to `load`; re-exported here for old paths.
pub use crate::load::{Inputs, LoadError};

/// The lock-free cell the query path reads snapshots from.
pub(crate) type SnapshotHandle = Arc<ArcSwap<Snapshot>>;

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
    /// Where managed answers are counted (laid out like `plan`).
    pub answers: Arc<AnswerMetrics>,
    /// The digest of the config and zones this was built from (control
    /// plane only: a cluster's instances compare it).
    pub config_digest: Arc<digest::LazyDigest>,
    /// DNSSEC: the load's signed zones and this publish's managed-answer
    /// signatures (empty when nothing is signed).
    pub dnssec: crate::dnssec::Signing,
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
    pub(crate) fn build_with(
        inputs: &Inputs,
        health: &HealthInputs,
        overrides: &Arc<OverrideSet>,
        generation: u64,
        now: SystemTime,
    ) -> Snapshot {
        let state = TrafficState::compute(&inputs.plan, health, overrides);
        // Every answer variant of this state signed (unchanged ones reused).
        let dnssec = inputs
            .dnssec
            .for_snapshot(&inputs.zones, &inputs.plan, &state, now);
        Snapshot::assemble(inputs, state, dnssec, overrides, generation, now)
    }

    /// A snapshot of `state`: everything else is shared with every other
    /// snapshot of the same load (`Arc`s).
    fn assemble(
        inputs: &Inputs,
        state: TrafficState,
        dnssec: crate::dnssec::Signing,
        overrides: &Arc<OverrideSet>,
        generation: u64,
        now: SystemTime,
    ) -> Snapshot {
        Snapshot {
            generation,
            built_at: now,
            zones: inputs.zones.clone(),
            overrides: overrides.clone(),
            dnssec,
            state,
            plan: inputs.plan.clone(),
            geo: inputs.geo.clone(),
            edns_udp_payload: inputs.config.server.edns_udp_payload.max(512),
            fast: inputs.fast.clone(),
            nsid: inputs.nsid.clone(),
            answers: inputs.answers.clone(),
            config_digest: inputs.digest.clone(),
        }
    }

    /// The snapshot that follows `previous` when, since it was built, only
    /// endpoint health and overrides of the `changed` regions moved: every
    /// other region's state is copied, not computed, and everything else
    /// is shared. Gives exactly what [`Snapshot::build_with`] gives for
    /// the same inputs, health and overrides (property-tested in
    /// `publisher`), at the cost of the changed regions alone. Falls back
    /// to a full build when `previous` was built from another plan.
    pub fn rebuild(
        previous: &Snapshot,
        inputs: &Inputs,
        health: &HealthInputs,
        overrides: &Arc<OverrideSet>,
        changed: &[RegionId],
        generation: u64,
        now: SystemTime,
    ) -> Snapshot {
        if !Arc::ptr_eq(&previous.plan, &inputs.plan) {
            return Snapshot::build_with(inputs, health, overrides, generation, now);
        }
        let state = previous
            .state
            .recompute(&inputs.plan, health, overrides, changed);
        // Only the services of the changed regions are signed again.
        let dnssec = inputs.dnssec.for_rebuild(
            &previous.dnssec,
            &inputs.zones,
            &inputs.plan,
            &state,
            changed,
            now,
        );
        Snapshot::assemble(inputs, state, dnssec, overrides, generation, now)
    }

    /// The tables the query path reads, borrowed from this snapshot.
    pub fn view(&self) -> View<'_> {
        View {
            zones: &self.zones,
            plan: &self.plan,
            state: &self.state,
            geo: &self.geo,
            fast: &self.fast,
            nsid: &self.nsid,
            edns_udp_payload: self.edns_udp_payload,
            answers: &self.answers,
            dnssec: &self.dnssec,
        }
    }

    /// A copy that answers identically but counts nothing, for `explain`
    /// (asking why must not look like traffic).
    pub(crate) fn without_metrics(&self) -> Snapshot {
        Snapshot {
            answers: Arc::new(AnswerMetrics::disabled()),
            ..self.clone()
        }
    }
}
