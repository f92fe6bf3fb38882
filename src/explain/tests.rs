//! Explanations agree with the query path and describe each policy.

use std::path::Path;
use std::str::FromStr;
use std::time::SystemTime;

use hickory_proto::rr::{Name, RecordType};
use serde_json::{Value, json};

use super::*;
use crate::load::Inputs;

/// The explanation as the API serializes it (the tests read its JSON, so
/// they hold the shape clients see).
fn explain(snapshot: &Snapshot, question: &Question, seed: u64) -> Value {
    serde_json::to_value(super::explain(snapshot, question, seed)).unwrap()
}

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

#[test]
fn the_matched_rule_is_the_decisions() {
    use crate::traffic::policy::{GeoStep, Picks};
    let (snapshot, _dir) = snapshot();
    let index = snapshot.plan.by_name[&Name::from_str("geo.example.com.").unwrap()];
    let service = &snapshot.plan.services[index];
    // A CIDR rule, a country, two continents, and the default list.
    let cases = [
        ("192.0.2.1", "cidr"),
        ("81.2.69.7", "country"),
        ("216.160.83.1", "continent"),
        ("202.196.224.1/24", "continent"),
        ("10.1.2.3", "default"),
    ];
    for (client, kind) in cases {
        let client = ClientSpec::parse(client).unwrap().client();
        let mut rng = fastrand::Rng::with_seed(3);
        let decision = decide(
            &snapshot.plan,
            &snapshot.state,
            service,
            &client,
            Family::V4,
            &snapshot.geo,
            &mut rng,
        );
        let detail = candidates::describe(&snapshot, service, &client, &decision);
        assert!(decision.rule.is_some(), "{client:?}: no rule recorded");
        assert_eq!(detail.step, decision.rule, "{client:?}");
        let rule = serde_json::to_value(&detail.rule).unwrap();
        assert_eq!(rule["kind"], kind, "{client:?}");
        let expected_match = match decision.rule.unwrap() {
            GeoStep::Country(c) | GeoStep::Continent(c) => json!(crate::geo::code_str(&c)),
            GeoStep::Cidr(_) => json!("192.0.2.0/24"),
            GeoStep::Default => Value::Null,
        };
        assert_eq!(rule.get("match"), Some(&expected_match), "{client:?}");
        // The region the decision picked heads the rule's list.
        let Picks::Region(r) = decision.picks else {
            panic!("{client:?}: geo picks one region");
        };
        assert_eq!(
            rule["regions"][0],
            snapshot.plan.regions[r].name.as_str(),
            "{client:?}"
        );
    }
}

/// Each policy's rule carries its own parts and no other's: geo's `match`,
/// `steps`... appear only for geo (and `match` is `null`, not absent, for
/// the default list, see `the_matched_rule_is_the_decisions`).
#[test]
fn each_policy_rule_carries_only_its_parts() {
    let (snapshot, _dir) = snapshot();
    let rule = |name: &str| -> Value {
        explain(&snapshot, &question(name, RecordType::A, "192.0.2.1"), 1)["service"]["rule"]
            .clone()
    };
    assert_eq!(rule("app.example.com."), json!({"kind": "weights"}));
    assert_eq!(rule("near.example.com."), json!({"kind": "distance"}));
    let failover = rule("api.example.com.");
    assert_eq!(failover["kind"], "tiers");
    assert!(failover["tiers"].is_array(), "{failover}");
    assert_eq!(failover.as_object().unwrap().len(), 2, "{failover}");
    let sample = rule("pool.example.com.");
    assert_eq!(sample["kind"], "sample");
    assert!(sample["max_answers"].is_u64(), "{sample}");
    assert_eq!(sample.as_object().unwrap().len(), 2, "{sample}");
    let geo = rule("geo.example.com.");
    for key in [
        "match",
        "regions",
        "result",
        "fell_through",
        "all_down",
        "steps",
    ] {
        assert!(geo.get(key).is_some(), "{key} in {geo}");
    }
    assert!(geo.get("tiers").is_none(), "{geo}");
    // A question the policy does not answer: a note, and no rule or candidates.
    let value = explain(
        &snapshot,
        &question("app.example.com.", RecordType::TXT, "192.0.2.1"),
        1,
    );
    let service = value["service"].as_object().unwrap();
    assert!(service.contains_key("note"), "{value}");
    for key in ["rule", "candidates", "decision"] {
        assert!(!service.contains_key(key), "{key} in {value}");
    }
}
