//! Policy choice: a pure function of (plan, state, client, random source).
//!
//! Nothing here touches a socket, a clock or a lock, and nothing allocates:
//! a [`Decision`] names what to answer (a region, a failover tier, a few
//! shuffled endpoints...) by index into the plan, and
//! [`Decision::for_each_endpoint`] walks it. The random source is passed in
//! so tests can seed it.

use std::net::IpAddr;

use crate::geo::{Code, GeoDb, Located, distance_km};
use crate::traffic::{
    AllDown, Client, EndpointAnswer, GeoRules, Policy, RegionId, Service, TrafficPlan, TrafficState,
};

/// Which endpoints the query can use: `multivalue` samples only those, so
/// an A query gets its `max_answers` addresses even when IPv6 endpoints
/// share the pool. Name targets suit every family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A queries.
    V4,
    /// AAAA queries.
    V6,
    /// Anything else.
    Any,
}

impl Family {
    fn admits(self, answer: &EndpointAnswer) -> bool {
        matches!(
            (self, answer),
            (Family::Any, _)
                | (_, EndpointAnswer::Target(_))
                | (Family::V4, EndpointAnswer::V4(_))
                | (Family::V6, EndpointAnswer::V6(_))
        )
    }
}

/// Most endpoints a `multivalue` answer may carry (checked at config load).
pub(crate) const MAX_MULTIVALUE: usize = 16;

/// Why the answer is what it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// The policy picked it.
    Chosen,
    /// No region was available; the service's all-down rule answered.
    AllDown(AllDown),
}

/// What to answer with, by index into the plan.
// The inline endpoint slots make this large, but a Picks lives on one
// query's stack; boxing them would allocate on every multivalue query.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Picks {
    /// The up endpoints of one region.
    Region(RegionId),
    /// The up endpoints of the available regions of failover tier `n`.
    Tier(usize),
    /// Every endpoint of one region (a fallback region with none up).
    AllOfRegion(RegionId),
    /// Every endpoint of every region of the service (fail open).
    AllOfService,
    /// These endpoints, in this (shuffled) order.
    Endpoints {
        /// (region, endpoint index) slots; the first `len` are used.
        slots: [(RegionId, usize); MAX_MULTIVALUE],
        /// How many slots are used.
        len: usize,
    },
    /// Nothing (the `empty` all-down rule).
    Nothing,
}

/// The outcome of a policy for one query.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What to answer with.
    pub picks: Picks,
    /// How many leading bits of the client address the decision depended
    /// on: every address sharing them gets the same decision. Never more
    /// than the ECS source prefix; 0 when the policy ignores location.
    pub scope: u8,
    /// Chosen by policy, or by the all-down rule.
    pub reason: Reason,
    /// The client location, when the policy looked it up.
    pub located: Option<Located>,
    /// `geo`: the rule whose list answered (`None` when every rule fell
    /// through to the all-down rule, and for other policies). `explain`
    /// reads it from here rather than walking the rules again.
    pub(crate) rule: Option<GeoStep>,
}

impl Decision {
    /// Calls `f(region, endpoint)` for every endpoint to answer, in order.
    pub(crate) fn for_each_endpoint(
        &self,
        plan: &TrafficPlan,
        state: &TrafficState,
        service: &Service,
        mut f: impl FnMut(RegionId, usize),
    ) {
        let mut up_of = |r: RegionId| {
            for (i, up) in state.regions[r].endpoints_up.iter().enumerate() {
                if *up {
                    f(r, i);
                }
            }
        };
        match &self.picks {
            Picks::Region(r) => up_of(*r),
            Picks::Tier(n) => {
                if let Policy::Failover { tiers } = &service.policy {
                    for &r in tiers[*n].iter().filter(|r| state.regions[**r].available()) {
                        up_of(r);
                    }
                }
            }
            Picks::AllOfRegion(r) => (0..plan.regions[*r].endpoints.len()).for_each(|i| f(*r, i)),
            Picks::AllOfService => {
                for &r in &service.regions {
                    (0..plan.regions[r].endpoints.len()).for_each(|i| f(r, i));
                }
            }
            Picks::Endpoints { slots, len } => slots[..*len].iter().for_each(|(r, i)| f(*r, *i)),
            Picks::Nothing => {}
        }
    }

    /// The endpoints as a list (for tests and explanations; allocates).
    pub fn endpoints(
        &self,
        plan: &TrafficPlan,
        state: &TrafficState,
        service: &Service,
    ) -> Vec<(RegionId, usize)> {
        let mut out = Vec::new();
        self.for_each_endpoint(plan, state, service, |r, i| out.push((r, i)));
        out
    }
}

/// One rule a `geo` policy tries, in the order it tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GeoStep {
    /// A CIDR rule (an entry of [`GeoRules::cidr`]): the most specific one
    /// containing the client first, then the ones enclosing it.
    Cidr(u32),
    /// The country rule for the client's country.
    Country(Code),
    /// The continent rule for the client's continent.
    Continent(Code),
    /// The `default` list.
    Default,
}

/// What walking the geo rules for one client saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GeoWalk {
    /// The step whose list `visit` accepted, if any.
    pub stopped: Option<GeoStep>,
    /// The client location, when the walk got past the CIDR rules.
    pub located: Option<Located>,
    /// How many leading bits of the address the steps taken depended on.
    pub depth: u8,
}

/// Walks the geo rules matching `addr`, most specific first (CIDR rules
/// from the narrowest to the widest containing the client, then country,
/// continent, default), calling `visit` with each rule's region list until
/// it returns true. The location is looked up only if the CIDR rules do
/// not settle it. [`decide`] and `explain` both walk through here, so the
/// fall-through they show cannot differ. Allocation-free.
pub(crate) fn geo_walk(
    rules: &GeoRules,
    geo: &GeoDb,
    addr: IpAddr,
    mut visit: impl FnMut(GeoStep, &[RegionId]) -> bool,
) -> GeoWalk {
    let cidr = rules.cidr.walk(addr);
    let mut walk = GeoWalk {
        stopped: None,
        located: None,
        // Every address within `depth` bits has the same chain of CIDR
        // rules, so a decision made by one of them holds for all.
        depth: cidr.depth,
    };
    let mut entry = cidr.best;
    while let Some(id) = entry {
        if visit(GeoStep::Cidr(id), rules.cidr.get(id).0) {
            walk.stopped = Some(GeoStep::Cidr(id));
            return walk;
        }
        entry = rules.cidr.parent(id);
    }
    let found = geo.locate(addr);
    walk.located = Some(found);
    walk.depth = walk.depth.max(found.depth);
    let by_country = found
        .location
        .country
        .and_then(|c| Some((GeoStep::Country(c), rules.country.get(&c)?)));
    let by_continent = found
        .location
        .continent
        .and_then(|c| Some((GeoStep::Continent(c), rules.continent.get(&c)?)));
    let steps = by_country
        .into_iter()
        .chain(by_continent)
        .chain([(GeoStep::Default, &rules.default)]);
    for (step, list) in steps {
        if visit(step, list) {
            walk.stopped = Some(step);
            return walk;
        }
    }
    walk
}

/// Region `r` can answer a query of `family`: it is available and, when it
/// has endpoints of that family, at least one of them is up. Failover is
/// per family (as with separate A and AAAA record sets elsewhere): a region
/// whose IPv4 endpoints are all down while its IPv6 ones are up is passed
/// over for A queries instead of answering them with NODATA. A region with
/// no endpoint of the family at all still answers for it (NODATA), so a
/// dual-stack service does not move AAAA traffic to another region only
/// because one region has no IPv6. Name targets suit every family.
fn serves(plan: &TrafficPlan, state: &TrafficState, r: RegionId, family: Family) -> bool {
    let region = &state.regions[r];
    if !region.available() {
        return false;
    }
    if family == Family::Any {
        return true;
    }
    let mut has_family = false;
    for (endpoint, up) in plan.regions[r].endpoints.iter().zip(&region.endpoints_up) {
        if family.admits(&endpoint.answer) {
            if *up {
                return true;
            }
            has_family = true;
        }
    }
    !has_family
}

/// Runs `service`'s policy for `client`.
pub(crate) fn decide(
    plan: &TrafficPlan,
    state: &TrafficState,
    service: &Service,
    client: &Client,
    family: Family,
    geo: &GeoDb,
    rng: &mut fastrand::Rng,
) -> Decision {
    let available = |r: &RegionId| serves(plan, state, *r, family);
    // IPv4-mapped clients are looked up as IPv4; the scope is put back in
    // the client's own terms at the end.
    let (client, mapped_bits) = client.effective();
    let mut located = None;
    let mut rule = None;
    // How many leading bits the decision depended on; `None` when it does
    // not depend on the client at all.
    let (picks, depth) = match &service.policy {
        Policy::Failover { tiers } => {
            let tier = tiers.iter().position(|tier| tier.iter().any(available));
            (tier.map(Picks::Tier), None)
        }
        Policy::Weighted => (
            weighted_pick(plan, service, state, family, rng).map(Picks::Region),
            None,
        ),
        Policy::Geo(rules) => {
            let mut pick = None;
            let walk = geo_walk(rules, geo, client.addr, |_, list| {
                pick = list.iter().copied().find(available);
                pick.is_some()
            });
            located = walk.located;
            rule = walk.stopped;
            (pick.map(Picks::Region), Some(walk.depth))
        }
        Policy::Nearest { bias_km } => {
            let found = geo.locate(client.addr);
            located = Some(found);
            let pick = match found.location.coordinates {
                Some(here) => service
                    .regions
                    .iter()
                    .zip(bias_km)
                    .filter(|(r, _)| available(r))
                    .filter_map(|(r, bias)| {
                        let there = plan.regions[*r].coordinates?;
                        Some((*r, distance_km(here, there) + bias))
                    })
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(r, _)| r),
                // Unknown location: the first available region, in order.
                None => service.regions.iter().copied().find(available),
            };
            (pick.map(Picks::Region), Some(found.depth))
        }
        Policy::Multivalue { max } => (
            sample_endpoints(plan, service, state, family, *max, rng),
            None,
        ),
    };
    let scope = match depth {
        None => 0,
        Some(depth) => {
            let depth = client.ecs_source_prefix.map_or(depth, |p| depth.min(p));
            depth + mapped_bits
        }
    };
    match picks {
        Some(picks) => Decision {
            picks,
            scope,
            reason: Reason::Chosen,
            located,
            rule,
        },
        None => Decision {
            picks: all_down(state, service),
            scope,
            reason: Reason::AllDown(service.all_down),
            located,
            rule,
        },
    }
}

/// One available region, drawn with probability proportional to weight.
fn weighted_pick(
    plan: &TrafficPlan,
    service: &Service,
    state: &TrafficState,
    family: Family,
    rng: &mut fastrand::Rng,
) -> Option<RegionId> {
    let weight = |r: &RegionId| {
        if serves(plan, state, *r, family) {
            state.regions[*r].weight as u64
        } else {
            0
        }
    };
    let total: u64 = service.regions.iter().map(weight).sum();
    if total == 0 {
        return None;
    }
    let mut draw = rng.u64(0..total);
    for r in &service.regions {
        let w = weight(r);
        if draw < w {
            return Some(*r);
        }
        draw -= w;
    }
    None
}

/// Up to `max` distinct up endpoints of the available regions, in random
/// order: Floyd's sampling over their positions, then a shuffle.
fn sample_endpoints(
    plan: &TrafficPlan,
    service: &Service,
    state: &TrafficState,
    family: Family,
    max: usize,
    rng: &mut fastrand::Rng,
) -> Option<Picks> {
    let pool = || {
        service
            .regions
            .iter()
            .filter(|r| state.regions[**r].available())
            .flat_map(move |&r| {
                state.regions[r]
                    .endpoints_up
                    .iter()
                    .enumerate()
                    .filter(move |(i, up)| {
                        **up && family.admits(&plan.regions[r].endpoints[*i].answer)
                    })
                    .map(move |(i, _)| (r, i))
            })
    };
    let total = pool().count();
    if total == 0 {
        return None;
    }
    let k = max.min(total).min(MAX_MULTIVALUE);
    let mut chosen = [0usize; MAX_MULTIVALUE];
    for (n, j) in (total - k..total).enumerate() {
        let t = rng.usize(0..=j);
        chosen[n] = if chosen[..n].contains(&t) { j } else { t };
    }
    rng.shuffle(&mut chosen[..k]);
    let mut slots = [(0, 0); MAX_MULTIVALUE];
    for (position, endpoint) in pool().enumerate() {
        for (slot, &c) in slots.iter_mut().zip(&chosen[..k]) {
            if c == position {
                *slot = endpoint;
            }
        }
    }
    Some(Picks::Endpoints { slots, len: k })
}

/// What to answer when no region is available.
fn all_down(state: &TrafficState, service: &Service) -> Picks {
    match service.all_down {
        AllDown::FailOpen => Picks::AllOfService,
        AllDown::Fallback(r) if state.regions[r].endpoints_up.iter().any(|up| *up) => {
            Picks::Region(r)
        }
        AllDown::Fallback(r) => Picks::AllOfRegion(r),
        AllDown::Empty => Picks::Nothing,
    }
}
