//! Malformed packets never panic the query path and never stop a listener:
//! seeded mutations of real queries go through `respond_into` in process,
//! then random datagrams and TCP streams hit a running server, which must
//! still answer afterwards.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use switchyard::answer::{QueryMeta, Transport, respond_into};
use switchyard::snapshot::{Inputs, Snapshot};

/// Real queries to mutate: static, negative, managed, ECS, EDNS, TCP-sized.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (name, qtype) in [
        ("www.example.com.", RecordType::A),
        ("nope.example.com.", RecordType::AAAA),
        ("x.apps.example.com.", RecordType::TXT),
        ("host.sub.example.com.", RecordType::A),
        ("geo.example.com.", RecordType::A),
        ("pool.example.com.", RecordType::AAAA),
        ("example.com.", RecordType::ANY),
    ] {
        out.push(make_query(name, qtype, None).to_vec().unwrap());
        let mut with_ecs = make_query(name, qtype, Some(1232));
        let subnet: ClientSubnet = "81.2.69.0/24".parse().unwrap();
        with_ecs
            .edns
            .as_mut()
            .unwrap()
            .options_mut()
            .insert(EdnsOption::Subnet(subnet));
        out.push(with_ecs.to_vec().unwrap());
    }
    out
}

/// One seeded mutation: flip, overwrite, truncate, extend or splice bytes.
fn mutate(seed: &[u8], rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut p = seed.to_vec();
    for _ in 0..rng.usize(1..6) {
        match rng.u8(0..6) {
            0 if !p.is_empty() => {
                let i = rng.usize(0..p.len());
                p[i] ^= 1 << rng.u8(0..8);
            }
            1 if !p.is_empty() => {
                let i = rng.usize(0..p.len());
                p[i] = rng.u8(..);
            }
            2 if !p.is_empty() => {
                let len = rng.usize(0..p.len());
                p.truncate(len);
            }
            3 => p.extend((0..rng.usize(1..40)).map(|_| rng.u8(..))),
            4 if p.len() > 12 => {
                // Counts and compression pointers are where parsers go wrong.
                let i = rng.usize(4..12);
                p[i] = [0, 1, 2, 0xff][rng.usize(0..4)];
                let j = rng.usize(12..p.len());
                p[j] = 0xc0;
            }
            _ => p = (0..rng.usize(0..600)).map(|_| rng.u8(..)).collect(),
        }
    }
    p
}

#[test]
fn mutated_queries_never_panic_the_query_path() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/switchyard.toml");
    let inputs = Inputs::load(&config).unwrap();
    let snapshot = Snapshot::build(
        &inputs,
        &Default::default(),
        1,
        std::time::SystemTime::now(),
    );
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut out = Vec::new();
    let seeds = seeds();
    let mut answered = 0;
    for i in 0..50_000 {
        let packet = mutate(&seeds[i % seeds.len()], &mut rng);
        for transport in [Transport::Udp, Transport::Tcp] {
            let meta = QueryMeta {
                source: SocketAddr::from(([127, 0, 0, 1], 5353)),
                transport,
            };
            if respond_into(&snapshot.view(), &packet, &meta, &mut rng, &mut out) {
                answered += 1;
                // Whatever we send must be a well-formed DNS response.
                assert!(out.len() >= 12 && out[2] & 0x80 != 0, "not a response");
                if transport == Transport::Udp {
                    assert!(out.len() <= 4096, "oversize UDP response");
                }
            }
        }
    }
    // Most mutations keep a header, and every query with a header is answered.
    assert!(answered > 50_000, "only {answered} answered");
}

#[test]
fn garbage_on_the_wire_leaves_the_server_answering() {
    let server = TestServer::start();
    let mut rng = fastrand::Rng::with_seed(7);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let seeds = seeds();
    for i in 0..5_000 {
        let packet = mutate(&seeds[i % seeds.len()], &mut rng);
        let _ = socket.send_to(&packet, server.addr);
    }
    for _ in 0..50 {
        let mut stream = tcp_connect(server.addr);
        let junk: Vec<u8> = (0..rng.usize(0..300)).map(|_| rng.u8(..)).collect();
        let _ = std::io::Write::write_all(&mut stream, &junk);
    }
    // Every worker still answers (queries from many sources spread across them).
    for _ in 0..20 {
        let reply = query(server.addr, "www.example.com.", RecordType::A);
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert_eq!(reply.answers.len(), 2);
    }
    let reply = tcp(
        server.addr,
        &make_query("www.example.com.", RecordType::A, None),
    );
    assert_eq!(reply.answers.len(), 2);
}
