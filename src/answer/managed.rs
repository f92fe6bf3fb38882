//! Answers for traffic-managed names: the policy picks endpoints, and they
//! become A, AAAA or CNAME records with the service's TTL. Other types at a
//! managed name come from the zone file, if it has any, else NODATA.
//!
//! One decision, one encoder, for both paths: the policy decides, [`pick`]
//! turns the decision into the records it answers with (which family,
//! deduplicated, a name target standing alone), and [`encode`] writes
//! those records as wire bytes. The fast path encodes
//! into its response buffer (owner: a pointer to the question, the
//! pre-made RRSIGs appended for DO); the full path ([`answer`]) encodes
//! with the owner written out in the case it was asked (a CNAME chain's
//! link, too) and reads the bytes back into the records its lookup
//! returns, so the two cannot write a managed answer differently.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::{Name, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use smallvec::SmallVec;

use crate::answer::View;
use crate::answer::lookup::Resolver;
use crate::dnssec::signer::Sig;
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

impl Picked<'_> {
    /// How many address records answer `qtype`: A the IPv4 ones, AAAA the
    /// IPv6 ones, ANY one of the two (RFC 8482: one RRset, IPv4 first).
    #[inline]
    pub(crate) fn address_count(&self, qtype: u16) -> usize {
        match qtype {
            A_TYPE => self.v4.len(),
            AAAA_TYPE => self.v6.len(),
            ANY_TYPE if !self.v4.is_empty() => self.v4.len(),
            ANY_TYPE => self.v6.len(),
            _ => 0,
        }
    }
}

/// Type codes [`encode`] writes or answers.
const A_TYPE: u16 = 1;
const CNAME_TYPE: u16 = 5;
const AAAA_TYPE: u16 = 28;
const ANY_TYPE: u16 = 255;

/// The one encoder of managed answers: appends to `out` the records that
/// `picked` answers `qtype` with, each owned by `owner` (a name in wire
/// form, or a compression pointer) with the service's `ttl`: the name
/// target as a CNAME (it stands alone), else the addresses of the asked
/// family ([`Picked::address_count`]), then `rrsigs`' records when given
/// (wire owned by a pointer to the question). Returns how many records it
/// wrote. Allocates nothing beyond `out`'s growth. Inlined, so the fast
/// path's constant owner (a pointer) is written as a constant.
#[inline]
pub(crate) fn encode(
    out: &mut Vec<u8>,
    owner: &[u8],
    ttl: u32,
    qtype: u16,
    picked: &Picked<'_>,
    rrsigs: Option<&Sig>,
) -> u16 {
    // Owner, type, class IN, TTL, RDLENGTH: the RDATA follows.
    let record = |out: &mut Vec<u8>, rtype: u16, rdata_len: usize| {
        out.extend_from_slice(owner);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(rdata_len as u16).to_be_bytes());
    };
    let mut count = 0u16;
    if let Some(target) = picked.target {
        // The target as configured (case kept), uncompressed.
        record(
            out,
            CNAME_TYPE,
            target.iter().map(|l| l.len() + 1).sum::<usize>() + 1,
        );
        for label in target.iter() {
            out.push(label.len() as u8);
            out.extend_from_slice(label);
        }
        out.push(0);
        count = 1;
    } else if qtype == AAAA_TYPE || (qtype == ANY_TYPE && picked.v4.is_empty()) {
        for a in &picked.v6 {
            record(out, AAAA_TYPE, 16);
            out.extend_from_slice(&a.octets());
            count += 1;
        }
    } else if matches!(qtype, A_TYPE | ANY_TYPE) {
        for a in &picked.v4 {
            record(out, A_TYPE, 4);
            out.extend_from_slice(&a.octets());
            count += 1;
        }
    }
    if let Some(sig) = rrsigs {
        out.extend_from_slice(&sig.wire);
        count += sig.rrsigs.len() as u16;
    }
    count
}

/// The pre-signed RRSIGs of the managed answer `picked` gives `qtype` (A
/// or AAAA) at `name` (lower-case wire form), looked up with a key built
/// on the stack exactly as `dnssec::signer::rrset_key` builds it.
pub(crate) fn presigned<'s>(
    view: &View<'s>,
    name: &[u8],
    qtype: u16,
    picked: &Picked<'_>,
) -> Option<&'s Sig> {
    let is_v6 = qtype == AAAA_TYPE;
    // 16-byte slots (IPv4 in the last four), sorted: canonical RRset order.
    let mut sorted = [[0u8; 16]; INLINE_ADDRESSES];
    let count = if is_v6 {
        picked.v6.len()
    } else {
        picked.v4.len()
    };
    if count > INLINE_ADDRESSES || name.len() > 255 {
        return None;
    }
    for (slot, octets) in sorted.iter_mut().zip(
        picked
            .v4
            .iter()
            .filter(|_| !is_v6)
            .map(|a| Ipv6Addr::from(a.to_bits() as u128).octets())
            .chain(picked.v6.iter().filter(|_| is_v6).map(|a| a.octets())),
    ) {
        *slot = octets;
    }
    sorted[..count].sort_unstable();
    let mut key = [0u8; 255 + 2 + INLINE_ADDRESSES * 18];
    let mut len = name.len();
    key[..len].copy_from_slice(name);
    key[len..len + 2].copy_from_slice(&qtype.to_be_bytes());
    len += 2;
    for octets in &sorted[..count] {
        let rdata = if is_v6 { &octets[..] } else { &octets[12..] };
        key[len..len + 2].copy_from_slice(&(rdata.len() as u16).to_be_bytes());
        key[len + 2..len + 2 + rdata.len()].copy_from_slice(rdata);
        len += 2 + rdata.len();
    }
    view.dnssec.managed_sig(&key[..len])
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
    let picked = pick(plan, snapshot.state, service, &decision, family, None).unwrap_or_default();
    // The records in wire form, owned by `owner` as asked, read back into
    // the records the lookup returns (signed, if DO, by `dnssec::apply`).
    let mut wire = Vec::new();
    let mut owner_wire = Vec::with_capacity(owner.len() + 1);
    for label in owner.iter() {
        owner_wire.push(label.len() as u8);
        owner_wire.extend_from_slice(label);
    }
    owner_wire.push(0);
    let count = encode(
        &mut wire,
        &owner_wire,
        service.ttl,
        u16::from(qtype),
        &picked,
        None,
    );
    let mut decoder = BinDecoder::new(&wire);
    let records: Vec<Record> = (0..count)
        .map_while(|_| Record::read(&mut decoder).ok())
        .collect();
    if records.is_empty() {
        resolver.out.authority.push(zone.negative_soa());
        return;
    }
    resolver.out.answers.extend(records);
    // A chosen name target is a CNAME, which stands alone at its name.
    if let Some(target) = picked.target
        && !matches!(qtype, RecordType::CNAME | RecordType::ANY)
    {
        resolver.follow_cname(zone, target, qtype, hops);
    }
}
