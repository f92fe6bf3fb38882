//! One read per query: [`respond_into`] reads a query once, whichever path
//! answers it, and the facts it returns agree with the response sent.

use std::net::SocketAddr;
use std::str::FromStr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet as EcsOption, EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, RecordType};

use super::fast_tests::{Tables, example_tables};
use super::query::PARSES;
use super::{AnswerPath, QueryFacts, QueryMeta, Transport, respond_into};

fn query(name: &str, qtype: RecordType, ecs: Option<&str>) -> Message {
    let mut msg = Message::new(0x4242, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    if let Some(subnet) = ecs {
        e.options_mut()
            .insert(EdnsOption::Subnet(EcsOption::from_str(subnet).unwrap()));
    }
    msg.set_edns(e);
    msg
}

/// A UDP query from loopback.
fn udp_meta() -> QueryMeta {
    QueryMeta {
        source: SocketAddr::from(([127, 0, 0, 1], 5353)),
        transport: Transport::Udp,
    }
}

/// Answers `packet` and returns the facts, the response, and how many
/// times the packet was read.
fn answer(tables: &Tables, packet: &[u8]) -> (QueryFacts, Vec<u8>, u64) {
    let meta = udp_meta();
    let mut rng = fastrand::Rng::with_seed(1);
    let mut out = Vec::new();
    let before = PARSES.with(|n| n.get());
    let facts = respond_into(&tables.view(), packet, &meta, &mut rng, &mut out);
    (facts, out, PARSES.with(|n| n.get()) - before)
}

/// The ECS scope a response echoes, if any.
fn echoed_scope(response: &Message) -> Option<u8> {
    match response.edns.as_ref()?.option(EdnsCode::Subnet) {
        Some(EdnsOption::Subnet(s)) => Some(s.scope_prefix()),
        _ => None,
    }
}

#[test]
fn a_fallback_query_is_read_once() {
    let tables = example_tables();
    // A wildcard answer with ECS: the fast path does not cover it.
    let packet = query("foo.apps.example.com.", RecordType::A, Some("81.2.69.0/24"))
        .to_vec()
        .unwrap();
    let (facts, out, reads) = answer(&tables, &packet);
    assert_eq!(reads, 1, "the query was read {reads} times");
    assert_eq!(facts.path, AnswerPath::Full);
    assert!(facts.answered);
    assert_eq!(facts.qtype, Some(1));
    assert_eq!(facts.edns_version, Some(0));
    assert!(facts.ecs_present);
    assert_eq!(facts.ecs.map(|e| e.source_prefix), Some(24));
    let response = Message::from_vec(&out).unwrap();
    assert_eq!(facts.rcode, u16::from(response.metadata.response_code));
    assert!(!response.answers.is_empty());
    assert_eq!(facts.ecs_scope, echoed_scope(&response));
    assert!(facts.ecs_scope.is_some());
}

#[test]
fn a_fast_query_is_read_once() {
    let tables = example_tables();
    // Geo, decided on the fast path: the scope in the facts is the echoed one.
    let packet = query("geo.example.com.", RecordType::A, Some("81.2.69.0/24"))
        .to_vec()
        .unwrap();
    let (facts, out, reads) = answer(&tables, &packet);
    assert_eq!(reads, 1);
    assert_eq!(facts.path, AnswerPath::Fast);
    let response = Message::from_vec(&out).unwrap();
    assert_eq!(facts.ecs_scope, echoed_scope(&response));
    assert_eq!(facts.ecs_scope, Some(24));
    assert_eq!((facts.rcode, facts.truncated), (0, false));
}

#[test]
fn errors_and_drops_carry_their_facts() {
    let tables = example_tables();
    // EDNS version 1: BADVERS (extended RCODE 16), read once.
    let mut msg = query("www.example.com.", RecordType::A, None);
    msg.edns.as_mut().unwrap().set_version(1);
    let (facts, out, reads) = answer(&tables, &msg.to_vec().unwrap());
    assert_eq!(reads, 1);
    assert_eq!((facts.rcode, facts.edns_version), (16, Some(1)));
    let response = Message::from_vec(&out).unwrap();
    assert_eq!(facts.rcode, u16::from(response.metadata.response_code));

    // A malformed ECS option (bits beyond the prefix): FORMERR, counted
    // as an ECS query, no subnet.
    let mut packet = query("www.example.com.", RecordType::A, None)
        .to_vec()
        .unwrap();
    let rdlen = packet.len() - 2;
    packet[rdlen..].copy_from_slice(&11u16.to_be_bytes());
    packet.extend_from_slice(&[0, 8, 0, 7, 0, 1, 23, 0, 81, 2, 69]);
    let (facts, _, reads) = answer(&tables, &packet);
    assert_eq!(reads, 1);
    assert_eq!(facts.rcode, 1);
    assert!(facts.ecs_present && facts.ecs.is_none());

    // A response sent to us: dropped, read once.
    let mut packet = query("www.example.com.", RecordType::A, None)
        .to_vec()
        .unwrap();
    packet[2] |= 0x80;
    let (facts, out, reads) = answer(&tables, &packet);
    assert_eq!(reads, 1);
    assert!(!facts.answered && out.is_empty());
    assert_eq!(facts.qtype, Some(1));
}

/// hickory-proto's message decoder as the oracle for what the full path
/// refuses: header and question bytes of a few queries are mutated and
/// every prefix of them is tried. A message hickory cannot decode gets a
/// bare FORMERR (no question, no records), as it did when the full path
/// decoded with hickory; one it decodes gets a response echoing exactly
/// the questions hickory read (case included). Each is read once.
#[test]
fn the_full_path_refuses_what_hickory_refuses() {
    let tables = example_tables();
    let (view, meta) = (tables.view(), udp_meta());
    let mut plain = Message::new(0x4242, MessageType::Query, OpCode::Query);
    plain.add_query(Query::query(
        Name::from_ascii("Www.Example.com.").unwrap(),
        RecordType::A,
    ));
    let bases = [
        plain.to_vec().unwrap(),
        query("geo.example.com.", RecordType::AAAA, Some("81.2.69.0/24"))
            .to_vec()
            .unwrap(),
        query("x.apps.example.com.", RecordType::MX, None)
            .to_vec()
            .unwrap(),
    ];
    let mut rng = fastrand::Rng::with_seed(7);
    let (mut refused, mut answered) = (0, 0);
    for base in &bases {
        let question_end = 12 + base[12..].iter().position(|&b| b == 0).unwrap() + 5;
        let mut packets = Vec::new();
        for at in 2..question_end {
            for value in [0x00, 0x01, 0x3f, 0x40, 0x80, 0xc0, 0xc1, 0xff] {
                let mut p = base.clone();
                p[at] = value;
                packets.push(p);
            }
            // A pointer to each earlier offset, over this byte and the next.
            if at + 1 < base.len() {
                let mut p = base.clone();
                p[at] = 0xc0;
                p[at + 1] = rng.u8(..at as u8 + 2);
                packets.push(p);
            }
        }
        for len in 12..base.len() {
            packets.push(base[..len].to_vec());
        }
        for packet in packets {
            if packet[2] & 0x80 != 0 {
                continue; // responses are dropped, whatever they hold
            }
            let before = PARSES.with(|n| n.get());
            let out = super::respond(&view, &packet, &meta, &mut rng).expect("an answer");
            assert_eq!(PARSES.with(|n| n.get()) - before, 1);
            let response = Message::from_vec(&out).expect("a decodable response");
            match Message::from_vec(&packet) {
                Err(e) => {
                    refused += 1;
                    assert_eq!(
                        (response.metadata.response_code, out.len()),
                        (hickory_proto::op::ResponseCode::FormErr, 12),
                        "{packet:02x?} ({e}) got {response:?}"
                    );
                }
                Ok(request) => {
                    answered += 1;
                    let echoed: Vec<_> = response.queries.iter().map(|q| q.to_string()).collect();
                    let asked: Vec<_> = request.queries.iter().map(|q| q.to_string()).collect();
                    assert_eq!(echoed, asked, "{packet:02x?}");
                    for (a, b) in response.queries.iter().zip(&request.queries) {
                        assert!(a.name().eq_case(b.name()), "{packet:02x?}");
                    }
                }
            }
        }
    }
    assert!(
        refused > 50 && answered > 50,
        "{refused} refused, {answered} answered"
    );
}

#[test]
fn tsig_notimp_and_two_questions_are_read_once() {
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::rdata::tsig::{TSIG, TsigAlgorithm, TsigError, make_tsig_record};
    let tables = example_tables();
    // Signed with a key we do not have: NOTAUTH with a BADKEY TSIG.
    let mut msg = query("www.example.com.", RecordType::A, None);
    let tsig = TSIG::new(
        TsigAlgorithm::HmacSha256,
        1_700_000_000,
        300,
        vec![7; 32],
        0xbeef,
        None,
        Vec::new(),
    );
    msg.signature = Some(Box::new(make_tsig_record(
        Name::from_ascii("NoKey.example.").unwrap(),
        tsig,
    )));
    let (facts, out, reads) = answer(&tables, &msg.to_vec().unwrap());
    assert_eq!((reads, facts.path), (1, AnswerPath::Full));
    let response = Message::from_vec(&out).unwrap();
    assert_eq!(response.metadata.response_code, ResponseCode::NotAuth);
    let signature = response.signature.as_ref().expect("a TSIG");
    assert!(
        signature
            .name
            .eq_case(&Name::from_ascii("NoKey.example.").unwrap())
    );
    assert_eq!(signature.data.error, Some(TsigError::BadKey));
    assert_eq!((signature.data.oid, signature.data.fudge), (0xbeef, 300));
    assert_eq!(signature.data.time, 1_700_000_000);
    assert_eq!(signature.data.algorithm, TsigAlgorithm::HmacSha256);

    // A TSIG that is not the last record: FORMERR, as hickory refused it.
    let mut packet = msg.to_vec().unwrap();
    packet[11] += 1;
    packet.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 192, 0, 2, 1]);
    let (facts, _, reads) = answer(&tables, &packet);
    assert_eq!((reads, facts.rcode), (1, 1));

    // Opcode STATUS: NOTIMP, with OPT since the query had one.
    let mut msg = query("www.example.com.", RecordType::A, None);
    msg.metadata.op_code = OpCode::Status;
    let (facts, out, reads) = answer(&tables, &msg.to_vec().unwrap());
    assert_eq!((reads, facts.rcode), (1, 4));
    let response = Message::from_vec(&out).unwrap();
    assert_eq!(response.metadata.op_code, OpCode::Status);
    assert!(response.edns.is_some());

    // Two questions: FORMERR echoing both, as asked.
    let mut msg = query("www.example.com.", RecordType::A, None);
    msg.add_query(Query::query(
        Name::from_ascii("MAIL.example.com.").unwrap(),
        RecordType::MX,
    ));
    let (facts, out, reads) = answer(&tables, &msg.to_vec().unwrap());
    assert_eq!((reads, facts.rcode, facts.qtype), (1, 1, None));
    let response = Message::from_vec(&out).unwrap();
    assert_eq!(response.queries.len(), 2);
    assert!(
        response.queries[1]
            .name()
            .eq_case(&Name::from_ascii("MAIL.example.com.").unwrap())
    );
}

/// A managed answer the full path gives (ANY: only it answers that; a
/// failover service, so both paths decide alike) is
/// written by the shared encoder: owner in the case asked, the service's
/// TTL, the addresses the decision picked.
#[test]
fn the_full_path_encodes_managed_answers_like_the_fast_path() {
    let tables = example_tables();
    let packet = query("ApI.example.com.", RecordType::ANY, None)
        .to_vec()
        .unwrap();
    let (facts, out, reads) = answer(&tables, &packet);
    assert_eq!((reads, facts.path, facts.rcode), (1, AnswerPath::Full, 0));
    let response = Message::from_vec(&out).unwrap();
    assert!(!response.answers.is_empty());
    let view = tables.view();
    let service = view
        .plan
        .services
        .iter()
        .find(|s| s.name.to_ascii() == "api.example.com.");
    let ttl = service.unwrap().ttl;
    for record in &response.answers {
        assert!(
            record
                .name
                .eq_case(&Name::from_ascii("ApI.example.com.").unwrap())
        );
        assert_eq!(record.ttl, ttl);
        assert_eq!(record.record_type(), RecordType::A);
    }
    // The same name and type A on the fast path: the same records.
    let packet = query("ApI.example.com.", RecordType::A, None)
        .to_vec()
        .unwrap();
    let (facts, fast_out, _) = answer(&tables, &packet);
    assert_eq!(facts.path, AnswerPath::Fast);
    let fast = Message::from_vec(&fast_out).unwrap();
    assert_eq!(fast.answers, response.answers);
}
