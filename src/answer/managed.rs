//! Answers for traffic-managed names: the policy picks endpoints, and they
//! become A, AAAA or CNAME records with the service's TTL. Other types at a
//! managed name come from the zone file, if it has any, else NODATA.

use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::answer::lookup::Resolver;
use crate::traffic::EndpointAnswer;
use crate::traffic::policy::{Family, decide};
use crate::zone::Zone;

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
    let family = match qtype {
        RecordType::A => Family::V4,
        RecordType::AAAA => Family::V6,
        _ => Family::Any,
    };
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

    let mut target = None;
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    decision.for_each_endpoint(
        plan,
        snapshot.state,
        service,
        |region, endpoint| match &plan.regions[region].endpoints[endpoint].answer {
            EndpointAnswer::V4(a) if !v4.contains(a) => v4.push(*a),
            EndpointAnswer::V6(a) if !v6.contains(a) => v6.push(*a),
            EndpointAnswer::Target(name) if target.is_none() => target = Some(name.clone()),
            _ => {}
        },
    );
    let record = |data: RData| Record::from_rdata(owner.clone(), service.ttl, data);
    // A chosen name target is a CNAME, which stands alone at its name.
    if let Some(target) = target {
        resolver
            .out
            .answers
            .push(record(RData::CNAME(CNAME(target.clone()))));
        if !matches!(qtype, RecordType::CNAME | RecordType::ANY) {
            resolver.follow_cname(zone, &target, qtype, hops);
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
