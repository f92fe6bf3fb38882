//! Validation of `[checks]`, `[health]` and `check = ...` references: each
//! mistake is reported with the line and field of the offending key.

use std::path::Path;

use super::*;
use crate::config::{StatusItem, StatusSpec};
use crate::zone::ZoneSet;

const HEAD: &str = r#"version = 1
[server]
dns_listen = ["127.0.0.1:5353"]
api_listen = "127.0.0.1:8053"
zones_dir = "zones"
state_dir = "state"
"#;

fn compile_text(tail: &str) -> Result<HealthPlan, Vec<ConfigError>> {
    let text = format!("{HEAD}{tail}");
    let config = Config::parse(&text, Path::new("/etc/sy/switchyard.toml")).map_err(|e| vec![e])?;
    let traffic = crate::traffic::compile(&config, &ZoneSet::default())?;
    compile(&config, &traffic)
}

/// The single error of `tail`, as `line: field: message`.
fn error(tail: &str) -> String {
    let errors = compile_text(tail).expect_err("config should be rejected");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    format!(
        "{}: {}: {}",
        e.line.unwrap_or(0),
        e.field.as_deref().unwrap_or(""),
        e.message
    )
}

#[test]
fn defaults_apply_and_targets_resolve() {
    let plan = compile_text(
        r#"
[checks.web]
kind = "http"
[checks.tls]
kind = "https"
sni = "app.example.com"
[checks.db]
kind = "tcp"
port = 5432
initial = "down"
[regions.us]
check = "web"
endpoints = [
  { address = "127.0.0.10" },
  { address = "::1", check = "tls" },
  { address = "127.0.0.11", check = "db" },
  { address = "127.0.0.12", check = "none" },
  { target = "lb.example.net.", probe = "127.0.0.1:8080" },
]
[regions.eu]
endpoints = [{ address = "127.0.0.20" }]
"#,
    )
    .unwrap();
    let targets: Vec<(String, String, String)> = plan
        .endpoints
        .iter()
        .map(|e| (e.key.1.clone(), e.check.name.clone(), e.target.to_string()))
        .collect();
    assert_eq!(
        targets,
        [
            ("127.0.0.10".into(), "web".into(), "127.0.0.10:80".into()),
            ("::1".into(), "tls".into(), "[::1]:443".into()),
            ("127.0.0.11".into(), "db".into(), "127.0.0.11:5432".into()),
            (
                "lb.example.net.".into(),
                "web".into(),
                "127.0.0.1:8080".into()
            ),
        ]
    );
    let web = &plan.endpoints[0].check;
    assert_eq!(web.interval, Duration::from_millis(1000));
    assert_eq!(web.timeout, Duration::from_millis(500));
    assert_eq!((web.fall, web.rise), (2, 2));
    assert_eq!(web.jitter, web.interval);
    assert_eq!(web.initial, HealthState::Unknown);
    let http = web.http.as_ref().unwrap();
    assert_eq!(http.method, reqwest::Method::GET);
    assert_eq!(http.path, "/");
    assert!(http.tls_verify);
    assert!(http.expect_status.contains(200) && http.expect_status.contains(399));
    assert!(!http.expect_status.contains(404));
    assert_eq!(plan.endpoints[2].check.initial, HealthState::Down);
    assert!(!plan.is_checked(&("us".into(), "127.0.0.12".into())));
    assert!(!plan.is_checked(&("eu".into(), "127.0.0.20".into())));
    assert_eq!(plan.coalesce, Duration::from_millis(50));
    assert_eq!(plan.max_concurrent_probes, 1024);
}

#[test]
fn a_short_interval_gets_a_timeout_below_it() {
    let plan = compile_text(
        "[checks.fast]\nkind = \"tcp\"\ninterval_ms = 200\n[regions.r]\ncheck = \"fast\"\nendpoints = [{ address = \"127.0.0.1\", probe = \"127.0.0.1:9\" }]\n",
    )
    .unwrap();
    assert_eq!(plan.endpoints[0].check.timeout, Duration::from_millis(100));
}

#[test]
fn unknown_check_on_a_region_names_its_line() {
    assert_eq!(
        error(
            "[checks.web]\nkind = \"http\"\n[regions.r]\ncheck = \"wbe\"\nendpoints = [{ address = \"127.0.0.1\" }]\n"
        ),
        "10: regions.r.check: unknown check \"wbe\" (defined: web)"
    );
}

#[test]
fn unknown_check_on_an_endpoint_names_its_line() {
    let e = error(
        "[regions.r]\nendpoints = [\n  { address = \"127.0.0.1\" },\n  { address = \"127.0.0.2\", check = \"x\" },\n]\n",
    );
    assert_eq!(
        e,
        "10: regions.r.endpoints[1].check: unknown check \"x\" (defined: none)"
    );
}

#[test]
fn timeout_must_be_below_interval() {
    let e = error("[checks.c]\nkind = \"http\"\ninterval_ms = 500\ntimeout_ms = 500\n");
    assert!(
        e.starts_with("10: checks.c.timeout_ms: must be at least 1 and below interval_ms (500)"),
        "{e}"
    );
}

#[test]
fn fall_and_rise_must_be_positive() {
    let errors =
        compile_text("[checks.c]\nkind = \"tcp\"\nport = 1\nfall = 0\nrise = 0\n").unwrap_err();
    let got: Vec<(Option<usize>, Option<String>)> =
        errors.iter().map(|e| (e.line, e.field.clone())).collect();
    assert_eq!(
        got,
        [
            (Some(10), Some("checks.c.fall".into())),
            (Some(11), Some("checks.c.rise".into())),
        ]
    );
}

#[test]
fn bad_status_ranges_are_rejected() {
    for (spec, message) in [
        (
            "\"399-200\"",
            "range \"399-200\" is empty (start above end)",
        ),
        ("\"2xx\"", "\"2xx\" is not a status code"),
        ("[200, 999]", "999 is not an HTTP status code (100-599)"),
        ("[]", "needs at least one status code or range"),
    ] {
        let e = error(&format!(
            "[checks.c]\nkind = \"http\"\nexpect_status = {spec}\n"
        ));
        assert_eq!(e, format!("9: checks.c.expect_status: {message}"));
    }
}

#[test]
fn status_lists_mix_codes_and_ranges() {
    let set = StatusSet::parse(&StatusSpec::Many(vec![
        StatusItem::Code(204),
        StatusItem::Range("300-302".into()),
        StatusItem::Range("418".into()),
    ]))
    .unwrap();
    for code in [204, 300, 301, 302, 418] {
        assert!(set.contains(code), "{code}");
    }
    for code in [200, 303, 500] {
        assert!(!set.contains(code), "{code}");
    }
}

#[test]
fn tcp_check_without_a_port_needs_a_probe() {
    let e = error(
        "[checks.db]\nkind = \"tcp\"\n[regions.r]\ncheck = \"db\"\nendpoints = [{ address = \"127.0.0.1\" }]\n",
    );
    assert!(
        e.starts_with("11: regions.r.endpoints[0].probe: tcp check \"db\" has no `port`"),
        "{e}"
    );
    // With a probe address it is fine.
    compile_text(
        "[checks.db]\nkind = \"tcp\"\n[regions.r]\ncheck = \"db\"\nendpoints = [{ address = \"127.0.0.1\", probe = \"127.0.0.1:5432\" }]\n",
    )
    .unwrap();
}

#[test]
fn a_cname_endpoint_with_a_check_needs_a_probe() {
    let e = error(
        "[checks.web]\nkind = \"http\"\n[regions.r]\ncheck = \"web\"\nendpoints = [{ target = \"lb.example.net.\" }]\n",
    );
    assert!(
        e.starts_with("11: regions.r.endpoints[0].probe: endpoint \"lb.example.net.\" is a name"),
        "{e}"
    );
}

#[test]
fn http_keys_do_not_apply_to_tcp() {
    let e = error("[checks.c]\nkind = \"tcp\"\nport = 1\npath = \"/x\"\n");
    assert_eq!(e, "10: checks.c.path: `path` does not apply to tcp checks");
    let e = error("[checks.c]\nkind = \"http\"\ntls_verify = false\n");
    assert_eq!(
        e,
        "9: checks.c.tls_verify: `tls_verify` applies to https checks only"
    );
}

#[test]
fn malformed_http_knobs_are_rejected() {
    for (line, field, message) in [
        (
            "method = \"get\"",
            "method",
            "\"get\" is not an HTTP method (e.g. GET, HEAD)",
        ),
        (
            "path = \"healthz\"",
            "path",
            "\"healthz\" is not a request path (e.g. \"/healthz\")",
        ),
        (
            "host = \"a b\"",
            "host",
            "\"a b\" is not a Host header value",
        ),
        (
            "body_contains = \"\"",
            "body_contains",
            "must be 1 to 65536 bytes",
        ),
        (
            "jitter_ms = 5000",
            "jitter_ms",
            "must not exceed interval_ms (1000)",
        ),
        ("interval_ms = 0", "interval_ms", "must be at least 1"),
    ] {
        let errors = compile_text(&format!("[checks.c]\nkind = \"https\"\n{line}\n")).unwrap_err();
        let e = errors
            .iter()
            .find(|e| e.field.as_deref() == Some(&format!("checks.c.{field}")))
            .unwrap_or_else(|| panic!("no {field} error in {errors:?}"));
        assert_eq!((e.line, e.message.as_str()), (Some(9), message));
    }
    let e = error("[checks.c]\nkind = \"https\"\nsni = \"127.0.0.1\"\n");
    assert_eq!(e, "9: checks.c.sni: \"127.0.0.1\" is not a DNS name");
}

#[test]
fn unknown_keys_in_checks_and_health_are_errors() {
    let e = error("[checks.c]\nkind = \"http\"\nintervall_ms = 5\n");
    assert!(
        e.starts_with("9: checks.c.intervall_ms: unknown field"),
        "{e}"
    );
    let e = error("[health]\ncoalesce = 5\n");
    assert!(e.starts_with("8: health.coalesce: unknown field"), "{e}");
}

#[test]
fn health_knobs_are_validated() {
    let plan = compile_text("[health]\ncoalesce_ms = 0\nmax_concurrent_probes = 8\n").unwrap();
    assert_eq!(plan.coalesce, Duration::ZERO);
    assert_eq!(plan.max_concurrent_probes, 8);
    let e = error("[health]\nmax_concurrent_probes = 0\n");
    assert_eq!(e, "8: health.max_concurrent_probes: must be at least 1");
}

#[test]
fn none_is_not_a_check_name() {
    let e = error("[checks.none]\nkind = \"http\"\n");
    assert!(e.starts_with("7: checks.none: \"none\" is reserved"), "{e}");
}
