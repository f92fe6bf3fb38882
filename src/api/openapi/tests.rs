//! The document against the route table, the parsers and the contract.
use super::*;
use crate::contract::NOT_ONLY_WHITESPACE;
use std::collections::BTreeSet;

/// Every served route is documented with its method, and nothing more.
#[test]
fn document_matches_the_route_table() {
    let served: BTreeSet<(String, String)> = super::super::routes::table()
        .into_iter()
        .map(|(m, p)| (m.to_lowercase(), p.to_string()))
        .collect();
    let doc = document();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    assert_eq!(served, documented);
}

/// Every `$ref` in the document names a schema it carries.
#[test]
fn every_reference_resolves() {
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 20, "{found:?}");
    for r in found {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(&r);
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
}

/// The limits the derived request schemas state are the server's.
#[test]
fn derived_limits_are_the_servers() {
    use crate::contract::{MAX_EXPIRES_SECS, MAX_WHY};
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    for name in [
        "WeightRequest",
        "DrainRequest",
        "ForceRequest",
        "DeleteRequest",
        "DrillRequest",
    ] {
        let schema = &schemas[name];
        assert_eq!(schema["additionalProperties"], false, "{name}");
        let why = &schema["properties"]["why"];
        assert_eq!(why["pattern"], NOT_ONLY_WHITESPACE, "{name}");
        assert_eq!(why["maxLength"], MAX_WHY, "{name}");
        assert_eq!(
            schema["required"]
                .as_array()
                .map(|r| r.contains(&json!("why"))),
            Some(true)
        );
        if let Some(expires) = schema["properties"].get("expires_in_secs") {
            assert_eq!(expires["maximum"], MAX_EXPIRES_SECS, "{name}");
            assert_eq!(expires["minimum"], 1, "{name}");
        }
    }
    let weight = &schemas["WeightRequest"]["properties"]["weight"];
    assert_eq!(weight["maximum"], crate::overrides::MAX_WEIGHT);
    let codes = &schemas["ErrorCode"]["enum"];
    assert!(
        codes
            .as_array()
            .is_some_and(|c| c.contains(&json!("unknown_region")))
    );
}

/// The patterns `/v1/explain` publishes agree with the parsers it uses
/// on names and subnets at the edges.
#[test]
fn explain_patterns_agree_with_the_parsers() {
    let name = regex::Regex::new(NAME_PATTERN).unwrap();
    let long = "a".repeat(63);
    let too_long = "a".repeat(64);
    for text in [
        "app.example.com",
        "app.example.com.",
        "*.example.com",
        "*x.example.com",
        ".",
        "_srv._tcp.example.com",
        "a-b.example",
        "0",
        &long,
        "",
        "..",
        "a..b",
        "-a.example",
        "a*b.example",
        "a b",
        "é.example",
        &too_long,
    ] {
        let parses = super::super::explain::parse_name(text).is_ok();
        assert_eq!(name.is_match(text), parses, "{text:?}");
    }
    let subnet = regex::Regex::new(IPV4_SUBNET_PATTERN).unwrap();
    for text in [
        "81.2.69.0/24",
        "0.0.0.0/0",
        "255.255.255.255/32",
        "81.2.69.7/24",
    ] {
        assert!(subnet.is_match(text), "{text}");
        assert!(crate::explain::ClientSpec::parse(text).is_ok(), "{text}");
    }
    for text in [
        "81.2.69.0/33",
        "256.0.0.0/8",
        "1.2.3/24",
        "01.2.3.4/8",
        "1.2.3.4/",
    ] {
        assert!(!subnet.is_match(text), "{text}");
    }
    // `why`: the pattern and the server's trim agree on white space.
    let why = regex::Regex::new(NOT_ONLY_WHITESPACE).unwrap();
    for c in (0..0x3100u32).filter_map(char::from_u32) {
        assert_eq!(
            why.is_match(&c.to_string()),
            !c.is_whitespace(),
            "U+{:04X}",
            c as u32
        );
    }
}
