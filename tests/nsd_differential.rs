//! Differential test against NSD, the reference authoritative server.
//!
//! NSD and Switchyard serve the repository's `zones/example.com.zone`; every
//! owner name in it (empty non-terminals included), plus misses, wildcard
//! hits, names under the delegation and odd-case names, is asked for a set of
//! types over UDP (without EDNS, and with EDNS sizes 1232 and 4096) and, for
//! a subset, over TCP. The replies must agree on RCODE, AA, TC, the presence
//! of EDNS, the question (case included) and the sets of records in the
//! answer, authority and additional sections (owner names lower-cased, TTLs
//! compared) — except where [`ALLOWANCES`] names a difference that an RFC
//! makes correct on both sides.
//!
//! NSD is found at `/usr/sbin/nsd` or on `PATH`. Without it the test prints
//! a message and passes, unless `SWITCHYARD_REQUIRE_NSD=1` (as on CI).

mod common;

use common::{free_port, stop_group};

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};

/// The zone both servers serve.
const ORIGIN: &str = "example.com.";

/// Names that are not owners in the zone file but exercise a lookup path.
const EXTRA_NAMES: &[&str] = &[
    // NXDOMAIN, at several depths and below existing names.
    "nx.example.com.",
    "nx.nx.example.com.",
    "x.www.example.com.",
    "x.alias.example.com.",
    "x._tcp.example.com.",
    "x.b.deep.example.com.",
    // Below a name that exists next to the wildcard: the wildcard must not apply.
    "x.static.apps.example.com.",
    // Wildcard synthesis, one and two labels below the wildcard's parent.
    "foo.apps.example.com.",
    "a.b.apps.example.com.",
    // Below the delegation (referrals).
    "x.sub.example.com.",
    "a.b.sub.example.com.",
    "x.ns1.sub.example.com.",
    // Outside every served zone.
    "example.org.",
    "com.",
    // Odd case (0x20): the question must be echoed as sent.
    "WwW.ExAmPlE.CoM.",
    "ExAmPlE.cOm.",
    "FoO.ApPs.ExAmPlE.cOm.",
    "ALIAS.EXAMPLE.COM.",
    "X.SuB.eXaMpLe.CoM.",
    "NX.example.COM.",
    "B.DEEP.example.com.",
    "_SIP._TCP.example.com.",
];

/// Types asked at every name (ANY is asked last; see [`Relax::MinimalAny`]).
/// Every type present in the zone, plus DS (answered by the parent side of
/// a cut) and PTR (never present: NODATA / NXDOMAIN).
const TYPES: &[RecordType] = &[
    RecordType::A,
    RecordType::AAAA,
    RecordType::MX,
    RecordType::TXT,
    RecordType::CAA,
    RecordType::SRV,
    RecordType::NS,
    RecordType::SOA,
    RecordType::CNAME,
    RecordType::DS,
    RecordType::PTR,
];

/// Types also asked over TCP, at every name.
const TCP_TYPES: &[RecordType] = &[
    RecordType::A,
    RecordType::MX,
    RecordType::NS,
    RecordType::TXT,
    RecordType::ANY,
];

/// EDNS variants: none, the DNS Flag Day size, and a common large size.
const EDNS_SIZES: &[Option<u16>] = &[None, Some(1232), Some(4096)];

// ---------------------------------------------------------------- allow-list

/// How a tolerated difference is checked instead of exact equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relax {
    /// The answer section may hold a single RRset owned by the QNAME that is
    /// a non-empty subset of everything NSD holds at that name; when NSD's
    /// answer is empty Switchyard's must be too. Everything else is exact.
    MinimalAny,
    /// Switchyard's additional section may be a subset of NSD's; everything
    /// else is exact.
    AdditionalSubset,
}

/// One tolerated difference, with the RFC that makes both answers correct.
struct Allowance {
    /// Short label, printed in the summary.
    what: &'static str,
    /// The queries it applies to.
    applies: fn(&Case) -> bool,
    /// What is compared instead.
    relax: Relax,
}

/// Every difference the comparison tolerates. Anything else fails the test.
const ALLOWANCES: &[Allowance] = &[
    // RFC 8482 §4.1 and §4.2: a server may answer ANY with one RRset (or a
    // subset) of what exists at the name. Switchyard prefers CNAME, A, AAAA;
    // NSD picks differently (e.g. SOA at the apex), so both are right.
    Allowance {
        what: "ANY answered with one RRset (RFC 8482 §4.1)",
        applies: |case| case.qtype == RecordType::ANY,
        relax: Relax::MinimalAny,
    },
    // RFC 1034 §4.3.2 step 6 ("attempt to add other RRs which may be useful
    // to the additional section") makes additional-section processing for
    // an authoritative NS answer optional; RFC 9471 requires glue only in
    // referrals, which are compared exactly. NSD adds the apex name servers'
    // addresses even with `minimal-responses: yes`; Switchyard adds none.
    // (For MX and SRV answers NSD adds none either, so they stay exact.)
    Allowance {
        what: "optional additional data for NS answers (RFC 1034 §4.3.2, RFC 9471)",
        applies: |case| case.qtype == RecordType::NS,
        relax: Relax::AdditionalSubset,
    },
];

/// Queries left out of the comparison because Switchyard answers them wrongly
/// (each is reported and tracked; remove the entry once fixed).
fn known_bug(_case: &Case) -> bool {
    false
}

// ---------------------------------------------------------------- queries

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Udp,
    Tcp,
}

/// One query sent to both servers.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    qtype: RecordType,
    edns: Option<u16>,
    proto: Proto,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let edns = match self.edns {
            Some(size) => format!("EDNS {size}"),
            None => "no EDNS".to_string(),
        };
        write!(f, "{} {} ({:?}, {edns})", self.name, self.qtype, self.proto)
    }
}

/// One record as `name ttl type rdata`, with every domain name lower-cased:
/// names compare case-insensitively (RFC 4343 §3), and NSD compresses names
/// in RDATA against the question, so they come back in the query's case.
/// Text data (TXT, CAA) keeps its case.
fn rr_string(record: &Record) -> String {
    let rtype = record.record_type();
    let mut data = record.data.to_string();
    if matches!(
        rtype,
        RecordType::CNAME
            | RecordType::NS
            | RecordType::MX
            | RecordType::SRV
            | RecordType::SOA
            | RecordType::PTR
    ) {
        // Every field of these besides the names is numeric.
        data = data.to_ascii_lowercase();
    }
    format!(
        "{} {} {rtype} {data}",
        record.name.to_lowercase(),
        record.ttl
    )
}

/// What is compared of one reply.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Summary {
    rcode: ResponseCode,
    aa: bool,
    tc: bool,
    edns: bool,
    /// Question section, case preserved (0x20 must be echoed).
    question: Vec<String>,
    answer: BTreeSet<String>,
    authority: BTreeSet<String>,
    additional: BTreeSet<String>,
}

impl Summary {
    fn of(msg: &Message) -> Summary {
        let set = |records: &[Record]| records.iter().map(rr_string).collect();
        Summary {
            rcode: msg.metadata.response_code,
            aa: msg.metadata.authoritative,
            tc: msg.metadata.truncation,
            edns: msg.edns.is_some(),
            question: msg
                .queries
                .iter()
                .map(|q| {
                    let name = q.name().to_ascii();
                    format!("{name} {} {}", q.query_class(), q.query_type())
                })
                .collect(),
            // The OPT record never appears in `additionals` (hickory keeps
            // it apart as `edns`).
            answer: set(&msg.answers),
            authority: set(&msg.authorities),
            additional: set(&msg.additionals),
        }
    }

    /// Everything but the answer section.
    fn without_answer(&self) -> Summary {
        Summary {
            answer: BTreeSet::new(),
            ..self.clone()
        }
    }

    /// Everything but the additional section.
    fn without_additional(&self) -> Summary {
        Summary {
            additional: BTreeSet::new(),
            ..self.clone()
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} aa={} tc={} edns={} question={:?}\n      answer:     {:?}\n      authority:  {:?}\n      additional: {:?}",
            self.rcode,
            self.aa,
            self.tc,
            self.edns,
            self.question,
            self.answer,
            self.authority,
            self.additional
        )
    }
}

/// Checks `relax` for one case; `nsd_at_name` holds every answer record NSD
/// gave for any type at the (lower-cased) QNAME.
fn relaxed_ok(
    relax: Relax,
    case: &Case,
    nsd: &Summary,
    ours: &Summary,
    nsd_at_name: Option<&BTreeSet<String>>,
) -> bool {
    match relax {
        Relax::MinimalAny => {
            if ours.without_answer() != nsd.without_answer() {
                return false;
            }
            if nsd.answer.is_empty() || ours.answer.is_empty() {
                return nsd.answer.is_empty() && ours.answer.is_empty();
            }
            let owner = case.name.to_lowercase();
            // One RRset: a single type, owned by the QNAME.
            let rrsets: BTreeSet<(&str, &str)> = ours
                .answer
                .iter()
                .filter_map(|rr| {
                    let mut fields = rr.split(' ');
                    let name = fields.next()?;
                    let _ttl = fields.next()?;
                    Some((name, fields.next()?))
                })
                .collect();
            let single = rrsets.len() == 1 && rrsets.iter().all(|(name, _)| *name == owner);
            let mut everything = nsd.answer.clone();
            everything.extend(nsd_at_name.into_iter().flatten().cloned());
            single && ours.answer.is_subset(&everything)
        }
        Relax::AdditionalSubset => {
            ours.without_additional() == nsd.without_additional()
                && ours.additional.is_subset(&nsd.additional)
        }
    }
}

// ---------------------------------------------------------------- NSD

/// A running NSD in its own process group; killed (group and all) on drop.
struct Nsd {
    addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Nsd {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

/// The NSD binary, if installed.
fn find_nsd() -> Option<PathBuf> {
    let sbin = Path::new("/usr/sbin/nsd");
    if sbin.is_file() {
        return Some(sbin.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nsd"))
            .find(|candidate| candidate.is_file())
    })
}

impl Nsd {
    /// Starts NSD on an ephemeral port serving the repo's example zone, and
    /// waits until it answers. Retries with another port if it fails.
    fn start(binary: &Path) -> Nsd {
        let mut last_log = String::new();
        for _ in 0..5 {
            match Nsd::try_start(binary, free_port()) {
                Ok(nsd) => return nsd,
                Err(log) => last_log = log,
            }
        }
        panic!("NSD did not start; last log:\n{last_log}");
    }

    fn try_start(binary: &Path, port: u16) -> Result<Nsd, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let zone = d.join("example.com.zone");
        std::fs::copy(repo_zones().join("example.com.zone"), &zone).expect("copy zone");
        let conf = format!(
            r#"server:
    ip-address: 127.0.0.1@{port}
    port: {port}
    do-ip6: no
    server-count: 1
    reuseport: no
    username: ""
    chroot: ""
    zonesdir: "{d}"
    database: ""
    zonelistfile: "{d}/zone.list"
    pidfile: "{d}/nsd.pid"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    logfile: "{d}/nsd.log"
    verbosity: 1
    # Debian enables response-rate-limiting; it would drop our burst.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    minimal-responses: yes
remote-control:
    control-enable: no
zone:
    name: example.com
    zonefile: "{zone}"
"#,
            d = d.display(),
            zone = zone.display(),
        );
        let conf_path = d.join("nsd.conf");
        std::fs::write(&conf_path, conf).expect("write nsd.conf");
        let out = std::fs::File::create(d.join("stdout.log")).expect("log file");
        let child = Command::new(binary)
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let mut nsd = Nsd {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            dir,
        };
        let probe = make_query(ORIGIN, RecordType::SOA, None).to_vec().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = nsd.child.try_wait() {
                break;
            }
            if let Some(reply) = udp_raw_quick(nsd.addr, &probe)
                && let Ok(msg) = Message::from_vec(&reply)
                && msg.metadata.response_code == ResponseCode::NoError
                && !msg.answers.is_empty()
            {
                return Ok(nsd);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(nsd.log())
    }

    fn log(&self) -> String {
        ["stdout.log", "nsd.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One UDP exchange with a short timeout (for polling).
fn udp_raw_quick(addr: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok()?;
    socket.send_to(bytes, addr).ok()?;
    let mut buf = vec![0u8; 65535];
    let n = socket.recv(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// The query for `case`, its name's case kept as written (the harness's
/// `make_query` parses names as UTF-8, which lower-cases them).
fn case_query(case: &Case) -> Message {
    let name = Name::from_ascii(&case.name).expect("query name");
    let mut msg = Message::new(0x5eed, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(name, case.qtype));
    if let Some(size) = case.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(size);
        msg.set_edns(edns);
    }
    msg
}

/// Sends `case` to `addr` and decodes the reply (UDP retried on loss).
fn ask(addr: SocketAddr, case: &Case) -> Message {
    let msg = case_query(case);
    match case.proto {
        Proto::Tcp => tcp(addr, &msg),
        Proto::Udp => {
            let bytes = msg.to_vec().unwrap();
            for _ in 0..3 {
                if let Some(reply) = udp_raw(addr, &bytes) {
                    return Message::from_vec(&reply)
                        .unwrap_or_else(|e| panic!("{case}: undecodable reply from {addr}: {e}"));
                }
            }
            panic!("{case}: no UDP reply from {addr}");
        }
    }
}

// ---------------------------------------------------------------- the test

/// Every owner name of the zone file, with every empty non-terminal between
/// it and the apex.
fn zone_names() -> Vec<String> {
    let origin = Name::from_ascii(ORIGIN).unwrap();
    let text = std::fs::read_to_string(repo_zones().join("example.com.zone")).unwrap();
    let records = switchyard::zone::parse_zone_text(&text, &origin).expect("zone parses");
    let mut names = BTreeSet::new();
    for located in records {
        let owner = located.record.name.to_lowercase();
        for n in origin.num_labels()..=owner.num_labels() {
            names.insert(owner.trim_to(n as usize).to_ascii());
        }
    }
    names.into_iter().collect()
}

fn all_cases() -> Vec<Case> {
    let mut names = zone_names();
    names.extend(EXTRA_NAMES.iter().map(|n| n.to_string()));
    let mut cases = Vec::new();
    // ANY last, so NSD's answers for every other type at the name are known.
    for qtype in TYPES.iter().chain([&RecordType::ANY]) {
        for name in &names {
            for &edns in EDNS_SIZES {
                cases.push(Case {
                    name: name.clone(),
                    qtype: *qtype,
                    edns,
                    proto: Proto::Udp,
                });
            }
        }
    }
    for (i, name) in names.iter().enumerate() {
        for qtype in TCP_TYPES {
            cases.push(Case {
                name: name.clone(),
                qtype: *qtype,
                edns: EDNS_SIZES[i % EDNS_SIZES.len()],
                proto: Proto::Tcp,
            });
        }
    }
    cases
}

#[test]
fn answers_match_nsd() {
    let Some(binary) = find_nsd() else {
        if std::env::var("SWITCHYARD_REQUIRE_NSD").as_deref() == Ok("1") {
            panic!("NSD not found (/usr/sbin/nsd or PATH) and SWITCHYARD_REQUIRE_NSD=1");
        }
        eprintln!("skipping NSD differential test: nsd not installed (apt-get install nsd)");
        return;
    };
    let nsd = Nsd::start(&binary);
    let ours = TestServer::builder().start();

    let cases = all_cases();
    let mut nsd_at_name: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut allowed: BTreeMap<&str, usize> = BTreeMap::new();
    let mut skipped = 0;
    let mut compared = 0;
    for case in &cases {
        let theirs = Summary::of(&ask(nsd.addr, case));
        let mine = Summary::of(&ask(ours.addr, case));
        if case.qtype != RecordType::ANY {
            nsd_at_name
                .entry(case.name.to_lowercase())
                .or_default()
                .extend(theirs.answer.iter().cloned());
        }
        if known_bug(case) {
            skipped += 1;
            continue;
        }
        compared += 1;
        if theirs == mine {
            continue;
        }
        let at_name = nsd_at_name.get(&case.name.to_lowercase());
        match ALLOWANCES
            .iter()
            .find(|a| (a.applies)(case) && relaxed_ok(a.relax, case, &theirs, &mine, at_name))
        {
            Some(allowance) => {
                *allowed.entry(allowance.what).or_default() += 1;
                eprintln!(
                    "allowed ({}): {case}\n    nsd:        {theirs}\n    switchyard: {mine}",
                    allowance.what
                );
            }
            None => failures.push(format!(
                "{case}\n    nsd:        {theirs}\n    switchyard: {mine}"
            )),
        }
    }
    drop(nsd);

    eprintln!(
        "NSD differential: {compared} queries compared ({skipped} known-bug queries skipped), {} differ",
        failures.len()
    );
    for (what, count) in &allowed {
        eprintln!("  allowed {count:4}: {what}");
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} answers differ from NSD:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Negative answers are no larger than NSD's: the SOA's owner and the
/// names in its RDATA are compressed against the question.
#[test]
fn negative_answers_are_as_compact_as_nsds() {
    let Some(binary) = find_nsd() else {
        if std::env::var("SWITCHYARD_REQUIRE_NSD").as_deref() == Ok("1") {
            panic!("NSD not found (/usr/sbin/nsd or PATH) and SWITCHYARD_REQUIRE_NSD=1");
        }
        eprintln!("skipping: nsd not installed");
        return;
    };
    let nsd = Nsd::start(&binary);
    let ours = TestServer::builder()
        .tail("[rrl]\nenabled = false\n")
        .start();
    for (name, qtype) in [
        ("nx.example.com.", RecordType::A),
        ("a.b.nx.example.com.", RecordType::AAAA),
        ("www.example.com.", RecordType::MX),
        ("example.com.", RecordType::SRV),
    ] {
        for edns in [None, Some(1232)] {
            let query = make_query(name, qtype, edns).to_vec().unwrap();
            let theirs = udp_raw_quick(nsd.addr, &query).expect("NSD reply");
            let mine = udp_raw(ours.addr, &query).expect("our reply");
            assert!(
                mine.len() <= theirs.len(),
                "{name} {qtype} edns {edns:?}: {} bytes, NSD {}",
                mine.len(),
                theirs.len()
            );
        }
    }
}
