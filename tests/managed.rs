//! Traffic-managed names over real UDP: every policy, ECS in and out, and
//! the all-down rules, against a small deterministic MaxMind database built
//! by the test (documentation prefixes, one per continent).

mod common;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};

const ZONE: &str = "$TTL 300
@ SOA ns1 host 1 7200 900 1209600 60
@ NS ns1
ns1 A 192.0.2.53
geo TXT \"static text beside a managed name\"
edge A 192.0.2.99
";

fn traffic_config(mmdb: &Path) -> String {
    format!(
        r#"
[geo]
database = {mmdb:?}

[regions.eu]
weight = 50
coordinates = [53.3, -6.3]
endpoints = [{{ address = "10.1.0.1" }}, {{ address = "2001:db8:e::1" }}]
[regions.us]
weight = 30
coordinates = [38.9, -77.0]
endpoints = [{{ address = "10.2.0.1" }}]
[regions.ap]
weight = 20
coordinates = [1.35, 103.8]
endpoints = [{{ address = "10.3.0.1" }}, {{ address = "10.3.0.2" }}]
[regions.cdn]
endpoints = [{{ target = "edge.example.com." }}]

[services."geo.example.com"]
policy = "geo"
ttl = 20
[services."geo.example.com".geo]
default = ["us"]
cidr = {{ "203.0.113.128/25" = ["eu"] }}
continent = {{ EU = ["eu", "us"], NA = ["us", "eu"], AS = ["ap", "us"] }}

[services."near.example.com"]
policy = "nearest"
regions = ["eu", "us", "ap"]

[services."w.example.com"]
policy = "weighted"
regions = ["eu", "us", "ap"]

[services."fo.example.com"]
policy = "failover"
regions = ["us", "eu"]

[services."mv.example.com"]
policy = "multivalue"
max_answers = 2
regions = ["eu", "us", "ap"]

[services."open.example.com"]
policy = "failover"
regions = ["ap"]

[services."fb.example.com"]
policy = "failover"
regions = ["ap"]
all_down = "fallback"
fallback = "eu"

[services."empty.example.com"]
policy = "failover"
regions = ["ap"]
all_down = "empty"

[services."alias.example.com"]
policy = "failover"
regions = ["cdn"]

[services."deep.under.example.com"]
policy = "failover"
regions = ["us"]
"#
    )
}

struct Setup {
    server: TestServer,
    _zones: tempfile::TempDir,
}

fn start() -> Setup {
    let zones = zones_dir(&[("example.com", ZONE)]);
    let mmdb = zones.path().join("test-city.mmdb");
    write_test_mmdb(&mmdb);
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&traffic_config(&mmdb))
        .start();
    Setup {
        server,
        _zones: zones,
    }
}

/// Queries `name`/`qtype` with an ECS option for `subnet` (e.g. "192.0.2.0/24").
fn ecs_query(setup: &Setup, name: &str, qtype: RecordType, subnet: &str) -> Message {
    udp(setup.server.addr, &common::ecs_query(name, qtype, subnet))
}

fn addresses(msg: &Message) -> Vec<String> {
    let mut out: Vec<String> = msg.answers.iter().map(|r| r.data.to_string()).collect();
    out.sort();
    out
}

/// The ECS option of a response: (address, source prefix, scope prefix).
fn ecs_of(msg: &Message) -> Option<(IpAddr, u8, u8)> {
    match msg.edns.as_ref()?.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(s) => Some((s.addr(), s.source_prefix(), s.scope_prefix())),
        _ => None,
    }
}

#[test]
fn geo_steers_each_continent_and_scopes_to_the_matched_network() {
    let s = start();
    let cases = [
        ("192.0.2.0/24", "10.1.0.1", 24), // EU -> eu, database network /24
        ("198.51.100.0/24", "10.2.0.1", 24), // NA -> us
        ("203.0.113.0/25", "10.3.0.1 10.3.0.2", 25), // AS -> ap; /25 rule narrows the scope
        ("203.0.113.128/25", "10.1.0.1", 25), // CIDR rule beats continent AS
        // Unknown: default. The database has nothing in 0.0.0.0/1, so the
        // answer holds for that whole half of the address space.
        ("100.64.0.0/24", "10.2.0.1", 1),
    ];
    for (subnet, expected, scope) in cases {
        let reply = ecs_query(&s, "geo.example.com.", RecordType::A, subnet);
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "{subnet}"
        );
        assert!(reply.metadata.authoritative);
        let expected: Vec<String> = expected.split(' ').map(str::to_string).collect();
        assert_eq!(addresses(&reply), expected, "{subnet}");
        assert!(reply.answers.iter().all(|r| r.ttl == 20));
        let net: ipnet::IpNet = subnet.parse().unwrap();
        assert_eq!(
            ecs_of(&reply),
            Some((net.addr(), net.prefix_len(), scope)),
            "{subnet}"
        );
    }
}

#[test]
fn geo_without_ecs_uses_the_source_address_and_echoes_no_option() {
    let s = start();
    let reply = udp(
        s.server.addr,
        &make_query("geo.example.com.", RecordType::A, Some(1232)),
    );
    assert_eq!(addresses(&reply), ["10.2.0.1"]);
    assert_eq!(ecs_of(&reply), None);
}

#[test]
fn scope_is_zero_for_policies_that_ignore_location_and_for_static_names() {
    let s = start();
    for name in ["w.example.com.", "fo.example.com.", "ns1.example.com."] {
        let reply = ecs_query(&s, name, RecordType::A, "192.0.2.0/24");
        assert_eq!(ecs_of(&reply).map(|e| e.2), Some(0), "{name}");
    }
}

#[test]
fn nearest_answers_the_closest_region() {
    let s = start();
    for (subnet, expected) in [
        ("192.0.2.0/24", "10.1.0.1"),
        ("198.51.100.0/24", "10.2.0.1"),
        ("2001:db8:1::/48", "10.3.0.1 10.3.0.2"),
    ] {
        let reply = ecs_query(&s, "near.example.com.", RecordType::A, subnet);
        let expected: Vec<String> = expected.split(' ').map(str::to_string).collect();
        assert_eq!(addresses(&reply), expected, "{subnet}");
    }
}

#[test]
fn weighted_shares_follow_weights_over_real_queries() {
    let s = start();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let n = 3000;
    for _ in 0..n {
        let reply = query(s.server.addr, "w.example.com.", RecordType::A);
        let first = reply.answers[0].data.to_string();
        *counts.entry(first).or_default() += 1;
    }
    let share = |ip: &str| counts.get(ip).copied().unwrap_or(0) as f64 / n as f64;
    // ap answers two addresses; count its region by either.
    let ap = share("10.3.0.1") + share("10.3.0.2");
    for (got, want) in [
        (share("10.1.0.1"), 0.5),
        (share("10.2.0.1"), 0.3),
        (ap, 0.2),
    ] {
        assert!(
            (got - want).abs() < 0.04,
            "share {got} vs {want}: {counts:?}"
        );
    }
}

#[test]
fn failover_moves_when_the_primary_goes_down_and_back() {
    let s = start();
    assert_eq!(
        addresses(&query(s.server.addr, "fo.example.com.", RecordType::A)),
        ["10.2.0.1"]
    );
    s.server.set_health("us", "10.2.0.1", false);
    assert_eq!(
        addresses(&query(s.server.addr, "fo.example.com.", RecordType::A)),
        ["10.1.0.1"]
    );
    s.server.set_health("us", "10.2.0.1", true);
    assert_eq!(
        addresses(&query(s.server.addr, "fo.example.com.", RecordType::A)),
        ["10.2.0.1"]
    );
}

#[test]
fn multivalue_answers_at_most_n_up_endpoints() {
    let s = start();
    s.server.set_health("ap", "10.3.0.2", false);
    for _ in 0..50 {
        let got = addresses(&query(s.server.addr, "mv.example.com.", RecordType::A));
        assert!(got.len() <= 2 && !got.is_empty(), "{got:?}");
        assert!(
            !got.contains(&"10.3.0.2".to_string()),
            "down endpoint answered: {got:?}"
        );
    }
}

#[test]
fn all_down_rules_fail_open_fall_back_or_answer_empty() {
    let s = start();
    s.server.set_health("ap", "10.3.0.1", false);
    s.server.set_health("ap", "10.3.0.2", false);
    let open = query(s.server.addr, "open.example.com.", RecordType::A);
    assert_eq!(
        addresses(&open),
        ["10.3.0.1", "10.3.0.2"],
        "fail open answers every endpoint"
    );
    let fallback = query(s.server.addr, "fb.example.com.", RecordType::A);
    assert_eq!(addresses(&fallback), ["10.1.0.1"]);
    let empty = query(s.server.addr, "empty.example.com.", RecordType::A);
    assert_eq!(empty.metadata.response_code, ResponseCode::NoError);
    assert!(empty.answers.is_empty());
    assert_eq!(
        rrs(&empty.authorities),
        ["example.com. 60 SOA ns1.example.com. host.example.com. 1 7200 900 1209600 60"]
    );
}

#[test]
fn managed_names_answer_aaaa_and_nodata_and_static_types_beside_them() {
    let s = start();
    let aaaa = ecs_query(&s, "geo.example.com.", RecordType::AAAA, "192.0.2.0/24");
    assert_eq!(addresses(&aaaa), ["2001:db8:e::1"]);
    // us has no IPv6 endpoint: NODATA with SOA, not an error.
    let nodata = ecs_query(&s, "geo.example.com.", RecordType::AAAA, "198.51.100.0/24");
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.authorities.len(), 1);
    let txt = query(s.server.addr, "geo.example.com.", RecordType::TXT);
    assert_eq!(
        rrs(&txt.answers),
        ["geo.example.com. 300 TXT static text beside a managed name"]
    );
    let mx = query(s.server.addr, "fo.example.com.", RecordType::MX);
    assert!(mx.answers.is_empty());
    assert_eq!(mx.metadata.response_code, ResponseCode::NoError);
}

#[test]
fn name_targets_are_served_as_cname_and_chased_in_zone() {
    let s = start();
    let reply = query(s.server.addr, "alias.example.com.", RecordType::A);
    assert_eq!(
        rrs(&reply.answers),
        [
            "alias.example.com. 60 CNAME edge.example.com.",
            "edge.example.com. 300 A 192.0.2.99"
        ]
    );
}

#[test]
fn ancestors_of_managed_names_exist() {
    let s = start();
    let reply = query(s.server.addr, "under.example.com.", RecordType::A);
    assert_eq!(
        reply.metadata.response_code,
        ResponseCode::NoError,
        "an empty non-terminal, not NXDOMAIN"
    );
    let below = query(s.server.addr, "x.deep.under.example.com.", RecordType::A);
    assert_eq!(below.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn malformed_ecs_gets_formerr() {
    let s = start();
    let mut msg = make_query("geo.example.com.", RecordType::A, Some(1232));
    // 192.0.2.0/23 with the 24th bit set: hickory encodes the byte as given.
    let subnet = ClientSubnet::new("192.0.3.0".parse().unwrap(), 23, 0);
    msg.edns
        .as_mut()
        .unwrap()
        .options_mut()
        .insert(EdnsOption::Subnet(subnet));
    let reply = udp(s.server.addr, &msg);
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
}
