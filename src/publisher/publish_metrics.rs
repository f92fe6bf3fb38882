//! The publisher's metrics: what each publish put in force (generation,
//! build time, overrides, region and endpoint gauges). Owned here, not in
//! `metrics`, so that `metrics` (names, exporter, rendering) stays a leaf.
//! Not on the query path, so it uses the `metrics` macros directly.

use std::time::Duration;

use crate::metrics::names;
use crate::snapshot::Snapshot;

fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}

/// Records a publish: `next` replaced `previous` (none for the first
/// snapshot) after `build` spent building it. Region and endpoint gauges
/// are set in full when the plan changed (first snapshot, reload), else
/// only where the state changed, so a health flap in a 10,000-endpoint
/// plan costs a handful of gauge updates.
pub(super) fn record_publish(previous: Option<&Snapshot>, next: &Snapshot, build: Duration) {
    metrics::gauge!(names::SNAPSHOT_GENERATION).set(next.generation as f64);
    metrics::counter!(names::SNAPSHOT_PUBLISHES).increment(1);
    metrics::histogram!(names::SNAPSHOT_BUILD_DURATION).record(build.as_secs_f64());
    metrics::gauge!(names::OVERRIDES_ACTIVE).set(next.overrides.iter().count() as f64);
    // A drill is running exactly while its forced-down overrides are in force.
    let drills: std::collections::BTreeSet<&str> = next
        .overrides
        .iter()
        .filter_map(|o| o.drill.as_deref())
        .collect();
    metrics::gauge!(names::DRILLS_ACTIVE).set(drills.len() as f64);
    let same_plan = previous.is_some_and(|p| std::sync::Arc::ptr_eq(&p.plan, &next.plan));
    for (r, region) in next.plan.regions.iter().enumerate() {
        let state = &next.state.regions[r];
        let before = previous.filter(|_| same_plan).map(|p| &p.state.regions[r]);
        let name = region.name.clone();
        if before.is_none_or(|b| b.healthy != state.healthy) {
            metrics::gauge!(names::REGION_HEALTHY, "region" => name.clone())
                .set(flag(state.healthy));
        }
        if before.is_none_or(|b| b.available() != state.available()) {
            metrics::gauge!(names::REGION_AVAILABLE, "region" => name.clone())
                .set(flag(state.available()));
        }
        if before.is_none_or(|b| b.weight != state.weight) {
            metrics::gauge!(names::REGION_WEIGHT, "region" => name.clone())
                .set(f64::from(state.weight));
        }
        for (i, endpoint) in region.endpoints.iter().enumerate() {
            let up = state.endpoints_up[i];
            if before.is_none_or(|b| b.endpoints_up[i] != up) {
                metrics::gauge!(names::ENDPOINT_UP,
                    "region" => name.clone(), "endpoint" => endpoint.id.clone())
                .set(flag(up));
            }
        }
    }
}
