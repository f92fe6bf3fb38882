//! Geo fall-through over real UDP: when every region of the matched rule is
//! unavailable, the next more general rule answers (enclosing CIDR rule,
//! country, continent, default) before the all-down rule, and `explain`
//! lists each step tried.

mod common;

use common::api::call;
use common::{TestServer, ecs_query, udp, zones_dir};
use hickory_proto::rr::RecordType;
use serde_json::Value;

const ZONE: &str = "$TTL 300\n@ SOA ns1 host 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n";

const TAIL: &str = r#"
[geo.networks]
"198.51.100.0/24" = { country = "GB", continent = "EU" }

[regions.narrow]
endpoints = [{ address = "10.0.0.1" }]
[regions.wide]
endpoints = [{ address = "10.0.0.2" }]
[regions.uk]
endpoints = [{ address = "10.0.0.3" }]
[regions.europe]
endpoints = [{ address = "10.0.0.4" }]
[regions.world]
endpoints = [{ address = "10.0.0.5" }]

[services."geo.example.com"]
policy = "geo"
all_down = "fallback"
fallback = "narrow"
[services."geo.example.com".geo]
cidr = { "198.51.100.128/25" = ["narrow"], "198.51.100.0/24" = ["wide"] }
country = { GB = ["uk"] }
continent = { EU = ["europe"] }
default = ["world"]
"#;

struct Setup {
    server: TestServer,
    _zones: tempfile::TempDir,
}

impl Setup {
    fn start() -> Setup {
        let zones = zones_dir(&[("example.com", ZONE)]);
        let server = TestServer::builder().zones(zones.path()).tail(TAIL).start();
        Setup {
            server,
            _zones: zones,
        }
    }

    fn down(&self, region: &str, address: &str) {
        self.server.set_health(region, address, false);
    }

    fn answer(&self, subnet: &str) -> Vec<String> {
        udp(
            self.server.addr,
            &ecs_query("geo.example.com.", RecordType::A, subnet),
        )
        .answers
        .iter()
        .map(|r| r.data.to_string())
        .collect()
    }

    fn explain(&self, client: &str) -> Value {
        let path = format!("/v1/explain?name=geo.example.com&type=A&client={client}");
        let (status, value) = call(self.server.api, "GET", &path, None, None);
        assert_eq!(status, 200, "{value}");
        value
    }
}

/// (kind, match, result) of each step explain lists.
fn steps(explained: &Value) -> Vec<(String, String, String)> {
    explained["service"]["rule"]["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps: {explained}"))
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap().to_string(),
                s["match"].as_str().unwrap_or("-").to_string(),
                s["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn step(kind: &str, matched: &str, result: &str) -> (String, String, String) {
    (kind.into(), matched.into(), result.into())
}

#[test]
fn unavailable_rules_fall_through_to_more_general_ones_then_all_down() {
    let s = Setup::start();
    let client = "198.51.100.200/32";
    assert_eq!(s.answer(client), ["10.0.0.1"]);
    let explained = s.explain(client);
    assert_eq!(explained["service"]["rule"]["kind"], "cidr");
    assert_eq!(explained["service"]["rule"]["fell_through"], false);

    s.down("narrow", "10.0.0.1");
    assert_eq!(s.answer(client), ["10.0.0.2"], "the enclosing /24 rule");
    s.down("wide", "10.0.0.2");
    assert_eq!(s.answer(client), ["10.0.0.3"], "the country rule");
    s.down("uk", "10.0.0.3");
    assert_eq!(s.answer(client), ["10.0.0.4"], "the continent rule");
    s.down("europe", "10.0.0.4");
    assert_eq!(s.answer(client), ["10.0.0.5"], "the default list");

    let explained = s.explain(client);
    let rule = &explained["service"]["rule"];
    assert_eq!(rule["kind"], "default", "{explained}");
    assert_eq!(rule["fell_through"], true);
    let unavailable = "every region unavailable: fall through";
    assert_eq!(
        steps(&explained),
        [
            step("cidr", "198.51.100.128/25", unavailable),
            step("cidr", "198.51.100.0/24", unavailable),
            step("country", "GB", unavailable),
            step("continent", "EU", unavailable),
            step("default", "-", "answered by world"),
        ]
    );
    // The answer depended on the location too: scope covers the /24 and
    // the /25 rule inside it.
    assert_eq!(explained["answer"]["ecs_scope"], 25);

    // Only when every rule is exhausted does the all-down rule answer:
    // the fallback region, with all its endpoints.
    s.down("world", "10.0.0.5");
    assert_eq!(s.answer(client), ["10.0.0.1"]);
    let explained = s.explain(client);
    assert_eq!(explained["service"]["rule"]["all_down"], true);
    assert_eq!(explained["service"]["decision"]["reason"], "all_down");
    assert_eq!(steps(&explained).len(), 5);
}
