//! The ECS scope is true: for random configs with nested networks (CIDR
//! rules, `[geo.networks]`, database networks) and random regions down, and
//! random ECS clients, every address inside the scope a response returns
//! gets the same answer. Each client and each checked address is a real DNS
//! query answered by the query path (`answer::respond`) on a real snapshot
//! loaded from a config file, zones and a generated `.mmdb`.
//!
//! The addresses checked inside a scope are the hard ones: the first and
//! last address of every configured network that overlaps it, the addresses
//! just outside them, and a few random ones.

mod geo_support;

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::SystemTime;

use geo_support::{Row, write_nested};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, RecordType};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use switchyard::answer::{QueryMeta, Transport, respond};
use switchyard::snapshot::{Inputs, Snapshot};
use switchyard::traffic::HealthInputs;

const ZONE: &str = "$TTL 300\n@ SOA ns1 host 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n";
const COUNTRIES: [(&str, &str); 5] = [
    ("GB", "EU"),
    ("FR", "EU"),
    ("US", "NA"),
    ("JP", "AS"),
    ("DE", "EU"),
];
const REGIONS: usize = 5;

/// A random network: half the time nested inside one already made.
fn random_net(rng: &mut fastrand::Rng, made: &[IpNet], v6: bool) -> IpNet {
    let same_family: Vec<&IpNet> = made.iter().filter(|n| n.addr().is_ipv6() == v6).collect();
    if !same_family.is_empty() && rng.bool() {
        let outer = *same_family[rng.usize(..same_family.len())];
        let max = if v6 { 64 } else { 30 };
        if outer.prefix_len() < max {
            let len = rng.u8(outer.prefix_len() + 1..=max.min(outer.prefix_len() + 10));
            return random_inside(rng, outer, len);
        }
    }
    if v6 {
        let base: Ipv6Net = "2001:db8::/32".parse().unwrap();
        let len = rng.u8(33..=56);
        random_inside(rng, IpNet::V6(base), len)
    } else {
        let base: Ipv4Net = "10.0.0.0/8".parse().unwrap();
        let len = rng.u8(9..=28);
        random_inside(rng, IpNet::V4(base), len)
    }
}

/// A random network of length `len` inside `outer`.
fn random_inside(rng: &mut fastrand::Rng, outer: IpNet, len: u8) -> IpNet {
    let addr = random_addr(rng, outer);
    IpNet::new(addr, len).unwrap().trunc()
}

/// A random address inside `net`.
fn random_addr(rng: &mut fastrand::Rng, net: IpNet) -> IpAddr {
    match net {
        IpNet::V4(n) => {
            let host = if n.prefix_len() == 32 {
                0
            } else {
                rng.u32(..) & (u32::MAX >> n.prefix_len())
            };
            IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) | host))
        }
        IpNet::V6(n) => {
            let host = if n.prefix_len() == 128 {
                0
            } else {
                rng.u128(..) & (u128::MAX >> n.prefix_len())
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | host))
        }
    }
}

struct Case {
    _dir: tempfile::TempDir,
    snapshot: Snapshot,
    /// Every configured network (rules, geo.networks, database rows).
    networks: Vec<IpNet>,
    /// The config and database rows, for failure messages.
    described: String,
}

fn region_list(rng: &mut fastrand::Rng) -> String {
    let n = rng.usize(1..=3);
    let mut list: Vec<String> = Vec::new();
    while list.len() < n {
        let r = format!("\"r{}\"", rng.usize(..REGIONS));
        if !list.contains(&r) {
            list.push(r);
        }
    }
    format!("[{}]", list.join(", "))
}

/// A random config, database and health state.
fn make_case(rng: &mut fastrand::Rng) -> Case {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    std::fs::write(dir.path().join("zones/example.com.zone"), ZONE).unwrap();
    let mut made: Vec<IpNet> = Vec::new();
    let fresh = |rng: &mut fastrand::Rng, made: &mut Vec<IpNet>| loop {
        let v6 = rng.u8(..4) == 0;
        let net = random_net(rng, made, v6);
        if !made.contains(&net) {
            made.push(net);
            return net;
        }
    };
    // The database (later rows win where they overlap, as in a real one).
    let mut rows = Vec::new();
    for _ in 0..rng.usize(0..=8) {
        let net = fresh(rng, &mut made);
        let (country, continent) = COUNTRIES[rng.usize(..COUNTRIES.len())];
        rows.push(Row {
            net: net.to_string(),
            country: rng.bool().then(|| country.to_string()),
            registered_country: None,
            continent: rng.bool().then(|| continent.to_string()),
            coordinates: rng
                .bool()
                .then(|| (rng.f64() * 120.0 - 60.0, rng.f64() * 300.0 - 150.0)),
        });
    }
    write_nested(&dir.path().join("db.mmdb"), &rows);
    let mut networks_toml = String::new();
    for _ in 0..rng.usize(0..=6) {
        let net = fresh(rng, &mut made);
        let (country, continent) = COUNTRIES[rng.usize(..COUNTRIES.len())];
        let mut fields = Vec::new();
        if rng.bool() {
            fields.push(format!("country = \"{country}\""));
        }
        if rng.bool() {
            fields.push(format!("continent = \"{continent}\""));
        }
        if fields.is_empty() || rng.bool() {
            fields.push(format!(
                "coordinates = [{:.1}, {:.1}]",
                rng.f64() * 120.0 - 60.0,
                rng.f64() * 300.0 - 150.0
            ));
        }
        networks_toml += &format!("\"{net}\" = {{ {} }}\n", fields.join(", "));
    }
    let mut cidr = Vec::new();
    for _ in 0..rng.usize(0..=8) {
        let net = fresh(rng, &mut made);
        cidr.push(format!("\"{net}\" = {}", region_list(rng)));
    }
    let mut countries = Vec::new();
    for (c, _) in COUNTRIES {
        if rng.bool() {
            countries.push(format!("{c} = {}", region_list(rng)));
        }
    }
    let mut continents = Vec::new();
    for c in ["EU", "NA", "AS"] {
        if rng.bool() {
            continents.push(format!("{c} = {}", region_list(rng)));
        }
    }
    let mut regions = String::new();
    for i in 0..REGIONS {
        regions += &format!(
            "[regions.r{i}]\ncoordinates = [{:.1}, {:.1}]\nendpoints = [{{ address = \"192.0.2.{}\" }}]\n",
            rng.f64() * 120.0 - 60.0,
            rng.f64() * 300.0 - 150.0,
            i + 1
        );
    }
    let all_down = ["fail_open", "empty"][rng.usize(..2)];
    let config = format!(
        r#"version = 1
[server]
dns_listen = ["127.0.0.1:0"]
api_listen = "127.0.0.1:0"
zones_dir = "zones"
state_dir = "state"

[geo]
database = "db.mmdb"
[geo.networks]
{networks_toml}
{regions}
[services."g.example.com"]
policy = "geo"
all_down = "{all_down}"
[services."g.example.com".geo]
default = {default}
cidr = {{ {cidr} }}
country = {{ {countries} }}
continent = {{ {continents} }}

[services."n.example.com"]
policy = "nearest"
regions = ["r0", "r1", "r2", "r3", "r4"]
"#,
        default = region_list(rng),
        cidr = cidr.join(", "),
        countries = countries.join(", "),
        continents = continents.join(", "),
    );
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, &config).unwrap();
    let inputs = Inputs::load(&path).unwrap_or_else(|e| panic!("{e}\n{config}"));
    // Some regions down, so geo rules fall through.
    let mut health = HealthInputs::new();
    for i in 0..REGIONS {
        if rng.u8(..3) == 0 {
            let ip = format!("192.0.2.{}", i + 1);
            health.insert((format!("r{i}"), ip), false);
        }
    }
    let snapshot = Snapshot::build(&inputs, &health, 1, SystemTime::now());
    Case {
        _dir: dir,
        snapshot,
        networks: made,
        described: format!("{config}\ndatabase rows: {rows:?}\nhealth: {health:?}"),
    }
}

/// Asks `name` A with ECS `addr/prefix`; the sorted answer and the scope.
fn ask(snapshot: &Snapshot, name: &str, addr: IpAddr, prefix: u8) -> (Vec<String>, u8) {
    let mut query = Message::new(7, MessageType::Query, OpCode::Query);
    query.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.options_mut()
        .insert(EdnsOption::Subnet(ClientSubnet::new(addr, prefix, 0)));
    query.set_edns(edns);
    let packet = query.to_vec().unwrap();
    let meta = QueryMeta {
        source: SocketAddr::from(([127, 0, 0, 1], 5353)),
        transport: Transport::Udp,
    };
    let mut rng = fastrand::Rng::with_seed(1);
    let bytes = respond(&snapshot.view(), &packet, &meta, &mut rng).expect("an answer");
    let response = Message::from_vec(&bytes).unwrap();
    let answer: BTreeSet<String> = response
        .answers
        .iter()
        .map(|r| r.data.to_string())
        .collect();
    let scope = match response
        .edns
        .as_ref()
        .and_then(|e| e.option(EdnsCode::Subnet))
    {
        Some(EdnsOption::Subnet(s)) => s.scope_prefix(),
        other => panic!("no ECS option in the response: {other:?}"),
    };
    (answer.into_iter().collect(), scope)
}

/// `net` as seen from a client of `family_v6`: IPv4 networks are mapped
/// into `::ffff:0:0/96` for IPv4-mapped clients.
fn in_client_family(net: IpNet, mapped: bool) -> Option<IpNet> {
    match (net, mapped) {
        (IpNet::V4(n), true) => {
            let v6 = n.network().to_ipv6_mapped();
            Some(IpNet::new(IpAddr::V6(v6), n.prefix_len() + 96).unwrap())
        }
        (net, _) => Some(net),
    }
}

fn add(addr: IpAddr, delta: i8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(
            u32::from(a).wrapping_add_signed(delta as i32),
        )),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(
            u128::from(a).wrapping_add_signed(delta as i128),
        )),
    }
}

#[test]
fn every_address_inside_the_returned_scope_gets_the_same_answer() {
    let mut rng = fastrand::Rng::with_seed(0x5c09e);
    let mut checked = 0usize;
    let mut narrowed = 0usize;
    let mut scopes: HashMap<u8, usize> = HashMap::new();
    for _ in 0..30 {
        let case = make_case(&mut rng);
        for _ in 0..40 {
            // A client: near a configured network most of the time.
            let kind = rng.u8(..10);
            let (addr, prefix, mapped) = if kind < 6 && !case.networks.is_empty() {
                let near = case.networks[rng.usize(..case.networks.len())];
                let addr = random_addr(&mut rng, near);
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let p = rng.u8(near.prefix_len().saturating_sub(4)..=max);
                (addr, p, false)
            } else if kind < 8 {
                let base: IpNet = "10.0.0.0/8".parse().unwrap();
                (random_addr(&mut rng, base), rng.u8(8..=32), false)
            } else {
                // IPv4-mapped IPv6, as some resolvers send.
                let base: IpNet = "10.0.0.0/8".parse().unwrap();
                let IpAddr::V4(v4) = random_addr(&mut rng, base) else {
                    unreachable!()
                };
                (IpAddr::V6(v4.to_ipv6_mapped()), rng.u8(104..=128), true)
            };
            let client = IpNet::new(addr, prefix).unwrap().trunc();
            for name in ["g.example.com.", "n.example.com."] {
                let (answer, scope) = ask(&case.snapshot, name, client.addr(), prefix);
                assert!(
                    scope <= prefix,
                    "{name} {client}: scope {scope} above the source"
                );
                *scopes.entry(scope).or_default() += 1;
                if scope < prefix {
                    narrowed += 1;
                }
                if scope == prefix {
                    // The configured networks may split the client's subnet
                    // itself; then no scope up to the source prefix can be
                    // true, and the answer (for the subnet's first address)
                    // says "as specific as you asked". Scopes above the
                    // source prefix are never returned, so only narrower
                    // scopes make a claim to check.
                    continue;
                }
                let inside = IpNet::new(client.addr(), scope).unwrap().trunc();
                // The addresses to check: boundaries of every configured
                // network overlapping the scope, and random ones.
                let mut probes: Vec<IpAddr> =
                    (0..6).map(|_| random_addr(&mut rng, inside)).collect();
                for net in case
                    .networks
                    .iter()
                    .filter_map(|n| in_client_family(*n, mapped))
                {
                    if net.addr().is_ipv4() != inside.addr().is_ipv4() {
                        continue;
                    }
                    if inside.contains(&net) || net.contains(&inside) {
                        for a in [net.network(), net.broadcast()] {
                            for candidate in [add(a, -1), a, add(a, 1)] {
                                if inside.contains(&candidate) {
                                    probes.push(candidate);
                                }
                            }
                        }
                    }
                }
                for probe in probes {
                    let full = if probe.is_ipv4() { 32 } else { 128 };
                    let (other, _) = ask(&case.snapshot, name, probe, full);
                    assert_eq!(
                        other, answer,
                        "{name}: {client} got {answer:?} with scope {scope}, \
                         but {probe} inside {inside} gets {other:?}\n{}",
                        case.described
                    );
                    checked += 1;
                }
            }
        }
    }
    // The test must have exercised something: many addresses checked, and
    // scopes both narrower than the source and spread over many lengths.
    assert!(checked > 5_000, "{checked}");
    assert!(narrowed > 100, "{narrowed}");
    assert!(scopes.len() > 10, "{scopes:?}");
}

#[test]
fn scope_is_zero_where_nothing_is_configured_for_the_family() {
    let mut rng = fastrand::Rng::with_seed(7);
    // Find a case without any IPv6 network anywhere.
    for _ in 0..100 {
        let case = make_case(&mut rng);
        if case.networks.iter().any(|n| n.addr().is_ipv6()) {
            continue;
        }
        let (_, scope) = ask(
            &case.snapshot,
            "g.example.com.",
            "2001:db8:77::".parse().unwrap(),
            48,
        );
        assert_eq!(scope, 0);
        let (_, scope) = ask(
            &case.snapshot,
            "n.example.com.",
            "2001:db8:77::".parse().unwrap(),
            48,
        );
        assert_eq!(scope, 0);
        return;
    }
    panic!("no case without IPv6 networks");
}
