//! The validator harness (tests/common/validators.rs) proved against a
//! known-good signer before it judges Switchyard: a zone signed by
//! `ldns-signzone` and served by NSD must validate through Unbound, Knot
//! Resolver and delv for every kind of answer (positive, wildcard, NXDOMAIN,
//! NODATA, DS present and DS absent at a delegation), and must fail
//! validation when a signature is corrupted in flight, when every signature
//! has expired, and (Unbound's validation clock moved) before inception or
//! after expiration. Zonemaster's DNSSEC module must pass the good zone and
//! report errors on the expired one.
//!
//! Skips (with a message) when a tool is missing, unless
//! `SWITCHYARD_REQUIRE_VALIDATORS=1`.

#[path = "common/validators.rs"]
mod validators;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use validators::*;

const ZONE: &str = "example.test.";

/// The reference zone: an apex, plain names, a wildcard, an unsigned
/// delegation and a signed one (with a DS). Addresses are documentation
/// data; no resolver is ever asked below a delegation.
const ZONE_TEXT: &str = "$ORIGIN example.test.
$TTL 300
@ SOA ns1 hostmaster 1 3600 900 604800 60
@ NS ns1
ns1 A 192.0.2.53
www A 192.0.2.1
www AAAA 2001:db8::1
*.wild A 192.0.2.7
insecure NS ns.insecure
ns.insecure A 192.0.2.54
secure NS ns.secure
secure DS 12345 13 2 2bb183af5f22588179a53b0a98631fad1a292118a4d8f1e2b9a4b8c3d5e6f708
ns.secure A 192.0.2.55
";

/// `(name, type, expected rcode, expects answer records)`: every kind of
/// answer a signed zone gives.
const CASES: &[(&str, RecordType, ResponseCode, bool)] = &[
    (
        "example.test.",
        RecordType::DNSKEY,
        ResponseCode::NoError,
        true,
    ),
    (
        "example.test.",
        RecordType::SOA,
        ResponseCode::NoError,
        true,
    ),
    (
        "www.example.test.",
        RecordType::A,
        ResponseCode::NoError,
        true,
    ),
    (
        "www.example.test.",
        RecordType::AAAA,
        ResponseCode::NoError,
        true,
    ),
    // Wildcard expansion.
    (
        "host.wild.example.test.",
        RecordType::A,
        ResponseCode::NoError,
        true,
    ),
    // NODATA.
    (
        "www.example.test.",
        RecordType::TXT,
        ResponseCode::NoError,
        false,
    ),
    // NXDOMAIN.
    (
        "nope.example.test.",
        RecordType::A,
        ResponseCode::NXDomain,
        false,
    ),
    // A delegation with DS, and one proved to have none.
    (
        "secure.example.test.",
        RecordType::DS,
        ResponseCode::NoError,
        true,
    ),
    (
        "insecure.example.test.",
        RecordType::DS,
        ResponseCode::NoError,
        false,
    ),
];

struct Tools {
    nsd: std::path::PathBuf,
    unbound: std::path::PathBuf,
    kresd: std::path::PathBuf,
    delv: std::path::PathBuf,
}

fn tools(test: &str) -> Option<Tools> {
    let found = tools_or_skip(
        test,
        &[
            "nsd",
            "unbound",
            "kresd",
            "delv",
            "ldns-keygen",
            "ldns-signzone",
        ],
    )?;
    Some(Tools {
        nsd: found[0].clone(),
        unbound: found[1].clone(),
        kresd: found[2].clone(),
        delv: found[3].clone(),
    })
}

fn resolvers(tools: &Tools, upstream: std::net::SocketAddr, anchors: &[Anchor]) -> Vec<Resolver> {
    let upstreams = [Upstream::new(ZONE, upstream)];
    let options = ResolverOptions::default();
    vec![
        Resolver::unbound(&tools.unbound, &upstreams, anchors, &options),
        Resolver::kresd(&tools.kresd, &upstreams, anchors, &options),
    ]
}

#[test]
fn reference_zone_validates_everywhere() {
    let Some(tools) = tools("reference_zone_validates_everywhere") else {
        return;
    };
    let signer = LdnsSigner::new(ZONE, "ECDSAP256SHA256");
    let nsd = Nsd::start(&tools.nsd, ZONE, &signer.sign(ZONE_TEXT, None));
    // One resolver set trusts the DS, the other the DNSKEY itself.
    for anchors in [vec![signer.ds()], vec![signer.dnskey()]] {
        for resolver in resolvers(&tools, nsd.addr, &anchors) {
            for &(name, qtype, rcode, has_answer) in CASES {
                let reply = resolver.ask(name, qtype);
                assert!(
                    validated(&reply)
                        && reply.metadata.response_code == rcode
                        && reply.answers.is_empty() != has_answer,
                    "{} ({}): {name} {qtype}: expected {rcode} with AD, got {}\n{}",
                    resolver.name,
                    anchors[0].rtype,
                    describe(&reply),
                    resolver.log()
                );
            }
        }
    }
    for anchor in [signer.ds(), signer.dnskey()] {
        let delv = Delv::new(&tools.delv, nsd.addr, &[anchor]);
        for &(name, qtype, _, _) in CASES {
            let result = delv.query(name, &qtype.to_string());
            assert!(
                result.fully_validated(),
                "delv: {name} {qtype} not fully validated:\n{}",
                result.output
            );
        }
    }
}

#[test]
fn corrupted_signature_is_bogus() {
    let Some(tools) = tools("corrupted_signature_is_bogus") else {
        return;
    };
    let signer = LdnsSigner::new(ZONE, "ECDSAP256SHA256");
    let nsd = Nsd::start(&tools.nsd, ZONE, &signer.sign(ZONE_TEXT, None));
    let proxy = CorruptingProxy::start(nsd.addr, "www.example.test.");
    let anchors = [signer.ds()];
    for resolver in resolvers(&tools, proxy.addr, &anchors) {
        let reply = resolver.ask("www.example.test.", RecordType::A);
        assert!(
            bogus(&reply),
            "{}: corrupted www A should be SERVFAIL, got {}",
            resolver.name,
            describe(&reply)
        );
        // Everything else still validates through the same proxy.
        let reply = resolver.ask("host.wild.example.test.", RecordType::A);
        assert!(
            validated(&reply),
            "{}: wildcard through the proxy: {}",
            resolver.name,
            describe(&reply)
        );
    }
    let delv = Delv::new(&tools.delv, proxy.addr, &anchors);
    let result = delv.query("www.example.test.", "A");
    assert!(
        !result.fully_validated(),
        "delv accepted a corrupted signature:\n{}",
        result.output
    );
    let result = delv.query("example.test.", "SOA");
    assert!(result.fully_validated(), "delv: {}", result.output);
    assert!(proxy.corrupted.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

#[test]
fn expired_signatures_are_bogus() {
    let Some(tools) = tools("expired_signatures_are_bogus") else {
        return;
    };
    let signer = LdnsSigner::new(ZONE, "ECDSAP256SHA256");
    let signed = signer.sign(ZONE_TEXT, Some(("20200101000000", "20200201000000")));
    let nsd = Nsd::start(&tools.nsd, ZONE, &signed);
    let anchors = [signer.ds()];
    for resolver in resolvers(&tools, nsd.addr, &anchors) {
        for name in ["www.example.test.", "nope.example.test."] {
            let reply = resolver.ask(name, RecordType::A);
            assert!(
                bogus(&reply),
                "{}: expired {name} should be SERVFAIL, got {}",
                resolver.name,
                describe(&reply)
            );
        }
    }
    let delv = Delv::new(&tools.delv, nsd.addr, &anchors);
    let result = delv.query("www.example.test.", "A");
    assert!(
        !result.fully_validated(),
        "delv accepted expired signatures:\n{}",
        result.output
    );
}

/// Unbound's `val-override-date` (which the Switchyard tests use to see
/// its signatures expire) judges validity windows as the tests expect.
#[test]
fn unbound_validation_clock_sees_the_window() {
    let Some(tools) = tools("unbound_validation_clock_sees_the_window") else {
        return;
    };
    let signer = LdnsSigner::new(ZONE, "ED25519");
    let signed = signer.sign(ZONE_TEXT, Some(("20250101000000", "20450101000000")));
    let nsd = Nsd::start(&tools.nsd, ZONE, &signed);
    let upstreams = [Upstream::new(ZONE, nsd.addr)];
    for (date, valid) in [
        ("20300101000000", true),
        ("20460101000000", false),
        ("20240101000000", false),
    ] {
        let options = ResolverOptions {
            unbound_validation_date: Some(date.to_string()),
            ..ResolverOptions::default()
        };
        let unbound = Resolver::unbound(&tools.unbound, &upstreams, &[signer.ds()], &options);
        let reply = unbound.ask("www.example.test.", RecordType::A);
        assert_eq!(
            validated(&reply),
            valid,
            "at {date}: {}\n{}",
            describe(&reply),
            unbound.log()
        );
        assert_eq!(bogus(&reply), !valid, "at {date}: {}", describe(&reply));
    }
}

#[test]
fn zonemaster_passes_good_and_fails_expired() {
    let Some(found) = tools_or_skip(
        "zonemaster_passes_good_and_fails_expired",
        &[
            "nsd",
            "zonemaster-cli",
            "unshare",
            "ip",
            "dig",
            "ldns-signzone",
        ],
    ) else {
        return;
    };
    let signer = LdnsSigner::new(ZONE, "ECDSAP256SHA256");
    let good = signer.sign(ZONE_TEXT, None);
    let expired = signer.sign(ZONE_TEXT, Some(("20200101000000", "20200201000000")));
    for (text, expect_errors) in [(good, false), (expired, true)] {
        let dir = tempfile::tempdir().unwrap();
        // Port 53 inside the test's own network namespace.
        let conf = write_nsd_conf(dir.path(), ZONE, &text, 53);
        let server = format!("{} -d -c {}", found[0].display(), conf.display());
        let Some(report) = zonemaster(&server, ZONE, "ns1.example.test", &[signer.ds()]) else {
            if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
                panic!("no network namespace for Zonemaster");
            }
            return;
        };
        assert!(
            report.testcases.iter().any(|t| t.starts_with("DNSSEC")),
            "Zonemaster ran no DNSSEC test case:\n{}",
            report.output
        );
        assert_eq!(
            !report.errors.is_empty(),
            expect_errors,
            "Zonemaster errors {:?}:\n{}",
            report.errors,
            report.output
        );
    }
}
