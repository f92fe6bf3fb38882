//! The status page tests' server: four regions on the map (three
//! health-checked against loopback HTTP targets), services of several
//! policies, tokens; and page helpers shared by the tests.
#![allow(unreachable_pub)] // a private module of each test (or bench) crate that includes it

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::browser::Browser;
use crate::common::TestServer;
use crate::common::api::{ALICE, call};
use crate::common::zones_dir;
use crate::targets::{Behavior, Target, target_runtime};

const ZONE: &str = "$TTL 300
@ SOA ns1 host 1 7200 900 1209600 60
@ NS ns1
ns1 A 192.0.2.53
";

/// Probe interval: short, so a dead backend is noticed well within the
/// page's 3 s budget (detection, publish, and the page's 1 s poll).
const INTERVAL_MS: u64 = 200;

/// A server with four regions on the map (three health-checked against
/// loopback targets), services of several policies, and tokens.
pub struct Setup {
    pub server: TestServer,
    /// Health-check targets: us-east (two), eu-west, ap-south.
    pub targets: Vec<Target>,
    pub _zones: tempfile::TempDir,
    pub runtime: tokio::runtime::Runtime,
}

impl Setup {
    /// `extra_api`: more `[api]` lines; `api_listen`: where the API binds.
    pub fn start(extra_api: &str, api_listen: &str) -> Setup {
        Setup::start_with(extra_api, api_listen, "")
    }

    /// Like [`Setup::start`], with more tables at the end of the config.
    pub fn start_with(extra_api: &str, api_listen: &str, tail: &str) -> Setup {
        // Open reads are said, not assumed from the default.
        let extra_api = if extra_api.contains("protect_reads") {
            extra_api
        } else {
            "protect_reads = false"
        };
        let runtime = target_runtime();
        let targets: Vec<Target> = (0..4)
            .map(|_| Target::http(runtime.handle(), Behavior::Healthy))
            .collect();
        let zones = zones_dir(&[("example.com", ZONE)]);
        let tokens = zones.path().join("tokens");
        std::fs::write(&tokens, format!("alice:{ALICE}\n")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("switchyard.toml");
        std::fs::write(
            &config_path,
            config(
                zones.path(),
                &tokens,
                extra_api,
                api_listen,
                &targets.iter().map(|t| t.addr).collect::<Vec<_>>(),
            ) + tail,
        )
        .unwrap();
        let server = TestServer::start_in(dir, config_path);
        Setup {
            server,
            targets,
            _zones: zones,
            runtime,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.server.api)
    }

    /// An API request with alice's token.
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = call(self.server.api, method, path, Some(ALICE), body);
        assert_eq!(status, 200, "{method} {path}: {value}");
        value
    }
}

fn config(
    zones: &std::path::Path,
    tokens: &std::path::Path,
    extra_api: &str,
    api_listen: &str,
    probes: &[SocketAddr],
) -> String {
    format!(
        r#"version = 1
[server]
dns_listen = ["127.0.0.1:0"]
api_listen = "{api_listen}"
zones_dir = {zones:?}
state_dir = "state"
udp_workers = 1

[api]
tokens_file = {tokens:?}
{extra_api}

[health]
coalesce_ms = 0

# The tests send bursts from 127.0.0.1 that response rate limiting would slip.
[rrl]
enabled = false

[checks.web]
kind = "http"
interval_ms = {INTERVAL_MS}
timeout_ms = 150
jitter_ms = 1
fall = 1
rise = 1

[geo.networks]
"81.2.69.0/24"     = {{ country = "GB", continent = "EU", coordinates = [51.51, -0.13] }}
"216.160.83.0/24"  = {{ country = "US", continent = "NA", coordinates = [47.61, -122.33] }}
"202.196.224.0/24" = {{ country = "SG", continent = "AS", coordinates = [1.29, 103.85] }}

[drills]
vantages = {{ eu = "81.2.69.0/24", us = "216.160.83.0/24", ap = "202.196.224.0/24" }}

[regions.us-east]
weight = 60
coordinates = [38.95, -77.45]
check = "web"
endpoints = [
  {{ id = "use-1", address = "192.0.2.1", probe = "{p0}" }},
  {{ id = "use-2", address = "192.0.2.2", probe = "{p1}" }},
]

[regions.eu-west]
weight = 30
coordinates = [53.35, -6.26]
check = "web"
endpoints = [{{ id = "euw-1", address = "198.51.100.1", probe = "{p2}" }}]

[regions.ap-south]
weight = 10
coordinates = [1.35, 103.82]
check = "web"
endpoints = [{{ id = "aps-1", address = "203.0.113.1", probe = "{p3}" }}]

[regions.sa-east]
weight = 20
coordinates = [-23.55, -46.63]
endpoints = [{{ id = "sae-1", address = "203.0.113.40" }}]

[services."app.example.com"]
policy = "weighted"
ttl = 30
regions = ["us-east", "eu-west", "ap-south", "sa-east"]

[services."api.example.com"]
policy = "failover"
ttl = 30
tiers = [["us-east"], ["eu-west", "ap-south"]]

[services."geo.example.com"]
policy = "geo"
ttl = 30
all_down = "fallback"
fallback = "us-east"

[services."geo.example.com".geo]
default = ["us-east", "eu-west"]
country = {{ GB = ["eu-west", "us-east"] }}
continent = {{ AS = ["ap-south", "us-east"], NA = ["us-east", "eu-west"] }}
"#,
        zones = zones.display().to_string(),
        tokens = tokens.display().to_string(),
        p0 = probes[0],
        p1 = probes[1],
        p2 = probes[2],
        p3 = probes[3],
    )
}

/// A script returning the `data-state` of a region's row.
pub fn region_state_js(region: &str) -> String {
    format!(
        "const r = document.querySelector('#regions tr[data-region=\"{region}\"]'); return r ? r.dataset.state : null;"
    )
}

/// Waits until the page shows `region` in `state`; how long that took.
pub fn wait_for_state(browser: &Browser, region: &str, state: &str, timeout: Duration) -> Duration {
    let script = format!(
        "const r = document.querySelector('#regions tr[data-region=\"{region}\"]'); return !!r && r.dataset.state === '{state}';"
    );
    browser
        .wait_for(&format!("{region} {state} on the page"), timeout, &script)
        .1
}

/// Waits until every checked endpoint has a verdict, so no first-probe
/// publish changes the generation under a comparison.
pub fn wait_for_verdicts(setup: &Setup) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let regions = setup.api("GET", "/v1/regions", None);
        let pending = regions["regions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["endpoints"].as_array().unwrap())
            .filter(|e| e["check"].is_object() && e["check"]["state"] == "unknown")
            .count();
        if pending == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "no verdicts: {regions}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Console entries that are errors (Chrome logs failed loads and CSP
/// violations there too).
pub fn errors(console: &[Value]) -> Vec<&Value> {
    console.iter().filter(|e| e["level"] == "SEVERE").collect()
}

/// Waits until the page shows all four regions.
pub fn wait_for_regions(browser: &Browser) {
    browser.wait_for(
        "four region rows",
        Duration::from_secs(10),
        "return document.querySelectorAll('#regions tbody tr').length === 4;",
    );
}

/// A PNG of the whole page (the window grown to its height).
pub fn full_page(browser: &Browser) -> Vec<u8> {
    // The window's height less its viewport's is what the frame takes.
    let sizes = browser.eval(
        "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight];",
        vec![],
    );
    let height = sizes[0].as_u64().unwrap() + sizes[1].as_u64().unwrap_or(0);
    browser.set_window(1400, height as u32);
    std::thread::sleep(Duration::from_millis(300));
    let png = browser.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    png
}
