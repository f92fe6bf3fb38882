//! The shipped example config answers what the README says it does.

mod common;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use std::path::Path;

/// Starts the repo's `config/switchyard.toml` with its listeners moved to port 0.
fn start_example() -> TestServer {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(repo.join("config/switchyard.toml")).unwrap();
    let (_, tail) = text
        .split_once("\n# -----")
        .expect("traffic section marker");
    // The server table is rewritten by the harness; keep everything after it.
    TestServer::builder()
        .zones(&repo.join("zones"))
        .tail(&format!("# -----{tail}"))
        .start()
}

fn a_records(server: &TestServer, name: &str, subnet: Option<&str>) -> Vec<String> {
    let msg = match subnet {
        Some(subnet) => ecs_query(name, RecordType::A, subnet),
        None => make_query(name, RecordType::A, Some(1232)),
    };
    let reply = udp(server.addr, &msg);
    assert_eq!(
        reply.metadata.response_code,
        ResponseCode::NoError,
        "{name}"
    );
    let mut out: Vec<String> = reply.answers.iter().map(|r| r.data.to_string()).collect();
    out.sort();
    out
}

#[test]
fn readme_dig_examples_hold() {
    let server = start_example();
    assert_eq!(
        a_records(&server, "www.example.com.", None),
        ["192.0.2.80", "192.0.2.81"]
    );
    assert_eq!(a_records(&server, "api.example.com.", None), ["192.0.2.1"]);
    assert_eq!(
        a_records(&server, "geo.example.com.", Some("81.2.69.0/24")),
        ["198.51.100.1"]
    );
    assert_eq!(
        a_records(&server, "geo.example.com.", Some("216.160.83.0/24")),
        ["192.0.2.1"]
    );
    assert_eq!(
        a_records(&server, "geo.example.com.", Some("202.196.224.0/24")),
        ["203.0.113.1"]
    );
    assert_eq!(
        a_records(&server, "near.example.com.", Some("202.196.224.0/24")),
        ["203.0.113.1"]
    );
    assert_eq!(a_records(&server, "pool.example.com.", None).len(), 2);
    let weighted = a_records(&server, "app.example.com.", None);
    assert_eq!(weighted.len(), 1);
    assert!(["192.0.2.1", "198.51.100.1", "203.0.113.1"].contains(&weighted[0].as_str()));
}
