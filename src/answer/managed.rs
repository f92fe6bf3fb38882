//! Answers for traffic-managed names: the policy picks endpoints, and they
//! become A, AAAA or CNAME records with the service's TTL. Other types at a
//! managed name come from the zone file, if it has any, else NODATA.
//!
//! [`pick`] is the one place that turns a decision into the records it
//! answers with (which family, deduplicated, a name target standing
//! alone); the fast path writes its result as wire records, the full path
//! (here) as hickory records inside its message.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use smallvec::SmallVec;

use crate::answer::lookup::Resolver;
use crate::traffic::policy::{Decision, Family, decide};
use crate::traffic::{EndpointAnswer, Service, TrafficPlan, TrafficState};
use crate::zone::Zone;

/// Addresses a managed answer keeps inline; the fast path answers with at
/// most this many, so it never allocates.
pub(crate) const INLINE_ADDRESSES: usize = 16;

/// What a decision answers with at a managed name.
#[derive(Debug, Default)]
pub(crate) struct Picked<'p> {
    /// The first chosen name target: a CNAME, which stands alone.
    pub(crate) target: Option<&'p Name>,
    /// IPv4 addresses (A and ANY queries), deduplicated, in decision order.
    pub(crate) v4: SmallVec<[Ipv4Addr; INLINE_ADDRESSES]>,
    /// IPv6 addresses (AAAA and ANY queries), likewise.
    pub(crate) v6: SmallVec<[Ipv6Addr; INLINE_ADDRESSES]>,
}

/// The policy family a query type asks for.
pub(crate) fn family(qtype: RecordType) -> Family {
    match qtype {
        RecordType::A => Family::V4,
        RecordType::AAAA => Family::V6,
        _ => Family::Any,
    }
}

/// The records `decision` answers with for `family`: its endpoints'
/// addresses of that family (both for `Any`) and the first name target.
/// `None` when more than `cap` distinct addresses would be kept (the fast
/// path's limit, so it never allocates; the full path passes no cap).
pub(crate) fn pick<'p>(
    plan: &'p TrafficPlan,
    state: &TrafficState,
    service: &Service,
    decision: &Decision,
    family: Family,
    cap: Option<usize>,
) -> Option<Picked<'p>> {
    let mut picked = Picked::default();
    let mut over = false;
    let (want_v4, want_v6) = match family {
        Family::V4 => (true, false),
        Family::V6 => (false, true),
        Family::Any => (true, true),
    };
    decision.for_each_endpoint(plan, state, service, |region, endpoint| {
        // Checked before a push, so a capped pick never spills to the heap.
        let full = cap.is_some_and(|cap| picked.v4.len() + picked.v6.len() >= cap);
        match &plan.regions[region].endpoints[endpoint].answer {
            EndpointAnswer::V4(a) if want_v4 && !picked.v4.contains(a) => match full {
                true => over = true,
                false => picked.v4.push(*a),
            },
            EndpointAnswer::V6(a) if want_v6 && !picked.v6.contains(a) => match full {
                true => over = true,
                false => picked.v6.push(*a),
            },
            EndpointAnswer::Target(name) if picked.target.is_none() => picked.target = Some(name),
            _ => {}
        }
    });
    (!over).then_some(picked)
}

/// Answers `qtype` at the managed name `lower` (service index `service`).
pub(crate) fn answer(
    resolver: &mut Resolver<'_>,
    zone: &Zone,
    service: usize,
    owner: &Name,
    lower: &Name,
    qtype: RecordType,
    hops: usize,
) {
    let snapshot = resolver.snapshot;
    let plan = &snapshot.plan;
    let index = service;
    let service = &plan.services[index];
    if !matches!(
        qtype,
        RecordType::A | RecordType::AAAA | RecordType::CNAME | RecordType::ANY
    ) {
        match zone.node(lower) {
            Some(node) => resolver.answer_at(zone, owner, node, qtype, hops),
            None => resolver.out.authority.push(zone.negative_soa()),
        }
        return;
    }
    let family = family(qtype);
    let decision = decide(
        plan,
        snapshot.state,
        service,
        resolver.client,
        family,
        snapshot.geo,
        resolver.rng,
    );
    snapshot
        .answers
        .record(index, service, snapshot.state, &decision);
    resolver.out.ecs_scope = resolver.out.ecs_scope.max(decision.scope);
    resolver.out.dynamic = true;

    // Without a cap: the full path answers any number of addresses.
    let Picked { target, v4, v6 } =
        pick(plan, snapshot.state, service, &decision, family, None).unwrap_or_default();
    let record = |data: RData| Record::from_rdata(owner.clone(), service.ttl, data);
    // A chosen name target is a CNAME, which stands alone at its name.
    if let Some(target) = target {
        resolver
            .out
            .answers
            .push(record(RData::CNAME(CNAME(target.clone()))));
        if !matches!(qtype, RecordType::CNAME | RecordType::ANY) {
            resolver.follow_cname(zone, target, qtype, hops);
        }
        return;
    }
    let records: Vec<Record> = match qtype {
        RecordType::A => v4.into_iter().map(|a| record(RData::A(A(a)))).collect(),
        RecordType::AAAA => v6
            .into_iter()
            .map(|a| record(RData::AAAA(AAAA(a))))
            .collect(),
        // RFC 8482: one RRset answers ANY.
        RecordType::ANY if !v4.is_empty() => {
            v4.into_iter().map(|a| record(RData::A(A(a)))).collect()
        }
        RecordType::ANY => v6
            .into_iter()
            .map(|a| record(RData::AAAA(AAAA(a))))
            .collect(),
        _ => Vec::new(),
    };
    if records.is_empty() {
        resolver.out.authority.push(zone.negative_soa());
    } else {
        resolver.out.answers.extend(records);
    }
}
