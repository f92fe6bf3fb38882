//! DNSSEC costs, in process (`cargo bench --bench dnssec`):
//!
//! 1. answers per second on one core through `respond_into`, the same
//!    queries with and without the DO bit on one signed snapshot, rounds
//!    interleaved, and their ratio (static, weighted, failover, NXDOMAIN);
//! 2. loading and signing a 100,000-record zone: time and resident memory,
//!    signed against unsigned;
//! 3. publishing with 10,000 managed names signed: the load (which signs
//!    every variant of the initial state), a full build with nothing
//!    changed (signatures reused) and the publisher's incremental rebuild
//!    after a region fails (only its services' variants looked at again).
//!
//! `cargo bench --bench dnssec -- quick` runs smaller sizes. The loopback
//! UDP blast with dnsperf is `benches/dnssec_qps.sh`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use switchyard::answer::{QueryMeta, Transport, respond_into};
use switchyard::config::KeyAlgorithm;
use switchyard::snapshot::{Inputs, Snapshot};
use switchyard::traffic::HealthInputs;

fn query(name: &str, qtype: RecordType, dnssec_ok: bool) -> Vec<u8> {
    let mut msg = Message::new(7, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_dnssec_ok(dnssec_ok);
    msg.set_edns(edns);
    msg.to_vec().unwrap()
}

/// Resident and peak resident memory of this process, in MiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A temp dir with `config` as switchyard.toml, `zone` as example.com.zone
/// and, when `signed`, a key and `[dnssec]` for example.com.
fn write_setup(dir: &Path, config_tail: &str, zone: &str, signed: bool) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("zones")).unwrap();
    std::fs::write(dir.join("zones/example.com.zone"), zone).unwrap();
    let mut text = format!(
        "version = 1\n[server]\ndns_listen = [\"127.0.0.1:0\"]\napi_listen = \"127.0.0.1:0\"\nzones_dir = \"zones\"\nstate_dir = \"state\"\n{config_tail}"
    );
    if signed {
        text.push_str("\n[dnssec]\nkey_dir = \"keys\"\n[dnssec.zones.\"example.com.\"]\n");
        if !dir.join("keys").exists() {
            switchyard::dnssec::keys::generate(
                &dir.join("keys"),
                &"example.com.".parse().unwrap(),
                KeyAlgorithm::Ecdsap256sha256,
                false,
            )
            .unwrap();
        }
    }
    let path = dir.join("switchyard.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const HEAD: &str = "$TTL 3600\n@ SOA ns1 host 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.80\nwww A 192.0.2.81\n";

fn regions() -> String {
    let mut text = String::new();
    for (i, name) in ["us", "eu", "ap"].iter().enumerate() {
        text.push_str(&format!(
            "[regions.{name}]\nweight = {}\nendpoints = [{{ address = \"192.0.2.{}\" }}, {{ address = \"198.51.100.{}\" }}, {{ address = \"2001:db8:{}::1\" }}]\n",
            10 * (i + 1),
            i + 1,
            i + 1,
            i + 1
        ));
    }
    text
}

fn answers_per_second(quick: bool) {
    let dir = tempfile::tempdir().unwrap();
    let tail = format!(
        "{}[services.\"app.example.com\"]\npolicy = \"weighted\"\nttl = 30\nregions = [\"us\", \"eu\", \"ap\"]\n[services.\"api.example.com\"]\npolicy = \"failover\"\nttl = 30\ntiers = [[\"us\"], [\"eu\", \"ap\"]]\n",
        regions()
    );
    let config = write_setup(dir.path(), &tail, HEAD, true);
    let inputs = Inputs::load(&config).unwrap_or_else(|e| panic!("{e}"));
    let snapshot = Snapshot::build(&inputs, &HealthInputs::new(), 1, switchyard::clock::now());
    let meta = QueryMeta {
        source: SocketAddr::from(([127, 0, 0, 1], 40000)),
        transport: Transport::Udp,
    };
    let mut rng = fastrand::Rng::with_seed(1);
    let mut out = Vec::with_capacity(4096);
    let round = if quick {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(400)
    };
    let rounds = if quick { 3 } else { 7 };
    println!(
        "\n## answers per second, one core, respond_into (median of {rounds} interleaved rounds)\n"
    );
    println!("| case | without DO | with DO | DO / plain | DO answer bytes |");
    println!("|---|---|---|---|---|");
    for (label, name, qtype) in [
        ("static A", "www.example.com.", RecordType::A),
        ("weighted A", "app.example.com.", RecordType::A),
        ("failover AAAA", "api.example.com.", RecordType::AAAA),
        (
            "NXDOMAIN (compact denial)",
            "nope.example.com.",
            RecordType::A,
        ),
    ] {
        let plain = query(name, qtype, false);
        let signed = query(name, qtype, true);
        respond_into(&snapshot.view(), &signed, &meta, &mut rng, &mut out);
        let signed_len = out.len();
        let mut rates = [Vec::new(), Vec::new()];
        for _ in 0..rounds {
            for (i, packet) in [&plain, &signed].into_iter().enumerate() {
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < round {
                    for _ in 0..256 {
                        black_box(respond_into(
                            &snapshot.view(),
                            black_box(packet),
                            &meta,
                            &mut rng,
                            &mut out,
                        ));
                    }
                    n += 256;
                }
                rates[i].push(n as f64 / start.elapsed().as_secs_f64());
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        let (p, s) = (median(&mut rates[0]), median(&mut rates[1]));
        println!(
            "| {label} | {:.0} | {:.0} | {:.2} | {signed_len} |",
            p,
            s,
            s / p
        );
    }
}

fn sign_large_zone(records: usize) {
    println!(
        "\n## loading a {records}-record zone (Inputs::load: parse, index, precompile; signed: + every RRset signed)\n"
    );
    let mut zone = String::from(HEAD);
    for i in 0..records {
        zone.push_str(&format!(
            "h{i} A 10.{}.{}.{}\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
    }
    println!("| | time | RSS after | RSS growth | peak RSS |");
    println!("|---|---|---|---|---|");
    for signed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_setup(dir.path(), "", &zone, signed);
        let (before, _) = memory();
        let start = Instant::now();
        let inputs = Inputs::load(&config).unwrap_or_else(|e| panic!("{e}"));
        let took = start.elapsed();
        let (after, peak) = memory();
        println!(
            "| {} | {:.2} s | {:.0} MiB | {:.0} MiB | {:.0} MiB |",
            if signed {
                "signed (ECDSA P-256)"
            } else {
                "unsigned"
            },
            took.as_secs_f64(),
            after,
            after - before,
            peak
        );
        drop(inputs);
    }
    println!(
        "\n(threads used for signing: {})",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}

fn publish_managed(names: usize) {
    println!(
        "\n## publishing with {names} managed names (3 regions, A and AAAA; half weighted, half failover)\n"
    );
    let mut tail = regions();
    for i in 0..names {
        if i % 2 == 0 {
            tail.push_str(&format!(
                "[services.\"s{i}.example.com\"]\npolicy = \"weighted\"\nttl = 30\nregions = [\"us\", \"eu\", \"ap\"]\n"
            ));
        } else {
            tail.push_str(&format!(
                "[services.\"s{i}.example.com\"]\npolicy = \"failover\"\nttl = 30\ntiers = [[\"us\"], [\"eu\", \"ap\"]]\n"
            ));
        }
    }
    println!(
        "| | load (signs the initial state) | full build, nothing changed | incremental publish, region `us` down | managed signatures |"
    );
    println!("|---|---|---|---|---|");
    for signed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_setup(dir.path(), &tail, HEAD, signed);
        let start = Instant::now();
        let inputs = Inputs::load(&config).unwrap_or_else(|e| panic!("{e}"));
        let load = start.elapsed();
        let start = Instant::now();
        let same = Snapshot::build(&inputs, &HealthInputs::new(), 1, switchyard::clock::now());
        let unchanged = start.elapsed();
        let mut health = HealthInputs::new();
        for address in ["192.0.2.1", "198.51.100.1", "2001:db8:1::1"] {
            health.insert(("us".into(), address.into()), false);
        }
        // As the publisher does it: only region `us` changed.
        let us = inputs.plan.region_index["us"];
        let start = Instant::now();
        let failed = Snapshot::rebuild(
            &same,
            &inputs,
            &health,
            &Default::default(),
            &[us],
            2,
            switchyard::clock::now(),
        );
        let changed = start.elapsed();
        println!(
            "| {} | {:.2} s | {:.3} s | {:.3} s | {} |",
            if signed { "signed" } else { "unsigned" },
            load.as_secs_f64(),
            unchanged.as_secs_f64(),
            changed.as_secs_f64(),
            failed.dnssec.managed.len()
        );
        black_box((same, failed));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not run us.
    let quick = args.iter().any(|a| a == "quick");
    if args.iter().any(|a| a == "--list") {
        return;
    }
    answers_per_second(quick);
    sign_large_zone(if quick { 10_000 } else { 100_000 });
    publish_managed(if quick { 1_000 } else { 10_000 });
}
