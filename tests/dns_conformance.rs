//! Black-box conformance of the authoritative core (DESIGN section 5): the
//! real server on loopback, real queries, every section of every reply checked.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// The example zone's SOA as it appears in negative answers (TTL 300).
const SOA: &str =
    "example.com. 300 SOA ns1.example.com. hostmaster.example.com. 2026112601 7200 900 1209600 300";

/// Start of every inline test zone: SOA TTL 3600, MINIMUM 60, so the
/// negative TTL is 60.
const HEAD: &str =
    "$TTL 3600\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n";

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Asserts the reply is an authoritative NOERROR whose answer is exactly
/// `answers`, with empty authority and additional sections.
fn assert_answer(reply: &Message, answers: &[&str]) {
    assert_eq!(reply.metadata.message_type, MessageType::Response);
    assert_eq!(
        reply.metadata.response_code,
        ResponseCode::NoError,
        "{reply}"
    );
    assert!(reply.metadata.authoritative, "AA must be set: {reply}");
    assert!(!reply.metadata.truncation, "{reply}");
    assert_eq!(rrs(&reply.answers), strs(answers));
    assert_eq!(rrs(&reply.authorities), Vec::<String>::new());
    assert_eq!(rrs(&reply.additionals), Vec::<String>::new());
}

/// Asserts an authoritative negative answer with `answers` and the SOA `soa`.
fn assert_negative(reply: &Message, rcode: ResponseCode, answers: &[&str], soa: &str) {
    assert_eq!(reply.metadata.response_code, rcode, "{reply}");
    assert!(reply.metadata.authoritative, "AA must be set: {reply}");
    assert_eq!(rrs(&reply.answers), strs(answers));
    assert_eq!(rrs(&reply.authorities), strs(&[soa]));
    assert_eq!(rrs(&reply.additionals), Vec::<String>::new());
}

/// A raw DNS header.
fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut out = id.to_be_bytes().to_vec();
    out.extend_from_slice(&flags.to_be_bytes());
    for count in counts {
        out.extend_from_slice(&count.to_be_bytes());
    }
    out
}

/// A raw question for `name` (dotted, absolute), type and class IN.
fn question(name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out
}

/// A zone `big.test.` whose `many` name holds `count` A records.
fn big_zone(count: usize) -> tempfile::TempDir {
    let mut text = HEAD.to_string();
    for i in 0..count {
        text.push_str(&format!("many A 10.0.{}.{}\n", i / 250, i % 250 + 1));
    }
    zones_dir(&[("big.test.", &text)])
}

fn with_rd(mut msg: Message) -> Message {
    msg.metadata.recursion_desired = true;
    msg
}

// ---- positive answers ----

#[test]
fn a_answer_is_authoritative_and_exact() {
    let server = shared_server();
    let reply = query(server.addr, "www.example.com.", RecordType::A);
    assert_eq!(reply.metadata.id, 0xbeef);
    assert_eq!(reply.metadata.op_code, OpCode::Query);
    assert!(!reply.metadata.recursion_available);
    assert_eq!(reply.queries.len(), 1);
    assert_eq!(reply.queries[0].name().to_string(), "www.example.com.");
    assert_eq!(reply.queries[0].query_type(), RecordType::A);
    assert_answer(
        &reply,
        &[
            "www.example.com. 3600 A 192.0.2.80",
            "www.example.com. 3600 A 192.0.2.81",
        ],
    );
}

#[test]
fn rd_bit_is_echoed() {
    let server = shared_server();
    let plain = query(server.addr, "www.example.com.", RecordType::A);
    assert!(!plain.metadata.recursion_desired);
    let rd = udp(
        server.addr,
        &with_rd(make_query("www.example.com.", RecordType::A, None)),
    );
    assert!(rd.metadata.recursion_desired);
    assert!(!rd.metadata.recursion_available);
    assert_eq!(rrs(&rd.answers), rrs(&plain.answers));
    let nx = udp(
        server.addr,
        &with_rd(make_query("nope.example.com.", RecordType::A, None)),
    );
    assert!(nx.metadata.recursion_desired);
    let refused = udp(
        server.addr,
        &with_rd(make_query("www.example.org.", RecordType::A, None)),
    );
    assert!(refused.metadata.recursion_desired);
}

#[test]
fn apex_ns_answer_is_authoritative() {
    let server = shared_server();
    let reply = query(server.addr, "example.com.", RecordType::NS);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    assert_eq!(
        rrs(&reply.answers),
        strs(&[
            "example.com. 3600 NS ns1.example.com.",
            "example.com. 3600 NS ns2.example.com.",
        ])
    );
    assert!(reply.authorities.is_empty());
}

#[test]
fn txt_with_multiple_strings_keeps_each_string() {
    let server = shared_server();
    let reply = query(server.addr, "txt.example.com.", RecordType::TXT);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    assert_eq!(reply.answers.len(), 1, "{reply}");
    assert!(reply.authorities.is_empty() && reply.additionals.is_empty());
    let RData::TXT(txt) = &reply.answers[0].data else {
        panic!("not TXT: {reply}");
    };
    let strings: Vec<&[u8]> = txt.txt_data.iter().map(|s| &s[..]).collect();
    assert_eq!(strings, vec![&b"hello; world"[..], &b"second string"[..]]);
    assert_eq!(reply.answers[0].ttl, 3600);
}

// ---- negative answers (RFC 2308) ----

#[test]
fn negative_ttl_is_soa_ttl_when_lower_than_minimum() {
    let zone =
        "$TTL 3600\n@ 120 SOA ns1 hostmaster 1 7200 900 1209600 600\n@ NS ns1\nns1 A 192.0.2.53\n";
    let dir = zones_dir(&[("neg.test.", zone)]);
    let server = TestServer::builder().zones(dir.path()).start();
    let soa = "neg.test. 120 SOA ns1.neg.test. hostmaster.neg.test. 1 7200 900 1209600 600";
    let nx = query(server.addr, "x.neg.test.", RecordType::A);
    assert_negative(&nx, ResponseCode::NXDomain, &[], soa);
    let nodata = query(server.addr, "ns1.neg.test.", RecordType::TXT);
    assert_negative(&nodata, ResponseCode::NoError, &[], soa);
}

// ---- CNAME ----

#[test]
fn cname_chain_in_zone_is_followed() {
    let server = shared_server();
    let reply = query(server.addr, "alias.example.com.", RecordType::A);
    assert_answer(
        &reply,
        &[
            "alias.example.com. 3600 CNAME alias2.example.com.",
            "alias2.example.com. 3600 CNAME www.example.com.",
            "www.example.com. 3600 A 192.0.2.80",
            "www.example.com. 3600 A 192.0.2.81",
        ],
    );
    // The chain is written in order, each link before what it points to.
    let types: Vec<RecordType> = reply.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(
        types,
        [
            RecordType::CNAME,
            RecordType::CNAME,
            RecordType::A,
            RecordType::A
        ]
    );
}

#[test]
fn cname_chain_ending_in_nxdomain_is_nxdomain_with_cname() {
    let zone = format!("{HEAD}dangling CNAME gone\nhop CNAME dangling\n");
    let dir = zones_dir(&[("cn.test.", &zone)]);
    let server = TestServer::builder().zones(dir.path()).start();
    let reply = query(server.addr, "hop.cn.test.", RecordType::A);
    // RFC 6604 §2.1: the rcode describes the last name in the chain.
    assert_negative(
        &reply,
        ResponseCode::NXDomain,
        &[
            "dangling.cn.test. 3600 CNAME gone.cn.test.",
            "hop.cn.test. 3600 CNAME dangling.cn.test.",
        ],
        "cn.test. 60 SOA ns1.cn.test. hostmaster.cn.test. 1 7200 900 1209600 60",
    );
}

#[test]
fn cname_loop_terminates_without_repeating_records() {
    let zone = format!("{HEAD}a CNAME b\nb CNAME a\n");
    let dir = zones_dir(&[("loop.test.", &zone)]);
    let server = TestServer::builder().zones(dir.path()).start();
    let reply = query(server.addr, "a.loop.test.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        rrs(&reply.answers),
        strs(&[
            "a.loop.test. 3600 CNAME b.loop.test.",
            "b.loop.test. 3600 CNAME a.loop.test.",
        ])
    );
}

// ---- wildcards (RFC 4592) ----

#[test]
fn empty_non_terminal_is_not_wildcard_synthesised() {
    let zone = format!("{HEAD}*.deep A 192.0.2.7\na.b.deep A 192.0.2.99\n");
    let dir = zones_dir(&[("wc.test.", &zone)]);
    let server = TestServer::builder().zones(dir.path()).start();
    let soa = "wc.test. 60 SOA ns1.wc.test. hostmaster.wc.test. 1 7200 900 1209600 60";
    let ent = query(server.addr, "b.deep.wc.test.", RecordType::A);
    assert_negative(&ent, ResponseCode::NoError, &[], soa);
    // Below the ENT there is no wildcard: NXDOMAIN.
    let below = query(server.addr, "z.b.deep.wc.test.", RecordType::A);
    assert_negative(&below, ResponseCode::NXDomain, &[], soa);
    // A sibling of the ENT is covered by *.deep.
    let sibling = query(server.addr, "c.deep.wc.test.", RecordType::A);
    assert_answer(&sibling, &["c.deep.wc.test. 3600 A 192.0.2.7"]);
}

#[test]
fn wildcard_cname_is_synthesised_and_followed() {
    let zone = format!("{HEAD}*.w CNAME www\nwww A 192.0.2.80\n");
    let dir = zones_dir(&[("wc.test.", &zone)]);
    let server = TestServer::builder().zones(dir.path()).start();
    let reply = query(server.addr, "host.w.wc.test.", RecordType::A);
    assert_answer(
        &reply,
        &[
            "host.w.wc.test. 3600 CNAME www.wc.test.",
            "www.wc.test. 3600 A 192.0.2.80",
        ],
    );
}

// ---- delegations ----

/// The referral to sub.example.com: NS in authority, glue in additional.
fn assert_sub_referral(reply: &Message) {
    assert_eq!(
        reply.metadata.response_code,
        ResponseCode::NoError,
        "{reply}"
    );
    assert!(!reply.metadata.authoritative, "referrals clear AA: {reply}");
    assert!(reply.answers.is_empty(), "{reply}");
    assert_eq!(
        rrs(&reply.authorities),
        strs(&[
            "sub.example.com. 3600 NS ns1.sub.example.com.",
            "sub.example.com. 3600 NS ns2.sub.example.com.",
        ])
    );
    assert_eq!(
        rrs(&reply.additionals),
        strs(&[
            "ns1.sub.example.com. 3600 A 192.0.2.153",
            "ns2.sub.example.com. 3600 A 192.0.2.154",
            "ns2.sub.example.com. 3600 AAAA 2001:db8::154",
        ])
    );
}

#[test]
fn ds_at_a_cut_to_a_served_child_is_answered_by_the_parent() {
    // Serving both sides of the cut, DS still comes from the parent
    // (RFC 4035 §3.1.4.1): NODATA with the parent's SOA, not the child's.
    let parent = format!("{HEAD}sub NS ns.sub\nns.sub A 192.0.2.9\n");
    let child = "$TTL 3600\n@ SOA ns hostmaster 9 7200 900 1209600 30\n@ NS ns\nns A 192.0.2.9\n";
    let orphan = child.replace("ns A", "ns AAAA 2001:db8::9\nns A");
    let dir = zones_dir(&[
        ("p.test.", &parent),
        ("sub.p.test.", child),
        ("orphan.p.test.", &orphan),
    ]);
    let server = TestServer::builder().zones(dir.path()).start();
    let reply = query(server.addr, "sub.p.test.", RecordType::DS);
    assert_negative(
        &reply,
        ResponseCode::NoError,
        &[],
        "p.test. 60 SOA ns1.p.test. hostmaster.p.test. 1 7200 900 1209600 60",
    );
    // Without a delegation in the parent, the child is all there is.
    let orphan = query(server.addr, "orphan.p.test.", RecordType::DS);
    assert_negative(
        &orphan,
        ResponseCode::NoError,
        &[],
        "orphan.p.test. 30 SOA ns.orphan.p.test. hostmaster.orphan.p.test. 9 7200 900 1209600 30",
    );
    // Every other type at the child apex comes from the child.
    let ns = query(server.addr, "sub.p.test.", RecordType::NS);
    assert!(ns.metadata.authoritative);
    assert_eq!(
        rrs(&ns.answers),
        strs(&["sub.p.test. 3600 NS ns.sub.p.test."])
    );
    let mx = query(server.addr, "sub.p.test.", RecordType::MX);
    assert_negative(
        &mx,
        ResponseCode::NoError,
        &[],
        "sub.p.test. 30 SOA ns.sub.p.test. hostmaster.sub.p.test. 9 7200 900 1209600 30",
    );
}

#[test]
fn cname_into_a_delegation_ends_in_a_referral() {
    let zone = format!("{HEAD}cn CNAME host.sub\nsub NS ns.sub\nns.sub A 192.0.2.9\n");
    let dir = zones_dir(&[("d.test.", &zone)]);
    let server = TestServer::builder().zones(dir.path()).start();
    let reply = query(server.addr, "cn.d.test.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    // The CNAME is ours to vouch for; the rest is the child's.
    assert!(reply.metadata.authoritative);
    assert_eq!(
        rrs(&reply.answers),
        strs(&["cn.d.test. 3600 CNAME host.sub.d.test."])
    );
    assert_eq!(
        rrs(&reply.authorities),
        strs(&["sub.d.test. 3600 NS ns.sub.d.test."])
    );
    assert_eq!(
        rrs(&reply.additionals),
        strs(&["ns.sub.d.test. 3600 A 192.0.2.9"])
    );
}

// ---- the example zone: one row per query ----

/// What a row of [`CASES`] expects of the reply.
enum Expect {
    /// An authoritative NOERROR with exactly these answers ([`assert_answer`]).
    Answer(&'static [&'static str]),
    /// An authoritative negative answer with this rcode, these answers and
    /// the example zone's SOA ([`assert_negative`]).
    Negative(ResponseCode, &'static [&'static str]),
    /// The referral to sub.example.com ([`assert_sub_referral`]).
    SubReferral,
}

use Expect::{Answer, Negative, SubReferral};

/// Queries against the repository's zones, each with what it checks (the
/// name of the test it used to be) and what the reply must be. Adding a
/// case is adding a row.
const CASES: &[(&str, &str, RecordType, Expect)] = &[
    // Positive answers.
    (
        "aaaa_answer",
        "www.example.com.",
        RecordType::AAAA,
        Answer(&["www.example.com. 3600 AAAA 2001:db8::80"]),
    ),
    (
        "apex_a_and_aaaa_answers",
        "example.com.",
        RecordType::A,
        Answer(&["example.com. 3600 A 192.0.2.10"]),
    ),
    (
        "apex_a_and_aaaa_answers",
        "example.com.",
        RecordType::AAAA,
        Answer(&["example.com. 3600 AAAA 2001:db8::10"]),
    ),
    (
        "mx_answer",
        "example.com.",
        RecordType::MX,
        Answer(&[
            "example.com. 3600 MX 10 mail.example.com.",
            "example.com. 3600 MX 20 mail2.example.com.",
        ]),
    ),
    (
        "soa_answer_keeps_its_own_ttl",
        "example.com.",
        RecordType::SOA,
        Answer(&[
            "example.com. 3600 SOA ns1.example.com. hostmaster.example.com. 2026112601 7200 900 1209600 300",
        ]),
    ),
    (
        "caa_answer",
        "example.com.",
        RecordType::CAA,
        Answer(&["example.com. 3600 CAA 0 issue \"letsencrypt.org\""]),
    ),
    (
        "srv_answer",
        "_sip._tcp.example.com.",
        RecordType::SRV,
        Answer(&["_sip._tcp.example.com. 3600 SRV 10 60 5060 sip.example.com."]),
    ),
    (
        "explicit_record_ttl_is_kept",
        "ftp.example.com.",
        RecordType::A,
        Answer(&["ftp.example.com. 300 A 192.0.2.21"]),
    ),
    // Negative answers (RFC 2308).
    (
        "nxdomain_carries_soa_with_negative_ttl",
        "nope.example.com.",
        RecordType::A,
        Negative(ResponseCode::NXDomain, &[]),
    ),
    (
        "nxdomain_for_deep_missing_name",
        "a.b.c.nope.example.com.",
        RecordType::AAAA,
        Negative(ResponseCode::NXDomain, &[]),
    ),
    (
        "nodata_carries_soa_with_negative_ttl",
        "www.example.com.",
        RecordType::MX,
        Negative(ResponseCode::NoError, &[]),
    ),
    // CNAME.
    (
        "cname_chain_ending_in_nodata_has_soa",
        "alias.example.com.",
        RecordType::MX,
        Negative(
            ResponseCode::NoError,
            &[
                "alias.example.com. 3600 CNAME alias2.example.com.",
                "alias2.example.com. 3600 CNAME www.example.com.",
            ],
        ),
    ),
    (
        "cname_out_of_zone_is_left_to_the_resolver",
        "external.example.com.",
        RecordType::A,
        Answer(&["external.example.com. 3600 CNAME www.example.net."]),
    ),
    (
        "cname_query_at_cname_name_is_not_chased",
        "alias.example.com.",
        RecordType::CNAME,
        Answer(&["alias.example.com. 3600 CNAME alias2.example.com."]),
    ),
    // Wildcards (RFC 4592).
    (
        "wildcard_synthesises_with_the_query_owner_name",
        "foo.apps.example.com.",
        RecordType::A,
        Answer(&["foo.apps.example.com. 3600 A 192.0.2.200"]),
    ),
    (
        "wildcard_synthesises_with_the_query_owner_name",
        "x.y.apps.example.com.",
        RecordType::TXT,
        Answer(&["x.y.apps.example.com. 3600 TXT wildcard"]),
    ),
    (
        "wildcard_nodata_for_a_type_it_lacks",
        "foo.apps.example.com.",
        RecordType::AAAA,
        Negative(ResponseCode::NoError, &[]),
    ),
    (
        "wildcard_does_not_cover_an_existing_name",
        "static.apps.example.com.",
        RecordType::A,
        Answer(&["static.apps.example.com. 3600 A 192.0.2.201"]),
    ),
    // static.apps exists, so the wildcard's TXT is not synthesised for it.
    (
        "wildcard_does_not_cover_an_existing_name",
        "static.apps.example.com.",
        RecordType::TXT,
        Negative(ResponseCode::NoError, &[]),
    ),
    // The closest encloser is static.apps, which has no wildcard child.
    (
        "name_below_a_wildcard_sibling_is_nxdomain",
        "x.static.apps.example.com.",
        RecordType::A,
        Negative(ResponseCode::NXDomain, &[]),
    ),
    (
        "empty_non_terminal_is_nodata_not_nxdomain",
        "b.deep.example.com.",
        RecordType::A,
        Negative(ResponseCode::NoError, &[]),
    ),
    (
        "empty_non_terminal_is_nodata_not_nxdomain",
        "deep.example.com.",
        RecordType::A,
        Negative(ResponseCode::NoError, &[]),
    ),
    (
        "empty_non_terminal_is_nodata_not_nxdomain",
        "a.b.deep.example.com.",
        RecordType::A,
        Answer(&["a.b.deep.example.com. 3600 A 192.0.2.99"]),
    ),
    (
        "empty_non_terminal_is_nodata_not_nxdomain",
        "apps.example.com.",
        RecordType::A,
        Negative(ResponseCode::NoError, &[]),
    ),
    // Delegations.
    (
        "referral_below_a_delegation_has_ns_and_glue",
        "host.sub.example.com.",
        RecordType::A,
        SubReferral,
    ),
    (
        "query_at_the_cut_is_a_referral",
        "sub.example.com.",
        RecordType::NS,
        SubReferral,
    ),
    (
        "query_at_the_cut_is_a_referral",
        "sub.example.com.",
        RecordType::A,
        SubReferral,
    ),
    (
        "glue_name_is_answered_by_referral_not_authoritatively",
        "ns1.sub.example.com.",
        RecordType::A,
        SubReferral,
    ),
    (
        "ds_at_the_cut_is_answered_by_the_parent",
        "sub.example.com.",
        RecordType::DS,
        Negative(ResponseCode::NoError, &[]),
    ),
    // ANY (RFC 8482).
    (
        "any_at_a_missing_name_is_nxdomain",
        "nope.example.com.",
        RecordType::ANY,
        Negative(ResponseCode::NXDomain, &[]),
    ),
];

/// Every row of [`CASES`] against the shared server; a failure names each
/// failing row, not only the first.
#[test]
fn example_zone_cases() {
    let server = shared_server();
    let mut failed = Vec::new();
    for (what, name, qtype, expect) in CASES {
        let reply = query(server.addr, name, *qtype);
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match expect {
            Answer(answers) => assert_answer(&reply, answers),
            Negative(rcode, answers) => assert_negative(&reply, *rcode, answers, SOA),
            SubReferral => assert_sub_referral(&reply),
        }));
        if let Err(e) = checked {
            let message = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("{what} ({name} {qtype}): {message}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        CASES.len(),
        failed.join("\n")
    );
}

// ---- refusals and errors ----

#[test]
fn name_outside_served_zones_is_refused() {
    let server = shared_server();
    for name in ["www.example.org.", "com.", "."] {
        let reply = query(server.addr, name, RecordType::A);
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::Refused,
            "{name}"
        );
        assert!(!reply.metadata.authoritative);
        assert_eq!(reply.queries.len(), 1);
        assert!(reply.answers.is_empty() && reply.authorities.is_empty());
        assert!(reply.additionals.is_empty());
    }
}

#[test]
fn non_in_class_is_refused() {
    let server = shared_server();
    let mut bytes = header(7, 0, [1, 0, 0, 0]);
    let mut q = question("www.example.com.", 16);
    let len = q.len();
    q[len - 2..].copy_from_slice(&3u16.to_be_bytes()); // class CH
    bytes.extend_from_slice(&q);
    let reply = Message::from_vec(&udp_raw(server.addr, &bytes).expect("reply")).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    assert!(reply.answers.is_empty());
}

#[test]
fn status_opcode_gets_notimp() {
    let server = shared_server();
    let mut msg = make_query("www.example.com.", RecordType::A, None);
    msg.metadata.op_code = OpCode::Status;
    let reply = udp(server.addr, &msg);
    assert_eq!(reply.metadata.response_code, ResponseCode::NotImp);
    assert_eq!(reply.metadata.op_code, OpCode::Status);
    assert_eq!(reply.metadata.id, 0xbeef);
    assert!(reply.answers.is_empty() && reply.authorities.is_empty());
}

#[test]
fn notimp_to_an_edns_query_carries_opt() {
    // RFC 6891 §6.1.1: a request with OPT gets a response with OPT.
    let server = shared_server();
    let mut msg = make_query("www.example.com.", RecordType::A, Some(1232));
    msg.metadata.op_code = OpCode::Status;
    let reply = udp(server.addr, &msg);
    assert_eq!(reply.metadata.response_code, ResponseCode::NotImp);
    assert_eq!(reply.edns.as_ref().map(|e| e.version()), Some(0), "{reply}");
}

#[test]
fn unknown_opcode_15_gets_notimp() {
    let server = shared_server();
    let mut bytes = header(0x1234, 15 << 11, [1, 0, 0, 0]);
    bytes.extend_from_slice(&question("www.example.com.", 1));
    let raw = udp_raw(server.addr, &bytes).expect("a reply to opcode 15");
    assert_eq!(&raw[..2], &[0x12, 0x34]);
    assert_eq!(raw[2] & 0x80, 0x80, "QR set");
    assert_eq!((raw[2] >> 3) & 0x0f, 15, "opcode echoed");
    assert_eq!(raw[3] & 0x0f, 4, "NOTIMP");
}

/// Sends raw bytes and expects a FORMERR reply with the same ID.
fn assert_formerr(server: &TestServer, bytes: &[u8]) {
    let raw = udp_raw(server.addr, bytes).expect("a FORMERR reply");
    assert_eq!(&raw[..2], &bytes[..2], "ID echoed");
    assert_eq!(raw[2] & 0x80, 0x80, "QR set");
    assert_eq!(raw[3] & 0x0f, 1, "FORMERR, got {raw:?}");
    let reply = Message::from_vec(&raw).expect("decodable FORMERR");
    assert!(reply.answers.is_empty() && reply.authorities.is_empty());
}

#[test]
fn truncated_question_is_formerr() {
    let server = shared_server();
    let mut bytes = header(0x0101, 0x0100, [1, 0, 0, 0]);
    let q = question("www.example.com.", 1);
    bytes.extend_from_slice(&q[..7]);
    assert_formerr(server, &bytes);
}

#[test]
fn garbage_after_header_is_formerr() {
    let server = shared_server();
    let mut bytes = header(0x0202, 0, [1, 0, 0, 0]);
    bytes.extend_from_slice(&[0xff, 0xfe, 0xc0, 0x77, 0x01]);
    assert_formerr(server, &bytes);
}

#[test]
fn qdcount_zero_is_formerr() {
    let server = shared_server();
    assert_formerr(server, &header(0x0303, 0, [0, 0, 0, 0]));
}

#[test]
fn qdcount_two_is_formerr() {
    let server = shared_server();
    let mut bytes = header(0x0404, 0, [2, 0, 0, 0]);
    bytes.extend_from_slice(&question("www.example.com.", 1));
    bytes.extend_from_slice(&question("mail.example.com.", 1));
    assert_formerr(server, &bytes);
}

#[test]
fn formerr_echoes_rd() {
    let server = shared_server();
    let mut bytes = header(0x0505, 0x0100, [1, 0, 0, 0]);
    bytes.extend_from_slice(&[0x03, b'w']);
    let raw = udp_raw(server.addr, &bytes).expect("reply");
    assert_eq!(raw[3] & 0x0f, 1, "FORMERR");
    assert_eq!(raw[2] & 0x01, 0x01, "RD copied into the response");
}

#[test]
fn short_packets_and_responses_get_no_reply() {
    let server = shared_server();
    assert_eq!(udp_raw(server.addr, &[0xab, 0xcd, 0x01]), None);
    assert_eq!(
        udp_raw(server.addr, &header(1, 0, [1, 0, 0, 0])[..11]),
        None
    );
    let mut response = header(0x0606, 0x8400, [1, 0, 0, 0]);
    response.extend_from_slice(&question("www.example.com.", 1));
    assert_eq!(udp_raw(server.addr, &response), None);
    // The server is still answering.
    let reply = query(server.addr, "www.example.com.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
}

// ---- EDNS(0) ----

#[test]
fn edns_opt_is_echoed_with_our_payload_size() {
    let server = shared_server();
    let reply = udp(
        server.addr,
        &make_query("www.example.com.", RecordType::A, Some(4096)),
    );
    let edns = reply.edns.as_ref().expect("OPT in reply");
    assert_eq!(edns.max_payload(), 1232);
    assert_eq!(edns.version(), 0);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.answers.len(), 2);
    // OPT is not counted as an additional record.
    assert!(reply.additionals.is_empty());
    let plain = query(server.addr, "www.example.com.", RecordType::A);
    assert!(plain.edns.is_none(), "no OPT without one in the query");
}

#[test]
fn edns_negative_answers_carry_opt() {
    let server = shared_server();
    let reply = udp(
        server.addr,
        &make_query("nope.example.com.", RecordType::A, Some(1232)),
    );
    assert!(reply.edns.is_some());
    assert_negative(&reply, ResponseCode::NXDomain, &[], SOA);
}

#[test]
fn client_udp_size_is_honoured() {
    // 50 A records: about 830 bytes, over 512 and under 1232.
    let dir = big_zone(50);
    let server = TestServer::builder().zones(dir.path()).start();
    let plain = query(server.addr, "many.big.test.", RecordType::A);
    assert!(plain.metadata.truncation, "over 512 without EDNS");
    let small = udp(
        server.addr,
        &make_query("many.big.test.", RecordType::A, Some(512)),
    );
    assert!(small.metadata.truncation, "client said 512");
    assert!(small.edns.is_some(), "a truncated reply keeps its OPT");
    let raw = udp_raw(
        server.addr,
        &make_query("many.big.test.", RecordType::A, Some(1232))
            .to_vec()
            .unwrap(),
    )
    .unwrap();
    assert!(raw.len() > 512 && raw.len() <= 1232, "{}", raw.len());
    let big = Message::from_vec(&raw).unwrap();
    assert!(!big.metadata.truncation);
    assert_eq!(big.answers.len(), 50);
}

#[test]
fn server_payload_limit_caps_the_client_size() {
    // 150 A records: about 2430 bytes, fits in 4096.
    let dir = big_zone(150);
    let capped = TestServer::builder().zones(dir.path()).start();
    let reply = udp(
        capped.addr,
        &make_query("many.big.test.", RecordType::A, Some(4096)),
    );
    assert!(reply.metadata.truncation, "1232 is our default limit");
    let roomy = TestServer::builder()
        .zones(dir.path())
        .server("edns_udp_payload = 4096")
        .start();
    let raw = udp_raw(
        roomy.addr,
        &make_query("many.big.test.", RecordType::A, Some(4096))
            .to_vec()
            .unwrap(),
    )
    .unwrap();
    assert!(raw.len() > 1232 && raw.len() <= 4096, "{}", raw.len());
    let reply = Message::from_vec(&raw).unwrap();
    assert!(!reply.metadata.truncation);
    assert_eq!(reply.answers.len(), 150);
    assert_eq!(reply.edns.as_ref().unwrap().max_payload(), 4096);
}

#[test]
fn two_opt_records_are_formerr() {
    // RFC 6891 §6.1.1: more than one OPT in a query is FORMERR.
    let server = shared_server();
    let mut bytes = header(0x0808, 0, [1, 0, 0, 2]);
    bytes.extend_from_slice(&question("www.example.com.", 1));
    let opt = [0u8, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0];
    bytes.extend_from_slice(&opt);
    bytes.extend_from_slice(&opt);
    assert_formerr(server, &bytes);
}

#[test]
fn edns_version_1_gets_badvers_with_version_0() {
    let server = shared_server();
    let mut msg = make_query("www.example.com.", RecordType::A, None);
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_version(1);
    msg.set_edns(edns);
    let raw = udp_raw(server.addr, &msg.to_vec().unwrap()).expect("reply");
    assert_eq!(raw[3] & 0x0f, 0, "low bits of 16 are 0");
    let reply = Message::from_vec(&raw).unwrap();
    // hickory decodes 16 as BADSIG (it shares the code with BADVERS).
    assert_eq!(u16::from(reply.metadata.response_code), 16);
    let edns = reply.edns.as_ref().expect("OPT in BADVERS");
    assert_eq!(edns.version(), 0);
    assert_eq!(edns.rcode_high(), 1);
    assert!(reply.answers.is_empty() && reply.authorities.is_empty());
}

// ---- truncation and TCP ----

#[test]
fn oversize_udp_answer_sets_tc_and_tcp_returns_it_all() {
    let dir = big_zone(50);
    let server = TestServer::builder().zones(dir.path()).start();
    let msg = make_query("many.big.test.", RecordType::A, None);
    let raw = udp_raw(server.addr, &msg.to_vec().unwrap()).unwrap();
    assert!(raw.len() <= 512);
    let truncated = Message::from_vec(&raw).unwrap();
    assert!(truncated.metadata.truncation);
    assert!(truncated.metadata.authoritative);
    assert_eq!(truncated.metadata.response_code, ResponseCode::NoError);
    assert_eq!(truncated.queries.len(), 1);
    let full = tcp(server.addr, &msg);
    assert!(!full.metadata.truncation);
    assert!(full.metadata.authoritative);
    assert_eq!(full.answers.len(), 50);
    let expected: Vec<String> = (0..50)
        .map(|i| format!("many.big.test. 3600 A 10.0.0.{}", i + 1))
        .collect();
    let mut expected = expected;
    expected.sort();
    assert_eq!(rrs(&full.answers), expected);
}

#[test]
fn tcp_pipelined_queries_are_all_answered_in_order() {
    let server = shared_server();
    let names = [
        ("www.example.com.", ResponseCode::NoError),
        ("nope.example.com.", ResponseCode::NXDomain),
        ("mail.example.com.", ResponseCode::NoError),
        ("www.example.org.", ResponseCode::Refused),
        ("alias.example.com.", ResponseCode::NoError),
    ];
    let mut burst = Vec::new();
    for (i, (name, _)) in names.iter().enumerate() {
        let mut msg = make_query(name, RecordType::A, None);
        msg.metadata.id = 100 + i as u16;
        let bytes = msg.to_vec().unwrap();
        burst.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        burst.extend_from_slice(&bytes);
    }
    let mut stream = tcp_connect(server.addr);
    std::io::Write::write_all(&mut stream, &burst).unwrap();
    for (i, (name, rcode)) in names.iter().enumerate() {
        let reply = Message::from_vec(&tcp_recv(&mut stream).expect("reply")).unwrap();
        assert_eq!(reply.metadata.id, 100 + i as u16);
        assert_eq!(reply.queries[0].name().to_string(), *name);
        assert_eq!(reply.metadata.response_code, *rcode);
    }
}

#[test]
fn tcp_idle_connection_is_closed() {
    let server = TestServer::builder()
        .server("tcp_idle_timeout_secs = 1")
        .start();
    let mut stream = tcp_connect(server.addr);
    // One query first: the connection works.
    tcp_send(
        &mut stream,
        &make_query("www.example.com.", RecordType::A, None)
            .to_vec()
            .unwrap(),
    );
    tcp_recv(&mut stream).expect("reply");
    let started = Instant::now();
    let mut buf = [0u8; 1];
    let read = std::io::Read::read(&mut stream, &mut buf);
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "expected EOF or error, got {read:?}"
    );
    if let Err(e) = &read {
        assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the server never closed the connection: {e}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn tcp_connections_over_the_limit_are_closed() {
    let server = TestServer::builder()
        .server("tcp_max_connections = 2")
        .start();
    let bytes = make_query("www.example.com.", RecordType::A, None)
        .to_vec()
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = tcp_connect(server.addr);
        tcp_send(&mut stream, &bytes);
        tcp_recv(&mut stream).expect("within the limit");
        held.push(stream);
    }
    // Both slots taken: the server is busy, so idle connections get only
    // 200 ms (as in NSD) and a third client waits for the slot an idle one
    // frees; never more than two are open.
    let mut third = tcp_connect(server.addr);
    tcp_send(&mut third, &bytes);
    tcp_recv(&mut third).expect("served once an idle connection was cut");
    let mut closed = 0;
    for stream in &mut held {
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut byte = [0u8; 1];
        if matches!(std::io::Read::read(stream, &mut byte), Ok(0) | Err(_)) {
            closed += 1;
        }
    }
    assert!(
        closed >= 1,
        "a third connection was served beside two open ones"
    );
    drop(third);
    // Closing one frees its slot.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut stream = tcp_connect(server.addr);
        tcp_send(&mut stream, &bytes);
        if tcp_recv(&mut stream).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tcp_answers_refused_and_nxdomain_like_udp() {
    let server = shared_server();
    for (name, qtype) in [
        ("nope.example.com.", RecordType::A),
        ("www.example.com.", RecordType::MX),
        ("host.sub.example.com.", RecordType::A),
        ("www.example.org.", RecordType::A),
    ] {
        let msg = make_query(name, qtype, None);
        let over_udp = udp(server.addr, &msg);
        let over_tcp = tcp(server.addr, &msg);
        assert_eq!(over_tcp.metadata, over_udp.metadata, "{name}");
        assert_eq!(rrs(&over_tcp.answers), rrs(&over_udp.answers));
        assert_eq!(rrs(&over_tcp.authorities), rrs(&over_udp.authorities));
        assert_eq!(rrs(&over_tcp.additionals), rrs(&over_udp.additionals));
    }
}

// ---- QNAME case ----

#[test]
fn qname_case_is_echoed_byte_exact() {
    let server = shared_server();
    let mut bytes = header(0x0707, 0, [1, 0, 0, 0]);
    let q = question("WwW.ExAmPlE.cOm.", 1);
    bytes.extend_from_slice(&q);
    let raw = udp_raw(server.addr, &bytes).expect("reply");
    assert_eq!(&raw[12..12 + q.len()], &q[..], "question echoed as sent");
    let reply = Message::from_vec(&raw).unwrap();
    let asked = Name::from_ascii("WwW.ExAmPlE.cOm.").unwrap();
    assert!(reply.queries[0].name().eq_case(&asked), "{reply}");
    assert_answer(
        &reply,
        &[
            "www.example.com. 3600 A 192.0.2.80",
            "www.example.com. 3600 A 192.0.2.81",
        ],
    );
}

#[test]
fn qname_case_is_echoed_in_negative_and_wildcard_answers() {
    let server = shared_server();
    let ask = |name: &str| {
        // Name::from_str lower-cases; from_ascii keeps the case as typed.
        let asked = Name::from_ascii(name).unwrap();
        let mut msg = Message::new(0xbeef, MessageType::Query, OpCode::Query);
        msg.add_query(Query::query(asked.clone(), RecordType::A));
        let reply = udp(server.addr, &msg);
        assert!(reply.queries[0].name().eq_case(&asked), "{reply}");
        reply
    };
    let nx = ask("NoPe.Example.COM.");
    assert_negative(&nx, ResponseCode::NXDomain, &[], SOA);
    let wild = ask("FoO.aPpS.example.com.");
    assert_answer(&wild, &["foo.apps.example.com. 3600 A 192.0.2.200"]);
    let chain = ask("ALIAS.example.com.");
    assert_eq!(chain.answers.len(), 4, "{chain}");
}

// ---- ANY (RFC 8482) and AXFR ----

#[test]
fn any_returns_exactly_one_rrset() {
    let server = shared_server();
    for name in ["example.com.", "www.example.com.", "ns2.example.com."] {
        let reply = query(server.addr, name, RecordType::ANY);
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.metadata.authoritative);
        assert!(!reply.answers.is_empty(), "{name}: {reply}");
        let first = (&reply.answers[0].name, reply.answers[0].record_type());
        assert!(
            reply
                .answers
                .iter()
                .all(|r| (&r.name, r.record_type()) == first),
            "{name}: more than one RRset: {reply}"
        );
        assert!(reply.authorities.is_empty() && reply.additionals.is_empty());
    }
}

#[test]
fn axfr_is_refused_over_tcp() {
    let server = shared_server();
    let reply = tcp(
        server.addr,
        &make_query("example.com.", RecordType::AXFR, None),
    );
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    assert!(reply.answers.is_empty() && reply.authorities.is_empty());
    let ixfr = tcp(
        server.addr,
        &make_query("example.com.", RecordType::IXFR, None),
    );
    assert_eq!(ixfr.metadata.response_code, ResponseCode::Refused);
}

// ---- IPv6 ----

#[test]
fn ipv6_udp_and_tcp_answer_like_ipv4() {
    let dir = big_zone(50);
    let example = std::fs::read_to_string(repo_zones().join("example.com.zone")).unwrap();
    std::fs::write(dir.path().join("example.com.zone"), example).unwrap();
    let server = TestServer::builder()
        .listen("[::1]:0")
        .zones(dir.path())
        .start();
    assert!(server.addr.is_ipv6());
    let msg = make_query("www.example.com.", RecordType::A, None);
    for reply in [udp(server.addr, &msg), tcp(server.addr, &msg)] {
        assert_answer(
            &reply,
            &[
                "www.example.com. 3600 A 192.0.2.80",
                "www.example.com. 3600 A 192.0.2.81",
            ],
        );
    }
    let nx = make_query("nope.example.com.", RecordType::A, None);
    for reply in [udp(server.addr, &nx), tcp(server.addr, &nx)] {
        assert_negative(&reply, ResponseCode::NXDomain, &[], SOA);
    }
    let referral = make_query("host.sub.example.com.", RecordType::A, None);
    for reply in [udp(server.addr, &referral), tcp(server.addr, &referral)] {
        assert_sub_referral(&reply);
    }
    let big = make_query("many.big.test.", RecordType::A, None);
    assert!(udp(server.addr, &big).metadata.truncation);
    let full = tcp(server.addr, &big);
    assert!(!full.metadata.truncation);
    assert_eq!(full.answers.len(), 50);
}
