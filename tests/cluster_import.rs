//! `switchyard cluster import`: a single instance's state dir moves into an
//! empty etcd prefix, and a running etcd-backed instance then serves it;
//! a second import refuses to overwrite.

mod common;

use std::time::Duration;

use common::api::Api;
use common::cluster::{EU, Fleet, PREFIX, US, run_cli};
use serde_json::json;

#[test]
fn import_copies_a_local_state_dir_into_an_empty_prefix_only() {
    let Some(fleet) = Fleet::start(1) else { return };
    fleet.wait_answers("fo.example.com.", &[US], Duration::from_secs(5));
    // A single instance on the local store, with an operator's override.
    let local = Api::start();
    let created = local.ok(
        "POST",
        "/v1/regions/us/force",
        Some(json!({"state": "down", "why": "before the move"})),
    );
    let id = created["created"]["id"].as_str().unwrap().to_string();
    let state_dir = local.state_dir();
    let config = fleet.at(0).config();
    let state = state_dir.display().to_string();
    let (ok, out, err) = run_cli(&["cluster", "import", "--state-dir", &state], &config);
    assert!(ok, "{out}{err}");
    assert!(out.contains("imported 1 override(s)"), "{out}");
    assert!(fleet.etcd_get(&format!("{PREFIX}overrides")).contains(&id));
    // The running instance takes it from the watch.
    fleet.wait_answers("fo.example.com.", &[EU], Duration::from_secs(10));
    assert_eq!(
        fleet.at(0).ok("GET", "/v1/overrides", None)["overrides"][0]["why"],
        "before the move"
    );
    // Never into a prefix that holds shared state.
    let (ok, out, err) = run_cli(&["cluster", "import", "--state-dir", &state], &config);
    assert!(!ok, "{out}");
    assert!(err.contains("already holds shared state"), "{err}");
}
