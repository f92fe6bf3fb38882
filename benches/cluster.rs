//! Cluster benchmark (run by `benches/cluster.sh`, which builds the release
//! binary first): three Switchyard processes sharing state through a
//! 3-member etcd cluster on loopback, and one local-store process for
//! comparison, all from the binary in `SWITCHYARD_BIN`.
//!
//! 1. Write-to-answer propagation: 200 weight writes through instance A;
//!    for each, the time from sending the write until B (and C) answer the
//!    new choice over UDP. p50/p99 per instance.
//! 2. Quorum restored to writes accepted: two of three etcd members are
//!    killed (writes get 503), then restarted; the time from the cluster
//!    reporting healthy until a write through A is accepted. 5 rounds.
//! 3. Query throughput while 50 writes/s stream through the watch: UDP
//!    queries per second on instance B while A takes 50 writes/s, against
//!    the local-store instance taking 50 writes/s itself, in the same run,
//!    interleaved; the ratio of medians.
//!
//! Traffic stays on loopback; every process started is stopped by PID.

#[path = "../tests/common/etcd.rs"]
#[allow(dead_code)]
mod etcd;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use serde_json::json;

const ZONE: &str = "$ORIGIN bench.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 127.0.0.1\n";
const NAME: &str = "app.bench.test";
const EU: &str = "192.0.2.1";
const US: &str = "198.51.100.1";
const TOKEN: &str = "bench-token-0123456789abcdef";

fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

struct Instance {
    dns: SocketAddr,
    api: SocketAddr,
    child: Child,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(cluster: &str) -> String {
    format!(
        r#"version = 1
[server]
dns_listen = ["{{dns}}"]
api_listen = "{{api}}"
zones_dir = "zones"
state_dir = "state"
udp_workers = 1
[api]
tokens_file = "tokens"
[log]
level = "warn"
[health]
coalesce_ms = 0
{cluster}
[regions.eu]
endpoints = [{{ address = "{EU}" }}]
[regions.us]
endpoints = [{{ address = "{US}" }}]
[services."{NAME}"]
policy = "failover"
ttl = 30
tiers = [["eu"], ["us"]]
"#
    )
}

fn start(bin: &Path, dir: &Path, config: &str) -> Instance {
    std::fs::create_dir_all(dir.join("zones")).unwrap();
    std::fs::write(dir.join("zones/bench.test.zone"), ZONE).unwrap();
    std::fs::write(dir.join("tokens"), format!("bench:{TOKEN}\n")).unwrap();
    let dns = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let text = config
        .replace("{dns}", &dns.to_string())
        .replace("{api}", &api.to_string());
    std::fs::write(dir.join("switchyard.toml"), text).unwrap();
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let child = Command::new(bin)
        .args(["serve", "--config"])
        .arg(dir.join("switchyard.toml"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start switchyard");
    let instance = Instance { dns, api, child };
    let deadline = Instant::now() + Duration::from_secs(20);
    while request(api, "GET", "/readyz", None).0 != 200 {
        assert!(Instant::now() < deadline, "{} not ready", dir.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    instance
}

/// One API call: (status, body).
fn request(
    api: SocketAddr,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, String) {
    let body = body.map(|b| b.to_string().into_bytes());
    match switchyard::ctl::http::request(
        &api.to_string(),
        method,
        path,
        Some(TOKEN),
        body.as_deref(),
    ) {
        Ok(r) => (r.status, String::from_utf8_lossy(&r.body).into_owned()),
        Err(e) => (0, e.to_string()),
    }
}

fn set_weight(api: SocketAddr, region: &str, weight: u32) -> u16 {
    request(
        api,
        "PUT",
        &format!("/v1/regions/{region}/weight"),
        Some(json!({"weight": weight, "why": "bench"})),
    )
    .0
}

fn query_bytes(id: u16) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_str(NAME).unwrap(), RecordType::A));
    m.to_vec().unwrap()
}

fn answer(socket: &UdpSocket, dns: SocketAddr) -> Option<String> {
    socket.send_to(&query_bytes(fastrand::u16(..)), dns).ok()?;
    let mut buf = [0u8; 1500];
    let n = socket.recv(&mut buf).ok()?;
    let reply = Message::from_vec(&buf[..n]).ok()?;
    reply.answers.first().map(|r| r.data.to_string())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    percentile(values, 50.0)
}

/// Answered UDP queries per second against `dns` for `secs`, from two
/// client threads keeping 16 queries in flight each.
fn throughput(dns: SocketAddr, secs: f64) -> f64 {
    let answered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let (answered, stop) = (answered.clone(), stop.clone());
            std::thread::spawn(move || {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket
                    .set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                let queries: Vec<Vec<u8>> = (0..16).map(|i| query_bytes(t * 100 + i)).collect();
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::Relaxed) {
                    for q in &queries {
                        let _ = socket.send_to(q, dns);
                    }
                    for _ in 0..queries.len() {
                        if socket.recv(&mut buf).is_err() {
                            break;
                        }
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let n = answered.load(Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    n as f64 / elapsed
}

/// Sends 50 weight writes per second to `api` until stopped; counts
/// accepted ones.
fn write_stream(api: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(u64, u64)> {
    std::thread::spawn(move || {
        let (mut ok, mut total) = (0, 0);
        let period = Duration::from_millis(20);
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            // Weights that never change the failover answer.
            let status = set_weight(api, "us", 50 + (total % 50) as u32);
            total += 1;
            if status == 200 {
                ok += 1;
            }
            next += period;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        (ok, total)
    })
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    let bin = PathBuf::from(std::env::var("SWITCHYARD_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/switchyard").to_string()
    }));
    assert!(
        bin.is_file(),
        "no binary at {} (run benches/cluster.sh)",
        bin.display()
    );
    let Some(mut etcd) = etcd::EtcdCluster::start(3) else {
        eprintln!("cluster bench skipped: etcd not on PATH");
        return;
    };
    let urls: Vec<String> = etcd
        .client_urls()
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let instances: Vec<Instance> = ["a", "b", "c"]
        .iter()
        .map(|name| {
            let cluster = format!(
                "[cluster]\nstore = \"etcd\"\nendpoints = [{}]\nprefix = \"/bench/\"\ninstance = \"{name}\"\n",
                urls.join(", ")
            );
            start(&bin, &dir.path().join(name), &config(&cluster))
        })
        .collect();
    let local = start(&bin, &dir.path().join("local"), &config(""));
    let (a, b, c) = (&instances[0], &instances[1], &instances[2]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    // 1. Propagation.
    let mut lags: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut write_ms = Vec::new();
    for i in 0..200 {
        let (weight, expected) = if i % 2 == 0 { (0, US) } else { (100, EU) };
        let sent = Instant::now();
        let status = set_weight(a.api, "eu", weight);
        assert_eq!(status, 200, "write {i} refused");
        write_ms.push(sent.elapsed().as_secs_f64() * 1e3);
        let mut pending = [true, true];
        let deadline = sent + Duration::from_secs(10);
        while pending.iter().any(|p| *p) {
            for (k, other) in [b, c].iter().enumerate() {
                if pending[k] && answer(&socket, other.dns).as_deref() == Some(expected) {
                    lags[k].push(sent.elapsed().as_secs_f64() * 1e3);
                    pending[k] = false;
                }
            }
            assert!(
                Instant::now() < deadline,
                "write {i} never reached the others"
            );
        }
    }
    println!(
        "write-to-answer propagation (ms from sending the write to A until the instance answers the new choice), 200 writes:"
    );
    for (k, name) in ["B", "C"].iter().enumerate() {
        let mut l = lags[k].clone();
        l.sort_by(|x, y| x.partial_cmp(y).unwrap());
        println!(
            "  {name}: p50 {:.1}  p99 {:.1}  max {:.1}",
            percentile(&l, 50.0),
            percentile(&l, 99.0),
            l[l.len() - 1]
        );
    }
    write_ms.sort_by(|x, y| x.partial_cmp(y).unwrap());
    println!(
        "  (the write itself, answered by A: p50 {:.1}  p99 {:.1})",
        percentile(&write_ms, 50.0),
        percentile(&write_ms, 99.0)
    );

    // 3. Throughput, before the quorum rounds disturb anything.
    let secs: f64 = std::env::var("CLUSTER_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4.0);
    let (mut cluster_qps, mut local_qps, mut control_qps) = (Vec::new(), Vec::new(), Vec::new());
    let mut accepted = (0, 0);
    for _ in 0..3 {
        // The control: the local-store instance answering while the writes
        // go to the etcd cluster through A (it takes no part in them): what
        // etcd's own work on the shared cores costs any process.
        for (target, writes_to, out) in [
            (b, a.api, &mut cluster_qps),
            (&local, local.api, &mut local_qps),
            (&local, a.api, &mut control_qps),
        ] {
            let stop = Arc::new(AtomicBool::new(false));
            let writer = write_stream(writes_to, stop.clone());
            std::thread::sleep(Duration::from_millis(200));
            out.push(throughput(target.dns, secs));
            stop.store(true, Ordering::Relaxed);
            let (ok, total) = writer.join().unwrap();
            accepted.0 += ok;
            accepted.1 += total;
        }
    }
    let (cm, lm) = (median(&mut cluster_qps), median(&mut local_qps));
    println!(
        "query throughput while 50 writes/s stream ({secs} s x 3 rounds each, interleaved; {} of {} writes accepted):",
        accepted.0, accepted.1
    );
    println!(
        "  etcd store (B, writes through A and the watch): {cm:.0} qps  {:?}",
        cluster_qps.iter().map(|q| q.round()).collect::<Vec<_>>()
    );
    println!(
        "  local store (writes to itself):                 {lm:.0} qps  {:?}",
        local_qps.iter().map(|q| q.round()).collect::<Vec<_>>()
    );
    println!("  ratio etcd/local: {:.3}", cm / lm);
    let km = median(&mut control_qps);
    println!(
        "  control: local store while the writes go to etcd through A instead: {km:.0} qps  {:?}  (ratio to local store under its own writes: {:.3})",
        control_qps.iter().map(|q| q.round()).collect::<Vec<_>>(),
        km / lm
    );

    // 2. Quorum restored to writes accepted.
    let mut recover = Vec::new();
    for round in 0..5 {
        etcd.kill(1);
        etcd.kill(2);
        let refused = Instant::now() + Duration::from_secs(15);
        while set_weight(a.api, "us", 60 + round) == 200 {
            assert!(
                Instant::now() < refused,
                "writes still accepted without quorum"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        etcd.restart_many(&[1, 2]);
        let healthy = Instant::now();
        let deadline = healthy + Duration::from_secs(30);
        loop {
            if set_weight(a.api, "us", 70 + round) == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "writes never accepted again");
            std::thread::sleep(Duration::from_millis(10));
        }
        recover.push(healthy.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "etcd quorum restored (every member healthy) to a write accepted through A, 5 rounds (ms): {:?}  median {:.0}",
        recover.iter().map(|r| r.round()).collect::<Vec<_>>(),
        median(&mut recover.clone())
    );
    drop(instances);
    drop(local);
}
