//! Operator overrides: region weights, drains and forced states set through
//! the API, kept apart from health results (DESIGN §3.4: health never sets a
//! forced state).
//!
//! Everything here is pure: [`OverrideSet::apply`] computes the set a change
//! would leave, [`OverrideSet::expire`] the set left once expiries pass, and
//! [`newly_starved`] the safety rule (judging only the services of the
//! regions a change touches). The publisher runs them, persists
//! the result through [`store`] and writes [`audit`] lines; the clock is an
//! argument so tests can pin it.
//!
//! Per region there is at most one *weight* override (a weight or a drain)
//! and at most one *force* override (up or down): a new one replaces the
//! old, and the replaced override is reported so the audit trail says so.

pub mod audit;
pub mod store;
pub mod time;

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::traffic::{
    HealthInputs, RegionAdjustments, RegionId, RegionState, TrafficPlan, TrafficState,
};

/// Largest weight an override may set (keeps weighted sums far from overflow).
pub(crate) const MAX_WEIGHT: u32 = 1_000_000;

pub use crate::traffic::ForceState;

/// What an override does to its region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Sets the effective weight; health checks keep deciding availability.
    Weight {
        /// The weight answers use instead of the configured one.
        weight: u32,
    },
    /// Effective weight 0: no new answers point at the region, but its
    /// health checks keep running so an undrain is safe.
    Drain,
    /// Forces the region up or down, beating health.
    Force {
        /// The forced state.
        state: ForceState,
    },
}

impl Action {
    /// True for weight and drain (which replace each other).
    pub(crate) fn is_weight(&self) -> bool {
        matches!(self, Action::Weight { .. } | Action::Drain)
    }

    /// Short description for logs and the audit trail (`weight 50`, `drain`, `force down`).
    pub(crate) fn describe(&self) -> String {
        match self {
            Action::Weight { weight } => format!("weight {weight}"),
            Action::Drain => "drain".into(),
            Action::Force { state } => format!("force {}", state.as_str()),
        }
    }
}

/// One runtime change made by an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// Unique id (`ov-` and 12 hex digits), for `DELETE /v1/overrides/{id}`.
    pub id: String,
    /// The region it applies to (by name, so it survives config edits).
    pub region: String,
    /// What it does.
    #[serde(flatten)]
    pub action: Action,
    /// The name of the API token that made it.
    pub who: String,
    /// The operator's reason (required).
    pub why: String,
    /// When it was made.
    #[serde(with = "time::rfc3339")]
    pub created: SystemTime,
    /// When it lapses by itself, if ever.
    #[serde(with = "time::rfc3339_opt", default)]
    pub expires: Option<SystemTime>,
    /// The drill that created it (`dr-…`), if one did: ending the drill
    /// removes it. (Removing it any other way rolls the drill back.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<String>,
}

impl Override {
    /// True once `now` has reached its expiry.
    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }

    /// `drain us-east (ov-…)`, for audit lines.
    pub(crate) fn describe(&self) -> String {
        format!("{} {} ({})", self.action.describe(), self.region, self.id)
    }
}

/// A requested change, before the publisher checks and applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Adds an override, replacing the region's override of the same kind.
    Create(Override),
    /// Removes the override with this id.
    Delete(String),
    /// Removes the region's force override (`force clear`).
    ClearForce(String),
    /// Starts a drill: adds these forced-down overrides together (all or
    /// none), refusing regions that already have a forced state, which a
    /// drill's rollback could not give back.
    StartDrill(Vec<Override>),
    /// Ends a drill: removes every override it created (none left is fine:
    /// they may have expired already).
    EndDrill(String),
}

impl Change {
    /// What the audit trail calls it.
    pub(crate) fn describe(&self) -> String {
        match self {
            Change::Create(o) => format!("{} {}", o.action.describe(), o.region),
            Change::Delete(id) => format!("delete {id}"),
            Change::ClearForce(region) => format!("force clear {region}"),
            Change::StartDrill(list) => {
                let drill = list.first().and_then(|o| o.drill.as_deref()).unwrap_or("?");
                let regions: Vec<&str> = list.iter().map(|o| o.region.as_str()).collect();
                format!("drill {drill}: force down {}", regions.join(" "))
            }
            Change::EndDrill(drill) => format!("end drill {drill}"),
        }
    }
}

/// A change as the API asks for it: the publisher turns it into a
/// [`Change`] (minting the id and times) and applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What to change.
    pub kind: RequestKind,
    /// The token name of whoever asked.
    pub who: String,
    /// Their reason.
    pub why: String,
    /// Apply even if the safety rule refuses it.
    pub force: bool,
    /// Seconds until a created override lapses (`None`: never).
    pub expires_in_secs: Option<u64>,
}

/// The kinds of [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// Create an override on a region.
    Set {
        /// The region.
        region: String,
        /// What to do to it.
        action: Action,
    },
    /// Delete an override by id.
    Delete {
        /// The override's id.
        id: String,
    },
    /// Remove the region's forced state.
    ClearForce {
        /// The region.
        region: String,
    },
    /// Force these regions down for a drill, linked to its id.
    StartDrill {
        /// The drill's id.
        drill: String,
        /// The regions to take out.
        regions: Vec<String>,
    },
    /// Remove every override the drill created.
    EndDrill {
        /// The drill's id.
        drill: String,
    },
}

/// What the publisher reports for an applied change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The generation of the snapshot that carries the change.
    pub generation: u64,
    /// What changed.
    pub applied: Applied,
}

/// What a change did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The override created, if the change made one.
    pub created: Option<Override>,
    /// Overrides it removed (deleted, cleared, or replaced by `created`).
    pub removed: Vec<Override>,
    /// Every override a drill start created (one per region; `created`
    /// holds the first).
    pub drill_created: Vec<Override>,
}

impl Applied {
    /// The audit detail of an applied change after `prefix` (the
    /// generation, or the instance in a cluster): the ids created (every
    /// region's override for a drill start), what was removed, and the
    /// services `forced_past` the safety rule. One wording for the local
    /// publisher and the cluster writer, whose audit lines operators
    /// compare.
    pub(crate) fn audit_detail(&self, prefix: String, forced_past: &[String]) -> String {
        let mut detail = prefix;
        if !self.drill_created.is_empty() {
            let ids: Vec<&str> = self.drill_created.iter().map(|o| o.id.as_str()).collect();
            detail += &format!("; created {}", ids.join(" "));
        } else if let Some(created) = &self.created {
            detail += &format!("; created {}", created.id);
        }
        for removed in &self.removed {
            detail += &format!("; removed {}", removed.describe());
        }
        if !forced_past.is_empty() {
            detail += &format!(
                "; forced past the safety rule: {} left with no available region",
                forced_past.join(", ")
            );
        }
        detail
    }
}

/// Why a change cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// The region is not in the current config.
    #[error("unknown region {0:?}")]
    UnknownRegion(String),
    /// No override has this id.
    #[error("no override with id {0:?}")]
    UnknownOverride(String),
    /// `force clear` on a region with no forced state.
    #[error("region {0:?} has no forced state to clear")]
    NotForced(String),
    /// The safety rule: these services would be left with no available region.
    #[error(
        "refused: {} would have no available region (every region forced down or drained); repeat with `force: true` (ctl: --force) to do it anyway",
        .0.join(", ")
    )]
    Unsafe(Vec<String>),
    /// A drill cannot take out a region that already has a forced state:
    /// its rollback would remove the operator's override too.
    #[error("region {0:?} already has a forced state (or is in another drill); clear it first")]
    AlreadyForced(String),
    /// The new override set could not be written durably; nothing changed.
    #[error("cannot persist overrides, nothing changed: {0}")]
    Storage(String),
    /// The publisher is gone (shutting down).
    #[error("the publisher has stopped")]
    Stopped,
    /// The cluster store (etcd) cannot take the change now; nothing changed.
    #[error(
        "the cluster store is unavailable, nothing changed (answers keep coming from the last known state): {0}"
    )]
    ClusterUnavailable(String),
}

impl ChangeError {
    /// How the audit trail records a change that failed with this error
    /// (refused by the safety rule, or failed), counted once in
    /// `switchyard_override_changes_total` under the same label.
    pub(crate) fn count_outcome(&self) -> audit::Outcome {
        let (outcome, label) = match self {
            ChangeError::Unsafe(_) => (audit::Outcome::Refused, "refused"),
            _ => (audit::Outcome::Failed, "failed"),
        };
        metrics::counter!("switchyard_override_changes_total", "result" => label).increment(1);
        outcome
    }
}

/// The active overrides, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverrideSet {
    list: Vec<Override>,
}

impl OverrideSet {
    /// A set holding `list` as given (order kept).
    pub fn from_vec(list: Vec<Override>) -> OverrideSet {
        OverrideSet { list }
    }

    /// Every override, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Override> {
        self.list.iter()
    }

    /// Number of overrides.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The override with this id.
    pub fn get(&self, id: &str) -> Option<&Override> {
        self.list.iter().find(|o| o.id == id)
    }

    /// The overrides on `region`.
    pub(crate) fn for_region<'a>(&'a self, region: &'a str) -> impl Iterator<Item = &'a Override> {
        self.list.iter().filter(move |o| o.region == region)
    }

    /// The weight `region` answers with under its override, if it has one
    /// (a drain is 0).
    pub(crate) fn weight_of(&self, region: &str) -> Option<u32> {
        self.for_region(region).find_map(|o| match o.action {
            Action::Weight { weight } => Some(weight),
            Action::Drain => Some(0),
            Action::Force { .. } => None,
        })
    }

    /// The forced state of `region`, if any.
    pub(crate) fn force_of(&self, region: &str) -> Option<ForceState> {
        self.for_region(region).find_map(|o| match o.action {
            Action::Force { state } => Some(state),
            _ => None,
        })
    }

    /// The set `change` would leave, and what it did. Pure: `self` is not
    /// touched, so a refused or failed change leaves nothing half-applied.
    pub fn apply(
        &self,
        plan: &TrafficPlan,
        change: &Change,
    ) -> Result<(OverrideSet, Applied), ChangeError> {
        let mut next = self.clone();
        let mut applied = Applied::default();
        match change {
            Change::Create(o) => {
                if !plan.region_index.contains_key(&o.region) {
                    return Err(ChangeError::UnknownRegion(o.region.clone()));
                }
                let same_kind = |x: &Override| {
                    x.region == o.region && x.action.is_weight() == o.action.is_weight()
                };
                applied.removed = next.list.iter().filter(|x| same_kind(x)).cloned().collect();
                next.list.retain(|x| !same_kind(x));
                next.list.push(o.clone());
                applied.created = Some(o.clone());
            }
            Change::Delete(id) => {
                let Some(at) = next.list.iter().position(|o| &o.id == id) else {
                    return Err(ChangeError::UnknownOverride(id.clone()));
                };
                applied.removed.push(next.list.remove(at));
            }
            Change::ClearForce(region) => {
                if !plan.region_index.contains_key(region) {
                    return Err(ChangeError::UnknownRegion(region.clone()));
                }
                let forced =
                    |x: &Override| &x.region == region && matches!(x.action, Action::Force { .. });
                applied.removed = next.list.iter().filter(|x| forced(x)).cloned().collect();
                if applied.removed.is_empty() {
                    return Err(ChangeError::NotForced(region.clone()));
                }
                next.list.retain(|x| !forced(x));
            }
            Change::StartDrill(list) => {
                for o in list {
                    if !plan.region_index.contains_key(&o.region) {
                        return Err(ChangeError::UnknownRegion(o.region.clone()));
                    }
                    if next.force_of(&o.region).is_some() {
                        return Err(ChangeError::AlreadyForced(o.region.clone()));
                    }
                    next.list.push(o.clone());
                }
                applied.created = list.first().cloned();
                applied.drill_created = list.clone();
            }
            Change::EndDrill(drill) => {
                let ours = |x: &Override| x.drill.as_deref() == Some(drill.as_str());
                applied.removed = next.list.iter().filter(|x| ours(x)).cloned().collect();
                next.list.retain(|x| !ours(x));
            }
        }
        Ok((next, applied))
    }

    /// The set without the overrides expired at `now`, and those removed.
    pub(crate) fn expire(&self, now: SystemTime) -> (OverrideSet, Vec<Override>) {
        let (gone, kept): (Vec<Override>, Vec<Override>) =
            self.list.iter().cloned().partition(|o| o.expired(now));
        (OverrideSet { list: kept }, gone)
    }

    /// The earliest expiry still to come, for the publisher's timer.
    pub(crate) fn next_expiry(&self) -> Option<SystemTime> {
        self.list.iter().filter_map(|o| o.expires).min()
    }
}

/// What the traffic state reads from the overrides in force.
impl RegionAdjustments for OverrideSet {
    fn force_of(&self, region: &str) -> Option<ForceState> {
        OverrideSet::force_of(self, region)
    }

    fn weight_of(&self, region: &str) -> Option<u32> {
        OverrideSet::weight_of(self, region)
    }
}

/// Services left with no region that can really serve: one that is
/// available (not forced down, effective weight above 0) **and** passing its
/// health checks (endpoints without checks, and checked ones before their
/// first verdict, count as passing). A region forced up while its checks
/// fail does not count: answering from it means answering from dead
/// endpoints. Walks every service; the safety rule ([`newly_starved`])
/// looks only at the services a change can affect.
pub(crate) fn starved_services(
    plan: &TrafficPlan,
    health: &HealthInputs,
    overrides: &OverrideSet,
) -> Vec<String> {
    let state = TrafficState::compute(plan, health, overrides);
    plan.services
        .iter()
        .filter(|s| !s.regions.iter().any(|&r| state.regions[r].serving()))
        .map(|s| s.name.to_string())
        .collect()
}

/// The safety rule: services that `after` starves and `before` did not,
/// under the same health, in plan order. A service already starved (by an
/// earlier forced change, its config, or failing checks) does not block
/// unrelated changes.
///
/// In proportion to the change: only regions whose overrides differ
/// between the two sets can change state, only those whose serving status
/// flips can starve anyone, and only the services listing one of those
/// ([`TrafficPlan::services_in`]) are examined. Gives exactly what
/// [`newly_starved_full`] gives.
pub(crate) fn newly_starved(
    plan: &TrafficPlan,
    health: &HealthInputs,
    before: &OverrideSet,
    after: &OverrideSet,
) -> Vec<String> {
    let changed = changed_regions(plan, before, after);
    if changed.is_empty() {
        return Vec::new();
    }
    let mut serving = Serving {
        plan,
        health,
        before,
        after,
        changed: &changed,
        known: vec![None; plan.regions.len()],
    };
    let flipped: Vec<RegionId> = changed
        .iter()
        .copied()
        .filter(|&r| {
            let (was, is) = serving.get(r);
            was != is
        })
        .collect();
    // One region's list is already in plan order without repeats; several
    // are merged.
    let affected: Vec<usize> = match flipped.as_slice() {
        [r] => plan.services_in(*r).to_vec(),
        _ => {
            let mut merged: Vec<usize> = flipped
                .iter()
                .flat_map(|&r| plan.services_in(r).iter().copied())
                .collect();
            merged.sort_unstable();
            merged.dedup();
            merged
        }
    };
    affected
        .into_iter()
        .filter(|&s| {
            let (mut was, mut is) = (false, false);
            for &r in plan.regions_of(s) {
                let (b, a) = serving.get(r as usize);
                was |= b;
                is |= a;
            }
            was && !is
        })
        .map(|s| plan.services[s].name.to_string())
        .collect()
}

/// The safety rule judged by walking every service under both sets: what
/// every change cost before publishing became incremental, kept as the
/// reference [`newly_starved`] is tested against (and for the publisher's
/// full-rebuild mode).
pub(crate) fn newly_starved_full(
    plan: &TrafficPlan,
    health: &HealthInputs,
    before: &OverrideSet,
    after: &OverrideSet,
) -> Vec<String> {
    let already: HashSet<String> = starved_services(plan, health, before).into_iter().collect();
    starved_services(plan, health, after)
        .into_iter()
        .filter(|s| !already.contains(s))
        .collect()
}

/// The regions whose forced state or effective weight differ between
/// `before` and `after` (ascending; regions not in `plan` left out): the
/// only ones whose state can change when one set replaces the other.
pub(crate) fn changed_regions(
    plan: &TrafficPlan,
    before: &OverrideSet,
    after: &OverrideSet,
) -> Vec<RegionId> {
    let mut named: Vec<RegionId> = before
        .iter()
        .chain(after.iter())
        .filter_map(|o| plan.region_index.get(&o.region).copied())
        .collect();
    named.sort_unstable();
    named.dedup();
    named.retain(|&r| {
        let name = plan.regions[r].name.as_str();
        before.force_of(name) != after.force_of(name)
            || before.weight_of(name) != after.weight_of(name)
    });
    named
}

/// Per region, whether it serves under `before` and under `after`,
/// computed when first asked (the safety rule touches few regions).
struct Serving<'a> {
    plan: &'a TrafficPlan,
    health: &'a HealthInputs,
    before: &'a OverrideSet,
    after: &'a OverrideSet,
    /// Regions whose overrides differ (ascending); the rest serve alike.
    changed: &'a [RegionId],
    known: Vec<Option<(bool, bool)>>,
}

impl Serving<'_> {
    fn get(&mut self, r: RegionId) -> (bool, bool) {
        if let Some(Some(known)) = self.known.get(r) {
            return *known;
        }
        let Some(region) = self.plan.regions.get(r) else {
            return (false, false);
        };
        let was = RegionState::compute(region, self.health, self.before).serving();
        let is = if self.changed.binary_search(&r).is_ok() {
            RegionState::compute(region, self.health, self.after).serving()
        } else {
            was
        };
        self.known[r] = Some((was, is));
        (was, is)
    }
}

/// A fresh override id: `ov-` and 12 random hex digits, unique within `set`.
pub fn new_id(set: &OverrideSet, rng: &mut fastrand::Rng) -> String {
    loop {
        let id = format!("ov-{:012x}", rng.u64(..) & 0xffff_ffff_ffff);
        if set.get(&id).is_none() {
            return id;
        }
    }
}

/// `now + secs`, saturating far in the future rather than overflowing.
pub(crate) fn expiry_after(now: SystemTime, secs: u64) -> SystemTime {
    now.checked_add(Duration::from_secs(secs))
        .unwrap_or(now + Duration::from_secs(u32::MAX as u64))
}

#[cfg(test)]
mod tests;
