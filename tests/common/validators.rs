//! Validating resolvers for the DNSSEC tests, started for real on loopback.
//!
//! - [`Resolver::unbound`] and [`Resolver::kresd`] (Knot Resolver) listen on
//!   127.0.0.1 at a free port, send every query for the test zones to an
//!   authoritative server on loopback (Unbound: `stub-zone`; Knot Resolver:
//!   `policy.FORWARD`), hold the zone's trust anchor (DS or DNSKEY) and
//!   validate. Neither can send a query off loopback: Unbound refuses every
//!   other upstream address (`do-not-query-address`) and has a root hint of
//!   127.0.0.1; Knot Resolver sends from 127.0.0.1, refuses names outside the
//!   test zones and has the same root hint. Root priming, trust anchor
//!   signalling and clock-skew probes are off.
//! - [`Delv`] runs `delv` with `-a` (an anchor file for the zone) and
//!   `+root=ZONE` against the authoritative server itself.
//! - [`Nsd`] serves one zone file (a known-good authoritative server), and
//!   [`LdnsSigner`] signs zone text with `ldns-signzone` (a known-good
//!   signer), so the harness is proved before Switchyard signs anything.
//! - [`CorruptingProxy`] forwards UDP to an authoritative server and flips
//!   one bit of every RRSIG signature in replies for one name.
//! - [`zonemaster`] runs Zonemaster's DNSSEC test module in a network
//!   namespace of its own (Zonemaster only speaks to port 53).
//!
//! Every process runs in its own process group under a temp dir and is
//! stopped by PID on drop. A missing tool is a skip (with a message) unless
//! `SWITCHYARD_REQUIRE_VALIDATORS=1`, as on CI, where it is a failure.

#![allow(unreachable_pub)] // a private module of each test crate that includes it
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// The NXNAME meta-type of compact denial of existence (RFC 9824).
pub const NXNAME: u16 = 128;

/// Set to `1` (as on CI) to make a missing validator a failure, not a skip.
pub const REQUIRE_ENV: &str = "SWITCHYARD_REQUIRE_VALIDATORS";

/// Finds an executable in /usr/sbin, /usr/bin or on `PATH`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let fixed = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name));
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    fixed.chain(on_path).find(|p| p.is_file())
}

/// The paths of `names`, or `None` after printing why `test` is skipped.
/// Panics instead when `SWITCHYARD_REQUIRE_VALIDATORS=1`.
pub fn tools_or_skip(test: &str, names: &[&str]) -> Option<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        match find_tool(name) {
            Some(path) => found.push(path),
            None => missing.push(*name),
        }
    }
    if missing.is_empty() {
        return Some(found);
    }
    let why = format!(
        "{test}: {} not installed (apt-get install unbound knot-resolver bind9-dnsutils \
         ldnsutils nsd zonemaster-cli)",
        missing.join(", ")
    );
    if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
        panic!("{why}, and {REQUIRE_ENV}=1");
    }
    eprintln!("skipping {why}");
    None
}

/// A port free for both UDP and TCP on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP port 0");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

// ---------------------------------------------------------------- processes

/// A child process in its own process group, with its temp dir; stopped by
/// PID (SIGTERM, then SIGKILL to its group) on drop.
pub struct Daemon {
    /// What it is, for messages.
    pub name: &'static str,
    /// Its config, logs and state.
    pub dir: tempfile::TempDir,
    child: Child,
    logs: Vec<&'static str>,
}

impl Daemon {
    /// Starts `command` (its stdout and stderr go to `stdout.log` in `dir`).
    fn spawn(
        name: &'static str,
        dir: tempfile::TempDir,
        mut command: Command,
        logs: &[&'static str],
    ) -> Daemon {
        let out = std::fs::File::create(dir.path().join("stdout.log")).expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
        let mut all = vec!["stdout.log"];
        all.extend_from_slice(logs);
        Daemon {
            name,
            dir,
            child,
            logs: all,
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process's logs, for failure messages.
    pub fn log(&self) -> String {
        self.logs
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits until `addr` answers `probe` (any reply) over UDP; `Err(log)`
    /// if the process exits or `limit` passes first.
    fn wait_answering(
        &mut self,
        addr: SocketAddr,
        probe: &Message,
        limit: Duration,
    ) -> Result<(), String> {
        let bytes = probe.to_vec().expect("encode probe");
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if !self.alive() {
                return Err(format!("{} exited:\n{}", self.name, self.log()));
            }
            if udp_exchange(addr, &bytes, Duration::from_millis(300)).is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "{} did not answer in {limit:?}:\n{}",
            self.name,
            self.log()
        ))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Anything left in the group we created (NSD's helpers) goes too.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- anchors

/// A trust anchor: one DS or DNSKEY record in presentation format.
#[derive(Clone, Debug)]
pub struct Anchor {
    /// Owner name, absolute, lower case (`example.com.`).
    pub owner: String,
    /// `DS` or `DNSKEY`.
    pub rtype: String,
    /// The RDATA fields, in order (a base64 key or hex digest joined).
    pub rdata: Vec<String>,
}

impl Anchor {
    /// Parses `owner [ttl] [class] DS|DNSKEY rdata...`; `None` for anything else.
    pub fn parse(line: &str) -> Option<Anchor> {
        let line = line.split(';').next()?.trim();
        let fields: Vec<&str> = line.split_whitespace().collect();
        let at = fields
            .iter()
            .position(|f| f.eq_ignore_ascii_case("DS") || f.eq_ignore_ascii_case("DNSKEY"))?;
        if at == 0 || fields.len() < at + 4 {
            return None;
        }
        let mut owner = fields[0].to_ascii_lowercase();
        if !owner.ends_with('.') {
            owner.push('.');
        }
        let rtype = fields[at].to_ascii_uppercase();
        // Three numeric fields, then the key or digest (which may be split).
        let mut rdata: Vec<String> = fields[at + 1..at + 4]
            .iter()
            .map(|s| s.to_string())
            .collect();
        rdata.push(fields[at + 4..].concat());
        Some(Anchor {
            owner,
            rtype,
            rdata,
        })
    }

    /// Every DS or DNSKEY line in `text` (e.g. `switchyard dnssec ds` output).
    pub fn all_in(text: &str) -> Vec<Anchor> {
        text.lines().filter_map(Anchor::parse).collect()
    }

    /// `owner IN TYPE rdata`, as Unbound and Knot Resolver take it.
    pub fn presentation(&self) -> String {
        format!("{} IN {} {}", self.owner, self.rtype, self.rdata.join(" "))
    }

    /// The clause for delv's `trust-anchors { }` block.
    fn delv_clause(&self) -> String {
        let kind = if self.rtype == "DS" {
            "static-ds"
        } else {
            "static-key"
        };
        format!(
            "\"{}\" {kind} {} {} {} \"{}\";",
            self.owner, self.rdata[0], self.rdata[1], self.rdata[2], self.rdata[3]
        )
    }
}

// ---------------------------------------------------------------- resolvers

/// Where a resolver sends queries for one zone (and the names below it).
#[derive(Clone, Debug)]
pub struct Upstream {
    /// The zone, absolute (`example.com.`).
    pub zone: String,
    /// Its authoritative servers, on loopback (the resolver picks among them).
    pub addrs: Vec<SocketAddr>,
}

impl Upstream {
    /// `zone` served at `addr`.
    pub fn new(zone: &str, addr: SocketAddr) -> Upstream {
        Upstream::many(zone, &[addr])
    }

    /// `zone` served by every one of `addrs` (e.g. instances sharing keys).
    pub fn many(zone: &str, addrs: &[SocketAddr]) -> Upstream {
        let mut zone = zone.to_ascii_lowercase();
        if !zone.ends_with('.') {
            zone.push('.');
        }
        Upstream {
            zone,
            addrs: addrs.to_vec(),
        }
    }
}

/// Knobs a test may turn on a resolver.
#[derive(Clone, Debug, Default)]
pub struct ResolverOptions {
    /// Cap on cached TTLs (positive and negative): 0 makes Unbound fetch
    /// (and validate) afresh for every query; Knot Resolver caps at 1 s.
    pub max_cache_ttl: Option<u32>,
    /// Unbound only: validate signatures as if it were this time
    /// (`YYYYMMDDhhmmss`), to see expired or not-yet-valid signatures.
    pub unbound_validation_date: Option<String>,
    /// Unbound only: ask upstream over TCP only (`tcp-upstream`).
    pub unbound_tcp_upstream: bool,
    /// Unbound only: the EDNS buffer size it advertises upstream (answers
    /// larger than it arrive truncated and are fetched again over TCP).
    pub unbound_edns_size: Option<u16>,
    /// Unbound only: pass clients' EDNS Client Subnet upstream (the
    /// `subnetcache` module), or the client's own /24 when it sends none.
    pub unbound_ecs: bool,
    /// Unbound only: aggressive use of the DNSSEC-validated cache (RFC
    /// 8198, `aggressive-nsec`): names a cached NSEC covers are denied, and
    /// wildcard answers synthesised, without asking upstream.
    pub unbound_aggressive_nsec: bool,
}

/// A validating resolver (Unbound or Knot Resolver) on 127.0.0.1.
pub struct Resolver {
    /// `unbound` or `kresd`.
    pub name: &'static str,
    /// Where it answers DNS.
    pub addr: SocketAddr,
    daemon: Daemon,
}

impl Resolver {
    /// Starts Unbound for `upstreams` with `anchors`; panics if it won't start.
    pub fn unbound(
        binary: &Path,
        upstreams: &[Upstream],
        anchors: &[Anchor],
        options: &ResolverOptions,
    ) -> Resolver {
        retry_start("unbound", || {
            Resolver::try_unbound(binary, upstreams, anchors, options, free_port())
        })
    }

    fn try_unbound(
        binary: &Path,
        upstreams: &[Upstream],
        anchors: &[Anchor],
        options: &ResolverOptions,
        port: u16,
    ) -> Result<Resolver, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display().to_string();
        let modules = if options.unbound_ecs {
            "subnetcache validator iterator"
        } else {
            "validator iterator"
        };
        let mut conf = format!(
            r#"server:
    interface: 127.0.0.1
    port: {port}
    do-ip6: no
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    use-syslog: no
    logfile: "{d}/unbound.log"
    verbosity: 1
    val-log-level: 2
    num-threads: 1
    so-reuseport: no
    access-control: 127.0.0.0/8 allow
    module-config: "{modules}"
    qname-minimisation: no
    # Random query-name case (0x20): signed answers must survive it.
    use-caps-for-id: yes
    trust-anchor-signaling: no
    root-key-sentinel: no
    # Unbound answers names under "test." itself (RFC 6761) unless told not to.
    local-zone: "test." nodefault
    # Upstreams are on loopback; nothing else may ever be queried, whatever
    # a referral in a test zone says (its addresses are documentation data).
    do-not-query-localhost: no
    root-hints: "{d}/root.hints"
"#
        );
        for block in [
            "0.0.0.0/2",
            "64.0.0.0/3",
            "96.0.0.0/4",
            "112.0.0.0/5",
            "120.0.0.0/6",
            "124.0.0.0/7",
            "126.0.0.0/8",
            "128.0.0.0/1",
        ] {
            conf.push_str(&format!("    do-not-query-address: {block}\n"));
        }
        if let Some(ttl) = options.max_cache_ttl {
            conf.push_str(&format!(
                "    cache-max-ttl: {ttl}\n    cache-max-negative-ttl: {ttl}\n"
            ));
        }
        if options.unbound_ecs {
            conf.push_str(
                "    send-client-subnet: 127.0.0.0/8\n    client-subnet-always-forward: yes\n    \
                 max-client-subnet-ipv4: 24\n",
            );
        }
        if let Some(size) = options.unbound_edns_size {
            conf.push_str(&format!("    edns-buffer-size: {size}\n"));
        }
        if options.unbound_aggressive_nsec {
            conf.push_str("    aggressive-nsec: yes\n");
        }
        if options.unbound_tcp_upstream {
            conf.push_str("    tcp-upstream: yes\n");
        }
        if let Some(date) = &options.unbound_validation_date {
            // No skew allowance (by default 10% of a signature's validity,
            // 1 h to 24 h), so the window is judged exactly.
            conf.push_str(&format!(
                "    val-override-date: \"{date}\"\n    val-sig-skew-min: 0\n    val-sig-skew-max: 0\n"
            ));
        }
        for anchor in anchors {
            conf.push_str(&format!(
                "    trust-anchor: \"{}\"\n",
                anchor.presentation()
            ));
        }
        conf.push_str("remote-control:\n    control-enable: no\n");
        for up in upstreams {
            conf.push_str(&format!("stub-zone:\n    name: \"{}\"\n", up.zone));
            for addr in &up.addrs {
                conf.push_str(&format!("    stub-addr: {}@{}\n", addr.ip(), addr.port()));
            }
        }
        std::fs::write(
            dir.path().join("root.hints"),
            ". 3600000 NS a.root-servers.net.\na.root-servers.net. 3600000 A 127.0.0.1\n",
        )
        .expect("write root hints");
        let conf_path = dir.path().join("unbound.conf");
        std::fs::write(&conf_path, &conf).expect("write unbound.conf");
        let mut command = Command::new(binary);
        command.arg("-d").arg("-c").arg(&conf_path);
        let daemon = Daemon::spawn("unbound", dir, command, &["unbound.log", "unbound.conf"]);
        Resolver::ready("unbound", daemon, port, upstreams)
    }

    /// Starts Knot Resolver for `upstreams` with `anchors`; panics if it won't start.
    pub fn kresd(
        binary: &Path,
        upstreams: &[Upstream],
        anchors: &[Anchor],
        options: &ResolverOptions,
    ) -> Resolver {
        retry_start("kresd", || {
            Resolver::try_kresd(binary, upstreams, anchors, options, free_port())
        })
    }

    fn try_kresd(
        binary: &Path,
        upstreams: &[Upstream],
        anchors: &[Anchor],
        options: &ResolverOptions,
        port: u16,
    ) -> Result<Resolver, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display().to_string();
        let mut conf = format!(
            r#"net.ipv6 = false
net.listen('127.0.0.1', {port}, {{ kind = 'dns' }})
-- Queries leave from 127.0.0.1, so they cannot reach anything off loopback.
net.outgoing_v4('127.0.0.1')
-- No root priming, clock-skew probes or trust anchor signalling (all would
-- query the root); the only trust anchors are the test zones'.
modules.unload('priming')
modules.unload('detect_time_skew')
modules.unload('detect_time_jump')
modules.unload('ta_signal_query')
trust_anchors.remove('.')
modules.load('hints')
hints.root({{['a.root-servers.net.'] = '127.0.0.1'}})
cache.open(10 * MB, 'lmdb://{d}/cache')
log_level('info')
"#
        );
        if let Some(ttl) = options.max_cache_ttl {
            // The minimum (5 s by default) must not exceed the maximum.
            // Knot Resolver's cap is at least 1 s.
            conf.push_str(&format!(
                "cache.min_ttl(0)\ncache.max_ttl({})\n",
                ttl.max(1)
            ));
        }
        for anchor in anchors {
            conf.push_str(&format!("trust_anchors.add('{}')\n", anchor.presentation()));
        }
        // The most specific zone first: the first matching rule wins.
        let mut sorted = upstreams.to_vec();
        sorted.sort_by_key(|u| std::cmp::Reverse(u.zone.matches('.').count()));
        for up in &sorted {
            let targets: Vec<String> = up
                .addrs
                .iter()
                .map(|a| format!("'{}@{}'", a.ip(), a.port()))
                .collect();
            conf.push_str(&format!(
                "policy.add(policy.suffix(policy.FORWARD({{{}}}), {{todname('{}')}}))\n",
                targets.join(", "),
                up.zone
            ));
        }
        conf.push_str("policy.add(policy.all(policy.REFUSE))\n");
        let conf_path = dir.path().join("kresd.conf");
        std::fs::write(&conf_path, &conf).expect("write kresd.conf");
        let rundir = dir.path().join("run");
        std::fs::create_dir(&rundir).expect("kresd rundir");
        let mut command = Command::new(binary);
        command.arg("-n").arg("-c").arg(&conf_path).arg(&rundir);
        let daemon = Daemon::spawn("kresd", dir, command, &["kresd.conf"]);
        Resolver::ready("kresd", daemon, port, upstreams)
    }

    fn ready(
        name: &'static str,
        mut daemon: Daemon,
        port: u16,
        upstreams: &[Upstream],
    ) -> Result<Resolver, String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let zone = upstreams.first().map_or(".", |u| u.zone.as_str());
        let probe = validating_query(zone, RecordType::SOA);
        daemon.wait_answering(addr, &probe, Duration::from_secs(15))?;
        Ok(Resolver { name, addr, daemon })
    }

    /// Asks the resolver `name`/`qtype` with RD and DO set.
    pub fn ask(&self, name: &str, qtype: RecordType) -> Message {
        ask(self.addr, name, qtype).unwrap_or_else(|| {
            panic!(
                "{} gave no reply for {name} {qtype}:\n{}",
                self.name,
                self.log()
            )
        })
    }

    /// The resolver's logs (validation failures are logged at level 2).
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

fn retry_start<T>(name: &str, mut start: impl FnMut() -> Result<T, String>) -> T {
    let mut last = String::new();
    for _ in 0..3 {
        match start() {
            Ok(t) => return t,
            Err(log) => last = log,
        }
    }
    panic!("{name} did not start; last log:\n{last}");
}

/// A recursive query with DO set and a 1232-byte EDNS buffer.
pub fn validating_query(name: &str, qtype: RecordType) -> Message {
    let mut msg = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_str(name).expect("name"), qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_dnssec_ok(true);
    msg.set_edns(edns);
    msg
}

fn rand_id() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    (fastrand::usize(..) ^ NEXT.fetch_add(7919, Ordering::Relaxed)) as u16
}

/// Like [`ask`], with an EDNS Client Subnet option for `subnet`
/// (`198.51.100.0/24`); UDP only.
pub fn ask_with_ecs(
    addr: SocketAddr,
    name: &str,
    qtype: RecordType,
    subnet: &str,
) -> Option<Message> {
    use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
    let mut query = validating_query(name, qtype);
    let subnet: ClientSubnet = subnet.parse().expect("subnet");
    query
        .edns
        .as_mut()
        .expect("EDNS")
        .options_mut()
        .insert(EdnsOption::Subnet(subnet));
    let reply = udp_exchange(
        addr,
        &query.to_vec().expect("encode"),
        Duration::from_secs(6),
    )?;
    Message::from_vec(&reply).ok()
}

/// Asks `addr` `name`/`qtype` with RD and DO (UDP, then TCP if truncated);
/// `None` if three tries, 5 seconds each, got no reply. A stub resolver
/// retries too; a validator's verdict is a reply (SERVFAIL when bogus), so
/// retrying a silence hides none.
pub fn ask(addr: SocketAddr, name: &str, qtype: RecordType) -> Option<Message> {
    for attempt in 1..=3 {
        if let Some(msg) = ask_once(addr, name, qtype) {
            if attempt > 1 {
                eprintln!("{addr}: {name} {qtype} answered on try {attempt}");
            }
            return Some(msg);
        }
    }
    None
}

fn ask_once(addr: SocketAddr, name: &str, qtype: RecordType) -> Option<Message> {
    let query = validating_query(name, qtype);
    let bytes = query.to_vec().expect("encode query");
    // Validation can take a few upstream round trips: be patient.
    let reply = udp_exchange(addr, &bytes, Duration::from_secs(5))?;
    let msg = Message::from_vec(&reply).ok()?;
    if !msg.metadata.truncation {
        return Some(msg);
    }
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).ok()?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).ok()?;
    Message::from_vec(&buf).ok()
}

/// One UDP exchange from 127.0.0.1; `None` on timeout. Replies whose ID
/// does not match are ignored.
pub fn udp_exchange(addr: SocketAddr, bytes: &[u8], limit: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket.send_to(bytes, addr).ok()?;
    let deadline = Instant::now() + limit;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let n = socket.recv(&mut buf).ok()?;
        if n >= 2 && bytes.len() >= 2 && buf[..2] == bytes[..2] {
            return Some(buf[..n].to_vec());
        }
    }
}

/// `rcode, AD` and the answer records, for assertion messages.
pub fn describe(msg: &Message) -> String {
    let mut s = format!(
        "rcode={} ad={}",
        msg.metadata.response_code, msg.metadata.authentic_data
    );
    for (section, records) in [("an", &msg.answers), ("ns", &msg.authorities)] {
        for r in records.iter() {
            s.push_str(&format!(
                "\n    {section} {} {} {} {}",
                r.name,
                r.ttl,
                r.record_type(),
                r.data
            ));
        }
    }
    s
}

/// A validated answer: NOERROR or NXDOMAIN with the AD bit.
pub fn validated(msg: &Message) -> bool {
    matches!(
        msg.metadata.response_code,
        ResponseCode::NoError | ResponseCode::NXDomain
    ) && msg.metadata.authentic_data
}

/// A validated denial that `name` exists: NXDOMAIN, or (compact denial of
/// existence, RFC 9824) NOERROR with no answer and an NSEC owned by `name`
/// whose type bitmap holds NXNAME (type 128).
pub fn validated_nxdomain(msg: &Message, name: &str) -> bool {
    if !validated(msg) {
        return false;
    }
    if msg.metadata.response_code == ResponseCode::NXDomain {
        return true;
    }
    let (Ok(owner), Some(question)) = (Name::from_str(name), msg.queries.first()) else {
        return false;
    };
    msg.metadata.response_code == ResponseCode::NoError
        && msg
            .answers
            .iter()
            .all(|r| r.record_type() != question.query_type())
        && msg.authorities.iter().any(|r| {
            r.name == owner
                && matches!(&r.data, RData::DNSSEC(DNSSECRData::NSEC(nsec))
                    if nsec.type_bit_maps().any(|t| u16::from(t) == NXNAME))
        })
}

/// A bogus answer as a validating resolver gives it: SERVFAIL, no AD.
pub fn bogus(msg: &Message) -> bool {
    msg.metadata.response_code == ResponseCode::ServFail && !msg.metadata.authentic_data
}

// ---------------------------------------------------------------- delv

/// `delv` pointed at an authoritative server with the zone's trust anchors.
pub struct Delv {
    binary: PathBuf,
    dir: tempfile::TempDir,
    server: SocketAddr,
    root: String,
}

/// What `delv` printed for one query.
#[derive(Debug)]
pub struct DelvResult {
    /// Its exit status was success.
    pub success: bool,
    /// Standard output and error together.
    pub output: String,
}

impl DelvResult {
    /// The answer (positive or negative) was validated from the anchor.
    pub fn fully_validated(&self) -> bool {
        self.output.contains("; fully validated")
            || self.output.contains("; negative response, fully validated")
    }
}

impl Delv {
    /// delv asking `server`, trusting `anchors` (all for one zone: the
    /// first anchor's owner becomes `+root`).
    pub fn new(binary: &Path, server: SocketAddr, anchors: &[Anchor]) -> Delv {
        assert!(!anchors.is_empty(), "delv needs a trust anchor");
        let dir = tempfile::tempdir().expect("temp dir");
        let clauses: Vec<String> = anchors.iter().map(Anchor::delv_clause).collect();
        std::fs::write(
            dir.path().join("anchors.conf"),
            format!("trust-anchors {{\n{}\n}};\n", clauses.join("\n")),
        )
        .expect("write anchors");
        Delv {
            binary: binary.to_path_buf(),
            dir,
            server,
            root: anchors[0].owner.clone(),
        }
    }

    /// Runs `delv name qtype` (bounded by its own timeouts).
    pub fn query(&self, name: &str, qtype: &str) -> DelvResult {
        let out = Command::new(&self.binary)
            .arg("-a")
            .arg(self.dir.path().join("anchors.conf"))
            .arg(format!("+root={}", self.root))
            .arg("-4")
            .arg(format!("@{}", self.server.ip()))
            .arg("-p")
            .arg(self.server.port().to_string())
            .arg(name)
            .arg(qtype)
            .stdin(Stdio::null())
            .output()
            .expect("run delv");
        DelvResult {
            success: out.status.success(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
}

// ---------------------------------------------------------------- NSD

/// NSD serving one zone file on 127.0.0.1 at a free port.
pub struct Nsd {
    /// Where it answers.
    pub addr: SocketAddr,
    daemon: Daemon,
}

impl Nsd {
    /// Serves `zone` from the text `zone_text`; panics if NSD won't start.
    pub fn start(binary: &Path, zone: &str, zone_text: &str) -> Nsd {
        retry_start("nsd", || {
            Nsd::try_start(binary, zone, zone_text, free_port())
        })
    }

    fn try_start(binary: &Path, zone: &str, zone_text: &str, port: u16) -> Result<Nsd, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf_path = write_nsd_conf(dir.path(), zone, zone_text, port);
        let mut command = Command::new(binary);
        command.arg("-d").arg("-c").arg(&conf_path);
        let mut daemon = Daemon::spawn("nsd", dir, command, &["nsd.log"]);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut probe = validating_query(zone, RecordType::SOA);
        probe.metadata.recursion_desired = false;
        daemon.wait_answering(addr, &probe, Duration::from_secs(15))?;
        Ok(Nsd { addr, daemon })
    }

    /// NSD's logs.
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

/// Writes `zone.zone` and an `nsd.conf` serving it on 127.0.0.1:`port`
/// into `dir`; returns the config's path.
pub fn write_nsd_conf(dir: &Path, zone: &str, zone_text: &str, port: u16) -> PathBuf {
    let d = dir.display();
    let zone_file = dir.join("zone.zone");
    std::fs::write(&zone_file, zone_text).expect("write zone");
    let conf = format!(
        r#"server:
    ip-address: 127.0.0.1@{port}
    port: {port}
    do-ip6: no
    server-count: 1
    reuseport: no
    username: ""
    chroot: ""
    zonesdir: "{d}"
    database: ""
    zonelistfile: "{d}/zone.list"
    pidfile: "{d}/nsd.pid"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    logfile: "{d}/nsd.log"
    verbosity: 1
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: {zone}
    zonefile: "{zf}"
"#,
        zf = zone_file.display(),
    );
    let conf_path = dir.join("nsd.conf");
    std::fs::write(&conf_path, conf).expect("write nsd.conf");
    conf_path
}

// ---------------------------------------------------------------- ldns

/// A known-good signer: one `ldns-keygen` key (a KSK, used as a CSK) and
/// `ldns-signzone` (NSEC).
pub struct LdnsSigner {
    dir: tempfile::TempDir,
    key: PathBuf,
    zone: String,
}

impl LdnsSigner {
    /// Makes a key for `zone` with `algorithm` (`ECDSAP256SHA256`, `ED25519`).
    pub fn new(zone: &str, algorithm: &str) -> LdnsSigner {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new(find_tool("ldns-keygen").expect("ldns-keygen"))
            .args(["-a", algorithm, "-k", zone])
            .current_dir(dir.path())
            .output()
            .expect("run ldns-keygen");
        assert!(
            out.status.success(),
            "ldns-keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let base = String::from_utf8_lossy(&out.stdout).trim().to_string();
        LdnsSigner {
            key: dir.path().join(base),
            dir,
            zone: zone.to_string(),
        }
    }

    /// The DS record for the key (what a parent would publish).
    pub fn ds(&self) -> Anchor {
        let text = std::fs::read_to_string(format!("{}.ds", self.key.display())).expect("read .ds");
        Anchor::all_in(&text)
            .into_iter()
            .next()
            .expect("a DS record")
    }

    /// The DNSKEY record for the key.
    pub fn dnskey(&self) -> Anchor {
        let text =
            std::fs::read_to_string(format!("{}.key", self.key.display())).expect("read .key");
        Anchor::all_in(&text)
            .into_iter()
            .next()
            .expect("a DNSKEY record")
    }

    /// Signs `zone_text`; `validity` is `(inception, expiration)` as
    /// `YYYYMMDDhhmmss` (ldns's default otherwise: now to four weeks on).
    pub fn sign(&self, zone_text: &str, validity: Option<(&str, &str)>) -> String {
        let unsigned = self.dir.path().join("zone.txt");
        let signed = self.dir.path().join("zone.signed");
        std::fs::write(&unsigned, zone_text).expect("write zone");
        let mut command = Command::new(find_tool("ldns-signzone").expect("ldns-signzone"));
        command.arg("-o").arg(&self.zone).arg("-f").arg(&signed);
        if let Some((inception, expiration)) = validity {
            command.args(["-i", inception, "-e", expiration]);
        }
        let out = command
            .arg(&unsigned)
            .arg(&self.key)
            .output()
            .expect("run ldns-signzone");
        assert!(
            out.status.success(),
            "ldns-signzone: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(&signed).expect("read signed zone")
    }
}

// ---------------------------------------------------------------- proxy

/// A UDP proxy on 127.0.0.1 in front of an authoritative server: replies to
/// queries for `target` get one bit of every RRSIG signature flipped, so a
/// validator must call them bogus; every other reply passes unchanged.
pub struct CorruptingProxy {
    /// Where resolvers should send queries.
    pub addr: SocketAddr,
    /// How many RRSIGs it has corrupted so far.
    pub corrupted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CorruptingProxy {
    /// Proxies to `upstream`, corrupting answers about `target` (any case).
    pub fn start(upstream: SocketAddr, target: &str) -> CorruptingProxy {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind proxy");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let target = target.trim_end_matches('.').to_ascii_lowercase();
        let stop = Arc::new(AtomicBool::new(false));
        let corrupted = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, corrupted) = (stop.clone(), corrupted.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65535];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let query = buf[..n].to_vec();
                    let Some(mut reply) = udp_exchange(upstream, &query, Duration::from_secs(2))
                    else {
                        continue;
                    };
                    if question_name(&query).as_deref() == Some(target.as_str()) {
                        corrupted.fetch_add(corrupt_rrsigs(&mut reply), Ordering::Relaxed);
                    }
                    let _ = socket.send_to(&reply, from);
                }
            })
        };
        CorruptingProxy {
            addr,
            corrupted,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for CorruptingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The first question's name, lower case, without the final dot.
fn question_name(msg: &[u8]) -> Option<String> {
    if msg.len() < 12 || u16::from_be_bytes([msg[4], msg[5]]) == 0 {
        return None;
    }
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += 1 + len;
    }
    Some(labels.join("."))
}

/// Flips the last bit of the signature of every RRSIG in `msg`; returns
/// how many it changed.
pub fn corrupt_rrsigs(msg: &mut [u8]) -> usize {
    fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
        loop {
            let len = *msg.get(pos)? as usize;
            if len == 0 {
                return Some(pos + 1);
            }
            if len & 0xc0 == 0xc0 {
                return Some(pos + 2);
            }
            pos += 1 + len;
        }
    }
    fn u16_at(msg: &[u8], pos: usize) -> Option<usize> {
        Some(u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]) as usize)
    }
    let walk = |msg: &mut [u8]| -> Option<usize> {
        let questions = u16_at(msg, 4)?;
        let records = u16_at(msg, 6)? + u16_at(msg, 8)? + u16_at(msg, 10)?;
        let mut pos = 12;
        for _ in 0..questions {
            pos = skip_name(msg, pos)? + 4;
        }
        let mut changed = 0;
        for _ in 0..records {
            pos = skip_name(msg, pos)?;
            let rtype = u16_at(msg, pos)?;
            let rdlen = u16_at(msg, pos + 8)?;
            pos += 10;
            if rtype == 46 && rdlen > 0 && pos + rdlen <= msg.len() {
                msg[pos + rdlen - 1] ^= 1;
                changed += 1;
            }
            pos += rdlen;
        }
        Some(changed)
    };
    walk(msg).unwrap_or(0)
}

// ---------------------------------------------------------------- Zonemaster

/// What Zonemaster's DNSSEC module said about a zone.
#[derive(Debug)]
pub struct ZonemasterReport {
    /// Everything it printed (level INFO and up), with the server's log.
    pub output: String,
    /// Its ERROR and CRITICAL lines.
    pub errors: Vec<String>,
    /// The test cases that printed anything (`DNSSEC05`, ...).
    pub testcases: Vec<String>,
}

/// Runs `zonemaster-cli --test DNSSEC` on `zone` as an undelegated test
/// (`--ns ns_name/127.0.0.1`, `--ds` from `ds`), in a network namespace of
/// its own: Zonemaster always queries port 53 (Zonemaster::Engine::Nameserver
/// builds its resolver from the address alone), so the authoritative server
/// must run inside the namespace too, on 127.0.0.1:53, where the namespace's
/// loopback is the only network. `server` is a shell command that starts the
/// server in the foreground; the script starts it, waits for it to answer,
/// runs Zonemaster and kills the server by PID. `None` when `unshare` cannot
/// make a namespace here (not root).
pub fn zonemaster(
    server: &str,
    zone: &str,
    ns_name: &str,
    ds: &[Anchor],
) -> Option<ZonemasterReport> {
    let unshare = find_tool("unshare")?;
    let ip = find_tool("ip")?;
    let dig = find_tool("dig")?;
    let zonemaster = find_tool("zonemaster-cli")?;
    let dir = tempfile::tempdir().expect("temp dir");
    let ds_args: Vec<String> = ds
        .iter()
        .filter(|a| a.rtype == "DS")
        .map(|a| format!("--ds {}", a.rdata.join(",")))
        .collect();
    let d = dir.path().display();
    let script = format!(
        r#"set -u
{ip} link set lo up || exit 90
{server} > {d}/server.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
i=0
until {dig} +time=1 +tries=1 +norec @127.0.0.1 {zone} SOA > /dev/null 2>&1; do
    i=$((i+1)); [ $i -gt 100 ] && {{ echo "server did not answer"; cat {d}/server.log; exit 91; }}
    sleep 0.1
done
timeout 120 {zonemaster} --no-ipv6 --show-testcase --level INFO --ns {ns_name}/127.0.0.1 {ds} --test DNSSEC {zone}
echo "zonemaster exit: $?"
"#,
        ip = ip.display(),
        dig = dig.display(),
        zonemaster = zonemaster.display(),
        ds = ds_args.join(" "),
    );
    let script_path = dir.path().join("zonemaster.sh");
    std::fs::write(&script_path, script).expect("write script");
    let out = Command::new(unshare)
        .arg("--net")
        .arg("sh")
        .arg(&script_path)
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    let mut output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if output.contains("unshare failed") || output.contains("Operation not permitted") {
        eprintln!("zonemaster: cannot make a network namespace here: {output}");
        return None;
    }
    output.push_str("\n--- server log\n");
    output.push_str(&std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default());
    let mut errors = Vec::new();
    let mut testcases = Vec::new();
    for line in output.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() >= 3 && fields[0].parse::<f64>().is_ok() {
            if matches!(fields[1], "ERROR" | "CRITICAL") {
                errors.push(line.to_string());
            }
            if !testcases.iter().any(|t| t == fields[2]) {
                testcases.push(fields[2].to_string());
            }
        }
    }
    Some(ZonemasterReport {
        output,
        errors,
        testcases,
    })
}
