//! Zones: loading master files from `zones_dir`, validating them, and the
//! in-memory tree the answer path looks names up in.
//!
//! A [`Zone`] is immutable once built. Every name in it, including empty
//! non-terminals (names that exist only because something sits below them),
//! has a [`Node`], so "does this name exist" and "what is the closest
//! encloser" (RFC 4592) are single hash lookups per label.

mod parse;
mod set;

pub use parse::{LocatedRecord, SyntaxError, parse_zone_text};
pub use set::ZoneSet;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Hashing for the name tree: zone data is the operator's, and query names
/// are only looked up, so a fast seeded hash is safe here.
type NameHasher = foldhash::fast::RandomState;

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

/// All records of one type at one name.
#[derive(Debug, Clone)]
pub(crate) struct RecordSet {
    /// The type shared by every record.
    pub rtype: RecordType,
    /// The records; all carry the same TTL (the lowest given, per RFC 2181 §5.2).
    pub records: Vec<Record>,
}

/// Everything stored at one name of a zone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    /// RRsets at this name, ordered by type code; empty for an empty non-terminal.
    pub rrsets: Vec<RecordSet>,
    /// True when this is a delegation point (NS records below the apex).
    pub is_cut: bool,
}

impl Node {
    /// The RRset of type `rtype` at this name, if any.
    pub(crate) fn get(&self, rtype: RecordType) -> Option<&RecordSet> {
        self.rrsets.iter().find(|set| set.rtype == rtype)
    }
}

/// One authoritative zone, validated and ready to answer from.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The apex, lower-cased.
    pub origin: Name,
    /// The apex SOA record.
    pub soa: Record,
    /// TTL of the SOA in negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308 §3).
    pub negative_ttl: u32,
    /// Every name in the zone (lower-cased), empty non-terminals included.
    nodes: HashMap<Name, Node, NameHasher>,
}

impl Zone {
    /// The node at `name` (which must already be lower-cased).
    pub(crate) fn node(&self, name: &Name) -> Option<&Node> {
        self.nodes.get(name)
    }

    /// Every name (lower-cased) with its node, in no particular order.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = (&Name, &Node)> {
        self.nodes.iter()
    }

    /// Number of names (including empty non-terminals) in the zone.
    pub fn name_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of records in the zone.
    pub fn record_count(&self) -> usize {
        self.nodes
            .values()
            .flat_map(|node| &node.rrsets)
            .map(|set| set.records.len())
            .sum()
    }

    /// The SOA record to put in the authority section of a negative answer.
    pub(crate) fn negative_soa(&self) -> Record {
        let mut soa = self.soa.clone();
        soa.ttl = self.negative_ttl;
        soa
    }

    /// Builds and validates a zone from parsed records. `file` names the
    /// source in errors.
    pub fn build(
        origin: &Name,
        records: Vec<LocatedRecord>,
        file: &Path,
    ) -> Result<Zone, Vec<ZoneError>> {
        let origin = origin.to_lowercase();
        let mut errors = Vec::new();
        let error = |line: Option<usize>, message: String| ZoneError {
            file: file.to_path_buf(),
            line,
            message,
        };
        // Per name: per type: (records, first line).
        let mut by_name: HashMap<Name, Vec<(RecordSet, usize)>, NameHasher> = HashMap::default();
        for LocatedRecord { mut record, line } in records {
            let owner = record.name.to_lowercase();
            if !origin.zone_of(&owner) {
                errors.push(error(
                    Some(line),
                    format!(
                        "record {owner} {} is outside the zone {origin}",
                        record.record_type()
                    ),
                ));
                continue;
            }
            let rtype = record.record_type();
            if rtype == RecordType::SOA && owner != origin {
                errors.push(error(
                    Some(line),
                    format!("SOA record at {owner}: an SOA may only be at the zone apex {origin}"),
                ));
                continue;
            }
            record.name = owner.clone();
            let sets = by_name.entry(owner).or_default();
            match sets.iter_mut().find(|(set, _)| set.rtype == rtype) {
                Some((set, _)) => {
                    if !set.records.iter().any(|r| r.data == record.data) {
                        set.records.push(record);
                    }
                }
                None => sets.push((
                    RecordSet {
                        rtype,
                        records: vec![record],
                    },
                    line,
                )),
            }
        }

        for (name, sets) in &by_name {
            let cname = sets.iter().find(|(set, _)| set.rtype == RecordType::CNAME);
            if let Some((set, line)) = cname {
                if set.records.len() > 1 {
                    errors.push(error(
                        Some(*line),
                        format!(
                            "{name} has {} CNAME records: a name may have only one",
                            set.records.len()
                        ),
                    ));
                }
                let others: Vec<String> = sets
                    .iter()
                    .filter(|(s, _)| s.rtype != RecordType::CNAME)
                    .map(|(s, line)| format!("{} (line {line})", s.rtype))
                    .collect();
                if !others.is_empty() {
                    errors.push(error(
                        Some(*line),
                        format!(
                            "CNAME at {name} beside other data: {} (RFC 1034 §3.6.2)",
                            others.join(", ")
                        ),
                    ));
                }
            }
        }

        let apex = by_name.get(&origin);
        let soa = apex.and_then(|sets| sets.iter().find(|(s, _)| s.rtype == RecordType::SOA));
        let soa = match soa {
            Some((set, line)) if set.records.len() > 1 => {
                errors.push(error(
                    Some(*line),
                    format!("{origin} has more than one SOA record"),
                ));
                None
            }
            Some((set, _)) => Some(set.records[0].clone()),
            None => {
                errors.push(error(
                    None,
                    format!("missing SOA record at the zone apex {origin}"),
                ));
                None
            }
        };
        if apex.is_some_and(|sets| !sets.iter().any(|(s, _)| s.rtype == RecordType::NS))
            || apex.is_none()
        {
            errors.push(error(
                None,
                format!("missing NS records at the zone apex {origin}"),
            ));
        }
        let Some(soa) = soa else {
            return Err(errors);
        };
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.line);
            return Err(errors);
        }

        let minimum = match &soa.data {
            RData::SOA(soa) => soa.minimum,
            _ => soa.ttl,
        };
        let mut nodes: HashMap<Name, Node, NameHasher> =
            HashMap::with_capacity_and_hasher(by_name.len() * 2, NameHasher::default());
        for (name, sets) in by_name {
            // Empty non-terminals: every ancestor up to the apex exists.
            let mut ancestor = name.base_name();
            while origin.zone_of(&ancestor) && ancestor != origin && !nodes.contains_key(&ancestor)
            {
                nodes.insert(ancestor.clone(), Node::default());
                ancestor = ancestor.base_name();
            }
            let is_cut = name != origin && sets.iter().any(|(s, _)| s.rtype == RecordType::NS);
            let mut rrsets: Vec<RecordSet> = sets.into_iter().map(|(set, _)| set).collect();
            for set in &mut rrsets {
                let ttl = set.records.iter().map(|r| r.ttl).min().unwrap_or(0);
                set.records.iter_mut().for_each(|r| r.ttl = ttl);
            }
            rrsets.sort_by_key(|set| u16::from(set.rtype));
            nodes.insert(name, Node { rrsets, is_cut });
        }
        nodes.entry(origin.clone()).or_default();
        Ok(Zone {
            negative_ttl: soa.ttl.min(minimum),
            origin,
            soa,
            nodes,
        })
    }

    /// Reads, parses and validates the master file at `path` for `origin`.
    pub fn load(path: &Path, origin: &Name) -> Result<Zone, Vec<ZoneError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ZoneError {
                file: path.to_path_buf(),
                line: None,
                message: format!("cannot read zone file: {e}"),
            }]
        })?;
        // The common case, a valid zone, is parsed in one pass; only a zone
        // that fails is parsed again entry by entry, to locate every error.
        if let Some(records) = parse_whole(&text, origin)
            && let Ok(zone) = Zone::build(origin, records, path)
        {
            return Ok(zone);
        }
        let records = parse_zone_text(&text, origin).map_err(|errors| {
            errors
                .into_iter()
                .map(|e| ZoneError {
                    file: path.to_path_buf(),
                    line: Some(e.line),
                    message: e.message,
                })
                .collect::<Vec<_>>()
        })?;
        Zone::build(origin, records, path)
    }
}

/// Parses a whole master file with hickory's parser in one go (no line
/// numbers). `None` when it fails, or when the file uses something the
/// entry-by-entry parser rejects (`$INCLUDE`), so the caller takes the
/// slower, located path.
fn parse_whole(text: &str, origin: &Name) -> Option<Vec<LocatedRecord>> {
    if text.to_ascii_uppercase().contains("$INCLUDE") {
        return None;
    }
    let (_, sets) = hickory_proto::serialize::txt::Parser::new(text, None, Some(origin.clone()))
        .parse()
        .ok()?;
    let records = sets
        .into_values()
        .flat_map(|set| {
            set.records_without_rrsigs()
                .cloned()
                .map(|record| LocatedRecord { record, line: 0 })
                .collect::<Vec<_>>()
        })
        .collect();
    Some(records)
}

/// Loads every `<origin>.zone` file in `dir`, in name order. Returns all
/// zones, or every error found in any of them.
pub(crate) fn load_zones_dir(dir: &Path) -> Result<Vec<Arc<Zone>>, Vec<ZoneError>> {
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
        match Zone::load(&path, &origin) {
            Ok(zone) => zones.push(Arc::new(zone)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: &str) -> Result<Zone, Vec<ZoneError>> {
        let origin = Name::from_str("example.com.").unwrap();
        let records = parse_zone_text(text, &origin).unwrap();
        Zone::build(&origin, records, Path::new("example.com.zone"))
    }

    const HEAD: &str =
        "$TTL 3600\n@ SOA ns1 host 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n";

    /// The one-pass parser and the located parser must read the same records.
    #[test]
    fn whole_file_and_entry_parsers_agree() {
        let origin = Name::from_str("example.com.").unwrap();
        let tricky = "$ORIGIN example.com.\n@ 3600 IN SOA ns1 host ( 1 2\n 3 4 5 )\n  IN NS ns1\nns1 A 192.0.2.1\n\
                      www 60 A 192.0.2.2\n A 192.0.2.3\n$TTL 120\n  AAAA 2001:db8::1\n$ORIGIN sub.example.com.\n\
                      t TXT \"a;b\" \"c\" ; comment\n@ MX 10 mail.example.com.\n";
        let repo = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("zones/example.com.zone"),
        )
        .unwrap();
        for text in [tricky, repo.as_str()] {
            let key = |r: &LocatedRecord| {
                format!(
                    "{} {} {} {}",
                    r.record.name,
                    r.record.ttl,
                    r.record.record_type(),
                    r.record.data
                )
            };
            let mut whole: Vec<String> = parse_whole(text, &origin)
                .unwrap()
                .iter()
                .map(key)
                .collect();
            let mut entries: Vec<String> = parse_zone_text(text, &origin)
                .unwrap()
                .iter()
                .map(key)
                .collect();
            whole.sort();
            entries.sort();
            assert_eq!(whole, entries);
        }
    }

    #[test]
    fn empty_non_terminals_and_cuts() {
        let zone = build(&format!(
            "{HEAD}a.b.c A 192.0.2.1\nsub NS ns.sub\nns.sub A 192.0.2.9\n"
        ))
        .unwrap();
        let name = |s: &str| Name::from_str(s).unwrap();
        assert!(
            zone.node(&name("b.c.example.com."))
                .unwrap()
                .rrsets
                .is_empty()
        );
        assert!(zone.node(&name("c.example.com.")).is_some());
        assert!(zone.node(&name("sub.example.com.")).unwrap().is_cut);
        assert!(!zone.node(&name("example.com.")).unwrap().is_cut);
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
