//! Control-plane settings change on reload as one generation: one reload
//! that changes the API tokens, the health plan, the drill limit and the
//! per-service metrics selection shows all four from the same generation
//! in `/v1/status` and in the consumers themselves (auth, the health
//! checker, the OpenAPI document, `/metrics`); a failed reload changes
//! none of them and reports why.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::api::{ZONE, call};
use common::{TestServer, zones_dir};
use serde_json::Value;

const ALICE: &str = "alice-token-0123456789";
const BOB: &str = "bob-token-abcdefghijklm";
const CAROL: &str = "carol-token-nopqrstuvwx";
/// This binary's own service (the per-service counter table is
/// process-wide; no other test here registers it).
const SERVICE: &str = "settings-svc.example.com";

/// The config: reads protected, `max` as the longest drill, `exported`
/// as `per_service_answers`, and region `a` checked by `check` (`none` or
/// `t`, a TCP check of `probe`).
fn config(tokens: &Path, max: u64, exported: &str, check: &str, probe: &str) -> String {
    format!(
        r#"
[api]
tokens_file = {tokens:?}
protect_reads = true

[drills]
max_duration_secs = {max}

[metrics]
per_service_answers = {exported}

[health]
coalesce_ms = 0

[checks.t]
kind = "tcp"
interval_ms = 100
timeout_ms = 50

[regions.a]
check = "{check}"
endpoints = [{{ address = "192.0.2.10", probe = "{probe}" }}]

[services."{SERVICE}"]
policy = "failover"
regions = ["a"]
"#,
        tokens = tokens.display().to_string(),
    )
}

fn status(server: &TestServer, token: &str) -> (u16, Value) {
    call(server.api, "GET", "/v1/status", Some(token), None)
}

/// `/v1/status` once the health checker has applied generation `want`'s
/// plan (it follows the settings channel on its own task).
fn status_when_applied(server: &TestServer, token: &str, want: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (code, s) = status(server, token);
        assert_eq!(code, 200, "{s}");
        if s["settings"]["health_checks"] == want {
            return s;
        }
        assert!(Instant::now() < deadline, "health plan not applied: {s}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The services `/metrics` shows `switchyard_answers_total` for.
fn exported_services(server: &TestServer, token: &str) -> Vec<String> {
    let response = switchyard::ctl::http::request(
        &server.api.to_string(),
        "GET",
        "/metrics",
        Some(token),
        None,
    )
    .expect("scrape");
    assert_eq!(response.status, 200);
    let text = String::from_utf8(response.body).unwrap();
    let mut services: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("switchyard_answers_total{service=\""))
        .filter_map(|l| l.split('"').next())
        .map(str::to_string)
        .collect();
    services.dedup();
    services
}

fn openapi_max(server: &TestServer) -> Value {
    let (code, doc) = call(server.api, "GET", "/v1/openapi.json", None, None);
    assert_eq!(code, 200);
    doc["components"]["schemas"]["DrillRequest"]["properties"]["duration_secs"]["maximum"].clone()
}

#[test]
fn one_reload_changes_every_setting_in_one_generation_and_a_failed_one_none() {
    // The probe target: a real listener on loopback (the kernel completes
    // the TCP handshake; nothing else is needed of it).
    let probe = TcpListener::bind("127.0.0.1:0").unwrap();
    let probe = probe.local_addr().map(|a| (probe, a)).unwrap();
    let zones = zones_dir(&[("example.com", ZONE)]);
    let tokens = zones.path().join("tokens");
    std::fs::write(&tokens, format!("alice:{ALICE}\n")).unwrap();
    let before = config(&tokens, 600, "\"all\"", "none", &probe.1.to_string());
    let server = TestServer::builder()
        .zones(zones.path())
        .tail(&before)
        .start();

    // Generation 1: alice, no check, 600 s drills, the service exported.
    let s = status_when_applied(&server, ALICE, 1);
    assert_eq!(s["settings"]["generation"], 1, "{s}");
    assert_eq!(s["settings"]["drills_max_duration_secs"], 600, "{s}");
    assert_eq!(s["auth"]["tokens"], 1);
    assert_eq!(status(&server, BOB).0, 401);
    assert!(server.endpoint_health("a", "192.0.2.10").is_none());
    assert_eq!(openapi_max(&server), 600);
    assert_eq!(exported_services(&server, ALICE), [SERVICE]);

    // One reload changes all four: tokens (alice out, bob and carol in),
    // the health plan (region a checked), the drill limit, and the
    // metrics selection.
    std::fs::write(&tokens, format!("bob:{BOB}\ncarol:{CAROL}\n")).unwrap();
    let after = config(&tokens, 1200, "\"none\"", "t", &probe.1.to_string());
    let text = std::fs::read_to_string(&server.config_path)
        .unwrap()
        .replace(&before, &after);
    std::fs::write(&server.config_path, &text).unwrap();
    let generation = server.reload().expect("reload");

    // Tokens apply from the very next request.
    assert_eq!(status(&server, ALICE).0, 401);
    let s = status_when_applied(&server, BOB, 2);
    assert_eq!(s["settings"]["generation"], 2, "{s}");
    assert_eq!(s["settings"]["drills_max_duration_secs"], 1200, "{s}");
    assert_eq!(s["auth"]["tokens"], 2, "{s}");
    assert_eq!(s["last_reload"]["ok"], true, "{s}");
    assert_eq!(s["last_reload"]["generation"], generation, "{s}");
    // Each consumer shows the same generation's value.
    assert!(
        server.endpoint_health("a", "192.0.2.10").is_some(),
        "the checker does not probe the newly checked endpoint"
    );
    assert_eq!(server.app().health.registry().plan_generation(), 2);
    assert_eq!(openapi_max(&server), 1200);
    assert!(exported_services(&server, BOB).is_empty());

    // A failed reload: carol's token removed and the drill limit and
    // health plan changed in a file that does not load.
    std::fs::write(&tokens, format!("bob:{BOB}\n")).unwrap();
    let broken = config(&tokens, 60, "\"all\"", "none", &probe.1.to_string())
        .replace("[drills]\n", "[drills]\nno_such_key = 1\n");
    std::fs::write(&server.config_path, text.replace(&after, &broken)).unwrap();
    let error = server.reload().expect_err("a broken config must not load");
    assert!(error.contains("no_such_key"), "{error}");

    // Nothing changed: carol still gets in, the generation is 2, and
    // every consumer keeps generation 2's value.
    let (code, s) = status(&server, CAROL);
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["settings"]["generation"], 2, "{s}");
    assert_eq!(s["settings"]["health_checks"], 2, "{s}");
    assert_eq!(s["settings"]["drills_max_duration_secs"], 1200, "{s}");
    assert_eq!(s["auth"]["tokens"], 2, "{s}");
    assert_eq!(s["last_reload"]["ok"], false, "{s}");
    assert!(
        s["last_reload"]["error"]
            .as_str()
            .unwrap()
            .contains("no_such_key"),
        "{s}"
    );
    assert_eq!(status(&server, ALICE).0, 401);
    assert!(server.endpoint_health("a", "192.0.2.10").is_some());
    assert_eq!(openapi_max(&server), 1200);
    assert!(exported_services(&server, BOB).is_empty());
    drop(probe);
}
