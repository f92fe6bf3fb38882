//! Policy and plan tests: seeded, deterministic, no sockets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use hickory_proto::rr::Name;

use super::policy::{Decision, Family, Picks, Reason, decide};
use super::*;
use crate::config::Config;
use crate::geo::GeoDb;
use crate::zone::ZoneSet;
use crate::zone::{Zone, parse_zone_text};

const ZONE: &str = "$TTL 300\n@ SOA ns1 host 1 2 3 4 60\n@ NS ns1\nns1 A 192.0.2.53\nsub NS ns.sub\nns.sub A 192.0.2.54\nstatic A 192.0.2.9\n";

const BASE: &str = r#"version = 1
[server]
dns_listen = ["127.0.0.1:0"]
api_listen = "127.0.0.1:0"
zones_dir = "zones"
state_dir = "state"

[geo.networks]
"81.2.69.0/24" = { country = "GB", continent = "EU", coordinates = [51.5, -0.1] }
"81.2.0.0/16" = { country = "FR", continent = "EU", coordinates = [48.9, 2.35] }
"216.160.83.0/24" = { country = "US", continent = "NA", coordinates = [47.6, -122.3] }
"202.196.224.0/24" = { country = "SG", continent = "AS", coordinates = [1.3, 103.8] }

[regions.a]
weight = 60
coordinates = [38.9, -77.0]
endpoints = [{ address = "192.0.2.1" }, { address = "192.0.2.2" }, { address = "2001:db8::1" }]
[regions.b]
weight = 30
coordinates = [53.3, -6.3]
endpoints = [{ address = "198.51.100.1" }]
[regions.c]
weight = 10
coordinates = [1.35, 103.8]
endpoints = [{ address = "203.0.113.1" }]
"#;

struct Fixture {
    config: Config,
    plan: TrafficPlan,
    geo: GeoDb,
    /// The state of the latest `decide`, to materialise its picks against.
    last_state: std::cell::RefCell<Option<TrafficState>>,
}

fn config_text(services: &str) -> String {
    format!("{BASE}\n{services}")
}

fn zones() -> ZoneSet {
    let origin = Name::from_str("example.com.").unwrap();
    let zone = Zone::build(
        &origin,
        parse_zone_text(ZONE, &origin).unwrap(),
        Path::new("z"),
    )
    .unwrap();
    ZoneSet::new(vec![Arc::new(zone)])
}

fn compile_text(text: &str) -> Result<TrafficPlan, Vec<crate::config::ConfigError>> {
    let config = Config::parse(text, Path::new("sy.toml")).map_err(|e| vec![e])?;
    compile(&config, &zones())
}

fn fixture(services: &str) -> Fixture {
    let config = Config::parse(&config_text(services), Path::new("sy.toml")).unwrap();
    let plan = compile(&config, &zones()).unwrap_or_else(|e| panic!("{e:?}"));
    let geo = GeoDb::load(&config).unwrap();
    Fixture {
        config,
        plan,
        geo,
        last_state: Default::default(),
    }
}

impl Fixture {
    fn state(&self, down: &[(&str, &str)], weights: &[(&str, u32)]) -> TrafficState {
        let health: HealthInputs = down
            .iter()
            .map(|(r, e)| ((r.to_string(), e.to_string()), false))
            .collect();
        let mut state = TrafficState::compute(&self.plan, &health, &NoAdjustments);
        for (region, weight) in weights {
            state.regions[self.plan.region_index[*region]].weight = *weight;
        }
        state
    }

    fn decide(&self, state: &TrafficState, client: &str, ecs: Option<u8>, seed: u64) -> Decision {
        let client = Client {
            addr: IpAddr::from_str(client).unwrap(),
            ecs_source_prefix: ecs,
        };
        let mut rng = fastrand::Rng::with_seed(seed);
        *self.last_state.borrow_mut() = Some(state.clone());
        decide(
            &self.plan,
            state,
            &self.plan.services[0],
            &client,
            Family::Any,
            &self.geo,
            &mut rng,
        )
    }

    /// The endpoints of the latest decision, materialised against its state.
    fn endpoints(&self, decision: &Decision) -> Vec<(RegionId, usize)> {
        let state = self
            .last_state
            .borrow()
            .clone()
            .unwrap_or_else(|| self.state(&[], &[]));
        decision.endpoints(&self.plan, &state, &self.plan.services[0])
    }

    /// Region names of a decision's endpoints, deduplicated in order.
    fn regions(&self, decision: &Decision) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (r, _) in self.endpoints(decision) {
            let name = self.plan.regions[r].name.clone();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

const WEIGHTED: &str =
    "[services.\"w.example.com\"]\npolicy = \"weighted\"\nregions = [\"a\", \"b\", \"c\"]\n";

#[test]
fn weighted_shares_match_weights_over_100k_draws() {
    let f = fixture(WEIGHTED);
    let state = f.state(&[], &[]);
    let client = Client {
        addr: "192.0.2.7".parse().unwrap(),
        ecs_source_prefix: None,
    };
    let mut rng = fastrand::Rng::with_seed(7);
    let mut counts: HashMap<String, usize> = HashMap::new();
    let draws = 100_000;
    for _ in 0..draws {
        let d = decide(
            &f.plan,
            &state,
            &f.plan.services[0],
            &client,
            Family::Any,
            &f.geo,
            &mut rng,
        );
        *counts.entry(f.regions(&d)[0].clone()).or_default() += 1;
    }
    for (region, expected) in [("a", 0.6), ("b", 0.3), ("c", 0.1)] {
        let share = counts[region] as f64 / draws as f64;
        assert!(
            (share - expected).abs() < 0.01,
            "{region}: {share} vs {expected}"
        );
    }
}

#[test]
fn drained_or_down_regions_are_never_chosen_unless_all_are() {
    let f = fixture(WEIGHTED);
    // Property over many seeded random states: a chosen region is available.
    let mut states = fastrand::Rng::with_seed(99);
    for seed in 0..2000 {
        let mut down = Vec::new();
        let mut weights = Vec::new();
        for (region, eps) in [
            ("a", &["192.0.2.1", "192.0.2.2", "2001:db8::1"][..]),
            ("b", &["198.51.100.1"][..]),
            ("c", &["203.0.113.1"][..]),
        ] {
            for ep in eps {
                if states.bool() {
                    down.push((region, *ep));
                }
            }
            if states.u8(0..4) == 0 {
                weights.push((region, 0));
            }
        }
        let state = f.state(&down, &weights);
        let d = f.decide(&state, "192.0.2.7", None, seed);
        let any_available = state.regions.iter().any(|r| r.available());
        match d.reason {
            Reason::Chosen => {
                assert!(any_available);
                for (r, e) in &f.endpoints(&d) {
                    assert!(
                        state.regions[*r].available(),
                        "seed {seed}: chose unavailable region"
                    );
                    assert!(
                        state.regions[*r].endpoints_up[*e],
                        "seed {seed}: chose a down endpoint"
                    );
                }
            }
            Reason::AllDown(AllDown::FailOpen) => {
                assert!(
                    !any_available,
                    "seed {seed}: all-down rule with a region available"
                );
                assert_eq!(f.endpoints(&d).len(), 5, "fail open answers every endpoint");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn failover_falls_through_tiers_in_order() {
    let f = fixture(
        "[services.\"f.example.com\"]\npolicy = \"failover\"\ntiers = [[\"a\"], [\"b\", \"c\"]]\n",
    );
    let up = f.state(&[], &[]);
    assert_eq!(f.regions(&f.decide(&up, "192.0.2.7", None, 1)), ["a"]);
    // a is healthy while one endpoint is up (min_healthy = 1), answering only that one.
    let partly = f.state(&[("a", "192.0.2.1"), ("a", "2001:db8::1")], &[]);
    let d = f.decide(&partly, "192.0.2.7", None, 1);
    assert_eq!(f.endpoints(&d), vec![(0, 1)]);
    let a_down = f.state(
        &[("a", "192.0.2.1"), ("a", "192.0.2.2"), ("a", "2001:db8::1")],
        &[],
    );
    assert_eq!(
        f.regions(&f.decide(&a_down, "192.0.2.7", None, 1)),
        ["b", "c"]
    );
    let only_c = f.state(
        &[
            ("a", "192.0.2.1"),
            ("a", "192.0.2.2"),
            ("a", "2001:db8::1"),
            ("b", "198.51.100.1"),
        ],
        &[],
    );
    assert_eq!(f.regions(&f.decide(&only_c, "192.0.2.7", None, 1)), ["c"]);
    let drained_a = f.state(&[], &[("a", 0)]);
    assert_eq!(
        f.regions(&f.decide(&drained_a, "192.0.2.7", None, 1)),
        ["b", "c"]
    );
}

#[test]
fn a_region_is_passed_over_for_a_family_whose_endpoints_are_all_down() {
    let f = fixture(
        "[services.\"f.example.com\"]\npolicy = \"failover\"\ntiers = [[\"a\"], [\"b\"]]\n",
    );
    // a's IPv4 endpoints are down, its IPv6 one is up: a stays healthy.
    let v4_down = f.state(&[("a", "192.0.2.1"), ("a", "192.0.2.2")], &[]);
    assert!(v4_down.regions[f.plan.region_index["a"]].available());
    let decide = |state: &TrafficState, family| {
        *f.last_state.borrow_mut() = Some(state.clone());
        decide_with(&f, state, family, 1)
    };
    // A moves to b; AAAA stays on a, whose IPv6 endpoint is up.
    assert_eq!(f.regions(&decide(&v4_down, Family::V4)), ["b"]);
    assert_eq!(f.regions(&decide(&v4_down, Family::V6)), ["a"]);
    // With a's IPv6 endpoint down instead, AAAA goes on to b, which has no
    // IPv6 endpoint (NODATA from b), and A stays on a.
    let v6_down = f.state(&[("a", "2001:db8::1")], &[]);
    assert_eq!(f.regions(&decide(&v6_down, Family::V4)), ["a"]);
    assert_eq!(
        decide(&v6_down, Family::V6).picks,
        Picks::Tier(1),
        "AAAA passes over a"
    );
    // Weighted: with a's IPv4 down, no A answer ever comes from a.
    let w = fixture(WEIGHTED);
    let state = w.state(&[("a", "192.0.2.1"), ("a", "192.0.2.2")], &[]);
    for seed in 0..200 {
        let d = decide_with(&w, &state, Family::V4, seed);
        assert_ne!(
            d.picks,
            Picks::Region(w.plan.region_index["a"]),
            "seed {seed}"
        );
    }
}

fn decide_with(f: &Fixture, state: &TrafficState, family: Family, seed: u64) -> Decision {
    decide(
        &f.plan,
        state,
        &f.plan.services[0],
        &Client {
            addr: IpAddr::from_str("192.0.2.7").unwrap(),
            ecs_source_prefix: None,
        },
        family,
        &f.geo,
        &mut fastrand::Rng::with_seed(seed),
    )
}

const GEO: &str = r#"[services."g.example.com"]
policy = "geo"
[services."g.example.com".geo]
default = ["a"]
cidr = { "81.2.69.128/25" = ["c", "a"] }
country = { GB = ["b", "a"] }
continent = { EU = ["a", "b"], AS = ["c", "b"] }
"#;

#[test]
fn geo_uses_the_most_specific_rule_and_reports_its_scope() {
    let f = fixture(GEO);
    let up = f.state(&[], &[]);
    // CIDR rule beats the GB country rule; scope is the rule's prefix.
    let d = f.decide(&up, "81.2.69.200", Some(32), 1);
    assert_eq!((f.regions(&d), d.scope), (vec!["c".to_string()], 25));
    // Country (GB from the /24 network) beats continent EU; the /25 CIDR
    // rule inside that /24 narrows the scope to 25 bits.
    // The /25 rule inside that /24 would need 25 bits, but the scope never
    // exceeds the 24 bits the resolver sent.
    let d = f.decide(&up, "81.2.69.10", Some(24), 1);
    assert_eq!((f.regions(&d), d.scope), (vec!["b".to_string()], 24));
    let d = f.decide(&up, "81.2.69.10", Some(32), 1);
    assert_eq!((f.regions(&d), d.scope), (vec!["b".to_string()], 25));
    // FR only matches the continent rule. 81.2.1.0/24 is in the /16
    // network; the GB /24 and the /25 rule inside it branch off at bit 17,
    // so every address of 81.2.0.0/18 is decided the same way.
    let d = f.decide(&up, "81.2.1.0", Some(24), 1);
    assert_eq!((f.regions(&d), d.scope), (vec!["a".to_string()], 18));
    // US: the /24 network holds no narrower rule, so its prefix is the scope.
    let d = f.decide(&up, "216.160.83.0", Some(24), 1);
    assert_eq!((f.regions(&d), d.scope), (vec!["a".to_string()], 24));
    // Unknown client: default. No configured network lies in
    // 192.0.0.0/5 (the nearest, 202.196.224.0/24, differs in bit 4).
    let d = f.decide(&up, "198.51.100.0", Some(24), 1);
    assert_eq!((f.regions(&d), d.scope), (vec!["a".to_string()], 5));
    // A scope never exceeds the source prefix.
    let d = f.decide(&up, "81.2.69.0", Some(20), 1);
    assert_eq!(d.scope, 20);
    // No IPv6 network anywhere: nothing depends on an IPv6 client's address.
    let d = f.decide(&up, "2001:db8:1::", Some(48), 1);
    assert_eq!((f.regions(&d), d.scope), (vec!["a".to_string()], 0));
    // IPv4-mapped ECS addresses are IPv4 clients: the CIDR rule applies,
    // and the scope counts the 96 bits of the mapping.
    let d = f.decide(&up, "::ffff:81.2.69.200", Some(128), 1);
    assert_eq!((f.regions(&d), d.scope), (vec!["c".to_string()], 121));
}

const GEO_FALL_THROUGH: &str = r#"[services."g.example.com"]
policy = "geo"
[services."g.example.com".geo]
default = ["a"]
cidr = { "81.2.69.192/26" = ["b"], "81.2.69.128/25" = ["c"] }
country = { GB = ["b"] }
continent = { EU = ["c"] }
"#;

#[test]
fn geo_falls_through_to_more_general_rules_before_all_down() {
    let f = fixture(GEO_FALL_THROUGH);
    let down = |regions: &[&str]| {
        let mut endpoints = Vec::new();
        for r in regions {
            for e in &f.plan.regions[f.plan.region_index[*r]].endpoints {
                endpoints.push((*r, e.id.clone()));
            }
        }
        let list: Vec<(&str, &str)> = endpoints.iter().map(|(r, e)| (*r, e.as_str())).collect();
        f.state(&list, &[])
    };
    let pick = |state: &TrafficState, client: &str| {
        let d = f.decide(state, client, Some(32), 1);
        (f.regions(&d), d.reason)
    };
    let chosen = |r: &str| (vec![r.to_string()], Reason::Chosen);
    // CIDR /26, then the enclosing /25, then country, continent, default.
    assert_eq!(pick(&down(&[]), "81.2.69.200"), chosen("b"));
    assert_eq!(pick(&down(&["b"]), "81.2.69.200"), chosen("c"));
    assert_eq!(pick(&down(&["b", "c"]), "81.2.69.200"), chosen("a"));
    // GB client outside the CIDR rules: country, then continent, then default.
    assert_eq!(pick(&down(&[]), "81.2.69.10"), chosen("b"));
    assert_eq!(pick(&down(&["b"]), "81.2.69.10"), chosen("c"));
    assert_eq!(pick(&down(&["b", "c"]), "81.2.69.10"), chosen("a"));
    // Everything down: only now the all-down rule answers.
    let d = f.decide(&down(&["a", "b", "c"]), "81.2.69.10", Some(32), 1);
    assert_eq!(d.reason, Reason::AllDown(AllDown::FailOpen));
    // Falling through to the location makes the answer depend on it: the
    // scope covers the /24 network, not just the CIDR rule.
    let d = f.decide(&down(&["b", "c"]), "81.2.69.200", Some(32), 1);
    assert_eq!(d.scope, 26);
    let d = f.decide(&down(&["b", "c"]), "81.2.69.10", Some(32), 1);
    assert_eq!(d.scope, 25);
}

#[test]
fn geo_falls_through_its_list_then_applies_all_down() {
    let f = fixture(GEO);
    let b_down = f.state(&[("b", "198.51.100.1")], &[]);
    assert_eq!(
        f.regions(&f.decide(&b_down, "81.2.69.10", Some(24), 1)),
        ["a"]
    );
    let both_down = f.state(
        &[
            ("b", "198.51.100.1"),
            ("a", "192.0.2.1"),
            ("a", "192.0.2.2"),
            ("a", "2001:db8::1"),
        ],
        &[],
    );
    let d = f.decide(&both_down, "81.2.69.10", Some(24), 1);
    // c is up but not in GB's list: the list is exhausted, so fail open.
    assert_eq!(d.reason, Reason::AllDown(AllDown::FailOpen));
    assert_eq!(f.regions(&d), ["a", "b", "c"]);
}

#[test]
fn nearest_picks_the_closest_available_region_with_bias() {
    let f = fixture(
        "[services.\"n.example.com\"]\npolicy = \"nearest\"\nregions = [\"a\", \"b\", \"c\"]\n",
    );
    let up = f.state(&[], &[]);
    assert_eq!(f.regions(&f.decide(&up, "81.2.69.1", Some(24), 1)), ["b"]);
    assert_eq!(
        f.regions(&f.decide(&up, "202.196.224.9", Some(24), 1)),
        ["c"]
    );
    assert_eq!(
        f.regions(&f.decide(&up, "216.160.83.1", Some(24), 1)),
        ["a"]
    );
    let b_down = f.state(&[("b", "198.51.100.1")], &[]);
    assert_eq!(
        f.regions(&f.decide(&b_down, "81.2.69.1", Some(24), 1)),
        ["a"]
    );
    let biased = fixture(
        "[services.\"n.example.com\"]\npolicy = \"nearest\"\nregions = [\"a\", \"b\", \"c\"]\nbias_km = { b = 6000.0 }\n",
    );
    assert_eq!(
        biased.regions(&biased.decide(&up, "81.2.69.1", Some(24), 1)),
        ["a"]
    );
}

#[test]
fn multivalue_answers_up_to_n_up_endpoints_shuffled() {
    let f = fixture(
        "[services.\"m.example.com\"]\npolicy = \"multivalue\"\nmax_answers = 3\nregions = [\"a\", \"b\", \"c\"]\n",
    );
    let state = f.state(&[("a", "192.0.2.2")], &[]);
    let mut orders = std::collections::HashSet::new();
    for seed in 0..50 {
        let d = f.decide(&state, "192.0.2.7", None, seed);
        let endpoints = f.endpoints(&d);
        assert_eq!(endpoints.len(), 3);
        assert!(!endpoints.contains(&(0, 1)), "down endpoint answered");
        orders.insert(endpoints);
    }
    assert!(orders.len() > 5, "answers are shuffled");
    // Sampling respects the family: an A query gets three IPv4 addresses.
    let client = Client {
        addr: "192.0.2.7".parse().unwrap(),
        ecs_source_prefix: None,
    };
    let all_up = f.state(&[], &[]);
    for seed in 0..50 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let d = decide(
            &f.plan,
            &all_up,
            &f.plan.services[0],
            &client,
            Family::V4,
            &f.geo,
            &mut rng,
        );
        let picked = d.endpoints(&f.plan, &all_up, &f.plan.services[0]);
        assert_eq!(picked.len(), 3);
        assert!(
            !picked.contains(&(0, 2)),
            "IPv6 endpoint sampled for an A query"
        );
    }
}

#[test]
fn all_down_rules() {
    let every_down = [
        ("a", "192.0.2.1"),
        ("a", "192.0.2.2"),
        ("a", "2001:db8::1"),
        ("b", "198.51.100.1"),
        ("c", "203.0.113.1"),
    ];
    let f = fixture(
        "[services.\"x.example.com\"]\npolicy = \"failover\"\nregions = [\"a\", \"b\"]\nall_down = \"fallback\"\nfallback = \"c\"\n",
    );
    let d = f.decide(&f.state(&every_down, &[]), "192.0.2.7", None, 1);
    assert_eq!(
        (d.reason.clone(), f.regions(&d)),
        (Reason::AllDown(AllDown::Fallback(2)), vec!["c".to_string()])
    );
    let f = fixture(
        "[services.\"x.example.com\"]\npolicy = \"failover\"\nregions = [\"a\", \"b\"]\nall_down = \"empty\"\n",
    );
    let d = f.decide(&f.state(&every_down, &[]), "192.0.2.7", None, 1);
    assert!(f.endpoints(&d).is_empty());
    let f =
        fixture("[services.\"x.example.com\"]\npolicy = \"failover\"\nregions = [\"a\", \"b\"]\n");
    let d = f.decide(&f.state(&every_down, &[]), "192.0.2.7", None, 1);
    assert_eq!(f.regions(&d), ["a", "b"]);
    assert_eq!(f.endpoints(&d).len(), 4);
}

fn first_error(services: &str) -> String {
    let errors = compile_text(&config_text(services)).unwrap_err();
    errors[0].to_string()
}

#[test]
fn config_errors_name_line_and_field() {
    let text = config_text(
        "[services.\"w.example.com\"]\npolicy = \"weighted\"\nregions = [\"a\", \"nope\"]\n",
    );
    let line = text.lines().position(|l| l.contains("\"nope\"")).unwrap() + 1;
    let err = first_error(
        "[services.\"w.example.com\"]\npolicy = \"weighted\"\nregions = [\"a\", \"nope\"]\n",
    );
    assert_eq!(
        err,
        format!(
            "sy.toml:{line}: services.\"w.example.com\".regions: unknown region \"nope\" (defined: a, b, c)"
        )
    );
    assert!(
        first_error("[services.\"w.example.org\"]\npolicy = \"weighted\"\nregions = [\"a\"]\n")
            .contains("w.example.org. is not inside any served zone")
    );
    assert!(
        first_error("[services.\"x.sub.example.com\"]\npolicy = \"weighted\"\nregions = [\"a\"]\n")
            .contains("below the delegation sub.example.com.")
    );
    assert!(
        first_error(
            "[services.\"static.example.com\"]\npolicy = \"weighted\"\nregions = [\"a\"]\n"
        )
        .contains("static A records")
    );
    assert!(first_error("[services.\"W.example.com\"]\npolicy = \"weighted\"\nregions = [\"a\"]\n[services.\"w.example.com\"]\npolicy = \"weighted\"\nregions = [\"a\"]\n").contains("duplicate service"));
    assert!(first_error("[services.\"x.example.com\"]\npolicy = \"failover\"\nregions = [\"a\"]\nall_down = \"fallback\"\n").contains("needs `fallback"));
    let negative = compile_text(&BASE.replace("weight = 30", "weight = -30")).unwrap_err();
    assert!(
        negative[0].to_string().contains("regions.b.weight"),
        "{}",
        negative[0]
    );
}

#[test]
fn managed_names_imply_their_missing_ancestors() {
    let f = fixture("[services.\"x.y.z.example.com\"]\npolicy = \"weighted\"\nregions = [\"a\"]\n");
    let names: std::collections::BTreeSet<String> =
        f.plan.implied_names.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        names,
        ["y.z.example.com.", "z.example.com."]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert_eq!(f.config.services.len(), 1);
}
