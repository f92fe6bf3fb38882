//! `/metrics` end to end: real queries over UDP and TCP, real health
//! probes against loopback targets, and override changes through the API
//! move the right counters and gauges by the right amounts; the text
//! parses strictly; the Grafana dashboard only uses metrics that exist.
//!
//! The recorder is process-wide, so the tests in this file take turns
//! (`SERIAL`) and compare scrapes taken before and after what they do.

mod common;
#[path = "common/prom.rs"]
mod prom;
#[path = "common/targets.rs"]
mod targets;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::api::{ALICE, call, traffic};
use common::*;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use prom::Exposition;
use serde_json::{Value, json};
use targets::{Behavior, Target, target_runtime};

static SERIAL: Mutex<()> = Mutex::new(());

/// The zone of the API setup plus a TXT RRset too big for 512 bytes.
fn zone() -> String {
    let mut zone = common::api::ZONE.to_string();
    for i in 0..12 {
        zone += &format!("big TXT \"{}{i:02}\"\n", "x".repeat(60));
    }
    zone
}

/// Scrapes `/metrics` on `api` and parses it strictly.
fn scrape(api: std::net::SocketAddr) -> Exposition {
    let response = switchyard::ctl::http::request(&api.to_string(), "GET", "/metrics", None, None)
        .expect("scrape");
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4"))
    );
    let text = String::from_utf8(response.body).expect("utf-8");
    prom::parse(&text).unwrap_or_else(|e| panic!("invalid exposition: {e}\n{text}"))
}

/// How much `name{labels}` grew between two scrapes.
fn delta(before: &Exposition, after: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.sum(name, labels) - before.sum(name, labels)
}

fn start() -> (TestServer, tempfile::TempDir) {
    let zones = zones_dir(&[("example.com", &zone())]);
    let tokens = zones.path().join("tokens");
    std::fs::write(&tokens, format!("alice:{ALICE}\n")).unwrap();
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&traffic(&tokens, ""))
        .start();
    (server, zones)
}

#[test]
fn queries_answers_and_overrides_move_their_metrics() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (server, _zones) = start();
    let before = scrape(server.api);

    // UDP: 10 failover answers from us, 3 NXDOMAIN, 1 ECS query, 1 truncated.
    for _ in 0..10 {
        assert_eq!(
            query(server.addr, "fo.example.com.", RecordType::A)
                .answers
                .len(),
            1
        );
    }
    for _ in 0..3 {
        query(server.addr, "nx.example.com.", RecordType::A);
    }
    let mut ecs = make_query("w.example.com.", RecordType::A, Some(1232));
    ecs.edns
        .as_mut()
        .unwrap()
        .options_mut()
        .insert(EdnsOption::Subnet(ClientSubnet::new(
            "192.0.2.0".parse().unwrap(),
            24,
            0,
        )));
    udp(server.addr, &ecs);
    let truncated = query(server.addr, "big.example.com.", RecordType::TXT);
    assert!(truncated.metadata.truncation);
    // A response sent to the server is dropped unanswered.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut response = make_query("fo.example.com.", RecordType::A, None)
        .to_vec()
        .unwrap();
    response[2] |= 0x80;
    socket.send_to(&response, server.addr).unwrap();

    // TCP: 4 weighted answers on one connection (pipelined), 1 TXT in full.
    let mut stream = tcp_connect(server.addr);
    for _ in 0..4 {
        tcp_send(
            &mut stream,
            &make_query("w.example.com.", RecordType::A, None)
                .to_vec()
                .unwrap(),
        );
    }
    for _ in 0..4 {
        tcp_recv(&mut stream).unwrap();
    }
    drop(stream);
    let full = tcp(
        server.addr,
        &make_query("big.example.com.", RecordType::TXT, None),
    );
    assert_eq!(full.answers.len(), 12);

    // Overrides: one applied, one refused by the safety rule.
    let (status, _) = call(
        server.api,
        "PUT",
        "/v1/regions/eu/weight",
        Some(ALICE),
        Some(json!({"weight": 5, "why": "canary"})),
    );
    assert_eq!(status, 200);
    let (status, _) = call(
        server.api,
        "POST",
        "/v1/regions/ap/force",
        Some(ALICE),
        Some(json!({"state": "down", "why": "would strand solo"})),
    );
    assert_eq!(status, 409);

    // The unanswered datagram and TCP bookkeeping settle asynchronously.
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let after = scrape(server.api);
        let settled = delta(
            &before,
            &after,
            "switchyard_queries_dropped_total",
            &[("transport", "udp")],
        ) >= 1.0
            && after.sum("switchyard_tcp_connections_open", &[]) == 0.0
            && delta(
                &before,
                &after,
                "switchyard_queries_total",
                &[("transport", "tcp")],
            ) >= 5.0;
        if settled || Instant::now() > deadline {
            break after;
        }
        std::thread::sleep(Duration::from_millis(20));
    };

    let udp = [("transport", "udp")];
    let q = |labels: &[(&str, &str)]| delta(&before, &after, "switchyard_queries_total", labels);
    assert_eq!(
        q(&[("transport", "udp"), ("qtype", "A"), ("rcode", "NOERROR")]),
        11.0
    );
    assert_eq!(
        q(&[("transport", "udp"), ("qtype", "A"), ("rcode", "NXDOMAIN")]),
        3.0
    );
    assert_eq!(
        q(&[("transport", "udp"), ("qtype", "TXT"), ("rcode", "NOERROR")]),
        1.0
    );
    assert_eq!(
        q(&[("transport", "tcp"), ("qtype", "A"), ("rcode", "NOERROR")]),
        4.0
    );
    assert_eq!(q(&[("transport", "tcp"), ("qtype", "TXT")]), 1.0);
    assert_eq!(
        delta(&before, &after, "switchyard_queries_dropped_total", &udp),
        1.0
    );
    assert_eq!(
        delta(&before, &after, "switchyard_ecs_queries_total", &udp),
        1.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "switchyard_responses_truncated_total",
            &udp
        ),
        1.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "switchyard_responses_truncated_total",
            &[("transport", "tcp")]
        ),
        0.0
    );
    // Every answered query is in the latency histogram.
    assert!(
        delta(
            &before,
            &after,
            "switchyard_query_duration_seconds_count",
            &udp
        ) >= 15.0
    );
    assert!(
        delta(
            &before,
            &after,
            "switchyard_query_duration_seconds_count",
            &[("transport", "tcp")]
        ) >= 5.0
    );

    let answers =
        |labels: &[(&str, &str)]| delta(&before, &after, "switchyard_answers_total", labels);
    assert_eq!(
        answers(&[
            ("service", "fo.example.com"),
            ("policy", "failover"),
            ("region", "us"),
            ("reason", "policy")
        ]),
        10.0
    );
    assert_eq!(
        answers(&[("service", "w.example.com"), ("policy", "weighted")]),
        5.0
    );
    assert_eq!(answers(&[("service", "solo.example.com")]), 0.0);

    assert_eq!(
        delta(
            &before,
            &after,
            "switchyard_tcp_connections_total",
            &[("result", "accepted")]
        ),
        2.0
    );
    assert_eq!(after.sum("switchyard_tcp_connections_open", &[]), 0.0);

    let changes = |result| {
        delta(
            &before,
            &after,
            "switchyard_override_changes_total",
            &[("result", result)],
        )
    };
    assert_eq!(changes("ok"), 1.0);
    assert_eq!(changes("refused"), 1.0);
    assert_eq!(after.sum("switchyard_overrides_active", &[]), 1.0);
    assert_eq!(
        after.sum("switchyard_region_weight", &[("region", "eu")]),
        5.0
    );
    let generation = server.app().snapshot.load().generation as f64;
    assert_eq!(after.sum("switchyard_snapshot_generation", &[]), generation);
    assert_eq!(
        delta(&before, &after, "switchyard_snapshot_publishes_total", &[]),
        1.0
    );
    assert!(after.has("switchyard_snapshot_build_duration_seconds_count"));
}

#[test]
fn probes_and_transitions_move_health_metrics() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = target_runtime();
    let target = Target::http(rt.handle(), Behavior::Healthy);
    let zones = zones_dir(&[("gslb.test.", common::api::ZONE)]);
    let config = format!(
        r#"
[health]
coalesce_ms = 0
[checks.web]
kind = "http"
interval_ms = 50
timeout_ms = 40
fall = 2
rise = 2
[regions.probed]
check = "web"
endpoints = [{{ address = "127.0.1.1", id = "one", probe = "{addr}" }}]
[regions.spare]
endpoints = [{{ address = "127.0.2.1" }}]
[services."app.gslb.test"]
policy = "failover"
regions = ["probed", "spare"]
"#,
        addr = target.addr
    );
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&config)
        .start();
    let endpoint = [("region", "probed"), ("endpoint", "one")];
    let wait_for = |what: &str, ok: &dyn Fn(&Exposition) -> bool| -> Exposition {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let now = scrape(server.api);
            if ok(&now) {
                return now;
            }
            assert!(Instant::now() < deadline, "{what}: never happened");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let healthy = wait_for("the endpoint is checked up", &|m| {
        m.sum(
            "switchyard_health_probes_total",
            &[("kind", "http"), ("result", "success")],
        ) >= 2.0
    });
    assert_eq!(healthy.sum("switchyard_endpoint_up", &endpoint), 1.0);
    assert_eq!(
        healthy.sum("switchyard_region_available", &[("region", "probed")]),
        1.0
    );
    assert!(
        healthy.sum(
            "switchyard_health_probe_duration_seconds_count",
            &[("kind", "http")]
        ) >= 2.0
    );

    target.set(Behavior::Status(500));
    // The endpoint gauge moves with the checker's verdict and the
    // transition is counted when that verdict is published, a moment later:
    // wait for both, then check the transition was counted exactly once.
    let down = wait_for("the endpoint goes down", &|m| {
        m.sum("switchyard_endpoint_up", &endpoint) == 0.0
            && delta(
                &healthy,
                m,
                "switchyard_health_transitions_total",
                &[("to", "down")],
            ) >= 1.0
    });
    assert!(
        down.sum(
            "switchyard_health_probes_total",
            &[("kind", "http"), ("result", "status")]
        ) >= 2.0
    );
    assert_eq!(
        down.sum("switchyard_region_healthy", &[("region", "probed")]),
        0.0
    );
    assert_eq!(
        down.sum("switchyard_region_available", &[("region", "probed")]),
        0.0
    );
    assert_eq!(
        delta(
            &healthy,
            &down,
            "switchyard_health_transitions_total",
            &[("to", "down")]
        ),
        1.0
    );
    // The failover moved answers: they come from the spare now.
    let reply = query(server.addr, "app.gslb.test.", RecordType::A);
    assert_eq!(reply.answers[0].data.to_string(), "127.0.2.1");
    let moved = scrape(server.api);
    assert_eq!(
        delta(
            &down,
            &moved,
            "switchyard_answers_total",
            &[("service", "app.gslb.test"), ("region", "spare")]
        ),
        1.0
    );

    target.set(Behavior::Healthy);
    let up = wait_for("the endpoint comes back", &|m| {
        m.sum("switchyard_endpoint_up", &endpoint) == 1.0
            && delta(
                &down,
                m,
                "switchyard_health_transitions_total",
                &[("to", "up")],
            ) >= 1.0
    });
    assert_eq!(
        delta(
            &down,
            &up,
            "switchyard_health_transitions_total",
            &[("to", "up")]
        ),
        1.0
    );

    // A reload is counted.
    let reloads = |m: &Exposition, r| m.sum("switchyard_reloads_total", &[("result", r)]);
    server.reload().unwrap();
    let reloaded = scrape(server.api);
    assert_eq!(reloads(&reloaded, "success") - reloads(&up, "success"), 1.0);

    dashboard_uses_only_exported_metrics(&reloaded);
}

/// Every metric the dashboard plots is in a scrape (histograms by their
/// `_bucket`/`_count`/`_sum` series), and the file is valid JSON.
fn dashboard_uses_only_exported_metrics(scrape: &Exposition) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/grafana-dashboard.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("valid JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 6, "too few queries: {exprs:?}");
    let mut used = BTreeSet::new();
    for expr in &exprs {
        let mut rest = expr.as_str();
        while let Some(i) = rest.find("switchyard_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            used.insert(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    let missing: Vec<&String> = used.iter().filter(|m| !scrape.has(m)).collect();
    assert!(
        missing.is_empty(),
        "dashboard metrics not exported: {missing:?}"
    );
    for wanted in [
        "switchyard_queries_total",
        "switchyard_answers_total",
        "switchyard_endpoint_up",
        "switchyard_health_transitions_total",
    ] {
        assert!(used.contains(wanted), "dashboard does not plot {wanted}");
    }
}

fn collect_exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

#[test]
fn a_metrics_listener_serves_only_metrics() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let zones = zones_dir(&[("example.com", common::api::ZONE)]);
    let server = TestServer::builder()
        .zones(zones.path())
        .tail("[metrics]\nlisten = \"127.0.0.1:0\"\n")
        .start();
    let addr = server
        .app()
        .metrics
        .as_ref()
        .expect("metrics listener")
        .local_addr;
    let metrics = scrape(addr);
    assert!(metrics.has("switchyard_snapshot_generation"));
    let status = switchyard::ctl::http::request(&addr.to_string(), "GET", "/v1/status", None, None)
        .unwrap()
        .status;
    assert_eq!(status, 404);
}

#[test]
fn query_metrics_can_be_turned_off() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let zones = zones_dir(&[("example.com", common::api::ZONE)]);
    let server = TestServer::builder()
        .zones(zones.path())
        .tail("[metrics]\nquery_metrics = false\n")
        .start();
    let before = scrape(server.api);
    for _ in 0..5 {
        query(server.addr, "ns1.example.com.", RecordType::A);
    }
    let after = scrape(server.api);
    assert_eq!(delta(&before, &after, "switchyard_queries_total", &[]), 0.0);
    assert_eq!(
        delta(
            &before,
            &after,
            "switchyard_query_duration_seconds_count",
            &[]
        ),
        0.0
    );
}

#[test]
fn the_query_log_samples_one_in_n() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let zones = zones_dir(&[("example.com", common::api::ZONE)]);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("queries.jsonl");
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&format!(
            "[log.queries]\nsample = 2\npath = {:?}\n",
            log.display().to_string()
        ))
        .start();
    // One TCP connection is one recorder: exactly every other query.
    let mut stream = tcp_connect(server.addr);
    for i in 0..20 {
        let name = if i % 2 == 0 {
            "ns1.example.com."
        } else {
            "nx.example.com."
        };
        tcp_send(
            &mut stream,
            &make_query(name, RecordType::A, None).to_vec().unwrap(),
        );
        tcp_recv(&mut stream).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= 10 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(lines.len(), 10, "{lines:#?}");
    // Sampled: queries 1, 3, 5... (all for ns1, answered with its address).
    for line in &lines {
        assert_eq!(line["qname"], "ns1.example.com.");
        assert_eq!(line["qtype"], "A");
        assert_eq!(line["rcode"], "NOERROR");
        assert_eq!(line["answer"], json!(["A 192.0.2.53"]));
        assert_eq!(line["client"], "127.0.0.1");
        assert_eq!(line["transport"], "tcp");
        assert_eq!(line["ecs"], Value::Null);
        assert!(line["latency_us"].as_f64().unwrap() >= 0.0);
        assert!(line["time"].as_str().unwrap().ends_with('Z'));
    }
    let app = server.app();
    let log = app.query_log.as_ref().unwrap();
    assert_eq!(log.dropped(), 0);
}

#[test]
fn drills_active_follows_a_drill() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let zones = zones_dir(&[("example.com", &zone())]);
    let tokens = zones.path().join("tokens");
    std::fs::write(&tokens, format!("alice:{ALICE}\n")).unwrap();
    let config = format!(
        "{}\n[drills]\nvantages = {{ anywhere = \"198.51.100.0/24\" }}\n",
        traffic(&tokens, "")
    );
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&config)
        .start();
    let before = scrape(server.api);
    assert_eq!(before.sum("switchyard_drills_active", &[]), 0.0);
    let (code, drill) = call(
        server.api,
        "POST",
        "/v1/drills",
        Some(ALICE),
        Some(json!({"regions": ["eu"], "duration_secs": 60, "why": "metrics test"})),
    );
    assert_eq!(code, 200, "{drill}");
    assert_eq!(scrape(server.api).sum("switchyard_drills_active", &[]), 1.0);
    let id = drill["id"].as_str().unwrap();
    let (code, stopped) = call(
        server.api,
        "POST",
        &format!("/v1/drills/{id}/stop"),
        Some(ALICE),
        Some(json!({"why": "done"})),
    );
    assert_eq!(code, 200, "{stopped}");
    assert_eq!(scrape(server.api).sum("switchyard_drills_active", &[]), 0.0);
}
