//! Every region a policy considered, with its state and why it was or was
//! not chosen. The choice itself comes from [`crate::traffic::policy::decide`];
//! this only describes it, re-reading the same plan and state.

use std::collections::BTreeSet;

use ipnet::IpNet;

use crate::contract::{
    AnsweredEndpoint, Candidate, CandidateOverride, DecisionReason, ExplainDecision, ExplainRule,
    GeoRuleStep, RuleKind,
};
use crate::geo::{code_str, distance_km};
use crate::overrides::{Action, ForceState};
use crate::snapshot::Snapshot;
use crate::traffic::policy::{Decision, GeoStep, Picks, Reason, geo_walk};
use crate::traffic::{AllDown, Client, Policy, RegionId, Service};

/// The parts of an explanation about the policy.
pub(super) struct Detail {
    /// The rule that applied (geo: which location rule matched).
    pub rule: ExplainRule,
    /// Geo: the step `rule` describes, the decision's own rule (or, when
    /// every rule fell through, the first one tried). Read by the tests
    /// that hold explain to the decision; the answer carries `rule`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub step: Option<GeoStep>,
    /// One entry per region the service may answer with.
    pub candidates: Vec<Candidate>,
    /// What the policy decided.
    pub decision: ExplainDecision,
}

/// Describes `decision` for `service` and `client` on `snapshot`.
pub(super) fn describe(
    snapshot: &Snapshot,
    service: &Service,
    client: &Client,
    decision: &Decision,
) -> Detail {
    let plan = &snapshot.plan;
    let states = &snapshot.state.regions;
    let answered: Vec<(RegionId, usize)> = decision.endpoints(plan, &snapshot.state, service);
    let chosen: BTreeSet<RegionId> = match decision.reason {
        Reason::Chosen => answered.iter().map(|(r, _)| *r).collect(),
        Reason::AllDown(_) => BTreeSet::new(),
    };
    let first_chosen = chosen.iter().next().copied();
    let name = |r: RegionId| plan.regions[r].name.as_str();
    let (rule, list, step) = matched_rule(snapshot, service, client, decision);
    let total_weight: u64 = service
        .regions
        .iter()
        .filter(|r| states[**r].available())
        .map(|r| u64::from(states[*r].weight))
        .sum();
    let located = snapshot.geo.locate(client.effective().0.addr);
    let distance = |r: RegionId| -> Option<f64> {
        let here = located.location.coordinates?;
        Some(distance_km(here, plan.regions[r].coordinates?))
    };
    let mut regions: Vec<RegionId> = service.regions.clone();
    if let AllDown::Fallback(r) = service.all_down
        && !regions.contains(&r)
    {
        regions.push(r);
    }
    let candidates: Vec<Candidate> = regions
        .iter()
        .map(|&r| {
            let region = &plan.regions[r];
            let state = &states[r];
            let position = service.regions.iter().position(|x| *x == r);
            let up = state.endpoints_up.iter().filter(|u| **u).count();
            let mut entry = Candidate {
                region: region.name.clone(),
                available: state.available(),
                healthy: state.healthy,
                checks_healthy: state.checks_healthy,
                forced: state.forced.map(Into::into),
                configured_weight: region.weight,
                effective_weight: state.weight,
                endpoints_up: up as u64,
                endpoints: region.endpoints.len() as u64,
                min_healthy: region.min_healthy as u64,
                overrides: snapshot
                    .overrides
                    .for_region(&region.name)
                    .map(|o| CandidateOverride {
                        id: o.id.clone(),
                        action: o.action.describe(),
                        who: o.who.clone(),
                        why: o.why.clone(),
                    })
                    .collect(),
                chosen: chosen.contains(&r),
                why: String::new(),
                tier: None,
                share: None,
                rank: None,
                distance_km: None,
                bias_km: None,
            };
            let why = if position.is_none() {
                // Only the fallback region is listed without being a candidate.
                match decision.reason {
                    Reason::AllDown(AllDown::Fallback(_)) if up > 0 => {
                        "answers as the all-down fallback (no candidate was available)".to_string()
                    }
                    Reason::AllDown(AllDown::Fallback(_)) => {
                        "answers as the all-down fallback with every endpoint (none is up)"
                            .to_string()
                    }
                    _ => "the all-down fallback; not needed while a candidate is available"
                        .to_string(),
                }
            } else if !state.available() {
                unavailable(snapshot, r)
            } else {
                match &service.policy {
                    Policy::Failover { tiers } => {
                        let tier = tiers.iter().position(|t| t.contains(&r)).unwrap_or(0);
                        entry.tier = Some(tier as u64 + 1);
                        match decision.picks {
                            Picks::Tier(n) if n == tier => format!(
                                "available, in tier {}: the first tier with an available region",
                                tier + 1
                            ),
                            Picks::Tier(n) => format!(
                                "available, but tier {} comes first and has an available region",
                                n + 1
                            ),
                            _ => "available".to_string(),
                        }
                    }
                    Policy::Weighted => {
                        let share = f64::from(state.weight) / total_weight.max(1) as f64;
                        entry.share = Some(share);
                        let drawn = if chosen.contains(&r) { " (drawn this time)" } else { "" };
                        format!(
                            "available: drawn with probability {share:.3} (weight {} of {total_weight}){drawn}",
                            state.weight
                        )
                    }
                    Policy::Geo(_) => match list.iter().position(|x| *x == r) {
                        None => "available, but not in the matched rule's list".to_string(),
                        Some(i) => {
                            entry.rank = Some(i as u64 + 1);
                            if chosen.contains(&r) {
                                format!("the first available region of the matched list (position {})", i + 1)
                            } else {
                                format!(
                                    "available, but {} comes earlier in the matched list",
                                    first_chosen.map_or("another region", name)
                                )
                            }
                        }
                    },
                    Policy::Nearest { bias_km } => {
                        let bias = position.and_then(|p| bias_km.get(p)).copied().unwrap_or(0.0);
                        entry.bias_km = Some(bias);
                        match distance(r) {
                            None if located.location.coordinates.is_none() => {
                                if chosen.contains(&r) {
                                    "client location unknown: the first available region in order".to_string()
                                } else {
                                    "client location unknown: an earlier available region is used".to_string()
                                }
                            }
                            None => "available, but has no coordinates".to_string(),
                            Some(km) => {
                                entry.distance_km = Some(km.round());
                                let effective = km + bias;
                                if chosen.contains(&r) {
                                    format!("nearest available: {:.0} km (with bias {bias:.0} km)", effective)
                                } else {
                                    let best = first_chosen.and_then(|c| {
                                        let p = service.regions.iter().position(|x| *x == c)?;
                                        Some(distance(c)? + bias_km.get(p).copied().unwrap_or(0.0))
                                    });
                                    match best {
                                        Some(b) => format!(
                                            "available, {:.0} km (with bias): farther than {} at {:.0} km",
                                            effective,
                                            first_chosen.map_or("the chosen region", name),
                                            b
                                        ),
                                        None => format!("available, {effective:.0} km (with bias)"),
                                    }
                                }
                            }
                        }
                    }
                    Policy::Multivalue { max } => {
                        if chosen.contains(&r) {
                            format!("available: some of its up endpoints were drawn (up to {max} answers)")
                        } else {
                            format!("available: its endpoints were in the pool, none drawn this time (up to {max} answers)")
                        }
                    }
                }
            };
            entry.why = why;
            entry
        })
        .collect();
    let endpoints: Vec<AnsweredEndpoint> = answered
        .iter()
        .map(|(r, i)| AnsweredEndpoint {
            region: name(*r).to_string(),
            endpoint: plan.regions[*r].endpoints[*i].id.clone(),
        })
        .collect();
    let decision_view = match decision.reason {
        Reason::Chosen => ExplainDecision {
            reason: DecisionReason::Policy,
            all_down: None,
            summary: match &decision.picks {
                Picks::Tier(n) => format!("failover tier {}", n + 1),
                Picks::Region(r) => format!("region {}", name(*r)),
                Picks::Endpoints { len, .. } => format!("{len} endpoint(s) drawn"),
                _ => "chosen".to_string(),
            },
            ecs_scope: decision.scope,
            endpoints,
        },
        Reason::AllDown(rule) => ExplainDecision {
            reason: DecisionReason::AllDown,
            all_down: Some(rule.into()),
            summary: match rule {
                AllDown::FailOpen => {
                    "no candidate available: fail open answers every configured endpoint"
                        .to_string()
                }
                AllDown::Fallback(r) => format!(
                    "no candidate available: the fallback region {} answers",
                    name(r)
                ),
                AllDown::Empty => {
                    "no candidate available: the answer is empty (NODATA)".to_string()
                }
            },
            ecs_scope: decision.scope,
            endpoints,
        },
    };
    Detail {
        rule,
        step,
        candidates,
        decision: decision_view,
    }
}

/// Why an unavailable region cannot answer.
fn unavailable(snapshot: &Snapshot, r: RegionId) -> String {
    let region = &snapshot.plan.regions[r];
    let state = &snapshot.state.regions[r];
    let override_id = |pick: fn(&Action) -> bool| {
        snapshot
            .overrides
            .for_region(&region.name)
            .find(|o| pick(&o.action))
            .map_or(String::new(), |o| format!(" (override {})", o.id))
    };
    if state.forced == Some(ForceState::Down) {
        let by = override_id(|a| {
            matches!(
                a,
                Action::Force {
                    state: ForceState::Down
                }
            )
        });
        return format!("forced down by an operator{by}");
    }
    if !state.healthy {
        let up = state.endpoints_up.iter().filter(|u| **u).count();
        return format!(
            "unhealthy: {up} of {} endpoints up, {} needed",
            region.endpoints.len(),
            region.min_healthy
        );
    }
    if state.weight == 0 {
        let by = if region.weight == 0 {
            " (configured weight 0)".to_string()
        } else {
            override_id(Action::is_weight)
        };
        return format!("drained: effective weight 0{by}");
    }
    "unavailable".to_string()
}

/// For geo: which rule matched (the one `decision` records) and its
/// region list, with the rules tried before it; for other policies, the
/// policy's fixed order.
fn matched_rule(
    snapshot: &Snapshot,
    service: &Service,
    client: &Client,
    decision: &Decision,
) -> (ExplainRule, Vec<RegionId>, Option<GeoStep>) {
    let plan = &snapshot.plan;
    let names = |list: &[RegionId]| -> Vec<String> {
        list.iter().map(|r| plan.regions[*r].name.clone()).collect()
    };
    let rule = |kind: RuleKind| ExplainRule {
        kind,
        matched: None,
        regions: None,
        result: None,
        fell_through: None,
        all_down: None,
        steps: None,
        tiers: None,
        max_answers: None,
    };
    match &service.policy {
        Policy::Geo(rules) => {
            // The rules `decide` tried, up to the one its decision records
            // (all of them when it fell through to the all-down rule).
            let (client, _) = client.effective();
            let states = &snapshot.state.regions;
            let mut steps: Vec<GeoRuleStep> = Vec::new();
            let mut lists: Vec<Vec<RegionId>> = Vec::new();
            let mut tried: Vec<GeoStep> = Vec::new();
            geo_walk(rules, &snapshot.geo, client.addr, |step, list| {
                let first = list.iter().copied().find(|r| states[*r].available());
                let (kind, matched) = match step {
                    GeoStep::Cidr(id) => {
                        let prefix = rules.cidr.get(id).1;
                        let net = IpNet::new(client.addr, prefix)
                            .map(|n| n.trunc().to_string())
                            .unwrap_or_default();
                        (RuleKind::Cidr, Some(net))
                    }
                    GeoStep::Country(c) => (RuleKind::Country, Some(code_str(&c).to_string())),
                    GeoStep::Continent(c) => (RuleKind::Continent, Some(code_str(&c).to_string())),
                    GeoStep::Default => (RuleKind::Default, None),
                };
                let result = match first {
                    Some(r) => format!("answered by {}", plan.regions[r].name),
                    None if list.is_empty() => "no regions: fall through".to_string(),
                    None => "every region unavailable: fall through".to_string(),
                };
                steps.push(GeoRuleStep {
                    kind,
                    matched,
                    regions: names(list),
                    result,
                });
                lists.push(list.to_vec());
                tried.push(step);
                Some(step) == decision.rule
            });
            // The rule that answered, or (all down) the first one matched.
            let at = match decision.rule {
                Some(_) => steps.len() - 1,
                None => 0,
            };
            let this = steps[at].clone();
            let view = ExplainRule {
                matched: Some(this.matched),
                regions: Some(this.regions),
                result: Some(this.result),
                fell_through: Some(at > 0),
                all_down: Some(decision.rule.is_none()),
                steps: Some(steps),
                ..rule(this.kind)
            };
            (view, lists.swap_remove(at), Some(tried[at]))
        }
        Policy::Failover { tiers } => (
            ExplainRule {
                tiers: Some(tiers.iter().map(|t| names(t)).collect()),
                ..rule(RuleKind::Tiers)
            },
            service.regions.clone(),
            None,
        ),
        Policy::Weighted => (rule(RuleKind::Weights), service.regions.clone(), None),
        Policy::Nearest { .. } => (rule(RuleKind::Distance), service.regions.clone(), None),
        Policy::Multivalue { max } => (
            ExplainRule {
                max_answers: Some(*max as u64),
                ..rule(RuleKind::Sample)
            },
            service.regions.clone(),
            None,
        ),
    }
}
