//! `switchyard demo --cluster`: three regions on loopback, each with one
//! etcd member, one Switchyard instance and one backend. It changes a
//! weight through one instance and shows all three answer the same, then
//! kills one region entirely (etcd member, instance, backend) and shows
//! the two survivors fail it over and keep taking writes. Needs `etcd` on
//! PATH; every process it starts is stopped by PID when it ends.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use super::{DemoDir, REGIONS, backend, call};
use crate::contract::{Status, VoteSource};

/// The failover name every step queries: us-east, then eu-west, then ap-south.
const NAME: &str = "api.example.com";
/// The region the demo kills.
const LOST: usize = 1;

/// A child process stopped (SIGKILL, by PID) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One region: its etcd member, instance and backend.
struct Region {
    name: &'static str,
    address: &'static str,
    etcd: Option<Proc>,
    etcd_client: String,
    instance: Option<Proc>,
    dns: SocketAddr,
    api: SocketAddr,
    backend: Option<tokio::task::AbortHandle>,
}

/// Runs the cluster demo; the process exit code.
pub fn run() -> Result<ExitCode, String> {
    if !on_path("etcd") {
        eprintln!(
            "switchyard demo --cluster needs `etcd` on PATH.\n\
             Install it with `apt-get install etcd-server` (Debian, Ubuntu), `brew install etcd` (macOS),\n\
             or a release binary from https://github.com/etcd-io/etcd/releases, then run this again."
        );
        return Ok(ExitCode::FAILURE);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))?;
    let dir = DemoDir::create().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let token = format!("demo-{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    std::fs::write(dir.0.join("tokens"), format!("demo:{token}\n"))
        .map_err(|e| format!("cannot write the token file: {e}"))?;

    println!(
        "Switchyard cluster demo: 3 regions, each with an etcd member, an instance and a backend"
    );
    let ports: Vec<(u16, u16)> = (0..REGIONS.len())
        .map(|_| (free_port(), free_port()))
        .collect();
    let mut regions = Vec::new();
    let mut probes = Vec::new();
    for (i, ((name, address), (client, _))) in REGIONS.iter().zip(&ports).enumerate() {
        let (probe, abort) = runtime
            .block_on(backend(name))
            .map_err(|e| format!("cannot start the {name} backend: {e}"))?;
        probes.push(probe);
        regions.push(Region {
            name,
            address,
            etcd: Some(start_etcd(&dir.0, i, &ports)?),
            etcd_client: format!("http://127.0.0.1:{client}"),
            instance: None,
            dns: SocketAddr::from(([127, 0, 0, 1], free_port())),
            api: SocketAddr::from(([127, 0, 0, 1], free_port())),
            backend: Some(abort),
        });
    }
    for region in &regions {
        wait(Duration::from_secs(15), "etcd to be healthy", || {
            etcd_healthy(&region.etcd_client)
        })?;
    }
    let clients: Vec<&str> = regions.iter().map(|r| r.etcd_client.as_str()).collect();
    println!("  etcd members: {}", clients.join(", "));
    for i in 0..regions.len() {
        let config = write_instance(&dir.0, i, &regions, &probes)?;
        let started = start_instance(&exe, &config)?;
        regions[i].instance = Some(started);
    }
    for region in &regions {
        // Generous: three instances and three etcd members start at once,
        // and on a loaded two-core machine that has taken over 20 s.
        wait(
            Duration::from_secs(60),
            "every instance to see three live instances and count votes",
            || {
                let Ok(status) = status(region.api, &token) else {
                    return false;
                };
                let live = status.instances.iter().filter(|i| i.live).count();
                live == 3
                    && status
                        .health_votes
                        .is_some_and(|v| v.source == VoteSource::Cluster)
            },
        )?;
        println!(
            "  region {:<8} DNS {}  API http://{}  answers {}",
            region.name, region.dns, region.api, region.address
        );
    }
    let ctl = format!(
        "{} ctl --api {} --token {token}",
        exe.display(),
        regions[0].api
    );
    println!("\n  (try `{ctl} status` in another terminal while this runs)");
    show(&regions, "every instance answers the first tier");
    expect_all(&regions, REGIONS[0].1)?;

    println!("\n1. Set us-east's weight to 0 through the us-east instance only ...");
    let started = Instant::now();
    call(
        regions[0].api,
        &token,
        "PUT",
        "/v1/regions/us-east/weight",
        weight(0, "switchyard demo --cluster"),
    )?;
    wait(
        Duration::from_secs(10),
        "every instance to answer eu-west",
        || all_answer(&regions, REGIONS[1].1),
    )?;
    show(
        &regions,
        &format!(
            "all three moved to eu-west in {} ms",
            started.elapsed().as_millis()
        ),
    );

    println!(
        "\n2. Lose region {} entirely: its etcd member, its instance and its backend ...",
        REGIONS[LOST].0
    );
    let started = Instant::now();
    {
        let lost = &mut regions[LOST];
        lost.instance.take();
        lost.etcd.take();
        if let Some(abort) = lost.backend.take() {
            abort.abort();
        }
    }
    let survivors: Vec<&Region> = regions.iter().filter(|r| r.instance.is_some()).collect();
    wait(
        Duration::from_secs(30),
        "the survivors to fail eu-west over to ap-south",
        || {
            survivors
                .iter()
                .all(|r| answers(r.dns).is_ok_and(|a| a == [REGIONS[2].1]))
        },
    )?;
    show_some(
        &survivors,
        &format!(
            "both survivors failed over in {} ms",
            started.elapsed().as_millis()
        ),
    );

    println!(
        "\n3. Writes still work with two of three etcd members: restore us-east through the ap-south instance ..."
    );
    let started = Instant::now();
    call(
        survivors[1].api,
        &token,
        "PUT",
        "/v1/regions/us-east/weight",
        weight(100, "switchyard demo --cluster: restore"),
    )?;
    wait(
        Duration::from_secs(10),
        "both survivors to answer us-east",
        || {
            survivors
                .iter()
                .all(|r| answers(r.dns).is_ok_and(|a| a == [REGIONS[0].1]))
        },
    )?;
    show_some(
        &survivors,
        &format!(
            "both survivors answer us-east again after {} ms",
            started.elapsed().as_millis()
        ),
    );

    // The lost instance's lease (3 s) runs out: its record and its votes go.
    wait(
        Duration::from_secs(15),
        "the lost instance's lease to expire",
        || {
            status(survivors[0].api, &token).is_ok_and(|status| {
                status
                    .instances
                    .iter()
                    .any(|i| i.instance == REGIONS[LOST].0 && !i.live)
            })
        },
    )?;
    let status = status(survivors[0].api, &token)?;
    println!(
        "\nWhat {} knows of the instances (the lost one's lease has expired):",
        survivors[0].name
    );
    for i in &status.instances {
        println!(
            "  {:<8} live {:<5} generation {:<4} last contact {}  config {}",
            i.instance,
            i.live,
            i.generation,
            i.last_contact,
            if i.config_matches { "same" } else { "DIFFERS" },
        );
    }
    if let Some(votes) = &status.health_votes {
        println!(
            "Health verdicts: {} (quorum {}):",
            match votes.source {
                VoteSource::Cluster => "cluster",
                VoteSource::Local => "local",
            },
            votes.quorum
        );
        for e in &votes.endpoints {
            println!(
                "  {:<8} {:<13} up votes {}  down votes {}  -> {}",
                e.region,
                e.endpoint,
                e.up_votes,
                e.down_votes,
                if e.up { "up" } else { "DOWN" }
            );
        }
    }
    println!("\ndemo passed; stopping every etcd member, instance and backend.");
    drop(regions);
    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(dir);
    Ok(ExitCode::SUCCESS)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// A free loopback port for UDP and TCP.
fn free_port() -> u16 {
    loop {
        let Ok(udp) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = udp.local_addr() else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", addr.port())).is_ok() {
            return addr.port();
        }
    }
}

fn start_etcd(dir: &Path, i: usize, ports: &[(u16, u16)]) -> Result<Proc, String> {
    let name = |i: usize| REGIONS[i].0;
    let cluster: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(j, (_, peer))| format!("{}=http://127.0.0.1:{peer}", name(j)))
        .collect();
    let (client, peer) = ports[i];
    let data = dir.join("etcd").join(name(i));
    std::fs::create_dir_all(&data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    let log = std::fs::File::create(dir.join("etcd").join(format!("{}.log", name(i))))
        .map_err(|e| format!("cannot create the etcd log: {e}"))?;
    let child = Command::new("etcd")
        .arg("--name")
        .arg(name(i))
        .arg("--data-dir")
        .arg(&data)
        .arg("--listen-client-urls")
        .arg(format!("http://127.0.0.1:{client}"))
        .arg("--advertise-client-urls")
        .arg(format!("http://127.0.0.1:{client}"))
        .arg("--listen-peer-urls")
        .arg(format!("http://127.0.0.1:{peer}"))
        .arg("--initial-advertise-peer-urls")
        .arg(format!("http://127.0.0.1:{peer}"))
        .arg("--initial-cluster")
        .arg(cluster.join(","))
        .arg("--initial-cluster-token")
        .arg(format!("switchyard-demo-{}", std::process::id()))
        .arg("--initial-cluster-state")
        .arg("new")
        .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start etcd: {e}"))?;
    Ok(Proc(child))
}

/// `GET /v1/status` from the instance at `api`.
fn status(api: SocketAddr, token: &str) -> Result<Status, String> {
    let value = call(api, token, "GET", "/v1/status", None)?;
    serde_json::from_value(value).map_err(|e| format!("unexpected /v1/status answer: {e}"))
}

/// A weight change's body.
fn weight(weight: u32, why: &str) -> Option<serde_json::Value> {
    serde_json::to_value(crate::contract::WeightRequest {
        weight,
        expires_in_secs: None,
        why: why.into(),
        force: false,
    })
    .ok()
}

fn etcd_healthy(client: &str) -> bool {
    let api = client.trim_start_matches("http://");
    crate::ctl::http::request(api, "GET", "/health", None, None)
        .is_ok_and(|r| r.status == 200 && String::from_utf8_lossy(&r.body).contains("true"))
}

/// Writes region `i`'s zone and config into `dir/<region>/`; the
/// config's path.
fn write_instance(
    dir: &Path,
    i: usize,
    regions: &[Region],
    probes: &[SocketAddr],
) -> Result<PathBuf, String> {
    let region = &regions[i];
    let own = dir.join(region.name);
    std::fs::create_dir_all(own.join("zones")).map_err(|e| e.to_string())?;
    std::fs::write(
        own.join("zones/example.com.zone"),
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\n@ NS ns2\n@ NS ns3\nns1 A 127.0.0.1\nns2 A 127.0.0.2\nns3 A 127.0.0.3\n",
    )
    .map_err(|e| e.to_string())?;
    // Its own region's etcd member first: the client sticks to the first
    // that answers.
    let mut endpoints = vec![format!("\"{}\"", region.etcd_client)];
    endpoints.extend(
        regions
            .iter()
            .filter(|r| r.name != region.name)
            .map(|r| format!("\"{}\"", r.etcd_client)),
    );
    let config = format!(
        r#"# Written by `switchyard demo --cluster` for region {name}.
version = 1

[server]
dns_listen = ["{dns}"]
api_listen = "{api}"
zones_dir = "zones"
state_dir = "state"
udp_workers = 1

[api]
tokens_file = "../tokens"

[cluster]
store = "etcd"
endpoints = [{endpoints}]
prefix = "/switchyard/demo/"
instance = "{name}"
lease_ttl_secs = 3

[health]
quorum = "majority"

[checks.web]
kind = "http"
interval_ms = 300
timeout_ms = 200
fall = 2
rise = 2
initial = "up"

[regions.us-east]
check = "web"
endpoints = [{{ address = "{a0}", probe = "{p0}" }}]

[regions.eu-west]
check = "web"
endpoints = [{{ address = "{a1}", probe = "{p1}" }}]

[regions.ap-south]
check = "web"
endpoints = [{{ address = "{a2}", probe = "{p2}" }}]

[services."{NAME}"]
policy = "failover"
ttl = 30
tiers = [["us-east"], ["eu-west"], ["ap-south"]]
"#,
        name = region.name,
        dns = region.dns,
        api = region.api,
        endpoints = endpoints.join(", "),
        a0 = REGIONS[0].1,
        a1 = REGIONS[1].1,
        a2 = REGIONS[2].1,
        p0 = probes[0],
        p1 = probes[1],
        p2 = probes[2],
    );
    let path = own.join("switchyard.toml");
    std::fs::write(&path, config).map_err(|e| e.to_string())?;
    Ok(path)
}

fn start_instance(exe: &Path, config: &Path) -> Result<Proc, String> {
    let dir = config.parent().unwrap_or(Path::new("."));
    let log = std::fs::File::create(dir.join("log")).map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .args(["serve", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    Ok(Proc(child))
}

fn wait(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while !check() {
        if Instant::now() > deadline {
            return Err(format!(
                "gave up waiting for {what} after {} s",
                timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The A records `NAME` gets from `dns`, over UDP.
fn answers(dns: SocketAddr) -> Result<Vec<String>, String> {
    let mut message = Message::new(fastrand::u16(..), MessageType::Query, OpCode::Query);
    message.add_query(Query::query(
        Name::from_str(NAME).map_err(|e| e.to_string())?,
        RecordType::A,
    ));
    let bytes = message.to_vec().map_err(|e| e.to_string())?;
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    socket.send_to(&bytes, dns).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 1500];
    let n = socket.recv(&mut buf).map_err(|e| e.to_string())?;
    let reply = Message::from_vec(&buf[..n]).map_err(|e| e.to_string())?;
    let mut out: Vec<String> = reply.answers.iter().map(|r| r.data.to_string()).collect();
    out.sort();
    Ok(out)
}

fn all_answer(regions: &[Region], address: &str) -> bool {
    regions
        .iter()
        .all(|r| answers(r.dns).is_ok_and(|a| a == [address]))
}

fn show(regions: &[Region], what: &str) {
    show_some(&regions.iter().collect::<Vec<_>>(), what);
}

fn show_some(regions: &[&Region], what: &str) {
    println!("   {what}:");
    for region in regions {
        let got = answers(region.dns).map_or_else(|e| format!("error: {e}"), |a| a.join(" "));
        println!(
            "     dig @{} -p {} {NAME} A   ->  {got}",
            region.dns.ip(),
            region.dns.port()
        );
    }
    let _ = std::io::stdout().flush();
}

fn expect_all(regions: &[Region], address: &str) -> Result<(), String> {
    if all_answer(regions, address) {
        Ok(())
    } else {
        Err(format!("not every instance answers {address}"))
    }
}
