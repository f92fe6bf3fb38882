//! The fast path: answers precompiled into wire format when the zones are
//! loaded, so a common query costs a header parse, one or two hash lookups
//! and a copy.
//!
//! Templates are produced by running the full path ([`lookup`] and the
//! encoder) once per (name, type) at load time, so the two paths cannot
//! disagree: the fast path only replays what the full path said. Anything
//! the table does not cover exactly (referrals, wildcards, ANY, CNAME
//! chains into managed names, errors, oversize answers, unknown EDNS
//! versions) returns [`Fast::Fallback`] and takes the full path.
//!
//! Compression pointers in a template's body point into the question,
//! which always sits at offset 12 with the same length for a given name, so
//! the body is valid for any capitalisation of the query name and answers
//! echo the client's case.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use crate::answer::ecs::ClientSubnet;
use crate::answer::managed::{INLINE_ADDRESSES, pick};
use crate::answer::query::Parsed;
use crate::answer::{QueryMeta, View, client_of, finish, lookup, size_limit};
use crate::geo::GeoDb;
use crate::traffic::answer_metrics::AnswerMetrics;
use crate::traffic::policy::{Family, decide};
use crate::traffic::{HealthInputs, NoAdjustments, TrafficPlan, TrafficState};
use crate::zone::ZoneSet;

/// What the fast path did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fast {
    /// `out` holds the complete response.
    Answered,
    /// Not covered here: use the full path.
    Fallback,
}

/// A precompiled response, minus header and question.
#[derive(Debug, Clone, Copy)]
struct Template {
    /// Header byte 2's AA bit and byte 3's RCODE bits.
    aa: bool,
    rcode: u8,
    /// ANCOUNT, NSCOUNT, ARCOUNT of the body.
    counts: [u16; 3],
    /// Where the answer, authority and additional sections' wire bytes sit
    /// in [`FastTable::arena`]: one allocation for all templates.
    start: u32,
    len: u32,
}

/// How a name is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// From templates.
    Static,
    /// A/AAAA by policy (service index); other types from templates.
    Managed(usize),
    /// Always the full path (cuts, glue, names in several zones).
    Slow,
}

/// Everything the fast path knows about one existing name.
#[derive(Debug, Clone)]
struct Entry {
    kind: Kind,
    /// Index into [`FastTable::zones`].
    zone: u32,
    /// Templates for the types present (or chased) at this name.
    answers: Box<[(u16, Template)]>,
    /// Every other type is NODATA with the zone's SOA (false after a CNAME,
    /// where the answer depends on the chain's end).
    nodata: bool,
    /// `*.<this name>` exists: misses below it are wildcard answers.
    wildcard_below: bool,
    /// In a signed zone: the same answers with their RRSIGs, for DO queries.
    signed: Box<[(u16, Template)]>,
}

/// Per zone: what a negative answer needs.
#[derive(Debug, Clone)]
struct ZoneInfo {
    /// Wire length of the origin (to point at it inside the question).
    origin_len: usize,
    /// The negative-answer SOA record after its owner name: type, class,
    /// TTL, length and RDATA, where MNAME and RNAME names inside the zone
    /// end in a placeholder pointer to the origin (RFC 1035 §4.1.4
    /// compression, as NSD does).
    soa_tail: Box<[u8]>,
    /// Offsets in `soa_tail` of those placeholders, patched per query with
    /// where the origin sits in the question.
    soa_pointers: [Option<u16>; 2],
    /// The same record with MNAME and RNAME in full, for questions whose
    /// origin part is not in lower case: a pointer would give the SOA's
    /// names the client's case instead of the zone's.
    soa_tail_full: Box<[u8]>,
    /// The origin in lower-case wire form, compared with the question.
    origin_wire: Box<[u8]>,
    /// The zone is DNSSEC-signed: DO queries use the signed templates.
    signed: bool,
}

/// Hashing for the name table. Query names are attacker-controlled, but
/// they are only looked up, never inserted, so a fast seeded hash is safe.
type Hasher = foldhash::fast::RandomState;

/// The precompiled answers of a set of zones. Built once per load and
/// shared by every snapshot of that load.
#[derive(Debug, Default)]
pub struct FastTable {
    names: HashMap<Box<[u8]>, Entry, Hasher>,
    zones: Vec<ZoneInfo>,
    /// Every template's bytes, back to back.
    arena: Vec<u8>,
    /// Signed templates serve DO queries until this time (seconds since
    /// the epoch: their earliest signature expiry less the refresh
    /// margin), then the full path re-signs.
    signed_until: u32,
}

/// Lower-cased wire form of `name` (uncompressed).
fn wire_lower(name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
    out
}

impl FastTable {
    /// Precompiles every static answer `zones` and `plan` give. Pure. Plain
    /// RRsets are encoded directly; answers that chase a CNAME come from
    /// one full-path lookup each.
    pub fn build(zones: &ZoneSet, plan: &TrafficPlan) -> FastTable {
        FastTable::build_signed(zones, plan, &crate::dnssec::Signing::default())
    }

    /// [`FastTable::build`], plus, for the zones `dnssec` signs, templates
    /// carrying the RRSIGs made at load for DO queries.
    pub fn build_signed(
        zones: &ZoneSet,
        plan: &TrafficPlan,
        dnssec: &crate::dnssec::Signing,
    ) -> FastTable {
        // The full path runs on tables of its own: health, location and
        // answer counters do not matter, because answers a policy took part
        // in are never templated (and precompiling is not traffic).
        let state = TrafficState::compute(plan, &HealthInputs::new(), &NoAdjustments);
        let (geo, fast, answers) = (
            GeoDb::empty(),
            FastTable::default(),
            AnswerMetrics::disabled(),
        );
        let snapshot = View {
            zones,
            plan,
            state: &state,
            geo: &geo,
            fast: &fast,
            nsid: &[],
            edns_udp_payload: u16::MAX,
            answers: &answers,
            dnssec,
        };
        let mut table = FastTable::default();
        let mut rng = fastrand::Rng::with_seed(0);
        for zone in snapshot.zones.iter() {
            let zone_index = table.zones.len() as u32;
            let (soa_tail_full, _) = soa_tail(&zone.negative_soa(), None);
            let (soa_tail, soa_pointers) = soa_tail(&zone.negative_soa(), Some(&zone.origin));
            let origin_wire = wire_lower(&zone.origin).into_boxed_slice();
            let signed_zone = snapshot.dnssec.load.zone(&zone.origin).is_some();
            table.zones.push(ZoneInfo {
                origin_len: origin_wire.len(),
                soa_tail,
                soa_pointers,
                soa_tail_full,
                origin_wire,
                signed: signed_zone,
            });
            let cuts: HashSet<&Name> = zone
                .nodes()
                .filter(|(_, n)| n.is_cut)
                .map(|(name, _)| name)
                .collect();
            let wildcard_parents: HashSet<Name> = zone
                .nodes()
                .filter(|(name, _)| name.is_wildcard())
                .map(|(name, _)| name.base_name())
                .collect();
            for (name, node) in zone.nodes() {
                let below_cut = !cuts.is_empty() && is_at_or_below_cut(zone, &cuts, name);
                let kind = match snapshot.plan.by_name.get(name) {
                    _ if below_cut => Kind::Slow,
                    Some(&service) => Kind::Managed(service),
                    None => Kind::Static,
                };
                let has_cname = node.get(RecordType::CNAME).is_some();
                let mut answers = Vec::new();
                let mut signed = Vec::new();
                if kind != Kind::Slow {
                    for set in &node.rrsets {
                        answers.push((u16::from(set.rtype), table.encode_rrset(set)));
                    }
                    if signed_zone {
                        table.signed_templates(
                            &snapshot,
                            zone,
                            name,
                            node,
                            &mut answers,
                            &mut signed,
                        );
                    }
                    if has_cname {
                        for rtype in [RecordType::A, RecordType::AAAA] {
                            if let Some(t) = table.chased(&snapshot, name, rtype, &mut rng) {
                                answers.push((u16::from(rtype), t));
                            }
                        }
                    }
                }
                let entry = Entry {
                    kind,
                    zone: zone_index,
                    answers: answers.into_boxed_slice(),
                    nodata: !has_cname,
                    wildcard_below: wildcard_parents.contains(name),
                    signed: signed.into_boxed_slice(),
                };
                table.insert(wire_lower(name), entry);
            }
            // Managed names and their implied ancestors that the zone file lacks.
            let extra = snapshot
                .plan
                .by_name
                .keys()
                .chain(snapshot.plan.implied_names.iter())
                .filter(|n| zone.origin.zone_of(n) && zone.node(n).is_none());
            for name in extra {
                let kind = match snapshot.plan.by_name.get(name) {
                    Some(&service) => Kind::Managed(service),
                    None => Kind::Static,
                };
                let entry = Entry {
                    kind,
                    zone: zone_index,
                    answers: Box::new([]),
                    nodata: true,
                    wildcard_below: false,
                    signed: Box::new([]),
                };
                table.insert(wire_lower(name), entry);
            }
        }
        table.arena.shrink_to_fit();
        table
    }

    /// Adds a name; a name already present belongs to two served zones (a
    /// child apex is also the parent's cut) and needs the full path's zone
    /// choice.
    fn insert(&mut self, key: Vec<u8>, entry: Entry) {
        match self.names.entry(key.into_boxed_slice()) {
            std::collections::hash_map::Entry::Occupied(mut present) => {
                present.get_mut().kind = Kind::Slow
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(entry);
            }
        }
    }

    /// An authoritative answer holding exactly `set`, owned by the query
    /// name (a pointer to the question), RDATA names uncompressed.
    fn encode_rrset(&mut self, set: &crate::zone::RecordSet) -> Template {
        let start = self.arena.len();
        for record in &set.records {
            let mut rdata = Vec::new();
            {
                let mut encoder = BinEncoder::new(&mut rdata);
                encoder.set_name_encoding(NameEncoding::Uncompressed);
                // Encoding into a Vec cannot fail short of memory.
                let _ = record.data.emit(&mut encoder);
            }
            self.arena.extend_from_slice(&[0xc0, 0x0c]);
            self.arena
                .extend_from_slice(&u16::from(set.rtype).to_be_bytes());
            self.arena.extend_from_slice(&1u16.to_be_bytes());
            self.arena.extend_from_slice(&record.ttl.to_be_bytes());
            self.arena
                .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            self.arena.extend_from_slice(&rdata);
        }
        Template {
            aa: true,
            rcode: 0,
            counts: [set.records.len() as u16, 0, 0],
            start: start as u32,
            len: (self.arena.len() - start) as u32,
        }
    }

    /// DNSSEC: for each RRset at `name` (and, at a signed apex, the
    /// DNSKEY, CDS and CDNSKEY the server adds, unsigned into `answers`
    /// too) a template with its pre-made RRSIGs appended. An RRset whose
    /// signature is missing gets none (the full path answers it).
    fn signed_templates(
        &mut self,
        snapshot: &View<'_>,
        zone: &crate::zone::Zone,
        name: &Name,
        node: &crate::zone::Node,
        answers: &mut Vec<(u16, Template)>,
        signed: &mut Vec<(u16, Template)>,
    ) {
        let dnssec = &snapshot.dnssec;
        let mut sets: Vec<crate::zone::RecordSet> = Vec::new();
        if *name == zone.origin
            && let Some(signed_zone) = dnssec.load.zone(&zone.origin)
        {
            for rtype in [RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY] {
                if let Some(records) = signed_zone.apex_rrset(rtype)
                    && !records.is_empty()
                    && node.get(rtype).is_none()
                {
                    let set = crate::zone::RecordSet {
                        rtype,
                        records: records.to_vec(),
                    };
                    answers.push((u16::from(rtype), self.encode_rrset(&set)));
                    sets.push(set);
                }
            }
        }
        for set in node.rrsets.iter().chain(sets.iter()) {
            let key = crate::dnssec::signer::rrset_key(
                name,
                set.rtype,
                set.records.iter().map(|r| &r.data),
            );
            let Some(sig) = dnssec.static_sig(&zone.origin, &key) else {
                continue;
            };
            if sig.rrsigs.is_empty() {
                continue;
            }
            let mut template = self.encode_rrset(set);
            self.arena.extend_from_slice(&sig.wire);
            template.len += sig.wire.len() as u32;
            template.counts[0] += sig.rrsigs.len() as u16;
            let until = sig.expires.saturating_sub(dnssec.refresh_secs());
            self.signed_until = if self.signed_until == 0 {
                until
            } else {
                self.signed_until.min(until)
            };
            signed.push((u16::from(set.rtype), template));
        }
    }

    /// The full path's answer to `name`/`rtype` (a CNAME chain), stored as
    /// a template; `None` when a policy took part in it.
    fn chased(
        &mut self,
        snapshot: &View<'_>,
        name: &Name,
        rtype: RecordType,
        rng: &mut fastrand::Rng,
    ) -> Option<Template> {
        let (mut template, body) = template(snapshot, name, rtype, rng)?;
        template.start = self.arena.len() as u32;
        self.arena.extend_from_slice(&body);
        Some(template)
    }

    /// A template's body bytes.
    fn body(&self, template: &Template) -> &[u8] {
        &self.arena[template.start as usize..(template.start + template.len) as usize]
    }

    /// Number of names with precompiled answers.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when nothing is precompiled.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// True when `name` is a delegation point or below one in `zone`, whose
/// delegation points are `cuts`.
fn is_at_or_below_cut(zone: &crate::zone::Zone, cuts: &HashSet<&Name>, name: &Name) -> bool {
    let mut n = name.clone();
    while n != zone.origin && zone.origin.zone_of(&n) {
        if cuts.contains(&n) {
            return true;
        }
        n = n.base_name();
    }
    false
}

/// The full path's answer to `name`/`rtype`, as a template and its body;
/// `None` when a policy took part (the answer may differ per query).
fn template(
    snapshot: &View<'_>,
    name: &Name,
    rtype: RecordType,
    rng: &mut fastrand::Rng,
) -> Option<(Template, Vec<u8>)> {
    let client = client_of(IpAddr::V4(Ipv4Addr::UNSPECIFIED), None);
    let sections = lookup(snapshot, name, rtype, &client, rng);
    if sections.dynamic {
        return None;
    }
    let mut response = Message::new(0, MessageType::Response, OpCode::Query);
    response.add_query(Query::query(name.clone(), rtype));
    let bytes = finish(response, sections, None, u16::MAX as usize);
    let question_end = 12 + wire_lower(name).len() + 4;
    if bytes.len() < question_end || bytes[2] & 0x02 != 0 {
        return None;
    }
    let count = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
    let body = bytes[question_end..].to_vec();
    let template = Template {
        aa: bytes[2] & 0x04 != 0,
        rcode: bytes[3] & 0x0f,
        counts: [count(6), count(8), count(10)],
        start: 0,
        len: body.len() as u32,
    };
    Some((template, body))
}

/// The SOA record's bytes after its owner, and where in them the names
/// MNAME and RNAME point at the zone's `origin` (placeholders patched per
/// query); names outside it, names not in lower case (whose case a pointer
/// would lose) and every name when `origin` is `None` are written in full.
fn soa_tail(
    soa: &hickory_proto::rr::Record,
    origin: Option<&Name>,
) -> (Box<[u8]>, [Option<u16>; 2]) {
    let mut rdata = Vec::new();
    let mut pointers = [None, None];
    if let hickory_proto::rr::RData::SOA(data) = &soa.data {
        for (i, name) in [&data.mname, &data.rname].into_iter().enumerate() {
            // As written in the zone (case kept), like the full path.
            let mut wire = Vec::with_capacity(name.len() + 2);
            for label in name.iter() {
                wire.push(label.len() as u8);
                wire.extend_from_slice(label);
            }
            wire.push(0);
            if let Some(origin) = origin
                && origin.zone_of(name)
                && wire == wire_lower(name)
            {
                // The labels above the origin, then a pointer to it.
                let origin_len = wire_lower(origin).len();
                rdata.extend_from_slice(&wire[..wire.len() - origin_len]);
                pointers[i] = Some((10 + rdata.len()) as u16);
                rdata.extend_from_slice(&[0xc0, 0]);
            } else {
                rdata.extend_from_slice(&wire);
            }
        }
        for value in [
            data.serial,
            data.refresh as u32,
            data.retry as u32,
            data.expire as u32,
            data.minimum,
        ] {
            rdata.extend_from_slice(&value.to_be_bytes());
        }
    }
    let mut tail = Vec::with_capacity(10 + rdata.len());
    tail.extend_from_slice(&u16::from(RecordType::SOA).to_be_bytes());
    tail.extend_from_slice(&1u16.to_be_bytes());
    tail.extend_from_slice(&soa.ttl.to_be_bytes());
    tail.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    tail.extend_from_slice(&rdata);
    (tail.into_boxed_slice(), pointers)
}

/// Tries to answer `packet` from the precompiled table into `out`
/// (reading it first: tests call the fast path alone).
#[cfg(test)]
pub(crate) fn answer(
    snapshot: &View<'_>,
    packet: &[u8],
    meta: &QueryMeta,
    rng: &mut fastrand::Rng,
    out: &mut Vec<u8>,
) -> Fast {
    let q = crate::answer::query::parse(packet);
    match q.plain() && answer_parsed(snapshot, &q, packet, meta, rng, out).is_some() {
        true => Fast::Answered,
        false => Fast::Fallback,
    }
}

/// Tries to answer the plain query `q` (read from `packet`) from the
/// precompiled table into `out`. `Some(scope)`: `out` holds the complete
/// response, whose ECS option (if any) declares `scope`; `None`: use the
/// full path.
pub(crate) fn answer_parsed(
    snapshot: &View<'_>,
    q: &Parsed,
    packet: &[u8],
    meta: &QueryMeta,
    rng: &mut fastrand::Rng,
    out: &mut Vec<u8>,
) -> Option<u8> {
    let qtype = q.qtype?;
    // Meta and transfer types, ANY, OPT: full path.
    if qtype == 0 || qtype == 41 || (128..=255).contains(&qtype) {
        return None;
    }
    let table = snapshot.fast;
    let name = &q.name[..q.name_len];
    let edns = q.edns.map(|o| o.payload);
    let limit = size_limit(edns, meta.transport, snapshot.edns_udp_payload);
    let ecs = q.edns.and_then(|o| o.ecs.ok().flatten());
    out.clear();
    // Each arm writes header, question and sections, and returns the ECS scope.
    let scope = match table.names.get(name) {
        Some(entry) => match entry.kind {
            Kind::Slow => None,
            Kind::Static => replay(table, entry, out, packet, q, qtype),
            Kind::Managed(service) => managed(
                snapshot, entry, service, packet, q, qtype, meta, ecs, rng, out,
            ),
        },
        None => nxdomain(table, packet, q, out),
    }?;
    if let Some(opt) = q.edns {
        let nsid = if opt.nsid { snapshot.nsid } else { &[] };
        write_opt(
            out,
            ecs.as_ref(),
            scope,
            snapshot.edns_udp_payload,
            nsid,
            q.dnssec_ok(),
        );
    }
    if out.len() > limit {
        // Needs truncation or trimming: the full path knows how.
        return None;
    }
    Some(scope)
}

/// Writes the static answer for `qtype` at an existing name: its template,
/// or NODATA. Scope 0: static answers ignore location.
fn replay(
    table: &FastTable,
    entry: &Entry,
    out: &mut Vec<u8>,
    packet: &[u8],
    q: &Parsed,
    qtype: u16,
) -> Option<u8> {
    if q.dnssec_ok() && table.zones[entry.zone as usize].signed {
        // Signed answers from their templates while fresh; negative
        // answers (which need an NSEC for the name) on the full path.
        let (_, t) = entry.signed.iter().find(|(t, _)| *t == qtype)?;
        if now_epoch() >= table.signed_until {
            return None;
        }
        emit(out, packet, q, t.aa, t.rcode, t.counts);
        out.extend_from_slice(table.body(t));
        return Some(0);
    }
    match entry.answers.iter().find(|(t, _)| *t == qtype) {
        Some((_, t)) => {
            emit(out, packet, q, t.aa, t.rcode, t.counts);
            out.extend_from_slice(table.body(t));
        }
        None if entry.nodata => negative(table, entry, out, packet, q, 0),
        None => return None,
    }
    Some(0)
}

/// A negative answer (`rcode` 0: NODATA, 3: NXDOMAIN) in `entry`'s zone:
/// the zone's SOA, its owner a pointer to where the origin sits in the
/// question (RFC 2308 §3).
fn negative(
    table: &FastTable,
    entry: &Entry,
    out: &mut Vec<u8>,
    packet: &[u8],
    q: &Parsed,
    rcode: u8,
) {
    let zone = &table.zones[entry.zone as usize];
    let origin_at = 12 + q.name_len - zone.origin_len;
    emit(out, packet, q, true, rcode, [0, 1, 0]);
    let pointer = (0xc000u16 | origin_at as u16).to_be_bytes();
    out.extend_from_slice(&pointer);
    if packet[origin_at..origin_at + zone.origin_len] != zone.origin_wire[..] {
        out.extend_from_slice(&zone.soa_tail_full);
        return;
    }
    let start = out.len();
    out.extend_from_slice(&zone.soa_tail);
    for at in zone.soa_pointers.iter().flatten() {
        let at = start + *at as usize;
        out[at..at + 2].copy_from_slice(&pointer);
    }
}

/// Writes the header and the question as received.
fn emit(out: &mut Vec<u8>, packet: &[u8], q: &Parsed, aa: bool, rcode: u8, counts: [u16; 3]) {
    let flags2 = 0x80 | if aa { 0x04 } else { 0 } | (packet[2] & 0x01);
    let flags3 = (packet[3] & 0x10) | (rcode & 0x0f);
    let additional = counts[2] + u16::from(q.edns.is_some());
    out.extend_from_slice(&packet[..2]);
    out.extend_from_slice(&[flags2, flags3, 0, 1]);
    out.extend_from_slice(&counts[0].to_be_bytes());
    out.extend_from_slice(&counts[1].to_be_bytes());
    out.extend_from_slice(&additional.to_be_bytes());
    out.extend_from_slice(&packet[12..q.question_end]);
}

/// Appends an OPT record: our payload size, version 0, the ECS echo and
/// `nsid` (an encoded NSID option, or empty).
fn write_opt(
    out: &mut Vec<u8>,
    ecs: Option<&ClientSubnet>,
    scope: u8,
    payload: u16,
    nsid: &[u8],
    dnssec_ok: bool,
) {
    out.push(0);
    out.extend_from_slice(&41u16.to_be_bytes());
    out.extend_from_slice(&payload.to_be_bytes());
    // Extended RCODE, version, then flags: DO copied (RFC 3225 §3).
    out.extend_from_slice(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
    match ecs {
        None => out.extend_from_slice(&(nsid.len() as u16).to_be_bytes()),
        Some(ecs) => {
            let addr_len = (ecs.source_prefix as usize).div_ceil(8);
            let option_len = 4 + addr_len;
            out.extend_from_slice(&((4 + option_len + nsid.len()) as u16).to_be_bytes());
            out.extend_from_slice(&[0, 8]);
            out.extend_from_slice(&(option_len as u16).to_be_bytes());
            let (family, octets): (u16, [u8; 16]) = match ecs.addr {
                IpAddr::V4(a) => {
                    let mut o = [0u8; 16];
                    o[..4].copy_from_slice(&a.octets());
                    (1, o)
                }
                IpAddr::V6(a) => (2, a.octets()),
            };
            out.extend_from_slice(&family.to_be_bytes());
            out.extend_from_slice(&[ecs.source_prefix, scope.min(ecs.source_prefix)]);
            out.extend_from_slice(&octets[..addr_len]);
        }
    }
    out.extend_from_slice(nsid);
}

/// NXDOMAIN for a name the table lacks, when nothing (cut, wildcard,
/// foreign zone) makes the full path answer differently.
fn nxdomain(table: &FastTable, packet: &[u8], q: &Parsed, out: &mut Vec<u8>) -> Option<u8> {
    let name = &q.name[..q.name_len];
    // Outside every zone there is no encloser: REFUSED, on the full path.
    let encloser =
        (1..q.label_count).find_map(|i| table.names.get(&name[q.labels[i] as usize..]))?;
    if encloser.kind == Kind::Slow || encloser.wildcard_below {
        return None;
    }
    // A signed NXDOMAIN is a compact-denial NSEC for this very name.
    if q.dnssec_ok() && table.zones[encloser.zone as usize].signed {
        return None;
    }
    negative(table, encloser, out, packet, q, 3);
    Some(0)
}

/// A/AAAA at a managed name, chosen by policy now; other types from
/// templates. Returns the ECS scope the decision depended on.
#[allow(clippy::too_many_arguments)]
fn managed(
    snapshot: &View<'_>,
    entry: &Entry,
    service: usize,
    packet: &[u8],
    q: &Parsed,
    qtype: u16,
    meta: &QueryMeta,
    ecs: Option<ClientSubnet>,
    rng: &mut fastrand::Rng,
    out: &mut Vec<u8>,
) -> Option<u8> {
    let v6 = match qtype {
        1 => false,
        28 => true,
        // CNAME (and ANY, filtered earlier) depend on the policy too.
        5 => return None,
        _ => return replay(snapshot.fast, entry, out, packet, q, qtype),
    };
    let plan = &snapshot.plan;
    let svc = &plan.services[service];
    let client = client_of(meta.source.ip(), ecs);
    let family = if v6 { Family::V6 } else { Family::V4 };
    let decision = decide(
        plan,
        snapshot.state,
        svc,
        &client,
        family,
        snapshot.geo,
        rng,
    );
    // The records the decision gives, as the full path would pick them;
    // more than fit inline, or a name target (a CNAME chain), take the
    // full path.
    let picked = pick(
        plan,
        snapshot.state,
        svc,
        &decision,
        family,
        Some(INLINE_ADDRESSES),
    )?;
    if picked.target.is_some() {
        return None;
    }
    let count = if v6 { picked.v6.len() } else { picked.v4.len() };
    let signed = q.dnssec_ok() && snapshot.fast.zones[entry.zone as usize].signed;
    let sig = if signed {
        // A NODATA needs its NSEC, a variant not pre-signed (a multivalue
        // subset) its signature: both on the full path.
        if count == 0 {
            return None;
        }
        let sig = managed_sig(snapshot, q, qtype, &picked.v4, &picked.v6)?;
        if !sig.fresh(now_epoch(), snapshot.dnssec.refresh_secs()) {
            return None;
        }
        Some(sig)
    } else {
        None
    };
    if count == 0 {
        negative(snapshot.fast, entry, out, packet, q, 0);
        snapshot
            .answers
            .record(service, svc, snapshot.state, &decision);
        return Some(decision.scope);
    }
    // Counted only once the fast path is sure to answer: a fallback
    // decides (and counts) again on the full path.
    snapshot
        .answers
        .record(service, svc, snapshot.state, &decision);
    let rrsigs = sig.map_or(0, |s| s.rrsigs.len() as u16);
    emit(out, packet, q, true, 0, [count as u16 + rrsigs, 0, 0]);
    let ttl = svc.ttl.to_be_bytes();
    // Owner: a pointer to the question name at offset 12.
    let mut record = |rdata: &[u8]| {
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out.extend_from_slice(&ttl);
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
    };
    if v6 {
        picked.v6.iter().for_each(|a| record(&a.octets()));
    } else {
        picked.v4.iter().for_each(|a| record(&a.octets()));
    }
    if let Some(sig) = sig {
        out.extend_from_slice(&sig.wire);
    }
    Some(decision.scope)
}

/// Seconds since the epoch, from the coarse clock (an atomic load).
fn now_epoch() -> u32 {
    crate::dnssec::clock::now()
}

/// The pre-signed RRSIGs of the managed answer (`v4` for A, `v6` for
/// AAAA) at the query name, looked up with a key built on the stack
/// exactly as `dnssec::signer::rrset_key` builds it.
fn managed_sig<'s>(
    snapshot: &View<'s>,
    q: &Parsed,
    qtype: u16,
    v4: &[Ipv4Addr],
    v6: &[Ipv6Addr],
) -> Option<&'s crate::dnssec::signer::Sig> {
    let is_v6 = qtype == 28;
    // 16-byte slots (IPv4 in the last four), sorted: canonical RRset order.
    let mut sorted = [[0u8; 16]; INLINE_ADDRESSES];
    let count = if is_v6 { v6.len() } else { v4.len() };
    if count > INLINE_ADDRESSES {
        return None;
    }
    for (slot, octets) in sorted.iter_mut().zip(
        v4.iter()
            .filter(|_| !is_v6)
            .map(|a| Ipv6Addr::from(a.to_bits() as u128).octets())
            .chain(v6.iter().filter(|_| is_v6).map(|a| a.octets())),
    ) {
        *slot = octets;
    }
    sorted[..count].sort_unstable();
    let mut key = [0u8; 255 + 2 + INLINE_ADDRESSES * 18];
    let mut len = q.name_len;
    key[..len].copy_from_slice(&q.name[..len]);
    key[len..len + 2].copy_from_slice(&qtype.to_be_bytes());
    len += 2;
    for octets in &sorted[..count] {
        let rdata = if is_v6 { &octets[..] } else { &octets[12..] };
        key[len..len + 2].copy_from_slice(&(rdata.len() as u16).to_be_bytes());
        key[len + 2..len + 2 + rdata.len()].copy_from_slice(rdata);
        len += 2 + rdata.len();
    }
    snapshot.dnssec.managed_sig(&key[..len])
}
