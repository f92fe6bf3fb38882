//! Cluster health and membership with a real 3-member etcd cluster and
//! three real Switchyard processes, each probing from its own loopback
//! source address and answering real UDP queries.
//!
//! - One checker that cannot reach a region moves no answer anywhere; a
//!   majority that cannot moves every instance's answers.
//! - Every instance shows every instance (live, generation, config digest),
//!   flags the one whose config differs (`/v1/status` and `ctl status`),
//!   and a killed instance's votes vanish with its lease.

mod common;

use std::time::Duration;

use common::etcd::EtcdCluster;
use common::instances::{Instance, PickyTarget, wait_for};
use serde_json::Value;

const ZONE: &str = "$ORIGIN cl.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 127.0.0.1\n";
const EU: &str = "192.0.2.1";
const US: &str = "198.51.100.1";
const NAME: &str = "app.cl.test";
/// Each instance's probe source address (instances a, b, c).
const SOURCES: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];

/// The config of one instance: failover from eu to us, both probed every
/// 100 ms, votes counted by majority.
fn config(
    etcd: &[String],
    source: &str,
    eu: &PickyTarget,
    us: &PickyTarget,
    ttl: u32,
    lease_secs: u32,
) -> String {
    let endpoints: Vec<String> = etcd.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        r#"version = 1
[server]
dns_listen = ["{{dns}}"]
api_listen = "{{api}}"
zones_dir = "zones"
state_dir = "state"
udp_workers = 1

[cluster]
store = "etcd"
endpoints = [{endpoints}]
prefix = "/cluster-health-test/"
instance = "{{instance}}"
lease_ttl_secs = {lease_secs}

[api]
protect_reads = false

[health]
coalesce_ms = 0
quorum = "majority"
source_address = "{source}"

[checks.web]
kind = "http"
interval_ms = 100
timeout_ms = 80
fall = 2
rise = 2
initial = "up"

[regions.eu]
check = "web"
endpoints = [{{ address = "{EU}", probe = "{eu}" }}]

[regions.us]
check = "web"
endpoints = [{{ address = "{US}", probe = "{us}" }}]

[services."{NAME}"]
policy = "failover"
ttl = {ttl}
tiers = [["eu"], ["us"]]
"#,
        endpoints = endpoints.join(", "),
        eu = eu.addr,
        us = us.addr,
    )
}

struct Cluster {
    instances: Vec<Instance>,
    eu: PickyTarget,
    _us: PickyTarget,
    _dir: tempfile::TempDir,
    // Dropped last: instances go before their etcd.
    etcd: EtcdCluster,
}

/// etcd, two targets, and instances a, b, c; `ttls` gives each instance's
/// service TTL (a different one makes a different shared config).
fn start(ttls: [u32; 3], lease_secs: u32) -> Option<Cluster> {
    let etcd = EtcdCluster::start(3)?;
    let urls = etcd.client_urls();
    let (eu, us) = (PickyTarget::start(), PickyTarget::start());
    let dir = tempfile::tempdir().unwrap();
    let instances = ["a", "b", "c"]
        .iter()
        .zip(SOURCES)
        .zip(ttls)
        .map(|((name, source), ttl)| {
            Instance::start(
                &dir.path().join(name),
                name,
                &config(&urls, source, &eu, &us, ttl, lease_secs),
                &[("cl.test.zone", ZONE)],
            )
        })
        .collect();
    Some(Cluster {
        instances,
        eu,
        _us: us,
        _dir: dir,
        etcd,
    })
}

/// `(up_votes, down_votes, verdict, source)` for region `region` in an
/// instance's status.
fn tally(status: &Value, region: &str) -> Option<(u64, u64, bool, String)> {
    let endpoints = status["health_votes"]["endpoints"].as_array()?;
    let e = endpoints.iter().find(|e| e["region"] == region)?;
    Some((
        e["up_votes"].as_u64()?,
        e["down_votes"].as_u64()?,
        e["up"].as_bool()?,
        e["source"].as_str()?.to_string(),
    ))
}

/// Waits until every live instance counts `(up, down)` votes for `region`.
fn wait_votes(cluster: &Cluster, region: &str, up: u64, down: u64) {
    for instance in &cluster.instances {
        let ok = wait_for(Duration::from_secs(15), || {
            tally(&instance.status(), region).is_some_and(|t| (t.0, t.1) == (up, down))
        });
        assert!(
            ok,
            "{} never counted {up} up / {down} down for {region}: {}\n{}",
            instance.name,
            instance.status()["health_votes"],
            instance.log()
        );
    }
}

fn all_answer(cluster: &Cluster, expected: &str) -> bool {
    cluster
        .instances
        .iter()
        .all(|i| i.answers(NAME) == [expected.to_string()])
}

#[test]
fn a_checker_that_cannot_reach_a_region_moves_no_answer_but_a_majority_does() {
    let Some(cluster) = start([30; 3], 10) else {
        return;
    };
    wait_votes(&cluster, "eu", 3, 0);
    assert!(all_answer(&cluster, EU));

    // c alone cannot reach eu: its own verdict goes down...
    cluster.eu.fail_from(&[SOURCES[2]]);
    let c = &cluster.instances[2];
    for instance in &cluster.instances {
        let ok = wait_for(Duration::from_secs(10), || {
            // ...and while its vote travels, no instance moves.
            assert!(all_answer(&cluster, EU), "an answer moved off eu");
            tally(&instance.status(), "eu").is_some_and(|t| (t.0, t.1) == (2, 1))
        });
        assert!(ok, "c's down vote never reached {}", instance.name);
    }
    // Settled: the cluster verdict is up everywhere, from the votes, for
    // many probe intervals.
    for _ in 0..20 {
        assert!(all_answer(&cluster, EU), "an answer moved off eu");
        std::thread::sleep(Duration::from_millis(50));
    }
    for instance in &cluster.instances {
        assert_eq!(
            tally(&instance.status(), "eu"),
            Some((2, 1, true, "votes".into()))
        );
    }
    assert_eq!(
        c.status()["health_votes"]["source"],
        "cluster",
        "c counts the cluster's votes"
    );

    // b and c cannot reach eu: a majority, so every instance fails over.
    cluster.eu.fail_from(&[SOURCES[1], SOURCES[2]]);
    assert!(
        wait_for(Duration::from_secs(10), || all_answer(&cluster, US)),
        "a majority saw eu down but not every instance failed over"
    );
    wait_votes(&cluster, "eu", 1, 2);
    assert!(all_answer(&cluster, US));

    // Reachable again from everywhere: every instance comes back.
    cluster.eu.fail_from(&[]);
    assert!(
        wait_for(Duration::from_secs(10), || all_answer(&cluster, EU)),
        "eu never came back"
    );
    wait_votes(&cluster, "eu", 3, 0);
}

#[test]
fn membership_shows_every_instance_flags_config_drift_and_forgets_the_dead() {
    // c serves the name with another TTL: a different shared config.
    let Some(mut cluster) = start([30, 30, 45], 2) else {
        return;
    };
    wait_votes(&cluster, "eu", 3, 0);
    let a = &cluster.instances[0];
    let ok = wait_for(Duration::from_secs(10), || {
        a.status()["instances"]
            .as_array()
            .is_some_and(|list| list.len() == 3 && list.iter().all(|i| i["live"] == true))
    });
    assert!(
        ok,
        "a never saw three live instances: {}",
        a.status()["instances"]
    );
    let status = a.status();
    let instances = status["instances"].as_array().unwrap();
    let row = |name: &str| instances.iter().find(|i| i["instance"] == name).unwrap();
    // a and b differ only in instance-local settings (listen addresses,
    // state dir, source address, instance name): same digest.
    assert_eq!(row("a")["config_matches"], true);
    assert_eq!(row("b")["config_matches"], true);
    assert_eq!(row("a")["config_digest"], row("b")["config_digest"]);
    assert_eq!(row("c")["config_matches"], false);
    assert_ne!(row("c")["config_digest"], row("a")["config_digest"]);
    assert_eq!(row("a")["config_digest"].as_str().unwrap().len(), 64);
    for name in ["a", "b", "c"] {
        assert!(row(name)["generation"].as_u64().unwrap() >= 1);
        assert!(row(name)["last_contact"].is_string());
    }

    // `ctl status` flags c, and only c.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["ctl", "--api", &a.api.to_string(), "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("1 with a DIFFERENT config"), "{text}");
    let flagged: Vec<&str> = text.lines().filter(|l| l.ends_with("DIFFERS")).collect();
    assert_eq!(flagged.len(), 1, "{text}");
    assert!(flagged[0].trim_start().starts_with("c "), "{text}");
    assert!(text.contains("a (this)"), "{text}");

    // c crashes: its lease (2 s) runs out, its record and votes vanish.
    cluster.instances[2].kill();
    let a = &cluster.instances[0];
    let gone = wait_for(Duration::from_secs(15), || {
        let status = a.status();
        let c_dead = status["instances"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["instance"] == "c" && i["live"] == false);
        c_dead && tally(&status, "eu").is_some_and(|t| (t.0, t.1) == (2, 0))
    });
    assert!(gone, "c still counted: {}", a.status());
    let status = a.status();
    let live: Vec<&Value> = status["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["live"] == true)
        .collect();
    assert_eq!(live.len(), 2);
    // Straight from etcd: nothing of c's is left.
    let etcd = switchyard::cluster::etcd::Etcd::new(switchyard::cluster::etcd::EtcdSettings {
        endpoints: cluster.etcd.client_urls(),
        username: None,
        password: None,
        ca_file: None,
        cert_file: None,
        key_file: None,
        request_timeout: Duration::from_secs(2),
    })
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (votes, _) = runtime
        .block_on(etcd.get_prefix(b"/cluster-health-test/votes/c/"))
        .unwrap();
    assert!(votes.is_empty(), "c's votes outlived its lease: {votes:?}");
    let (record, _) = runtime
        .block_on(etcd.get(b"/cluster-health-test/instances/c"))
        .unwrap();
    assert!(record.is_none());
    let (votes, _) = runtime
        .block_on(etcd.get_prefix(b"/cluster-health-test/votes/a/"))
        .unwrap();
    assert_eq!(votes.len(), 2, "a votes on eu and us");
}

#[test]
fn with_etcd_gone_each_instance_falls_back_to_its_own_verdicts_and_says_so() {
    let Some(mut cluster) = start([30; 3], 10) else {
        return;
    };
    wait_votes(&cluster, "eu", 3, 0);
    cluster.eu.fail_from(&[SOURCES[2]]);
    wait_votes(&cluster, "eu", 2, 1);
    assert!(
        all_answer(&cluster, EU),
        "one checker of three moved an answer"
    );

    // No etcd at all: nobody can count votes, so each instance answers by
    // its own probes (c alone cannot reach eu) and says so.
    for member in 0..3 {
        cluster.etcd.kill(member);
    }
    let (a, b, c) = (
        &cluster.instances[0],
        &cluster.instances[1],
        &cluster.instances[2],
    );
    let local = wait_for(Duration::from_secs(15), || {
        c.answers(NAME) == [US]
            && cluster
                .instances
                .iter()
                .all(|i| i.status()["health_votes"]["source"] == "local")
    });
    assert!(
        local,
        "no fallback to local verdicts: {}",
        c.status()["health_votes"]
    );
    assert_eq!(a.answers(NAME), [EU]);
    assert_eq!(b.answers(NAME), [EU]);
    assert!(c.status()["health_votes"]["error"].is_string());

    // etcd back: the votes count again and c follows the cluster.
    cluster.etcd.restart_many(&[0, 1, 2]);
    let back = wait_for(Duration::from_secs(20), || {
        all_answer(&cluster, EU)
            && cluster
                .instances
                .iter()
                .all(|i| i.status()["health_votes"]["source"] == "cluster")
    });
    assert!(
        back,
        "c never followed the cluster again: {}",
        c.status()["health_votes"]
    );
    wait_votes(&cluster, "eu", 2, 1);
}
