//! Traffic management: regions, endpoints, services and the policies that
//! pick among them.
//!
//! Two layers, so a health change does not re-validate the config:
//! - [`TrafficPlan`]: the validated, indexed shape of regions and services,
//!   compiled once per config load by [`compile`].
//! - [`TrafficState`]: per region, whether it is healthy, its effective
//!   weight, and which endpoints are up; [`RegionState::compute`] is the one
//!   function that decides them. A publish recomputes only the regions
//!   whose health or overrides changed ([`TrafficState::recompute`]), and
//!   [`TrafficPlan::services_in`] names the services those can affect.
//!
//! [`policy::decide`] is a pure function of (plan, state, client, random
//! source): the query path and `explain` both call it.

pub mod drill_plan;
mod plan;
pub mod policy;

pub use plan::compile;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

use hickory_proto::rr::Name;

use crate::geo::{Code, PrefixTrie};
use serde::{Deserialize, Serialize};

/// Index of a region in [`TrafficPlan::regions`].
pub type RegionId = usize;

/// What an endpoint contributes to an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointAnswer {
    /// Served as an A record.
    V4(Ipv4Addr),
    /// Served as an AAAA record.
    V6(Ipv6Addr),
    /// Served as a CNAME to this name.
    Target(Name),
}

/// One endpoint of a region.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Stable identifier (unique within its region).
    pub id: String,
    /// What it is served as.
    pub answer: EndpointAnswer,
    /// Where health checks probe it, when not the served address.
    pub probe: Option<SocketAddr>,
}

/// A region as configured.
#[derive(Debug, Clone)]
pub struct Region {
    /// Its name in config and API.
    pub name: String,
    /// Configured weight (overrides may change the effective one).
    pub weight: u32,
    /// `(latitude, longitude)`, for `nearest`.
    pub coordinates: Option<(f64, f64)>,
    /// Endpoints that must be up for the region to be healthy.
    pub min_healthy: usize,
    /// Its endpoints.
    pub endpoints: Vec<Endpoint>,
}

/// The location rules of a `geo` service.
#[derive(Debug, Clone, Default)]
pub struct GeoRules {
    /// Client networks to regions (most specific first, then the networks
    /// enclosing it).
    pub cidr: PrefixTrie<Vec<RegionId>>,
    /// Country codes to regions.
    pub country: HashMap<Code, Vec<RegionId>>,
    /// Continent codes to regions.
    pub continent: HashMap<Code, Vec<RegionId>>,
    /// Regions for everyone else.
    pub default: Vec<RegionId>,
}

/// A service's policy, with its parameters resolved to region indices.
#[derive(Debug, Clone)]
pub enum Policy {
    /// Ordered tiers; the first tier with an available region answers.
    Failover {
        /// Tiers in preference order.
        tiers: Vec<Vec<RegionId>>,
    },
    /// One available region per query, chosen in proportion to weight.
    Weighted,
    /// Client location to an ordered list of regions.
    Geo(Box<GeoRules>),
    /// The available region nearest the client, after bias.
    Nearest {
        /// Kilometres added to each of `Service::regions`' distances (same order).
        bias_km: Vec<f64>,
    },
    /// Up to `max` up endpoints across available regions, shuffled.
    Multivalue {
        /// Most endpoints per answer.
        max: usize,
    },
}

impl Policy {
    /// The policy's name as written in config.
    pub fn name(&self) -> &'static str {
        match self {
            Policy::Failover { .. } => "failover",
            Policy::Weighted => "weighted",
            Policy::Geo(_) => "geo",
            Policy::Nearest { .. } => "nearest",
            Policy::Multivalue { .. } => "multivalue",
        }
    }
}

/// What to answer when no region is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllDown {
    /// Every configured endpoint of the service's regions.
    FailOpen,
    /// This region's endpoints.
    Fallback(RegionId),
    /// NODATA with SOA.
    Empty,
}

/// A traffic-managed name.
#[derive(Debug, Clone)]
pub struct Service {
    /// The managed name, lower-cased.
    pub name: Name,
    /// Answer TTL.
    pub ttl: u32,
    /// How regions are picked.
    pub policy: Policy,
    /// Every region the service may answer with, in configured order.
    pub regions: Vec<RegionId>,
    /// What to do when none is available.
    pub all_down: AllDown,
}

/// The validated, indexed traffic configuration.
#[derive(Debug, Clone, Default)]
pub struct TrafficPlan {
    /// Regions, indexed by [`RegionId`].
    pub regions: Vec<Region>,
    /// Region name to index.
    pub region_index: HashMap<String, RegionId>,
    /// Services in config order.
    pub services: Vec<Service>,
    /// Lower-cased managed name to index in `services`.
    pub by_name: HashMap<Name, usize>,
    /// Names that exist only because a managed name sits below them (empty
    /// non-terminals the zone files do not have), so they answer NODATA
    /// rather than NXDOMAIN.
    pub implied_names: HashSet<Name>,
    /// Per region, the services that may answer with it (ascending): what
    /// a change to one region can affect (see [`TrafficPlan::services_in`]).
    /// Built by [`compile`]; a plan assembled by hand builds it on first use.
    services_by_region: OnceLock<Vec<Vec<usize>>>,
}

impl TrafficPlan {
    /// The services that list `region` among theirs, in plan order: the
    /// only ones a change to that region's health or overrides can
    /// affect, so publishing and the safety rule look at these alone.
    pub fn services_in(&self, region: RegionId) -> &[usize] {
        self.services_by_region
            .get_or_init(|| {
                let mut index = vec![Vec::new(); self.regions.len()];
                for (s, service) in self.services.iter().enumerate() {
                    for &r in &service.regions {
                        // A service lists a region at most once (config
                        // checks it); a repeat would not change the index.
                        if let Some(list) = index.get_mut(r)
                            && list.last() != Some(&s)
                        {
                            list.push(s);
                        }
                    }
                }
                index
            })
            .get(region)
            .map_or(&[], Vec::as_slice)
    }
}

/// Health of one endpoint, as known to the publisher.
pub type HealthInputs = HashMap<(String, String), bool>;

/// The per-publish state of one region.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionState {
    /// Effective health: enough endpoints are up (`min_healthy`), unless a
    /// forced state says otherwise.
    pub healthy: bool,
    /// Effective weight (configured, or from a weight/drain override); 0
    /// means drained.
    pub weight: u32,
    /// Per endpoint (same order as [`Region::endpoints`]): is it answered.
    /// Forced up marks every endpoint up.
    pub endpoints_up: Vec<bool>,
    /// What health results alone say (before any forced state), so the API
    /// can show both.
    pub checks_healthy: bool,
    /// The operator's forced state, if any.
    pub forced: Option<ForceState>,
}

impl RegionState {
    /// The state of `region` under endpoint `health` and the operator's
    /// `adjustments`: the one place effective health and effective weight
    /// are computed (publishing, the safety rule and the API all read it
    /// from here). An endpoint with no health entry counts as up:
    /// unchecked endpoints, and checked ones before their first verdict.
    ///
    /// Overrides: a weight or drain sets the effective weight (health keeps
    /// deciding `healthy`); force down makes the region unhealthy whatever
    /// its checks say; force up makes it healthy with every endpoint
    /// answered. Health never sets a forced state (DESIGN §3.4).
    pub fn compute(
        region: &Region,
        health: &HealthInputs,
        adjustments: &impl RegionAdjustments,
    ) -> RegionState {
        let endpoints_up: Vec<bool> = region
            .endpoints
            .iter()
            .map(|e| {
                health
                    .get(&(region.name.clone(), e.id.clone()))
                    .copied()
                    .unwrap_or(true)
            })
            .collect();
        let up = endpoints_up.iter().filter(|u| **u).count();
        let checks_healthy = up >= region.min_healthy;
        let forced = adjustments.force_of(&region.name);
        let (healthy, endpoints_up) = match forced {
            None => (checks_healthy, endpoints_up),
            Some(ForceState::Down) => (false, endpoints_up),
            Some(ForceState::Up) => (true, vec![true; endpoints_up.len()]),
        };
        RegionState {
            healthy,
            weight: adjustments.weight_of(&region.name).unwrap_or(region.weight),
            endpoints_up,
            checks_healthy,
            forced,
        }
    }

    /// A region may answer: healthy and not drained.
    pub fn available(&self) -> bool {
        self.healthy && self.weight > 0
    }

    /// A region that can really serve: available **and** passing its
    /// health checks. What the safety rule counts: a region forced up
    /// while its checks fail would answer from dead endpoints.
    pub fn serving(&self) -> bool {
        self.available() && self.checks_healthy
    }
}

/// Per-region state for one snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrafficState {
    /// Indexed by [`RegionId`].
    pub regions: Vec<RegionState>,
}

impl TrafficState {
    /// Computes every region's state from endpoint health and operator
    /// overrides ([`RegionState::compute`] per region). Overrides naming
    /// regions the config no longer has are ignored.
    pub fn compute(
        plan: &TrafficPlan,
        health: &HealthInputs,
        overrides: &impl RegionAdjustments,
    ) -> TrafficState {
        let regions = plan
            .regions
            .iter()
            .map(|region| RegionState::compute(region, health, overrides))
            .collect();
        TrafficState { regions }
    }

    /// This state with only the `changed` regions computed again (from the
    /// same plan): what [`TrafficState::compute`] gives when nothing else
    /// changed, at the cost of those regions alone. A region id outside the
    /// plan is ignored.
    pub fn recompute(
        &self,
        plan: &TrafficPlan,
        health: &HealthInputs,
        overrides: &impl RegionAdjustments,
        changed: &[RegionId],
    ) -> TrafficState {
        let mut next = self.clone();
        for &r in changed {
            if let (Some(slot), Some(region)) = (next.regions.get_mut(r), plan.regions.get(r)) {
                *slot = RegionState::compute(region, health, overrides);
            }
        }
        next
    }
}

/// A forced region state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForceState {
    /// Healthy with every endpoint answered, whatever the checks say.
    Up,
    /// Never available, whatever the checks say.
    Down,
}

impl ForceState {
    /// `"up"` or `"down"`, as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ForceState::Up => "up",
            ForceState::Down => "down",
        }
    }
}

/// The operator's adjustments to regions, as the traffic state sees them:
/// implemented by `overrides::OverrideSet`, so that this layer does not
/// depend on the operator model.
pub trait RegionAdjustments {
    /// The forced state of `region`, if any.
    fn force_of(&self, region: &str) -> Option<ForceState>;
    /// The weight `region` answers with instead of its configured one (a
    /// drain is 0), if any.
    fn weight_of(&self, region: &str) -> Option<u32>;
}

/// Shared sets (the snapshot holds its overrides in an `Arc`).
impl<T: RegionAdjustments + ?Sized> RegionAdjustments for std::sync::Arc<T> {
    fn force_of(&self, region: &str) -> Option<ForceState> {
        (**self).force_of(region)
    }

    fn weight_of(&self, region: &str) -> Option<u32> {
        (**self).weight_of(region)
    }
}

/// No adjustment: every region as configured and as its checks say.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAdjustments;

impl RegionAdjustments for NoAdjustments {
    fn force_of(&self, _region: &str) -> Option<ForceState> {
        None
    }

    fn weight_of(&self, _region: &str) -> Option<u32> {
        None
    }
}

/// Who is asking, as far as policies care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The ECS address (truncated to its source prefix) or the source address.
    pub addr: IpAddr,
    /// The ECS source prefix, when the query carried ECS.
    pub ecs_source_prefix: Option<u8>,
}

/// Length of the `::ffff:0:0/96` prefix of IPv4-mapped IPv6 addresses.
pub const MAPPED_PREFIX: u8 = 96;

impl Client {
    /// The client as policies look it up: an IPv4-mapped IPv6 address
    /// (`::ffff:192.0.2.1`, with an ECS source prefix of at least 96) is its
    /// IPv4 address, with the prefix shortened by 96. Returns that client
    /// and how many bits to add back to a scope computed for it (96 or 0).
    pub fn effective(&self) -> (Client, u8) {
        if let IpAddr::V6(v6) = self.addr
            && let Some(v4) = v6.to_ipv4_mapped()
            && self.ecs_source_prefix.is_none_or(|p| p >= MAPPED_PREFIX)
        {
            let client = Client {
                addr: IpAddr::V4(v4),
                ecs_source_prefix: self.ecs_source_prefix.map(|p| p - MAPPED_PREFIX),
            };
            return (client, MAPPED_PREFIX);
        }
        (*self, 0)
    }
}
