//! Policy choice: a pure function of (plan, state, client, random source).
//!
//! Nothing here touches a socket, a clock or a lock, and nothing allocates:
//! a [`Decision`] names what to answer (a region, a failover tier, a few
//! shuffled endpoints...) by index into the plan, and
//! [`Decision::for_each_endpoint`] walks it. The random source is passed in
//! so tests can seed it.

use crate::geo::{GeoDb, Located, distance_km};
use crate::traffic::{
    AllDown, Client, EndpointAnswer, Policy, RegionId, Service, TrafficPlan, TrafficState,
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
pub const MAX_MULTIVALUE: usize = 16;

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
    /// on (the ECS scope before clamping to the source prefix).
    pub scope: u8,
    /// Chosen by policy, or by the all-down rule.
    pub reason: Reason,
    /// The client location, when the policy looked it up.
    pub located: Option<Located>,
}

impl Decision {
    /// Calls `f(region, endpoint)` for every endpoint to answer, in order.
    pub fn for_each_endpoint(
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

/// Runs `service`'s policy for `client`.
pub fn decide(
    plan: &TrafficPlan,
    state: &TrafficState,
    service: &Service,
    client: &Client,
    family: Family,
    geo: &GeoDb,
    rng: &mut fastrand::Rng,
) -> Decision {
    let available = |r: &RegionId| state.regions[*r].available();
    let full_scope = client.ecs_source_prefix.unwrap_or(0);
    let mut located = None;
    let (picks, scope) = match &service.policy {
        Policy::Failover { tiers } => {
            let tier = tiers.iter().position(|tier| tier.iter().any(available));
            (tier.map(Picks::Tier), 0)
        }
        Policy::Weighted => (weighted_pick(service, state, rng).map(Picks::Region), 0),
        Policy::Geo(rules) => {
            let (candidates, scope) = match rules.cidr.lookup(client.addr) {
                Some((regions, prefix)) => (regions, prefix),
                None => {
                    let found = geo.locate(client.addr);
                    located = Some(found);
                    let by_country = found.location.country.and_then(|c| rules.country.get(&c));
                    let by_continent = found
                        .location
                        .continent
                        .and_then(|c| rules.continent.get(&c));
                    let regions = by_country.or(by_continent).unwrap_or(&rules.default);
                    // Without a known network the answer may depend on every
                    // bit the client gave us; and a narrower CIDR rule inside
                    // the network means the answer holds only for part of it.
                    let scope = found.prefix.unwrap_or(full_scope);
                    let scope = rules
                        .cidr
                        .longest_inside(client.addr, scope)
                        .unwrap_or(scope)
                        .max(scope);
                    (regions, scope)
                }
            };
            (
                candidates
                    .iter()
                    .copied()
                    .find(available)
                    .map(Picks::Region),
                scope,
            )
        }
        Policy::Nearest { bias_km } => {
            let found = geo.locate(client.addr);
            located = Some(found);
            let scope = found.prefix.unwrap_or(full_scope);
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
            (pick.map(Picks::Region), scope)
        }
        Policy::Multivalue { max } => {
            (sample_endpoints(plan, service, state, family, *max, rng), 0)
        }
    };
    match picks {
        Some(picks) => Decision {
            picks,
            scope,
            reason: Reason::Chosen,
            located,
        },
        None => Decision {
            picks: all_down(state, service),
            scope,
            reason: Reason::AllDown(service.all_down),
            located,
        },
    }
}

/// One available region, drawn with probability proportional to weight.
fn weighted_pick(
    service: &Service,
    state: &TrafficState,
    rng: &mut fastrand::Rng,
) -> Option<RegionId> {
    let weight = |r: &RegionId| {
        let region = &state.regions[*r];
        if region.available() {
            region.weight as u64
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
