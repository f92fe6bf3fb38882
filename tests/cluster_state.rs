//! Shared operator state across real instances: 3 `switchyard serve`
//! processes on a real 3-member etcd cluster, answers checked with real UDP
//! queries. Writes on one instance are answered by all; conflicting writes
//! on two instances cannot both pass the safety rule; expiry and drill
//! rollback happen for the cluster even when the instance that made them
//! was killed (SIGKILL).

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::cluster::{EU, Fleet, PREFIX, US, wait_until};
use serde_json::{Value, json};

const FO: &str = "fo.example.com.";
const WAIT: Duration = Duration::from_secs(10);

fn ids(list: &Value) -> Vec<String> {
    list["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_write_on_one_instance_is_answered_by_every_instance() {
    let Some(fleet) = Fleet::start(3) else { return };
    fleet.wait_answers(FO, &[US], WAIT);
    let created = fleet.at(0).ok(
        "POST",
        "/v1/regions/us/force",
        Some(json!({"state": "down", "why": "maintenance"})),
    );
    let id = created["created"]["id"].as_str().unwrap().to_string();
    fleet.wait_answers(FO, &[EU], WAIT);
    for i in 1..3 {
        let list = fleet.at(i).ok("GET", "/v1/overrides", None);
        assert_eq!(ids(&list), vec![id.clone()], "{list}");
        assert_eq!(list["overrides"][0]["who"], "alice");
        assert_eq!(list["overrides"][0]["why"], "maintenance");
    }
    // The cluster's document and its audit trail hold it.
    assert!(fleet.etcd_get(&format!("{PREFIX}overrides")).contains(&id));
    let audit = fleet.etcd_values(&format!("{PREFIX}audit/"));
    assert!(
        audit
            .iter()
            .any(|l| l.contains("force down us") && l.contains("\"instance\":\"a\"")),
        "{audit:?}"
    );
    // A change made on another instance applies everywhere too, and each
    // instance keeps the state in its own state dir.
    fleet.at(2).ok(
        "DELETE",
        &format!("/v1/overrides/{id}"),
        Some(json!({"why": "done"})),
    );
    fleet.wait_answers(FO, &[US], WAIT);
    let saved = std::fs::read_to_string(fleet.at(1).state_dir().join("overrides.json")).unwrap();
    assert!(!saved.contains(&id), "{saved}");
    let status = fleet.at(1).cluster_status();
    assert_eq!(status["store"], "etcd");
    assert_eq!(status["stale"], false);
    assert!(status["revision"].as_i64().unwrap() > 0, "{status}");
}

#[test]
fn conflicting_writes_on_two_instances_cannot_both_pass_the_safety_rule() {
    let Some(fleet) = Fleet::start(2) else { return };
    let fleet = Arc::new(fleet);
    for round in 0..5 {
        // Draining us on a and eu on b at once: either alone is fine, both
        // would leave fo and w with no region.
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = [(0, "us"), (1, "eu")]
            .into_iter()
            .map(|(i, region)| {
                let fleet = fleet.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    fleet.at(i).call(
                        "POST",
                        &format!("/v1/regions/{region}/drain"),
                        Some(json!({"why": format!("round {round}")})),
                    )
                })
            })
            .collect();
        let results: Vec<(u16, Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let mut statuses: Vec<u16> = results.iter().map(|r| r.0).collect();
        statuses.sort();
        assert_eq!(statuses, [200, 409], "round {round}: {results:?}");
        let refused = results.iter().find(|r| r.0 == 409).unwrap();
        assert_eq!(refused.1["error"]["code"], "unsafe_change", "{refused:?}");
        let won = results.iter().find(|r| r.0 == 200).unwrap();
        let id = won.1["created"]["id"].as_str().unwrap().to_string();
        // Both instances converge on the one winning override.
        for i in 0..2 {
            assert!(
                wait_until(WAIT, || ids(&fleet.at(i).ok("GET", "/v1/overrides", None))
                    == [id.clone()]),
                "round {round}: instance {i} does not hold exactly {id}"
            );
        }
        fleet.at(round % 2).ok(
            "DELETE",
            &format!("/v1/overrides/{id}"),
            Some(json!({"why": "next round"})),
        );
        for i in 0..2 {
            assert!(wait_until(WAIT, || ids(&fleet.at(i).ok(
                "GET",
                "/v1/overrides",
                None
            ))
            .is_empty()));
        }
    }
    let lost: usize = (0..2)
        .map(|i| fleet.at(i).log().matches("compare-and-swap lost").count())
        .sum();
    eprintln!("CAS LOST: {lost}");
}

#[test]
fn an_override_expires_for_the_cluster_when_its_creator_is_dead() {
    let Some(mut fleet) = Fleet::start(3) else {
        return;
    };
    let created = fleet.at(0).ok(
        "POST",
        "/v1/regions/us/force",
        Some(json!({"state": "down", "why": "short", "expires_in_secs": 3})),
    );
    let id = created["created"]["id"].as_str().unwrap().to_string();
    let expires =
        humantime::parse_rfc3339(created["created"]["expires"].as_str().unwrap()).unwrap();
    fleet.wait_answers(FO, &[EU], WAIT);
    fleet.kill(0);
    fleet.wait_answers(FO, &[US], Duration::from_secs(15));
    // Not before its time (answers moved back when it expired, not when a died).
    assert!(
        switchyard::clock::now() >= expires,
        "answers moved back before the expiry"
    );
    // Removed from the cluster's document, and audited as expired once.
    let key = format!("{PREFIX}overrides");
    assert!(
        wait_until(WAIT, || !fleet.etcd_get(&key).contains(&id)),
        "{}",
        fleet.etcd_get(&key)
    );
    std::thread::sleep(Duration::from_secs(1));
    let expired: Vec<String> = fleet
        .etcd_values(&format!("{PREFIX}audit/"))
        .into_iter()
        .filter(|l| l.contains("\"result\":\"expired\"") && l.contains(&id))
        .collect();
    assert_eq!(expired.len(), 1, "{expired:?}");
}

// The two drill tests below stay on real time (unlike tests/drills.rs):
// the instances are separate `switchyard serve` processes sharing a real
// etcd, and what they test (a dead verifier's lease expiring, a stop seen
// through the etcd watch) runs on clocks a paused test runtime cannot move.
#[test]
fn a_drill_started_on_one_instance_moves_every_answer_and_rolls_back_after_it_dies() {
    let Some(mut fleet) = Fleet::start(3) else {
        return;
    };
    fleet.wait_answers(FO, &[US], WAIT);
    let started = fleet.at(0).ok(
        "POST",
        "/v1/drills",
        // Long enough that the starter is surely killed while it runs, even
        // on a loaded machine (otherwise it finishes its own report).
        Some(json!({"regions": ["us"], "duration_secs": 8, "why": "practice"})),
    );
    let id = started["id"].as_str().unwrap().to_string();
    let ends_at = humantime::parse_rfc3339(started["ends_at"].as_str().unwrap()).unwrap();
    fleet.wait_answers(FO, &[EU], WAIT);
    // Every instance shows the drill (its report is shared).
    let path = format!("/v1/drills/{id}");
    assert!(
        wait_until(WAIT, || fleet.at(2).call("GET", &path, None).0 == 200),
        "c never saw the drill"
    );
    assert_eq!(fleet.at(2).ok("GET", &path, None)["phase"], "running");
    assert!(
        switchyard::clock::now() < ends_at,
        "the drill ended before its starter could be killed (machine too slow for this test)"
    );
    fleet.kill(0);
    fleet.wait_answers(FO, &[EU], Duration::from_millis(100));
    fleet.wait_answers(FO, &[US], Duration::from_secs(20));
    assert!(
        switchyard::clock::now() >= ends_at,
        "rolled back before the drill's end"
    );
    // Its verifier is gone: another instance finishes the report, saying so.
    assert!(
        wait_until(Duration::from_secs(20), || fleet
            .at(1)
            .ok("GET", &path, None)["phase"]
            == "finished"),
        "{}",
        fleet.at(1).ok("GET", &path, None)
    );
    let report = fleet.at(2).ok("GET", &path, None);
    let events: Vec<&str> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"verifier_lost"), "{report}");
    assert!(report["rolled_back"].is_string(), "{report}");
}

#[test]
fn a_drill_started_on_one_instance_can_be_stopped_on_another() {
    let Some(fleet) = Fleet::start(2) else { return };
    fleet.wait_answers(FO, &[US], WAIT);
    let started = fleet.at(0).ok(
        "POST",
        "/v1/drills",
        Some(json!({"regions": ["us"], "duration_secs": 300, "why": "long practice"})),
    );
    let id = started["id"].as_str().unwrap().to_string();
    fleet.wait_answers(FO, &[EU], WAIT);
    let path = format!("/v1/drills/{id}");
    assert!(wait_until(WAIT, || fleet.at(1).call("GET", &path, None).0 == 200));
    let stopped = fleet.at(1).ok(
        "POST",
        &format!("{path}/stop"),
        Some(json!({"why": "enough"})),
    );
    assert_eq!(stopped["phase"], "rolling_back", "{stopped}");
    fleet.wait_answers(FO, &[US], WAIT);
    // The verifier on a sees its overrides gone, checks the restore and
    // finishes the report, which b shows too.
    assert!(
        wait_until(Duration::from_secs(15), || fleet
            .at(1)
            .ok("GET", &path, None)["phase"]
            == "finished"),
        "{}",
        fleet.at(1).ok("GET", &path, None)
    );
    let report = fleet.at(1).ok("GET", &path, None);
    assert_eq!(report["result"], "pass", "{report}");
    assert!(report["rolled_back"].is_string(), "{report}");
}
