//! Policy choice: a pure function of (plan, state, client, random source).
//!
//! Nothing here touches a socket, a clock or a lock; the random source is
//! passed in so tests can seed it.

use crate::geo::{GeoDb, Located, distance_km};
use crate::traffic::{AllDown, Client, Policy, RegionId, Service, TrafficPlan, TrafficState};

/// Why the answer is what it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// The policy picked these regions.
    Chosen,
    /// No region was available; the service's all-down rule answered.
    AllDown(AllDown),
}

/// The outcome of a policy for one query.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Chosen endpoints as (region, endpoint index), in answer order.
    pub endpoints: Vec<(RegionId, usize)>,
    /// How many leading bits of the client address the decision depended
    /// on (the ECS scope before clamping to the source prefix).
    pub scope: u8,
    /// Chosen by policy, or by the all-down rule.
    pub reason: Reason,
    /// The client location, when the policy looked it up.
    pub located: Option<Located>,
    /// Most records per answer type (`multivalue`); the endpoints are
    /// already shuffled, so the first of each family win.
    pub limit: Option<usize>,
}

/// Runs `service`'s policy for `client`.
pub fn decide(
    plan: &TrafficPlan,
    state: &TrafficState,
    service: &Service,
    client: &Client,
    geo: &GeoDb,
    rng: &mut fastrand::Rng,
) -> Decision {
    let available = |r: &RegionId| state.regions[*r].available();
    let full_scope = client.ecs_source_prefix.unwrap_or(0);
    let mut located = None;
    let (regions, scope): (Vec<RegionId>, u8) = match &service.policy {
        Policy::Failover { tiers } => {
            let tier = tiers
                .iter()
                .map(|tier| tier.iter().copied().filter(available).collect::<Vec<_>>())
                .find(|tier| !tier.is_empty());
            (tier.unwrap_or_default(), 0)
        }
        Policy::Weighted => (weighted_pick(service, state, rng).into_iter().collect(), 0),
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
            let first = candidates.iter().copied().find(available);
            (first.into_iter().collect(), scope)
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
            (pick.into_iter().collect(), scope)
        }
        Policy::Multivalue { max } => {
            let mut endpoints: Vec<(RegionId, usize)> = service
                .regions
                .iter()
                .copied()
                .filter(available)
                .flat_map(|r| up_endpoints(state, r))
                .collect();
            if !endpoints.is_empty() {
                // Shuffle everything and cap per family when answering, so
                // an A query gets `max` addresses even when AAAA endpoints
                // are mixed in.
                rng.shuffle(&mut endpoints);
                return Decision {
                    endpoints,
                    scope: 0,
                    reason: Reason::Chosen,
                    located,
                    limit: Some(*max),
                };
            }
            (Vec::new(), 0)
        }
    };
    let endpoints: Vec<(RegionId, usize)> = regions
        .iter()
        .flat_map(|&r| up_endpoints(state, r))
        .collect();
    if !endpoints.is_empty() {
        return Decision {
            endpoints,
            scope,
            reason: Reason::Chosen,
            located,
            limit: None,
        };
    }
    Decision {
        endpoints: all_down(plan, state, service),
        scope,
        reason: Reason::AllDown(service.all_down),
        located,
        limit: None,
    }
}

/// The up endpoints of region `r`.
fn up_endpoints(state: &TrafficState, r: RegionId) -> impl Iterator<Item = (RegionId, usize)> + '_ {
    state.regions[r]
        .endpoints_up
        .iter()
        .enumerate()
        .filter(|(_, up)| **up)
        .map(move |(i, _)| (r, i))
}

/// One available region, drawn with probability proportional to weight.
fn weighted_pick(
    service: &Service,
    state: &TrafficState,
    rng: &mut fastrand::Rng,
) -> Option<RegionId> {
    let total: u64 = service
        .regions
        .iter()
        .filter(|r| state.regions[**r].available())
        .map(|r| state.regions[*r].weight as u64)
        .sum();
    if total == 0 {
        return None;
    }
    let mut draw = rng.u64(0..total);
    for &r in &service.regions {
        let region = &state.regions[r];
        if !region.available() {
            continue;
        }
        let weight = region.weight as u64;
        if draw < weight {
            return Some(r);
        }
        draw -= weight;
    }
    None
}

/// The endpoints answered when no region is available.
fn all_down(plan: &TrafficPlan, state: &TrafficState, service: &Service) -> Vec<(RegionId, usize)> {
    let every = |r: RegionId| (0..plan.regions[r].endpoints.len()).map(move |i| (r, i));
    match service.all_down {
        AllDown::FailOpen => service.regions.iter().flat_map(|&r| every(r)).collect(),
        AllDown::Fallback(r) => {
            let up: Vec<_> = up_endpoints(state, r).collect();
            if up.is_empty() {
                every(r).collect()
            } else {
                up
            }
        }
        AllDown::Empty => Vec::new(),
    }
}
