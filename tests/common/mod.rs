//! Shared harness for black-box tests: starts the real server on
//! 127.0.0.1:0 from a temp config, and speaks DNS to it over real sockets.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod api;
pub mod cluster;
pub mod etcd;
pub mod instances;
pub mod raw_http;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use switchyard::app::App;
use switchyard::publisher::PublisherHandle;

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
    /// Serves the repository's zones with default settings.
    pub fn start() -> TestServer {
        TestServer::start_with(&repo_zones(), "")
    }

    /// Serves `zones_dir`, adding `server_extra` lines to `[server]`.
    pub fn start_with(zones_dir: &Path, server_extra: &str) -> TestServer {
        TestServer::start_on("127.0.0.1:0", zones_dir, server_extra)
    }

    /// Like [`TestServer::start_with`] on a chosen listen address (e.g. `[::1]:0`).
    pub fn start_on(listen: &str, zones_dir: &Path, server_extra: &str) -> TestServer {
        TestServer::start_full(listen, zones_dir, server_extra, "")
    }

    /// Serves `zones_dir` with `tail` (regions, services, geo) appended to the config.
    pub fn start_traffic(zones_dir: &Path, tail: &str) -> TestServer {
        TestServer::start_full("127.0.0.1:0", zones_dir, "", tail)
    }

    /// The general form: listen address, extra `[server]` lines, and extra top-level tables.
    pub fn start_full(
        listen: &str,
        zones_dir: &Path,
        server_extra: &str,
        tail: &str,
    ) -> TestServer {
        TestServer::start_config(listen, zones_dir, server_extra, tail, None)
    }

    /// Like [`TestServer::start_traffic`] with durable state in `state_dir`
    /// (shared across restarts) instead of the temp dir's `state`.
    pub fn start_with_state(zones_dir: &Path, tail: &str, state_dir: &Path) -> TestServer {
        TestServer::start_config("127.0.0.1:0", zones_dir, "", tail, Some(state_dir))
    }

    fn start_config(
        listen: &str,
        zones_dir: &Path,
        server_extra: &str,
        tail: &str,
        state_dir: Option<&Path>,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("switchyard.toml");
        let state_dir = state_dir.map_or("state".to_string(), |d| d.display().to_string());
        let tail = open_reads(tail);
        // Tests send bursts from 127.0.0.1 that response rate limiting (on
        // by default) would turn into slips; tests of RRL configure [rrl].
        let rrl = if tail.contains("[rrl]") {
            ""
        } else {
            "[rrl]\nenabled = false\n"
        };
        let config = format!(
            "version = 1\n[server]\ndns_listen = [\"{listen}\"]\napi_listen = \"127.0.0.1:0\"\nzones_dir = {zones:?}\nstate_dir = {state_dir:?}\nudp_workers = 2\n{server_extra}\n{tail}\n{rrl}",
            zones = zones_dir.display().to_string(),
        );
        std::fs::write(&config_path, config).expect("write config");
        TestServer::start_in(dir, config_path)
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
