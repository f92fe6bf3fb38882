//! Throws a few thousand malformed requests (seeded random bodies, paths,
//! methods and headers) at the running API: every answer must be a 4xx in
//! the error shape, the overrides (in memory and on disk) must not change,
//! and DNS must keep answering.

mod common;

use common::api::*;
use serde_json::{Value, json};

/// Characters safe in a request target (so hyper parses the request and
/// the router, not the HTTP parser, has to deal with it).
const PATH_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@";

fn segment(rng: &mut fastrand::Rng) -> String {
    let len = rng.usize(3..40);
    let mut out = String::new();
    while out.len() < len {
        match rng.u8(0..10) {
            0 => out += &format!("%{:02X}", rng.u8(..)),
            1 => out += ["%", "%Z", "%G0", "..", "%2F", "%00", "%C3%28"][rng.usize(0..7)],
            _ => out.push(PATH_CHARS[rng.usize(0..PATH_CHARS.len())] as char),
        }
    }
    out
}

fn junk(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len).map(|_| rng.u8(0x21..0x7f) as char).collect()
}

/// A body that is wrong by construction.
fn bad_body(rng: &mut fastrand::Rng) -> Vec<u8> {
    let valid = json!({"weight": 5, "state": "down", "why": "fuzz"}).to_string();
    match rng.u8(0..12) {
        0 => (0..rng.usize(0..200)).map(|_| rng.u8(..)).collect(),
        1 => valid.as_bytes()[..rng.usize(0..valid.len())].to_vec(),
        2 => b"null".to_vec(),
        3 => json!([1, "two", {"why": "x"}]).to_string().into_bytes(),
        4 => json!({"weight": 5, "state": "down"})
            .to_string()
            .into_bytes(),
        5 => json!({"weight": 5, "state": "down", "why": ""})
            .to_string()
            .into_bytes(),
        6 => json!({"weight": -rng.i64(1..1000), "state": "up", "why": "x"})
            .to_string()
            .into_bytes(),
        7 => json!({"weight": "many", "state": 3, "why": "x"})
            .to_string()
            .into_bytes(),
        8 => json!({"weight": 5, "state": "down", "why": "x", junk(rng, 6): 1})
            .to_string()
            .into_bytes(),
        9 => json!({"weight": 5, "state": "down", "why": "x", "expires_in_secs": 0})
            .to_string()
            .into_bytes(),
        10 => json!({"weight": 5, "state": "down", "why": ["x"], "force": "true"})
            .to_string()
            .into_bytes(),
        _ => format!("{{\"why\": \"{}", junk(rng, 20)).into_bytes(),
    }
}

#[test]
fn malformed_requests_get_4xx_in_the_error_shape_and_change_nothing() {
    let api = Api::start();
    // Start from a non-empty state, so "unchanged" means something.
    api.ok(
        "POST",
        "/v1/regions/eu/drain",
        Some(json!({"why": "baseline"})),
    );
    let overrides_before = api.ok("GET", "/v1/overrides", None)["overrides"].clone();
    let file_before = api.state_file();
    let audit_before = api.audit().len();

    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let methods = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FROB",
    ];
    let mut statuses = std::collections::BTreeMap::new();
    let n = 3000;
    for i in 0..n {
        let mut method = methods[rng.usize(0..methods.len())];
        let region = ["us", "eu", "ap"][rng.usize(0..3)];
        let write_paths = [
            ("PUT", format!("/v1/regions/{region}/weight")),
            ("POST", format!("/v1/regions/{region}/drain")),
            ("POST", format!("/v1/regions/{region}/force")),
            ("DELETE", format!("/v1/overrides/ov-{}", segment(&mut rng))),
        ];
        let path = match rng.u8(0..10) {
            0 => format!("/v1/regions/{}/weight", segment(&mut rng)),
            1 => format!("/v1/regions/{}", segment(&mut rng)),
            2 => format!("/v1/services/{}", segment(&mut rng)),
            3 => format!("/v1/overrides/{}", segment(&mut rng)),
            4 => format!("/{}", segment(&mut rng)),
            5 => format!("/v1/{}/{}", segment(&mut rng), segment(&mut rng)),
            6 => format!("/v1/regions/{region}/{}", segment(&mut rng)),
            _ => {
                // Mostly the right method, so the body and headers get tested.
                let (right, path) = write_paths[rng.usize(0..write_paths.len())].clone();
                if rng.u8(0..10) < 8 {
                    method = right;
                }
                path
            }
        };
        let authorization = match rng.u8(0..6) {
            0 => None,
            1 => Some(format!("Bearer {}", junk(&mut rng, 22))),
            2 => Some(format!("Basic {ALICE}")),
            3 => {
                let len = rng.usize(1..60);
                Some(junk(&mut rng, len))
            }
            // A valid token: the body (or path, or method) must be what is wrong.
            _ => Some(format!("Bearer {ALICE}")),
        };
        let body = bad_body(&mut rng);
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n");
        if let Some(value) = authorization {
            raw += &format!("Authorization: {value}\r\n");
        }
        if rng.bool() {
            let content_type = [
                "application/json",
                "text/plain",
                "application/x-www-form-urlencoded",
                "application/json; charset=utf-8",
            ][rng.usize(0..4)];
            raw += &format!("Content-Type: {content_type}\r\n");
        }
        if rng.bool() {
            // Header names are tokens; values any visible ASCII.
            let name: String = (0..6).map(|_| rng.alphanumeric()).collect();
            raw += &format!("X-{name}: {}\r\n", junk(&mut rng, 30));
        }
        raw += &format!("Content-Length: {}\r\n\r\n", body.len());
        let mut request = raw.into_bytes();
        request.extend_from_slice(&body);

        let response = common::raw_http::exchange(api.server.api, &request)
            .unwrap_or_else(|e| panic!("request {i} ({method} {path}): {e}"));
        assert!(
            (400..500).contains(&response.status),
            "request {i}: {method} {path} got {}: {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
        // HEAD-like answers aside, every error carries the shape.
        let value: Value = serde_json::from_slice(&response.body).unwrap_or_else(|e| {
            panic!(
                "request {i}: {method} {path} ({}) body is not JSON ({e}): {:?}",
                response.status,
                String::from_utf8_lossy(&response.body)
            )
        });
        error_code(&value);
        *statuses.entry(response.status).or_insert(0) += 1;
    }
    eprintln!("statuses over {n} requests: {statuses:?}");
    // The generator reached every kind of refusal.
    for status in [400, 401, 404, 405, 422] {
        assert!(
            statuses.contains_key(&status),
            "no {status} in {statuses:?}"
        );
    }
    assert_eq!(
        api.ok("GET", "/v1/overrides", None)["overrides"],
        overrides_before
    );
    assert_eq!(api.state_file(), file_before, "the state file is untouched");
    let audit = api.audit();
    assert!(audit.len() > audit_before);
    assert!(
        audit[audit_before..].iter().all(|e| e["result"] != "ok"),
        "no fuzz request changed anything"
    );
    assert_eq!(api.answers("fo.example.com."), ["10.2.0.1"]);
}
