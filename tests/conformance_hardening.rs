//! Conformance details found by black-box testing (issue 12): TSIG with an
//! unknown key, NOTIMP's flags, large UDP queries, NSID, and the RRL
//! metrics, against the real server on loopback.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption, NSIDPayload};
use hickory_proto::rr::rdata::tsig::{TSIG, TsigAlgorithm, TsigError, make_tsig_record};
use hickory_proto::rr::{DNSClass, Name, RecordType};

/// A query carrying EDNS with `options`.
fn with_options(name: &str, qtype: RecordType, options: Vec<EdnsOption>) -> Message {
    let mut msg = make_query(name, qtype, None);
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    for option in options {
        edns.options_mut().insert(option);
    }
    msg.set_edns(edns);
    msg
}

fn nsid_of(reply: &Message) -> Option<Vec<u8>> {
    match reply.edns.as_ref()?.option(EdnsCode::NSID)? {
        EdnsOption::NSID(payload) => Some(payload.as_ref().to_vec()),
        _ => None,
    }
}

fn ask_nsid() -> EdnsOption {
    EdnsOption::NSID(NSIDPayload::new(Vec::new()).unwrap())
}

#[test]
fn a_query_signed_with_an_unknown_key_gets_notauth_badkey() {
    let server = TestServer::builder().start();
    let mut query = make_query("www.example.com.", RecordType::A, None);
    let now = switchyard::clock::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let tsig = TSIG::new(
        TsigAlgorithm::HmacSha256,
        now,
        300,
        vec![7; 32],
        0xbeef,
        None,
        Vec::new(),
    );
    query.signature = Some(Box::new(make_tsig_record(
        Name::from_ascii("nokey.example.").unwrap(),
        tsig,
    )));
    for reply in [udp(server.addr, &query), tcp(server.addr, &query)] {
        assert_eq!(reply.metadata.response_code, ResponseCode::NotAuth);
        assert!(reply.answers.is_empty(), "answered as if unsigned");
        // hickory with DNSSEC support (dnssec-ring) decodes the TSIG into
        // `signature`, not the additionals.
        let record = reply.signature.as_ref().expect("TSIG in the reply");
        let signature = &record.data;
        assert_eq!(record.name, Name::from_ascii("nokey.example.").unwrap());
        assert_eq!(record.dns_class, DNSClass::ANY);
        assert_eq!(signature.error, Some(TsigError::BadKey));
        assert!(signature.mac.is_empty(), "BADKEY replies are unsigned");
        assert_eq!(signature.oid, 0xbeef);
    }
}

#[test]
fn notimp_copies_rd_but_not_cd() {
    let server = TestServer::builder().start();
    let mut query = make_query("www.example.com.", RecordType::A, None);
    query.metadata.op_code = OpCode::Status;
    query.metadata.recursion_desired = true;
    query.metadata.checking_disabled = true;
    let reply = udp(server.addr, &query);
    assert_eq!(reply.metadata.response_code, ResponseCode::NotImp);
    assert!(reply.metadata.recursion_desired);
    assert!(!reply.metadata.checking_disabled);
    assert_eq!(reply.metadata.message_type, MessageType::Response);
}

#[test]
fn udp_queries_up_to_64_kib_are_read() {
    let server = TestServer::builder().start();
    for padding in [8000, 30_000, 65_000] {
        let query = with_options(
            "www.example.com.",
            RecordType::A,
            vec![EdnsOption::Unknown(12, vec![0; padding])],
        );
        let bytes = query.to_vec().unwrap();
        assert!(bytes.len() > padding);
        let reply = Message::from_vec(&udp_raw(server.addr, &bytes).expect("reply")).unwrap();
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "{padding}"
        );
        assert_eq!(reply.answers.len(), 2, "{padding}");
    }
}

#[test]
fn nsid_is_returned_when_asked_on_fast_and_full_paths() {
    let server = TestServer::builder().server("nsid = \"sw-test-1\"").start();
    // www: the fast path; a referral and ANY: the full path.
    for (name, qtype) in [
        ("www.example.com.", RecordType::A),
        ("nx.example.com.", RecordType::A),
        ("host.sub.example.com.", RecordType::A),
        ("www.example.com.", RecordType::ANY),
    ] {
        let reply = udp(server.addr, &with_options(name, qtype, vec![ask_nsid()]));
        assert_eq!(
            nsid_of(&reply).as_deref(),
            Some(&b"sw-test-1"[..]),
            "{name} {qtype}"
        );
        // Not asked: not sent.
        let reply = udp(server.addr, &with_options(name, qtype, vec![]));
        assert_eq!(nsid_of(&reply), None, "{name} {qtype}");
    }
    // With ECS too, on the fast path.
    let ecs = EdnsOption::Subnet("198.51.100.0/24".parse().unwrap());
    let reply = udp(
        server.addr,
        &with_options("www.example.com.", RecordType::A, vec![ecs, ask_nsid()]),
    );
    assert_eq!(nsid_of(&reply).as_deref(), Some(&b"sw-test-1"[..]));
    assert!(
        reply
            .edns
            .as_ref()
            .unwrap()
            .option(EdnsCode::Subnet)
            .is_some()
    );
}

#[test]
fn nsid_defaults_to_the_instance_name_then_the_host_name_and_empty_disables_it() {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let server = TestServer::builder().start();
    let reply = udp(
        server.addr,
        &with_options("www.example.com.", RecordType::A, vec![ask_nsid()]),
    );
    assert_eq!(
        nsid_of(&reply),
        Some(host.trim().as_bytes().to_vec()).filter(|h| !h.is_empty())
    );
    // With `[cluster] instance` set, NSID names the instance (as /v1/status does).
    let named = TestServer::builder()
        .tail("[cluster]\ninstance = \"ns-test-7\"\n")
        .start();
    let reply = udp(
        named.addr,
        &with_options("www.example.com.", RecordType::A, vec![ask_nsid()]),
    );
    assert_eq!(nsid_of(&reply).as_deref(), Some(&b"ns-test-7"[..]));
    let off = TestServer::builder().server("nsid = \"\"").start();
    for name in ["www.example.com.", "host.sub.example.com."] {
        let reply = udp(
            off.addr,
            &with_options(name, RecordType::A, vec![ask_nsid()]),
        );
        assert_eq!(nsid_of(&reply), None);
    }
}

#[test]
fn rrl_counts_limited_and_slipped_answers_in_metrics() {
    let server = TestServer::builder()
        .tail("[rrl]\nresponses_per_second = 5\nslip = 1\n")
        .start();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let query = make_query("mail.example.com.", RecordType::A, None)
        .to_vec()
        .unwrap();
    for _ in 0..20 {
        socket.send_to(&query, server.addr).unwrap();
    }
    let (mut full, mut slipped) = (0, 0);
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        let reply = Message::from_vec(&buf[..n]).unwrap();
        if reply.metadata.truncation {
            assert!(reply.answers.is_empty());
            slipped += 1;
        } else {
            full += 1;
        }
    }
    // Within one second (or straddling two): 5 or 10 full answers, the
    // rest slipped (slip = 1 slips every limited answer).
    assert!(full == 5 || full == 10, "{full}");
    assert_eq!(full + slipped, 20);
    let metrics = switchyard::metrics::render();
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(-1.0)
    };
    assert_eq!(
        value("switchyard_rrl_limited_total"),
        slipped as f64,
        "{metrics}"
    );
    assert_eq!(value("switchyard_rrl_slipped_total"), slipped as f64);
}
