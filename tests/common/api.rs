//! Control API helpers: a traffic setup with tokens, HTTP requests over
//! real sockets, and readers for the state files.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use hickory_proto::rr::RecordType;
use serde_json::Value;
use switchyard::ctl::http;

use super::{TestServer, query, zones_dir};

/// alice's token (a configured operator).
pub const ALICE: &str = "alice-token-0123456789";
/// bob's token.
pub const BOB: &str = "bob-token-abcdefghijklm";

pub const ZONE: &str = "$TTL 300
@ SOA ns1 host 1 7200 900 1209600 60
@ NS ns1
ns1 A 192.0.2.53
";

/// Regions us (70), eu (30), ap (single-region service `solo`);
/// `w` weighted over us+eu, `fo` failover us then eu.
pub fn traffic(tokens_file: &std::path::Path, extra_api: &str) -> String {
    format!(
        r#"
[api]
tokens_file = {tokens:?}
{extra_api}

[regions.us]
weight = 70
endpoints = [{{ address = "10.2.0.1" }}]
[regions.eu]
weight = 30
endpoints = [{{ address = "10.1.0.1" }}]
[regions.ap]
endpoints = [{{ address = "10.3.0.1", id = "ap-1" }}, {{ address = "10.3.0.2", id = "ap-2" }}]

[services."w.example.com"]
policy = "weighted"
regions = ["us", "eu"]

[services."fo.example.com"]
policy = "failover"
ttl = 5
regions = ["us", "eu"]

[services."solo.example.com"]
policy = "failover"
regions = ["ap"]
all_down = "empty"
"#,
        tokens = tokens_file.display().to_string()
    )
}

/// A running server with tokens; keeps its zones dir alive.
pub struct Api {
    pub server: TestServer,
    pub zones: tempfile::TempDir,
}

impl Api {
    /// Starts the standard setup (reads open).
    pub fn start() -> Api {
        Api::start_with("")
    }

    /// Starts with extra `[api]` lines (e.g. `protect_reads = true`).
    pub fn start_with(extra_api: &str) -> Api {
        let zones = zones_dir(&[("example.com", ZONE)]);
        let tokens = zones.path().join("tokens");
        std::fs::write(
            &tokens,
            format!("# test operators\nalice:{ALICE}\nbob:{BOB}\n"),
        )
        .unwrap();
        let server = TestServer::builder()
            .zones(zones.path())
            .tail(&traffic(&tokens, extra_api))
            .start();
        Api { server, zones }
    }

    /// Stops and starts again on the same state dir.
    pub fn restart(self) -> Api {
        Api {
            server: self.server.restart(),
            zones: self.zones,
        }
    }

    /// One API request; `(status, JSON body)` (`Null` for an empty body).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        call(self.server.api, method, path, token, body)
    }

    /// A request that must succeed; its body.
    pub fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, Some(ALICE), body);
        assert_eq!(status, 200, "{method} {path}: {value}");
        value
    }

    /// The active overrides as the API lists them.
    pub fn overrides(&self) -> Vec<Value> {
        self.ok("GET", "/v1/overrides", None)["overrides"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// One region's API view.
    pub fn region(&self, name: &str) -> Value {
        self.ok("GET", &format!("/v1/regions/{name}"), None)
    }

    /// The state dir.
    pub fn state_dir(&self) -> PathBuf {
        self.server.dir.path().join("state")
    }

    /// The audit log's lines, parsed.
    pub fn audit(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.state_dir().join("audit.log")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The rejected-attempts log's lines (`audit-rejected.log`), parsed.
    pub fn rejected(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.state_dir().join("audit-rejected.log"))
            .unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The saved overrides file's bytes (empty when absent).
    pub fn state_file(&self) -> Vec<u8> {
        std::fs::read(self.state_dir().join("overrides.json")).unwrap_or_default()
    }

    /// The A records answered for `name`, sorted.
    pub fn answers(&self, name: &str) -> Vec<String> {
        let reply = query(self.server.addr, name, RecordType::A);
        let mut out: Vec<String> = reply.answers.iter().map(|r| r.data.to_string()).collect();
        out.sort();
        out
    }

    /// Share of `n` queries for `name` answered with each address.
    pub fn shares(&self, name: &str, n: usize) -> HashMap<String, f64> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for _ in 0..n {
            for a in self.answers(name) {
                *counts.entry(a).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .map(|(k, v)| (k, v as f64 / n as f64))
            .collect()
    }
}

/// One API request to `addr`; `(status, JSON body)`.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string().into_bytes());
    let response = http::request(&addr.to_string(), method, path, token, body.as_deref())
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    (response.status, json_body(method, path, &response.body))
}

/// A response body as JSON (`Null` when empty); panics naming the request
/// when it is not JSON.
pub fn json_body(method: &str, path: &str, body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "{method} {path}: body is not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        )
    })
}

/// Asserts `value` is the error shape with string code and message; the code.
pub fn error_code(value: &Value) -> &str {
    let code = value["error"]["code"].as_str();
    let message = value["error"]["message"].as_str();
    assert!(
        code.is_some_and(|c| !c.is_empty()) && message.is_some_and(|m| !m.is_empty()),
        "not the error shape: {value}"
    );
    code.unwrap()
}
