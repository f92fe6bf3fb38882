//! etcd failures under real instances: one member lost changes nothing;
//! quorum lost keeps answers flowing from the last snapshot with writes
//! refused (503) and the state reported stale, and nothing is lost once
//! it returns; an instance cut off alone resumes its watch from the last
//! revision (or reads everything again when that revision was compacted);
//! an instance restarted while etcd is down serves its saved state.

mod common;

use std::time::Duration;

use common::api::ALICE;
use common::cluster::{EU, Fleet, US, wait_until};
use serde_json::json;

const FO: &str = "fo.example.com.";
const WAIT: Duration = Duration::from_secs(10);

fn force_down_us(fleet: &Fleet, on: usize) -> String {
    let created = fleet.at(on).ok(
        "POST",
        "/v1/regions/us/force",
        Some(json!({"state": "down", "why": "outage test"})),
    );
    created["created"]["id"].as_str().unwrap().to_string()
}

#[test]
fn one_etcd_member_lost_changes_nothing() {
    let Some(mut fleet) = Fleet::start(3) else {
        return;
    };
    // Member 0 is a's first endpoint: a moves on to the others.
    fleet.etcd.kill(0);
    let id = force_down_us(&fleet, 0);
    fleet.wait_answers(FO, &[EU], WAIT);
    fleet.at(1).ok(
        "DELETE",
        &format!("/v1/overrides/{id}"),
        Some(json!({"why": "back"})),
    );
    fleet.wait_answers(FO, &[US], WAIT);
    for i in 0..3 {
        fleet.wait_connected(i, WAIT);
    }
}

#[test]
fn quorum_lost_answers_keep_flowing_writes_are_refused_and_nothing_is_lost() {
    let Some(mut fleet) = Fleet::start(3) else {
        return;
    };
    let id = force_down_us(&fleet, 0);
    fleet.wait_answers(FO, &[EU], WAIT);
    fleet.etcd.kill(1);
    fleet.etcd.kill(2);
    for i in 0..3 {
        assert!(
            wait_until(WAIT, || fleet.at(i).cluster_status()["stale"] == true),
            "{}",
            fleet.at(i).cluster_status()
        );
        let status = fleet.at(i).cluster_status();
        assert_eq!(status["connected"], false, "{status}");
        assert!(status["stale_since"].is_string(), "{status}");
    }
    // Answers keep coming from the last snapshot.
    for _ in 0..20 {
        for i in 0..3 {
            assert_eq!(fleet.at(i).answers(FO), [EU]);
        }
    }
    // Writes are refused with a clear error; nothing changes.
    let (status, body) = fleet.at(1).call(
        "PUT",
        "/v1/regions/eu/weight",
        Some(json!({"weight": 5, "why": "during the outage"})),
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "cluster_unavailable", "{body}");
    let audit = std::fs::read_to_string(fleet.at(1).state_dir().join("audit.log")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"result\":\"failed\"") && l.contains("etcd unavailable")),
        "{audit}"
    );
    // Ready (it serves), and saying the cluster state is stale.
    let (ready, body) = fleet.at(2).call("GET", "/readyz", None);
    assert_eq!(ready, 200, "{body}");
    assert_eq!(body["cluster"]["stale"], true, "{body}");
    let metrics = switchyard::ctl::http::request(
        &fleet.at(2).api.to_string(),
        "GET",
        "/metrics",
        Some(ALICE),
        None,
    )
    .unwrap();
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(text.contains("switchyard_cluster_connected 0"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("switchyard_cluster_stale_since_seconds ")
                && !l.ends_with(" 0")),
        "{text}"
    );

    let ctl = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["ctl", "status", "--api"])
        .arg(format!("http://{}", fleet.at(0).api))
        .env("SWITCHYARD_TOKEN", ALICE)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&ctl.stdout);
    assert!(shown.contains("STALE since"), "{shown}");

    // Quorum back: every instance catches up, the old state is intact,
    // and writes flow again.
    fleet.etcd.restart(1);
    fleet.etcd.restart(2);
    for i in 0..3 {
        fleet.wait_connected(i, Duration::from_secs(15));
    }
    assert!(fleet.at(2).ok("GET", "/v1/overrides", None)["overrides"][0]["id"] == id.as_str());
    fleet.at(2).ok(
        "DELETE",
        &format!("/v1/overrides/{id}"),
        Some(json!({"why": "recovered"})),
    );
    fleet.wait_answers(FO, &[US], WAIT);
}

#[test]
fn an_instance_cut_off_alone_resumes_its_watch_without_losing_updates() {
    // c talks only to member 2: killing it cuts c off while a and b (and
    // members 0 and 1) keep a quorum and take writes.
    let Some(mut fleet) = Fleet::start_with(3, |i, urls| {
        if i == 2 {
            vec![urls[0].clone()]
        } else {
            urls.to_vec()
        }
    }) else {
        return;
    };
    fleet.etcd.kill(2);
    assert!(wait_until(WAIT, || fleet.at(2).cluster_status()["stale"] == true));
    let id = force_down_us(&fleet, 0);
    assert!(wait_until(WAIT, || fleet.at(1).answers(FO) == [EU]));
    // c still serves its last snapshot.
    assert_eq!(fleet.at(2).answers(FO), [US]);
    fleet.etcd.restart(2);
    // The watch resumes from c's last revision: the write is not lost.
    fleet.wait_answers(FO, &[EU], Duration::from_secs(15));
    fleet.wait_connected(2, WAIT);

    // Again, but the revision c stopped at is compacted meanwhile: c
    // reads everything again.
    fleet.etcd.kill(2);
    assert!(wait_until(WAIT, || fleet.at(2).cluster_status()["stale"] == true));
    fleet.at(1).ok(
        "DELETE",
        &format!("/v1/overrides/{id}"),
        Some(json!({"why": "back"})),
    );
    fleet.at(0).ok(
        "PUT",
        "/v1/regions/eu/weight",
        Some(json!({"weight": 7, "why": "after the delete"})),
    );
    let revision = fleet.at(0).cluster_status()["revision"].as_i64().unwrap();
    let compacted = fleet
        .etcd
        .etcdctl(&["compaction", &revision.to_string()], &[]);
    assert!(
        compacted.status.success(),
        "{}",
        String::from_utf8_lossy(&compacted.stderr)
    );
    assert_eq!(fleet.at(2).answers(FO), [EU]);
    fleet.etcd.restart(2);
    fleet.wait_answers(FO, &[US], Duration::from_secs(15));
    assert!(wait_until(WAIT, || {
        let list = fleet.at(2).ok("GET", "/v1/overrides", None);
        list["overrides"].as_array().unwrap().len() == 1 && list["overrides"][0]["weight"] == 7
    }));
    // (It took the resynchronisation path, not the resume.)
    let log = fleet.at(2).log();
    assert!(
        log.contains("cluster watch compacted: reading everything again"),
        "{log}"
    );
}

#[test]
fn an_instance_restarted_while_etcd_is_down_serves_its_saved_state() {
    let Some(mut fleet) = Fleet::start(2) else {
        return;
    };
    let id = force_down_us(&fleet, 0);
    fleet.wait_answers(FO, &[EU], WAIT);
    // b has taken the change from the watch and saved it.
    assert!(wait_until(WAIT, || {
        std::fs::read_to_string(fleet.at(1).state_dir().join("overrides.json"))
            .is_ok_and(|t| t.contains(&id))
    }));
    fleet.etcd.kill(1);
    fleet.etcd.kill(2);
    fleet.restart(1);
    // It serves what it saved, and says the cluster state is stale.
    assert_eq!(fleet.at(1).answers(FO), [EU]);
    let status = fleet.at(1).cluster_status();
    assert_eq!(status["stale"], true, "{status}");
    assert_eq!(
        fleet.at(1).ok("GET", "/v1/overrides", None)["overrides"][0]["id"],
        id.as_str()
    );
    fleet.etcd.restart(1);
    fleet.etcd.restart(2);
    fleet.wait_connected(1, Duration::from_secs(15));
    fleet.at(1).ok(
        "DELETE",
        &format!("/v1/overrides/{id}"),
        Some(json!({"why": "back"})),
    );
    fleet.wait_answers(FO, &[US], WAIT);
}

#[test]
fn a_corrupt_document_in_etcd_is_never_served() {
    let Some(fleet) = Fleet::start(1) else { return };
    force_down_us(&fleet, 0);
    fleet.wait_answers(FO, &[EU], WAIT);
    let key = format!("{}overrides", common::cluster::PREFIX);
    let put = fleet.etcd.etcdctl(&["put", &key, "{not json"], &[]);
    assert!(put.status.success());
    assert!(wait_until(WAIT, || {
        fleet.at(0).cluster_status()["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("corrupt"))
    }));
    // The last good set keeps serving; writes say why they cannot land.
    assert_eq!(fleet.at(0).answers(FO), [EU]);
    let (status, body) = fleet.at(0).call(
        "POST",
        "/v1/regions/eu/drain",
        Some(json!({"why": "on a corrupt store"})),
    );
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("corrupt"),
        "{body}"
    );
    // Deleting the document is an empty set.
    let del = fleet.etcd.etcdctl(&["del", &key], &[]);
    assert!(del.status.success());
    fleet.wait_answers(FO, &[US], WAIT);
}
