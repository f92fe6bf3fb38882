//! `/metrics` with a large generated config (20,000 services, every
//! per-service series exported): scrapes render off the async runtime, so
//! overrides and `/healthz` complete while scrapes run, and concurrent
//! scrapes share one render. Also: `per_service_answers` bounds the
//! series while `/v1/traffic` still counts every service.
//!
//! Orderings are asserted, never speeds: "the override completed before
//! the scrapes started alongside it got their first byte" (the server
//! sends nothing of a scrape before its render is done). (How long a scrape takes
//! is measured by `benches/scale.sh`.)

mod common;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::api::{ALICE, ZONE, call};
use common::*;
use hickory_proto::rr::RecordType;
use serde_json::json;

/// The recorder and the answer table are process-wide: tests take turns.
static SERIAL: Mutex<()> = Mutex::new(());

/// Regions us and eu; `services` weighted services `s<i>.example.com` over
/// both; `metrics` lines added to `[metrics]`.
fn config(tokens: &std::path::Path, services: usize, metrics: &str) -> String {
    let mut text = format!(
        "[api]\ntokens_file = {:?}\n[metrics]\n{metrics}\n\
         [regions.us]\nweight = 70\nendpoints = [{{ address = \"10.2.0.1\" }}]\n\
         [regions.eu]\nweight = 30\nendpoints = [{{ address = \"10.1.0.1\" }}]\n",
        tokens.display().to_string()
    );
    for i in 0..services {
        text += &format!(
            "[services.\"s{i}.example.com\"]\npolicy = \"weighted\"\nregions = [\"us\", \"eu\"]\nall_down = \"fallback\"\nfallback = \"eu\"\n"
        );
    }
    text
}

fn start(services: usize, metrics: &str) -> (TestServer, tempfile::TempDir) {
    let zones = zones_dir(&[("example.com", ZONE)]);
    let tokens = zones.path().join("tokens");
    std::fs::write(&tokens, format!("alice:{ALICE}\n")).unwrap();
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&config(&tokens, services, metrics))
        .start();
    (server, zones)
}

/// One scrape: when it finished, and its body.
fn scrape(api: SocketAddr) -> (Instant, String) {
    let response = switchyard::ctl::http::request(&api.to_string(), "GET", "/metrics", None, None)
        .expect("scrape");
    assert_eq!(response.status, 200);
    (
        Instant::now(),
        String::from_utf8(response.body).expect("utf-8"),
    )
}

/// One scrape over a raw connection: when its first byte arrived (the
/// server sends nothing before the render is done), and its body.
fn timed_scrape(api: SocketAddr) -> (Instant, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(api).expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: switchyard\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).unwrap();
    let at = Instant::now();
    let mut response = first.to_vec();
    stream.read_to_end(&mut response).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"));
    let start = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers")
        + 4;
    (at, response.split_off(start))
}

/// Starts `n` scrapes at once on their own threads; returns their handles.
fn scrapes(api: SocketAddr, n: usize) -> Vec<std::thread::JoinHandle<(Instant, Vec<u8>)>> {
    let handles = (0..n)
        .map(|_| std::thread::spawn(move || timed_scrape(api)))
        .collect();
    // Let the requests reach the server before the caller's own request.
    std::thread::sleep(Duration::from_millis(20));
    handles
}

#[test]
fn overrides_and_healthz_complete_while_scrapes_run() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (server, _zones) = start(20_000, "per_service_answers = \"all\"");
    // Some answers, so the series have values.
    for i in [0, 19_999] {
        let answer = query(server.addr, &format!("s{i}.example.com."), RecordType::A);
        assert_eq!(answer.answers.len(), 1);
    }
    // The full exposition really has every service (a heavy scrape).
    let (_, text) = scrape(server.api);
    let series = text
        .lines()
        .filter(|l| l.starts_with("switchyard_answers_total{"))
        .count();
    assert_eq!(series, 20_000 * 5, "us, eu, fallback, fail_open, empty");

    for round in 0..3 {
        let renders = switchyard::metrics::scrape::renders();
        // Two scrapes at once: with rendering on the async workers they
        // would hold both of the server's two runtime threads.
        let running = scrapes(server.api, 2);
        for _ in 0..5 {
            let (status, _) = call(server.api, "GET", "/healthz", None, None);
            assert_eq!(status, 200);
        }
        let healthz_done = Instant::now();
        let (status, body) = call(
            server.api,
            "POST",
            "/v1/regions/eu/force",
            Some(ALICE),
            Some(
                json!({"state": if round % 2 == 0 { "down" } else { "up" }, "why": "scrape test"}),
            ),
        );
        assert_eq!(status, 200, "{body}");
        let override_done = Instant::now();
        // Published: the DNS answer already follows it (eu down: only us).
        if round % 2 == 0 {
            for _ in 0..20 {
                let answer = query(server.addr, "s7.example.com.", RecordType::A);
                assert_eq!(answer.answers.len(), 1);
                assert_eq!(answer.answers[0].data.to_string(), "10.2.0.1");
            }
        }
        let finished: Vec<(Instant, Vec<u8>)> =
            running.into_iter().map(|h| h.join().unwrap()).collect();
        let first_scrape_answered = finished.iter().map(|(at, _)| *at).min().unwrap();
        assert!(
            healthz_done < first_scrape_answered,
            "round {round}: /healthz waited for a scrape"
        );
        assert!(
            override_done < first_scrape_answered,
            "round {round}: the override waited for a scrape"
        );
        // The two scrapes shared one render.
        assert_eq!(
            switchyard::metrics::scrape::renders() - renders,
            1,
            "round {round}"
        );
        assert_eq!(finished[0].1, finished[1].1);
    }
}

#[test]
fn per_service_series_are_bounded_and_traffic_still_counts_every_service() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Over the automatic limit: no per-service series by default.
    let (server, _zones) = start(1_001, "");
    for _ in 0..3 {
        let answer = query(server.addr, "s1000.example.com.", RecordType::A);
        assert_eq!(answer.answers.len(), 1);
    }
    let (_, text) = scrape(server.api);
    assert!(
        !text.contains("switchyard_answers_total{service=\"s1000.example.com\""),
        "per-service series above the automatic limit"
    );
    let region_total = |text: &str, region: &str| -> f64 {
        text.lines()
            .filter(|l| {
                l.starts_with(&format!(
                    "switchyard_region_answers_total{{region=\"{region}\",reason=\"policy\"}}"
                )) || l.starts_with(&format!(
                    "switchyard_region_answers_total{{reason=\"policy\",region=\"{region}\"}}"
                ))
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    assert!(region_total(&text, "us") + region_total(&text, "eu") >= 3.0);
    // /v1/traffic still sees the service's answers.
    let (status, traffic) = call(server.api, "GET", "/v1/traffic", None, None);
    assert_eq!(status, 200);
    let service = traffic["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "s1000.example.com.")
        .unwrap()
        .clone();
    assert_eq!(service["counted"], true);
    let answered: u64 = service["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["total"].as_u64().unwrap())
        .sum();
    assert_eq!(answered, 3, "{service}");
    drop(server);

    // An explicit list exports those services only.
    let (server, _zones) = start(
        1_001,
        "per_service_answers = [\"s5.example.com\", \"s6.example.com.\"]",
    );
    let (_, text) = scrape(server.api);
    let services: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("switchyard_answers_total{service=\""))
        .filter_map(|l| l.split('"').next())
        .collect();
    assert!(
        services.contains("s5.example.com") && services.contains("s6.example.com"),
        "{services:?}"
    );
    assert!(!services.contains("s7.example.com"), "{services:?}");
}

#[test]
fn an_unknown_service_in_per_service_answers_is_a_config_error() {
    let zones = zones_dir(&[("example.com", ZONE)]);
    let tokens = zones.path().join("tokens");
    std::fs::write(&tokens, format!("alice:{ALICE}\n")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    std::fs::write(
        &path,
        common::config_header(
            "127.0.0.1:0",
            "127.0.0.1:0",
            zones.path(),
            std::path::Path::new("state"),
            "",
        ) + &config(
            &tokens,
            3,
            "per_service_answers = [\"s1.example.com\", \"nope.example.com\"]",
        ),
    )
    .unwrap();
    let error = match switchyard::snapshot::Inputs::load(&path) {
        Ok(_) => panic!("an unknown service was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("nope.example.com"), "{error}");
    assert!(error.contains("metrics.per_service_answers"), "{error}");
    assert!(
        error.contains("switchyard.toml:10"),
        "names the line: {error}"
    );
}
