//! The in-process answer path: `answer::respond` on pre-encoded queries
//! against a snapshot built from the repository's config and zones. No
//! sockets: this is the per-query CPU cost of decode + lookup + encode.
//!
//! Run: `cargo bench --bench answer` (time per iteration = ns per query).

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::SystemTime;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use switchyard::answer::{QueryMeta, Transport, respond};
use switchyard::snapshot::{Inputs, Snapshot};

/// One benchmarked query: a label, the question, EDNS size, and the RCODE
/// and AA bit the answer must carry (checked once before measuring).
struct Case {
    label: &'static str,
    name: &'static str,
    qtype: RecordType,
    edns: Option<u16>,
    rcode: ResponseCode,
    authoritative: bool,
}

const CASES: &[Case] = &[
    Case {
        label: "positive_a",
        name: "www.example.com.",
        qtype: RecordType::A,
        edns: None,
        rcode: ResponseCode::NoError,
        authoritative: true,
    },
    Case {
        label: "nxdomain",
        name: "nx.example.com.",
        qtype: RecordType::A,
        edns: None,
        rcode: ResponseCode::NXDomain,
        authoritative: true,
    },
    Case {
        label: "cname_chain",
        name: "alias.example.com.",
        qtype: RecordType::A,
        edns: None,
        rcode: ResponseCode::NoError,
        authoritative: true,
    },
    Case {
        label: "wildcard",
        name: "foo.apps.example.com.",
        qtype: RecordType::A,
        edns: None,
        rcode: ResponseCode::NoError,
        authoritative: true,
    },
    Case {
        label: "referral",
        name: "host.sub.example.com.",
        qtype: RecordType::A,
        edns: None,
        rcode: ResponseCode::NoError,
        authoritative: false,
    },
    Case {
        label: "positive_a_edns",
        name: "www.example.com.",
        qtype: RecordType::A,
        edns: Some(1232),
        rcode: ResponseCode::NoError,
        authoritative: true,
    },
];

fn encode(case: &Case) -> Vec<u8> {
    let mut msg = Message::new(0x1234, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(
        Name::from_str(case.name).expect("name"),
        case.qtype,
    ));
    if let Some(size) = case.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(size);
        msg.set_edns(edns);
    }
    msg.to_vec().expect("encode query")
}

fn repo_snapshot() -> Snapshot {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/switchyard.toml");
    let inputs = Inputs::load(&config).unwrap_or_else(|e| panic!("{}: {e}", config.display()));
    Snapshot::build(&inputs.config, inputs.zones, 1, SystemTime::now())
}

fn bench_respond(c: &mut Criterion) {
    let snapshot = repo_snapshot();
    let meta = QueryMeta {
        source: SocketAddr::from(([127, 0, 0, 1], 40000)),
        transport: Transport::Udp,
    };
    let mut group = c.benchmark_group("respond");
    group.throughput(Throughput::Elements(1));
    for case in CASES {
        let packet = encode(case);
        let reply = respond(&snapshot, &packet, &meta).expect("a reply");
        let reply = Message::from_vec(&reply).expect("decodable reply");
        assert_eq!(reply.metadata.response_code, case.rcode, "{}", case.label);
        assert_eq!(
            reply.metadata.authoritative, case.authoritative,
            "{}",
            case.label
        );
        assert_eq!(reply.edns.is_some(), case.edns.is_some(), "{}", case.label);
        assert!(
            case.rcode != ResponseCode::NoError
                || !reply.answers.is_empty()
                || !reply.authorities.is_empty(),
            "{}: empty reply",
            case.label
        );
        group.bench_function(case.label, |b| {
            b.iter(|| respond(black_box(&snapshot), black_box(&packet), black_box(&meta)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_respond);
criterion_main!(benches);
