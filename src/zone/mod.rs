//! Zones: loading master files from `zones_dir`, validating them, and the
//! in-memory tree the answer path looks names up in.
//!
//! A [`Zone`] is immutable once built. Every name in it, including empty
//! non-terminals (names that exist only because something sits below them),
//! has a [`Node`], so "does this name exist" and "what is the closest
//! encloser" (RFC 4592) are single hash lookups per label. Records are held
//! in wire form in a compact store (see [`store`]), not as hickory values.

pub(crate) mod memory;
mod parse;
mod set;
pub mod store;

pub use parse::{LocatedRecord, SyntaxError, parse_zone_text};
pub use set::ZoneSet;
pub use store::{Node, RecordSet};

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use hickory_proto::rr::{Name, RData, Record, RecordType};

use parse::{Parsed, parse_compact};
use store::{MAX_NAME_LEN, wire_lower_into};

/// A problem in a zone file, located by file and (when it has one) line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneError {
    /// The zone file.
    pub file: PathBuf,
    /// 1-based line of the offending entry, when the problem has one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ZoneError {}

/// One authoritative zone, validated and ready to answer from.
///
/// Records are kept in wire form in a compact store ([`store`]); views
/// ([`Node`], [`RecordSet`]) read it without allocating, and decode to
/// hickory types only when asked.
///
/// For code that needs every RRset (zone signing, digests, tools):
/// [`Zone::rrsets`] yields each RRset with the node that owns it
/// ([`Node::name`] is the owner), and [`RecordSet::records`] decodes it into
/// hickory `Record`s (owner, type, TTL, RDATA), allocating;
/// [`RecordSet::rdata_wire`] gives the RDATA without decoding (names in it
/// uncompressed, in the case written), and [`Node::name_wire`] the owner in
/// lower-cased wire form.
#[derive(Clone)]
pub struct Zone {
    /// The apex, lower-cased.
    pub origin: Name,
    /// The apex SOA record.
    pub soa: Record,
    /// TTL of the SOA in negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308 §3).
    pub negative_ttl: u32,
    /// Every name (lower-cased), empty non-terminals included, with its records.
    store: store::Store,
    /// SHA-256 of the file the zone was loaded from (`None` when built in
    /// code): a reload finding the same bytes keeps this zone.
    source: Option<[u8; 32]>,
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zone")
            .field("origin", &self.origin)
            .field("store", &self.store)
            .finish()
    }
}

impl Zone {
    /// The node at `name` (which must already be lower-cased).
    pub fn node(&self, name: &Name) -> Option<Node<'_>> {
        let mut buf = [0u8; MAX_NAME_LEN];
        let len = wire_lower_into(name, &mut buf);
        self.node_wire(&buf[..len])
    }

    /// The node at the lower-cased, uncompressed wire name `wire`. No allocation.
    pub fn node_wire(&self, wire: &[u8]) -> Option<Node<'_>> {
        self.store.find(wire).map(|id| Node::new(&self.store, id))
    }

    /// Every name (lower-cased) with its node, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = Node<'_>> {
        (0..self.store.node_count() as u32).map(|id| Node::new(&self.store, id))
    }

    /// Every RRset of the zone with the node that owns it: for signing,
    /// digests and tools (decode with [`RecordSet::records`]).
    pub fn rrsets(&self) -> impl Iterator<Item = (Node<'_>, RecordSet<'_>)> {
        self.nodes()
            .flat_map(|node| node.rrsets().map(move |set| (node, set)))
    }

    /// Number of names (including empty non-terminals) in the zone.
    pub fn name_count(&self) -> usize {
        self.store.node_count()
    }

    /// Number of records in the zone.
    pub fn record_count(&self) -> usize {
        self.rrsets().map(|(_, set)| set.len()).sum()
    }

    /// Heap bytes the zone's records and index take.
    pub fn heap_bytes(&self) -> usize {
        self.store.heap_bytes()
    }

    /// The SOA record to put in the authority section of a negative answer.
    pub(crate) fn negative_soa(&self) -> Record {
        let mut soa = self.soa.clone();
        soa.ttl = self.negative_ttl;
        soa
    }

    /// Builds and validates a zone from parsed hickory records. `file` names
    /// the source in errors. (Loading goes through the wire-form parser
    /// instead; this is for records made in code.)
    pub fn build(
        origin: &Name,
        records: Vec<LocatedRecord>,
        file: &Path,
    ) -> Result<Zone, Vec<ZoneError>> {
        let mut parsed = Parsed::default();
        let mut errors = Vec::new();
        for LocatedRecord { record, line } in &records {
            if let Err(message) = parsed.push_record(record, *line) {
                errors.push(ZoneError {
                    file: file.to_path_buf(),
                    line: Some(*line),
                    message,
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        drop(records);
        Zone::from_parsed(origin, parsed, file)
    }

    /// Builds and validates a zone from the parser's wire-form records.
    pub(crate) fn from_parsed(
        origin: &Name,
        parsed: Parsed,
        file: &Path,
    ) -> Result<Zone, Vec<ZoneError>> {
        let origin = origin.to_lowercase();
        let mut origin_buf = [0u8; MAX_NAME_LEN];
        let origin_len = wire_lower_into(&origin, &mut origin_buf);
        let origin_wire = &origin_buf[..origin_len];
        let mut errors = Vec::new();
        let error = |line: Option<usize>, message: String| ZoneError {
            file: file.to_path_buf(),
            line,
            message,
        };
        let soa_code = u16::from(RecordType::SOA);
        let ns_code = u16::from(RecordType::NS);
        let cname_code = u16::from(RecordType::CNAME);

        // Names first: each owner gets a node number (in order of first
        // appearance); records outside the zone or misplaced SOAs are errors.
        let mut store = store::Store::with_capacity(
            parsed.records.len() + 1,
            parsed.names.len() + origin_wire.len(),
        );
        let (apex, _) = store.intern(origin_wire);
        // (node, type, record index): sorted, this groups RRsets.
        let mut order: Vec<(u32, u16, u32)> = Vec::with_capacity(parsed.records.len());
        for (i, raw) in parsed.records.iter().enumerate() {
            let owner = parsed.owner(raw);
            let rtype = RecordType::from(raw.rtype);
            if !store::wire_in_zone(owner, origin_wire) {
                errors.push(error(
                    Some(raw.line as usize),
                    format!(
                        "record {} {rtype} is outside the zone {origin}",
                        store::name_from_wire(owner)
                    ),
                ));
                continue;
            }
            if raw.rtype == soa_code && owner != origin_wire {
                errors.push(error(
                    Some(raw.line as usize),
                    format!(
                        "SOA record at {}: an SOA may only be at the zone apex {origin}",
                        store::name_from_wire(owner)
                    ),
                ));
                continue;
            }
            order.push((store.intern(owner).0, raw.rtype, i as u32));
        }
        // Then RRsets: records grouped by name and type (file order within
        // a set), duplicates dropped, each node's sets in type order and
        // contiguous in the store.
        order.sort_unstable();
        // At most one RRset per record; RDATA with its length prefixes.
        store.reserve_records(order.len(), parsed.rdata.len() + 2 * order.len());
        let mut soa: Option<Record> = None;
        let mut soa_count = 0;
        let mut apex_has_ns = false;
        let mut group: Vec<&[u8]> = Vec::new();
        // Per set of the node at hand: (type, first line, start, end in `order`).
        let mut sets: Vec<(u16, usize, usize, usize)> = Vec::new();
        let mut at = 0;
        while at < order.len() {
            let node = order[at].0;
            let node_end = at + order[at..].partition_point(|r| r.0 == node);
            sets.clear();
            let mut i = at;
            while i < node_end {
                let rtype = order[i].1;
                let end = i + order[i..node_end].partition_point(|r| r.1 == rtype);
                let line = order[i..end]
                    .iter()
                    .map(|r| parsed.records[r.2 as usize].line)
                    .min()
                    .unwrap_or(0) as usize;
                sets.push((rtype, line, i, end));
                i = end;
            }
            let name =
                || store::name_from_wire(parsed.owner(&parsed.records[order[at].2 as usize]));
            let has_ns = sets.iter().any(|s| s.0 == ns_code);
            if node == apex {
                apex_has_ns = has_ns;
            }
            store.begin_node(node, node != apex && has_ns);
            for &(rtype, line, start, end) in &sets {
                group.clear();
                let mut ttl = u32::MAX;
                for r in &order[start..end] {
                    let raw = &parsed.records[r.2 as usize];
                    let data = parsed.rdata_of(raw);
                    ttl = ttl.min(raw.ttl);
                    // Quadratic only within one RRset, which is small.
                    if !group.contains(&data) {
                        group.push(data);
                    }
                }
                if rtype == cname_code && group.len() > 1 {
                    errors.push(error(
                        Some(line),
                        format!(
                            "{} has {} CNAME records: a name may have only one",
                            name(),
                            group.len()
                        ),
                    ));
                }
                if rtype == cname_code && sets.len() > 1 {
                    let others: Vec<String> = sets
                        .iter()
                        .filter(|s| s.0 != cname_code)
                        .map(|s| format!("{} (line {})", RecordType::from(s.0), s.1))
                        .collect();
                    errors.push(error(
                        Some(line),
                        format!(
                            "CNAME at {} beside other data: {} (RFC 1034 §3.6.2)",
                            name(),
                            others.join(", ")
                        ),
                    ));
                }
                if node == apex && rtype == soa_code {
                    soa_count = group.len();
                    soa = store::decode_rdata(RecordType::SOA, group[0])
                        .map(|data| Record::from_rdata(origin.clone(), ttl, data));
                    if soa_count > 1 {
                        errors.push(error(
                            Some(line),
                            format!("{origin} has more than one SOA record"),
                        ));
                    }
                }
                store.push_rrset(node, rtype, ttl, group.iter().copied());
            }
            at = node_end;
        }
        drop(group);
        memory::note(
            "zone records stored",
            store.heap_bytes() + order.capacity() * 12,
        );
        drop(order);
        drop(parsed);
        if soa.is_none() {
            errors.push(error(
                None,
                format!("missing SOA record at the zone apex {origin}"),
            ));
        }
        if !apex_has_ns {
            errors.push(error(
                None,
                format!("missing NS records at the zone apex {origin}"),
            ));
        }
        let soa = match soa {
            Some(soa) if soa_count == 1 => soa,
            _ => return Err(errors),
        };
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.line);
            return Err(errors);
        }

        // Empty non-terminals: every ancestor of a name up to the apex exists.
        let named = store.node_count() as u32;
        let mut ancestor = Vec::with_capacity(MAX_NAME_LEN);
        for id in 0..named {
            ancestor.clear();
            ancestor.extend_from_slice(store::wire_parent(Node::new(&store, id).name_wire()));
            while ancestor.len() > origin_wire.len() && store.intern(&ancestor).1 {
                let parent_at = ancestor.len() - store::wire_parent(&ancestor).len();
                ancestor.drain(..parent_at);
            }
        }
        store.shrink();
        let minimum = match &soa.data {
            RData::SOA(soa) => soa.minimum,
            _ => soa.ttl,
        };
        Ok(Zone {
            negative_ttl: soa.ttl.min(minimum),
            origin,
            soa,
            store,
            source: None,
        })
    }

    /// Reads, parses and validates the master file at `path` for `origin`.
    pub fn load(path: &Path, origin: &Name) -> Result<Zone, Vec<ZoneError>> {
        Zone::reload(path, origin, None).map(Arc::unwrap_or_clone)
    }

    /// [`Zone::load`], except that when `previous` was loaded from a file
    /// with the same bytes, `previous` is returned (shared, not parsed
    /// again): a reload costs memory and time only for the zones that
    /// changed.
    pub(crate) fn reload(
        path: &Path,
        origin: &Name,
        previous: Option<&Arc<Zone>>,
    ) -> Result<Arc<Zone>, Vec<ZoneError>> {
        use sha2::Digest as _;
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ZoneError {
                file: path.to_path_buf(),
                line: None,
                message: format!("cannot read zone file: {e}"),
            }]
        })?;
        let source: [u8; 32] = sha2::Sha256::digest(text.as_bytes()).into();
        if let Some(previous) = previous.filter(|zone| zone.source == Some(source)) {
            memory::note("zone file unchanged", 0);
            return Ok(previous.clone());
        }
        memory::note("zone file read", text.len());
        let parsed = parse_compact(&text, origin).map_err(|errors| {
            errors
                .into_iter()
                .map(|e| ZoneError {
                    file: path.to_path_buf(),
                    line: Some(e.line),
                    message: e.message,
                })
                .collect::<Vec<_>>()
        })?;
        memory::note("zone file parsed", parsed.heap_bytes());
        drop(text);
        let mut zone = Zone::from_parsed(origin, parsed, path)?;
        zone.source = Some(source);
        memory::note("zone built", zone.heap_bytes());
        Ok(Arc::new(zone))
    }
}

/// Loads every `<origin>.zone` file in `dir`, in name order. Returns all
/// zones, or every error found in any of them. (Loading goes through
/// [`reload_zones_dir`]; tests load a directory alone.)
#[cfg(test)]
pub(crate) fn load_zones_dir(dir: &Path) -> Result<Vec<Arc<Zone>>, Vec<ZoneError>> {
    reload_zones_dir(dir, None)
}

/// [`load_zones_dir`], keeping each zone of `previous` whose file has not
/// changed as it is ([`Zone::reload`]).
pub(crate) fn reload_zones_dir(
    dir: &Path,
    previous: Option<&ZoneSet>,
) -> Result<Vec<Arc<Zone>>, Vec<ZoneError>> {
    let unreadable = |e: std::io::Error| {
        vec![ZoneError {
            file: dir.to_path_buf(),
            line: None,
            message: format!("cannot read zones directory: {e}"),
        }]
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "zone"))
        .collect();
    paths.sort();
    let mut zones = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let origin = match Name::from_str(stem) {
            Ok(mut name) if !stem.is_empty() => {
                name.set_fqdn(true);
                name
            }
            _ => {
                errors.push(ZoneError {
                    file: path.clone(),
                    line: None,
                    message: format!(
                        "file name must be <origin>.zone; {stem:?} is not a domain name"
                    ),
                });
                continue;
            }
        };
        let kept = previous.and_then(|set| set.get(&origin.to_lowercase()));
        match Zone::reload(&path, &origin, kept) {
            Ok(zone) => zones.push(zone),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if zones.is_empty() && errors.is_empty() {
        errors.push(ZoneError {
            file: dir.to_path_buf(),
            line: None,
            message: "no *.zone files found: nothing to serve".into(),
        });
    }
    if errors.is_empty() {
        Ok(zones)
    } else {
        Err(errors)
    }
}

/// Test zones: `text` parsed and built as `example.com.` (the file name
/// `example.com.zone` in errors). Shared by the zone and DNSSEC tests.
#[cfg(test)]
pub(crate) fn build_example(text: &str) -> Result<Zone, Vec<ZoneError>> {
    let origin = Name::from_str("example.com.").unwrap();
    let records = parse_zone_text(text, &origin).unwrap();
    Zone::build(&origin, records, Path::new("example.com.zone"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: &str) -> Result<Zone, Vec<ZoneError>> {
        build_example(text)
    }

    const HEAD: &str =
        "$TTL 3600\n@ SOA ns1 host 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n";

    /// hickory's own parser over a whole file (the reference the wire-form
    /// parser is checked against).
    fn hickory_whole(text: &str, origin: &Name) -> Vec<Record> {
        let (_, sets) =
            hickory_proto::serialize::txt::Parser::new(text, None, Some(origin.clone()))
                .parse()
                .unwrap();
        sets.into_values()
            .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// The wire-form parser (own encoding for common forms, hickory per
    /// entry for the rest) must read exactly what hickory reads from the
    /// whole file: same owners, TTLs, types, and RDATA bytes (so the case of
    /// names inside RDATA too).
    #[test]
    fn wire_parser_agrees_with_hickory() {
        use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
        let origin = Name::from_str("example.com.").unwrap();
        let tricky = "$ORIGIN example.com.\n@ 3600 IN SOA ns1 host ( 1 2\n 3 4 5 )\n  IN NS ns1\nns1 A 192.0.2.1\n\
                      www 60 A 192.0.2.2\n A 192.0.2.3\n$TTL 120\n  AAAA 2001:db8::1\n$ORIGIN sub.example.com.\n\
                      t TXT \"a;b\" \"c\" ; comment\n@ MX 10 mail.example.com.\n\
                      Upper IN 1h CNAME Target.Example.COM.\nmx2 MX 20 Mail\nmx3 300 IN MX 5 mx2\n\
                      _sip._tcp SRV 0 5 5060 sip\nns NS ns.Other.ORG.\nx-y.z PTR host-1.z\n\
                      *.wild A 192.0.2.7\ntxt TXT unquoted \"two words\" x\nv6 AAAA ::ffff:192.0.2.1\n\
                      caa CAA 0 issue \"ca.example.net\"\nlong TXT \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n\
                      num 1w2d A 192.0.2.8\n123 A 192.0.2.9\nDots.Are.Ok. A 192.0.2.10\nesc\\.aped A 192.0.2.11\n\
                      tab\tA\t192.0.2.12\nxn--bcher-kva TXT \"idn\"\n";
        let repo = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("zones/example.com.zone"),
        )
        .unwrap();
        let mut generated = String::from(
            "$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 900 604800 300\n@ NS ns1\nns1 A 127.0.0.1\n",
        );
        for i in 0..500 {
            generated.push_str(&match i % 100 {
                0..5 => format!("c{i} CNAME h{}\n", i + 1),
                5..7 => format!("m{i} MX 10 h{}\n", i + 1),
                7..10 => format!(
                    "t{i} TXT \"v=spf1 ip4:10.{}.{}.0/24 -all\"\n",
                    i / 256,
                    i % 256
                ),
                _ => format!("h{i} A 10.0.{}.{}\n", i / 256, i % 256),
            });
        }
        let big = Name::from_str("big.test.").unwrap();
        for (text, origin) in [
            (tricky, &origin),
            (repo.as_str(), &origin),
            (generated.as_str(), &big),
        ] {
            let key = |name: &Name, ttl: u32, data: &RData| {
                let mut wire = Vec::new();
                let mut encoder = BinEncoder::new(&mut wire);
                encoder.set_name_encoding(NameEncoding::Uncompressed);
                data.emit(&mut encoder).unwrap();
                format!(
                    "{} {ttl} {} {data} {wire:?}",
                    name.to_lowercase(),
                    data.record_type()
                )
            };
            let mut whole: Vec<String> = hickory_whole(text, origin)
                .iter()
                .map(|r| key(&r.name, r.ttl, &r.data))
                .collect();
            let mut ours: Vec<String> = parse_zone_text(text, origin)
                .unwrap()
                .iter()
                .map(|r| key(&r.record.name, r.record.ttl, &r.record.data))
                .collect();
            whole.sort();
            ours.sort();
            assert_eq!(whole, ours);
        }
    }

    /// Every RRset is there once, decodes to hickory records, and the
    /// generated zone's records all come back.
    #[test]
    fn rrsets_iterate_and_decode() {
        let zone = build(&format!(
            "{HEAD}www A 192.0.2.1\nwww A 192.0.2.2\nwww A 192.0.2.1\nwww 60 TXT \"x\"\nmail MX 10 www\n"
        ))
        .unwrap();
        let sets: Vec<String> = {
            let mut sets: Vec<String> = zone
                .rrsets()
                .map(|(node, set)| {
                    let records = set.records(&node.name());
                    let data: Vec<String> = records.iter().map(|r| r.data.to_string()).collect();
                    format!(
                        "{} {} {} {}",
                        node.name(),
                        set.rtype(),
                        set.ttl(),
                        data.join(",")
                    )
                })
                .collect();
            sets.sort();
            sets
        };
        assert_eq!(
            sets,
            vec![
                "example.com. NS 3600 ns1.example.com.",
                "example.com. SOA 3600 ns1.example.com. host.example.com. 1 7200 900 1209600 300",
                "mail.example.com. MX 3600 10 www.example.com.",
                "ns1.example.com. A 3600 192.0.2.53",
                "www.example.com. A 3600 192.0.2.1,192.0.2.2",
                "www.example.com. TXT 60 x",
            ]
        );
        assert_eq!(zone.record_count(), 7);
    }

    /// A reload keeps the zones whose files have the same bytes (the same
    /// `Arc`, nothing parsed again) and loads the others.
    #[test]
    fn reloads_keep_zones_whose_files_did_not_change() {
        let dir = tempfile::tempdir().unwrap();
        let write = |origin: &str, extra: &str| {
            let text =
                format!("{HEAD}{extra}").replace("$TTL", &format!("$ORIGIN {origin}.\n$TTL"));
            std::fs::write(dir.path().join(format!("{origin}.zone")), text).unwrap();
        };
        write("a.test", "www A 192.0.2.1\n");
        write("b.test", "www A 192.0.2.2\n");
        let first = ZoneSet::new(load_zones_dir(dir.path()).unwrap());
        let name = |s: &str| Name::from_str(s).unwrap();
        let same = |set: &ZoneSet, other: &ZoneSet, origin: &str| {
            Arc::ptr_eq(
                set.get(&name(origin)).unwrap(),
                other.get(&name(origin)).unwrap(),
            )
        };
        let again = ZoneSet::new(reload_zones_dir(dir.path(), Some(&first)).unwrap());
        assert!(same(&first, &again, "a.test.") && same(&first, &again, "b.test."));
        write("b.test", "www A 192.0.2.3\n");
        let changed = ZoneSet::new(reload_zones_dir(dir.path(), Some(&again)).unwrap());
        assert!(same(&again, &changed, "a.test."));
        assert!(!same(&again, &changed, "b.test."));
        let www = changed.get(&name("b.test.")).unwrap();
        let set = www
            .node(&name("www.b.test."))
            .unwrap()
            .get(RecordType::A)
            .unwrap();
        assert_eq!(set.rdata_wire().next().unwrap(), [192, 0, 2, 3]);
        // Without a previous set, or for a zone built in code, nothing is kept.
        let fresh = ZoneSet::new(reload_zones_dir(dir.path(), None).unwrap());
        assert!(!same(&changed, &fresh, "a.test."));
    }

    #[test]
    fn empty_non_terminals_and_cuts() {
        let zone = build(&format!(
            "{HEAD}a.b.c A 192.0.2.1\nsub NS ns.sub\nns.sub A 192.0.2.9\n"
        ))
        .unwrap();
        let name = |s: &str| Name::from_str(s).unwrap();
        assert!(zone.node(&name("b.c.example.com.")).unwrap().is_empty());
        assert!(zone.node(&name("c.example.com.")).is_some());
        assert!(zone.node(&name("sub.example.com.")).unwrap().is_cut());
        assert!(!zone.node(&name("example.com.")).unwrap().is_cut());
        assert_eq!(zone.negative_ttl, 300);
    }

    #[test]
    fn cname_beside_other_data_names_its_line() {
        let errors = build(&format!("{HEAD}www CNAME ns1\nwww TXT \"x\"\n")).unwrap_err();
        assert_eq!(errors[0].line, Some(5));
        assert!(
            errors[0]
                .message
                .contains("CNAME at www.example.com. beside other data: TXT (line 6)")
        );
    }

    #[test]
    fn out_of_zone_record_and_missing_soa() {
        let errors = build("$TTL 60\n@ NS ns1\nwww.example.org. A 192.0.2.1\n").unwrap_err();
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter()
                .any(|e| e.starts_with("example.com.zone:3: record www.example.org. A is outside")),
            "{text:?}"
        );
        assert!(text.iter().any(|e| e.contains("missing SOA")), "{text:?}");
    }
}
