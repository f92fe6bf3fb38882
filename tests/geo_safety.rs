//! The health-aware safety rule over the real API: with two of three regions
//! failing their (real, loopback TCP) health checks, taking the third out by
//! an override or a drill is refused with 409 naming the service, unless
//! `force` is set.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use common::api::{ALICE, ZONE, call, error_code};
use common::{TestServer, query, zones_dir};
use hickory_proto::rr::RecordType;
use serde_json::{Value, json};

/// A loopback port with nothing listening: bound, then released.
fn refused_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

struct Setup {
    server: TestServer,
    _zones: tempfile::TempDir,
    _alive: TcpListener,
}

/// Regions a and b probe closed loopback ports (their checks fail); c probes
/// a listening one; d has no check at all (counts as healthy).
fn start() -> Setup {
    let zones = zones_dir(&[("example.com", ZONE)]);
    let tokens = zones.path().join("tokens");
    std::fs::write(&tokens, format!("alice:{ALICE}\n")).unwrap();
    let alive = TcpListener::bind("127.0.0.1:0").unwrap();
    let tail = format!(
        r#"
[api]
tokens_file = {tokens:?}

[health]
coalesce_ms = 0

[checks.tcp]
kind = "tcp"
interval_ms = 100
timeout_ms = 50
fall = 1
rise = 1

[drills]
max_duration_secs = 60
probe_interval_ms = 100
vantages = {{ any = "100.64.0.0/24" }}

[regions.a]
check = "tcp"
endpoints = [{{ address = "192.0.2.1", probe = "{a}" }}]
[regions.b]
check = "tcp"
endpoints = [{{ address = "192.0.2.2", probe = "{b}" }}]
[regions.c]
check = "tcp"
endpoints = [{{ address = "192.0.2.3", probe = "{c}" }}]
[regions.d]
endpoints = [{{ address = "192.0.2.4" }}]

[services."three.example.com"]
policy = "failover"
regions = ["a", "b", "c"]

[services."unchecked.example.com"]
policy = "failover"
regions = ["a", "d"]
"#,
        tokens = tokens.display().to_string(),
        a = refused_port(),
        b = refused_port(),
        c = alive.local_addr().unwrap(),
    );
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&tail)
        .start();
    Setup {
        server,
        _zones: zones,
        _alive: alive,
    }
}

impl Setup {
    fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        call(self.server.api, method, path, Some(ALICE), Some(body))
    }

    fn checks_healthy(&self, region: &str) -> Option<bool> {
        let (_, regions) = call(self.server.api, "GET", "/v1/regions", None, None);
        let list = regions["regions"].as_array().cloned().unwrap_or_default();
        list.iter()
            .find(|r| r["name"] == region)
            .and_then(|r| r["checks_healthy"].as_bool())
    }

    /// Waits (bounded) until a and b fail their checks and c passes.
    fn wait_for_verdicts(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = ["a", "b", "c"].map(|r| self.checks_healthy(r));
            if now == [Some(false), Some(false), Some(true)] {
                return;
            }
            assert!(Instant::now() < deadline, "verdicts never arrived: {now:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn answers(&self, name: &str) -> Vec<String> {
        let msg = query(self.server.addr, name, RecordType::A);
        msg.answers.iter().map(|r| r.data.to_string()).collect()
    }
}

#[test]
fn taking_out_the_last_region_passing_its_checks_is_refused_unless_forced() {
    let s = start();
    s.wait_for_verdicts();
    assert_eq!(s.answers("three.example.com."), ["192.0.2.3"]);

    // c is the only region both available and passing: forcing it down
    // would send three.example.com. to fail-open dead endpoints.
    let (status, body) = s.call(
        "POST",
        "/v1/regions/c/force",
        json!({"state": "down", "why": "maintenance"}),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), "unsafe_change");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("three.example.com."), "{message}");
    assert!(!message.contains("unchecked.example.com."), "{message}");
    assert_eq!(s.answers("three.example.com."), ["192.0.2.3"]);

    // A drain is the same mistake; so is a drill of c.
    let (status, _) = s.call("POST", "/v1/regions/c/drain", json!({"why": "drain"}));
    assert_eq!(status, 409);
    let (status, body) = s.call(
        "POST",
        "/v1/drills",
        json!({"regions": ["c"], "duration_secs": 5, "why": "practice"}),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("three.example.com."),
        "{body}"
    );

    // An endpoint without a check counts as healthy: unchecked.example.com.
    // keeps d, so forcing a (failing anyway) down is fine.
    let (status, body) = s.call(
        "POST",
        "/v1/regions/a/force",
        json!({"state": "down", "why": "a is broken"}),
    );
    assert_eq!(status, 200, "{body}");

    // With force, the change goes through.
    let (status, body) = s.call(
        "POST",
        "/v1/regions/c/force",
        json!({"state": "down", "why": "really", "force": true}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        s.answers("three.example.com."),
        ["192.0.2.1", "192.0.2.2", "192.0.2.3"],
        "fail open once nothing can serve"
    );
}
