//! The in-process answer path on pre-encoded queries against a snapshot
//! built from the repository's config and zones. No sockets: this is the
//! per-query CPU cost of answering.
//!
//! A fourth group, `rrl`, is `respond_into` plus the response rate limit
//! check the UDP listener makes per answer (`[rrl]` defaults, rate raised
//! so nothing is dropped): compare with `respond_into` for what RRL costs.
//!
//! Two groups: `respond_into` is what the listeners call (fast path, with
//! the full path as fallback); `full_path` is `respond` alone (decode,
//! lookup, encode), for comparison and for the cases only it handles.
//!
//! A third group, `recorded`, is `respond_into` plus the per-query metric
//! recording the listeners do, to measure what query metrics cost.
//!
//! Run: `cargo bench --bench answer` (time per iteration = ns per query).

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::SystemTime;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RecordType};
use switchyard::answer::{QueryMeta, Transport, respond, respond_into};
use switchyard::metrics::query::Observer;
use switchyard::snapshot::{Inputs, Snapshot};

/// One benchmarked query: a label, the question, EDNS size, and the RCODE
/// and AA bit the answer must carry (checked once before measuring).
struct Case {
    label: &'static str,
    name: &'static str,
    qtype: RecordType,
    edns: Option<u16>,
    /// An EDNS Client Subnet to send (needs `edns`).
    ecs: Option<&'static str>,
    rcode: ResponseCode,
    authoritative: bool,
}

/// A table row: label, name, type, EDNS size, ECS subnet, expected RCODE and AA.
const fn case(
    label: &'static str,
    name: &'static str,
    qtype: RecordType,
    edns: Option<u16>,
    ecs: Option<&'static str>,
    rcode: ResponseCode,
    authoritative: bool,
) -> Case {
    Case {
        label,
        name,
        qtype,
        edns,
        ecs,
        rcode,
        authoritative,
    }
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    case("positive_a", "www.example.com.", RecordType::A, None, None, ResponseCode::NoError, true),
    case("nxdomain", "nx.example.com.", RecordType::A, None, None, ResponseCode::NXDomain, true),
    case("cname_chain", "alias.example.com.", RecordType::A, None, None, ResponseCode::NoError, true),
    case("wildcard", "foo.apps.example.com.", RecordType::A, None, None, ResponseCode::NoError, true),
    case("referral", "host.sub.example.com.", RecordType::A, None, None, ResponseCode::NoError, false),
    case("positive_a_edns", "www.example.com.", RecordType::A, Some(1232), None, ResponseCode::NoError, true),
    case("weighted", "app.example.com.", RecordType::A, None, None, ResponseCode::NoError, true),
    case("failover", "api.example.com.", RecordType::A, None, None, ResponseCode::NoError, true),
    case("geo_ecs", "geo.example.com.", RecordType::A, Some(1232), Some("81.2.69.0/24"), ResponseCode::NoError, true),
    case("nearest_ecs", "near.example.com.", RecordType::A, Some(1232), Some("202.196.224.0/24"), ResponseCode::NoError, true),
    case("multivalue", "pool.example.com.", RecordType::A, None, None, ResponseCode::NoError, true),
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
        if let Some(subnet) = case.ecs {
            let subnet = ClientSubnet::from_str(subnet).expect("subnet");
            edns.options_mut().insert(EdnsOption::Subnet(subnet));
        }
        msg.set_edns(edns);
    }
    msg.to_vec().expect("encode query")
}

fn repo_snapshot() -> Snapshot {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/switchyard.toml");
    let inputs = Inputs::load(&config).unwrap_or_else(|e| panic!("{}: {e}", config.display()));
    Snapshot::build(&inputs, &Default::default(), 1, SystemTime::now())
}

fn bench_respond(c: &mut Criterion) {
    let snapshot = repo_snapshot();
    let meta = QueryMeta {
        source: SocketAddr::from(([127, 0, 0, 1], 40000)),
        transport: Transport::Udp,
    };
    let mut rng = fastrand::Rng::with_seed(1);
    let mut out = Vec::with_capacity(4096);
    let mut group = c.benchmark_group("respond_into");
    group.throughput(Throughput::Elements(1));
    for case in CASES {
        let packet = encode(case);
        assert!(respond_into(
            &snapshot.view(),
            &packet,
            &meta,
            &mut rng,
            &mut out
        ));
        let reply = Message::from_vec(&out).expect("decodable reply");
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
            b.iter(|| {
                respond_into(
                    black_box(&snapshot.view()),
                    black_box(&packet),
                    black_box(&meta),
                    &mut rng,
                    &mut out,
                )
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("full_path");
    group.throughput(Throughput::Elements(1));
    for case in CASES {
        let packet = encode(case);
        group.bench_function(case.label, |b| {
            b.iter(|| {
                respond(
                    black_box(&snapshot.view()),
                    black_box(&packet),
                    black_box(&meta),
                    &mut rng,
                )
            })
        });
    }
    group.finish();
}

/// `respond_into` plus what the UDP listener records per query with
/// `[metrics] query_metrics = true`: queries by type and rcode into a
/// worker-local table flushed to the shared handles every 32 queries (a
/// batch), answers by region through live handles, and the batch latency.
/// Compare with group `respond_into` for the cost of recording.
fn bench_recorded(c: &mut Criterion) {
    assert!(switchyard::metrics::install());
    // Loaded after installing, so the answer counters are live handles.
    let snapshot = repo_snapshot();
    let meta = QueryMeta {
        source: SocketAddr::from(([127, 0, 0, 1], 40000)),
        transport: Transport::Udp,
    };
    let mut rng = fastrand::Rng::with_seed(1);
    let mut out = Vec::with_capacity(4096);
    let mut recorder = Observer::new(true, None).recorder(Transport::Udp);
    let mut group = c.benchmark_group("recorded");
    group.throughput(Throughput::Elements(1));
    for case in CASES {
        let packet = encode(case);
        group.bench_function(case.label, |b| {
            let mut in_batch = 0;
            let mut started = recorder.batch_start();
            b.iter(|| {
                let ok = respond_into(
                    black_box(&snapshot.view()),
                    black_box(&packet),
                    black_box(&meta),
                    &mut rng,
                    &mut out,
                );
                recorder.query(&packet, Some(&out), meta.source, started);
                in_batch += 1;
                if in_batch == 32 {
                    recorder.batch_end(started, in_batch);
                    started = recorder.batch_start();
                    in_batch = 0;
                }
                ok
            })
        });
    }
    group.finish();
    assert!(switchyard::metrics::render().contains("switchyard_queries_total"));
}

/// A geo service with `rules` /24 CIDR rules (10.0.0.0/24, 10.0.1.0/24, ...)
/// and the same `[geo.networks]`, loaded from a temp config.
fn geo_snapshot(rules: usize) -> (Snapshot, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    std::fs::write(
        dir.path().join("zones/example.com.zone"),
        "$TTL 300\n@ SOA ns1 host 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n",
    )
    .unwrap();
    let mut cidr = String::new();
    for i in 0..rules {
        let region = ["a", "b", "c"][i % 3];
        cidr += &format!("\"10.{}.{}.0/24\" = [\"{region}\"]\n", i / 256, i % 256);
    }
    let config = format!(
        r#"version = 1
[server]
dns_listen = ["127.0.0.1:0"]
api_listen = "127.0.0.1:0"
zones_dir = "zones"
state_dir = "state"
[geo.networks]
"100.64.0.0/10" = {{ country = "US", continent = "NA" }}
[regions.a]
endpoints = [{{ address = "192.0.2.1" }}]
[regions.b]
endpoints = [{{ address = "192.0.2.2" }}]
[regions.c]
endpoints = [{{ address = "192.0.2.3" }}]
[services."geo.example.com"]
policy = "geo"
[services."geo.example.com".geo]
default = ["a"]
country = {{ US = ["b"] }}
[services."geo.example.com".geo.cidr]
{cidr}"#
    );
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, config).unwrap();
    let inputs = Inputs::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let snapshot = Snapshot::build(&inputs, &Default::default(), 1, SystemTime::now());
    (snapshot, dir)
}

/// Geo decisions with 3 CIDR rules and with 20,000: the rules live in a
/// prefix trie, so the cost must not grow with their number. `hit` is a
/// client inside a rule, `miss` one that leaves the trie deep (at the last
/// bits of a /24 beside the rules) and falls through to the location.
fn bench_geo_rules(c: &mut Criterion) {
    let meta = QueryMeta {
        source: SocketAddr::from(([127, 0, 0, 1], 40000)),
        transport: Transport::Udp,
    };
    let mut rng = fastrand::Rng::with_seed(1);
    let mut out = Vec::with_capacity(4096);
    let mut group = c.benchmark_group("geo_rules");
    group.throughput(Throughput::Elements(1));
    for rules in [3usize, 20_000] {
        let (snapshot, _dir) = geo_snapshot(rules);
        // The first /24 past the last rule: same depth of walk in both.
        let miss = format!("10.{}.{}.0/24", rules / 256, rules % 256 + 1);
        for (what, subnet, expect) in [
            ("hit", "10.0.1.0/24".to_string(), "192.0.2.2"),
            ("miss", miss, "192.0.2.1"),
        ] {
            let subnet: &'static str = Box::leak(subnet.into_boxed_str());
            let packet = encode(&case(
                "geo",
                "geo.example.com.",
                RecordType::A,
                Some(1232),
                Some(subnet),
                ResponseCode::NoError,
                true,
            ));
            assert!(respond_into(
                &snapshot.view(),
                &packet,
                &meta,
                &mut rng,
                &mut out
            ));
            let reply = Message::from_vec(&out).expect("decodable reply");
            assert_eq!(
                reply.answers.first().map(|r| r.data.to_string()).as_deref(),
                Some(expect),
                "{rules} rules, {what}"
            );
            group.bench_function(format!("{rules}_rules_{what}"), |b| {
                b.iter(|| {
                    respond_into(
                        black_box(&snapshot.view()),
                        black_box(&packet),
                        black_box(&meta),
                        &mut rng,
                        &mut out,
                    )
                })
            });
        }
    }
    group.finish();
}

/// `respond_into` plus the RRL check of every UDP answer, with the default
/// table (1M buckets) and a rate nothing in the bench reaches (a new second
/// every 100,000 answers), so the cost measured is the bookkeeping.
fn bench_rrl(c: &mut Criterion) {
    let snapshot = repo_snapshot();
    let meta = QueryMeta {
        source: SocketAddr::from(([127, 0, 0, 1], 40000)),
        transport: Transport::Udp,
    };
    let config = switchyard::config::RrlConfig {
        responses_per_second: toml::Spanned::new(0..0, 1_000_000),
        ..Default::default()
    };
    let rrl = switchyard::server::rrl::Rrl::from_config(&config).expect("on");
    let mut rng = fastrand::Rng::with_seed(1);
    let mut out = Vec::with_capacity(4096);
    let mut slips = 0;
    let mut group = c.benchmark_group("rrl");
    group.throughput(Throughput::Elements(1));
    for case in CASES
        .iter()
        .filter(|c| matches!(c.label, "positive_a" | "nxdomain" | "weighted"))
    {
        let packet = encode(case);
        let mut answered = 0u64;
        group.bench_function(case.label, |b| {
            b.iter(|| {
                respond_into(
                    black_box(&snapshot.view()),
                    black_box(&packet),
                    black_box(&meta),
                    &mut rng,
                    &mut out,
                );
                answered += 1;
                let now = (answered / 100_000) as u32;
                rrl.check(meta.source.ip(), &out, now, &mut slips)
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_respond,
    bench_recorded,
    bench_geo_rules,
    bench_rrl
);
criterion_main!(benches);
