//! Health checking at scale, and end-to-end failover time.
//!
//! `cargo bench --bench health_scale`
//!
//! 1. **Scale**: 10,000 endpoints at a 1 s interval, probing 40 local HTTP
//!    targets on loopback (70% healthy, 10% slower than the timeout, 10%
//!    answering 500, 10% closing connections without answering). The
//!    targets run in a child process (this binary, re-executed), so the
//!    CPU figure is Switchyard's alone. After a warm-up it reports probes
//!    per second, schedule lag p50/p99 (actual probe start minus scheduled
//!    time) and process CPU% (from /proc/self/stat; 100% = one core).
//! 2. **Failover**: a failover service over two regions checked at a 1 s
//!    interval with fall = 2 and the default 50 ms coalescing window; the
//!    primary's backend is killed and real UDP queries measure how long
//!    until answers move to the backup.
//!
//! Everything listens on and talks to 127.0.0.1 only; run time is bounded
//! (about 40 s). `HEALTH_BENCH_SECS` changes the measured window (default 20).

#[path = "../tests/common/targets.rs"]
mod targets;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use switchyard::app::App;
use switchyard::health::HealthState;
use targets::{Behavior, Target};

const ENDPOINTS: usize = 10_000;
const PER_REGION: usize = 100;
const WARM_UP: Duration = Duration::from_secs(5);

/// Target mix: (behaviour name, how many targets).
const MIX: [(&str, usize); 4] = [("healthy", 28), ("slow", 4), ("error", 4), ("close", 4)];

const ZONE: &str = "$TTL 300
@ SOA ns1 host 1 7200 900 1209600 60
@ NS ns1
ns1 A 127.0.0.53
";

fn main() {
    if std::env::args().any(|a| a == "--targets-child") {
        run_targets_child();
        return;
    }
    // `cargo bench` passes filters and `--bench`; `cargo test --benches`
    // runs benches in test mode, where a quick smoke run is enough.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        println!("health_scale: skipped in test mode");
        return;
    }
    let secs: u64 = std::env::var("HEALTH_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    scale(Duration::from_secs(secs));
    failover();
}

/// The child: serves the target mix, prints `behaviour port` lines, and
/// exits when the parent closes its stdin.
fn run_targets_child() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut running = Vec::new();
    let mut out = std::io::stdout().lock();
    for (kind, count) in MIX {
        for _ in 0..count {
            let behavior = match kind {
                "healthy" => Behavior::Healthy,
                "slow" => Behavior::Slow(Duration::from_millis(800)),
                "error" => Behavior::Status(500),
                _ => Behavior::Close,
            };
            let target = Target::http(runtime.handle(), behavior);
            writeln!(out, "{kind} {}", target.addr).unwrap();
            running.push(target);
        }
    }
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    drop(out);
    // Parent gone (or done) = stdin closed.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// Starts the target child and returns it with its targets' addresses.
fn start_targets() -> (Child, Vec<(String, SocketAddr)>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--targets-child")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start target child");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut targets = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if line == "ready" {
            break;
        }
        let (kind, addr) = line.split_once(' ').unwrap();
        targets.push((kind.to_string(), addr.parse().unwrap()));
    }
    (child, targets)
}

/// A config with `ENDPOINTS` endpoints spread round-robin over `targets`.
fn scale_config(dir: &Path, targets: &[(String, SocketAddr)]) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("zones")).unwrap();
    std::fs::write(dir.join("zones/bench.test.zone"), ZONE).unwrap();
    let mut config = String::from(
        r#"version = 1
[server]
dns_listen = ["127.0.0.1:0"]
api_listen = "127.0.0.1:0"
zones_dir = "zones"
state_dir = "state"
udp_workers = 1

[health]
max_concurrent_probes = 1024

[checks.web]
kind = "http"
path = "/healthz"
interval_ms = 1000
timeout_ms = 500
fall = 2
rise = 2
"#,
    );
    for region in 0..ENDPOINTS / PER_REGION {
        config.push_str(&format!(
            "\n[regions.r{region}]\ncheck = \"web\"\nendpoints = [\n"
        ));
        for e in 0..PER_REGION {
            let i = region * PER_REGION + e;
            let probe = targets[i % targets.len()].1;
            // Served addresses are loopback too; probes go to `probe`.
            config.push_str(&format!(
                "  {{ id = \"e{i}\", address = \"127.1.{}.{}\", probe = \"{probe}\" }},\n",
                i / 250,
                i % 250 + 1
            ));
        }
        config.push_str("]\n");
    }
    let path = dir.join("switchyard.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 overall, i.e. 12 and 13 after it.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn scale(window: Duration) {
    let (mut child, targets) = start_targets();
    let dir = tempfile::tempdir().unwrap();
    let config = scale_config(dir.path(), &targets);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let loaded = Instant::now();
    let app = runtime.block_on(async { App::start(&config) }).unwrap();
    println!(
        "health_scale: {ENDPOINTS} endpoints, {} targets {MIX:?}, 1 s interval, 500 ms timeout; start-up {:?}",
        targets.len(),
        loaded.elapsed()
    );
    std::thread::sleep(WARM_UP);
    let stats = app.health.stats().clone();
    stats.reset();
    let (cpu0, child_cpu0) = (cpu_seconds("self"), cpu_seconds(&child.id().to_string()));
    let started = Instant::now();
    std::thread::sleep(window);
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu1, child_cpu1) = (cpu_seconds("self"), cpu_seconds(&child.id().to_string()));
    let s = stats.snapshot();
    let report = app.health.snapshot();
    let down = report
        .endpoints
        .iter()
        .filter(|e| e.state == HealthState::Down)
        .count();
    let up = report
        .endpoints
        .iter()
        .filter(|e| e.state == HealthState::Up)
        .count();
    println!(
        "health_scale: window {elapsed:.1} s: {} probes = {:.0} probes/s (expected {ENDPOINTS}/s), {} failed",
        s.probes,
        s.probes as f64 / elapsed,
        s.failures
    );
    println!(
        "health_scale: schedule lag p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        s.lag_p50.as_secs_f64() * 1e3,
        s.lag_p99.as_secs_f64() * 1e3,
        s.lag_max.as_secs_f64() * 1e3
    );
    println!(
        "health_scale: CPU switchyard {:.1}% (100% = one core), targets child {:.1}%",
        (cpu1 - cpu0) / elapsed * 100.0,
        (child_cpu1 - child_cpu0) / elapsed * 100.0
    );
    println!(
        "health_scale: verdicts: {up} up, {down} down (expected {} up, {} down)",
        ENDPOINTS * 28 / 40,
        ENDPOINTS * 12 / 40
    );
    drop(app);
    drop(runtime);
    // Closing its stdin ends the child; wait so it leaves no zombie.
    drop(child.stdin.take());
    let _ = child.wait();
}

fn failover() {
    let target_rt = targets::target_runtime();
    let mut primary = Target::http(target_rt.handle(), Behavior::Healthy);
    let backup = Target::http(target_rt.handle(), Behavior::Healthy);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("zones")).unwrap();
    std::fs::write(dir.path().join("zones/bench.test.zone"), ZONE).unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            r#"version = 1
[server]
dns_listen = ["127.0.0.1:0"]
api_listen = "127.0.0.1:0"
zones_dir = "zones"
state_dir = "state"
udp_workers = 1

[checks.web]
kind = "http"
interval_ms = 1000
timeout_ms = 500
fall = 2
rise = 2

[regions.primary]
check = "web"
endpoints = [{{ address = "127.0.1.1", probe = "{}" }}]
[regions.backup]
check = "web"
endpoints = [{{ address = "127.0.2.1", probe = "{}" }}]

[services."app.bench.test"]
policy = "failover"
regions = ["primary", "backup"]
"#,
            primary.addr, backup.addr
        ),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(async { App::start(&config) }).unwrap();
    let dns = app.dns.local_addrs[0];
    let mut times = Vec::new();
    for _ in 0..3 {
        // Settled up and answered, at a random phase of its probe schedule.
        wait(Duration::from_secs(10), || {
            app.health
                .registry()
                .get("primary", "127.0.1.1")
                .unwrap()
                .state
                == HealthState::Up
                && answer(dns) == "127.0.1.1"
        });
        std::thread::sleep(Duration::from_millis(fastrand::u64(0..1000)));
        primary.kill();
        let killed = Instant::now();
        wait(Duration::from_secs(10), || answer(dns) == "127.0.2.1");
        times.push(killed.elapsed());
        primary.revive();
    }
    let ms: Vec<String> = times
        .iter()
        .map(|t| format!("{:.0}", t.as_secs_f64() * 1e3))
        .collect();
    println!(
        "health_failover: backend killed until DNS answers changed, 1 s interval, fall = 2, coalesce 50 ms: [{}] ms",
        ms.join(", ")
    );
}

fn wait(limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "condition not met within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The first A answer for app.bench.test over UDP.
fn answer(dns: SocketAddr) -> String {
    let mut msg = Message::new(0x1234, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(
        Name::from_str("app.bench.test.").unwrap(),
        RecordType::A,
    ));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    socket.send_to(&msg.to_vec().unwrap(), dns).unwrap();
    let mut buf = [0u8; 1500];
    let Ok(n) = socket.recv(&mut buf) else {
        return String::new();
    };
    Message::from_vec(&buf[..n])
        .ok()
        .and_then(|m| m.answers.first().map(|r| r.data.to_string()))
        .unwrap_or_default()
}
