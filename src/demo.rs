//! `switchyard demo`: a self-contained local demo. Starts three tiny HTTP
//! backends on loopback standing in for the regions us-east, eu-west and
//! ap-south, writes a demo config (geo, weighted and failover services
//! whose health checks probe those backends, client vantages, an API
//! token) into a temp dir, starts Switchyard on free loopback ports, and
//! prints what to try. With `--drill` it runs a drill on one region, prints
//! the report, and exits 0 only if the drill passed, which needs nothing
//! beyond the binary (no `dig`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::App;
use crate::ctl::{drill, http};
use crate::drills::report::{DrillReport, Phase, Verdict};

// `switchyard demo --cluster`.
mod cluster;

/// The demo regions, with the documentation address each answers with.
const REGIONS: [(&str, &str); 3] = [
    ("us-east", "192.0.2.1"),
    ("eu-west", "198.51.100.1"),
    ("ap-south", "203.0.113.1"),
];

/// The demo vantages: name and client subnet (the same networks the demo
/// config places in GB, the US and Singapore).
const VANTAGES: [(&str, &str); 3] = [
    ("eu", "81.2.69.0/24"),
    ("us", "216.160.83.0/24"),
    ("ap", "202.196.224.0/24"),
];

/// `switchyard demo` arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run a drill, print its report and exit (0 if it passed).
    #[arg(long)]
    pub drill: bool,
    /// How long the drill keeps its region out, in seconds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub drill_secs: u64,
    /// The region the drill takes out.
    #[arg(long, default_value = "eu-west")]
    pub drill_region: String,
    /// Run the cluster demo instead: a 3-member etcd cluster and three
    /// instances as three regions; a weight change through one instance
    /// reaches all, and a lost region fails over (needs `etcd` on PATH).
    #[arg(long, conflicts_with = "drill")]
    pub cluster: bool,
}

/// A temp dir removed on drop (the crate's `tempfile` is a dev-dependency
/// only, and the demo needs nothing more than this).
struct DemoDir(PathBuf);

impl DemoDir {
    fn create() -> std::io::Result<DemoDir> {
        let dir = std::env::temp_dir().join(format!(
            "switchyard-demo-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(dir.join("zones"))?;
        Ok(DemoDir(dir))
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the demo; the process exit code.
pub fn run(args: DemoArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let outcome = if args.cluster {
        cluster::run()
    } else {
        demo(&args)
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn demo(args: &DemoArgs) -> Result<ExitCode, String> {
    if !REGIONS.iter().any(|(r, _)| *r == args.drill_region) {
        return Err(format!(
            "unknown region {:?} (the demo has us-east, eu-west, ap-south)",
            args.drill_region
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))?;
    let mut backends = Vec::new();
    for (region, _) in REGIONS {
        let (addr, _) = runtime
            .block_on(backend(region))
            .map_err(|e| format!("cannot start the {region} backend: {e}"))?;
        backends.push(addr);
    }
    let dir = DemoDir::create().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let token = format!("demo-{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let config = write_files(&dir.0, &backends, &token)
        .map_err(|e| format!("cannot write the demo config: {e}"))?;
    let app = {
        let _guard = runtime.enter();
        App::start(&config).map_err(|e| e.to_string())?
    };
    let dns = app.dns.local_addrs[0];
    let api = app.api_addr;
    print_intro(&dir.0, dns, api, &token, &backends);
    let code = if args.drill {
        run_drill(api, &token, args)?
    } else {
        println!("\nserving until Ctrl-C ...");
        let _ = std::io::stdout().flush();
        runtime.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
        ExitCode::SUCCESS
    };
    drop(app);
    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(dir);
    Ok(code)
}

/// A backend: answers every HTTP request with 200 and the region's name.
/// Aborting the returned handle closes its listener (a region lost).
async fn backend(region: &'static str) -> std::io::Result<(SocketAddr, tokio::task::AbortHandle)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                // One request per connection: the health checker's GET fits.
                let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
                let body = format!("{region} ok\n");
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok((addr, task.abort_handle()))
}

/// Writes the zone, tokens and config; returns the config's path.
fn write_files(dir: &Path, backends: &[SocketAddr], token: &str) -> std::io::Result<PathBuf> {
    std::fs::write(
        dir.join("zones/example.com.zone"),
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 127.0.0.1\nwww A 192.0.2.80\n",
    )?;
    std::fs::write(dir.join("tokens"), format!("demo:{token}\n"))?;
    let mut regions = String::new();
    for ((name, address), probe) in REGIONS.iter().zip(backends) {
        regions += &format!(
            "[regions.{name}]\ncheck = \"web\"\nendpoints = [{{ address = \"{address}\", probe = \"{probe}\" }}]\n\n"
        );
    }
    let vantages: Vec<String> = VANTAGES
        .iter()
        .map(|(name, net)| format!("{name} = \"{net}\""))
        .collect();
    let config = format!(
        r#"# Written by `switchyard demo`.
version = 1

[server]
dns_listen = ["127.0.0.1:0"]
api_listen = "127.0.0.1:0"
zones_dir = "zones"
state_dir = "state"
udp_workers = 1

[api]
tokens_file = "tokens"

[drills]
max_duration_secs = 600
probe_interval_ms = 100
converge_timeout_secs = 5
vantages = {{ {vantages} }}

[geo.networks]
"81.2.69.0/24"     = {{ country = "GB", continent = "EU", coordinates = [51.51, -0.13] }}
"216.160.83.0/24"  = {{ country = "US", continent = "NA", coordinates = [47.61, -122.33] }}
"202.196.224.0/24" = {{ country = "SG", continent = "AS", coordinates = [1.29, 103.85] }}

[checks.web]
kind = "http"
interval_ms = 500
timeout_ms = 250
fall = 2
rise = 2

{regions}
[services."geo.example.com"]
policy = "geo"
ttl = 30
[services."geo.example.com".geo]
default = ["us-east", "eu-west"]
continent = {{ EU = ["eu-west", "us-east"], NA = ["us-east", "eu-west"], AS = ["ap-south", "us-east"] }}

[services."app.example.com"]
policy = "weighted"
ttl = 30
regions = ["us-east", "eu-west", "ap-south"]

[services."api.example.com"]
policy = "failover"
ttl = 30
tiers = [["us-east"], ["eu-west", "ap-south"]]
"#,
        vantages = vantages.join(", ")
    );
    let path = dir.join("switchyard.toml");
    std::fs::write(&path, config)?;
    Ok(path)
}

fn print_intro(dir: &Path, dns: SocketAddr, api: SocketAddr, token: &str, backends: &[SocketAddr]) {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "switchyard".into());
    let port = dns.port();
    println!("Switchyard demo");
    println!("  DNS (UDP+TCP): {dns}");
    println!("  control API:   http://{api}   token: {token}");
    println!("  status page:   http://{api}/");
    println!(
        "  config:        {}/switchyard.toml (removed on exit)",
        dir.display()
    );
    for ((region, address), backend) in REGIONS.iter().zip(backends) {
        println!("  region {region:<8} answers {address:<13} health-checked at http://{backend}/");
    }
    println!("\nTry (dig is in bind9-dnsutils):");
    for (name, net) in VANTAGES {
        println!("  dig @127.0.0.1 -p {port} geo.example.com A +subnet={net} +short   # {name}");
    }
    println!(
        "  dig @127.0.0.1 -p {port} app.example.com A +short                    # weighted: repeat it"
    );
    println!("  dig @127.0.0.1 -p {port} api.example.com A +short                    # failover");
    let ctl = format!("{exe} ctl --api {api} --token {token}");
    println!("\n  {ctl} status");
    println!("  {ctl} services");
    println!("  {ctl} drill start eu-west --duration 30s --why \"practice\"");
    println!("  {ctl} drill list");
    println!("  {ctl} drill show <ID>");
    println!("  {ctl} drill stop <ID> --why \"enough\"");
    let _ = std::io::stdout().flush();
}

/// One API call (blocking); the JSON body, or the API's error.
fn call(
    api: SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let body = body.map(|b| b.to_string().into_bytes());
    let response = http::request(&api.to_string(), method, path, Some(token), body.as_deref())
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let value: Value = serde_json::from_slice(&response.body)
        .map_err(|e| format!("{method} {path}: body is not JSON: {e}"))?;
    if response.status != 200 {
        return Err(format!(
            "{method} {path}: HTTP {}: {value}",
            response.status
        ));
    }
    Ok(value)
}

/// An answer as the contract's type `T`.
fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| format!("unexpected answer from the API: {e}"))
}

/// Starts a drill, waits for its report, prints it; 0 if it passed.
fn run_drill(api: SocketAddr, token: &str, args: &DemoArgs) -> Result<ExitCode, String> {
    println!(
        "\nRunning a {} s drill on {}: answers must leave it from every vantage, then come back ...",
        args.drill_secs, args.drill_region
    );
    let _ = std::io::stdout().flush();
    let request = crate::contract::DrillRequest {
        regions: vec![args.drill_region.clone()],
        duration_secs: args.drill_secs,
        services: None,
        why: "switchyard demo --drill".into(),
        force: false,
    };
    let started: DrillReport = typed(call(
        api,
        token,
        "POST",
        "/v1/drills",
        serde_json::to_value(request).ok(),
    )?)?;
    let id = started.id;
    // Drill, then up to a convergence timeout for the restore, plus slack.
    let deadline = Instant::now() + Duration::from_secs(args.drill_secs + 30);
    let report = loop {
        let report: DrillReport =
            typed(call(api, token, "GET", &format!("/v1/drills/{id}"), None)?)?;
        if report.phase == Phase::Finished {
            break report;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "drill {id} did not finish in time: {}",
                drill::report(&report)
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    println!("\n{}", drill::report(&report));
    let _ = std::io::stdout().flush();
    Ok(if report.result == Verdict::Pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
