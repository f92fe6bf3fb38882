//! The authoritative lookup: which records answer a name and type, per
//! RFC 1034 §4.3.2 with RFC 4592 wildcards, RFC 2308 negative answers,
//! RFC 6604 CNAME chains and RFC 8482 minimal ANY.
//!
//! Pure: it reads a [`ZoneSet`] and returns sections; the wire format and
//! transport limits are the caller's business.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::answer::View;
use crate::answer::managed;
use crate::traffic::Client;
use crate::zone::{Node, RecordSet, Zone};

/// Longest CNAME chain followed inside a zone; longer chains (or loops) stop
/// and leave the rest to the resolver.
const MAX_CNAME_HOPS: usize = 8;

/// The sections of a response, before encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Sections {
    /// Response code.
    pub rcode: ResponseCode,
    /// The AA bit: false for referrals and refusals.
    pub authoritative: bool,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section (SOA for negative answers, NS for referrals).
    pub authority: Vec<Record>,
    /// Additional section (referral glue).
    pub additional: Vec<Record>,
    /// True when `additional` holds glue a referral cannot do without, so it
    /// must not be dropped to fit a size limit (RFC 9471).
    pub glue_required: bool,
    /// ECS scope prefix: how many bits of the client address the answer
    /// depended on (0 for everything but location-based policies).
    pub ecs_scope: u8,
    /// True when a policy decided part of the answer, so it may differ per
    /// query and must not be precompiled.
    pub dynamic: bool,
}

impl Sections {
    /// An empty, authoritative NOERROR answer to fill in.
    fn authoritative() -> Sections {
        Sections {
            rcode: ResponseCode::NoError,
            authoritative: true,
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            glue_required: false,
            ecs_scope: 0,
            dynamic: false,
        }
    }

    /// The answer for a name outside every served zone.
    pub fn refused() -> Sections {
        Sections {
            rcode: ResponseCode::Refused,
            authoritative: false,
            ..Sections::authoritative()
        }
    }
}

/// Per-query context threaded through resolution.
pub(crate) struct Resolver<'a> {
    /// The tables answering this query.
    pub snapshot: &'a View<'a>,
    /// Who is asking (for managed names).
    pub client: &'a Client,
    /// Random source for weighted and shuffled answers.
    pub rng: &'a mut fastrand::Rng,
    /// The response being built.
    pub out: Sections,
}

/// Answers `qname`/`qtype` from the snapshot's tables. `qname` keeps the case it was
/// asked in; records owned by it are written back in that case.
pub fn lookup(
    snapshot: &View<'_>,
    qname: &Name,
    qtype: RecordType,
    client: &Client,
    rng: &mut fastrand::Rng,
) -> Sections {
    let lower = qname.to_lowercase();
    let Some(mut zone) = snapshot.zones.find(&lower) else {
        return Sections::refused();
    };
    // DS at a child apex belongs to the parent side of the cut (RFC 4035
    // §3.1.4.1), when we serve the parent too.
    if qtype == RecordType::DS
        && zone.origin == lower
        && !lower.is_root()
        && let Some(parent) = snapshot.zones.find(&lower.base_name())
        && parent.node(&lower).is_some_and(|node| node.is_cut())
    {
        zone = parent;
    }
    let mut resolver = Resolver {
        snapshot,
        client,
        rng,
        out: Sections::authoritative(),
    };
    resolver.resolve(zone, qname, &lower, qtype, 0);
    resolver.out
}

impl Resolver<'_> {
    /// One step of resolution inside `zone` (one link of a CNAME chain).
    pub(crate) fn resolve(
        &mut self,
        zone: &Zone,
        owner: &Name,
        lower: &Name,
        qtype: RecordType,
        hops: usize,
    ) {
        let plan = &self.snapshot.plan;
        if let Some(&service) = plan.by_name.get(lower) {
            managed::answer(self, zone, service, owner, lower, qtype, hops);
            return;
        }
        // Walk down from the apex: the first cut on the way is a referral, and
        // the deepest existing name is the closest encloser (RFC 4592 §3.3.1).
        // Managed names and their implied ancestors exist too.
        let apex_labels = zone.origin.num_labels() as usize;
        let labels = lower.num_labels() as usize;
        let mut encloser = (zone.origin.clone(), zone.node(&zone.origin));
        for n in apex_labels + 1..=labels {
            let name = lower.trim_to(n);
            let node = zone.node(&name);
            if node.is_none()
                && !plan.implied_names.contains(&name)
                && !plan.by_name.contains_key(&name)
            {
                break;
            }
            // The parent side answers DS at a cut (RFC 4035 §3.1.4.1).
            let ds_at_cut = n == labels && qtype == RecordType::DS;
            if let Some(node) = node
                && node.is_cut()
                && !ds_at_cut
            {
                referral(zone, node, &mut self.out, hops);
                return;
            }
            encloser = (name, node);
        }
        let (encloser_name, encloser_node) = encloser;
        if encloser_name == *lower {
            match encloser_node {
                Some(node) => self.answer_at(zone, owner, node, qtype, hops),
                None => self.out.authority.push(zone.negative_soa()),
            }
            return;
        }
        let wildcard = encloser_name.prepend_label("*").ok();
        match wildcard.as_ref().and_then(|w| zone.node(w)) {
            Some(node) => self.answer_at(zone, owner, node, qtype, hops),
            None => {
                self.out.rcode = ResponseCode::NXDomain;
                self.out.authority.push(zone.negative_soa());
            }
        }
    }

    /// Answers from the node that exists at (or, for a wildcard, stands in for) `owner`.
    pub(crate) fn answer_at(
        &mut self,
        zone: &Zone,
        owner: &Name,
        node: Node<'_>,
        qtype: RecordType,
        hops: usize,
    ) {
        let out = &mut self.out;
        if qtype == RecordType::ANY {
            // RFC 8482 §4.1: one RRset is a complete answer to ANY.
            let preferred = [RecordType::CNAME, RecordType::A, RecordType::AAAA];
            let set = preferred
                .iter()
                .find_map(|t| node.get(*t))
                .or_else(|| node.rrsets().next());
            match set {
                Some(set) => push_owned(&mut out.answers, &set, owner),
                None => out.authority.push(zone.negative_soa()),
            }
            return;
        }
        if let Some(set) = node.get(qtype) {
            push_owned(&mut out.answers, &set, owner);
            return;
        }
        if let Some(cname) = node.get(RecordType::CNAME) {
            push_owned(&mut out.answers, &cname, owner);
            let target = match cname.rdatas().next() {
                Some(RData::CNAME(target)) => target.0,
                _ => return,
            };
            self.follow_cname(zone, &target, qtype, hops);
            return;
        }
        out.authority.push(zone.negative_soa());
    }

    /// Continues a CNAME chain at `target` while it stays inside `zone`.
    pub(crate) fn follow_cname(
        &mut self,
        zone: &Zone,
        target: &Name,
        qtype: RecordType,
        hops: usize,
    ) {
        let target_lower = target.to_lowercase();
        // A loop back into the chain ends it: each CNAME is answered once.
        let looped = self.out.answers.iter().any(|r| r.name == target_lower);
        if !looped && hops + 1 < MAX_CNAME_HOPS && zone.origin.zone_of(&target_lower) {
            self.resolve(zone, target, &target_lower, qtype, hops + 1);
        }
    }
}

/// A referral to the child zone delegated at `node`.
fn referral(zone: &Zone, node: Node<'_>, out: &mut Sections, hops: usize) {
    // A referral reached through a CNAME keeps the AA bit earned by the
    // first, authoritative, link of the chain.
    if hops == 0 {
        out.authoritative = false;
    }
    let Some(ns) = node.get(RecordType::NS) else {
        return;
    };
    let start = out.authority.len();
    ns.push_records(&node.name(), &mut out.authority);
    for at in start..out.authority.len() {
        let RData::NS(target) = &out.authority[at].data else {
            continue;
        };
        let target = target.0.to_lowercase();
        if !zone.origin.zone_of(&target) {
            continue;
        }
        if let Some(host) = zone.node(&target) {
            for rtype in [RecordType::A, RecordType::AAAA] {
                if let Some(set) = host.get(rtype) {
                    set.push_records(&target, &mut out.additional);
                    out.glue_required = true;
                }
            }
        }
    }
}

/// Appends `set`'s records with their owner written as `owner`.
pub(crate) fn push_owned(section: &mut Vec<Record>, set: &RecordSet<'_>, owner: &Name) {
    set.push_records(owner, section);
}
