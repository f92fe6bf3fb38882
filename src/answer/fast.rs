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

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use crate::answer::ecs::{ClientSubnet, parse_option};
use crate::answer::{QueryMeta, Transport, finish, lookup};
use crate::snapshot::Snapshot;
use crate::traffic::policy::{Family, decide};
use crate::traffic::{Client, EndpointAnswer};

/// A type no zone holds: asking for it yields the name's NODATA answer.
const PROBE_TYPE: RecordType = RecordType::Unknown(65280);
/// Largest UDP answer without EDNS.
const CLASSIC_UDP_LIMIT: usize = 512;

/// What the fast path did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fast {
    /// `out` holds the complete response.
    Answered,
    /// Not covered here: use the full path.
    Fallback,
}

/// A precompiled response, minus header and question.
#[derive(Debug, Clone)]
struct Template {
    /// Header byte 2's AA bit and byte 3's RCODE bits.
    aa: bool,
    rcode: u8,
    /// ANCOUNT, NSCOUNT, ARCOUNT of the body.
    counts: [u16; 3],
    /// Answer, authority and additional sections as wire bytes.
    body: Box<[u8]>,
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
    answers: Vec<(u16, Template)>,
    /// The answer for every other type (NODATA), when it is the same for all.
    other: Option<Template>,
    /// `*.<this name>` exists: misses below it are wildcard answers.
    wildcard_below: bool,
}

/// Per zone: what an NXDOMAIN answer needs.
#[derive(Debug, Clone)]
struct ZoneInfo {
    /// Wire length of the origin (to point at it inside the question).
    origin_len: usize,
    /// The negative-answer SOA record after its owner name: type, class,
    /// TTL, length and uncompressed RDATA.
    soa_tail: Box<[u8]>,
}

/// The precompiled answers of a set of zones. Built once per load and
/// shared by every snapshot of that load.
#[derive(Debug, Default)]
pub struct FastTable {
    names: HashMap<Box<[u8]>, Entry>,
    zones: Vec<ZoneInfo>,
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
    /// Precompiles every static answer `snapshot` can give. Pure; cost is
    /// one full-path lookup per (name, type) in the zones.
    pub fn build(snapshot: &Snapshot) -> FastTable {
        let mut table = FastTable::default();
        let mut owners: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut rng = fastrand::Rng::with_seed(0);
        for zone in snapshot.zones.iter() {
            let zone_index = table.zones.len() as u32;
            table.zones.push(ZoneInfo {
                origin_len: wire_lower(&zone.origin).len(),
                soa_tail: soa_tail(&zone.negative_soa()),
            });
            for (name, node) in zone.nodes() {
                let key = wire_lower(name);
                *owners.entry(key.clone()).or_default() += 1;
                let below_cut = is_at_or_below_cut(zone, name);
                let mut entry = Entry {
                    kind: if below_cut { Kind::Slow } else { Kind::Static },
                    zone: zone_index,
                    answers: Vec::new(),
                    other: None,
                    wildcard_below: name
                        .prepend_label("*")
                        .is_ok_and(|w| zone.node(&w).is_some()),
                };
                if let Some(&service) = snapshot.plan.by_name.get(name) {
                    entry.kind = Kind::Managed(service);
                }
                if entry.kind != Kind::Slow {
                    let mut types: Vec<RecordType> = node.rrsets.iter().map(|s| s.rtype).collect();
                    let has_cname = node.get(RecordType::CNAME).is_some();
                    if has_cname {
                        types.extend([RecordType::A, RecordType::AAAA]);
                    }
                    for rtype in types {
                        if let Some(t) = template(snapshot, name, rtype, &mut rng) {
                            entry.answers.push((u16::from(rtype), t));
                        }
                    }
                    // After a CNAME, other types depend on the chain's end.
                    if !has_cname {
                        entry.other = template(snapshot, name, PROBE_TYPE, &mut rng);
                    }
                }
                table.names.insert(key.into_boxed_slice(), entry);
            }
            // Managed names and their implied ancestors that the zone file lacks.
            let extra = snapshot
                .plan
                .by_name
                .keys()
                .chain(snapshot.plan.implied_names.iter())
                .filter(|n| zone.origin.zone_of(n) && zone.node(n).is_none());
            for name in extra {
                let key = wire_lower(name);
                *owners.entry(key.clone()).or_default() += 1;
                let kind = match snapshot.plan.by_name.get(name) {
                    Some(&service) => Kind::Managed(service),
                    None => Kind::Static,
                };
                let entry = Entry {
                    kind,
                    zone: zone_index,
                    answers: Vec::new(),
                    other: template(snapshot, name, PROBE_TYPE, &mut rng),
                    wildcard_below: false,
                };
                table.names.insert(key.into_boxed_slice(), entry);
            }
        }
        // A name in two served zones (a child apex is also the parent's
        // cut) needs the full path's zone choice.
        for (key, count) in owners {
            if count > 1
                && let Some(entry) = table.names.get_mut(key.as_slice())
            {
                entry.kind = Kind::Slow;
            }
        }
        table
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

/// True when `name` is a delegation point or below one in `zone`.
fn is_at_or_below_cut(zone: &crate::zone::Zone, name: &Name) -> bool {
    let mut n = name.clone();
    while n != zone.origin && zone.origin.zone_of(&n) {
        if zone.node(&n).is_some_and(|node| node.is_cut) {
            return true;
        }
        n = n.base_name();
    }
    false
}

/// The full path's answer to `name`/`rtype`, as a template; `None` when a
/// policy took part (the answer may differ per query).
fn template(
    snapshot: &Snapshot,
    name: &Name,
    rtype: RecordType,
    rng: &mut fastrand::Rng,
) -> Option<Template> {
    let client = Client {
        addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ecs_source_prefix: None,
    };
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
    Some(Template {
        aa: bytes[2] & 0x04 != 0,
        rcode: bytes[3] & 0x0f,
        counts: [count(6), count(8), count(10)],
        body: bytes[question_end..].into(),
    })
}

/// The SOA record's bytes after its owner, with names uncompressed so they
/// stay valid wherever the record lands.
fn soa_tail(soa: &hickory_proto::rr::Record) -> Box<[u8]> {
    let mut rdata = Vec::new();
    {
        let mut encoder = BinEncoder::new(&mut rdata);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        // Encoding an SOA into a Vec cannot fail short of memory.
        let _ = soa.data.emit(&mut encoder);
    }
    let mut tail = Vec::with_capacity(10 + rdata.len());
    tail.extend_from_slice(&u16::from(RecordType::SOA).to_be_bytes());
    tail.extend_from_slice(&1u16.to_be_bytes());
    tail.extend_from_slice(&soa.ttl.to_be_bytes());
    tail.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    tail.extend_from_slice(&rdata);
    tail.into_boxed_slice()
}

/// What the fast path parsed from a query.
struct Parsed {
    /// End of the question (offset after QCLASS).
    question_end: usize,
    /// The lower-cased QNAME in wire form, and its length.
    name: [u8; 255],
    name_len: usize,
    /// Offsets of each label start within `name`.
    labels: [u8; 128],
    label_count: usize,
    qtype: u16,
    /// The client's EDNS UDP size, when the query had OPT.
    edns: Option<u16>,
    ecs: Option<ClientSubnet>,
}

/// Parses the header, question and an optional OPT; `None` for anything
/// unusual (the full path then decides what it is).
fn parse(packet: &[u8]) -> Option<Parsed> {
    let header = packet.get(..12)?;
    // QR=0, OPCODE=0, TC=0; QDCOUNT=1, ANCOUNT=0, NSCOUNT=0, ARCOUNT<=1.
    if header[2] & 0xfa != 0
        || header[4..10] != [0, 1, 0, 0, 0, 0]
        || header[10] != 0
        || header[11] > 1
    {
        return None;
    }
    let mut parsed = Parsed {
        question_end: 0,
        name: [0; 255],
        name_len: 0,
        labels: [0; 128],
        label_count: 0,
        qtype: 0,
        edns: None,
        ecs: None,
    };
    let mut pos = 12;
    loop {
        let len = *packet.get(pos)? as usize;
        if len > 63 {
            return None; // compression or extended labels: not in a plain question
        }
        let end = parsed.name_len + 1 + len;
        if end > 255 || parsed.label_count >= 128 {
            return None;
        }
        if len > 0 {
            parsed.labels[parsed.label_count] = parsed.name_len as u8;
            parsed.label_count += 1;
        }
        parsed.name[parsed.name_len] = len as u8;
        let label = packet.get(pos + 1..pos + 1 + len)?;
        for (dst, src) in parsed.name[parsed.name_len + 1..end].iter_mut().zip(label) {
            *dst = src.to_ascii_lowercase();
        }
        parsed.name_len = end;
        pos += 1 + len;
        if len == 0 {
            break;
        }
    }
    let fixed = packet.get(pos..pos + 4)?;
    parsed.qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    if u16::from_be_bytes([fixed[2], fixed[3]]) != 1 {
        return None; // class IN only
    }
    pos += 4;
    parsed.question_end = pos;
    if header[11] == 1 {
        // OPT: root owner, type 41, version 0, then options.
        let opt = packet.get(pos..pos + 11)?;
        if opt[0] != 0 || opt[1..3] != [0, 41] || opt[6] != 0 {
            return None;
        }
        parsed.edns = Some(u16::from_be_bytes([opt[3], opt[4]]));
        let rdlen = u16::from_be_bytes([opt[9], opt[10]]) as usize;
        let mut options = packet.get(pos + 11..pos + 11 + rdlen)?;
        pos += 11 + rdlen;
        while !options.is_empty() {
            let [c0, c1, l0, l1, rest @ ..] = options else {
                return None;
            };
            let len = u16::from_be_bytes([*l0, *l1]) as usize;
            let (value, rest) = rest.split_at_checked(len)?;
            if [*c0, *c1] == [0, 8] {
                if parsed.ecs.is_some() {
                    return None;
                }
                parsed.ecs = Some(parse_option(value).ok()?);
            }
            options = rest;
        }
    }
    // Trailing bytes make it malformed: the full path says FORMERR.
    (pos == packet.len()).then_some(parsed)
}

/// Tries to answer `packet` from the precompiled table into `out`.
pub fn answer(
    snapshot: &Snapshot,
    packet: &[u8],
    meta: &QueryMeta,
    rng: &mut fastrand::Rng,
    out: &mut Vec<u8>,
) -> Fast {
    let Some(q) = parse(packet) else {
        return Fast::Fallback;
    };
    let qtype = q.qtype;
    // Meta and transfer types, ANY, OPT: full path.
    if qtype == 0 || qtype == 41 || (128..=255).contains(&qtype) {
        return Fast::Fallback;
    }
    let table = &snapshot.fast;
    let name = &q.name[..q.name_len];
    let limit = match (q.edns, meta.transport) {
        (_, Transport::Tcp) => u16::MAX as usize,
        (Some(size), Transport::Udp) => {
            (size.min(snapshot.edns_udp_payload) as usize).max(CLASSIC_UDP_LIMIT)
        }
        (None, Transport::Udp) => CLASSIC_UDP_LIMIT,
    };
    out.clear();
    // Each arm writes header, question and sections, and returns the ECS scope.
    let scope = match table.names.get(name) {
        Some(entry) => match entry.kind {
            Kind::Slow => None,
            Kind::Static => replay(out, packet, &q, find(entry, qtype)),
            Kind::Managed(service) => managed(snapshot, entry, service, packet, &q, meta, rng, out),
        },
        None => nxdomain(table, packet, &q, out),
    };
    let Some(scope) = scope else {
        return Fast::Fallback;
    };
    if q.edns.is_some() {
        write_opt(out, q.ecs.as_ref(), scope, snapshot.edns_udp_payload);
    }
    if out.len() > limit {
        // Needs truncation or trimming: the full path knows how.
        return Fast::Fallback;
    }
    Fast::Answered
}

/// Writes a template's response; scope 0, as static answers ignore location.
fn replay(out: &mut Vec<u8>, packet: &[u8], q: &Parsed, template: Option<&Template>) -> Option<u8> {
    let t = template?;
    emit(out, packet, q, t.aa, t.rcode, t.counts);
    out.extend_from_slice(&t.body);
    Some(0)
}

fn find(entry: &Entry, qtype: u16) -> Option<&Template> {
    entry
        .answers
        .iter()
        .find(|(t, _)| *t == qtype)
        .map(|(_, t)| t)
        .or(entry.other.as_ref())
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

/// Appends an OPT record: our payload size, version 0, and the ECS echo.
fn write_opt(out: &mut Vec<u8>, ecs: Option<&ClientSubnet>, scope: u8, payload: u16) {
    out.push(0);
    out.extend_from_slice(&41u16.to_be_bytes());
    out.extend_from_slice(&payload.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    match ecs {
        None => out.extend_from_slice(&[0, 0]),
        Some(ecs) => {
            let addr_len = (ecs.source_prefix as usize).div_ceil(8);
            let option_len = 4 + addr_len;
            out.extend_from_slice(&((4 + option_len) as u16).to_be_bytes());
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
    let zone = &table.zones[encloser.zone as usize];
    // The SOA's owner is the zone origin: a pointer to where it sits in the question.
    let origin_at = 12 + q.name_len - zone.origin_len;
    emit(out, packet, q, true, 3, [0, 1, 0]);
    out.extend_from_slice(&(0xc000u16 | origin_at as u16).to_be_bytes());
    out.extend_from_slice(&zone.soa_tail);
    Some(0)
}

/// Most addresses the fast path writes per answer; larger sets take the full path.
const MAX_FAST_ADDRESSES: usize = 16;

/// A/AAAA at a managed name, chosen by policy now; other types from
/// templates. Returns the ECS scope the decision depended on.
#[allow(clippy::too_many_arguments)]
fn managed(
    snapshot: &Snapshot,
    entry: &Entry,
    service: usize,
    packet: &[u8],
    q: &Parsed,
    meta: &QueryMeta,
    rng: &mut fastrand::Rng,
    out: &mut Vec<u8>,
) -> Option<u8> {
    let v6 = match q.qtype {
        1 => false,
        28 => true,
        // CNAME (and ANY, filtered earlier) depend on the policy too.
        5 => return None,
        _ => return replay(out, packet, q, find(entry, q.qtype)),
    };
    let plan = &snapshot.plan;
    let svc = &plan.services[service];
    let client = Client {
        addr: q.ecs.map_or(meta.source.ip(), |e| e.addr),
        ecs_source_prefix: q.ecs.map(|e| e.source_prefix),
    };
    let family = if v6 { Family::V6 } else { Family::V4 };
    let decision = decide(
        plan,
        &snapshot.state,
        svc,
        &client,
        family,
        &snapshot.geo,
        rng,
    );
    // Addresses of the asked family, deduplicated, as 16-byte slots.
    let mut found = [[0u8; 16]; MAX_FAST_ADDRESSES];
    let mut count = 0;
    let mut fits = true;
    decision.for_each_endpoint(plan, &snapshot.state, svc, |region, endpoint| {
        let octets: [u8; 16] = match &plan.regions[region].endpoints[endpoint].answer {
            EndpointAnswer::V4(a) if !v6 => Ipv6Addr::from(a.to_bits() as u128).octets(),
            EndpointAnswer::V6(a) if v6 => a.octets(),
            // A CNAME target chains on: full path.
            EndpointAnswer::Target(_) => {
                fits = false;
                return;
            }
            _ => return,
        };
        if found[..count].contains(&octets) {
            return;
        }
        if count == MAX_FAST_ADDRESSES {
            fits = false;
            return;
        }
        found[count] = octets;
        count += 1;
    });
    if !fits {
        return None;
    }
    if count == 0 {
        replay(out, packet, q, entry.other.as_ref())?;
        snapshot
            .answers
            .record(service, svc, &snapshot.state, &decision);
        return Some(decision.scope);
    }
    // Counted only once the fast path is sure to answer: a fallback
    // decides (and counts) again on the full path.
    snapshot
        .answers
        .record(service, svc, &snapshot.state, &decision);
    emit(out, packet, q, true, 0, [count as u16, 0, 0]);
    let ttl = svc.ttl.to_be_bytes();
    for octets in &found[..count] {
        // Owner: a pointer to the question name at offset 12.
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&q.qtype.to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out.extend_from_slice(&ttl);
        if v6 {
            out.extend_from_slice(&[0, 16]);
            out.extend_from_slice(octets);
        } else {
            out.extend_from_slice(&[0, 4]);
            out.extend_from_slice(&octets[12..]);
        }
    }
    Some(decision.scope)
}
