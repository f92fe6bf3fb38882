//! Answers by service, policy, region and reason: counter handles laid
//! out like the traffic plan, registered when the plan is loaded, so the
//! decision point only indexes and adds.
//!
//! `reason` is `policy` when the policy chose, or the all-down rule that
//! answered (`fallback`, `fail_open`, `empty`). `region` is the region the
//! answer's endpoints came from; a failover tier or a multivalue answer
//! drawing on several regions counts once for each; `fail_open` (every
//! region) counts under `all`, `empty` under `none`.
//!
//! Handles are registered by name, so a reload that keeps a service and
//! region keeps counting on the same series.

use metrics::Counter;

use super::names;
use crate::traffic::policy::{Decision, Picks, Reason};
use crate::traffic::{AllDown, Policy, RegionId, Service, TrafficPlan, TrafficState};

/// One service's handles.
#[derive(Debug)]
struct ServiceCounters {
    /// Per region of `Service::regions` (same order), chosen by policy.
    regions: Vec<(RegionId, Counter)>,
    /// The fallback region answering for all-down, if the service has one.
    fallback: Option<Counter>,
    /// Fail open: every configured endpoint.
    fail_open: Counter,
    /// The empty all-down rule.
    empty: Counter,
}

/// Answer counters for one traffic plan; see the module docs.
#[derive(Debug, Default)]
pub struct AnswerMetrics {
    /// Indexed like `TrafficPlan::services`; empty when disabled.
    services: Vec<ServiceCounters>,
}

impl AnswerMetrics {
    /// Records nothing (query metrics off, and the snapshots `explain`
    /// and precompilation run on).
    pub fn disabled() -> AnswerMetrics {
        AnswerMetrics::default()
    }

    /// Registers a handle for every (service, region, reason) `plan` can
    /// produce.
    pub fn register(plan: &TrafficPlan) -> AnswerMetrics {
        let services = plan
            .services
            .iter()
            .map(|service| {
                let name = service.name.to_string();
                let name = name.trim_end_matches('.').to_string();
                let policy = service.policy.name();
                let counter = |region: &str, reason: &'static str| {
                    metrics::counter!(names::ANSWERS,
                        "service" => name.clone(), "policy" => policy,
                        "region" => region.to_string(), "reason" => reason)
                };
                ServiceCounters {
                    regions: service
                        .regions
                        .iter()
                        .map(|&r| (r, counter(&plan.regions[r].name, "policy")))
                        .collect(),
                    fallback: match service.all_down {
                        AllDown::Fallback(r) => Some(counter(&plan.regions[r].name, "fallback")),
                        _ => None,
                    },
                    fail_open: counter("all", "fail_open"),
                    empty: counter("none", "empty"),
                }
            })
            .collect();
        AnswerMetrics { services }
    }

    /// Counts the answer `decision` gives for service `index`. Allocation-
    /// and lock-free: a few atomic adds.
    #[inline]
    pub fn record(
        &self,
        index: usize,
        service: &Service,
        state: &TrafficState,
        decision: &Decision,
    ) {
        let Some(counters) = self.services.get(index) else {
            return;
        };
        let chosen = |r: RegionId| {
            if let Some((_, counter)) = counters.regions.iter().find(|(id, _)| *id == r) {
                counter.increment(1);
            }
        };
        match (&decision.reason, &decision.picks) {
            (Reason::AllDown(AllDown::FailOpen), _) => counters.fail_open.increment(1),
            (Reason::AllDown(AllDown::Empty), _) => counters.empty.increment(1),
            (Reason::AllDown(AllDown::Fallback(_)), _) => {
                if let Some(counter) = &counters.fallback {
                    counter.increment(1);
                }
            }
            (Reason::Chosen, Picks::Region(r)) => chosen(*r),
            (Reason::Chosen, Picks::Tier(n)) => {
                if let Policy::Failover { tiers } = &service.policy {
                    for &r in tiers[*n].iter().filter(|r| state.regions[**r].available()) {
                        chosen(r);
                    }
                }
            }
            (Reason::Chosen, Picks::Endpoints { slots, len }) => {
                for (i, (r, _)) in slots[..*len].iter().enumerate() {
                    // Once per region, however many of its endpoints.
                    if !slots[..i].iter().any(|(seen, _)| seen == r) {
                        chosen(*r);
                    }
                }
            }
            (Reason::Chosen, _) => {}
        }
    }
}
