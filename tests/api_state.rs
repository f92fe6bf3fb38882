//! Durable overrides: expiry by themselves, a restart on the same state dir
//! keeps overrides and the audit log, and a corrupt state file stops
//! `serve` with a clear message unless it is told to start clean.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::api::*;
use serde_json::{Value, json};
use switchyard::app::{App, StartOptions};

#[test]
fn overrides_lapse_by_themselves_at_expiry() {
    let api = Api::start();
    let drained = api.ok(
        "POST",
        "/v1/regions/eu/drain",
        Some(json!({"why": "short drill", "expires_in_secs": 1})),
    );
    let id = drained["created"]["id"].as_str().unwrap().to_string();
    for _ in 0..50 {
        assert_eq!(api.answers("w.example.com."), ["10.2.0.1"]);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !api.overrides().is_empty() {
        assert!(Instant::now() < deadline, "the drain never lapsed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(api.region("eu")["available"], true);
    let shares = api.shares("w.example.com.", 600);
    assert!(
        shares.get("10.1.0.1").is_some_and(|s| *s > 0.2),
        "{shares:?}"
    );
    let last = api.audit().pop().unwrap();
    assert_eq!(last["result"], "expired");
    assert_eq!(last["who"], "system");
    assert_eq!(last["why"], "short drill");
    assert!(last["what"].as_str().unwrap().contains(&id), "{last}");
    let saved: Value = serde_json::from_slice(&api.state_file()).unwrap();
    assert_eq!(saved["overrides"], json!([]), "the expiry is persisted");
}

#[test]
fn a_restart_keeps_overrides_and_the_audit_log() {
    let api = Api::start();
    api.ok(
        "PUT",
        "/v1/regions/us/weight",
        Some(json!({"weight": 10, "why": "canary", "expires_in_secs": 3600})),
    );
    api.ok(
        "POST",
        "/v1/regions/eu/force",
        Some(json!({"state": "down", "why": "eu incident"})),
    );
    let before = api.overrides();
    let audit_before = api.audit();
    assert_eq!(audit_before.len(), 2);
    assert_eq!(api.answers("fo.example.com."), ["10.2.0.1"]);

    let api = api.restart();
    let after = api.overrides();
    let strip = |list: &[Value]| -> Vec<Value> {
        list.iter()
            .map(|o| {
                let mut o = o.clone();
                o.as_object_mut().unwrap().remove("expires_in_secs");
                o
            })
            .collect()
    };
    assert_eq!(strip(&after), strip(&before));
    assert_eq!(api.region("us")["effective_weight"], 10);
    assert_eq!(api.region("eu")["forced"], "down");
    for _ in 0..100 {
        assert_eq!(
            api.answers("w.example.com."),
            ["10.2.0.1"],
            "eu still forced down"
        );
    }
    assert_eq!(api.audit(), audit_before, "the audit log is kept as it was");
    let id = after[1]["id"].as_str().unwrap();
    api.ok(
        "DELETE",
        &format!("/v1/overrides/{id}"),
        Some(json!({"why": "incident over"})),
    );
    let audit = api.audit();
    assert_eq!(audit.len(), 3, "new lines are appended");
    assert_eq!(audit[2]["what"], format!("delete {id}"));
}

/// A config on port 0 whose state dir holds `overrides` as its overrides file.
fn corrupt_setup(overrides: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("zones")).unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(dir.path().join("zones/example.com.zone"), ZONE).unwrap();
    std::fs::write(dir.path().join("state/overrides.json"), overrides).unwrap();
    std::fs::write(
        dir.path().join("switchyard.toml"),
        common::config_header(
            "127.0.0.1:0",
            "127.0.0.1:0",
            Path::new("zones"),
            Path::new("state"),
            "udp_workers = 1",
        ) + "[regions.us]\nendpoints = [{ address = \"10.2.0.1\" }]\n",
    )
    .unwrap();
    dir
}

/// Waits for `child` to exit within `limit`; kills it (and fails) if not.
fn wait_exit(mut child: Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not exit: it should refuse to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn serve(dir: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--config"])
        .arg(dir.join("switchyard.toml"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn quarantined(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join("state"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("overrides.json.corrupt-")
        })
        .collect()
}

#[test]
fn serve_refuses_a_corrupt_state_file_with_a_clear_message() {
    let bad = "{\"version\": 1, \"overrides\": [{\"id\": \"ov-1\",";
    let dir = corrupt_setup(bad);
    let output = wait_exit(serve(dir.path(), &[]), Duration::from_secs(20));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = dir.path().join("state/overrides.json");
    assert!(
        stderr.contains(&format!("corrupt overrides file {}", file.display())),
        "{stderr}"
    );
    assert!(stderr.contains("line 1 column"), "names where: {stderr}");
    assert!(
        stderr.contains("--start-clean"),
        "says what to do: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        bad,
        "never touched"
    );
    assert!(quarantined(dir.path()).is_empty());

    // Valid JSON with wrong contents is refused the same way.
    let dir = corrupt_setup("{\"version\": 1, \"overrides\": [], \"extra\": 1}");
    let output = wait_exit(serve(dir.path(), &[]), Duration::from_secs(20));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown field `extra`"));
}

#[test]
fn start_clean_moves_the_bad_file_aside_and_starts_empty() {
    let bad = "not json at all";
    let dir = corrupt_setup(bad);
    let mut child = serve(dir.path(), &["--start-clean"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while quarantined(dir.path()).is_empty() {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("start-clean did not move the file aside");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(still_running, "serve kept running after starting clean");
    let moved = quarantined(dir.path());
    assert_eq!(moved.len(), 1);
    assert_eq!(std::fs::read_to_string(&moved[0]).unwrap(), bad);
    assert!(!dir.path().join("state/overrides.json").exists());
}

#[test]
fn start_clean_in_process_serves_with_no_overrides_and_saves_afresh() {
    let dir = corrupt_setup("[broken");
    let config = dir.path().join("switchyard.toml");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let refused = runtime.block_on(async { App::start(&config) });
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("refusing to start"), "{message}");
    let app = runtime
        .block_on(async {
            App::start_with(
                &config,
                StartOptions {
                    start_clean: true,
                    ..Default::default()
                },
            )
        })
        .unwrap();
    assert!(app.snapshot.load().overrides.is_empty());
    assert_eq!(quarantined(dir.path()).len(), 1);
    let audit = std::fs::read_to_string(dir.path().join("state/audit.log")).unwrap();
    assert!(audit.contains("\"what\":\"start clean\""), "{audit}");
    // No tokens configured: writes are refused, and say why.
    let (status, body) = call(
        app.api_addr,
        "POST",
        "/v1/regions/us/drain",
        Some(ALICE),
        Some(json!({"why": "x"})),
    );
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no API tokens")
    );
    drop(app);
}
