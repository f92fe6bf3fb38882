//! Health checks end to end: real HTTP, HTTPS and TCP targets on loopback
//! started by the test, Switchyard probing them, and DNS answers over real
//! UDP following their health.
//!
//! Every endpoint's served address is a loopback address and every checked
//! one has `probe = "127.0.0.1:<port>"`, so no probe leaves the machine.

mod common;
#[path = "common/targets.rs"]
mod targets;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::rr::RecordType;
use switchyard::health::{FailureReason, HealthState};
use targets::{Behavior, Target, refused_port, target_runtime};

const ZONE: &str = "$TTL 300
@ SOA ns1 host 1 7200 900 1209600 60
@ NS ns1
ns1 A 127.0.0.53
";

/// Probe interval in these tests, and the failure thresholds.
const INTERVAL_MS: u64 = 100;
const FALL: u64 = 2;
const RISE: u64 = 2;

/// Slack for scheduling on a loaded 2-core machine (CI runs tests in parallel).
const SLACK: Duration = Duration::from_millis(700);

/// The sorted A answers for `name`.
fn answers(server: &TestServer, name: &str) -> BTreeSet<String> {
    query(server.addr, name, RecordType::A)
        .answers
        .iter()
        .map(|r| r.data.to_string())
        .collect()
}

fn set(addrs: &[&str]) -> BTreeSet<String> {
    addrs.iter().map(|a| a.to_string()).collect()
}

/// Queries until the answers equal `want` or `deadline` passes; returns
/// how long it took.
fn wait_for_answers(
    server: &TestServer,
    name: &str,
    want: &BTreeSet<String>,
    deadline: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let got = answers(server, name);
        if &got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < deadline,
            "{name}: still {got:?} after {deadline:?}, want {want:?}; health: {:#?}",
            server.health()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A failover service over two regions, one endpoint each: the primary
/// checked by `[checks.web]` (plus `web_extra`), the backup by a plain check.
fn failover_config(primary: &Target, backup: &Target, web_extra: &str) -> String {
    format!(
        r#"
[health]
coalesce_ms = 0

[checks.web]
kind = "http"
path = "/healthz"
interval_ms = {INTERVAL_MS}
timeout_ms = 50
fall = {FALL}
rise = {RISE}
body_contains = "healthy"
{web_extra}

[regions.primary]
check = "web"
endpoints = [{{ address = "127.0.1.1", probe = "{p}" }}]

[checks.plain]
kind = "http"
interval_ms = {INTERVAL_MS}
timeout_ms = 50

[regions.backup]
check = "plain"
endpoints = [{{ address = "127.0.2.1", probe = "{b}" }}]

[services."app.gslb.test"]
policy = "failover"
ttl = 5
regions = ["primary", "backup"]
"#,
        p = primary.addr,
        b = backup.addr,
    )
}

#[test]
fn answers_leave_a_dead_region_and_return_after_rise_successes() {
    let rt = target_runtime();
    let mut primary = Target::http(rt.handle(), Behavior::Healthy);
    let backup = Target::http(rt.handle(), Behavior::Healthy);
    let zones = zones_dir(&[("gslb.test.", ZONE)]);
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&failover_config(&primary, &backup, ""))
        .start();
    let name = "app.gslb.test.";
    assert_eq!(answers(&server, name), set(&["127.0.1.1"]));
    // Let both settle as up, so the failover below starts from a verdict.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server
        .endpoint_health("primary", "127.0.1.1")
        .unwrap()
        .state
        != HealthState::Up
    {
        assert!(Instant::now() < deadline, "primary never settled up");
        std::thread::sleep(Duration::from_millis(10));
    }

    primary.kill();
    let failover = wait_for_answers(&server, name, &set(&["127.0.2.1"]), Duration::from_secs(5));
    let bound = Duration::from_millis(INTERVAL_MS * FALL) + SLACK;
    assert!(
        failover <= bound,
        "failover took {failover:?} (bound {bound:?})"
    );
    let status = server.endpoint_health("primary", "127.0.1.1").unwrap();
    assert_eq!(status.state, HealthState::Down);
    assert_eq!(status.last_failure, Some(FailureReason::ConnectionRefused));
    assert!(status.consecutive_failures >= FALL as u32);
    // The control API shows the same verdict and why.
    let (code, region) = common::api::call(server.api, "GET", "/v1/regions/primary", None, None);
    assert_eq!(code, 200, "{region}");
    let check = &region["endpoints"][0]["check"];
    assert_eq!(check["state"], "down", "{region}");
    assert_eq!(
        check["last_failure"]["kind"], "connection_refused",
        "{region}"
    );
    assert!(
        check["consecutive_failures"].as_u64() >= Some(FALL),
        "{region}"
    );

    primary.revive();
    let recovery = wait_for_answers(&server, name, &set(&["127.0.1.1"]), Duration::from_secs(5));
    // `rise` successes are one interval apart at least, so one lucky probe
    // cannot bring it back.
    let at_least = Duration::from_millis(INTERVAL_MS * (RISE - 1));
    let at_most = Duration::from_millis(INTERVAL_MS * RISE) + SLACK;
    assert!(
        recovery >= at_least && recovery <= at_most,
        "recovery took {recovery:?}, expected {at_least:?}..{at_most:?}"
    );
    let status = server.endpoint_health("primary", "127.0.1.1").unwrap();
    assert_eq!(status.state, HealthState::Up);
    assert!(status.consecutive_successes >= RISE as u32);
    assert!(status.last_probe_unix_ms.is_some() && status.last_latency_ms.is_some());
    eprintln!("failover {failover:?}, recovery {recovery:?} at {INTERVAL_MS} ms intervals");
}

#[test]
fn each_kind_of_failure_is_detected_and_named() {
    let rt = target_runtime();
    let healthy = Target::http(rt.handle(), Behavior::Healthy);
    let error = Target::http(rt.handle(), Behavior::Status(500));
    let hang = Target::http(rt.handle(), Behavior::Hang);
    let wrong_body = Target::http(rt.handle(), Behavior::Body("maintenance\n".into()));
    let closing = Target::http(rt.handle(), Behavior::Close);
    let tls = Target::https(rt.handle(), Behavior::Healthy);
    let refused = refused_port();
    let zones = zones_dir(&[("gslb.test.", ZONE)]);
    let tail = format!(
        r#"
[health]
coalesce_ms = 0

[checks.web]
kind = "http"
interval_ms = {INTERVAL_MS}
timeout_ms = 80
fall = 2
rise = 2
body_contains = "healthy"

[checks.strict_tls]
kind = "https"
interval_ms = {INTERVAL_MS}
timeout_ms = 80
sni = "localhost"

[checks.loose_tls]
kind = "https"
interval_ms = {INTERVAL_MS}
timeout_ms = 80
sni = "localhost"
tls_verify = false
expect_status = [200, "300-399"]

[checks.port]
kind = "tcp"
interval_ms = {INTERVAL_MS}
timeout_ms = 80

[regions.pool]
check = "web"
min_healthy = 1
endpoints = [
  {{ id = "healthy", address = "127.0.3.1", probe = "{healthy}" }},
  {{ id = "status", address = "127.0.3.2", probe = "{error}" }},
  {{ id = "hang", address = "127.0.3.3", probe = "{hang}" }},
  {{ id = "body", address = "127.0.3.4", probe = "{wrong_body}" }},
  {{ id = "refused", address = "127.0.3.5", probe = "{refused}" }},
  {{ id = "closing", address = "127.0.3.6", probe = "{closing}" }},
  {{ id = "self-signed", address = "127.0.3.7", probe = "{tls}", check = "strict_tls" }},
  {{ id = "self-signed-accepted", address = "127.0.3.8", probe = "{tls}", check = "loose_tls" }},
  {{ id = "tcp-open", address = "127.0.3.9", probe = "{healthy}", check = "port" }},
  {{ id = "tcp-refused", address = "127.0.3.10", probe = "{refused}", check = "port" }},
  {{ id = "unchecked", address = "127.0.3.11", check = "none" }},
]

[services."pool.gslb.test"]
policy = "multivalue"
max_answers = 16
regions = ["pool"]
"#,
        healthy = healthy.addr,
        error = error.addr,
        hang = hang.addr,
        wrong_body = wrong_body.addr,
        closing = closing.addr,
        tls = tls.addr,
    );
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&tail)
        .start();
    wait_for_answers(
        &server,
        "pool.gslb.test.",
        &set(&["127.0.3.1", "127.0.3.8", "127.0.3.9", "127.0.3.11"]),
        Duration::from_secs(5),
    );
    let reason = |id: &str| {
        let status = server.endpoint_health("pool", id).unwrap();
        assert_eq!(status.state, HealthState::Down, "{id}: {status:?}");
        status.last_failure.unwrap()
    };
    assert_eq!(reason("status"), FailureReason::Status { code: 500 });
    assert_eq!(reason("hang"), FailureReason::Timeout);
    assert_eq!(reason("body"), FailureReason::BodyMismatch);
    assert_eq!(reason("refused"), FailureReason::ConnectionRefused);
    assert_eq!(reason("tcp-refused"), FailureReason::ConnectionRefused);
    assert!(
        matches!(reason("closing"), FailureReason::Io { .. }),
        "{:?}",
        reason("closing")
    );
    match reason("self-signed") {
        FailureReason::Tls { detail } => assert!(detail.contains("certificate"), "{detail}"),
        other => panic!("self-signed: {other:?}"),
    }
    for id in ["healthy", "self-signed-accepted", "tcp-open"] {
        let status = server.endpoint_health("pool", id).unwrap();
        assert_eq!(status.state, HealthState::Up, "{id}: {status:?}");
        assert_eq!(status.last_failure, None, "{id}");
    }
    assert!(server.endpoint_health("pool", "unchecked").is_none());
    // The report the API will render serializes.
    let json = serde_json::to_string(&server.health()).unwrap();
    assert!(
        json.contains(r#""last_failure":{"kind":"timeout"}"#),
        "{json}"
    );
}

#[test]
fn a_restart_keeps_a_down_endpoint_out_of_answers() {
    let rt = target_runtime();
    let primary = Target::http(rt.handle(), Behavior::Status(503));
    let backup = Target::http(rt.handle(), Behavior::Healthy);
    let zones = zones_dir(&[("gslb.test.", ZONE)]);
    let state = tempfile::tempdir().unwrap();
    let name = "app.gslb.test.";
    {
        let server = TestServer::builder()
            .zones(zones.path())
            .tail(&failover_config(&primary, &backup, ""))
            .state_dir(state.path())
            .start();
        wait_for_answers(&server, name, &set(&["127.0.2.1"]), Duration::from_secs(5));
        // Dropping the server saves whatever was not saved yet.
    }
    let saved = std::fs::read_to_string(state.path().join("health.json")).unwrap();
    assert!(saved.contains(r#""state": "down""#), "{saved}");

    // The target is healthy again, but the new server starts from the saved
    // verdict: the very first answers exclude it, until `rise` successes.
    primary.set(Behavior::Healthy);
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&failover_config(&primary, &backup, ""))
        .state_dir(state.path())
        .start();
    assert_eq!(answers(&server, name), set(&["127.0.2.1"]));
    assert_eq!(
        server
            .endpoint_health("primary", "127.0.1.1")
            .unwrap()
            .state,
        HealthState::Down
    );
    wait_for_answers(&server, name, &set(&["127.0.1.1"]), Duration::from_secs(5));
}

#[test]
fn a_corrupt_state_file_is_moved_aside_and_checks_start_fresh() {
    let rt = target_runtime();
    let primary = Target::http(rt.handle(), Behavior::Healthy);
    let backup = Target::http(rt.handle(), Behavior::Healthy);
    let zones = zones_dir(&[("gslb.test.", ZONE)]);
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("health.json"), "{\"version\": 1, \"endpo").unwrap();
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&failover_config(&primary, &backup, ""))
        .state_dir(state.path())
        .start();
    assert_eq!(answers(&server, "app.gslb.test."), set(&["127.0.1.1"]));
    let names: Vec<String> = std::fs::read_dir(state.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("health.json.corrupt-")),
        "{names:?}"
    );
}

#[test]
fn initial_down_keeps_an_endpoint_out_until_it_proves_healthy() {
    let rt = target_runtime();
    let primary = Target::http(rt.handle(), Behavior::Healthy);
    let backup = Target::http(rt.handle(), Behavior::Healthy);
    let zones = zones_dir(&[("gslb.test.", ZONE)]);
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&failover_config(&primary, &backup, "initial = \"down\""))
        .start();
    let name = "app.gslb.test.";
    assert_eq!(answers(&server, name), set(&["127.0.2.1"]));
    let took = wait_for_answers(&server, name, &set(&["127.0.1.1"]), Duration::from_secs(5));
    assert!(
        took >= Duration::from_millis(INTERVAL_MS * (RISE - 1) - 20),
        "{took:?}"
    );
}

#[test]
fn a_reload_that_removes_a_check_brings_the_endpoint_back() {
    let rt = target_runtime();
    let primary = Target::http(rt.handle(), Behavior::Status(500));
    let backup = Target::http(rt.handle(), Behavior::Healthy);
    let zones = zones_dir(&[("gslb.test.", ZONE)]);
    let config = failover_config(&primary, &backup, "");
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&config)
        .start();
    let name = "app.gslb.test.";
    wait_for_answers(&server, name, &set(&["127.0.2.1"]), Duration::from_secs(5));
    // Turn the primary's check off: its old "down" must not linger.
    let text = std::fs::read_to_string(&server.config_path)
        .unwrap()
        .replace(
            "[regions.primary]\ncheck = \"web\"",
            "[regions.primary]\ncheck = \"none\"",
        );
    std::fs::write(&server.config_path, text).unwrap();
    server.reload().unwrap();
    assert_eq!(answers(&server, name), set(&["127.0.1.1"]));
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.endpoint_health("primary", "127.0.1.1").is_some() {
        assert!(
            Instant::now() < deadline,
            "registry still lists the unchecked endpoint"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
