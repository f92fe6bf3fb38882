//! Switchyard's online signing judged by real validators: a real server
//! (in process, on 127.0.0.1:0) serving a signed zone — static records, a
//! wildcard, an empty non-terminal, NODATA, NXDOMAIN (compact denial), a
//! delegation with and one without DS (each child zone served by NSD),
//! a record set too big for UDP, and managed failover, weighted, geo,
//! multivalue and CNAME names whose health comes from loopback probes —
//! behind Unbound and Knot Resolver (the DS from `switchyard dnssec ds` as
//! the only trust anchor) and delv:
//!
//! - every kind of answer validates (AD; delv "fully validated"), with
//!   ECDSA P-256 and Ed25519 keys, Unbound randomising query-name case, and
//!   Unbound asking over TCP only; the chain through the signed delegation
//!   validates and the unsigned child is provably insecure;
//! - a signature corrupted in flight (static, managed, the DS, the no-DS
//!   proof), and signatures past their expiry or before their inception
//!   (Unbound's validation clock moved), are bogus (SERVFAIL), so the
//!   assertions above could fail;
//! - failover under DNSSEC: a region's probe dies, answers move, and every
//!   answer polled through the resolvers (TTL 1; Unbound caches nothing,
//!   Knot Resolver at most 1 s) and delv while they move validates, and
//!   every reply of Switchyard itself, asked every 2 ms, is signed: no
//!   window of bogus answers; weighted and multivalue answers without the
//!   dead region validate, and so does all regions down (fail-open);
//! - answers without DO are byte for byte those of the same config unsigned,
//!   and DNSKEY/CDS/CDNSKEY are answered without DO too;
//! - wildcard answers (one and two labels down, CNAME at a wildcard, to
//!   static and managed names, wildcard NODATA) carry the wildcard's own
//!   signature (Labels = the wildcard's count) and a signed NSEC covering
//!   only the next closer name; with Unbound's aggressive NSEC caching on
//!   (and Knot Resolver's), a real name beside a wildcard answer still
//!   resolves afterwards;
//! - EDNS Client Subnet through Unbound steers the geo answer (also through
//!   a wildcard CNAME) and validates;
//! - two instances sharing one key directory validate behind one resolver;
//! - a key rollover by pre-publication keeps the chain for the old and the
//!   new DS until the old key is withdrawn; an algorithm rollover (both
//!   keys active) double-signs and validates under either DS;
//! - with a KSK/ZSK split every kind of answer validates (both algorithms),
//!   the DNSKEY RRset carries only the KSK's signature and the data only the
//!   ZSK's, and the ZSK's DS as the anchor is bogus; a ZSK rollover
//!   (pre-publish), a KSK rollover (double DS, `parent_ds` refusing the step
//!   that would leave the DS pointing nowhere) and a CSK to split and back
//!   keep validating at every step, in fresh resolvers and in resolvers that
//!   cached the DNSKEY RRset after the pre-publication;
//! - Zonemaster's DNSSEC module finds no ERROR (in a network namespace of
//!   its own, where `switchyard serve` listens on port 53).
//!
//! Harness: tests/common/validators.rs, proved on an ldns-signed zone by
//! tests/dnssec_reference.rs. Skips (with a message) when a tool is
//! missing, unless `SWITCHYARD_REQUIRE_VALIDATORS=1`.

mod common;
#[path = "common/targets.rs"]
mod targets;
#[path = "common/validators.rs"]
mod validators;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant, UNIX_EPOCH};

use common::{TestServer, zones_dir};

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Label, Name, RData, RecordType};
use targets::{Behavior, Target, target_runtime};
use validators::*;

const ZONE: &str = "example.test.";

/// Static data: plain names, a wildcard, a delegation with DS and one
/// without. Addresses are documentation data, never queried: no resolver
/// is asked for a name below a delegation.
const ZONE_TEXT: &str = "$ORIGIN example.test.
$TTL 300
@ SOA ns1 hostmaster 1 3600 900 604800 60
@ NS ns1
ns1 A 192.0.2.53
www A 192.0.2.1
www AAAA 2001:db8::1
txt TXT \"hello from a signed zone\"
*.wild A 192.0.2.7
real.wild A 192.0.2.8
*.cw CNAME www
*.mw CNAME fo
*.gw CNAME geo
x.ent A 192.0.2.9
cname CNAME www
cwild CNAME via.wild
dangling CNAME gone
insecure NS ns.insecure
ns.insecure A 192.0.2.54
secure NS ns.secure
ns.secure A 192.0.2.55
big TXT \"record 00 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"
big TXT \"record 01 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"
big TXT \"record 02 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"
big TXT \"record 03 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"
big TXT \"record 04 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"
big TXT \"record 05 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"
big TXT \"record 06 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"
big TXT \"record 07 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"
big TXT \"record 08 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"
big TXT \"record 09 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"
big TXT \"record 10 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"
big TXT \"record 11 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"
";

/// The DS at `secure` when no child zone is served (data only).
const PLACEHOLDER_DS: &str =
    "12345 13 2 2bb183af5f22588179a53b0a98631fad1a292118a4d8f1e2b9a4b8c3d5e6f708";

/// The zone with `ds` (RDATA) as the DS of `secure.example.test.`.
fn zone_text(ds: &str) -> String {
    format!("{ZONE_TEXT}secure DS {ds}\n")
}

/// The signed child (served by NSD, signed by ldns-signzone, its DS in
/// Switchyard's zone) and the unsigned one.
const SECURE_CHILD: &str = "$ORIGIN secure.example.test.
$TTL 300
@ SOA ns hostmaster 1 3600 900 604800 60
@ NS ns
ns A 192.0.2.55
www A 192.0.2.80
";
const INSECURE_CHILD: &str = "$ORIGIN insecure.example.test.
$TTL 300
@ SOA ns hostmaster 1 3600 900 604800 60
@ NS ns
ns A 192.0.2.54
www A 192.0.2.81
";

/// Served addresses per region (data; the probes are loopback targets).
const EU: &str = "192.0.2.10";
const US: &str = "198.51.100.10";
const AP: &str = "203.0.113.10";

/// Validity settings the clock tests rely on.
const VALIDITY_DAYS: u64 = 3;
const BACKDATE_SECS: u64 = 3600;

/// The traffic and signing config: three regions checked over HTTP, each
/// probe a loopback target; failover, weighted, geo (the resolvers ask
/// from 127.0.0.1, mapped to `ap`) and multivalue services with TTL 1.
fn traffic(probes: &[&Target; 3], key_dir: Option<&Path>) -> String {
    let dnssec = key_dir.map_or(String::new(), |dir| {
        format!(
            "[dnssec]\nkey_dir = {:?}\nvalidity_days = {VALIDITY_DAYS}\nrefresh_days = 1\n\
             inception_backdate_secs = {BACKDATE_SECS}\n[dnssec.zones.\"{ZONE}\"]\n",
            dir.display().to_string()
        )
    });
    format!(
        r#"
[health]
coalesce_ms = 0

[checks.web]
kind = "http"
interval_ms = 100
timeout_ms = 50
fall = 2
rise = 2

[regions.eu]
check = "web"
endpoints = [{{ address = "{EU}", probe = "{eu}" }}, {{ address = "2001:db8::10", probe = "{eu}" }}]
[regions.us]
check = "web"
endpoints = [{{ address = "{US}", probe = "{us}" }}]
[regions.ap]
check = "web"
endpoints = [{{ address = "{AP}", probe = "{ap}" }}, {{ address = "203.0.113.11", probe = "{ap}" }}]

[regions.cdn]
endpoints = [{{ target = "www.example.test." }}]

[services."alias.example.test"]
policy = "failover"
ttl = 1
regions = ["cdn"]

[services."fo.example.test"]
policy = "failover"
ttl = 1
regions = ["eu", "us"]

[services."w.example.test"]
policy = "weighted"
ttl = 1
regions = ["eu", "us", "ap"]

[services."mv.example.test"]
policy = "multivalue"
ttl = 1
max_answers = 2
regions = ["eu", "us", "ap"]

[services."geo.example.test"]
policy = "geo"
ttl = 1
[services."geo.example.test".geo]
default = ["us"]
cidr = {{ "127.0.0.0/8" = ["ap"], "198.51.100.0/24" = ["eu"] }}

{dnssec}
"#,
        eu = probes[0].addr,
        us = probes[1].addr,
        ap = probes[2].addr,
    )
}

/// Runs `switchyard dnssec ARGS`, returning stdout; panics on failure.
fn switchyard_dnssec(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("dnssec")
        .args(args)
        .output()
        .expect("run switchyard dnssec");
    assert!(
        out.status.success(),
        "switchyard dnssec {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A key directory with a fresh key for the zone, and its DS anchors.
fn keys(algorithm: &str) -> (tempfile::TempDir, Vec<Anchor>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    switchyard_dnssec(&["keygen", ZONE, "--algorithm", algorithm, "--key-dir", &d]);
    let ds = switchyard_dnssec(&["ds", ZONE, "--key-dir", &d]);
    let anchors = Anchor::all_in(&ds);
    assert!(
        !anchors.is_empty() && anchors.iter().all(|a| a.rtype == "DS" && a.owner == ZONE),
        "`dnssec ds` printed no DS for {ZONE}: {ds:?}"
    );
    (dir, anchors)
}

struct Tools {
    unbound: PathBuf,
    kresd: PathBuf,
    delv: PathBuf,
    nsd: PathBuf,
}

fn tools(test: &str) -> Option<Tools> {
    let found = tools_or_skip(
        test,
        &[
            "unbound",
            "kresd",
            "delv",
            "nsd",
            "ldns-keygen",
            "ldns-signzone",
        ],
    )?;
    Some(Tools {
        nsd: found[3].clone(),
        unbound: found[0].clone(),
        kresd: found[1].clone(),
        delv: found[2].clone(),
    })
}

/// A signed server with healthy probes, its key dir, anchors and probes.
struct Signed {
    server: TestServer,
    anchors: Vec<Anchor>,
    probes: [Target; 3],
    _keys: tempfile::TempDir,
    _zones: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn signed(algorithm: &str, zone_text: &str) -> Signed {
    signed_with(keys(algorithm), zone_text)
}

/// [`signed`] with a key directory and anchors made by the caller.
fn signed_with((keys, anchors): (tempfile::TempDir, Vec<Anchor>), zone_text: &str) -> Signed {
    let rt = target_runtime();
    let probes = [
        Target::http(rt.handle(), Behavior::Healthy),
        Target::http(rt.handle(), Behavior::Healthy),
        Target::http(rt.handle(), Behavior::Healthy),
    ];
    let zones = zones_dir(&[(ZONE, zone_text)]);
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&traffic(
            &[&probes[0], &probes[1], &probes[2]],
            Some(keys.path()),
        ))
        .start();
    Signed {
        server,
        anchors,
        probes,
        _keys: keys,
        _zones: zones,
        _rt: rt,
    }
}

/// What a validated answer to a case must hold.
#[derive(Clone, Copy)]
enum Expect {
    /// NOERROR with answers, each of these (A/AAAA data), or any data if empty.
    Data(&'static [&'static str]),
    /// NOERROR, no answer (NODATA, or no DS at a delegation).
    NoData,
    /// NXDOMAIN.
    NxDomain,
    /// A CNAME whose target does not exist: the CNAME, and a denial.
    DanglingCname,
}

/// Every kind of answer the signed zone gives.
const CASES: &[(&str, RecordType, Expect)] = &[
    ("example.test.", RecordType::SOA, Expect::Data(&[])),
    ("example.test.", RecordType::NS, Expect::Data(&[])),
    ("example.test.", RecordType::DNSKEY, Expect::Data(&[])),
    ("example.test.", RecordType::CDS, Expect::Data(&[])),
    ("example.test.", RecordType::CDNSKEY, Expect::Data(&[])),
    // ANY, answered minimally (RFC 8482) and signed.
    ("www.example.test.", RecordType::ANY, Expect::Data(&[])),
    (
        "www.example.test.",
        RecordType::A,
        Expect::Data(&["192.0.2.1"]),
    ),
    (
        "www.example.test.",
        RecordType::AAAA,
        Expect::Data(&["2001:db8::1"]),
    ),
    ("txt.example.test.", RecordType::TXT, Expect::Data(&[])),
    // Larger than 1232 bytes with its RRSIG: truncated over UDP, then TCP.
    ("big.example.test.", RecordType::TXT, Expect::Data(&[])),
    // Wildcard expansion, at one and two labels below the wildcard.
    (
        "host.wild.example.test.",
        RecordType::A,
        Expect::Data(&["192.0.2.7"]),
    ),
    (
        "a.b.wild.example.test.",
        RecordType::A,
        Expect::Data(&["192.0.2.7"]),
    ),
    // A CNAME at a wildcard, to a static name and to managed names.
    (
        "x.cw.example.test.",
        RecordType::A,
        Expect::Data(&["192.0.2.1"]),
    ),
    ("x.cw.example.test.", RecordType::CNAME, Expect::Data(&[])),
    ("a.b.mw.example.test.", RecordType::A, Expect::Data(&[EU])),
    (
        "x.gw.example.test.",
        RecordType::A,
        Expect::Data(&[AP, "203.0.113.11"]),
    ),
    // A real name beside the wildcard, and a wildcard name next to it.
    (
        "real.wild.example.test.",
        RecordType::A,
        Expect::Data(&["192.0.2.8"]),
    ),
    (
        "rea.wild.example.test.",
        RecordType::A,
        Expect::Data(&["192.0.2.7"]),
    ),
    // The wildcard asked for by its own name.
    (
        "*.wild.example.test.",
        RecordType::A,
        Expect::Data(&["192.0.2.7"]),
    ),
    // Static CNAMEs: to a name, to a wildcard expansion, to nothing.
    (
        "cname.example.test.",
        RecordType::A,
        Expect::Data(&["192.0.2.1"]),
    ),
    (
        "cwild.example.test.",
        RecordType::A,
        Expect::Data(&["192.0.2.7"]),
    ),
    (
        "dangling.example.test.",
        RecordType::A,
        Expect::DanglingCname,
    ),
    // NODATA at a static name, at a wildcard and at a managed name.
    ("www.example.test.", RecordType::TXT, Expect::NoData),
    ("host.wild.example.test.", RecordType::MX, Expect::NoData),
    ("a.b.wild.example.test.", RecordType::TXT, Expect::NoData),
    // The NSEC a name owns under compact denial, asked for.
    ("www.example.test.", RecordType::NSEC, Expect::Data(&[])),
    ("fo.example.test.", RecordType::TXT, Expect::NoData),
    // NODATA at an empty non-terminal, and DS asked away from a cut.
    ("ent.example.test.", RecordType::A, Expect::NoData),
    ("www.example.test.", RecordType::DS, Expect::NoData),
    // NXDOMAIN, beside and below existing and managed names.
    ("nope.example.test.", RecordType::A, Expect::NxDomain),
    ("x.www.example.test.", RecordType::A, Expect::NxDomain),
    ("x.fo.example.test.", RecordType::A, Expect::NxDomain),
    // A delegation with DS, and one proved to have none.
    ("secure.example.test.", RecordType::DS, Expect::Data(&[])),
    ("insecure.example.test.", RecordType::DS, Expect::NoData),
    // Managed names: failover (eu first), weighted, geo (127/8 -> ap), multivalue.
    ("fo.example.test.", RecordType::A, Expect::Data(&[EU])),
    (
        "fo.example.test.",
        RecordType::AAAA,
        Expect::Data(&["2001:db8::10"]),
    ),
    (
        "w.example.test.",
        RecordType::A,
        Expect::Data(&[EU, US, AP, "203.0.113.11"]),
    ),
    (
        "geo.example.test.",
        RecordType::A,
        Expect::Data(&[AP, "203.0.113.11"]),
    ),
    (
        "mv.example.test.",
        RecordType::A,
        Expect::Data(&[EU, US, AP, "203.0.113.11"]),
    ),
];

fn check_case(
    who: &str,
    reply: &Message,
    name: &str,
    qtype: RecordType,
    expect: Expect,
) -> Result<(), String> {
    let rcode = reply.metadata.response_code;
    let data: Vec<String> = reply
        .answers
        .iter()
        .filter(|r| {
            r.record_type() == qtype
                || (qtype == RecordType::ANY && r.record_type() != RecordType::RRSIG)
        })
        .map(|r| r.data.to_string())
        .collect();
    let ok = validated(reply)
        && match expect {
            Expect::Data(allowed) => {
                rcode == ResponseCode::NoError
                    && !data.is_empty()
                    && (allowed.is_empty() || data.iter().all(|d| allowed.contains(&d.as_str())))
            }
            Expect::NoData => rcode == ResponseCode::NoError && data.is_empty(),
            Expect::NxDomain => validated_nxdomain(reply, name),
            Expect::DanglingCname => {
                data.is_empty()
                    && reply
                        .answers
                        .iter()
                        .any(|r| r.record_type() == RecordType::CNAME)
                    && matches!(rcode, ResponseCode::NoError | ResponseCode::NXDomain)
            }
        };
    if ok {
        Ok(())
    } else {
        Err(format!("{who}: {name} {qtype}: {}", describe(reply)))
    }
}

fn resolvers(
    tools: &Tools,
    upstream: std::net::SocketAddr,
    anchors: &[Anchor],
    options: &ResolverOptions,
) -> Vec<Resolver> {
    resolvers_for(tools, &[Upstream::new(ZONE, upstream)], anchors, options)
}

/// Unbound for every zone in `upstreams`, Knot Resolver for the first
/// (the parent) only: its `policy.FORWARD` sends all of a request's
/// sub-queries to one set of servers, so a DS query at a child's apex would
/// go to the child, and a chain across two servers cannot be followed.
fn resolvers_for(
    tools: &Tools,
    upstreams: &[Upstream],
    anchors: &[Anchor],
    options: &ResolverOptions,
) -> Vec<Resolver> {
    vec![
        Resolver::unbound(&tools.unbound, upstreams, anchors, options),
        Resolver::kresd(&tools.kresd, &upstreams[..1], anchors, options),
    ]
}

/// Whether `resolver` can answer `qtype` at all: Knot Resolver 5 answers
/// ANY with SERVFAIL, for the ldns-signed reference zone served by NSD too.
fn supported(resolver: &Resolver, qtype: RecordType) -> bool {
    !(resolver.name == "kresd" && qtype == RecordType::ANY)
}

/// Whether `resolver` was given the child zones' servers.
fn follows_children(resolver: &Resolver) -> bool {
    resolver.name == "unbound"
}

/// Names below the two delegations, answered by the child zones' own
/// servers (NSD): the resolvers follow the chain through Switchyard's DS
/// (secure: AD) or its signed proof of no DS (insecure: an answer without
/// AD, not SERVFAIL). delv is not asked: it would follow the referral to
/// the glue addresses, which are documentation data.
const CHILD_CASES: &[(&str, bool)] = &[
    ("www.secure.example.test.", true),
    ("www.insecure.example.test.", false),
];

/// The signed zone with NSD serving both children, and the resolvers' view
/// of all three zones (the parent at `parent`, e.g. a proxy).
struct Children {
    signer: LdnsSigner,
    secure: Nsd,
    insecure: Nsd,
}

impl Children {
    fn start(tools: &Tools) -> Children {
        let signer = LdnsSigner::new("secure.example.test.", "ECDSAP256SHA256");
        let secure = Nsd::start(
            &tools.nsd,
            "secure.example.test.",
            &signer.sign(SECURE_CHILD, None),
        );
        let insecure = Nsd::start(&tools.nsd, "insecure.example.test.", INSECURE_CHILD);
        Children {
            signer,
            secure,
            insecure,
        }
    }

    /// The parent zone's text, with the signed child's real DS.
    fn parent_zone(&self) -> String {
        zone_text(&self.signer.ds().rdata.join(" "))
    }

    fn upstreams(&self, parent: std::net::SocketAddr) -> Vec<Upstream> {
        vec![
            Upstream::new(ZONE, parent),
            Upstream::new("secure.example.test.", self.secure.addr),
            Upstream::new("insecure.example.test.", self.insecure.addr),
        ]
    }
}

#[test]
fn every_answer_validates_and_corruption_is_bogus() {
    let Some(tools) = tools("every_answer_validates_and_corruption_is_bogus") else {
        return;
    };
    let children = Children::start(&tools);
    for algorithm in ["ecdsap256sha256", "ed25519"] {
        let s = signed(algorithm, &children.parent_zone());
        let upstreams = children.upstreams(s.server.addr);
        let mut failures = Vec::new();
        let mut all = resolvers_for(&tools, &upstreams, &s.anchors, &ResolverOptions::default());
        // And Unbound asking over TCP only: DO answers over TCP.
        let tcp = ResolverOptions {
            unbound_tcp_upstream: true,
            ..ResolverOptions::default()
        };
        all.push(Resolver::unbound(
            &tools.unbound,
            &upstreams,
            &s.anchors,
            &tcp,
        ));
        // And Unbound advertising 512 bytes, the least EDNS allows: the
        // server must keep every signed answer within it or truncate (with
        // ECDSA most fit: NXDOMAIN with its proof is 365 bytes).
        let small = ResolverOptions {
            unbound_edns_size: Some(512),
            ..ResolverOptions::default()
        };
        all.push(Resolver::unbound(
            &tools.unbound,
            &upstreams,
            &s.anchors,
            &small,
        ));
        for (i, resolver) in all.into_iter().enumerate() {
            let transport = ["", "", ", TCP", ", EDNS 512"][i];
            let who = format!("{} ({algorithm}{transport})", resolver.name);
            for &(name, qtype, expect) in CASES {
                if !supported(&resolver, qtype) {
                    continue;
                }
                // Twice: the second answer may come from the resolver's cache
                // or (multivalue, weighted) be another variant.
                for _ in 0..2 {
                    let reply = resolver.ask(name, qtype);
                    if let Err(e) = check_case(&who, &reply, name, qtype, expect) {
                        failures.push(e);
                        break;
                    }
                }
            }
            for &(name, secure) in CHILD_CASES.iter().filter(|_| follows_children(&resolver)) {
                let reply = resolver.ask(name, RecordType::A);
                let ok = reply.metadata.response_code == ResponseCode::NoError
                    && !reply.answers.is_empty()
                    && reply.metadata.authentic_data == secure;
                if !ok {
                    failures.push(format!(
                        "{who}: {name} A: expected {} answer, got {}",
                        if secure { "a validated" } else { "an insecure" },
                        describe(&reply)
                    ));
                }
            }
            if !failures.is_empty() {
                failures.push(format!("--- {} log:\n{}", resolver.name, resolver.log()));
            }
        }
        let delv = Delv::new(&tools.delv, s.server.addr, &s.anchors);
        for &(name, qtype, _) in CASES {
            let result = delv.query(name, &qtype.to_string());
            if !result.fully_validated() {
                failures.push(format!(
                    "delv ({algorithm}): {name} {qtype}:\n{}",
                    result.output
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));

        // The same resolvers' verdicts can fail: a bit flipped in the
        // signatures of one static name, one managed name, the DS of the
        // signed delegation or the NSEC proving the other has none makes
        // the answers that depend on it bogus, while the rest still
        // validates through the same proxy.
        for (target, asked) in [
            ("www.example.test.", "www.example.test."),
            ("fo.example.test.", "fo.example.test."),
            ("secure.example.test.", "www.secure.example.test."),
            ("insecure.example.test.", "www.insecure.example.test."),
        ] {
            let proxy = CorruptingProxy::start(s.server.addr, target);
            let upstreams = children.upstreams(proxy.addr);
            for resolver in
                resolvers_for(&tools, &upstreams, &s.anchors, &ResolverOptions::default())
            {
                // Without the children's servers, ask the parent for the DS.
                let (asked, qtype) = if follows_children(&resolver) || asked == target {
                    (asked, RecordType::A)
                } else {
                    (target, RecordType::DS)
                };
                let reply = resolver.ask(asked, qtype);
                assert!(
                    bogus(&reply),
                    "{}: {asked} {qtype} with {target}'s signatures corrupted: {}",
                    resolver.name,
                    describe(&reply)
                );
                let reply = resolver.ask("host.wild.example.test.", RecordType::A);
                assert!(
                    validated(&reply),
                    "{}: wildcard via proxy: {}",
                    resolver.name,
                    describe(&reply)
                );
            }
            if target == asked {
                let delv = Delv::new(&tools.delv, proxy.addr, &s.anchors);
                let result = delv.query(target, "A");
                assert!(
                    !result.fully_validated(),
                    "delv took a corrupted {target}:\n{}",
                    result.output
                );
            }
            assert!(proxy.corrupted.load(std::sync::atomic::Ordering::Relaxed) > 0);
        }
    }
}

/// Two instances sharing one key directory sign on their own (their
/// signatures differ only in times); resolvers given both as the zone's
/// servers validate whichever answers.
#[test]
fn instances_sharing_keys_both_validate() {
    let Some(tools) = tools("instances_sharing_keys_both_validate") else {
        return;
    };
    let a = signed("ecdsap256sha256", &zone_text(PLACEHOLDER_DS));
    let zones = zones_dir(&[(ZONE, &zone_text(PLACEHOLDER_DS))]);
    let b = TestServer::builder()
        .zones(zones.path())
        .tail(&traffic(
            &[&a.probes[0], &a.probes[1], &a.probes[2]],
            Some(a._keys.path()),
        ))
        .start();
    let upstreams = [Upstream::many(ZONE, &[a.server.addr, b.addr])];
    for resolver in resolvers_for(
        &tools,
        &upstreams,
        &a.anchors,
        &ResolverOptions {
            max_cache_ttl: Some(1),
            ..ResolverOptions::default()
        },
    ) {
        for _ in 0..6 {
            for &(name, qtype, expect) in CASES {
                if !supported(&resolver, qtype) {
                    continue;
                }
                let reply = resolver.ask(name, qtype);
                if let Err(e) = check_case(resolver.name, &reply, name, qtype, expect) {
                    panic!("{e}\n{}", resolver.log());
                }
            }
        }
    }
    for server in [a.server.addr, b.addr] {
        let delv = Delv::new(&tools.delv, server, &a.anchors);
        let result = delv.query("fo.example.test.", "A");
        assert!(
            result.fully_validated(),
            "delv at {server}:\n{}",
            result.output
        );
    }
}

/// `YYYYMMDDhhmmss` (UTC) for a Unix time, as RRSIG and Unbound write it.
fn rrsig_time(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Signatures hold from `now - inception_backdate_secs` to `now +
/// validity_days`: Unbound, its clock moved inside that window, validates;
/// moved past either end, it calls the same answers bogus.
#[test]
fn signatures_expire_and_start_when_configured() {
    let Some(tools) = tools("signatures_expire_and_start_when_configured") else {
        return;
    };
    let s = signed("ecdsap256sha256", &zone_text(PLACEHOLDER_DS));
    let now = switchyard::clock::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let day = 86_400;
    let upstreams = [Upstream::new(ZONE, s.server.addr)];
    for (at, valid) in [
        (now + (VALIDITY_DAYS - 1) * day, true),
        (now + (VALIDITY_DAYS + 1) * day, false),
        (now - BACKDATE_SECS / 2, true),
        (now - BACKDATE_SECS * 2, false),
    ] {
        let options = ResolverOptions {
            unbound_validation_date: Some(rrsig_time(at)),
            ..ResolverOptions::default()
        };
        let unbound = Resolver::unbound(&tools.unbound, &upstreams, &s.anchors, &options);
        for (name, qtype) in [
            ("www.example.test.", RecordType::A),
            ("fo.example.test.", RecordType::A),
            ("nope.example.test.", RecordType::A),
        ] {
            let reply = unbound.ask(name, qtype);
            assert!(
                if valid {
                    validated(&reply)
                } else {
                    bogus(&reply)
                },
                "{name} at {} (now {}): expected {}, got {}\n{}",
                rrsig_time(at),
                rrsig_time(now),
                if valid { "valid" } else { "bogus" },
                describe(&reply),
                unbound.log()
            );
        }
    }
}

/// A thread asking the server `name` A every 2 ms, alternately with and
/// without DO, until stopped; it keeps every reply that breaks the signing
/// rules (see the loop) and counts NODATA replies.
struct DirectWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(usize, usize, Vec<String>)>,
}

impl DirectWatch {
    fn start(server: std::net::SocketAddr, name: &'static str) -> DirectWatch {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let (mut asked, mut odd, mut nodata) = (0, Vec::new(), 0);
            while !flag.load(std::sync::atomic::Ordering::Relaxed) && asked < 20_000 {
                // Alternately with and without DO: a fault in both is not
                // DNSSEC's.
                let plain = asked % 2 == 1;
                let query = if plain {
                    common::make_query(name, RecordType::A, None)
                } else {
                    let mut q = validating_query(name, RecordType::A);
                    q.metadata.recursion_desired = false;
                    q
                };
                asked += 1;
                let reply = udp_exchange(server, &query.to_vec().unwrap(), Duration::from_secs(2))
                    .and_then(|r| Message::from_vec(&r).ok());
                // With DO: the A RRset and its RRSIG, or a signed denial
                // (NSEC and RRSIGs in the authority section). Without DO:
                // no DNSSEC records at all.
                let ok = reply.as_ref().is_some_and(|m| {
                    let has = |records: &[hickory_proto::rr::Record], t: RecordType| {
                        records.iter().any(|r| r.record_type() == t)
                    };
                    let answered = has(&m.answers, RecordType::A);
                    if m.answers.is_empty() {
                        nodata += 1;
                    }
                    m.metadata.response_code == ResponseCode::NoError
                        && if plain {
                            !has(&m.answers, RecordType::RRSIG)
                                && !has(&m.authorities, RecordType::RRSIG)
                        } else if answered {
                            has(&m.answers, RecordType::RRSIG)
                        } else {
                            has(&m.authorities, RecordType::NSEC)
                                && has(&m.authorities, RecordType::RRSIG)
                        }
                });
                if !ok && odd.len() < 20 {
                    odd.push(format!(
                        "at {:?} ({}): {}",
                        started.elapsed(),
                        if plain { "no DO" } else { "DO" },
                        reply.as_ref().map_or("no reply".to_string(), describe)
                    ));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (asked, nodata, odd)
        });
        DirectWatch { stop, thread }
    }

    /// How many queries it sent, how many got NODATA, and the replies that
    /// broke the rules above.
    fn stop(self) -> (usize, usize, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("watcher")
    }
}

/// The A data of a validated reply, or why it is not validated.
fn validated_set(reply: &Message) -> Result<BTreeSet<String>, String> {
    if !validated(reply) {
        return Err(describe(reply));
    }
    Ok(reply
        .answers
        .iter()
        .filter(|r| r.record_type() == RecordType::A)
        .map(|r| r.data.to_string())
        .collect())
}

#[test]
fn failover_answers_validate_while_they_move() {
    let Some(tools) = tools("failover_answers_validate_while_they_move") else {
        return;
    };
    let mut s = signed("ecdsap256sha256", &zone_text(PLACEHOLDER_DS));
    let options = ResolverOptions {
        max_cache_ttl: Some(0),
        ..ResolverOptions::default()
    };
    let resolvers = resolvers(&tools, s.server.addr, &s.anchors, &options);
    let delv = Delv::new(&tools.delv, s.server.addr, &s.anchors);
    let name = "fo.example.test.";
    let eu: BTreeSet<String> = [EU.to_string()].into();
    let us: BTreeSet<String> = [US.to_string()].into();
    for resolver in &resolvers {
        let got = validated_set(&resolver.ask(name, RecordType::A));
        assert_eq!(got, Ok(eu.clone()), "{} before the failure", resolver.name);
    }

    // eu's probe dies: answers move to us. Poll every resolver and delv
    // until each has shown us for a while; every reply must validate.
    // Meanwhile, ask Switchyard itself (DO, every few ms) and keep every
    // reply that is not NOERROR with the A RRset and its RRSIG.
    let watcher = DirectWatch::start(s.server.addr, name);
    s.probes[0].kill();
    let killed = Instant::now();
    let mut moved: Vec<Option<Duration>> = vec![None; resolvers.len() + 1];
    let mut polls = 0;
    let deadline = killed + Duration::from_secs(15);
    while moved
        .iter()
        .any(|m| m.is_none_or(|t| killed.elapsed() < t + Duration::from_secs(2)))
    {
        assert!(
            Instant::now() < deadline,
            "answers did not move to us in 15 s: {moved:?}"
        );
        for (i, resolver) in resolvers.iter().enumerate() {
            let reply = resolver.ask(name, RecordType::A);
            let got = validated_set(&reply).unwrap_or_else(|e| {
                panic!(
                    "{} after {:?}: not validated: {e}\n{}",
                    resolver.name,
                    killed.elapsed(),
                    resolver.log()
                )
            });
            // Never empty: failover is per family, so the moment eu's IPv4
            // endpoint is down and its IPv6 one not yet, A already moves.
            assert!(
                got == eu || got == us,
                "{} after {:?}: {}\n{}",
                resolver.name,
                killed.elapsed(),
                describe(&reply),
                resolver.log()
            );
            if got == us && moved[i].is_none() {
                moved[i] = Some(killed.elapsed());
            }
            assert!(
                !(moved[i].is_some()
                    && got == eu
                    && killed.elapsed() > moved[i].unwrap() + Duration::from_secs(2)),
                "{}: back to eu long after moving",
                resolver.name
            );
        }
        let result = delv.query(name, "A");
        assert!(
            result.fully_validated(),
            "delv after {:?}:\n{}",
            killed.elapsed(),
            result.output
        );
        if result.output.contains(US) && moved[resolvers.len()].is_none() {
            moved[resolvers.len()] = Some(killed.elapsed());
        }
        polls += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "failover under DNSSEC: {polls} polls, all validated; moved after {moved:?} (unbound, kresd, delv)"
    );
    // Weighted and multivalue answers leave eu too, and their new variants
    // (multivalue subsets are signed on first use) validate.
    for resolver in &resolvers {
        for service in ["w.example.test.", "mv.example.test."] {
            for _ in 0..8 {
                let reply = resolver.ask(service, RecordType::A);
                let got = validated_set(&reply)
                    .unwrap_or_else(|e| panic!("{}: {service} without eu: {e}", resolver.name));
                assert!(
                    !got.is_empty() && !got.contains(EU),
                    "{}: {service} without eu: {}",
                    resolver.name,
                    describe(&reply)
                );
            }
        }
    }

    // us has no IPv6 endpoint: AAAA is now a signed NODATA at a managed name.
    for resolver in &resolvers {
        let reply = resolver.ask(name, RecordType::AAAA);
        assert!(
            validated(&reply)
                && reply
                    .answers
                    .iter()
                    .all(|r| r.record_type() != RecordType::AAAA),
            "{}: AAAA with only us up: {}",
            resolver.name,
            describe(&reply)
        );
    }

    // Every region of the service down: whatever the all-down rule answers
    // (fail-open by default) validates too, the moment it changes.
    s.probes[1].kill();
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        for resolver in &resolvers {
            let reply = resolver.ask(name, RecordType::A);
            assert!(
                validated(&reply),
                "{} with every region down: {}",
                resolver.name,
                describe(&reply)
            );
        }
        let result = delv.query(name, "A");
        assert!(
            result.fully_validated(),
            "delv, all down:\n{}",
            result.output
        );
    }
    s.probes[1].revive();
    let (asked, nodata, odd) = watcher.stop();
    assert!(
        odd.is_empty(),
        "{} of {asked} direct queries during failover were not signed as they should be:\n{}",
        odd.len(),
        odd.join("\n")
    );
    // No NODATA either: while eu's IPv4 endpoint is down and its IPv6 one
    // not yet (each endpoint is probed on its own), A queries already go to
    // us (failover per family).
    assert_eq!(nodata, 0, "NODATA answers to A during failover");
    eprintln!(
        "direct queries during failover: {asked}, all signed as they should be ({nodata} NODATA)"
    );

    // And back: eu's probe returns, answers return, still validated.
    s.probes[0].revive();
    let deadline = Instant::now() + Duration::from_secs(15);
    for resolver in &resolvers {
        loop {
            let got = validated_set(&resolver.ask(name, RecordType::A))
                .unwrap_or_else(|e| panic!("{} on recovery: not validated: {e}", resolver.name));
            if got == eu {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: never back to eu",
                resolver.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Replies to queries without DO (no EDNS, and EDNS without DO) are the
/// same bytes from the signed server as from the same config unsigned.
#[test]
fn answers_without_do_are_unchanged() {
    let s = signed("ecdsap256sha256", &zone_text(PLACEHOLDER_DS));
    let zones = zones_dir(&[(ZONE, &zone_text(PLACEHOLDER_DS))]);
    let unsigned = TestServer::builder()
        .zones(zones.path())
        .tail(&traffic(&[&s.probes[0], &s.probes[1], &s.probes[2]], None))
        .start();
    let mut compared = 0;
    for &(name, qtype, _) in CASES {
        // Weighted and multivalue answers are drawn per query; the apex
        // key RRsets only exist when signed.
        if name.starts_with("w.")
            || name.starts_with("mv.")
            || [RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY].contains(&qtype)
        {
            continue;
        }
        for edns in [None, Some(1232)] {
            let query = common::make_query(name, qtype, edns).to_vec().unwrap();
            let a = common::udp_raw(s.server.addr, &query).expect("signed reply");
            let b = common::udp_raw(unsigned.addr, &query).expect("unsigned reply");
            assert_eq!(
                a,
                b,
                "{name} {qtype} (EDNS {edns:?}): signed {:?}\nunsigned {:?}",
                Message::from_vec(&a),
                Message::from_vec(&b)
            );
            compared += 1;
        }
    }
    assert!(compared > 20);

    // An explicit query for the apex key RRsets is answered with them with
    // or without DO; only the RRSIGs are withheld without DO (RFC 4035
    // §3.1.1). Zonemaster (DNSSEC11) and resolvers priming keys without DO
    // depend on it.
    for qtype in [RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY] {
        for edns in [None, Some(1232)] {
            let reply = common::udp(s.server.addr, &common::make_query(ZONE, qtype, edns));
            assert!(
                reply.answers.iter().any(|r| r.record_type() == qtype)
                    && reply
                        .answers
                        .iter()
                        .all(|r| r.record_type() != RecordType::RRSIG),
                "{ZONE} {qtype} without DO (EDNS {edns:?}): {}",
                describe(&reply)
            );
        }
    }
}

#[test]
fn zonemaster_finds_no_dnssec_error() {
    let Some(_) = tools_or_skip(
        "zonemaster_finds_no_dnssec_error",
        &["zonemaster-cli", "unshare", "ip", "dig"],
    ) else {
        return;
    };
    // A CSK of each algorithm, and a KSK/ZSK split.
    for (algorithm, number, roles) in [
        ("ed25519", "15", &["csk"][..]),
        ("ecdsap256sha256", "13", &["csk"][..]),
        ("ecdsap256sha256", "13", &["ksk", "zsk"][..]),
    ] {
        let zones = zones_dir(&[(ZONE, &zone_text(PLACEHOLDER_DS))]);
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("switchyard.toml");
        // Keys in `keys` beside the config, made and read through `--config`
        // (the zone's `algorithm` picks the key's).
        std::fs::write(
            &config,
            format!(
                "version = 1\n[server]\ndns_listen = [\"127.0.0.1:53\"]\napi_listen = \"127.0.0.1:0\"\n\
                 zones_dir = {:?}\nstate_dir = {:?}\n[rrl]\nenabled = false\n\
                 [dnssec]\nkey_dir = \"keys\"\n[dnssec.zones.\"{ZONE}\"]\nalgorithm = \"{algorithm}\"\n",
                zones.path().display().to_string(),
                dir.path().join("state").display().to_string(),
            ),
        )
        .unwrap();
        let c = config.display().to_string();
        for role in roles {
            let made = switchyard_dnssec(&["keygen", ZONE, "--role", role, "--config", &c]);
            assert!(made.contains(algorithm), "{made}");
        }
        assert!(dir.path().join("keys").is_dir(), "keys beside the config");
        let anchors = Anchor::all_in(&switchyard_dnssec(&["ds", ZONE, "--config", &c]));
        assert!(
            anchors.len() == 1 && anchors[0].rdata[1] == number,
            "{anchors:?}"
        );
        let server = format!(
            "{} serve --config {}",
            env!("CARGO_BIN_EXE_switchyard"),
            config.display()
        );
        let Some(report) = zonemaster(&server, ZONE, "ns1.example.test", &anchors) else {
            assert!(
                std::env::var(REQUIRE_ENV).as_deref() != Ok("1"),
                "no network namespace for Zonemaster"
            );
            return;
        };
        eprintln!("{}", report.output);
        assert!(
            report.testcases.iter().any(|t| t.starts_with("DNSSEC")),
            "Zonemaster ran no DNSSEC test case:\n{}",
            report.output
        );
        assert!(
            report.errors.is_empty(),
            "Zonemaster errors:\n{}",
            report.errors.join("\n")
        );
    }
}

/// The key tag in `dnssec keygen`'s report (`zone: key TAG (...)`).
fn reported_tag(keygen_output: &str) -> String {
    keygen_output
        .split_whitespace()
        .skip_while(|w| *w != "key")
        .nth(1)
        .unwrap_or_else(|| panic!("no key tag in {keygen_output:?}"))
        .to_string()
}

/// Sets `published`/`active` in the `.state` file of key `tag`, as an
/// operator does during a rollover (its `role` line kept).
fn set_key_state(key_dir: &Path, tag: &str, published: bool, active: bool) {
    let state = state_file(key_dir, tag);
    let text = std::fs::read_to_string(&state).unwrap();
    let role = text
        .lines()
        .find(|l| l.trim_start().starts_with("role"))
        .unwrap_or("");
    std::fs::write(
        &state,
        format!("published = {published}\nactive = {active}\n{role}\n"),
    )
    .unwrap();
}

/// The `.state` file of key `tag`.
fn state_file(key_dir: &Path, tag: &str) -> PathBuf {
    let suffix = format!("+{:0>5}.state", tag);
    std::fs::read_dir(key_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(&suffix))
        .unwrap_or_else(|| panic!("no state file for key {tag} in {}", key_dir.display()))
}

/// Sets the `role` of key `tag` (csk and ksk swap: same flags and tag).
fn set_key_role(key_dir: &Path, tag: &str, role: &str) {
    let state = state_file(key_dir, tag);
    let text = std::fs::read_to_string(&state).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("role"))
        .collect();
    std::fs::write(&state, format!("{}\nrole = \"{role}\"\n", kept.join("\n"))).unwrap();
}

/// The key tags of the RRSIGs over `name`'s A RRset, asked directly.
fn signing_tags(server: &TestServer, name: &str) -> Vec<String> {
    let reply = common::udp(server.addr, &validating_query(name, RecordType::A));
    reply
        .answers
        .iter()
        .filter(|r| r.record_type() == RecordType::RRSIG)
        // "A ECDSAP256SHA256 3 300 <expiration> <inception> <tag> <signer> <sig>"
        .map(|r| {
            r.data
                .to_string()
                .split_whitespace()
                .nth(6)
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// A key rollover by pre-publication, judged by validators holding the
/// old or the new DS: the new key is published (both DS validate), then
/// made active with the old one still published (both validate), then the
/// old one withdrawn (only the new DS validates; the old one is bogus).
/// Each stage is a reload and fresh resolvers (nothing cached across).
#[test]
fn rollover_by_prepublication_keeps_the_chain() {
    let Some(tools) = tools("rollover_by_prepublication_keeps_the_chain") else {
        return;
    };
    let s = signed("ecdsap256sha256", &zone_text(PLACEHOLDER_DS));
    let key_dir = s._keys.path().to_path_buf();
    let d = key_dir.display().to_string();
    let old_tag = s.anchors[0].rdata[0].clone();
    let new_tag = reported_tag(&switchyard_dnssec(&[
        "keygen",
        ZONE,
        "--published-only",
        "--key-dir",
        &d,
    ]));
    assert_ne!(old_tag, new_tag);
    let ds_of = |tag: &str| -> Vec<Anchor> {
        let all = Anchor::all_in(&switchyard_dnssec(&["ds", ZONE, "--key-dir", &d]));
        all.into_iter().filter(|a| a.rdata[0] == tag).collect()
    };
    let old_ds = s.anchors.clone();
    let check = |stage: &str, anchors: &[Anchor], valid: bool| {
        for resolver in resolvers(&tools, s.server.addr, anchors, &ResolverOptions::default()) {
            for (name, qtype) in [
                ("example.test.", RecordType::DNSKEY),
                ("www.example.test.", RecordType::A),
                ("fo.example.test.", RecordType::A),
                ("nope.example.test.", RecordType::A),
            ] {
                let reply = resolver.ask(name, qtype);
                assert!(
                    if valid {
                        validated(&reply)
                    } else {
                        bogus(&reply)
                    },
                    "{stage}, anchor DS {}: {} {name} {qtype}: expected {}, got {}",
                    anchors[0].rdata[0],
                    resolver.name,
                    if valid { "validated" } else { "bogus" },
                    describe(&reply)
                );
            }
        }
        let result = Delv::new(&tools.delv, s.server.addr, anchors).query("www.example.test.", "A");
        assert_eq!(
            result.fully_validated(),
            valid,
            "{stage}, delv:\n{}",
            result.output
        );
    };

    s.server
        .reload()
        .expect("reload with the new key published");
    let new_ds = ds_of(&new_tag);
    assert_eq!(new_ds.len(), 1, "`dnssec ds` lists the published new key");
    check("new key published", &old_ds, true);
    check("new key published", &new_ds, true);

    assert_eq!(
        signing_tags(&s.server, "www.example.test."),
        std::slice::from_ref(&old_tag)
    );
    set_key_state(&key_dir, &new_tag, true, true);
    set_key_state(&key_dir, &old_tag, true, false);
    s.server.reload().expect("reload with the new key active");
    // Data is now signed by the new key alone; DNSKEY by both.
    assert_eq!(
        signing_tags(&s.server, "www.example.test."),
        std::slice::from_ref(&new_tag)
    );
    check("new key active, old published", &old_ds, true);
    check("new key active, old published", &new_ds, true);

    set_key_state(&key_dir, &old_tag, false, false);
    s.server
        .reload()
        .expect("reload with the old key withdrawn");
    check("old key withdrawn", &new_ds, true);
    check("old key withdrawn", &old_ds, false);
}

/// EDNS Client Subnet with DO through a validator: Unbound (subnetcache)
/// passes a client's subnet upstream, the geo answer follows it, and it
/// validates; without one, Unbound sends the client's own /24 (127.0.0.0).
#[test]
fn ecs_answers_validate() {
    let Some(tools) = tools("ecs_answers_validate") else {
        return;
    };
    let s = signed("ecdsap256sha256", &zone_text(PLACEHOLDER_DS));
    let options = ResolverOptions {
        unbound_ecs: true,
        max_cache_ttl: Some(0),
        ..ResolverOptions::default()
    };
    let upstreams = [Upstream::new(ZONE, s.server.addr)];
    let unbound = Resolver::unbound(&tools.unbound, &upstreams, &s.anchors, &options);
    for (subnet, want) in [
        (Some("198.51.100.0/24"), vec![EU]),
        (None, vec![AP, "203.0.113.11"]),
        (Some("198.51.100.0/24"), vec![EU]),
    ] {
        let reply = match subnet {
            Some(subnet) => ask_with_ecs(unbound.addr, "geo.example.test.", RecordType::A, subnet)
                .expect("reply"),
            None => unbound.ask("geo.example.test.", RecordType::A),
        };
        let got = validated_set(&reply)
            .unwrap_or_else(|e| panic!("ECS {subnet:?}: not validated: {e}\n{}", unbound.log()));
        let want: BTreeSet<String> = want.iter().map(|a| a.to_string()).collect();
        assert_eq!(got, want, "ECS {subnet:?}: {}", describe(&reply));
    }
    // The same managed name reached through a wildcard CNAME.
    let reply = ask_with_ecs(
        unbound.addr,
        "x.gw.example.test.",
        RecordType::A,
        "198.51.100.0/24",
    )
    .expect("reply");
    let got = validated_set(&reply)
        .unwrap_or_else(|e| panic!("ECS via wildcard: not validated: {e}\n{}", unbound.log()));
    assert_eq!(
        got,
        BTreeSet::from([EU.to_string()]),
        "{}",
        describe(&reply)
    );
}

/// An algorithm rollover (ECDSA P-256 to Ed25519) with both keys active,
/// as the README's procedure has it: every RRset carries one signature per
/// algorithm, and validators holding either DS (or both) validate every
/// kind of answer.
#[test]
fn algorithm_rollover_double_signs() {
    let Some(tools) = tools("algorithm_rollover_double_signs") else {
        return;
    };
    let s = signed("ecdsap256sha256", &zone_text(PLACEHOLDER_DS));
    let d = s._keys.path().display().to_string();
    let old_tag = s.anchors[0].rdata[0].clone();
    let new_tag = reported_tag(&switchyard_dnssec(&[
        "keygen",
        ZONE,
        "--algorithm",
        "ed25519",
        "--published-only",
        "--key-dir",
        &d,
    ]));
    set_key_state(s._keys.path(), &new_tag, true, true);
    s.server.reload().expect("reload with both keys active");
    let all = Anchor::all_in(&switchyard_dnssec(&["ds", ZONE, "--key-dir", &d]));
    assert_eq!(all.len(), 2, "two DS records: {all:?}");
    let mut tags = signing_tags(&s.server, "www.example.test.");
    tags.sort();
    let mut want = vec![old_tag.clone(), new_tag.clone()];
    want.sort();
    assert_eq!(tags, want, "www A signed by both keys");
    for anchors in [
        all.iter()
            .filter(|a| a.rdata[0] == old_tag)
            .cloned()
            .collect::<Vec<_>>(),
        all.iter()
            .filter(|a| a.rdata[0] == new_tag)
            .cloned()
            .collect(),
        all.clone(),
    ] {
        for resolver in resolvers(&tools, s.server.addr, &anchors, &ResolverOptions::default()) {
            for &(name, qtype, expect) in CASES {
                if !supported(&resolver, qtype) {
                    continue;
                }
                let reply = resolver.ask(name, qtype);
                if let Err(e) = check_case(resolver.name, &reply, name, qtype, expect) {
                    panic!("anchors {anchors:?}: {e}\n{}", resolver.log());
                }
            }
        }
        let delv = Delv::new(&tools.delv, s.server.addr, &anchors);
        let result = delv.query("fo.example.test.", "A");
        assert!(
            result.fully_validated(),
            "delv {anchors:?}:\n{}",
            result.output
        );
    }
}

// --- KSK/ZSK split: every answer validates, and rollovers keep the chain ---

/// A key directory with a KSK and a ZSK (both active), the KSK's DS (the
/// only one `dnssec ds` prints) and both tags.
fn split_keys(algorithm: &str) -> ((tempfile::TempDir, Vec<Anchor>), String, String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let keygen = |role: &str| {
        reported_tag(&switchyard_dnssec(&[
            "keygen",
            ZONE,
            "--role",
            role,
            "--algorithm",
            algorithm,
            "--key-dir",
            &d,
        ]))
    };
    let ksk = keygen("ksk");
    let zsk = keygen("zsk");
    let anchors = Anchor::all_in(&switchyard_dnssec(&["ds", ZONE, "--key-dir", &d]));
    assert_eq!(
        anchors.len(),
        1,
        "`dnssec ds` prints the KSK's DS only: {anchors:?}"
    );
    assert_eq!(anchors[0].rdata[0], ksk);
    ((dir, anchors), ksk, zsk)
}

/// The DS of key `tag` as a trust anchor, whatever its role (a ZSK's DS is
/// what `dnssec ds` refuses to print; validators must refuse it too).
fn any_ds(key_dir: &Path, tag: &str) -> Vec<Anchor> {
    let keys = switchyard::dnssec::keys::load_zone(key_dir, &ZONE.parse().unwrap()).unwrap();
    let key = keys
        .iter()
        .find(|k| k.tag.to_string() == tag)
        .unwrap_or_else(|| panic!("no key {tag}"));
    Anchor::all_in(&key.ds_line().unwrap())
}

/// The key tags of the RRSIGs over the apex DNSKEY RRset, asked directly.
fn dnskey_signing_tags(server: &TestServer) -> Vec<String> {
    let reply = common::udp(server.addr, &validating_query(ZONE, RecordType::DNSKEY));
    let mut tags: Vec<String> = reply
        .answers
        .iter()
        .filter(|r| r.record_type() == RecordType::RRSIG)
        .map(|r| {
            r.data
                .to_string()
                .split_whitespace()
                .nth(6)
                .unwrap_or("")
                .to_string()
        })
        .collect();
    tags.sort();
    tags
}

/// The key tags the apex CDS RRset names, asked directly.
fn cds_tags(server: &TestServer) -> Vec<String> {
    let reply = common::udp(server.addr, &validating_query(ZONE, RecordType::CDS));
    let mut tags: Vec<String> = reply
        .answers
        .iter()
        .filter(|r| r.record_type() == RecordType::CDS)
        .map(|r| {
            r.data
                .to_string()
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    tags.sort();
    tags
}

fn sorted(mut tags: Vec<String>) -> Vec<String> {
    tags.sort();
    tags
}

/// The names a rollover stage is judged by: the key RRset, static data,
/// a managed answer, compact denial and NODATA.
const ROLLOVER_CASES: &[(&str, RecordType, Expect)] = &[
    ("example.test.", RecordType::DNSKEY, Expect::Data(&[])),
    (
        "www.example.test.",
        RecordType::A,
        Expect::Data(&["192.0.2.1"]),
    ),
    ("fo.example.test.", RecordType::A, Expect::Data(&[EU])),
    (
        "w.example.test.",
        RecordType::A,
        Expect::Data(&[EU, US, AP, "203.0.113.11"]),
    ),
    ("nope.example.test.", RecordType::A, Expect::NxDomain),
    ("www.example.test.", RecordType::TXT, Expect::NoData),
];

/// Every [`ROLLOVER_CASES`] name through `resolvers` (and delv, fresh)
/// validates with `anchors`, or (`valid = false`) is bogus.
fn judge(
    tools: &Tools,
    stage: &str,
    server: &TestServer,
    anchors: &[Anchor],
    resolvers: &[Resolver],
    valid: bool,
) {
    for resolver in resolvers {
        for &(name, qtype, expect) in ROLLOVER_CASES {
            let reply = resolver.ask(name, qtype);
            let ok = if valid {
                check_case(resolver.name, &reply, name, qtype, expect).is_ok()
            } else {
                bogus(&reply)
            };
            assert!(
                ok,
                "{stage}, anchor DS {:?}: {} {name} {qtype}: expected {}, got {}\n{}",
                anchors.iter().map(|a| &a.rdata[0]).collect::<Vec<_>>(),
                resolver.name,
                if valid { "validated" } else { "bogus" },
                describe(&reply),
                resolver.log()
            );
        }
    }
    let result = Delv::new(&tools.delv, server.addr, anchors).query("fo.example.test.", "A");
    assert_eq!(
        result.fully_validated(),
        valid,
        "{stage}, delv:\n{}",
        result.output
    );
}

/// A zone signed with a KSK and a ZSK: every kind of answer (static,
/// wildcard, managed, NODATA, compact NXDOMAIN, referrals) validates with
/// the KSK's DS as the anchor, in Unbound, Knot Resolver and delv; the
/// DNSKEY RRset carries the KSK's signature only and the data the ZSK's
/// only; and the ZSK's DS as an anchor is bogus (the ZSK signs no keys).
#[test]
fn split_keys_validate_every_answer() {
    let Some(tools) = tools("split_keys_validate_every_answer") else {
        return;
    };
    for algorithm in ["ecdsap256sha256", "ed25519"] {
        let (keys, ksk, zsk) = split_keys(algorithm);
        let s = signed_with(keys, &zone_text(PLACEHOLDER_DS));
        assert_eq!(
            signing_tags(&s.server, "www.example.test."),
            vec![zsk.clone()]
        );
        assert_eq!(
            signing_tags(&s.server, "fo.example.test."),
            vec![zsk.clone()]
        );
        assert_eq!(dnskey_signing_tags(&s.server), vec![ksk.clone()]);
        assert_eq!(cds_tags(&s.server), vec![ksk.clone()]);
        for resolver in resolvers(
            &tools,
            s.server.addr,
            &s.anchors,
            &ResolverOptions::default(),
        ) {
            for &(name, qtype, expect) in CASES {
                if !supported(&resolver, qtype) {
                    continue;
                }
                for _ in 0..2 {
                    let reply = resolver.ask(name, qtype);
                    if let Err(e) = check_case(resolver.name, &reply, name, qtype, expect) {
                        panic!("{algorithm}: {e}\n{}", resolver.log());
                    }
                }
            }
        }
        let delv = Delv::new(&tools.delv, s.server.addr, &s.anchors);
        for &(name, qtype, _) in CASES {
            let result = delv.query(name, &qtype.to_string());
            assert!(
                result.fully_validated(),
                "delv ({algorithm}): {name} {qtype}:\n{}",
                result.output
            );
        }
        // The ZSK's DS as the anchor: nothing validates.
        let wrong = any_ds(s._keys.path(), &zsk);
        judge(
            &tools,
            &format!("{algorithm}, the ZSK's DS"),
            &s.server,
            &wrong,
            &resolvers(&tools, s.server.addr, &wrong, &ResolverOptions::default()),
            false,
        );
    }
}

/// A ZSK rollover by pre-publication: the new ZSK published (data still
/// by the old), then active with the old one still published (data by the
/// new), then the old one withdrawn. The parent's DS (the KSK's) never
/// changes, and at every step fresh resolvers and resolvers that cached
/// the DNSKEY RRset after the pre-publication validate every kind of
/// answer.
#[test]
fn zsk_rollover_keeps_validating() {
    let Some(tools) = tools("zsk_rollover_keeps_validating") else {
        return;
    };
    let (keys, ksk, old_zsk) = split_keys("ecdsap256sha256");
    let s = signed_with(keys, &zone_text(PLACEHOLDER_DS));
    let key_dir = s._keys.path().to_path_buf();
    let d = key_dir.display().to_string();
    let fresh = || {
        resolvers(
            &tools,
            s.server.addr,
            &s.anchors,
            &ResolverOptions::default(),
        )
    };
    judge(&tools, "before", &s.server, &s.anchors, &fresh(), true);

    let new_zsk = reported_tag(&switchyard_dnssec(&[
        "keygen",
        ZONE,
        "--role",
        "zsk",
        "--published-only",
        "--key-dir",
        &d,
    ]));
    s.server
        .reload()
        .expect("reload with the new ZSK published");
    assert_eq!(
        signing_tags(&s.server, "www.example.test."),
        vec![old_zsk.clone()]
    );
    assert_eq!(dnskey_signing_tags(&s.server), vec![ksk.clone()]);
    // Resolvers that take the DNSKEY RRset (with both ZSKs) into their
    // cache now: what waiting out its TTL guarantees of every resolver.
    let cached = fresh();
    judge(
        &tools,
        "new ZSK published",
        &s.server,
        &s.anchors,
        &cached,
        true,
    );
    judge(
        &tools,
        "new ZSK published",
        &s.server,
        &s.anchors,
        &fresh(),
        true,
    );

    set_key_state(&key_dir, &new_zsk, true, true);
    set_key_state(&key_dir, &old_zsk, true, false);
    s.server.reload().expect("reload with the new ZSK active");
    assert_eq!(
        signing_tags(&s.server, "www.example.test."),
        vec![new_zsk.clone()]
    );
    assert_eq!(
        signing_tags(&s.server, "fo.example.test."),
        vec![new_zsk.clone()]
    );
    judge(
        &tools,
        "new ZSK active",
        &s.server,
        &s.anchors,
        &cached,
        true,
    );
    judge(
        &tools,
        "new ZSK active",
        &s.server,
        &s.anchors,
        &fresh(),
        true,
    );

    set_key_state(&key_dir, &old_zsk, false, false);
    s.server
        .reload()
        .expect("reload with the old ZSK withdrawn");
    assert_eq!(
        signing_tags(&s.server, "www.example.test."),
        vec![new_zsk.clone()]
    );
    judge(
        &tools,
        "old ZSK withdrawn",
        &s.server,
        &s.anchors,
        &cached,
        true,
    );
    judge(
        &tools,
        "old ZSK withdrawn",
        &s.server,
        &s.anchors,
        &fresh(),
        true,
    );
    // Withdrawing the last active ZSK is refused; the server keeps serving
    // the last good keys, which still validate.
    set_key_state(&key_dir, &new_zsk, true, false);
    let err = s
        .server
        .reload()
        .expect_err("a zone left without an active ZSK");
    assert!(
        err.contains("no active key that can sign its data"),
        "{err}"
    );
    judge(
        &tools,
        "refused reload",
        &s.server,
        &s.anchors,
        &fresh(),
        true,
    );
}

/// A KSK rollover by double DS: the new KSK pre-published (CDS/CDNSKEY
/// list both; either DS validates), the parent given both DS (recorded in
/// `parent_ds`), the new KSK made active, the old one withdrawn (the old
/// DS alone is now bogus, both or the new validate), the old DS removed.
/// A reload that would retire the old KSK while `parent_ds` holds only its
/// DS is refused, and the server keeps serving a chain that validates.
#[test]
fn ksk_rollover_double_ds_keeps_the_chain() {
    let Some(tools) = tools("ksk_rollover_double_ds_keeps_the_chain") else {
        return;
    };
    let (keys, old_ksk, zsk) = split_keys("ecdsap256sha256");
    let s = signed_with(keys, &zone_text(PLACEHOLDER_DS));
    let key_dir = s._keys.path().to_path_buf();
    let d = key_dir.display().to_string();
    let old_ds = s.anchors.clone();
    let base = std::fs::read_to_string(&s.server.config_path).unwrap();
    let parent_ds = |anchors: &[&[Anchor]]| {
        let list: Vec<String> = anchors
            .iter()
            .flat_map(|a| a.iter())
            .map(|a| format!("{:?}", a.presentation()))
            .collect();
        // Into the zone's table, whatever the test harness appends after it.
        let table = format!("[dnssec.zones.\"{ZONE}\"]\n");
        assert!(base.contains(&table));
        let text = base.replacen(
            &table,
            &format!("{table}parent_ds = [{}]\n", list.join(", ")),
            1,
        );
        std::fs::write(&s.server.config_path, text).unwrap();
    };
    let fresh =
        |anchors: &[Anchor]| resolvers(&tools, s.server.addr, anchors, &ResolverOptions::default());
    parent_ds(&[&old_ds]);
    s.server
        .reload()
        .expect("reload with parent_ds naming the KSK");

    let new_ksk = reported_tag(&switchyard_dnssec(&[
        "keygen",
        ZONE,
        "--role",
        "ksk",
        "--published-only",
        "--key-dir",
        &d,
    ]));
    s.server
        .reload()
        .expect("reload with the new KSK published");
    let all = Anchor::all_in(&switchyard_dnssec(&["ds", ZONE, "--key-dir", &d]));
    let new_ds: Vec<Anchor> = all
        .iter()
        .filter(|a| a.rdata[0] == new_ksk)
        .cloned()
        .collect();
    assert_eq!((all.len(), new_ds.len()), (2, 1), "{all:?}");
    assert_eq!(
        cds_tags(&s.server),
        sorted(vec![old_ksk.clone(), new_ksk.clone()])
    );
    assert_eq!(
        dnskey_signing_tags(&s.server),
        sorted(vec![old_ksk.clone(), new_ksk.clone()])
    );
    assert_eq!(
        signing_tags(&s.server, "www.example.test."),
        vec![zsk.clone()]
    );
    for anchors in [&old_ds, &new_ds, &all] {
        judge(
            &tools,
            "new KSK published",
            &s.server,
            anchors,
            &fresh(anchors),
            true,
        );
    }

    // The parent now holds both DS; the new KSK takes over.
    parent_ds(&[&old_ds, &new_ds]);
    set_key_state(&key_dir, &new_ksk, true, true);
    set_key_state(&key_dir, &old_ksk, true, false);
    s.server.reload().expect("reload with the new KSK active");
    for anchors in [&old_ds, &new_ds, &all] {
        judge(
            &tools,
            "new KSK active",
            &s.server,
            anchors,
            &fresh(anchors),
            true,
        );
    }

    // Withdrawing the old KSK while parent_ds says the parent still holds
    // only its DS: refused, and the old chain keeps validating.
    parent_ds(&[&old_ds]);
    set_key_state(&key_dir, &old_ksk, false, false);
    let err = s.server.reload().expect_err("DS pointing nowhere");
    assert!(
        err.contains("parent_ds") && err.contains("chain of trust would break"),
        "{err}"
    );
    judge(
        &tools,
        "refused withdrawal",
        &s.server,
        &old_ds,
        &fresh(&old_ds),
        true,
    );

    // With both DS at the parent the withdrawal goes through.
    parent_ds(&[&old_ds, &new_ds]);
    s.server
        .reload()
        .expect("reload with the old KSK withdrawn");
    assert_eq!(cds_tags(&s.server), vec![new_ksk.clone()]);
    assert_eq!(dnskey_signing_tags(&s.server), vec![new_ksk.clone()]);
    // Both DS as anchors, the withdrawn key's first: Knot Resolver 5.6
    // answers SERVFAIL when the *last* DS trust anchor configured names a
    // key no longer in the DNSKEY RRset (seen in 3 of 6 runs with the DS
    // in tag order, never with this order; Unbound and delv validate
    // either way). A quirk of its configured anchors, not of the chain.
    let old_first: Vec<Anchor> = old_ds.iter().chain(new_ds.iter()).cloned().collect();
    let unbound_only: Vec<Resolver> = fresh(&all)
        .into_iter()
        .filter(|r| r.name == "unbound")
        .collect();
    judge(
        &tools,
        "old KSK withdrawn",
        &s.server,
        &all,
        &unbound_only,
        true,
    );
    judge(
        &tools,
        "old KSK withdrawn",
        &s.server,
        &old_first,
        &fresh(&old_first),
        true,
    );
    judge(
        &tools,
        "old KSK withdrawn",
        &s.server,
        &new_ds,
        &fresh(&new_ds),
        true,
    );
    judge(
        &tools,
        "old KSK withdrawn",
        &s.server,
        &old_ds,
        &fresh(&old_ds),
        false,
    );

    // The parent drops the old DS.
    parent_ds(&[&new_ds]);
    s.server
        .reload()
        .expect("reload with parent_ds naming the new KSK");
    judge(
        &tools,
        "old DS removed",
        &s.server,
        &new_ds,
        &fresh(&new_ds),
        true,
    );
}

/// From a CSK to a KSK/ZSK split and back, with the parent's DS unchanged
/// throughout (the CSK becomes the KSK: same flags, same tag): every step
/// validates, in fresh resolvers and in resolvers that cached the DNSKEY
/// RRset once the ZSK was pre-published.
#[test]
fn csk_to_split_and_back_validates() {
    let Some(tools) = tools("csk_to_split_and_back_validates") else {
        return;
    };
    let s = signed("ecdsap256sha256", &zone_text(PLACEHOLDER_DS));
    let key_dir = s._keys.path().to_path_buf();
    let d = key_dir.display().to_string();
    let csk = s.anchors[0].rdata[0].clone();
    let fresh = || {
        resolvers(
            &tools,
            s.server.addr,
            &s.anchors,
            &ResolverOptions::default(),
        )
    };
    let zsk = reported_tag(&switchyard_dnssec(&[
        "keygen",
        ZONE,
        "--role",
        "zsk",
        "--published-only",
        "--key-dir",
        &d,
    ]));
    s.server.reload().expect("reload with the ZSK published");
    assert_eq!(
        signing_tags(&s.server, "www.example.test."),
        vec![csk.clone()]
    );
    let cached = fresh();
    judge(
        &tools,
        "ZSK published",
        &s.server,
        &s.anchors,
        &cached,
        true,
    );

    set_key_role(&key_dir, &csk, "ksk");
    set_key_state(&key_dir, &zsk, true, true);
    s.server.reload().expect("reload split");
    assert_eq!(
        signing_tags(&s.server, "www.example.test."),
        vec![zsk.clone()]
    );
    assert_eq!(dnskey_signing_tags(&s.server), vec![csk.clone()]);
    let ds_now = Anchor::all_in(&switchyard_dnssec(&["ds", ZONE, "--key-dir", &d]));
    let text = |a: &[Anchor]| a.iter().map(|a| a.presentation()).collect::<Vec<_>>();
    assert_eq!(text(&ds_now), text(&s.anchors), "the DS does not change");
    judge(&tools, "split", &s.server, &s.anchors, &cached, true);
    judge(&tools, "split", &s.server, &s.anchors, &fresh(), true);

    set_key_role(&key_dir, &csk, "csk");
    set_key_state(&key_dir, &zsk, true, false);
    s.server.reload().expect("reload back to the CSK");
    assert_eq!(
        signing_tags(&s.server, "www.example.test."),
        vec![csk.clone()]
    );
    judge(
        &tools,
        "back to the CSK",
        &s.server,
        &s.anchors,
        &cached,
        true,
    );
    judge(
        &tools,
        "back to the CSK",
        &s.server,
        &s.anchors,
        &fresh(),
        true,
    );

    set_key_state(&key_dir, &zsk, false, false);
    s.server.reload().expect("reload with the ZSK withdrawn");
    judge(
        &tools,
        "ZSK withdrawn",
        &s.server,
        &s.anchors,
        &cached,
        true,
    );
    judge(
        &tools,
        "ZSK withdrawn",
        &s.server,
        &s.anchors,
        &fresh(),
        true,
    );
}

/// Every name that exists in the signed zone: the zone file's owners and
/// the empty non-terminals above them, and the managed names.
fn existing_names() -> Vec<Name> {
    let origin = Name::from_str(ZONE).unwrap();
    let mut names = vec![origin.clone()];
    for line in zone_text(PLACEHOLDER_DS).lines() {
        let Some(first) = line.split_whitespace().next() else {
            continue;
        };
        if first.starts_with(['$', '@', ';']) {
            continue;
        }
        let mut name = Name::from_str(first)
            .unwrap()
            .append_domain(&origin)
            .unwrap();
        while name.num_labels() > origin.num_labels() {
            names.push(name.to_lowercase());
            name = name.base_name();
        }
    }
    for managed in ["alias", "fo", "w", "mv", "geo"] {
        names.push(Name::from_str(&format!("{managed}.{ZONE}")).unwrap());
    }
    names
}

/// The wildcard answers as Switchyard sends them (raw replies to DO
/// queries, decoded): the RRSIG's Labels field is the wildcard's label
/// count (RFC 4035 §3.1.3.3: `*.wild.example.test.` counts 3), the RRSIG
/// is the one made at load for every name, and the authority section
/// holds a signed NSEC covering the next closer name that covers no name
/// that exists (the wildcard, its encloser, the real sibling included).
/// Then validators: Unbound with aggressive NSEC caching (RFC 8198) and
/// Knot Resolver (which caches aggressively by default) validate the
/// wildcard answers (AD), and afterwards a real sibling next to the name
/// the NSEC covers, and other names of the zone, still resolve (a wider
/// NSEC would have them denied from the cache).
#[test]
fn wildcard_proofs_cover_only_the_next_closer_name() {
    let Some(tools) = tools("wildcard_proofs_cover_only_the_next_closer_name") else {
        return;
    };
    let s = signed("ecdsap256sha256", &zone_text(PLACEHOLDER_DS));
    let existing = existing_names();
    assert!(existing.contains(&Name::from_str("real.wild.example.test.").unwrap()));
    assert!(existing.contains(&Name::from_str("ent.example.test.").unwrap()));
    let mut signatures = BTreeSet::new();
    for (asked, qtype, labels, next_closer) in [
        (
            "host.wild.example.test.",
            RecordType::A,
            3,
            "host.wild.example.test.",
        ),
        (
            "A.b.wild.example.test.",
            RecordType::A,
            3,
            "b.wild.example.test.",
        ),
        (
            "rea.wild.example.test.",
            RecordType::A,
            3,
            "rea.wild.example.test.",
        ),
        (
            "reala.wild.example.test.",
            RecordType::A,
            3,
            "reala.wild.example.test.",
        ),
        ("x.cw.example.test.", RecordType::A, 3, "x.cw.example.test."),
        (
            "host.wild.example.test.",
            RecordType::MX,
            0,
            "host.wild.example.test.",
        ),
    ] {
        let reply = ask(s.server.addr, asked, qtype).expect("reply");
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        let sigs: Vec<_> = reply
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::RRSIG(sig))
                    if r.name == Name::from_str(asked).unwrap() =>
                {
                    Some(sig)
                }
                _ => None,
            })
            .collect();
        if labels > 0 {
            assert!(!sigs.is_empty(), "{asked}: unsigned: {}", describe(&reply));
            for sig in &sigs {
                assert_eq!(
                    sig.input().num_labels,
                    labels,
                    "{asked}: {}",
                    describe(&reply)
                );
                if sig.input().type_covered == RecordType::A
                    && asked.ends_with(".wild.example.test.")
                {
                    signatures.insert(sig.sig().to_vec());
                }
            }
        }
        let next_closer = Name::from_str(next_closer).unwrap();
        let asked_name = Name::from_str(asked).unwrap();
        let covering: Vec<(Name, Name)> = reply
            .authorities
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::NSEC(nsec)) => {
                    Some((r.name.clone(), nsec.next_domain_name().clone()))
                }
                _ => None,
            })
            .filter(|(owner, next)| *owner < next_closer && next_closer < *next)
            .collect();
        assert_eq!(covering.len(), 1, "{asked} {qtype}: {}", describe(&reply));
        let (owner, next) = &covering[0];
        assert!(*owner < asked_name && asked_name < *next);
        for name in &existing {
            assert!(
                !(owner <= name && name < next),
                "{asked}: NSEC {owner} -> {next} covers {name}"
            );
        }
        // Signed: an RRSIG over it in the authority section.
        assert!(reply.authorities.iter().any(|r| r.name == *owner
            && matches!(&r.data, RData::DNSSEC(DNSSECRData::RRSIG(sig)) if sig.input().type_covered == RecordType::NSEC)));
    }
    // One signature for every name the wildcard answers.
    assert_eq!(signatures.len(), 1, "{signatures:?}");

    let upstreams = [Upstream::new(ZONE, s.server.addr)];
    let aggressive = ResolverOptions {
        unbound_aggressive_nsec: true,
        ..ResolverOptions::default()
    };
    for resolver in resolvers_for(&tools, &upstreams, &s.anchors, &aggressive) {
        let steps: &[(&str, RecordType, Expect)] = &[
            (
                "rea.wild.example.test.",
                RecordType::A,
                Expect::Data(&["192.0.2.7"]),
            ),
            (
                "reak.wild.example.test.",
                RecordType::A,
                Expect::Data(&["192.0.2.7"]),
            ),
            ("host.wild.example.test.", RecordType::MX, Expect::NoData),
            (
                "x.rea.wild.example.test.",
                RecordType::A,
                Expect::Data(&["192.0.2.7"]),
            ),
            (
                "real.wild.example.test.",
                RecordType::A,
                Expect::Data(&["192.0.2.8"]),
            ),
            ("wild.example.test.", RecordType::A, Expect::NoData),
            (
                "www.example.test.",
                RecordType::A,
                Expect::Data(&["192.0.2.1"]),
            ),
            ("x.real.wild.example.test.", RecordType::A, Expect::NxDomain),
            (
                "real.wild.example.test.",
                RecordType::A,
                Expect::Data(&["192.0.2.8"]),
            ),
        ];
        for &(name, qtype, expect) in steps {
            let reply = resolver.ask(name, qtype);
            if let Err(e) = check_case(resolver.name, &reply, name, qtype, expect) {
                panic!("{e}\n{}", resolver.log());
            }
        }
        // `\000.wild` sorts right after `wild`: no NSEC owner fits between
        // them, so that name is signed as if it existed (RFC 9824 §3.3)
        // and validates too. (hickory parses no `\000` from text.)
        let zero = Name::from_str("wild.example.test.")
            .unwrap()
            .prepend_label(Label::from_raw_bytes(&[0]).unwrap())
            .unwrap();
        let mut query = validating_query("wild.example.test.", RecordType::A);
        query.queries[0].set_name(zero.clone());
        let reply = udp_exchange(
            resolver.addr,
            &query.to_vec().unwrap(),
            Duration::from_secs(5),
        )
        .and_then(|bytes| Message::from_vec(&bytes).ok())
        .expect("reply");
        if let Err(e) = check_case(
            resolver.name,
            &reply,
            &zero.to_ascii(),
            RecordType::A,
            Expect::Data(&["192.0.2.7"]),
        ) {
            panic!("{e}\n{}", resolver.log());
        }
    }
}
