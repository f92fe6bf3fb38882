//! `GET /v1/explain` agrees with the query path: for many clients (each
//! sent as an EDNS Client Subnet) and several health states, explain's
//! answer equals a real UDP query's answer, records, rcode and ECS scope,
//! for the deterministic policies (failover, geo, nearest); for weighted,
//! explain lists exactly the available candidates with shares summing to
//! one, and the real answer is one of them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use common::api::call;
use common::*;
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use serde_json::Value;

const ZONE: &str = "$TTL 300
@ SOA ns1 host 1 7200 900 1209600 60
@ NS ns1
ns1 A 192.0.2.53
";

/// Regions (endpoints by address) and the services under test.
const TRAFFIC: &str = r#"
[geo]
database = "{mmdb}"
[geo.networks]
"81.2.69.0/24"     = { country = "GB", continent = "EU", coordinates = [51.51, -0.13] }
"216.160.83.0/24"  = { country = "US", continent = "NA", coordinates = [47.61, -122.33] }
"202.196.224.0/24" = { country = "SG", continent = "AS", coordinates = [1.29, 103.85] }

[regions.us]
weight = 50
coordinates = [38.95, -77.45]
endpoints = [{ address = "10.0.1.1" }, { address = "10.0.1.2" }]
[regions.eu]
weight = 30
coordinates = [53.35, -6.26]
endpoints = [{ address = "10.0.2.1" }]
[regions.ap]
weight = 20
coordinates = [1.35, 103.82]
endpoints = [{ address = "10.0.3.1" }]
[regions.au]
coordinates = [-33.9, 151.2]
endpoints = [{ address = "10.0.4.1" }]

[services."fo.example.com"]
policy = "failover"
ttl = 20
tiers = [["us"], ["eu", "ap"]]

[services."geo.example.com"]
policy = "geo"
ttl = 30
all_down = "fallback"
fallback = "au"
[services."geo.example.com".geo]
default = ["us", "eu"]
cidr = { "81.2.69.128/25" = ["ap"], "2001:db8:1:80::/57" = ["eu"] }
country = { GB = ["eu", "us"], JP = ["ap"] }
continent = { NA = ["us"], OC = ["au", "ap"], AS = ["ap", "au"] }

[services."near.example.com"]
policy = "nearest"
ttl = 40
regions = ["us", "eu", "ap", "au"]
bias_km = { eu = 500 }

[services."w.example.com"]
policy = "weighted"
ttl = 10
regions = ["us", "eu", "ap"]
"#;

/// Clients as ECS subnets: addresses in every known network (config
/// networks, database networks, a CIDR rule's half) and in unknown ones,
/// at several source prefixes.
fn clients() -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(8);
    let v4_bases = [
        [81, 2, 69],
        [216, 160, 83],
        [202, 196, 224],
        [192, 0, 2],
        [198, 51, 100],
        [203, 0, 113],
        [100, 64, 7],
        [8, 8, 8],
    ];
    let mut out = Vec::new();
    for base in v4_bases {
        for prefix in [32, 25, 24, 16] {
            let host = rng.u8(..);
            let addr = IpAddr::from([base[0], base[1], base[2], host]);
            let net = ipnet::IpNet::new(addr, prefix).unwrap().trunc();
            out.push(net.to_string());
        }
    }
    for (base, prefixes) in [
        ("2001:db8:1", [48, 56, 64]),
        ("2001:db8:ffff", [48, 56, 64]),
    ] {
        for prefix in prefixes {
            let addr: IpAddr = format!("{base}:{:x}::1", rng.u16(..)).parse().unwrap();
            out.push(ipnet::IpNet::new(addr, prefix).unwrap().trunc().to_string());
        }
    }
    out
}

/// A real UDP query for `name`/`qtype` from `client` (as ECS).
fn real(server: &TestServer, name: &str, qtype: RecordType, client: &str) -> Message {
    udp(server.addr, &ecs_query(name, qtype, client))
}

/// The ECS scope a response carries.
fn scope(reply: &Message) -> Option<u8> {
    match reply.edns.as_ref()?.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(s) => Some(s.scope_prefix()),
        _ => None,
    }
}

fn explain(server: &TestServer, name: &str, qtype: RecordType, client: &str) -> Value {
    let path = format!("/v1/explain?name={name}&type={qtype}&client={client}");
    let (status, value) = call(server.api, "GET", &path, None, None);
    assert_eq!(status, 200, "{path}: {value}");
    value
}

/// Records as comparable `name ttl type data` lines.
fn explained_records(value: &Value) -> Vec<String> {
    let mut out: Vec<String> = value["answer"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r["name"].as_str().unwrap().to_lowercase(),
                r["ttl"],
                r["type"].as_str().unwrap(),
                r["data"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

fn start() -> (TestServer, tempfile::TempDir) {
    let zones = zones_dir(&[("example.com", ZONE)]);
    let mmdb = zones.path().join("city.mmdb");
    write_test_mmdb(&mmdb);
    let traffic = TRAFFIC.replace("{mmdb}", &mmdb.display().to_string());
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&traffic)
        .start();
    (server, zones)
}

#[test]
fn explain_answers_exactly_what_a_query_gets() {
    let (server, _zones) = start();
    let clients = clients();
    // Phases: everything up; us down; us, eu and ap down (all-down rules).
    let phases: [&[&str]; 3] = [&[], &["us"], &["us", "eu", "ap"]];
    let endpoints: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("us", &["10.0.1.1", "10.0.1.2"][..]),
        ("eu", &["10.0.2.1"][..]),
        ("ap", &["10.0.3.1"][..]),
        ("au", &["10.0.4.1"][..]),
    ]);
    let mut compared = 0;
    let mut outcomes = BTreeSet::new();
    for down in phases {
        for (region, addrs) in &endpoints {
            for a in *addrs {
                server.set_health(region, a, !down.contains(region));
            }
        }
        for name in ["fo.example.com.", "geo.example.com.", "near.example.com."] {
            for client in &clients {
                for qtype in [RecordType::A, RecordType::AAAA] {
                    let reply = real(&server, name, qtype, client);
                    let value = explain(&server, name, qtype, client);
                    let context = format!("{name} {qtype} from {client} with {down:?} down");
                    assert_eq!(
                        explained_records(&value),
                        rrs(&reply.answers),
                        "{context}: {value:#}"
                    );
                    assert_eq!(
                        value["answer"]["rcode"],
                        switchyard::metrics::query::rcode_name(u16::from(
                            reply.metadata.response_code
                        )),
                        "{context}"
                    );
                    assert_eq!(
                        value["answer"]["ecs_scope"].as_u64().map(|s| s as u8),
                        scope(&reply),
                        "{context}: {value:#}"
                    );
                    assert_eq!(value["client"]["source"], "ecs");
                    // The decision explained is the one answered: the chosen
                    // endpoints are the answer (A only: endpoints are IPv4).
                    let decision = &value["service"]["decision"];
                    if qtype == RecordType::A {
                        let decided: BTreeSet<String> = decision["endpoints"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|e| e["endpoint"].as_str().unwrap().to_string())
                            .collect();
                        let answered: BTreeSet<String> =
                            reply.answers.iter().map(|r| r.data.to_string()).collect();
                        assert_eq!(decided, answered, "{context}: {value:#}");
                    }
                    outcomes.insert(format!("{name} {}", decision["summary"]));
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 3 * 3 * clients.len() * 2);
    // The clients and phases exercise each policy's branches.
    for wanted in [
        "fo.example.com. \"failover tier 1\"",
        "fo.example.com. \"failover tier 2\"",
        "geo.example.com. \"region ap\"",
        "geo.example.com. \"region eu\"",
        "geo.example.com. \"region us\"",
        "near.example.com. \"region au\"",
    ] {
        assert!(
            outcomes.contains(wanted),
            "never saw {wanted}: {outcomes:#?}"
        );
    }
    assert!(
        outcomes.iter().any(|o| o.contains("fallback region au")),
        "{outcomes:#?}"
    );
}

#[test]
fn weighted_explain_lists_the_candidates_and_the_answer_is_one_of_them() {
    let (server, _zones) = start();
    server.set_health("ap", "10.0.3.1", false);
    let addresses = BTreeMap::from([
        ("us", vec!["10.0.1.1", "10.0.1.2"]),
        ("eu", vec!["10.0.2.1"]),
    ]);
    for client in clients() {
        let value = explain(&server, "w.example.com.", RecordType::A, &client);
        let candidates = value["service"]["candidates"].as_array().unwrap();
        let listed: Vec<&str> = candidates
            .iter()
            .map(|c| c["region"].as_str().unwrap())
            .collect();
        assert_eq!(listed, ["us", "eu", "ap"]);
        let shares: BTreeMap<&str, f64> = candidates
            .iter()
            .filter(|c| c["available"] == true)
            .map(|c| (c["region"].as_str().unwrap(), c["share"].as_f64().unwrap()))
            .collect();
        assert_eq!(shares.keys().copied().collect::<Vec<_>>(), ["eu", "us"]);
        assert!((shares["us"] - 0.625).abs() < 1e-9 && (shares["eu"] - 0.375).abs() < 1e-9);
        assert!(
            candidates[2]["why"]
                .as_str()
                .unwrap()
                .starts_with("unhealthy")
        );
        let reply = real(&server, "w.example.com.", RecordType::A, &client);
        let answered: Vec<String> = reply.answers.iter().map(|r| r.data.to_string()).collect();
        assert!(
            addresses.values().any(|a| {
                let mut a: Vec<String> = a.iter().map(|s| s.to_string()).collect();
                a.sort();
                let mut got = answered.clone();
                got.sort();
                a == got
            }),
            "{answered:?} is not one region's endpoints"
        );
        // A given seed repeats its draw.
        let seed = value["seed"].as_u64().unwrap();
        let path = format!("/v1/explain?name=w.example.com&client={client}&seed={seed}");
        let (_, again) = call(server.api, "GET", &path, None, None);
        assert_eq!(again["answer"], value["answer"]);
    }
}

#[test]
fn explain_rejects_bad_questions() {
    let (server, _zones) = start();
    for (path, code) in [
        ("/v1/explain?client=1.2.3.4", "bad_query"),
        ("/v1/explain?name=fo.example.com", "bad_query"),
        ("/v1/explain?name=fo.example.com&client=nope", "bad_query"),
        (
            "/v1/explain?name=fo.example.com&client=1.2.3.4&type=BOGUS",
            "bad_query",
        ),
        (
            "/v1/explain?name=fo.example.com&client=1.2.3.4&extra=1",
            "bad_query",
        ),
    ] {
        let (status, value) = call(server.api, "GET", path, None, None);
        assert_eq!(status, 400, "{path}: {value}");
        assert_eq!(common::api::error_code(&value), code);
    }
    // Names outside the zones are explained too: REFUSED, no service.
    let value = explain(&server, "www.elsewhere.org.", RecordType::A, "192.0.2.1");
    assert_eq!(value["service"], Value::Null);
    assert_eq!(value["answer"]["rcode"], "REFUSED");
    assert_eq!(value["client"]["source"], "address");
}

#[test]
fn ctl_explain_prints_the_candidates_and_the_answer() {
    use switchyard::ctl::{CtlArgs, CtlCommand, execute};
    let (server, _zones) = start();
    server.set_health("us", "10.0.1.1", false);
    server.set_health("us", "10.0.1.2", false);
    let args = |json| CtlArgs {
        api: server.api.to_string(),
        token: None,
        json,
        command: CtlCommand::Explain {
            name: "fo.example.com".into(),
            client: "81.2.69.7".into(),
            qtype: "A".into(),
            seed: Some(3),
        },
    };
    let mut out = Vec::new();
    execute(&args(false), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    for wanted in [
        "fo.example.com. A",
        "client: source address 81.2.69.7; location from geo.networks (network 81.2.69.0/24): country GB, continent EU",
        "service: fo.example.com. (policy failover, ttl 20)",
        "unhealthy: 0 of 2 endpoints up, 1 needed",
        "available, in tier 2: the first tier with an available region",
        "decision: failover tier 2",
        "answer: NOERROR ttl 20",
        "fo.example.com. 20 A 10.0.2.1",
        "fo.example.com. 20 A 10.0.3.1",
    ] {
        assert!(text.contains(wanted), "missing {wanted:?} in:\n{text}");
    }
    let mut out = Vec::new();
    execute(&args(true), &mut out).unwrap();
    let value: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value["seed"], 3);
}

/// What the document excludes (empty or non-ASCII names, empty clients)
/// the server refuses with the documented error shape; what it allows
/// (a type in any letter case, the root `.`) it answers.
#[test]
fn explain_parameters_match_the_document() {
    let (server, _zones) = start();
    for path in [
        "/v1/explain?name=&client=1.2.3.4",
        "/v1/explain?name=fo.example.com&client=",
        "/v1/explain?name=%C3%A9.example.com&client=1.2.3.4",
    ] {
        let (status, value) = call(server.api, "GET", path, None, None);
        assert_eq!(status, 400, "{path}: {value}");
        assert_eq!(common::api::error_code(&value), "bad_query", "{path}");
        assert!(value["error"]["message"].is_string(), "{path}: {value}");
    }
    for path in [
        "/v1/explain?name=fo.example.com&client=1.2.3.4&type=aaaa",
        "/v1/explain?name=.&client=1.2.3.4",
    ] {
        let (status, value) = call(server.api, "GET", path, None, None);
        assert_eq!(status, 200, "{path}: {value}");
    }
}
