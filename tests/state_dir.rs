//! The state dir: one instance at a time (the second refuses, in process
//! and as a real binary), leftover temp files cleaned at start, and files
//! moved aside under names that never collide.

mod common;

use std::path::Path;
use std::process::Command;

use common::api::{ZONE, traffic};
use common::{TestServer, zones_dir};
use switchyard::app::App;

fn write_config(dir: &Path, zones: &Path, state: &Path) -> std::path::PathBuf {
    let path = dir.join("second.toml");
    std::fs::write(
        &path,
        common::config_header("127.0.0.1:0", "127.0.0.1:0", zones, state, ""),
    )
    .unwrap();
    path
}

#[test]
fn a_second_instance_on_the_same_state_dir_refuses_to_start() {
    let zones = zones_dir(&[("example.com", ZONE)]);
    let state = tempfile::tempdir().unwrap();
    let tokens = zones.path().join("tokens");
    std::fs::write(&tokens, "alice:alice-token-0123456789\n").unwrap();
    let first = TestServer::builder()
        .zones(zones.path())
        .tail(&traffic(&tokens, ""))
        .state_dir(state.path())
        .start();
    let config = write_config(zones.path(), zones.path(), state.path());

    // In process.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let err = runtime
        .block_on(async { App::start(&config) })
        .expect_err("a second instance started on the same state dir");
    let text = err.to_string();
    assert!(
        text.contains("in use by another switchyard")
            && text.contains(&std::process::id().to_string()),
        "{text}"
    );

    // The real binary.
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("in use by another switchyard"), "{stderr}");

    // The first one is untouched and still serves; once it stops, the
    // state dir is free again.
    assert!(
        !common::query(
            first.addr,
            "example.com.",
            hickory_proto::rr::RecordType::SOA
        )
        .answers
        .is_empty()
    );
    drop(first);
    let second = runtime.block_on(async { App::start(&config) });
    assert!(second.is_ok(), "{:?}", second.err());
}

#[test]
fn leftover_temp_files_are_removed_at_start() {
    let zones = zones_dir(&[("example.com", ZONE)]);
    let state = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(state.path().join("drills")).unwrap();
    for leftover in [
        "overrides.json.tmp",
        "health.json.tmp",
        "drills/dr-1.json.tmp",
    ] {
        std::fs::write(state.path().join(leftover), "half written").unwrap();
    }
    std::fs::write(state.path().join("notes.txt"), "kept").unwrap();
    let tokens = zones.path().join("tokens");
    std::fs::write(&tokens, "alice:alice-token-0123456789\n").unwrap();
    let _server = TestServer::builder()
        .zones(zones.path())
        .tail(&traffic(&tokens, ""))
        .state_dir(state.path())
        .start();
    for leftover in [
        "overrides.json.tmp",
        "health.json.tmp",
        "drills/dr-1.json.tmp",
    ] {
        assert!(!state.path().join(leftover).exists(), "{leftover} left");
    }
    assert!(state.path().join("notes.txt").exists());
}

#[test]
fn corrupt_health_files_moved_aside_in_the_same_second_both_survive() {
    let zones = zones_dir(&[("example.com", ZONE)]);
    let state = tempfile::tempdir().unwrap();
    let tokens = zones.path().join("tokens");
    std::fs::write(&tokens, "alice:alice-token-0123456789\n").unwrap();
    let tail = traffic(&tokens, "");
    for content in ["{ first", "{ second"] {
        std::fs::write(state.path().join("health.json"), content).unwrap();
        drop(
            TestServer::builder()
                .zones(zones.path())
                .tail(&tail)
                .state_dir(state.path())
                .start(),
        );
    }
    let mut aside: Vec<String> = std::fs::read_dir(state.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("health.json.corrupt-"))
        .collect();
    aside.sort();
    assert_eq!(aside.len(), 2, "{aside:?}");
    let contents: Vec<String> = aside
        .iter()
        .map(|n| std::fs::read_to_string(state.path().join(n)).unwrap())
        .collect();
    assert!(
        contents.contains(&"{ first".to_string()) && contents.contains(&"{ second".to_string())
    );
}
