//! Geo-failover drills end to end: real UDP queries (with ECS) and real
//! HTTP against the app on loopback port 0.
//!
//! The behaviour tests (start, verification, stop, expiry, restart mid-drill,
//! schedules) run on paused tokio time (`common::paused`): the app, its API
//! and an async HTTP client share one current-thread runtime whose clock
//! only moves when the test sleeps, so a drill's seconds pass in
//! milliseconds and the times the reports record are exact. The demo test
//! runs the real binary on real time.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::api::{ALICE, error_code};
use common::drill_setup::{AP, DrillSetup, EU, US};
use common::paused::{Running, runtime};
use common::{ecs_query, udp};
use hickory_proto::rr::RecordType;
use serde_json::{Value, json};

/// The drill world with drills of at most two minutes probing every 100 ms
/// from four vantages (eu, us, ap, and `other`, which no rule knows and so
/// gets the default), `drills_extra` in `[drills]` and `extra` appended.
fn setup(drills_extra: &str, extra: &str) -> DrillSetup {
    DrillSetup::new(
        &format!(
            "max_duration_secs = 120\nprobe_interval_ms = 100\n\
             vantages = {{ eu = \"{EU}\", us = \"{US}\", ap = \"{AP}\", other = \"100.64.0.0/24\" }}\n\
             {drills_extra}"
        ),
        extra,
    )
}

/// A request with alice's token; `(status, body)`.
async fn api(s: &Running, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    s.call(method, path, Some(ALICE), body).await
}

/// A request with alice's token that must succeed; its body.
async fn ok(s: &Running, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, value) = api(s, method, path, body).await;
    assert_eq!(status, 200, "{method} {path}: {value}");
    value
}

/// A request with alice's token that must fail; `(status, error code)`.
async fn refused(s: &Running, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    let (status, value) = api(s, method, path, body).await;
    assert_ne!(status, 200, "{method} {path}: {value}");
    (status, error_code(&value).to_string())
}

async fn start_drill(s: &Running, body: Value) -> Value {
    ok(s, "POST", "/v1/drills", Some(body)).await
}

/// Polls the report every 100 ms (of paused time) until it is finished,
/// for at most `within` of paused time.
async fn wait_finished(s: &Running, id: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let report = ok(s, "GET", &format!("/v1/drills/{id}"), None).await;
        if report["phase"] == "finished" {
            return report;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "drill {id} did not finish in {within:?}: {report:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The A answers for `name` from a client in `subnet` (a blocking UDP
/// exchange: the paused clock does not move during it).
fn answers_from(s: &Running, name: &str, subnet: &str) -> Vec<String> {
    ecs_answers(s.dns(), name, subnet)
}

async fn overrides(s: &Running) -> Vec<Value> {
    ok(s, "GET", "/v1/overrides", None).await["overrides"]
        .as_array()
        .unwrap()
        .clone()
}

fn parse_time(value: &Value) -> std::time::SystemTime {
    humantime::parse_rfc3339(value.as_str().unwrap()).unwrap()
}

fn ecs_answers(addr: SocketAddr, name: &str, subnet: &str) -> Vec<String> {
    let reply = udp(addr, &ecs_query(name, RecordType::A, subnet));
    let mut out: Vec<String> = reply.answers.iter().map(|r| r.data.to_string()).collect();
    out.sort();
    out
}

fn pair<'a>(report: &'a Value, service: &str, vantage: &str) -> &'a Value {
    report["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["service"] == service && p["vantage"] == vantage)
        .unwrap_or_else(|| panic!("no pair {service} × {vantage} in {report:#}"))
}

fn events(report: &Value) -> Vec<String> {
    report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_geo_drill_from_four_vantages_passes_and_reports_convergence() {
    let setup = setup("", "");
    runtime().block_on(async {
        let s = Running::start(&setup.config);
        assert_eq!(answers_from(&s, "geo.example.com.", EU), ["198.51.100.1"]);
        let started = start_drill(
            &s,
            json!({"regions": ["eu-west"], "duration_secs": 2, "why": "practice"}),
        )
        .await;
        let id = started["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("dr-"), "{started}");
        assert_eq!(started["phase"], "running");
        assert_eq!(started["services"], json!(["geo.example.com."]));
        assert_eq!(started["overrides"].as_array().unwrap().len(), 1);
        // During the drill, Europe goes to its next region; the override is
        // linked to the drill.
        assert_eq!(answers_from(&s, "geo.example.com.", EU), ["192.0.2.1"]);
        let listed = overrides(&s).await;
        assert_eq!(listed[0]["drill"], id.as_str());
        assert_eq!(listed[0]["state"], "down");
        let status = ok(&s, "GET", "/v1/status", None).await;
        assert_eq!(status["drills"]["active"][0]["id"], id.as_str());

        let report = wait_finished(&s, &id, Duration::from_secs(20)).await;
        assert_eq!(report["result"], "pass", "{report:#}");
        assert_eq!(report["pairs"].as_array().unwrap().len(), 4);
        let eu = pair(&report, "geo.example.com.", "eu");
        assert_eq!(eu["before"], json!(["198.51.100.1"]));
        assert_eq!(eu["was_on_drilled"], true);
        assert_eq!(eu["during"], json!(["192.0.2.1"]));
        assert_eq!(eu["after"], json!(["198.51.100.1"]));
        // Measured on the paused clock: the rounds' own times, not how fast
        // this machine is (tests/paused_time.rs and benches/ for that).
        let convergence = eu["convergence_ms"].as_f64().unwrap();
        let restore = eu["restore_ms"].as_f64().unwrap();
        assert!(convergence < 1000.0 && restore < 1000.0, "{eu}");
        for vantage in ["us", "ap", "other"] {
            let p = pair(&report, "geo.example.com.", vantage);
            assert_eq!(p["result"], "pass", "{p}");
            assert_eq!(p["was_on_drilled"], false, "{p}");
            assert_eq!(p["before"], p["after"], "{p}");
        }
        assert_eq!(
            pair(&report, "geo.example.com.", "ap")["during"],
            json!(["203.0.113.1"])
        );
        assert_eq!(report["rollback_reason"], "expired");
        assert_eq!(report["impact"]["detection_ms"], 0);
        assert_eq!(report["impact"]["max_ttl_secs"], 30);
        assert_eq!(
            events(&report),
            [
                "created",
                "started",
                "verified",
                "rolled_back",
                "restored",
                "finished"
            ]
        );
        // Expired exactly at its end: paused time makes the two equal.
        let ends_at = parse_time(&report["ends_at"]);
        let rolled_back = parse_time(&report["rolled_back"]);
        let late = rolled_back.duration_since(ends_at).unwrap_or_default();
        assert!(late < Duration::from_millis(5), "rolled back {late:?} late");
        // Rolled back: answers and overrides are as before; the report is on disk.
        assert_eq!(answers_from(&s, "geo.example.com.", EU), ["198.51.100.1"]);
        assert!(overrides(&s).await.is_empty());
        let saved: Value = serde_json::from_slice(
            &std::fs::read(setup.state_dir().join(format!("drills/{id}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(saved["result"], "pass");
        let list = ok(&s, "GET", "/v1/drills", None).await;
        assert_eq!(list["drills"][0]["id"], id.as_str());
        assert_eq!(list["drills"][0]["result"], "pass");
        // The audit log has the drill's start and end.
        let audit = std::fs::read_to_string(setup.state_dir().join("audit.log")).unwrap();
        assert!(
            audit.contains(&format!("drill {id}: force down eu-west")),
            "{audit}"
        );
        assert!(
            audit.contains(&format!("end drill {id}")) || audit.contains("\"expired\""),
            "{audit}"
        );
    });
}

#[test]
fn an_unsafe_drill_is_refused_and_leaves_nothing_behind() {
    let setup = setup("", "");
    runtime().block_on(async {
        let s = Running::start(&setup.config);
        let (status, body) = api(
            &s,
            "POST",
            "/v1/drills",
            Some(json!({"regions": ["eu-west", "us-east", "ap-south"], "duration_secs": 5, "why": "too much"})),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(error_code(&body), "unsafe_change");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("geo.example.com")
        );
        assert!(
            ok(&s, "GET", "/v1/drills", None).await["drills"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        assert!(overrides(&s).await.is_empty());
        // Bad requests: duration over the cap, unknown region, no token.
        assert_eq!(
            refused(&s, "POST", "/v1/drills", Some(json!({"regions": ["eu-west"], "duration_secs": 121, "why": "long"}))).await,
            (422, "invalid_field".into())
        );
        assert_eq!(
            refused(&s, "POST", "/v1/drills", Some(json!({"regions": ["mars"], "duration_secs": 5, "why": "x"}))).await,
            (404, "unknown_region".into())
        );
        let (status, _) = s
            .call(
                "POST",
                "/v1/drills",
                None,
                Some(json!({"regions": ["eu-west"], "duration_secs": 5, "why": "x"})),
            )
            .await;
        assert_eq!(status, 401);
        // Forced, it runs (and is stopped at once).
        let forced = start_drill(
            &s,
            json!({"regions": ["eu-west", "us-east", "ap-south"], "duration_secs": 5, "why": "evacuate", "force": true}),
        )
        .await;
        let id = forced["id"].as_str().unwrap();
        ok(
            &s,
            "POST",
            &format!("/v1/drills/{id}/stop"),
            Some(json!({"why": "enough"})),
        )
        .await;
        let report = wait_finished(&s, id, Duration::from_secs(20)).await;
        assert_eq!(report["rollback_reason"], "stopped by alice: enough");
    });
}

#[test]
fn stop_rolls_back_at_once_and_answers_return() {
    let setup = setup("", "");
    runtime().block_on(async {
        let s = Running::start(&setup.config);
        let started = start_drill(
            &s,
            json!({"regions": ["eu-west"], "duration_secs": 60, "why": "stop me"}),
        )
        .await;
        let id = started["id"].as_str().unwrap();
        assert_eq!(answers_from(&s, "geo.example.com.", EU), ["192.0.2.1"]);
        // A second drill on the same region is refused while this one runs.
        assert_eq!(
            refused(
                &s,
                "POST",
                "/v1/drills",
                Some(json!({"regions": ["eu-west"], "duration_secs": 5, "why": "again"}))
            )
            .await,
            (409, "region_forced".into())
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        let stopped = ok(
            &s,
            "POST",
            &format!("/v1/drills/{id}/stop"),
            Some(json!({"why": "done early"})),
        )
        .await;
        assert_eq!(stopped["phase"], "rolling_back");
        // Rolled back before the stop answered.
        assert_eq!(answers_from(&s, "geo.example.com.", EU), ["198.51.100.1"]);
        assert!(overrides(&s).await.is_empty());
        let report = wait_finished(&s, id, Duration::from_secs(20)).await;
        assert_eq!(report["result"], "pass", "{report:#}");
        assert_eq!(report["rollback_reason"], "stopped by alice: done early");
        // Stopped 400 ms (of paused time) in, long before its minute was up.
        let started_at = parse_time(&report["started"]);
        let rolled_back = parse_time(&report["rolled_back"]);
        let ran = rolled_back.duration_since(started_at).unwrap();
        assert!(ran < Duration::from_secs(1), "ran {ran:?}");
        assert_eq!(
            refused(
                &s,
                "POST",
                &format!("/v1/drills/{id}/stop"),
                Some(json!({"why": "again"}))
            )
            .await,
            (409, "drill_not_running".into())
        );
        assert_eq!(
            refused(&s, "GET", "/v1/drills/dr-000000000000", None).await,
            (404, "unknown_drill".into())
        );
    });
}

#[test]
fn a_restart_mid_drill_resumes_and_rolls_back_on_time() {
    let setup = setup("", "");
    // First run: start a drill, half a second passes, the server stops.
    let id = runtime().block_on(async {
        let s = Running::start(&setup.config);
        let started = start_drill(
            &s,
            json!({"regions": ["eu-west"], "duration_secs": 3, "why": "restart test"}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        started["id"].as_str().unwrap().to_string()
    });
    // Second run on the same state dir.
    runtime().block_on(async {
        let s = Running::start(&setup.config);
        // Still out after the restart, and the drill is running again.
        assert_eq!(answers_from(&s, "geo.example.com.", EU), ["192.0.2.1"]);
        let report = ok(&s, "GET", &format!("/v1/drills/{id}"), None).await;
        assert_eq!(report["phase"], "running", "{report:#}");
        assert!(events(&report).contains(&"resumed".to_string()));
        let report = wait_finished(&s, &id, Duration::from_secs(20)).await;
        assert_eq!(report["result"], "pass", "{report:#}");
        // Rolled back on time: at the planned end (paused time keeps the
        // restart from adding real seconds).
        let ends_at = parse_time(&report["ends_at"]);
        let rolled_back = parse_time(&report["rolled_back"]);
        let late = rolled_back.duration_since(ends_at).unwrap_or_default();
        assert!(late < Duration::from_millis(5), "rolled back {late:?} late");
        assert_eq!(answers_from(&s, "geo.example.com.", EU), ["198.51.100.1"]);
        assert!(overrides(&s).await.is_empty());
    });
}

#[test]
fn a_drill_on_a_service_without_fallback_fails_naming_the_vantage() {
    // Europe's only region is eu-west, no more general rule has another
    // (there is no default list to fall through to), and all_down is
    // fail_open: with eu-west out, Europe is answered with every endpoint,
    // eu-west's too.
    let bad = r#"
[services."bad.example.com"]
policy = "geo"
all_down = "fail_open"
[services."bad.example.com".geo]
cidr = { "100.64.0.0/24" = ["us-east"] }
continent = { EU = ["eu-west"], NA = ["us-east"], AS = ["ap-south"] }
"#;
    let setup = setup("converge_timeout_secs = 1", bad);
    runtime().block_on(async {
        let s = Running::start(&setup.config);
        let started = start_drill(
            &s,
            json!({
                "regions": ["eu-west"], "duration_secs": 2, "why": "find the gap",
                "services": ["bad.example.com"],
            }),
        )
        .await;
        let id = started["id"].as_str().unwrap();
        let report = wait_finished(&s, id, Duration::from_secs(20)).await;
        assert_eq!(report["result"], "fail", "{report:#}");
        let eu = pair(&report, "bad.example.com.", "eu");
        assert_eq!(eu["result"], "fail");
        let reason = eu["reason"].as_str().unwrap();
        assert!(
            reason.contains("eu-west") && reason.contains("198.51.100.1"),
            "{reason}"
        );
        for vantage in ["us", "ap", "other"] {
            assert_eq!(pair(&report, "bad.example.com.", vantage)["result"], "pass");
        }
        // The failure is recorded when the verification window closes: one
        // second (converge_timeout_secs) of paused time after the start.
        let timeline = report["timeline"].as_array().unwrap();
        let failed = timeline
            .iter()
            .find(|e| e["what"] == "verification_failed")
            .unwrap_or_else(|| panic!("no verification_failed in {report:#}"));
        let window = parse_time(&failed["at"])
            .duration_since(parse_time(&report["started"]))
            .unwrap();
        assert!(
            window >= Duration::from_secs(1) && window < Duration::from_millis(1200),
            "verification failed {window:?} after the start"
        );
        // Rolled back all the same.
        assert_eq!(answers_from(&s, "bad.example.com.", EU), ["198.51.100.1"]);
    });
}

#[test]
fn a_scheduled_drill_runs_and_keeps_its_report() {
    let schedule = r#"
[[drills.schedule]]
regions = ["ap-south"]
every = "2s"
duration_secs = 1
why = "weekly practice, sped up"
"#;
    let setup = setup(schedule, "");
    runtime().block_on(async {
        let s = Running::start(&setup.config);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let last = loop {
            let status = ok(&s, "GET", "/v1/status", None).await;
            let last = status["drills"]["last_scheduled"].clone();
            if !last.is_null() {
                break last;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no scheduled drill ran: {status:#}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(last["result"], "pass", "{last}");
        assert_eq!(last["schedule"], 0);
        let id = last["drill"].as_str().unwrap();
        let report = ok(&s, "GET", &format!("/v1/drills/{id}"), None).await;
        assert_eq!(report["who"], "schedule");
        assert_eq!(report["scheduled"], 0);
        assert_eq!(report["why"], "weekly practice, sped up");
        assert_eq!(
            pair(&report, "geo.example.com.", "ap")["during"],
            json!(["192.0.2.1"])
        );
        assert!(setup.state_dir().join(format!("drills/{id}.json")).exists());
    });
}

/// Bodies the OpenAPI document allows are accepted: `duration_secs` as an
/// integral JSON number (`60.0`; JSON Schema's `integer` includes it) and
/// `force` on stop (the document's `DeleteRequest`). A fractional duration
/// is still refused.
#[test]
fn documented_bodies_are_accepted() {
    let setup = setup("", "");
    runtime().block_on(async {
        let s = Running::start(&setup.config);
        assert_eq!(
            refused(
                &s,
                "POST",
                "/v1/drills",
                Some(json!({"regions": ["eu-west"], "duration_secs": 2.5, "why": "fraction"}))
            )
            .await,
            (422, "invalid_field".into())
        );
        let started = start_drill(
            &s,
            json!({"regions": ["eu-west"], "duration_secs": 60.0, "why": "float"}),
        )
        .await;
        assert_eq!(started["duration_secs"], 60, "{started}");
        let id = started["id"].as_str().unwrap();
        let stopped = ok(
            &s,
            "POST",
            &format!("/v1/drills/{id}/stop"),
            Some(json!({"why": "done", "force": true})),
        )
        .await;
        assert_eq!(stopped["phase"], "rolling_back");
        let report = wait_finished(&s, id, Duration::from_secs(20)).await;
        assert_eq!(report["rollback_reason"], "stopped by alice: done");
    });
}

/// A child process killed when the test ends, whatever happens.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real binary's `demo --drill`, on real time: its point is that the
/// shipped command works end to end as a process (its own runtime, real
/// seconds), which paused time inside this test process cannot stand for.
#[test]
fn demo_drill_runs_as_a_subprocess_and_passes() {
    let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["demo", "--drill", "--drill-secs", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start switchyard demo");
    let mut child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "demo did not finish within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(child.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "demo failed: {status}\n{out}\n{err}");
    assert!(out.contains("result: PASS"), "{out}");
    assert!(out.contains("eu-west"), "{out}");
    // It printed what to try, with the ports it bound.
    assert!(out.contains("dig @127.0.0.1 -p "), "{out}");
}
