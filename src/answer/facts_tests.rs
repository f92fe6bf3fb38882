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

/// Answers `packet` and returns the facts, the response, and how many
/// times the packet was read.
fn answer(tables: &Tables, packet: &[u8]) -> (QueryFacts, Vec<u8>, u64) {
    let meta = QueryMeta {
        source: SocketAddr::from(([127, 0, 0, 1], 5353)),
        transport: Transport::Udp,
    };
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
