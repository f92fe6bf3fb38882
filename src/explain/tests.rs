//! Explanations agree with the query path and describe each policy.

use std::path::Path;
use std::str::FromStr;
use std::time::SystemTime;

use hickory_proto::rr::{Name, RecordType};

use super::*;
use crate::load::Inputs;

fn snapshot() -> (Snapshot, tempfile::TempDir) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo.join("config/switchyard.toml"))
        .unwrap()
        .replace(
            "zones_dir = \"../zones\"",
            &format!("zones_dir = {:?}", repo.join("zones").display().to_string()),
        )
        .replace(
            "tokens_file = \"tokens.example\"",
            &format!(
                "tokens_file = {:?}",
                repo.join("config/tokens.example").display().to_string()
            ),
        );
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, text).unwrap();
    let inputs = Inputs::load(&path).unwrap();
    let snapshot = Snapshot::build(&inputs, &Default::default(), 1, SystemTime::UNIX_EPOCH);
    (snapshot, dir)
}

fn question(name: &str, qtype: RecordType, client: &str) -> Question {
    Question {
        name: Name::from_str(name).unwrap(),
        qtype,
        client: ClientSpec::parse(client).unwrap(),
    }
}

#[test]
fn geo_explains_the_matched_rule_and_each_region() {
    let (snapshot, _dir) = snapshot();
    let value = explain(
        &snapshot,
        &question("geo.example.com.", RecordType::A, "81.2.69.7/32"),
        1,
    );
    assert_eq!(value["client"]["source"], "ecs");
    assert_eq!(value["client"]["location"]["country"], "GB");
    assert_eq!(value["client"]["location"]["source"], "geo.networks");
    assert_eq!(value["client"]["location"]["network"], "81.2.69.0/24");
    let service = &value["service"];
    assert_eq!(service["rule"]["kind"], "country");
    assert_eq!(service["rule"]["match"], "GB");
    let chosen: Vec<&str> = service["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["chosen"] == true)
        .map(|c| c["region"].as_str().unwrap())
        .collect();
    assert_eq!(chosen, ["eu-west"]);
    assert_eq!(value["answer"]["records"][0]["data"], "198.51.100.1");
    assert_eq!(value["answer"]["ecs_scope"], 24);
    assert_eq!(value["answer"]["ttl"], 30);
}

#[test]
fn weighted_lists_shares_that_sum_to_one() {
    let (snapshot, _dir) = snapshot();
    let value = explain(
        &snapshot,
        &question("app.example.com.", RecordType::A, "192.0.2.1"),
        7,
    );
    let candidates = value["service"]["candidates"].as_array().unwrap();
    let total: f64 = candidates
        .iter()
        .map(|c| c["share"].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    let drawn: Vec<&Value> = candidates.iter().filter(|c| c["chosen"] == true).collect();
    assert_eq!(drawn.len(), 1);
    assert_eq!(value["client"]["source"], "address");
}

#[test]
fn static_names_and_unparsable_clients() {
    let (snapshot, _dir) = snapshot();
    let value = explain(
        &snapshot,
        &question("www.example.com.", RecordType::A, "192.0.2.1"),
        1,
    );
    assert_eq!(value["service"], Value::Null);
    assert_eq!(value["answer"]["rcode"], "NOERROR");
    assert!(ClientSpec::parse("nope").is_err());
    assert_eq!(
        ClientSpec::parse("81.2.69.77/24"),
        Ok(ClientSpec::Subnet {
            addr: "81.2.69.0".parse().unwrap(),
            prefix: 24
        })
    );
}
