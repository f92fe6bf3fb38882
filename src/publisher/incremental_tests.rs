//! Incremental publishing gives exactly what a full rebuild gives: two
//! publishers over the same inputs, one incremental and one in
//! [`PublishMode::Full`], take the same random sequence of override
//! changes (weight, drain, force, clear, delete, drills, expiry, with and
//! without `force`), health changes and reloads. After every step their
//! outcomes (including the safety rule's refusals), their overrides, the
//! routing state the query path reads and the answers to a set of queries
//! must be equal, and equal to a snapshot built from scratch. The zone is
//! signed: the sets of managed variants signed must be equal too.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet as EcsOption, EdnsOption};
use hickory_proto::rr::{Name, RecordType};
use proptest::prelude::*;

use super::{PublishMode, Publisher};
use crate::answer::{QueryMeta, Transport, respond, respond_into};
use crate::load::Inputs;
use crate::overrides::{Action, ForceState, Request, RequestKind};
use crate::snapshot::Snapshot;
use crate::traffic::{HealthInputs, TrafficState};

const REGIONS: usize = 6;
const ENDPOINTS: usize = 3;
const SERVICES: usize = 30;

/// Regions `r0`..`r5` (three endpoints each, some needing two up), 30
/// services of every policy but `nearest` over one to four of them, with
/// every all-down rule. Addresses are documentation data, never probed.
fn write_config(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("zones")).unwrap();
    std::fs::write(
        dir.join("zones/prop.test.zone"),
        "$ORIGIN prop.test.\n@ 300 SOA ns1 host 1 7200 900 1209600 60\n@ 300 NS ns1\nns1 300 A 127.0.0.53\n",
    )
    .unwrap();
    let mut config = String::from(
        "version = 1\n[server]\ndns_listen = [\"127.0.0.1:0\"]\napi_listen = \"127.0.0.1:0\"\nzones_dir = \"zones\"\nstate_dir = \"state\"\n",
    );
    for r in 0..REGIONS {
        let endpoints: Vec<String> = (0..ENDPOINTS)
            .map(|e| format!("{{ address = \"192.0.2.{}\" }}", r * 10 + e + 1))
            .collect();
        config += &format!(
            "[regions.r{r}]\nweight = {}\nmin_healthy = {}\nendpoints = [{}]\n",
            10 * (r + 1),
            1 + r % 2,
            endpoints.join(", ")
        );
    }
    for s in 0..SERVICES {
        let count = 1 + s % 4;
        let regions: Vec<String> = (0..count)
            .map(|k| format!("\"r{}\"", (s + k * (1 + s % 3)) % REGIONS))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let policy = ["weighted", "failover", "multivalue", "geo"][s % 4];
        let all_down = match s % 3 {
            0 => "all_down = \"fail_open\"".to_string(),
            1 => "all_down = \"empty\"".to_string(),
            _ => format!("all_down = \"fallback\"\nfallback = {}", regions[0]),
        };
        config += &format!(
            "[services.\"s{s}.prop.test\"]\npolicy = \"{policy}\"\nregions = [{}]\n{all_down}\n",
            regions.join(", ")
        );
        if policy == "geo" {
            let last = regions.last().unwrap();
            config += &format!(
                "[services.\"s{s}.prop.test\".geo]\ncidr = {{ \"10.0.0.0/8\" = [{last}] }}\ndefault = [{}]\n",
                regions.join(", ")
            );
        }
    }
    // Signed, so the managed variants each publish signs are compared too
    // (Ed25519: the cheapest to sign of the algorithms offered).
    crate::dnssec::keys::generate(
        &dir.join("keys"),
        &Name::from_ascii("prop.test.").unwrap(),
        crate::config::KeyAlgorithm::Ed25519,
        false,
    )
    .unwrap();
    config +=
        "[dnssec]\nkey_dir = \"keys\"\n[dnssec.zones.\"prop.test.\"]\nalgorithm = \"ed25519\"\n";
    let path = dir.join("switchyard.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// The managed answer variants a snapshot carries signatures for (RRset
/// keys): an incremental publish must hold what a full one does, no stale
/// variant of an answer no longer given.
fn signed_variants(snapshot: &Snapshot) -> std::collections::BTreeSet<Box<[u8]>> {
    snapshot.dnssec.managed.keys().cloned().collect()
}

/// One step of a random sequence.
#[derive(Debug, Clone)]
enum Op {
    Set {
        region: usize,
        action: Action,
        force: bool,
        expires: Option<u64>,
    },
    ClearForce(usize),
    /// Deletes the n-th override in force (modulo their number).
    Delete(usize),
    StartDrill(Vec<usize>, bool),
    EndDrill,
    /// Lapses what has expired this many seconds after the start.
    Expire(u64),
    Health {
        region: usize,
        endpoint: usize,
        up: bool,
    },
    Reload,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (0u32..120).prop_map(|weight| Action::Weight { weight }),
        Just(Action::Drain),
        Just(Action::Force {
            state: ForceState::Down
        }),
        Just(Action::Force {
            state: ForceState::Up
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..REGIONS, action(), any::<bool>(), prop::option::of(1u64..100)).prop_map(
            |(region, action, force, expires)| Op::Set { region, action, force, expires }
        ),
        1 => (0..REGIONS).prop_map(Op::ClearForce),
        2 => (0usize..8).prop_map(Op::Delete),
        1 => (prop::collection::vec(0..REGIONS, 1..3), any::<bool>())
            .prop_map(|(regions, force)| Op::StartDrill(regions, force)),
        1 => Just(Op::EndDrill),
        1 => (1u64..120).prop_map(Op::Expire),
        6 => (0..REGIONS, 0..ENDPOINTS, any::<bool>())
            .prop_map(|(region, endpoint, up)| Op::Health { region, endpoint, up }),
        1 => Just(Op::Reload),
    ]
}

fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn publisher(config: &Path, inputs: &Inputs, state: &Path, mode: PublishMode) -> Publisher {
    let durable = crate::overrides::store::restore(state, false, start()).unwrap();
    let mut p = Publisher::new(
        config.to_path_buf(),
        inputs.clone(),
        HealthInputs::new(),
        durable,
    );
    p.set_publish_mode(mode);
    // Same ids on both sides, so outcomes compare whole.
    p.rng = fastrand::Rng::with_seed(7);
    p
}

fn request(kind: RequestKind, force: bool, expires: Option<u64>) -> Request {
    Request {
        kind,
        who: "prop".into(),
        why: "property test".into(),
        force,
        expires_in_secs: expires,
    }
}

/// Applies `op` to `p` at `now`; what it returned, as text to compare.
fn apply(p: &mut Publisher, op: &Op, now: SystemTime) -> String {
    let change = |p: &mut Publisher, kind, force, expires| {
        format!(
            "{:?}",
            p.change_overrides(request(kind, force, expires), now)
        )
    };
    match op {
        Op::Set {
            region,
            action,
            force,
            expires,
        } => {
            let kind = RequestKind::Set {
                region: format!("r{region}"),
                action: *action,
            };
            change(p, kind, *force, *expires)
        }
        Op::ClearForce(region) => {
            let kind = RequestKind::ClearForce {
                region: format!("r{region}"),
            };
            change(p, kind, false, None)
        }
        Op::Delete(n) => {
            let ids: Vec<String> = p.overrides.iter().map(|o| o.id.clone()).collect();
            let id = match ids.len() {
                0 => "ov-000000000000".to_string(),
                len => ids[n % len].clone(),
            };
            change(p, RequestKind::Delete { id }, false, None)
        }
        Op::StartDrill(regions, force) => {
            let kind = RequestKind::StartDrill {
                drill: "dr-prop".into(),
                regions: regions.iter().map(|r| format!("r{r}")).collect(),
            };
            change(p, kind, *force, Some(60))
        }
        Op::EndDrill => {
            let kind = RequestKind::EndDrill {
                drill: "dr-prop".into(),
            };
            change(p, kind, false, None)
        }
        Op::Expire(secs) => {
            p.expire_overrides(start() + Duration::from_secs(*secs));
            String::from("expired")
        }
        Op::Health {
            region,
            endpoint,
            up,
        } => {
            let address = format!("192.0.2.{}", region * 10 + endpoint + 1);
            format!("{}", p.set_health(format!("r{region}"), address, *up))
        }
        Op::Reload => format!("{:?}", p.reload().map_err(|e| e.to_string())),
    }
}

/// The queries compared: A at every service, from a client inside the geo
/// services' CIDR rule (by ECS) and one outside it; AAAA and ANY at every
/// fifth.
fn queries() -> Vec<(Vec<u8>, SocketAddr)> {
    let mut out = Vec::new();
    for s in 0..SERVICES {
        let name = Name::from_ascii(format!("s{s}.prop.test.")).unwrap();
        let types: &[RecordType] = if s % 5 == 0 {
            &[RecordType::A, RecordType::AAAA, RecordType::ANY]
        } else {
            &[RecordType::A]
        };
        for &qtype in types {
            for ecs in [None, Some("10.1.2.0/24")] {
                let mut msg = Message::new(s as u16, MessageType::Query, OpCode::Query);
                msg.add_query(Query::query(name.clone(), qtype));
                if let Some(subnet) = ecs {
                    let mut edns = Edns::new();
                    edns.options_mut()
                        .insert(EdnsOption::Subnet(subnet.parse::<EcsOption>().unwrap()));
                    msg.set_edns(edns);
                }
                let source = SocketAddr::new(IpAddr::from([127, 0, 0, 1]), 5300);
                out.push((msg.to_vec().unwrap(), source));
            }
        }
    }
    out
}

/// Every query's answer from `snapshot`, by both paths, with fixed seeds.
fn answers(snapshot: &Snapshot, queries: &[(Vec<u8>, SocketAddr)]) -> Vec<Vec<u8>> {
    let view = snapshot.view();
    let mut out = Vec::new();
    for (i, (packet, source)) in queries.iter().enumerate() {
        let meta = QueryMeta {
            source: *source,
            transport: Transport::Udp,
        };
        let mut rng = fastrand::Rng::with_seed(i as u64);
        out.push(respond(&view, packet, &meta, &mut rng).unwrap_or_default());
        let mut rng = fastrand::Rng::with_seed(i as u64);
        let mut fast = Vec::new();
        respond_into(&view, packet, &meta, &mut rng, &mut fast);
        out.push(fast);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn incremental_publish_equals_a_full_rebuild(ops in prop::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path());
        let inputs = Inputs::load(&config).unwrap();
        // State dirs on tmpfs where there is one: every change is saved
        // with fsync twice per step, and the disk is not what is tested.
        let state = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).unwrap();
        let mut inc = publisher(&config, &inputs, &state.path().join("inc"), PublishMode::Incremental);
        let mut full = publisher(&config, &inputs, &state.path().join("full"), PublishMode::Full);
        let queries = queries();
        for (step, op) in ops.iter().enumerate() {
            let now = start() + Duration::from_secs(step as u64);
            let a = apply(&mut inc, op, now);
            let b = apply(&mut full, op, now);
            prop_assert_eq!(&a, &b, "step {} {:?}: outcomes differ", step, op);
            prop_assert_eq!(&*inc.overrides, &*full.overrides);
            let (x, y) = (inc.snapshot.load_full(), full.snapshot.load_full());
            prop_assert_eq!(x.generation, y.generation);
            prop_assert_eq!(&x.state, &y.state, "step {} {:?}: routing state differs", step, op);
            // And both are what a build from scratch gives.
            let scratch = TrafficState::compute(&inc.inputs.plan, &inc.health, &inc.overrides);
            prop_assert_eq!(&x.state, &scratch);
            prop_assert_eq!(answers(&x, &queries), answers(&y, &queries), "step {} {:?}: answers differ", step, op);
            prop_assert!(!signed_variants(&y).is_empty());
            prop_assert_eq!(signed_variants(&x), signed_variants(&y), "step {} {:?}: signed variants differ", step, op);
        }
    }
}
