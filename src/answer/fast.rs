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

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr};

use hashbrown::HashTable;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use crate::answer::ecs::ClientSubnet;
use crate::answer::managed::{INLINE_ADDRESSES, encode, pick, presigned};
use crate::answer::query::Parsed;
use crate::answer::{QueryMeta, View, client_of, finish, lookup, size_limit};
use crate::geo::GeoDb;
use crate::traffic::answer_metrics::AnswerMetrics;
use crate::traffic::policy::{Family, decide};
use crate::traffic::{HealthInputs, NoAdjustments, TrafficPlan, TrafficState};
use crate::zone::store::{MAX_NAME_LEN, wire_lower, wire_lower_into};
use crate::zone::{RecordSet, ZoneSet};

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
    /// (A u32, not a usize, keeps [`Entry`] at 28 bytes.)
    Managed(u32),
    /// Always the full path (cuts, glue, names in several zones).
    Slow,
}

/// Everything the fast path knows about one existing name.
#[derive(Debug, Clone)]
struct Entry {
    kind: Kind,
    /// Where the name (lower-case wire form) sits in [`FastTable::keys`].
    key: u32,
    key_len: u8,
    /// Every other type is NODATA with the zone's SOA (false after a CNAME,
    /// where the answer depends on the chain's end).
    nodata: bool,
    /// `*.<this name>` exists: misses below it are wildcard answers.
    wildcard_below: bool,
    /// Number of templates, at `answers` in [`FastTable::answers`].
    answer_count: u8,
    /// In a signed zone: number of templates with their RRSIGs appended,
    /// for DO queries, right after the plain ones in [`FastTable::answers`].
    signed_count: u8,
    /// Index into [`FastTable::zones`].
    zone: u32,
    /// First template (for the types present, or chased, at this name).
    answers: u32,
}

// The entry size ARCHITECTURE.md gives (per name, on top of key and templates).
const _: () = assert!(size_of::<Entry>() == 28);

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
///
/// Flat like the zone store (`zone::store`): names back to back in `keys`,
/// fixed-size entries, templates and their bytes in two arrays, and a hash
/// table of entry numbers; about 60 bytes per name plus the answer bytes,
/// instead of a boxed key, a boxed template list and a map slot per name.
#[derive(Debug, Default)]
pub struct FastTable {
    index: HashTable<u32>,
    hasher: Hasher,
    keys: Vec<u8>,
    entries: Vec<Entry>,
    /// Every entry's templates, each entry's contiguous.
    answers: Vec<(u16, Template)>,
    zones: Vec<ZoneInfo>,
    /// Every template's bytes, back to back.
    arena: Vec<u8>,
    /// Signed templates serve DO queries until this time (seconds since
    /// the epoch: their earliest signature expiry less the refresh
    /// margin), then the full path re-signs.
    signed_until: u32,
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
        // Sized up front: growing by doubling would hold up to twice the
        // memory at a reload's peak.
        let names = snapshot.zones.iter().map(|z| z.name_count()).sum::<usize>()
            + snapshot.plan.by_name.len()
            + snapshot.plan.implied_names.len();
        let key_bytes: usize = snapshot
            .zones
            .iter()
            .flat_map(|z| z.nodes())
            .map(|n| n.name_wire().len())
            .sum();
        let rrset_bytes: usize = snapshot
            .zones
            .iter()
            .flat_map(|z| z.rrsets())
            .map(|(_, set)| set.rdata_wire().map(|d| 12 + d.len()).sum::<usize>())
            .sum();
        table.entries.reserve_exact(names);
        table.keys.reserve_exact(key_bytes);
        table.answers.reserve_exact(names);
        table.arena.reserve(rrset_bytes);
        let FastTable {
            index,
            hasher,
            keys,
            entries,
            ..
        } = &mut table;
        index.reserve(names, |&id| {
            hasher.hash_one(key_of(keys, &entries[id as usize]))
        });
        let mut answers = Vec::new();
        let mut signed = Vec::new();
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
            let has_cuts = zone.nodes().any(|n| n.is_cut());
            let wildcard_parents: HashSet<&[u8]> = zone
                .nodes()
                .map(|n| n.name_wire())
                .filter(|w| w.starts_with(b"\x01*"))
                .map(|w| &w[2..])
                .collect();
            for node in zone.nodes() {
                let wire = node.name_wire();
                let below_cut = has_cuts && is_at_or_below_cut(zone, wire);
                let managed = if snapshot.plan.by_name.is_empty() {
                    None
                } else {
                    snapshot.plan.by_name.get(&node.name()).copied()
                };
                let kind = match managed {
                    _ if below_cut => Kind::Slow,
                    Some(service) => u32::try_from(service).map_or(Kind::Slow, Kind::Managed),
                    None => Kind::Static,
                };
                let has_cname = node.get(RecordType::CNAME).is_some();
                answers.clear();
                signed.clear();
                if kind != Kind::Slow {
                    for set in node.rrsets() {
                        answers.push((set.type_code(), table.encode_rrset(&set)));
                    }
                    if signed_zone {
                        table.signed_templates(&snapshot, zone, node, &mut answers, &mut signed);
                    }
                    if has_cname {
                        let name = node.name();
                        for rtype in [RecordType::A, RecordType::AAAA] {
                            if let Some(t) = table.chased(&snapshot, &name, rtype, &mut rng) {
                                answers.push((u16::from(rtype), t));
                            }
                        }
                    }
                }
                table.insert(wire, kind, zone_index, [&answers, &signed], !has_cname, {
                    wildcard_parents.contains(wire)
                });
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
                    Some(&service) => u32::try_from(service).map_or(Kind::Slow, Kind::Managed),
                    None => Kind::Static,
                };
                table.insert(&wire_lower(name), kind, zone_index, [&[], &[]], true, false);
            }
        }
        table.keys.shrink_to_fit();
        table.entries.shrink_to_fit();
        table.answers.shrink_to_fit();
        table.arena.shrink_to_fit();
        let FastTable {
            index,
            hasher,
            keys,
            entries,
            ..
        } = &mut table;
        index.shrink_to_fit(|&id| hasher.hash_one(key_of(keys, &entries[id as usize])));
        table
    }

    /// The entry for the lower-case wire name `wire`.
    fn get(&self, wire: &[u8]) -> Option<&Entry> {
        let hash = self.hasher.hash_one(wire);
        self.index
            .find(hash, |&id| {
                key_of(&self.keys, &self.entries[id as usize]) == wire
            })
            .map(|&id| &self.entries[id as usize])
    }

    /// Adds a name with its plain and (signed zones) signed templates; a
    /// name already present belongs to two served zones (a
    /// child apex is also the parent's cut) and needs the full path's zone
    /// choice.
    fn insert(
        &mut self,
        wire: &[u8],
        kind: Kind,
        zone: u32,
        [answers, signed]: [&[(u16, Template)]; 2],
        nodata: bool,
        wildcard_below: bool,
    ) {
        let hash = self.hasher.hash_one(wire);
        let FastTable {
            index,
            hasher,
            keys,
            entries,
            ..
        } = self;
        if let Some(&id) = index.find(hash, |&id| key_of(keys, &entries[id as usize]) == wire) {
            entries[id as usize].kind = Kind::Slow;
            return;
        }
        // More templates than fit the count never happen (one per type
        // present plus two chased); should they, the name goes slow.
        let (kind, answers, signed) =
            match (u8::try_from(answers.len()), u8::try_from(signed.len())) {
                (Ok(_), Ok(_)) => (kind, answers, signed),
                _ => (Kind::Slow, &[][..], &[][..]),
            };
        let id = entries.len() as u32;
        entries.push(Entry {
            kind,
            key: keys.len() as u32,
            key_len: wire.len() as u8,
            nodata,
            wildcard_below,
            answer_count: answers.len() as u8,
            signed_count: signed.len() as u8,
            zone,
            answers: self.answers.len() as u32,
        });
        keys.extend_from_slice(wire);
        self.answers.extend_from_slice(answers);
        self.answers.extend_from_slice(signed);
        index.insert_unique(hash, id, |&id| {
            hasher.hash_one(key_of(keys, &entries[id as usize]))
        });
    }

    /// An entry's templates.
    fn templates(&self, entry: &Entry) -> &[(u16, Template)] {
        &self.answers[entry.answers as usize..entry.answers as usize + entry.answer_count as usize]
    }

    /// An entry's signed templates (answers with their RRSIGs, for DO
    /// queries in a signed zone): stored right after its plain ones.
    fn signed_templates_of(&self, entry: &Entry) -> &[(u16, Template)] {
        let start = entry.answers as usize + entry.answer_count as usize;
        &self.answers[start..start + entry.signed_count as usize]
    }

    /// The positive answer of `count` records written to the arena from
    /// `start` on, as a template.
    fn answer_since(&self, start: usize, count: usize) -> Template {
        Template {
            aa: true,
            rcode: 0,
            counts: [count as u16, 0, 0],
            start: start as u32,
            len: (self.arena.len() - start) as u32,
        }
    }

    /// An authoritative answer holding exactly `set`, owned by the query
    /// name (a pointer to the question), RDATA names uncompressed (as the
    /// zone store keeps them).
    fn encode_rrset(&mut self, set: &RecordSet<'_>) -> Template {
        let start = self.arena.len();
        for rdata in set.rdata_wire() {
            self.arena.extend_from_slice(&[0xc0, 0x0c]);
            self.arena.extend_from_slice(&set.type_code().to_be_bytes());
            self.arena.extend_from_slice(&1u16.to_be_bytes());
            self.arena.extend_from_slice(&set.ttl().to_be_bytes());
            self.arena
                .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            self.arena.extend_from_slice(rdata);
        }
        self.answer_since(start, set.len())
    }

    /// DNSSEC: for each RRset at `node` (and, at a signed apex, the
    /// DNSKEY, CDS and CDNSKEY the server adds, unsigned into `answers`
    /// too) a template with its pre-made RRSIGs appended. An RRset whose
    /// signature is missing gets none (the full path answers it). Decodes
    /// each RRset once to find its signature (load time only).
    fn signed_templates(
        &mut self,
        snapshot: &View<'_>,
        zone: &crate::zone::Zone,
        node: crate::zone::Node<'_>,
        answers: &mut Vec<(u16, Template)>,
        signed: &mut Vec<(u16, Template)>,
    ) {
        let dnssec = &snapshot.dnssec;
        let name = node.name();
        let mut rdatas: Vec<RData> = Vec::new();
        for set in node.rrsets() {
            rdatas.clear();
            rdatas.extend(set.rdatas());
            let key = crate::dnssec::signer::rrset_key(&name, set.rtype(), rdatas.iter());
            let Some(sig) = dnssec.static_sig(&zone.origin, &key) else {
                continue;
            };
            if sig.rrsigs.is_empty() {
                continue;
            }
            let template = self.encode_rrset(&set);
            self.push_signed(template, sig, dnssec, set.type_code(), signed);
        }
        if name == zone.origin
            && let Some(signed_zone) = dnssec.load.zone(&zone.origin)
        {
            for rtype in [RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY] {
                let Some(records) = signed_zone.apex_rrset(rtype) else {
                    continue;
                };
                if records.is_empty() || node.get(rtype).is_some() {
                    continue;
                }
                let template = self.encode_records(rtype, records);
                answers.push((u16::from(rtype), template));
                let key =
                    crate::dnssec::signer::rrset_key(&name, rtype, records.iter().map(|r| &r.data));
                let Some(sig) = dnssec.static_sig(&zone.origin, &key) else {
                    continue;
                };
                if sig.rrsigs.is_empty() {
                    continue;
                }
                let template = self.encode_records(rtype, records);
                self.push_signed(template, sig, dnssec, u16::from(rtype), signed);
            }
        }
    }

    /// Appends `sig`'s RRSIG wire to `template` (the last thing written to
    /// the arena) and records it as a signed template of type `rtype`.
    fn push_signed(
        &mut self,
        mut template: Template,
        sig: &crate::dnssec::signer::Sig,
        dnssec: &crate::dnssec::Signing,
        rtype: u16,
        signed: &mut Vec<(u16, Template)>,
    ) {
        self.arena.extend_from_slice(&sig.wire);
        template.len += sig.wire.len() as u32;
        template.counts[0] += sig.rrsigs.len() as u16;
        let until = sig.expires.saturating_sub(dnssec.refresh_secs());
        self.signed_until = if self.signed_until == 0 {
            until
        } else {
            self.signed_until.min(until)
        };
        signed.push((rtype, template));
    }

    /// Like [`Self::encode_rrset`], for records the server adds (DNSKEY,
    /// CDS, CDNSKEY at a signed apex), which are not in the zone store.
    fn encode_records(&mut self, rtype: RecordType, records: &[Record]) -> Template {
        let start = self.arena.len();
        let mut rdata = Vec::new();
        for record in records {
            rdata.clear();
            let mut encoder = BinEncoder::new(&mut rdata);
            let _ = record.data.emit(&mut encoder);
            self.arena.extend_from_slice(&[0xc0, 0x0c]);
            self.arena
                .extend_from_slice(&u16::from(rtype).to_be_bytes());
            self.arena.extend_from_slice(&1u16.to_be_bytes());
            self.arena.extend_from_slice(&record.ttl.to_be_bytes());
            self.arena
                .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            self.arena.extend_from_slice(&rdata);
        }
        self.answer_since(start, records.len())
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
        self.entries.len()
    }

    /// True when nothing is precompiled.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Heap bytes the table takes (for logs and benchmarks).
    pub fn heap_bytes(&self) -> usize {
        self.index.capacity() * (size_of::<u32>() + 1)
            + self.keys.capacity()
            + self.entries.capacity() * size_of::<Entry>()
            + self.answers.capacity() * size_of::<(u16, Template)>()
            + self.arena.capacity()
    }
}

/// The name of `entry` in `keys`.
fn key_of<'a>(keys: &'a [u8], entry: &Entry) -> &'a [u8] {
    &keys[entry.key as usize..entry.key as usize + entry.key_len as usize]
}

/// True when the wire name `name` is a delegation point or below one in `zone`.
fn is_at_or_below_cut(zone: &crate::zone::Zone, name: &[u8]) -> bool {
    let mut origin = [0u8; MAX_NAME_LEN];
    let origin_len = wire_lower_into(&zone.origin, &mut origin);
    let mut n = name;
    while n.len() > origin_len {
        if zone.node_wire(n).is_some_and(|node| node.is_cut()) {
            return true;
        }
        n = crate::zone::store::wire_parent(n);
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
    let scope = match table.get(name) {
        Some(entry) => match entry.kind {
            Kind::Slow => None,
            Kind::Static => replay(table, entry, out, packet, q, qtype),
            Kind::Managed(service) => managed(
                snapshot,
                entry,
                service as usize,
                packet,
                q,
                qtype,
                meta,
                ecs,
                rng,
                out,
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
        let (_, t) = table
            .signed_templates_of(entry)
            .iter()
            .find(|(t, _)| *t == qtype)?;
        if now_epoch() >= table.signed_until {
            return None;
        }
        emit(out, packet, q, t.aa, t.rcode, t.counts);
        out.extend_from_slice(table.body(t));
        return Some(0);
    }
    match table.templates(entry).iter().find(|(t, _)| *t == qtype) {
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
    let encloser = (1..q.label_count).find_map(|i| table.get(&name[q.labels[i] as usize..]))?;
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
    // full path. (Decided and picked here, not in a helper returning both:
    // moving them out of one measured ~30% slower.)
    let picked = pick(
        plan,
        snapshot.state,
        svc,
        &decision,
        family,
        Some(INLINE_ADDRESSES),
    );
    let picked = picked?;
    if picked.target.is_some() {
        return None;
    }
    let count = picked.address_count(qtype);
    let signed = q.dnssec_ok() && snapshot.fast.zones[entry.zone as usize].signed;
    let sig = if signed {
        // A NODATA needs its NSEC, a variant not pre-signed (a multivalue
        // subset) its signature: both on the full path.
        if count == 0 {
            return None;
        }
        let sig = presigned(snapshot, &q.name[..q.name_len], qtype, &picked)?;
        if !sig.fresh(now_epoch(), snapshot.dnssec.refresh_secs()) {
            return None;
        }
        Some(sig)
    } else {
        None
    };
    // Counted only once the fast path is sure to answer: a fallback
    // decides (and counts) again on the full path.
    snapshot
        .answers
        .record(service, svc, snapshot.state, &decision);
    if count == 0 {
        negative(snapshot.fast, entry, out, packet, q, 0);
        return Some(decision.scope);
    }
    // The header first, its ANCOUNT set once the records are written;
    // the owner is a pointer to the question name at offset 12.
    emit(out, packet, q, true, 0, [0, 0, 0]);
    let written = encode(out, &[0xc0, 0x0c], svc.ttl, qtype, &picked, sig);
    out[6..8].copy_from_slice(&written.to_be_bytes());
    Some(decision.scope)
}

/// Seconds since the epoch, from the coarse clock (an atomic load).
fn now_epoch() -> u32 {
    crate::dnssec::clock::now()
}
