//! The DNS side hardened for the open internet, against the real binary on
//! loopback: response rate limiting, the descriptor budget under a
//! descriptor-exhaustion attack, TCP deadlines (slowloris, clients that
//! never read) and a stalled stdout.
//!
//! Every server runs as `switchyard serve` on free loopback ports and is
//! stopped by its PID. Attack traffic comes from other loopback addresses
//! (127.0.0.2, 127.0.1.x, ...), which Linux routes to `lo` like 127.0.0.1.

mod common;

use common::free_port;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{make_query, tcp_recv, tcp_send};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

const ZONE: &str = "$ORIGIN gslb.test.
$TTL 300
@ IN SOA ns1.gslb.test. hostmaster.gslb.test. 1 7200 900 1209600 300
@ IN NS ns1.gslb.test.
ns1 IN A 192.0.2.53
www IN A 192.0.2.80
";

/// A TXT RRset of about 1,100 bytes: the amplification the issue measured.
fn big_txt() -> String {
    let strings: Vec<String> = (0..5)
        .map(|i| format!("\"{}\"", "x".repeat(200 + i)))
        .collect();
    format!("big IN TXT {}\n", strings.join(" "))
}

/// A running `switchyard serve`, killed (by PID) and reaped on drop.
struct Serve {
    child: Child,
    dns: SocketAddr,
    api: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on free ports with `zone_extra` appended to the zone
/// and `extra` to the config; `nofile` lowers RLIMIT_NOFILE (soft and
/// hard, as systemd's LimitNOFILE does) with prlimit; `stdout` is where
/// its log goes.
fn serve(
    zone_extra: &str,
    server_extra: &str,
    extra: &str,
    nofile: Option<u32>,
    stdout: Stdio,
) -> Serve {
    start(zone_extra, server_extra, extra, nofile, stdout, None)
}

/// [`serve`] with one environment variable set for the server.
fn serve_with_env(extra: &str, stdout: Stdio, env: (&str, &str)) -> Serve {
    start("", "", extra, None, stdout, Some(env))
}

fn start(
    zone_extra: &str,
    server_extra: &str,
    extra: &str,
    nofile: Option<u32>,
    stdout: Stdio,
    env: Option<(&str, &str)>,
) -> Serve {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    std::fs::write(
        dir.path().join("zones/gslb.test.zone"),
        format!("{ZONE}{zone_extra}"),
    )
    .unwrap();
    let (dns_port, api_port) = (free_port(), free_port());
    let config = dir.path().join("switchyard.toml");
    // These tests read /metrics without a token (reads are protected by default).
    let open_reads = if extra.contains("[api]") {
        ""
    } else {
        "[api]\nprotect_reads = false\n"
    };
    std::fs::write(
        &config,
        format!(
            "version = 1\n[server]\ndns_listen = [\"127.0.0.1:{dns_port}\"]\napi_listen = \"127.0.0.1:{api_port}\"\nzones_dir = \"zones\"\nstate_dir = \"state\"\nudp_workers = 2\n{server_extra}\n{extra}\n{open_reads}"
        ),
    )
    .unwrap();
    let binary = env!("CARGO_BIN_EXE_switchyard");
    let mut command = match nofile {
        Some(n) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={n}:{n}")).arg("--").arg(binary);
            c
        }
        None => Command::new(binary),
    };
    // RUST_LOG from the test's own environment would change the filter.
    command.env_remove("RUST_LOG");
    if let Some((key, value)) = env {
        command.env(key, value);
    }
    let child = command
        .args(["serve", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn switchyard serve");
    let server = Serve {
        child,
        dns: SocketAddr::from(([127, 0, 0, 1], dns_port)),
        api: SocketAddr::from(([127, 0, 0, 1], api_port)),
        _dir: dir,
    };
    let started = Instant::now();
    while ask_udp(server.dns, "www.gslb.test.", RecordType::A).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// One UDP query from 127.0.0.1; `None` without an answer within 1 s.
fn ask_udp(addr: SocketAddr, name: &str, qtype: RecordType) -> Option<Message> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let query = make_query(name, qtype, None).to_vec().unwrap();
    socket.send_to(&query, addr).ok()?;
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).ok()?;
    Message::from_vec(&buf[..n]).ok()
}

/// One TCP query from `from`; `None` on any failure within 2 s.
fn ask_tcp(addr: SocketAddr, from: Ipv4Addr, name: &str) -> Option<Message> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    socket
        .bind(&SocketAddr::new(IpAddr::V4(from), 0).into())
        .ok()?;
    socket
        .connect_timeout(&addr.into(), Duration::from_secs(2))
        .ok()?;
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    tcp_send(
        &mut stream,
        &make_query(name, RecordType::A, None).to_vec().unwrap(),
    );
    Message::from_vec(&tcp_recv(&mut stream).ok()?).ok()
}

/// A TCP connection from `from` that has sent one byte of a message.
fn slow_connection(addr: SocketAddr, from: Ipv4Addr) -> Option<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    socket
        .bind(&SocketAddr::new(IpAddr::V4(from), 0).into())
        .ok()?;
    socket
        .connect_timeout(&addr.into(), Duration::from_secs(1))
        .ok()?;
    let mut stream: TcpStream = socket.into();
    stream.write_all(&[1]).ok()?;
    Some(stream)
}

/// True once the server has closed `stream` (EOF or reset), reading for
/// at most `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let until = Instant::now() + within;
    let mut buf = [0u8; 65536];
    while Instant::now() < until {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// The body of a plain HTTP GET to the API.
fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

fn rrs_a(message: &Message) -> Vec<String> {
    message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.to_string()),
            _ => None,
        })
        .collect()
}

/// Sends `count` queries for the big TXT from `from` in bursts over about
/// `spread`, and counts (full answers, TC=1 slips) received.
fn flood(
    addr: SocketAddr,
    from: Ipv4Addr,
    count: usize,
    spread: Duration,
) -> (usize, usize, Duration) {
    let socket = UdpSocket::bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let query = make_query("big.gslb.test.", RecordType::TXT, Some(1232))
        .to_vec()
        .unwrap();
    let bursts: u32 = 20;
    let started = Instant::now();
    let (mut full, mut slipped) = (0, 0);
    let mut buf = [0u8; 4096];
    let mut drain = |full: &mut usize, slipped: &mut usize| {
        while let Ok(n) = socket.recv(&mut buf) {
            let reply = Message::from_vec(&buf[..n]).unwrap();
            if reply.metadata.truncation {
                assert!(reply.answers.is_empty() && reply.additionals.is_empty());
                *slipped += 1;
            } else {
                assert_eq!(reply.answers.len(), 1);
                *full += 1;
            }
        }
    };
    for burst in 0..bursts {
        for _ in 0..count / bursts as usize {
            socket.send_to(&query, addr).unwrap();
        }
        drain(&mut full, &mut slipped);
        let next = spread * (burst + 1) / bursts;
        if let Some(wait) = next.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    let sending = started.elapsed();
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    drain(&mut full, &mut slipped);
    (full, slipped, sending)
}

#[test]
fn rrl_limits_one_network_to_its_rate_plus_slips_and_spares_others() {
    let server = serve(
        &big_txt(),
        "",
        "[rrl]\nresponses_per_second = 20\nslip = 2\n",
        None,
        Stdio::null(),
    );
    let attacker = Ipv4Addr::new(127, 0, 0, 1);
    let count = 600;
    let (full, slipped, sending) = flood(server.dns, attacker, count, Duration::from_millis(1500));
    // Counted per calendar second: at most the rate for every second the
    // flood touched, plus the one it started in.
    let seconds = sending.as_secs() as usize + 2;
    assert!(full <= 20 * seconds, "{full} full answers in {sending:?}");
    assert!(full >= 20, "the first 20 must be answered: {full}");
    // Every 2nd withheld answer slips: no more, and not none.
    let withheld = count - full;
    assert!(slipped <= withheld / 2 + 1, "{slipped} slips of {withheld}");
    assert!(slipped >= withheld / 4, "{slipped} slips of {withheld}");
    // Meanwhile another /24 is not limited at all.
    let bystander = Ipv4Addr::new(127, 0, 1, 1);
    let (full, slipped, _) = flood(server.dns, bystander, 20, Duration::from_millis(200));
    assert_eq!((full, slipped), (20, 0));
    // And TCP is never limited, even for the flooding network.
    for _ in 0..30 {
        let reply = ask_tcp(server.dns, attacker, "big.gslb.test.").expect("TCP answer");
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    }
}

/// A loopback HTTP backend answering 200 to every request, on a thread
/// that serves until the test process exits.
fn backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nhealthy";
                    if stream.write_all(ok).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_descriptor_attack_moves_no_answer_and_tcp_keeps_answering() {
    let primary = backend();
    let backup = backend();
    let traffic = format!(
        r#"[health]
coalesce_ms = 0
[checks.web]
kind = "http"
interval_ms = 100
timeout_ms = 80
fall = 1
rise = 1
[regions.primary]
check = "web"
endpoints = [{{ address = "192.0.2.1", probe = "{primary}" }}]
[regions.backup]
check = "web"
endpoints = [{{ address = "192.0.2.2", probe = "{backup}" }}]
[services."app.gslb.test"]
policy = "failover"
ttl = 5
regions = ["primary", "backup"]
[rrl]
enabled = false
"#
    );
    // systemd's default limit, made smaller so the attack fits in a test.
    let server = serve(
        "",
        "tcp_idle_timeout_secs = 2",
        &traffic,
        Some(256),
        Stdio::null(),
    );
    let answer = |s: &Serve| ask_udp(s.dns, "app.gslb.test.", RecordType::A).map(|m| rrs_a(&m));
    let start = Instant::now();
    while answer(&server) != Some(vec!["192.0.2.1".to_string()]) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never answered the primary"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Phase 1: one host opens far more connections than there are
    // descriptors, each sending one byte (the issue's slowloris).
    let mut held = Vec::new();
    for _ in 0..400 {
        held.extend(slow_connection(server.dns, Ipv4Addr::new(127, 0, 0, 2)));
    }
    // Phase 2: many hosts, enough to fill the whole TCP budget.
    for host in 3..12 {
        for _ in 0..40 {
            held.extend(slow_connection(server.dns, Ipv4Addr::new(127, 0, 0, host)));
        }
    }
    assert!(
        held.len() > 100,
        "the attack did not connect: {}",
        held.len()
    );
    // For three seconds (over a hundred probe rounds, fall = 1): answers
    // never move, and legitimate TCP clients keep being answered (the
    // per-source cap leaves slots; slow ones are cut at the deadline).
    let until = Instant::now() + Duration::from_secs(3);
    let (mut tcp_ok, mut tcp_tries) = (0, 0);
    while Instant::now() < until {
        assert_eq!(
            answer(&server),
            Some(vec!["192.0.2.1".to_string()]),
            "answer moved under attack"
        );
        // A legitimate client retries a refused connection, as resolvers do.
        tcp_tries += 1;
        let legit = (0..5).find_map(|_| {
            ask_tcp(server.dns, Ipv4Addr::new(127, 0, 0, 1), "www.gslb.test.").or_else(|| {
                std::thread::sleep(Duration::from_millis(20));
                None
            })
        });
        if let Some(reply) = legit {
            assert_eq!(rrs_a(&reply), ["192.0.2.80"]);
            tcp_ok += 1;
        }
        // The attack keeps reconnecting.
        for host in 3..12 {
            held.extend(slow_connection(server.dns, Ipv4Addr::new(127, 0, 0, host)));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        tcp_ok, tcp_tries,
        "legitimate TCP answered {tcp_ok} of {tcp_tries}"
    );
    // Probes never failed: no endpoint ever went down.
    let metrics = http_get(server.api, "/metrics");
    assert!(
        !metrics.lines().any(|l| l
            .starts_with("switchyard_health_transitions_total{to=\"down\"} ")
            && !l.ends_with(" 0")),
        "{metrics:.3000}"
    );
    drop(held);
}

#[test]
fn slowloris_and_non_reading_clients_are_closed_within_the_deadline() {
    let server = serve(
        &big_txt(),
        "tcp_idle_timeout_secs = 1",
        "[rrl]\nenabled = false\n",
        None,
        Stdio::null(),
    );
    // One byte every 300 ms (a 257-byte message announced) never
    // completes: closed 1 s after its first byte, however steadily it
    // trickles.
    let mut slow = slow_connection(server.dns, Ipv4Addr::new(127, 0, 0, 1)).unwrap();
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(6) {
        std::thread::sleep(Duration::from_millis(300));
        if slow.write_all(&[1]).is_err() || closed_within(&mut slow, Duration::from_millis(1)) {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickling connection was kept");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "closed only after {took:?}");

    // A client that pipelines thousands of queries for a big answer and
    // never reads: the server's writes stall, and the write deadline
    // closes it.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.dns.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    let query = make_query("big.gslb.test.", RecordType::TXT, None)
        .to_vec()
        .unwrap();
    let mut framed = Vec::new();
    for _ in 0..3000 {
        framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
        framed.extend_from_slice(&query);
    }
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(&framed);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        closed_within(&mut stream, Duration::from_secs(10)),
        "a client that never reads was kept"
    );
    // The server itself is fine.
    assert!(ask_udp(server.dns, "www.gslb.test.", RecordType::A).is_some());
}

/// A query whose EDNS option runs past the end of the OPT record: answered,
/// but the wire library warns about each one.
fn malformed_edns_query() -> Vec<u8> {
    let mut q = make_query("www.gslb.test.", RecordType::A, None)
        .to_vec()
        .unwrap();
    q[11] = 1; // ARCOUNT
    // OPT: root, type 41, size 1232, TTL 0, RDLENGTH 6: option 10 claims 4
    // bytes and has 2.
    q.extend_from_slice(&[
        0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 6, 0, 10, 0, 4, 0xaa, 0xbb,
    ]);
    q
}

#[test]
fn a_stalled_stdout_does_not_stop_udp_answers_and_sigterm_still_works() {
    // stdout is a pipe this test never reads: once its 64 KiB fill, every
    // write to it blocks. The API's debug line for each connection that
    // ends in error, let through on purpose here, floods it: HTTP garbage
    // from a client is a log source outsiders control.
    let mut server = serve_with_env(
        "[rrl]\nenabled = false\n",
        Stdio::piped(),
        ("RUST_LOG", "info,switchyard::api=debug"),
    );
    let _unread = server.child.stdout.take();
    let log_dropped = |server: &Serve| {
        http_get(server.api, "/metrics")
            .lines()
            .find_map(|l| l.strip_prefix("switchyard_log_lines_dropped_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Bounded: at most 40 rounds of 1,000 connections, until the writer's
    // queue (8,192 lines) behind the full pipe overflows.
    let mut dropped = 0.0;
    for _ in 0..40 {
        for _ in 0..1000 {
            if let Ok(mut c) = TcpStream::connect(server.api) {
                let _ = c.write_all(b"NOT HTTP\r\n\r\n");
            }
        }
        dropped = log_dropped(&server);
        if dropped > 0.0 {
            break;
        }
    }
    assert!(dropped > 0.0, "the log never filled");
    // Answers keep coming while the log writer is stuck.
    for i in 0..9 {
        assert!(
            ask_udp(server.dns, "www.gslb.test.", RecordType::A).is_some(),
            "probe {i} unanswered with stdout stalled"
        );
    }
    // SIGTERM still ends the process, promptly.
    let pid = server.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "SIGTERM ignored with stdout stalled"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_wire_librarys_per_packet_warnings_are_filtered_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stdout.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = serve("", "", "[rrl]\nenabled = false\n", None, Stdio::from(log));
    let bad = malformed_edns_query();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut buf = [0u8; 4096];
    for _ in 0..200 {
        socket.send_to(&bad, server.dns).unwrap();
        assert!(socket.recv(&mut buf).is_ok(), "malformed EDNS unanswered");
    }
    drop(server);
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains("serving DNS"), "{text}");
    assert!(!text.contains("EDNS options"), "{text:.2000}");
}
