//! The control API over real HTTP against the running server, with its
//! effects checked over real UDP DNS: reads, weights, drains, forced
//! states, the safety rule, auth, and every error case in one shape.

mod common;

use common::api::*;
use serde_json::{Value, json};

#[test]
fn reads_describe_status_regions_services_and_overrides() {
    let api = Api::start();
    let (status, alive) = api.call("GET", "/healthz", None, None);
    assert_eq!((status, alive["status"].as_str()), (200, Some("alive")));
    let (status, ready) = api.call("GET", "/readyz", None, None);
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")));

    let (status, s) = api.call("GET", "/v1/status", None, None);
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["ready"], true);
    assert!(s["snapshot"]["generation"].as_u64().unwrap() >= 1);
    assert!(s["snapshot"]["age_secs"].as_f64().unwrap() >= 0.0);
    assert!(s["uptime_secs"].is_u64());
    assert_eq!(
        s["counts"],
        json!({"zones": 1, "regions": 3, "endpoints": 4, "services": 3, "overrides": 0})
    );
    assert_eq!(s["last_reload"], Value::Null);
    assert_eq!(s["auth"], json!({"tokens": 2, "protect_reads": false}));
    api.server.reload().unwrap();
    let s = api.ok("GET", "/v1/status", None);
    assert_eq!(s["last_reload"]["ok"], true, "{s}");

    let regions = api.ok("GET", "/v1/regions", None);
    let names: Vec<&str> = regions["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ap", "eu", "us"]);
    let us = api.region("us");
    assert_eq!(us["configured_weight"], 70);
    assert_eq!(us["effective_weight"], 70);
    assert_eq!(us["healthy"], true);
    assert_eq!(us["available"], true);
    assert_eq!(us["forced"], Value::Null);
    assert_eq!(us["services"], json!(["fo.example.com.", "w.example.com."]));
    assert_eq!(
        us["endpoints"],
        json!([{"id": "10.2.0.1", "kind": "a", "answer": "10.2.0.1", "probe": null, "up": true, "check": null}])
    );

    let services = api.ok("GET", "/v1/services", None);
    assert_eq!(services["services"].as_array().unwrap().len(), 3);
    for name in ["fo.example.com", "fo.example.com.", "FO.Example.COM"] {
        let fo = api.ok("GET", &format!("/v1/services/{name}"), None);
        assert_eq!(fo["name"], "fo.example.com.");
        assert_eq!(fo["policy"], "failover");
        assert_eq!(fo["tiers"], json!([["us"], ["eu"]]));
        assert_eq!(fo["available_regions"], 2);
        assert_eq!(fo["regions"][1]["endpoints"][0]["answer"], "10.1.0.1");
        assert_eq!(fo["regions"][1]["endpoints"][0]["check"], Value::Null);
    }
    assert_eq!(api.overrides(), Vec::<Value>::new());
}

#[test]
fn weights_change_weighted_shares_in_real_dns_answers() {
    let api = Api::start();
    let before = api.shares("w.example.com.", 1500);
    assert!((before["10.2.0.1"] - 0.7).abs() < 0.05, "{before:?}");

    let changed = api.ok(
        "PUT",
        "/v1/regions/us/weight",
        Some(json!({"weight": 10, "why": "shift traffic to eu"})),
    );
    let created = &changed["created"];
    assert_eq!(created["action"], "weight");
    assert_eq!(created["weight"], 10);
    assert_eq!(created["who"], "alice");
    assert_eq!(created["why"], "shift traffic to eu");
    assert_eq!(created["expires"], Value::Null);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(api.region("us")["effective_weight"], 10);
    assert_eq!(api.region("us")["configured_weight"], 70);

    // us 10 vs eu 30: a quarter of the answers.
    let after = api.shares("w.example.com.", 1500);
    assert!((after["10.2.0.1"] - 0.25).abs() < 0.05, "{after:?}");

    // A second weight replaces the first.
    let replaced = api.ok(
        "PUT",
        "/v1/regions/us/weight",
        Some(json!({"weight": 30, "why": "even split"})),
    );
    assert_eq!(replaced["removed"][0]["id"], id.as_str());
    assert_eq!(api.overrides().len(), 1);
    let new_id = replaced["created"]["id"].as_str().unwrap();
    api.ok(
        "DELETE",
        &format!("/v1/overrides/{new_id}"),
        Some(json!({"why": "back to config"})),
    );
    assert!(api.overrides().is_empty());
    assert_eq!(api.region("us")["effective_weight"], 70);
}

#[test]
fn drain_takes_a_region_out_while_its_checks_keep_deciding_health() {
    let api = Api::start();
    assert_eq!(api.answers("fo.example.com."), ["10.2.0.1"]);
    let drained = api.ok(
        "POST",
        "/v1/regions/us/drain",
        Some(json!({"why": "maintenance", "expires_in_secs": 3600})),
    );
    assert_eq!(drained["created"]["action"], "drain");
    let left = drained["created"]["expires_in_secs"].as_u64().unwrap();
    assert!((3590..=3600).contains(&left), "{drained}");
    // The very next query already moves.
    assert_eq!(api.answers("fo.example.com."), ["10.1.0.1"]);
    for _ in 0..200 {
        assert_eq!(api.answers("w.example.com."), ["10.1.0.1"]);
    }
    let us = api.region("us");
    assert_eq!(
        (
            &us["drained"],
            &us["available"],
            &us["healthy"],
            &us["effective_weight"]
        ),
        (&json!(true), &json!(false), &json!(true), &json!(0))
    );
    // Health still flows while drained.
    api.server.set_health("us", "10.2.0.1", false);
    assert_eq!(api.region("us")["checks_healthy"], false);
    api.server.set_health("us", "10.2.0.1", true);
    assert_eq!(api.region("us")["checks_healthy"], true);
    let service = api.ok("GET", "/v1/services/w.example.com", None);
    assert_eq!(service["available_regions"], 1);
    assert_eq!(service["overrides"][0]["action"], "drain");
}

#[test]
fn forced_states_beat_health_at_once_and_clear_restores() {
    let api = Api::start();
    let (status, body) = api.call(
        "POST",
        "/v1/regions/us/force",
        Some(BOB),
        Some(json!({"state": "down", "why": "bad deploy"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"]["who"], "bob");
    assert_eq!(api.answers("fo.example.com."), ["10.1.0.1"]);
    let us = api.region("us");
    assert_eq!(
        (&us["forced"], &us["healthy"]),
        (&json!("down"), &json!(false))
    );

    // ap's checks say down; forcing it up answers all its endpoints anyway.
    api.server.set_health("ap", "ap-1", false);
    api.server.set_health("ap", "ap-2", false);
    assert!(
        api.answers("solo.example.com.").is_empty(),
        "all down: empty"
    );
    api.ok(
        "POST",
        "/v1/regions/ap/force",
        Some(json!({"state": "up", "why": "checks are wrong"})),
    );
    assert_eq!(api.answers("solo.example.com."), ["10.3.0.1", "10.3.0.2"]);
    let ap = api.region("ap");
    assert_eq!(
        (&ap["forced"], &ap["checks_healthy"]),
        (&json!("up"), &json!(false))
    );
    // Health results never clear or set a forced state.
    api.server.set_health("ap", "ap-1", true);
    assert_eq!(api.region("ap")["forced"], "up");

    // Forcing down replaces forcing up; clear removes it.
    let cleared = api.ok(
        "POST",
        "/v1/regions/us/force",
        Some(json!({"state": "clear", "why": "fixed"})),
    );
    assert_eq!(cleared["created"], Value::Null);
    assert_eq!(cleared["removed"][0]["state"], "down");
    assert_eq!(api.answers("fo.example.com."), ["10.2.0.1"]);
    assert_eq!(api.overrides().len(), 1, "ap's force up stays");
}

#[test]
fn a_change_that_leaves_a_service_with_no_region_is_refused_unless_forced() {
    let api = Api::start();
    let before = api.state_file();
    let (status, body) = api.call(
        "POST",
        "/v1/regions/ap/force",
        Some(ALICE),
        Some(json!({"state": "down", "why": "try it"})),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), "unsafe_change");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("solo.example.com."), "{message}");
    assert!(api.overrides().is_empty(), "nothing changed");
    assert_eq!(api.state_file(), before);
    assert_eq!(api.answers("solo.example.com."), ["10.3.0.1", "10.3.0.2"]);

    // Two drains that together starve w and fo: the second is refused.
    api.ok("POST", "/v1/regions/us/drain", Some(json!({"why": "one"})));
    let (status, body) = api.call(
        "PUT",
        "/v1/regions/eu/weight",
        Some(ALICE),
        Some(json!({"weight": 0, "why": "two"})),
    );
    assert_eq!(status, 409);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("w.example.com.") && message.contains("fo.example.com."),
        "{message}"
    );

    // force: true does it anyway, and the audit trail says so.
    let forced = api.ok(
        "POST",
        "/v1/regions/ap/force",
        Some(json!({"state": "down", "why": "region evacuation", "force": true})),
    );
    assert_eq!(forced["created"]["state"], "down");
    assert!(
        api.answers("solo.example.com.").is_empty(),
        "all_down = empty"
    );
    let audit = api.audit();
    let results: Vec<&str> = audit
        .iter()
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["refused", "ok", "refused", "ok"]);
    assert_eq!(audit[0]["who"], "alice");
    assert_eq!(audit[0]["what"], "force down ap");
    assert_eq!(audit[0]["why"], "try it");
    assert!(
        audit[3]["detail"]
            .as_str()
            .unwrap()
            .contains("forced past the safety rule")
    );
    // With ap already starved, unrelated changes pass.
    api.ok(
        "POST",
        "/v1/regions/us/force",
        Some(json!({"state": "up", "why": "x"})),
    );
}

#[test]
fn writes_without_a_valid_token_get_401_and_change_nothing() {
    let api = Api::start();
    let body = json!({"why": "sneaky"});
    let cases: [(&str, &str, Option<&str>); 4] = [
        ("POST", "/v1/regions/us/drain", None),
        (
            "POST",
            "/v1/regions/us/drain",
            Some("not-a-real-token-xxxx"),
        ),
        (
            "PUT",
            "/v1/regions/us/weight",
            Some("alice-token-012345678"),
        ),
        ("DELETE", "/v1/overrides/ov-000000000000", Some("")),
    ];
    for (method, path, token) in cases {
        let (status, value) = api.call(method, path, token, Some(body.clone()));
        assert_eq!(status, 401, "{method} {path} {token:?}: {value}");
        assert_eq!(error_code(&value), "unauthorized");
    }
    // A Basic header is not a bearer token.
    let raw = format!(
        "POST /v1/regions/us/drain HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Basic {ALICE}\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    let response = common::raw_http::exchange(api.server.api, raw.as_bytes()).unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    assert!(api.overrides().is_empty());
    assert!(api.state_file().is_empty(), "no state written");
    assert_eq!(api.answers("fo.example.com."), ["10.2.0.1"]);
    // Rejected attempts go to their own bounded log, with the client address.
    assert!(api.audit().is_empty());
    let rejected = api.rejected();
    assert_eq!(rejected.len(), 5);
    assert!(
        rejected
            .iter()
            .all(|e| e["result"] == "unauthorized" && e["client"] == "127.0.0.1")
    );
    assert_eq!(rejected[0]["what"], "POST /v1/regions/us/drain");
}

#[test]
fn protected_reads_need_a_token_too() {
    let api = Api::start_with("protect_reads = true");
    for path in ["/v1/status", "/v1/regions", "/v1/services", "/v1/overrides"] {
        let (status, value) = api.call("GET", path, None, None);
        assert_eq!(status, 401, "{path}");
        error_code(&value);
        assert_eq!(api.call("GET", path, Some(BOB), None).0, 200, "{path}");
    }
    assert_eq!(api.call("GET", "/healthz", None, None).0, 200);
    assert_eq!(api.call("GET", "/readyz", None, None).0, 200);
}

#[test]
fn bad_requests_get_the_right_4xx_in_the_error_shape() {
    let api = Api::start();
    let raw = |method: &str, path: &str, body: &[u8]| {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {ALICE}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        let response = common::raw_http::exchange(api.server.api, &request).unwrap();
        let value: Value = serde_json::from_slice(&response.body).unwrap();
        (response.status, error_code(&value).to_string())
    };
    let weight = "/v1/regions/us/weight";
    let drain = "/v1/regions/us/drain";
    let force = "/v1/regions/us/force";
    let cases: Vec<(&str, &str, &str, u16, &str)> = vec![
        ("PUT", weight, "{\"weight\": 5, \"why\": ", 400, "bad_json"),
        ("PUT", weight, "", 400, "bad_json"),
        ("PUT", weight, "{\"weight\": 5}", 400, "missing_why"),
        (
            "PUT",
            weight,
            "{\"weight\": 5, \"why\": null}",
            400,
            "missing_why",
        ),
        (
            "PUT",
            weight,
            "{\"weight\": 5, \"why\": \"  \"}",
            400,
            "missing_why",
        ),
        (
            "PUT",
            weight,
            "{\"weight\": 5, \"why\": 7}",
            422,
            "invalid_field",
        ),
        (
            "PUT",
            weight,
            "{\"weight\": -1, \"why\": \"x\"}",
            422,
            "invalid_field",
        ),
        (
            "PUT",
            weight,
            "{\"weight\": 1.5, \"why\": \"x\"}",
            422,
            "invalid_field",
        ),
        (
            "PUT",
            weight,
            "{\"weight\": \"5\", \"why\": \"x\"}",
            422,
            "invalid_field",
        ),
        (
            "PUT",
            weight,
            "{\"weight\": 4294967296, \"why\": \"x\"}",
            422,
            "invalid_field",
        ),
        (
            "PUT",
            weight,
            "{\"weight\": 1000001, \"why\": \"x\"}",
            422,
            "invalid_field",
        ),
        ("PUT", weight, "{\"why\": \"x\"}", 422, "invalid_field"),
        (
            "PUT",
            weight,
            "{\"weight\": 5, \"why\": \"x\", \"wieght\": 1}",
            422,
            "invalid_field",
        ),
        (
            "PUT",
            weight,
            "{\"weight\": 5, \"why\": \"x\", \"expires_in_secs\": 0}",
            422,
            "invalid_field",
        ),
        (
            "PUT",
            weight,
            "{\"weight\": 5, \"why\": \"x\", \"force\": \"yes\"}",
            422,
            "invalid_field",
        ),
        ("PUT", weight, "[1, 2]", 422, "invalid_body"),
        ("POST", drain, "\"why\"", 422, "invalid_body"),
        (
            "POST",
            force,
            "{\"state\": \"sideways\", \"why\": \"x\"}",
            422,
            "invalid_field",
        ),
        ("POST", force, "{\"why\": \"x\"}", 422, "invalid_field"),
        (
            "POST",
            force,
            "{\"state\": \"clear\", \"why\": \"x\", \"expires_in_secs\": 5}",
            422,
            "invalid_field",
        ),
        (
            "POST",
            force,
            "{\"state\": \"clear\", \"why\": \"x\"}",
            404,
            "not_forced",
        ),
        (
            "POST",
            "/v1/regions/mars/drain",
            "{\"why\": \"x\"}",
            404,
            "unknown_region",
        ),
        (
            "POST",
            "/v1/regions/%FF%FE/drain",
            "{\"why\": \"x\"}",
            400,
            "bad_path",
        ),
        (
            "DELETE",
            "/v1/overrides/ov-nope",
            "{\"why\": \"x\"}",
            404,
            "unknown_override",
        ),
        ("GET", "/v1/overrides/ov-nope", "", 404, "unknown_override"),
        (
            "GET",
            "/v1/services/nope.example.com",
            "",
            404,
            "unknown_service",
        ),
        ("GET", "/v1/services/..", "", 404, "unknown_service"),
        ("GET", "/v1/regions/mars", "", 404, "unknown_region"),
        ("GET", "/v1/nothing", "", 404, "no_route"),
        // `/` is the status page; its missing files get the error shape too.
        ("GET", "/ui/nothing.js", "", 404, "no_route"),
        ("GET", weight, "", 405, "method_not_allowed"),
        ("POST", "/v1/status", "{}", 405, "method_not_allowed"),
        ("PATCH", "/v1/overrides", "{}", 405, "method_not_allowed"),
    ];
    for (method, path, body, status, code) in cases {
        assert_eq!(
            raw(method, path, body.as_bytes()),
            (status, code.to_string()),
            "{method} {path} {body}"
        );
    }
    let big = format!("{{\"why\": \"{}\"}}", "x".repeat(64 * 1024));
    assert_eq!(
        raw("POST", drain, big.as_bytes()),
        (413, "body_too_large".into())
    );
    let long_why = format!("{{\"why\": \"{}\"}}", "x".repeat(1001));
    assert_eq!(
        raw("POST", drain, long_why.as_bytes()),
        (422, "invalid_field".into())
    );
    assert!(api.overrides().is_empty());
    assert!(api.state_file().is_empty());
    // Invalid attempts by a known operator are audited as such.
    let audit = api.audit();
    assert!(
        audit
            .iter()
            .any(|e| e["result"] == "invalid" && e["who"] == "alice")
    );
    assert!(
        audit
            .iter()
            .any(|e| e["result"] == "failed" && e["what"] == "force clear us")
    );
}

#[test]
fn check_reports_malformed_token_lines_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    std::fs::write(dir.path().join("zones/example.com.zone"), ZONE).unwrap();
    std::fs::write(
        dir.path().join("tokens"),
        "# ok\nalice:0123456789abcdef\nbob 0123456789abcdef\ncarol:short\n",
    )
    .unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        "version = 1\n[server]\ndns_listen = [\"127.0.0.1:0\"]\napi_listen = \"127.0.0.1:0\"\nzones_dir = \"zones\"\nstate_dir = \"state\"\n[api]\ntokens_file = \"tokens\"\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tokens = dir.path().join("tokens").display().to_string();
    assert!(
        stderr.contains(&format!(
            "{tokens}:3: api.tokens_file: expected `name:token`"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{tokens}:4: api.tokens_file: token for \"carol\"")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("0123456789abcdef"),
        "never print secrets: {stderr}"
    );
    assert!(!dir.path().join("state").exists(), "check writes nothing");
}

#[test]
fn openapi_document_matches_the_served_routes() {
    use std::collections::BTreeSet;
    // A vantage, so a drill can exist too (`[drills]` follows `[api]`).
    let api = Api::start_with("[drills]\nvantages = { local = \"10.0.0.0/8\" }");
    let created = api.ok(
        "PUT",
        "/v1/regions/us/weight",
        Some(json!({"weight": 50, "why": "so an id exists"})),
    );
    let id = created["created"]["id"].as_str().unwrap().to_string();
    let drill = api.ok(
        "POST",
        "/v1/drills",
        Some(json!({"regions": ["eu"], "duration_secs": 60, "why": "so a drill exists"})),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, doc) = api.call("GET", "/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let table: BTreeSet<(String, String)> = switchyard::api::routes::table()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, table,
        "the document lists exactly the router's routes"
    );

    // And the running server serves exactly those methods at those paths.
    for path in paths.keys() {
        let concrete = path
            .replace("{region}", "eu")
            .replace("{name}", "w.example.com")
            .replace(
                "{id}",
                if path.starts_with("/v1/drills/") {
                    &drill
                } else {
                    &id
                },
            );
        // Explain needs its query string.
        let concrete = match path.as_str() {
            "/v1/explain" => format!("{concrete}?name=w.example.com&client=192.0.2.1"),
            _ => concrete,
        };
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            if path == "/metrics" && method == "GET" {
                // Prometheus text, not JSON.
                let response = switchyard::ctl::http::request(
                    &api.server.api.to_string(),
                    "GET",
                    "/metrics",
                    None,
                    None,
                )
                .unwrap();
                assert_eq!(response.status, 200);
                continue;
            }
            let body = (method != "GET").then(|| json!({}));
            let (status, value) = api.call(method, &concrete, None, body);
            if documented.contains(&(method.to_string(), path.clone())) {
                let expected = if method == "GET" { 200 } else { 401 };
                assert_eq!(status, expected, "{method} {concrete}: {value}");
            } else {
                assert_eq!(status, 405, "{method} {concrete}: {value}");
                assert_eq!(error_code(&value), "method_not_allowed");
            }
        }
    }
    // Every schema reference resolves.
    let text = doc.to_string();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(doc["components"]["schemas"][name].is_object(), "{name}");
    }
}
