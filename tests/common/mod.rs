//! Shared harness for black-box tests: starts the real server on
//! 127.0.0.1:0 from a temp config, and speaks DNS to it over real sockets.
#![allow(dead_code)]
// each test binary uses a different part of the harness
// Each test binary includes the harness as its own private module, so its
// `pub` items are unreachable from that crate's root by construction.
#![allow(unreachable_pub)]

pub mod api;
pub mod cluster;
pub mod drill_setup;
pub mod etcd;
pub mod instances;
pub mod paused;
pub mod raw_http;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RecordType};
use switchyard::app::App;
use switchyard::publisher::PublisherHandle;

/// A port free on 127.0.0.1 for both UDP and TCP right now (released
/// before use: a small race with other processes remains, and the server
/// then fails to start and says so).
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP port 0");
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Stops a daemon the test started in its own process group: SIGTERM to
/// it, up to 5 s to exit, then SIGKILL to anything left in the group
/// (NSD's forked server and xfrd, for example), and reaps it.
pub fn stop_group(child: &mut std::process::Child) {
    use std::process::{Command, Stdio};
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// The repository's own zones directory.
pub fn repo_zones() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("zones")
}

/// A running server in its own runtime; stopped on drop.
pub struct TestServer {
    /// Where it answers DNS (UDP and TCP).
    pub addr: SocketAddr,
    /// Where the control API answers HTTP.
    pub api: SocketAddr,
    /// Temp dir holding the config.
    pub dir: tempfile::TempDir,
    /// The config file.
    pub config_path: PathBuf,
    publisher: PublisherHandle,
    app: Option<App>,
    runtime: tokio::runtime::Runtime,
}

impl TestServer {
    /// How to start one: set what the test needs, then
    /// [`TestServerBuilder::start`].
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder {
            listen: "127.0.0.1:0".into(),
            zones: repo_zones(),
            server_extra: String::new(),
            tail: String::new(),
            state_dir: None,
        }
    }

    /// Starts on an existing dir and config (e.g. to restart on the same
    /// state dir); panics if the server refuses to start.
    pub fn start_in(dir: tempfile::TempDir, config_path: PathBuf) -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let app = runtime
            .block_on(async { App::start(&config_path) })
            .unwrap_or_else(|e| panic!("server failed to start: {e}"));
        TestServer {
            addr: app.dns.local_addrs[0],
            api: app.api_addr,
            publisher: app.publisher.clone(),
            dir,
            config_path,
            app: Some(app),
            runtime,
        }
    }

    /// Tells the publisher an endpoint is up or down, as a health checker would.
    pub fn set_health(&self, region: &str, endpoint: &str, up: bool) {
        self.runtime
            .block_on(self.publisher.set_health(region, endpoint, up))
            .expect("publisher running");
    }

    /// Every checked endpoint's health, as the control plane sees it.
    pub fn health(&self) -> switchyard::health::HealthReport {
        self.app.as_ref().expect("running").health.snapshot()
    }

    /// One endpoint's health status.
    pub fn endpoint_health(
        &self,
        region: &str,
        endpoint: &str,
    ) -> Option<switchyard::health::EndpointStatus> {
        self.app
            .as_ref()
            .expect("running")
            .health
            .registry()
            .get(region, endpoint)
    }

    /// The running app (for tests that need more than DNS).
    pub fn app(&self) -> &App {
        self.app.as_ref().expect("running")
    }

    /// Stops this server and starts a new one on the same dir, config and
    /// state dir, as a process restart would.
    pub fn restart(mut self) -> TestServer {
        let placeholder = tempfile::tempdir().expect("temp dir");
        let dir = std::mem::replace(&mut self.dir, placeholder);
        let config_path = self.config_path.clone();
        drop(self);
        TestServer::start_in(dir, config_path)
    }

    /// Asks the publisher to reload config and zones from disk.
    pub fn reload(&self) -> Result<u64, String> {
        self.runtime.block_on(self.publisher.reload())
    }
}

/// The `version` line and `[server]` table every test config starts with:
/// DNS on `dns_listen`, the API on `api_listen`, zones and state dirs, and
/// `server_extra` lines inside `[server]` (if any). Tables follow it; line
/// numbers in config errors count from its first line.
pub fn config_header(
    dns_listen: &str,
    api_listen: &str,
    zones_dir: &Path,
    state_dir: &Path,
    server_extra: &str,
) -> String {
    let mut header = format!(
        "version = 1\n[server]\ndns_listen = [\"{dns_listen}\"]\napi_listen = \"{api_listen}\"\nzones_dir = {zones:?}\nstate_dir = {state:?}\n",
        zones = zones_dir.display().to_string(),
        state = state_dir.display().to_string(),
    );
    if !server_extra.is_empty() {
        header += server_extra;
        header.push('\n');
    }
    header
}

/// How to start a [`TestServer`]: `TestServer::builder()`, then any of
/// the settings, then [`TestServerBuilder::start`]. Defaults: the
/// repository's zones, DNS on `127.0.0.1:0`, two UDP workers, no services,
/// state in the temp dir, reads open, RRL off.
#[derive(Debug, Clone)]
pub struct TestServerBuilder {
    listen: String,
    zones: PathBuf,
    server_extra: String,
    tail: String,
    state_dir: Option<PathBuf>,
}

impl TestServerBuilder {
    /// Where DNS listens (e.g. `[::1]:0`).
    pub fn listen(mut self, addr: &str) -> Self {
        self.listen = addr.to_string();
        self
    }

    /// The zones dir to serve.
    pub fn zones(mut self, dir: &Path) -> Self {
        self.zones = dir.to_path_buf();
        self
    }

    /// Extra lines inside `[server]`.
    pub fn server(mut self, lines: &str) -> Self {
        self.server_extra = lines.to_string();
        self
    }

    /// Tables after `[server]` (regions, services, geo, `[api]`, ...).
    pub fn tail(mut self, toml: &str) -> Self {
        self.tail = toml.to_string();
        self
    }

    /// Durable state in `dir` (shared across restarts) instead of the
    /// temp dir's `state`.
    pub fn state_dir(mut self, dir: &Path) -> Self {
        self.state_dir = Some(dir.to_path_buf());
        self
    }

    /// The config file this builder writes.
    pub fn config(&self) -> String {
        let state_dir = self
            .state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("state"));
        let tail = open_reads(&self.tail);
        // Tests send bursts from 127.0.0.1 that response rate limiting (on
        // by default) would turn into slips; tests of RRL configure [rrl].
        let rrl = if tail.contains("[rrl]") {
            ""
        } else {
            "[rrl]\nenabled = false\n"
        };
        let server_extra = format!("udp_workers = 2\n{}", self.server_extra);
        let header = config_header(
            &self.listen,
            "127.0.0.1:0",
            &self.zones,
            &state_dir,
            &server_extra,
        );
        format!("{header}\n{tail}\n{rrl}")
    }

    /// Writes the config into a fresh temp dir and starts the server;
    /// panics if it refuses to start.
    pub fn start(self) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("switchyard.toml");
        std::fs::write(&config_path, self.config()).expect("write config");
        TestServer::start_in(dir, config_path)
    }
}

/// One server on the repository's zones with default settings, started on
/// first use and shared by every test in the binary that only queries it.
/// It is never stopped: the test process's exit ends it.
pub fn shared_server() -> &'static TestServer {
    static SHARED: std::sync::OnceLock<TestServer> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| TestServer::builder().start())
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut app) = self.app.take() {
            let _guard = self.runtime.enter();
            app.dns.shutdown();
            app.health.shutdown();
            app.api.shutdown();
        }
    }
}

/// Reads are protected by default; most tests read without a token, so
/// the harness opens them unless the test's `[api]` table says otherwise.
pub fn open_reads(tail: &str) -> String {
    if tail.contains("protect_reads") {
        tail.to_string()
    } else if tail.contains("[api]\n") {
        tail.replacen("[api]\n", "[api]\nprotect_reads = false\n", 1)
    } else {
        format!("{tail}\n[api]\nprotect_reads = false\n")
    }
}

/// Writes zone files (`(origin, text)`) into a fresh temp dir.
pub fn zones_dir(zones: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (origin, text) in zones {
        std::fs::write(dir.path().join(format!("{origin}.zone")), text).expect("write zone");
    }
    dir
}

/// A query message for `name`/`qtype`, with EDNS(0) advertising `edns_size` if given.
pub fn make_query(name: &str, qtype: RecordType, edns_size: Option<u16>) -> Message {
    let mut msg = Message::new(0xbeef, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(Name::from_str(name).expect("name"), qtype));
    if let Some(size) = edns_size {
        let mut edns = Edns::new();
        edns.set_max_payload(size);
        msg.set_edns(edns);
    }
    msg
}

/// A query for `name`/`qtype` from a client in `subnet` (e.g.
/// `"192.0.2.0/24"`): EDNS(0) advertising 1232 bytes, with an EDNS Client
/// Subnet option whose source prefix is the subnet's and scope 0.
pub fn ecs_query(name: &str, qtype: RecordType, subnet: &str) -> Message {
    let mut msg = make_query(name, qtype, Some(1232));
    let subnet: ClientSubnet = subnet.parse().expect("subnet");
    msg.edns
        .as_mut()
        .expect("EDNS")
        .options_mut()
        .insert(EdnsOption::Subnet(subnet));
    msg
}

/// Sends raw bytes over UDP and returns the raw reply, or `None` on timeout.
pub fn udp_raw(addr: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let bind = if addr.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let socket = UdpSocket::bind(bind).expect("bind client");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket.send_to(bytes, addr).expect("send");
    let mut buf = vec![0u8; 65535];
    let n = socket.recv(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Sends `msg` over UDP and decodes the reply.
pub fn udp(addr: SocketAddr, msg: &Message) -> Message {
    let reply = udp_raw(addr, &msg.to_vec().unwrap()).expect("no UDP reply");
    Message::from_vec(&reply).expect("decode reply")
}

/// Plain UDP query without EDNS.
pub fn query(addr: SocketAddr, name: &str, qtype: RecordType) -> Message {
    udp(addr, &make_query(name, qtype, None))
}

/// Opens a TCP connection to the server.
pub fn tcp_connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// Writes one length-prefixed message on `stream`.
pub fn tcp_send(stream: &mut TcpStream, bytes: &[u8]) {
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).expect("tcp write");
}

/// Reads one length-prefixed message from `stream`.
pub fn tcp_recv(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

/// Sends `msg` over a fresh TCP connection and decodes the reply.
pub fn tcp(addr: SocketAddr, msg: &Message) -> Message {
    let mut stream = tcp_connect(addr);
    tcp_send(&mut stream, &msg.to_vec().unwrap());
    Message::from_vec(&tcp_recv(&mut stream).expect("tcp reply")).expect("decode reply")
}

/// The records of a section as sorted `name ttl type rdata` strings (names lower-cased).
pub fn rrs(records: &[hickory_proto::rr::Record]) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r.name.to_lowercase(),
                r.ttl,
                r.record_type(),
                r.data
            )
        })
        .collect();
    out.sort();
    out
}

#[derive(serde::Serialize)]
struct Code {
    iso_code: Option<&'static str>,
    code: Option<&'static str>,
}

#[derive(serde::Serialize)]
struct Coordinates {
    latitude: f64,
    longitude: f64,
}

#[derive(serde::Serialize)]
struct CityRecord {
    country: Code,
    continent: Code,
    location: Coordinates,
}

/// Writes a GeoLite2-City-shaped database with one documentation network
/// per continent: 192.0.2.0/24 GB/EU, 198.51.100.0/24 US/NA,
/// 203.0.113.0/24 JP/AS, 2001:db8:1::/48 AU/OC. The build epoch is fixed,
/// so the bytes are the same on every run.
pub fn write_test_mmdb(path: &Path) {
    let mut writer = mmdb_writer::Writer::builder("Switchyard-Test-City")
        .build_epoch(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .build();
    let rows: [(&str, &'static str, &'static str, f64, f64); 4] = [
        ("192.0.2.0/24", "GB", "EU", 51.5, -0.1),
        ("198.51.100.0/24", "US", "NA", 40.7, -74.0),
        ("203.0.113.0/24", "JP", "AS", 35.7, 139.7),
        ("2001:db8:1::/48", "AU", "OC", -33.9, 151.2),
    ];
    for (net, country, continent, latitude, longitude) in rows {
        let record = CityRecord {
            country: Code {
                iso_code: Some(country),
                code: None,
            },
            continent: Code {
                iso_code: None,
                code: Some(continent),
            },
            location: Coordinates {
                latitude,
                longitude,
            },
        };
        writer
            .insert(net.parse::<ipnet::IpNet>().unwrap(), &record)
            .unwrap();
    }
    std::fs::write(path, writer.to_bytes().unwrap()).unwrap();
}
