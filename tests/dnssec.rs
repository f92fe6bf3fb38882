//! DNSSEC signing, end to end on the answer path: real zone files, real
//! key files, `Inputs::load` and `Snapshot::build` as `serve` runs them,
//! and every RRSIG checked with hickory-proto's verifier (ring) against
//! the zone's DNSKEY RRset. Also key roles (which key signs which RRset
//! with a KSK/ZSK split, a CSK turned into a KSK and back) and each of the
//! chain-of-trust refusals `check` and reloads make.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::UNIX_EPOCH;

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG};
use hickory_proto::dnssec::{Algorithm, Verifier};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use switchyard::answer::{QueryMeta, Transport, respond};
use switchyard::config::KeyAlgorithm;
use switchyard::dnssec::keys;
use switchyard::snapshot::{Inputs, Snapshot};
use switchyard::traffic::HealthInputs;

/// The repo's example zone plus a signed delegation (with DS) and an
/// unsigned one (the repo's `sub`).
fn zone_text(extra: &str) -> String {
    let repo = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("zones/example.com.zone"),
    )
    .unwrap();
    format!("{repo}\nsecure IN NS ns1.secure.example.com.\nns1.secure IN A 192.0.2.160\n{extra}")
}

const SECURE_DS: &str =
    "secure IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n";

/// A temp dir with the repo's config (paths rewritten), the zone and
/// `[dnssec]` signing example.com. with a fresh key of `algorithm`.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn setup(algorithm: KeyAlgorithm, dnssec: bool, zone_extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    std::fs::write(
        dir.path().join("zones/example.com.zone"),
        zone_text(zone_extra),
    )
    .unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        repo.join("config/tokens.example"),
        dir.path().join("tokens.example"),
    )
    .unwrap();
    let mut text = std::fs::read_to_string(repo.join("config/switchyard.toml"))
        .unwrap()
        .replace("\"../zones\"", "\"zones\"")
        .replace("\"../state\"", "\"state\"");
    if dnssec {
        text.push_str(&format!(
            "\n[dnssec]\nkey_dir = \"keys\"\n[dnssec.zones.\"example.com.\"]\nenabled = true\nalgorithm = \"{}\"\n",
            algorithm.name()
        ));
        keys::generate(
            &dir.path().join("keys"),
            &Name::from_str("example.com.").unwrap(),
            algorithm,
            false,
        )
        .unwrap();
    }
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, text).unwrap();
    Setup { dir, config }
}

fn snapshot(setup: &Setup, health: &HealthInputs) -> Snapshot {
    let inputs = Inputs::load(&setup.config).unwrap_or_else(|e| panic!("{e}"));
    Snapshot::build(&inputs, health, 1, switchyard::clock::now())
}

fn query_bytes(name: &str, qtype: RecordType, dnssec_ok: bool, size: u16) -> Vec<u8> {
    let mut msg = Message::new(0x1234, MessageType::Query, OpCode::Query);
    // `\000.` first: a label hickory parses from no text.
    let name = match name.strip_prefix("\\000.") {
        Some(rest) => Name::from_ascii(rest)
            .unwrap()
            .prepend_label(hickory_proto::rr::Label::from_raw_bytes(&[0]).unwrap())
            .unwrap(),
        None => Name::from_ascii(name).unwrap(),
    };
    msg.add_query(Query::query(name, qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(size);
    edns.set_dnssec_ok(dnssec_ok);
    msg.set_edns(edns);
    msg.to_vec().unwrap()
}

fn ask(
    snapshot: &Snapshot,
    name: &str,
    qtype: RecordType,
    dnssec_ok: bool,
    transport: Transport,
) -> Message {
    let meta = QueryMeta {
        source: SocketAddr::from(([198, 51, 100, 9], 5353)),
        transport,
    };
    let mut rng = fastrand::Rng::with_seed(7);
    let bytes = respond(
        &snapshot.view(),
        &query_bytes(name, qtype, dnssec_ok, 1232),
        &meta,
        &mut rng,
    )
    .unwrap();
    Message::from_vec(&bytes).unwrap()
}

fn dnskeys(snapshot: &Snapshot) -> Vec<DNSKEY> {
    let response = ask(
        snapshot,
        "example.com.",
        RecordType::DNSKEY,
        true,
        Transport::Tcp,
    );
    response
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

fn rrsig(record: &Record) -> Option<&RRSIG> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig),
        _ => None,
    }
}

/// Verifies every RRSIG in `section` and returns the (owner, type) pairs
/// it covers; panics on a bad or expired signature.
fn verify(section: &[Record], keys: &[DNSKEY]) -> Vec<(Name, RecordType)> {
    let now = switchyard::clock::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let mut covered = Vec::new();
    for record in section {
        let Some(sig) = rrsig(record) else { continue };
        let input = sig.input();
        assert!(input.sig_inception.get() <= now && now < input.sig_expiration.get());
        let set: Vec<&Record> = section
            .iter()
            .filter(|r| r.name == record.name && r.record_type() == input.type_covered)
            .collect();
        assert!(!set.is_empty(), "RRSIG over nothing: {record}");
        let key = keys
            .iter()
            .find(|k| k.calculate_key_tag().unwrap() == input.key_tag)
            .expect("signing key in DNSKEY");
        key.verify_rrsig(&record.name, DNSClass::IN, sig, set.into_iter())
            .unwrap_or_else(|e| {
                panic!(
                    "bad signature over {} {}: {e}",
                    record.name, input.type_covered
                )
            });
        covered.push((record.name.to_lowercase(), input.type_covered));
    }
    covered
}

/// Every RRset in `section` has a verified RRSIG, except the types in `unsigned`.
fn assert_all_signed(section: &[Record], keys: &[DNSKEY], unsigned: &[RecordType]) {
    let covered = verify(section, keys);
    for record in section {
        let t = record.record_type();
        if t == RecordType::RRSIG || unsigned.contains(&t) {
            continue;
        }
        assert!(
            covered.contains(&(record.name.to_lowercase(), t)),
            "unsigned RRset {} {t}",
            record.name
        );
    }
}

fn nsec_types(section: &[Record]) -> Option<(Name, Name, Vec<RecordType>)> {
    section.iter().find_map(|r| match &r.data {
        RData::DNSSEC(DNSSECRData::NSEC(nsec)) => Some((
            r.name.clone(),
            nsec.next_domain_name().clone(),
            nsec.type_bit_maps().collect(),
        )),
        _ => None,
    })
}

#[test]
fn every_answer_kind_validates_with_ecdsa_and_ed25519() {
    for algorithm in [KeyAlgorithm::Ecdsap256sha256, KeyAlgorithm::Ed25519] {
        let setup = setup(algorithm, true, SECURE_DS);
        let snap = snapshot(&setup, &HealthInputs::new());
        let keys = dnskeys(&snap);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].flags(), 257);
        assert_eq!(u8::from(keys[0].algorithm()), algorithm.number());
        let dnskey = ask(
            &snap,
            "example.com.",
            RecordType::DNSKEY,
            true,
            Transport::Tcp,
        );
        assert_all_signed(&dnskey.answers, &keys, &[]);
        for (name, qtype) in [
            ("www.example.com.", RecordType::A),
            ("WwW.ExAmple.com.", RecordType::AAAA),
            ("example.com.", RecordType::MX),
            ("example.com.", RecordType::CDS),
            ("example.com.", RecordType::CDNSKEY),
            ("alias.example.com.", RecordType::A),
            ("app.example.com.", RecordType::A),
            ("api.example.com.", RecordType::AAAA),
            ("geo.example.com.", RecordType::A),
            ("near.example.com.", RecordType::AAAA),
            ("pool.example.com.", RecordType::A),
            ("anything.apps.example.com.", RecordType::A),
            ("static.apps.example.com.", RecordType::A),
            ("secure.example.com.", RecordType::DS),
            ("txt.example.com.", RecordType::ANY),
        ] {
            let r = ask(&snap, name, qtype, true, Transport::Tcp);
            assert_eq!(
                r.metadata.response_code,
                ResponseCode::NoError,
                "{name} {qtype}"
            );
            assert!(!r.answers.is_empty(), "{name} {qtype}");
            assert!(
                r.answers.iter().any(|a| rrsig(a).is_some()),
                "{name} {qtype} unsigned"
            );
            assert_all_signed(&r.answers, &keys, &[]);
            assert!(r.edns.as_ref().unwrap().flags().dnssec_ok, "DO copied");
        }
        // CDS names the key the DNSKEY RRset holds.
        let cds = ask(&snap, "example.com.", RecordType::CDS, true, Transport::Tcp);
        assert!(cds.answers.iter().any(|r| matches!(&r.data,
            RData::DNSSEC(DNSSECRData::CDS(c)) if c.key_tag() == keys[0].calculate_key_tag().unwrap())));
    }
}

/// The minimally covering NSEC of a wildcard answer: owner, next name.
fn covering_nsec(section: &[Record]) -> Option<(Name, Name, Vec<RecordType>)> {
    section.iter().find_map(|r| match &r.data {
        RData::DNSSEC(DNSSECRData::NSEC(nsec))
            if !nsec
                .type_bit_maps()
                .any(|t| t != RecordType::RRSIG && t != RecordType::NSEC)
                && r.name < *nsec.next_domain_name() =>
        {
            Some((
                r.name.clone(),
                nsec.next_domain_name().clone(),
                nsec.type_bit_maps().collect(),
            ))
        }
        _ => None,
    })
}

/// Every name of the zone file and the config (what exists).
fn existing_names() -> Vec<Name> {
    let text = zone_text(SECURE_DS);
    let origin = Name::from_str("example.com.").unwrap();
    let mut names: Vec<Name> = vec![origin.clone()];
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if line.starts_with(char::is_whitespace)
            || first.is_empty()
            || first.starts_with([';', '$', ')'])
        {
            continue;
        }
        if let Ok(name) = Name::from_str(first) {
            let name = if name.is_fqdn() {
                name
            } else {
                name.append_domain(&origin).unwrap()
            };
            // With the empty non-terminals above it.
            let mut n = name.clone();
            while n.num_labels() > origin.num_labels() {
                names.push(n.to_lowercase());
                n = n.base_name();
            }
        }
    }
    for managed in ["app", "api", "geo", "near", "pool"] {
        names.push(Name::from_str(&format!("{managed}.example.com.")).unwrap());
    }
    names
}

#[test]
fn wildcard_answers_carry_the_wildcards_signature_and_a_covering_nsec() {
    let setup = setup(KeyAlgorithm::Ecdsap256sha256, true, "");
    let snap = snapshot(&setup, &HealthInputs::new());
    let keys = dnskeys(&snap);
    let existing = existing_names();
    assert!(existing.contains(&Name::from_str("static.apps.example.com.").unwrap()));
    for (asked, next_closer) in [
        ("X.apps.example.com.", "x.apps.example.com."),
        ("a.b.apps.example.com.", "b.apps.example.com."),
        ("stat.apps.example.com.", "stat.apps.example.com."),
        ("staticz.apps.example.com.", "staticz.apps.example.com."),
    ] {
        for (qtype, transport) in [
            (RecordType::TXT, Transport::Tcp),
            (RecordType::A, Transport::Udp),
        ] {
            let r = ask(&snap, asked, qtype, true, transport);
            assert_eq!(r.metadata.response_code, ResponseCode::NoError);
            // The query name's case is kept on the synthesised RRset.
            assert!(
                r.answers.iter().all(|a| a.name.to_ascii() == asked),
                "{asked}"
            );
            assert_all_signed(&r.answers, &keys, &[]);
            // The wildcard's own signature: labels of `apps.example.com.`.
            let sig = r.answers.iter().find_map(rrsig).unwrap();
            assert_eq!(sig.input().num_labels, 3, "{asked} {qtype}");
            assert_eq!(sig.input().type_covered, qtype);
            // The proof: one NSEC covering the next closer name (and so
            // the name asked), signed, covering nothing that exists.
            assert_all_signed(&r.authorities, &keys, &[RecordType::NS]);
            let (owner, next, types) = covering_nsec(&r.authorities)
                .unwrap_or_else(|| panic!("{asked} {qtype}: no covering NSEC"));
            assert_eq!(types, [RecordType::RRSIG, RecordType::NSEC]);
            let next_closer = Name::from_str(next_closer).unwrap();
            let asked_name = Name::from_str(asked).unwrap();
            assert!(owner < next_closer && next_closer < next, "{owner} {next}");
            assert!(owner < asked_name && asked_name < next, "{owner} {next}");
            for name in &existing {
                assert!(
                    !(owner <= *name && *name < next),
                    "{asked}: NSEC {owner} -> {next} covers {name}"
                );
            }
        }
    }
    // The signature is the one made at load, the same for every name.
    let sig = |name: &str| {
        let r = ask(&snap, name, RecordType::A, true, Transport::Tcp);
        r.answers.iter().find_map(rrsig).unwrap().sig().to_vec()
    };
    assert_eq!(sig("one.apps.example.com."), sig("two.apps.example.com."));
    // A literal query for the wildcard owner gets the wildcard's own
    // signature, whose label count leaves the `*` out (RFC 4034 §3.1.3),
    // and no proof: nothing was synthesised.
    let r = ask(
        &snap,
        "*.apps.example.com.",
        RecordType::A,
        true,
        Transport::Tcp,
    );
    assert_all_signed(&r.answers, &keys, &[]);
    assert_eq!(
        r.answers.iter().find_map(rrsig).unwrap().input().num_labels,
        3
    );
    assert!(covering_nsec(&r.authorities).is_none());
    // `\000.apps` sorts right after `apps`: no NSEC owner fits between
    // them, so that one name is signed as if it existed (RFC 9824 §3.3).
    let r = ask(
        &snap,
        "\\000.apps.example.com.",
        RecordType::A,
        true,
        Transport::Tcp,
    );
    assert_all_signed(&r.answers, &keys, &[]);
    assert_eq!(
        r.answers.iter().find_map(rrsig).unwrap().input().num_labels,
        4
    );
    assert!(covering_nsec(&r.authorities).is_none());
    // A name beneath the wildcard that exists is answered as itself.
    let r = ask(
        &snap,
        "static.apps.example.com.",
        RecordType::A,
        true,
        Transport::Tcp,
    );
    assert_eq!(
        r.answers.iter().find_map(rrsig).unwrap().input().num_labels,
        4
    );
    assert!(covering_nsec(&r.authorities).is_none());

    // Wildcard NODATA: the wildcard's NSEC (its real types, no MX) and
    // the next closer name's proof, all signed.
    let r = ask(
        &snap,
        "zz.apps.example.com.",
        RecordType::MX,
        true,
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert_all_signed(&r.authorities, &keys, &[]);
    let wild = r
        .authorities
        .iter()
        .find_map(|x| match &x.data {
            RData::DNSSEC(DNSSECRData::NSEC(n)) if x.name.to_ascii() == "*.apps.example.com." => {
                Some(n.type_bit_maps().collect::<Vec<_>>())
            }
            _ => None,
        })
        .expect("the wildcard's NSEC");
    assert_eq!(
        wild,
        [
            RecordType::A,
            RecordType::TXT,
            RecordType::RRSIG,
            RecordType::NSEC
        ]
    );
    let (owner, next, _) = covering_nsec(&r.authorities).expect("next closer proof");
    let zz = Name::from_str("zz.apps.example.com.").unwrap();
    assert!(owner < zz && zz < next);
    // No NSEC claims the name asked exists.
    assert!(r.authorities.iter().all(|x| x.name != zz));
}

#[test]
fn nsec_and_rrsig_queries_at_existing_names_are_answered() {
    let setup = setup(KeyAlgorithm::Ecdsap256sha256, true, "");
    let snap = snapshot(&setup, &HealthInputs::new());
    let keys = dnskeys(&snap);
    // NSEC: the name's NSEC in the answer, its bitmap the real types with
    // NSEC and RRSIG (which do exist there), signed.
    let r = ask(
        &snap,
        "Www.example.com.",
        RecordType::NSEC,
        true,
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_all_signed(&r.answers, &keys, &[]);
    let (owner, next, types) = nsec_types(&r.answers).expect("an NSEC answer");
    assert_eq!(owner.to_ascii(), "Www.example.com.");
    assert_eq!(next.to_ascii(), "\\000.www.example.com.");
    assert_eq!(
        types,
        [
            RecordType::A,
            RecordType::AAAA,
            RecordType::RRSIG,
            RecordType::NSEC
        ]
    );
    assert!(nsec_types(&r.authorities).is_none(), "not a NODATA");
    // The same NSEC a NODATA at the name carries (one RRset, one view).
    let nodata = ask(
        &snap,
        "www.example.com.",
        RecordType::MX,
        true,
        Transport::Udp,
    );
    assert_eq!(nsec_types(&nodata.authorities).unwrap().2, types);
    // RRSIG: the signatures over the name's RRsets and its NSEC.
    let r = ask(
        &snap,
        "www.example.com.",
        RecordType::RRSIG,
        true,
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(nsec_types(&r.authorities).is_none(), "not a NODATA");
    let mut covered: Vec<RecordType> = r
        .answers
        .iter()
        .map(|a| rrsig(a).expect("only RRSIGs").input().type_covered)
        .collect();
    covered.sort_by_key(|t| u16::from(*t));
    assert_eq!(covered, [RecordType::A, RecordType::AAAA, RecordType::NSEC]);
    // At the apex, the server's own DNSKEY, CDS and CDNSKEY too.
    let r = ask(
        &snap,
        "example.com.",
        RecordType::RRSIG,
        true,
        Transport::Tcp,
    );
    let covered: Vec<RecordType> = r
        .answers
        .iter()
        .filter_map(|a| rrsig(a).map(|s| s.input().type_covered))
        .collect();
    for t in [
        RecordType::SOA,
        RecordType::DNSKEY,
        RecordType::CDS,
        RecordType::NSEC,
    ] {
        assert!(covered.contains(&t), "{t} missing from {covered:?}");
    }
    // Without DO: a plain NODATA, no DNSSEC records.
    let r = ask(
        &snap,
        "www.example.com.",
        RecordType::NSEC,
        false,
        Transport::Udp,
    );
    assert!(r.answers.is_empty());
    assert!(nsec_types(&r.authorities).is_none());
    // A name that does not exist: compact denial as for any type.
    let r = ask(
        &snap,
        "nope.example.com.",
        RecordType::NSEC,
        true,
        Transport::Udp,
    );
    assert!(r.answers.is_empty());
    assert!(
        nsec_types(&r.authorities)
            .unwrap()
            .2
            .contains(&RecordType::Unknown(128))
    );
}

#[test]
fn nonexistent_names_get_compact_denial_and_nodata_a_real_bitmap() {
    let setup = setup(KeyAlgorithm::Ecdsap256sha256, true, "");
    let snap = snapshot(&setup, &HealthInputs::new());
    let keys = dnskeys(&snap);

    // NXDOMAIN becomes NOERROR with NSEC(qname) = {RRSIG, NSEC, NXNAME}.
    let r = ask(
        &snap,
        "Nope.example.com.",
        RecordType::A,
        true,
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert_all_signed(&r.authorities, &keys, &[]);
    let (owner, next, types) = nsec_types(&r.authorities).unwrap();
    assert_eq!(owner, Name::from_str("nope.example.com.").unwrap());
    assert_eq!(next.to_ascii(), "\\000.nope.example.com.");
    assert_eq!(
        types,
        [
            RecordType::RRSIG,
            RecordType::NSEC,
            RecordType::Unknown(128)
        ]
    );
    // Without DO: a plain NXDOMAIN, no NSEC.
    let plain = ask(
        &snap,
        "nope.example.com.",
        RecordType::A,
        false,
        Transport::Udp,
    );
    assert_eq!(plain.metadata.response_code, ResponseCode::NXDomain);
    assert!(nsec_types(&plain.authorities).is_none());

    // NODATA: the name's real types, minus the one asked for.
    let r = ask(
        &snap,
        "www.example.com.",
        RecordType::MX,
        true,
        Transport::Udp,
    );
    assert_all_signed(&r.authorities, &keys, &[]);
    let (_, _, types) = nsec_types(&r.authorities).unwrap();
    assert_eq!(
        types,
        [
            RecordType::A,
            RecordType::AAAA,
            RecordType::RRSIG,
            RecordType::NSEC
        ]
    );
    // At the apex the server's own DNSKEY, CDS, CDNSKEY are in the bitmap.
    let r = ask(&snap, "example.com.", RecordType::SRV, true, Transport::Udp);
    let (_, _, types) = nsec_types(&r.authorities).unwrap();
    for t in [
        RecordType::SOA,
        RecordType::NS,
        RecordType::DNSKEY,
        RecordType::CDS,
        RecordType::CDNSKEY,
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    // An empty non-terminal exists, with no types.
    let r = ask(
        &snap,
        "b.deep.example.com.",
        RecordType::A,
        true,
        Transport::Udp,
    );
    assert_eq!(
        nsec_types(&r.authorities).unwrap().2,
        [RecordType::RRSIG, RecordType::NSEC]
    );
    // A managed name asked for a type it lacks.
    let r = ask(
        &snap,
        "app.example.com.",
        RecordType::MX,
        true,
        Transport::Udp,
    );
    assert_all_signed(&r.authorities, &keys, &[]);
    let types = nsec_types(&r.authorities).unwrap().2;
    assert!(types.contains(&RecordType::A) && types.contains(&RecordType::AAAA));
    // A wildcard's NODATA carries the wildcard's types.
    let r = ask(
        &snap,
        "zz.apps.example.com.",
        RecordType::MX,
        true,
        Transport::Udp,
    );
    let types = nsec_types(&r.authorities).unwrap().2;
    assert!(types.contains(&RecordType::A) && types.contains(&RecordType::TXT));
    // NXNAME is a meta-type: asking for it is a format error.
    let r = ask(
        &snap,
        "www.example.com.",
        RecordType::Unknown(128),
        true,
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
}

#[test]
fn referrals_carry_the_ds_or_an_nsec_proving_there_is_none() {
    let setup = setup(KeyAlgorithm::Ecdsap256sha256, true, SECURE_DS);
    let snap = snapshot(&setup, &HealthInputs::new());
    let keys = dnskeys(&snap);
    let r = ask(
        &snap,
        "host.secure.example.com.",
        RecordType::A,
        true,
        Transport::Tcp,
    );
    assert!(!r.metadata.authoritative);
    assert!(
        r.authorities
            .iter()
            .any(|r| r.record_type() == RecordType::DS)
    );
    // NS at a cut is the child's and never signed; the DS is.
    assert_all_signed(&r.authorities, &keys, &[RecordType::NS]);
    assert!(verify(&r.authorities, &keys).contains(&(
        Name::from_str("secure.example.com.").unwrap(),
        RecordType::DS
    )));
    let r = ask(
        &snap,
        "host.sub.example.com.",
        RecordType::A,
        true,
        Transport::Tcp,
    );
    assert_all_signed(&r.authorities, &keys, &[RecordType::NS]);
    let (owner, _, types) = nsec_types(&r.authorities).unwrap();
    assert_eq!(owner, Name::from_str("sub.example.com.").unwrap());
    assert!(types.contains(&RecordType::NS) && !types.contains(&RecordType::DS));
    // DS asked at an unsigned cut: NODATA from the parent, same proof.
    let r = ask(
        &snap,
        "sub.example.com.",
        RecordType::DS,
        true,
        Transport::Tcp,
    );
    assert!(r.answers.is_empty());
    assert_all_signed(&r.authorities, &keys, &[]);
    assert!(
        !nsec_types(&r.authorities)
            .unwrap()
            .2
            .contains(&RecordType::DS)
    );
}

#[test]
fn failover_answers_are_presigned_and_validate_at_once() {
    let setup = setup(KeyAlgorithm::Ecdsap256sha256, true, "");
    let inputs = Inputs::load(&setup.config).unwrap();
    let healthy = Snapshot::build(&inputs, &HealthInputs::new(), 1, switchyard::clock::now());
    let keys = dnskeys(&healthy);
    let before = ask(
        &healthy,
        "api.example.com.",
        RecordType::A,
        true,
        Transport::Udp,
    );
    assert!(
        before
            .answers
            .iter()
            .any(|r| r.data.to_string() == "192.0.2.1")
    );
    // us-east dies: the next publish answers from tier 2, already signed.
    let mut health = HealthInputs::new();
    health.insert(("us-east".into(), "192.0.2.1".into()), false);
    health.insert(("us-east".into(), "2001:db8:1::1".into()), false);
    let failed = Snapshot::build(&inputs, &health, 2, switchyard::clock::now());
    let key = switchyard::dnssec::signer::rrset_key(
        &Name::from_str("api.example.com.").unwrap(),
        RecordType::A,
        [
            RData::A("198.51.100.1".parse().unwrap()),
            RData::A("203.0.113.1".parse().unwrap()),
        ]
        .iter(),
    );
    assert!(
        failed.dnssec.managed.contains_key(&key),
        "tier 2 pre-signed at publish"
    );
    let after = ask(
        &failed,
        "api.example.com.",
        RecordType::A,
        true,
        Transport::Udp,
    );
    let addresses: Vec<String> = after
        .answers
        .iter()
        .filter(|r| r.record_type() == RecordType::A)
        .map(|r| r.data.to_string())
        .collect();
    assert_eq!(addresses.len(), 2, "{addresses:?}");
    assert!(!addresses.contains(&"192.0.2.1".to_string()));
    assert_all_signed(&after.answers, &keys, &[]);
}

#[test]
fn answers_without_do_are_byte_identical_to_an_unsigned_server() {
    let signed = snapshot(
        &setup(KeyAlgorithm::Ecdsap256sha256, true, ""),
        &HealthInputs::new(),
    );
    let plain = snapshot(
        &setup(KeyAlgorithm::Ecdsap256sha256, false, ""),
        &HealthInputs::new(),
    );
    let meta = QueryMeta {
        source: SocketAddr::from(([192, 0, 2, 99], 5353)),
        transport: Transport::Udp,
    };
    for name in [
        "www.example.com.",
        "nope.example.com.",
        "example.com.",
        "x.apps.example.com.",
        "host.sub.example.com.",
        "api.example.com.",
        "b.deep.example.com.",
    ] {
        for qtype in [
            RecordType::A,
            RecordType::AAAA,
            RecordType::MX,
            RecordType::SOA,
            RecordType::DS,
        ] {
            let packet = query_bytes(name, qtype, false, 1232);
            let a = respond(
                &signed.view(),
                &packet,
                &meta,
                &mut fastrand::Rng::with_seed(1),
            )
            .unwrap();
            let b = respond(
                &plain.view(),
                &packet,
                &meta,
                &mut fastrand::Rng::with_seed(1),
            )
            .unwrap();
            assert_eq!(a, b, "{name} {qtype}");
        }
    }
}

#[test]
fn do_answers_obey_the_udp_size_limit() {
    let setup = setup(KeyAlgorithm::Ecdsap256sha256, true, "");
    let snap = snapshot(&setup, &HealthInputs::new());
    let meta = QueryMeta {
        source: SocketAddr::from(([192, 0, 2, 99], 5353)),
        transport: Transport::Udp,
    };
    let packet = query_bytes("ns2.example.com.", RecordType::AAAA, true, 512);
    let small = respond(
        &snap.view(),
        &packet,
        &meta,
        &mut fastrand::Rng::with_seed(1),
    )
    .unwrap();
    assert!(small.len() <= 512);
    // The apex MX answer with its signature and a 512-byte limit: it fits
    // whole or comes back truncated, never over the limit.
    for (name, qtype) in [
        ("example.com.", RecordType::MX),
        ("example.com.", RecordType::CDNSKEY),
        ("www.example.com.", RecordType::A),
    ] {
        let packet = query_bytes(name, qtype, true, 512);
        let bytes = respond(
            &snap.view(),
            &packet,
            &meta,
            &mut fastrand::Rng::with_seed(1),
        )
        .unwrap();
        assert!(bytes.len() <= 512, "{name} {qtype}: {} bytes", bytes.len());
        let m = Message::from_vec(&bytes).unwrap();
        assert!(m.metadata.truncation || m.answers.iter().any(|r| rrsig(r).is_some()));
    }
    // Over TCP the same answers come whole.
    let r = ask(&snap, "example.com.", RecordType::MX, true, Transport::Tcp);
    assert!(!r.metadata.truncation && r.answers.iter().any(|r| rrsig(r).is_some()));
}

#[test]
fn check_refuses_a_signed_zone_without_an_active_key_or_with_a_stray_ds() {
    // Enabled, but the only key is pre-published (not active).
    let s = setup(KeyAlgorithm::Ecdsap256sha256, true, "");
    let keys_dir = s.dir.path().join("keys");
    for entry in std::fs::read_dir(&keys_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "state") {
            std::fs::write(&path, "published = true\nactive = false\n").unwrap();
        }
    }
    let err = Inputs::load(&s.config).unwrap_err().to_string();
    assert!(err.contains("no active key"), "{err}");
    assert!(err.contains("dnssec.zones"), "{err}");
    // A zone listed in [dnssec] that no zone file serves.
    let s = setup(KeyAlgorithm::Ecdsap256sha256, true, "");
    let text = std::fs::read_to_string(&s.config).unwrap()
        + "[dnssec.zones.\"example.org.\"]\nenabled = true\n";
    std::fs::write(&s.config, text).unwrap();
    let err = Inputs::load(&s.config).unwrap_err().to_string();
    assert!(err.contains("no zone file serves it"), "{err}");
    // A served child whose parent's DS names no key of the child.
    let s = setup(KeyAlgorithm::Ecdsap256sha256, true, "");
    let child = Name::from_str("secure.example.com.").unwrap();
    keys::generate(
        &s.dir.path().join("keys"),
        &child,
        KeyAlgorithm::Ed25519,
        false,
    )
    .unwrap();
    std::fs::write(
        s.dir.path().join("zones/example.com.zone"),
        zone_text(SECURE_DS),
    )
    .unwrap();
    std::fs::write(
        s.dir.path().join("zones/secure.example.com.zone"),
        "$TTL 300\n@ SOA ns1 host 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.160\n",
    )
    .unwrap();
    let text =
        std::fs::read_to_string(&s.config).unwrap() + "[dnssec.zones.\"secure.example.com.\"]\n";
    std::fs::write(&s.config, &text).unwrap();
    let err = Inputs::load(&s.config).unwrap_err().to_string();
    assert!(err.contains("matches none of its published keys"), "{err}");
    // With the right DS the same configuration loads.
    let key = &keys::load_zone(&s.dir.path().join("keys"), &child).unwrap()[0];
    let ds = key
        .ds_line()
        .unwrap()
        .replace("secure.example.com.", "secure");
    std::fs::write(
        s.dir.path().join("zones/example.com.zone"),
        zone_text(&format!("{ds}\n")),
    )
    .unwrap();
    Inputs::load(&s.config).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn cli_keygen_ds_and_status() {
    let s = setup(KeyAlgorithm::Ecdsap256sha256, false, "");
    let bin = env!("CARGO_BIN_EXE_switchyard");
    let dir = s.dir.path().join("cli-keys");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let d = dir.to_str().unwrap();
    run(&[
        "dnssec",
        "keygen",
        "example.net.",
        "--algorithm",
        "ed25519",
        "--key-dir",
        d,
    ]);
    run(&[
        "dnssec",
        "keygen",
        "example.net",
        "--published-only",
        "--key-dir",
        d,
    ]);
    let ds = run(&["dnssec", "ds", "example.net.", "--key-dir", d]);
    let lines: Vec<&str> = ds.lines().collect();
    assert_eq!(lines.len(), 2, "{ds}");
    assert!(
        lines.iter().all(|l| l.starts_with("example.net. IN DS ")),
        "{ds}"
    );
    let status = run(&["dnssec", "status", "--key-dir", d]);
    assert!(
        status.contains("published, active") && status.contains("published  "),
        "{status}"
    );
    // Unknown algorithm: a clear error, nonzero exit.
    let out = std::process::Command::new(bin)
        .args([
            "dnssec",
            "keygen",
            "example.net.",
            "--algorithm",
            "rsasha1",
            "--key-dir",
            d,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown algorithm"));
    let _ = Algorithm::ED25519;
}

#[test]
fn fast_path_replays_exactly_what_the_full_path_signs() {
    let setup = setup(KeyAlgorithm::Ecdsap256sha256, true, SECURE_DS);
    let snap = snapshot(&setup, &HealthInputs::new());
    let keys = dnskeys(&snap);
    let mut fast_answers = 0;
    for transport in [Transport::Udp, Transport::Tcp] {
        let meta = QueryMeta {
            source: SocketAddr::from(([192, 0, 2, 99], 5353)),
            transport,
        };
        for name in [
            "www.example.com.",
            "WWW.Example.COM.",
            "example.com.",
            "nope.example.com.",
            "app.example.com.",
            "api.example.com.",
            "geo.example.com.",
            "near.example.com.",
            "pool.example.com.",
            "x.apps.example.com.",
            "alias.example.com.",
            "host.sub.example.com.",
            "secure.example.com.",
            "b.deep.example.com.",
            "txt.example.com.",
        ] {
            for qtype in [
                RecordType::A,
                RecordType::AAAA,
                RecordType::MX,
                RecordType::TXT,
                RecordType::DNSKEY,
                RecordType::CDS,
                RecordType::DS,
                RecordType::NS,
                RecordType::SOA,
            ] {
                for dnssec_ok in [false, true] {
                    for size in [512, 1232] {
                        let packet = query_bytes(name, qtype, dnssec_ok, size);
                        let mut out = Vec::new();
                        assert!(
                            switchyard::answer::respond_into(
                                &snap.view(),
                                &packet,
                                &meta,
                                &mut fastrand::Rng::with_seed(3),
                                &mut out
                            )
                            .answered
                        );
                        let message = Message::from_vec(&out).unwrap();
                        if dnssec_ok {
                            verify(&message.answers, &keys);
                            verify(&message.authorities, &keys);
                        }
                        // A multivalue draw the fast path cannot serve signed
                        // falls back after using the random source, so the
                        // full path's draw differs: validated above only.
                        if name.starts_with("pool") {
                            continue;
                        }
                        let full = respond(
                            &snap.view(),
                            &packet,
                            &meta,
                            &mut fastrand::Rng::with_seed(3),
                        )
                        .unwrap();
                        assert_eq!(
                            message,
                            Message::from_vec(&full).unwrap(),
                            "{name} {qtype} DO={dnssec_ok} size={size} {transport:?}"
                        );
                        fast_answers += usize::from(out == full);
                    }
                }
            }
        }
    }
    assert!(fast_answers > 0);
}

mod common;

/// A query message with EDNS (1232) and the DO bit.
fn do_query(name: &str, qtype: RecordType) -> Message {
    Message::from_vec(&query_bytes(name, qtype, true, 1232)).unwrap()
}

#[test]
fn a_running_server_signs_over_udp_and_tcp_and_a_failover_validates_at_once() {
    let s = setup(KeyAlgorithm::Ecdsap256sha256, true, "");
    let text = std::fs::read_to_string(&s.config).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("dns_listen") {
                "dns_listen = [\"127.0.0.1:0\"]".to_string()
            } else if l.starts_with("api_listen") {
                "api_listen = \"127.0.0.1:0\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&s.config, text).unwrap();
    let server = common::TestServer::start_in(s.dir, s.config);
    let dnskey = common::tcp(server.addr, &do_query("example.com.", RecordType::DNSKEY));
    let keys: Vec<DNSKEY> = dnskey
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 1);
    assert_all_signed(&dnskey.answers, &keys, &[]);
    for (name, qtype) in [
        ("www.example.com.", RecordType::A),
        ("api.example.com.", RecordType::A),
        ("nope.example.com.", RecordType::A),
    ] {
        for reply in [
            common::udp(server.addr, &do_query(name, qtype)),
            common::tcp(server.addr, &do_query(name, qtype)),
        ] {
            assert!(reply.edns.as_ref().unwrap().flags().dnssec_ok);
            assert_all_signed(&reply.answers, &keys, &[]);
            assert_all_signed(&reply.authorities, &keys, &[]);
            assert!(
                reply
                    .answers
                    .iter()
                    .chain(&reply.authorities)
                    .any(|r| rrsig(r).is_some()),
                "{name} {qtype}: no RRSIG"
            );
        }
    }
    // us-east dies; the very next answer is tier 2's, already signed.
    server.set_health("us-east", "192.0.2.1", false);
    server.set_health("us-east", "2001:db8:1::1", false);
    let reply = common::udp(server.addr, &do_query("api.example.com.", RecordType::A));
    let addresses: Vec<String> = reply
        .answers
        .iter()
        .filter(|r| r.record_type() == RecordType::A)
        .map(|r| r.data.to_string())
        .collect();
    assert!(
        !addresses.is_empty() && !addresses.contains(&"192.0.2.1".to_string()),
        "{addresses:?}"
    );
    assert_all_signed(&reply.answers, &keys, &[]);
}

// --- Key roles (KSK/ZSK split) and the chain-of-trust checks ---

use switchyard::dnssec::keys::{KeyRole, KeyState};

/// Signs example.com. in `setup` (made with `dnssec = false`) with new keys
/// of the given roles (`true`: active, else published only), `zone_extra`
/// lines in its `[dnssec.zones]` table; returns the keys' tags in order.
fn sign_with(setup: &Setup, roles: &[(KeyRole, bool)], zone_extra: &str) -> Vec<u16> {
    let mut text = std::fs::read_to_string(&setup.config).unwrap();
    text.push_str(&format!(
        "\n[dnssec]\nkey_dir = \"keys\"\n[dnssec.zones.\"example.com.\"]\n{zone_extra}"
    ));
    std::fs::write(&setup.config, text).unwrap();
    roles
        .iter()
        .map(|&(role, active)| {
            keys::generate_with_role(
                &setup.dir.path().join("keys"),
                &Name::from_str("example.com.").unwrap(),
                KeyAlgorithm::Ecdsap256sha256,
                role,
                !active,
            )
            .unwrap()
            .tag
        })
        .collect()
}

/// The key tags of the RRSIGs in `section`, sorted and deduplicated.
fn signer_tags(section: &[Record]) -> Vec<u16> {
    let mut tags: Vec<u16> = section
        .iter()
        .filter_map(rrsig)
        .map(|s| s.input().key_tag)
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// The key of `tag` in the test's key directory.
fn key_file(setup: &Setup, tag: u16) -> keys::ZoneKey {
    keys::load_zone(
        &setup.dir.path().join("keys"),
        &Name::from_str("example.com.").unwrap(),
    )
    .unwrap()
    .into_iter()
    .find(|k| k.tag == tag)
    .unwrap()
}

fn load_error(setup: &Setup) -> String {
    match Inputs::load(&setup.config) {
        Ok(_) => panic!("loaded a configuration that breaks the chain of trust"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn split_keys_sign_key_rrsets_with_the_ksk_and_all_else_with_the_zsk() {
    let setup = setup(KeyAlgorithm::Ecdsap256sha256, false, SECURE_DS);
    let tags = sign_with(
        &setup,
        &[
            (KeyRole::Ksk, true),
            (KeyRole::Zsk, true),
            (KeyRole::Zsk, false),
        ],
        "",
    );
    let (ksk, zsk, next_zsk) = (tags[0], tags[1], tags[2]);
    let snap = snapshot(&setup, &HealthInputs::new());
    let keys = dnskeys(&snap);
    // All three published; only the KSK has the SEP flag.
    let mut flags: Vec<(u16, u16)> = keys
        .iter()
        .map(|k| (k.calculate_key_tag().unwrap(), k.flags()))
        .collect();
    flags.sort();
    let mut want = vec![(ksk, 257), (zsk, 256), (next_zsk, 256)];
    want.sort();
    assert_eq!(flags, want);
    for qtype in [RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY] {
        let r = ask(&snap, "example.com.", qtype, true, Transport::Tcp);
        assert_all_signed(&r.answers, &keys, &[]);
        assert_eq!(
            signer_tags(&r.answers),
            vec![ksk],
            "{qtype} signed by the KSK"
        );
    }
    // CDS and CDNSKEY name the KSK only: the parent must never get a ZSK's DS.
    let cds = ask(&snap, "example.com.", RecordType::CDS, true, Transport::Tcp);
    let cds_tags: Vec<u16> = cds
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::CDS(c)) => Some(c.key_tag()),
            _ => None,
        })
        .collect();
    assert_eq!(cds_tags, vec![ksk]);
    let cdnskey = ask(
        &snap,
        "example.com.",
        RecordType::CDNSKEY,
        true,
        Transport::Tcp,
    );
    assert_eq!(
        cdnskey
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::CDNSKEY)
            .count(),
        1
    );
    // Static, managed (pre-signed and multivalue, signed on first use),
    // wildcard and referral DS answers: signed by the active ZSK alone.
    for (name, qtype) in [
        ("www.example.com.", RecordType::A),
        ("example.com.", RecordType::SOA),
        ("example.com.", RecordType::MX),
        ("app.example.com.", RecordType::A),
        ("api.example.com.", RecordType::AAAA),
        ("pool.example.com.", RecordType::A),
        ("anything.apps.example.com.", RecordType::A),
        ("secure.example.com.", RecordType::DS),
    ] {
        let r = ask(&snap, name, qtype, true, Transport::Udp);
        assert!(!r.answers.is_empty(), "{name} {qtype}");
        assert_all_signed(&r.answers, &keys, &[]);
        assert_eq!(signer_tags(&r.answers), vec![zsk], "{name} {qtype}");
    }
    // Denial (compact NXDOMAIN, NODATA): NSEC and SOA signed by the ZSK.
    for (name, qtype) in [
        ("nope.example.com.", RecordType::A),
        ("www.example.com.", RecordType::TXT),
    ] {
        let r = ask(&snap, name, qtype, true, Transport::Udp);
        assert!(nsec_types(&r.authorities).is_some(), "{name} {qtype}");
        assert_all_signed(&r.authorities, &keys, &[]);
        assert_eq!(signer_tags(&r.authorities), vec![zsk], "{name} {qtype}");
    }
    let summary = Inputs::load(&setup.config)
        .unwrap()
        .dnssec
        .summary()
        .unwrap();
    assert!(
        summary.contains(&format!("{ksk} ksk")) && summary.contains(&format!("{zsk} zsk")),
        "{summary}"
    );
}

#[test]
fn a_csk_to_split_rollover_keeps_every_answer_verifiable() {
    // A CSK alone, then a ZSK pre-published, then the ZSK active and the
    // CSK turned into the KSK (same flags, same tag, same DS), and back.
    let setup = setup(KeyAlgorithm::Ecdsap256sha256, false, "");
    let csk = sign_with(&setup, &[(KeyRole::Csk, true)], "")[0];
    let zsk = keys::generate_with_role(
        &setup.dir.path().join("keys"),
        &Name::from_str("example.com.").unwrap(),
        KeyAlgorithm::Ecdsap256sha256,
        KeyRole::Zsk,
        true,
    )
    .unwrap()
    .tag;
    let set = |tag: u16, role: KeyRole, published: bool, active: bool| {
        let key = key_file(&setup, tag);
        keys::write_state(&key.base, &KeyState { published, active }, role).unwrap();
    };
    for (stage, csk_role, zsk_state, data_by, keys_by) in [
        (
            "zsk pre-published",
            KeyRole::Csk,
            (true, false),
            vec![csk],
            vec![csk],
        ),
        ("split", KeyRole::Ksk, (true, true), vec![zsk], vec![csk]),
        (
            "back to the csk",
            KeyRole::Csk,
            (true, false),
            vec![csk],
            vec![csk],
        ),
        (
            "zsk withdrawn",
            KeyRole::Csk,
            (false, false),
            vec![csk],
            vec![csk],
        ),
    ] {
        set(csk, csk_role, true, true);
        set(zsk, KeyRole::Zsk, zsk_state.0, zsk_state.1);
        let snap = snapshot(&setup, &HealthInputs::new());
        let keys = dnskeys(&snap);
        assert_eq!(keys.len(), if zsk_state.0 { 2 } else { 1 }, "{stage}");
        let r = ask(
            &snap,
            "example.com.",
            RecordType::DNSKEY,
            true,
            Transport::Tcp,
        );
        assert_all_signed(&r.answers, &keys, &[]);
        assert_eq!(signer_tags(&r.answers), keys_by, "{stage}: DNSKEY");
        for (name, qtype) in [
            ("www.example.com.", RecordType::A),
            ("app.example.com.", RecordType::A),
        ] {
            let r = ask(&snap, name, qtype, true, Transport::Udp);
            assert_all_signed(&r.answers, &keys, &[]);
            assert_eq!(signer_tags(&r.answers), data_by, "{stage}: {name}");
        }
        // The DS of the CSK/KSK never changes through it.
        assert_eq!(key_file(&setup, csk).tag, csk);
    }
}

#[test]
fn check_refuses_split_keys_without_an_active_ksk() {
    let setup = setup(KeyAlgorithm::Ecdsap256sha256, false, "");
    let tags = sign_with(&setup, &[(KeyRole::Ksk, false), (KeyRole::Zsk, true)], "");
    let err = load_error(&setup);
    assert!(
        err.contains("no active key that can sign its DNSKEY RRset")
            && err.contains("zone example.com.")
            && err.contains(&format!("+{:05} (ksk, published only)", tags[0]))
            && err.contains("switchyard.toml:")
            && err.contains("dnssec.zones.\"example.com.\""),
        "{err}"
    );
}

#[test]
fn check_refuses_split_keys_without_an_active_zsk() {
    let setup = setup(KeyAlgorithm::Ecdsap256sha256, false, "");
    let tags = sign_with(&setup, &[(KeyRole::Ksk, true), (KeyRole::Zsk, false)], "");
    let err = load_error(&setup);
    assert!(
        err.contains("no active key that can sign its data")
            && err.contains(&format!("+{:05} (zsk, published only)", tags[1])),
        "{err}"
    );
}

#[test]
fn check_refuses_an_active_key_whose_private_file_is_missing() {
    let setup = setup(KeyAlgorithm::Ecdsap256sha256, false, "");
    let tags = sign_with(&setup, &[(KeyRole::Ksk, true), (KeyRole::Zsk, true)], "");
    Inputs::load(&setup.config).unwrap_or_else(|e| panic!("{e}"));
    let zsk = key_file(&setup, tags[1]);
    std::fs::remove_file(keys::file(&zsk.base, "private")).unwrap();
    let err = load_error(&setup);
    assert!(
        err.contains(&format!("{}.private", zsk.file_name()))
            && err.contains("missing")
            && err.contains("active"),
        "{err}"
    );
}

#[test]
fn check_refuses_a_parent_ds_that_points_nowhere_and_warns_without_one() {
    let setup = setup(KeyAlgorithm::Ecdsap256sha256, false, "");
    let tags = sign_with(&setup, &[(KeyRole::Ksk, true), (KeyRole::Zsk, true)], "");
    let (old_ksk, zsk) = (key_file(&setup, tags[0]), key_file(&setup, tags[1]));
    // No parent_ds: loads, with a warning that `check` prints.
    let inputs = Inputs::load(&setup.config).unwrap_or_else(|e| panic!("{e}"));
    let warnings: Vec<String> = inputs
        .dnssec
        .warnings()
        .iter()
        .map(|w| w.to_string())
        .collect();
    assert!(
        warnings.len() == 1 && warnings[0].contains("parent_ds") && warnings[0].contains("not set"),
        "{warnings:?}"
    );
    drop(inputs);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["check", "--config"])
        .arg(&setup.config)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning:")
            && String::from_utf8_lossy(&out.stderr).contains("parent_ds"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = std::fs::read_to_string(&setup.config).unwrap();
    let with_parent_ds = |ds: &[String]| {
        let list: Vec<String> = ds.iter().map(|d| format!("{d:?}")).collect();
        std::fs::write(
            &setup.config,
            format!("{base}parent_ds = [{}]\n", list.join(", ")),
        )
        .unwrap();
    };
    let old_ds = old_ksk.ds_line().unwrap();
    with_parent_ds(std::slice::from_ref(&old_ds));
    let inputs = Inputs::load(&setup.config).unwrap_or_else(|e| panic!("{e}"));
    assert!(inputs.dnssec.warnings().is_empty());
    drop(inputs);
    // A DS the operator took from the ZSK by mistake breaks the chain.
    with_parent_ds(&[zsk.ds_line().unwrap()]);
    let err = load_error(&setup);
    assert!(
        err.contains("a zsk, which does not sign the DNSKEY RRset"),
        "{err}"
    );
    // A KSK rollover done wrong: the new KSK made, the old one retired,
    // the parent still holding only the old DS.
    let new_ksk = keys::generate_with_role(
        &setup.dir.path().join("keys"),
        &Name::from_str("example.com.").unwrap(),
        KeyAlgorithm::Ecdsap256sha256,
        KeyRole::Ksk,
        false,
    )
    .unwrap();
    keys::write_state(
        &old_ksk.base,
        &KeyState {
            published: false,
            active: false,
        },
        KeyRole::Ksk,
    )
    .unwrap();
    with_parent_ds(std::slice::from_ref(&old_ds));
    let line = base.lines().count() + 1;
    let err = load_error(&setup);
    assert!(
        err.contains(&format!(
            "switchyard.toml:{line}: dnssec.zones.\"example.com.\".parent_ds"
        )) && err.contains("chain of trust would break")
            && err.contains("retired")
            && err.contains(&old_ksk.file_name()),
        "{err}"
    );
    // Once the parent holds both (double DS), and then only the new one, it loads.
    let new_ds = new_ksk.ds_line().unwrap();
    with_parent_ds(&[old_ds, new_ds.clone()]);
    Inputs::load(&setup.config).unwrap_or_else(|e| panic!("{e}"));
    with_parent_ds(&[new_ds]);
    Inputs::load(&setup.config).unwrap_or_else(|e| panic!("{e}"));
    // A parent_ds entry that is not a DS: file, line and entry named.
    with_parent_ds(&["12345 13 2 not-hex".to_string()]);
    let err = load_error(&setup);
    assert!(
        err.contains(&format!(
            "switchyard.toml:{line}: dnssec.zones.\"example.com.\".parent_ds[0]"
        )) && err.contains("not hexadecimal"),
        "{err}"
    );
}

#[test]
fn cli_keygen_roles_ds_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // A ZSK alone: no DS to give the parent.
    let (ok, zsk_out, _) = run(&[
        "dnssec",
        "keygen",
        "example.net.",
        "--role",
        "zsk",
        "--key-dir",
        d,
    ]);
    assert!(
        ok && zsk_out.contains("(zsk, ") && !zsk_out.contains(" DS "),
        "{zsk_out}"
    );
    let (ok, _, err) = run(&["dnssec", "ds", "example.net.", "--key-dir", d]);
    assert!(!ok && err.contains("no published ksk or csk"), "{err}");
    let (ok, ksk_out, _) = run(&[
        "dnssec",
        "keygen",
        "example.net.",
        "--role",
        "KSK",
        "--key-dir",
        d,
    ]);
    assert!(
        ok && ksk_out.contains("(ksk, ") && ksk_out.contains(" IN DS "),
        "{ksk_out}"
    );
    let (ok, ds, _) = run(&["dnssec", "ds", "example.net.", "--key-dir", d]);
    assert!(ok);
    assert_eq!(ds.lines().count(), 1, "only the KSK gets a DS: {ds}");
    let ksk_tag = ksk_out.split_whitespace().nth(2).unwrap();
    assert_eq!(ds.split_whitespace().nth(3), Some(ksk_tag), "{ds}");
    let (ok, status, _) = run(&["dnssec", "status", "--key-dir", d]);
    assert!(
        ok && status.contains("  ksk  ") && status.contains("  zsk  "),
        "{status}"
    );
    let (ok, _, err) = run(&[
        "dnssec",
        "keygen",
        "example.net.",
        "--role",
        "big",
        "--key-dir",
        d,
    ]);
    assert!(!ok && err.contains("unknown key role"), "{err}");
}
