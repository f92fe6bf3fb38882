//! Geo decisions allocate nothing per query, with everything this branch
//! added on the path: a pair of flat databases with 32-bit float
//! coordinates, field alternatives, `[geo.networks]`, 20,000 CIDR rules in
//! the prefix trie, IPv4-mapped ECS and fall-through past unavailable rules.

mod counting_alloc;

use counting_alloc::{allocations, assert_counting};

mod geo_support;

use std::net::SocketAddr;
use std::time::SystemTime;

use geo_support::write_flat;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RecordType};
use mmdb_writer::IpVersion;
use switchyard::answer::{QueryMeta, Transport, respond_into};
use switchyard::snapshot::{Inputs, Snapshot};
use switchyard::traffic::HealthInputs;

fn query(name: &str, subnet: &str) -> Vec<u8> {
    let mut msg = Message::new(1, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    let subnet: ClientSubnet = subnet.parse().unwrap();
    edns.options_mut().insert(EdnsOption::Subnet(subnet));
    msg.set_edns(edns);
    msg.to_vec().unwrap()
}

#[test]
fn geo_and_nearest_decisions_allocate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    std::fs::write(
        dir.path().join("zones/example.com.zone"),
        "$TTL 300\n@ SOA ns1 host 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n",
    )
    .unwrap();
    write_flat(
        &dir.path().join("v4.mmdb"),
        IpVersion::V4,
        &[("198.51.100.0/24", "DE", 52.52, 13.40)],
    );
    write_flat(
        &dir.path().join("v6.mmdb"),
        IpVersion::V6,
        &[("2001:db8:2::/48", "JP", 35.68, 139.69)],
    );
    let mut cidr = String::new();
    for i in 0..20_000 {
        cidr += &format!("\"10.{}.{}.0/24\" = [\"down\", \"b\"]\n", i / 256, i % 256);
    }
    let config = format!(
        r#"version = 1
[server]
dns_listen = ["127.0.0.1:0"]
api_listen = "127.0.0.1:0"
zones_dir = "zones"
state_dir = "state"
[geo]
database = ["v4.mmdb", "v6.mmdb"]
country_field = ["country.iso_code", "country_code"]
latitude_field = "latitude"
longitude_field = "longitude"
[geo.networks]
"100.64.0.0/10" = {{ country = "US" }}
[regions.a]
coordinates = [38.9, -77.0]
endpoints = [{{ address = "192.0.2.1" }}]
[regions.b]
coordinates = [50.1, 8.7]
endpoints = [{{ address = "192.0.2.2" }}]
[regions.down]
coordinates = [1.3, 103.8]
endpoints = [{{ address = "192.0.2.3" }}]
[services."near.example.com"]
policy = "nearest"
regions = ["a", "b", "down"]
[services."geo.example.com"]
policy = "geo"
[services."geo.example.com".geo]
default = ["a"]
country = {{ DE = ["down"], US = ["b"] }}
[services."geo.example.com".geo.cidr]
{cidr}"#
    );
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, config).unwrap();
    let inputs = Inputs::load(&path).unwrap();
    let mut health = HealthInputs::new();
    health.insert(("down".into(), "192.0.2.3".into()), false);
    let snapshot = Snapshot::build(&inputs, &health, 1, SystemTime::now());
    let meta = QueryMeta {
        source: SocketAddr::from(([127, 0, 0, 1], 5353)),
        transport: Transport::Udp,
    };
    let mut rng = fastrand::Rng::with_seed(1);
    let mut out = Vec::with_capacity(4096);
    let cases = [
        (
            "nearest, float coordinates",
            query("near.example.com.", "198.51.100.0/24"),
        ),
        (
            "nearest, second database",
            query("near.example.com.", "2001:db8:2::/48"),
        ),
        (
            "geo, CIDR rule falls through",
            query("geo.example.com.", "10.3.7.0/24"),
        ),
        (
            "geo, miss among 20,000 rules",
            query("geo.example.com.", "10.200.7.0/24"),
        ),
        (
            "geo, country falls through",
            query("geo.example.com.", "198.51.100.0/24"),
        ),
        (
            "geo, geo.networks",
            query("geo.example.com.", "100.64.1.0/24"),
        ),
        (
            "geo, IPv4-mapped",
            query("geo.example.com.", "::ffff:10.3.7.0/120"),
        ),
    ];
    for (what, packet) in &cases {
        assert!(
            respond_into(&snapshot.view(), packet, &meta, &mut rng, &mut out),
            "{what}"
        );
        let reply = Message::from_vec(&out).unwrap();
        assert!(!reply.answers.is_empty(), "{what}: {reply:?}");
        assert_counting();
        let before = allocations();
        for _ in 0..100 {
            assert!(respond_into(
                &snapshot.view(),
                packet,
                &meta,
                &mut rng,
                &mut out
            ));
        }
        assert_eq!(
            allocations() - before,
            0,
            "{what} allocated on the query path"
        );
    }
}
