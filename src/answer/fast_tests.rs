//! The fast path must say exactly what the full path says: replay a broad
//! query set through both, with the same random seed, and compare.

use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet as EcsOption, EdnsOption};
use hickory_proto::rr::{Name, RecordType};

use super::fast::{Fast, answer};
use super::{FastTable, View};
use super::{QueryMeta, Transport, respond};
use crate::config::Config;
use crate::geo::GeoDb;
use crate::traffic::answer_metrics::AnswerMetrics;
use crate::traffic::{HealthInputs, NoAdjustments, TrafficPlan, TrafficState, compile};
use crate::zone::{ZoneSet, load_zones_dir};

/// The tables of the example config (`config/switchyard.toml`), built here
/// from config, zones and plan (`answer` sits below `load`/`snapshot`).
pub(super) struct Tables {
    zones: ZoneSet,
    plan: TrafficPlan,
    state: TrafficState,
    geo: GeoDb,
    fast: FastTable,
    nsid: Vec<u8>,
    payload: u16,
    answers: AnswerMetrics,
    dnssec: crate::dnssec::Signing,
}

impl Tables {
    pub(super) fn view(&self) -> View<'_> {
        View {
            zones: &self.zones,
            plan: &self.plan,
            state: &self.state,
            geo: &self.geo,
            fast: &self.fast,
            nsid: &self.nsid,
            edns_udp_payload: self.payload,
            answers: &self.answers,
            dnssec: &self.dnssec,
        }
    }
}

pub(super) fn example_tables() -> Tables {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/switchyard.toml");
    let config = Config::load(&path).unwrap();
    let zones = ZoneSet::new(load_zones_dir(&config.server.zones_dir).unwrap());
    let plan = compile(&config, &zones).unwrap();
    Tables {
        state: TrafficState::compute(&plan, &HealthInputs::new(), &NoAdjustments),
        geo: GeoDb::load(&config).unwrap(),
        fast: FastTable::build(&zones, &plan),
        nsid: super::nsid::encode(Some("fast-tests")).to_vec(),
        payload: config.server.edns_udp_payload.max(512),
        answers: AnswerMetrics::disabled(),
        dnssec: crate::dnssec::Signing::default(),
        zones,
        plan,
    }
}

/// Mixed-case spelling of `name`, to check case echo.
fn mixed_case(name: &str) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

fn query(name: &str, qtype: RecordType, edns: Option<u16>, ecs: Option<&str>) -> Vec<u8> {
    let mut msg = Message::new(0x4242, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    // from_ascii keeps the case as written.
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        if let Some(subnet) = ecs {
            e.options_mut()
                .insert(EdnsOption::Subnet(EcsOption::from_str(subnet).unwrap()));
        }
        msg.set_edns(e);
    }
    msg.to_vec().unwrap()
}

#[test]
fn fast_and_full_paths_agree() {
    let tables = example_tables();
    let snapshot = tables.view();
    let meta = QueryMeta {
        source: SocketAddr::from(([127, 0, 0, 1], 5353)),
        transport: Transport::Udp,
    };
    let mut names: Vec<String> = snapshot
        .zones
        .iter()
        .flat_map(|z| z.nodes().map(|n| n.name().to_string()).collect::<Vec<_>>())
        .collect();
    names.extend(snapshot.plan.services.iter().map(|s| s.name.to_string()));
    for extra in [
        "nx.example.com.",
        "a.b.nx.example.com.",
        "x.apps.example.com.",
        "a.b.deep.example.com.",
        "host.sub.example.com.",
        "example.org.",
        "nx.geo.example.com.",
    ] {
        names.push(extra.to_string());
    }
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::MX,
        RecordType::TXT,
        RecordType::NS,
        RecordType::SOA,
        RecordType::CNAME,
        RecordType::SRV,
        RecordType::CAA,
        RecordType::PTR,
        RecordType::DS,
        RecordType::ANY,
    ];
    let edns = [None, Some(512), Some(1232), Some(4096)];
    let subnets = [
        None,
        Some("81.2.69.0/24"),
        Some("216.160.83.0/24"),
        Some("202.196.224.0/24"),
        Some("192.0.2.0/24"),
    ];
    let (mut fast, mut total) = (0, 0);
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let spelled = if i % 2 == 0 {
            name.clone()
        } else {
            mixed_case(name)
        };
        for qtype in types {
            for size in edns {
                for subnet in subnets {
                    if subnet.is_some() && size.is_none() {
                        continue;
                    }
                    let packet = query(&spelled, qtype, size, subnet);
                    total += 1;
                    let seed = total as u64;
                    let outcome = answer(
                        &snapshot,
                        &packet,
                        &meta,
                        &mut fastrand::Rng::with_seed(seed),
                        &mut out,
                    );
                    if outcome == Fast::Fallback {
                        continue;
                    }
                    fast += 1;
                    let full = respond(
                        &snapshot,
                        &packet,
                        &meta,
                        &mut fastrand::Rng::with_seed(seed),
                    )
                    .unwrap();
                    let (got, want) = (
                        Message::from_vec(&out).unwrap(),
                        Message::from_vec(&full).unwrap(),
                    );
                    assert_eq!(got, want, "{spelled} {qtype} edns={size:?} ecs={subnet:?}");
                    // The question is echoed byte for byte (case included).
                    assert_eq!(
                        &out[12..12 + spelled.len() + 1],
                        &full[12..12 + spelled.len() + 1]
                    );
                }
            }
        }
    }
    // The fast path must carry most of this mix, or it is not doing its job.
    assert!(
        fast * 10 > total * 6,
        "fast path answered only {fast} of {total}"
    );
}

#[test]
fn unusual_queries_fall_back() {
    let tables = example_tables();
    let snapshot = tables.view();
    let meta = QueryMeta {
        source: SocketAddr::from(([127, 0, 0, 1], 5353)),
        transport: Transport::Udp,
    };
    let mut out = Vec::new();
    let mut rng = fastrand::Rng::with_seed(1);
    let cases = [
        query("www.example.com.", RecordType::ANY, None, None),
        query("host.sub.example.com.", RecordType::A, None, None),
        query("x.apps.example.com.", RecordType::A, None, None),
        query("www.example.org.", RecordType::A, None, None),
    ];
    for packet in cases {
        assert_eq!(
            answer(&snapshot, &packet, &meta, &mut rng, &mut out),
            Fast::Fallback
        );
    }
    let mut badvers = query("www.example.com.", RecordType::A, Some(1232), None);
    let opt = badvers.len() - 11;
    badvers[opt + 6] = 1; // EDNS version 1
    assert_eq!(
        answer(&snapshot, &badvers, &meta, &mut rng, &mut out),
        Fast::Fallback
    );
    let mut trailing = query("www.example.com.", RecordType::A, None, None);
    trailing.push(0);
    assert_eq!(
        answer(&snapshot, &trailing, &meta, &mut rng, &mut out),
        Fast::Fallback
    );
}

/// In a signed zone, DO queries for static RRsets (the apex's DNSKEY, CDS
/// and CDNSKEY included) are answered from the signed templates, and the
/// answer is what the full path gives: the same records and RRSIGs.
#[test]
fn signed_fast_answers_match_the_full_path() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let origin = Name::from_str("example.com.").unwrap();
    crate::dnssec::keys::generate(
        &dir.path().join("keys"),
        &origin,
        crate::config::KeyAlgorithm::Ecdsap256sha256,
        false,
    )
    .unwrap();
    std::fs::copy(
        repo.join("config/tokens.example"),
        dir.path().join("tokens.example"),
    )
    .unwrap();
    let text = std::fs::read_to_string(repo.join("config/switchyard.toml"))
        .unwrap()
        .replace("\"../zones\"", &format!("{:?}", repo.join("zones")))
        .replace("\"../state\"", "\"state\"")
        + "\n[dnssec]\nkey_dir = \"keys\"\n[dnssec.zones.\"example.com.\"]\nenabled = true\nalgorithm = \"ecdsap256sha256\"\n";
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e:?}"));
    let zones = ZoneSet::new(load_zones_dir(&config.server.zones_dir).unwrap());
    let plan = compile(&config, &zones).unwrap();
    let load = crate::dnssec::Dnssec::load(&config, &zones, crate::clock::now())
        .unwrap_or_else(|e| panic!("{e:?}"));
    let dnssec = crate::dnssec::Signing {
        load: std::sync::Arc::new(load),
        managed: Default::default(),
    };
    let tables = Tables {
        state: TrafficState::compute(&plan, &HealthInputs::new(), &NoAdjustments),
        geo: GeoDb::empty(),
        fast: FastTable::build_signed(&zones, &plan, &dnssec),
        nsid: Vec::new(),
        payload: 4096,
        answers: AnswerMetrics::disabled(),
        dnssec,
        zones,
        plan,
    };
    let empty = FastTable::default();
    let full_view = View {
        fast: &empty,
        ..tables.view()
    };
    let meta = QueryMeta {
        source: SocketAddr::from(([127, 0, 0, 1], 5353)),
        transport: Transport::Tcp,
    };
    let zone = tables.zones.find(&origin).unwrap();
    let mut asked: Vec<(Name, RecordType)> = zone
        .rrsets()
        .map(|(node, set)| (node.name(), set.rtype()))
        .collect();
    for rtype in [RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY] {
        asked.push((origin.clone(), rtype));
    }
    let (mut fast, mut out) = (0, Vec::new());
    for (name, rtype) in &asked {
        let mut msg = Message::new(0x4242, MessageType::Query, OpCode::Query);
        msg.add_query(Query::query(name.clone(), *rtype));
        let mut edns = Edns::new();
        edns.set_max_payload(4096);
        edns.set_dnssec_ok(true);
        msg.set_edns(edns);
        let packet = msg.to_vec().unwrap();
        let seed = 1;
        if answer(
            &tables.view(),
            &packet,
            &meta,
            &mut fastrand::Rng::with_seed(seed),
            &mut out,
        ) == Fast::Fallback
        {
            continue;
        }
        fast += 1;
        let full = respond(
            &full_view,
            &packet,
            &meta,
            &mut fastrand::Rng::with_seed(seed),
        )
        .unwrap();
        let (got, want) = (
            Message::from_vec(&out).unwrap(),
            Message::from_vec(&full).unwrap(),
        );
        assert!(
            got.answers
                .iter()
                .any(|r| r.record_type() == RecordType::RRSIG),
            "{name} {rtype}: no RRSIG in {got:?}"
        );
        assert_eq!(got.answers, want.answers, "{name} {rtype}");
        assert_eq!(got.metadata, want.metadata, "{name} {rtype}");
    }
    assert!(
        fast * 2 > asked.len(),
        "fast path answered only {fast} of {} signed queries",
        asked.len()
    );
}
