//! `switchyard ctl`, the real binary, against a running server: tables by
//! default, `--json`, address and token from flags or environment, and
//! clear failures (the API's own message included) with a non-zero exit.

mod common;

use std::process::{Command, Output};

use common::api::*;
use serde_json::Value;

/// Runs `switchyard ctl ARGS` with only the given SWITCHYARD_* variables.
fn ctl(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command
        .arg("ctl")
        .args(args)
        .env_remove("SWITCHYARD_API")
        .env_remove("SWITCHYARD_TOKEN");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run switchyard ctl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn ctl_reads_and_changes_a_running_server() {
    let api = Api::start();
    let addr = api.server.api.to_string();
    let url = format!("http://{addr}");
    let with_api = [("SWITCHYARD_API", addr.as_str())];
    let with_both = [
        ("SWITCHYARD_API", addr.as_str()),
        ("SWITCHYARD_TOKEN", ALICE),
    ];

    let status = ctl(&["status", "--api", &url], &[]);
    assert!(status.status.success(), "{}", stderr(&status));
    let text = stdout(&status);
    assert!(
        text.contains("version") && text.contains("generation 1"),
        "{text}"
    );
    assert!(
        text.contains("3 regions") && text.contains("3 services"),
        "{text}"
    );
    assert!(
        text.contains("settings     generation 1, loaded "),
        "{text}"
    );

    let regions = ctl(&["regions"], &with_api);
    assert!(regions.status.success(), "{}", stderr(&regions));
    let text = stdout(&regions);
    assert!(text.starts_with("REGION"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("us ") && l.contains("70/70")),
        "{text}"
    );

    let service = ctl(&["service", "w.example.com"], &with_api);
    assert!(
        stdout(&service).contains("policy weighted"),
        "{}",
        stdout(&service)
    );
    assert!(ctl(&["services"], &with_api).status.success());
    assert!(stdout(&ctl(&["region", "ap"], &with_api)).contains("ap-2"));

    let weight = ctl(
        &[
            "weight",
            "us",
            "10",
            "--why",
            "canary",
            "--expires",
            "1h",
            "--token",
            ALICE,
        ],
        &with_api,
    );
    assert!(weight.status.success(), "{}", stderr(&weight));
    assert!(
        stdout(&weight).contains("created ov-"),
        "{}",
        stdout(&weight)
    );
    assert_eq!(api.region("us")["effective_weight"], 10);

    let listed = ctl(&["overrides", "--json"], &with_api);
    let value: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let overrides = value["overrides"].as_array().unwrap();
    assert_eq!(overrides.len(), 1);
    assert_eq!(overrides[0]["who"], "alice");
    assert_eq!(overrides[0]["why"], "canary");
    let left = overrides[0]["expires_in_secs"].as_u64().unwrap();
    assert!((3590..=3600).contains(&left));
    let id = overrides[0]["id"].as_str().unwrap().to_string();
    let table = stdout(&ctl(&["overrides"], &with_api));
    assert!(
        table.contains(&id) && table.contains("weight 10"),
        "{table}"
    );

    // The safety rule's refusal comes through with the API's message.
    let refused = ctl(&["force", "ap", "down", "--why", "test"], &with_both);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains("solo.example.com.") && message.contains("HTTP 409"),
        "{message}"
    );
    let forced = ctl(
        &["force", "ap", "down", "--why", "test", "--force"],
        &with_both,
    );
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(api.answers("solo.example.com.").is_empty());
    let cleared = ctl(&["force", "ap", "clear", "--why", "done"], &with_both);
    assert!(stdout(&cleared).contains("removed"), "{}", stdout(&cleared));
    let drained = ctl(&["drain", "eu", "--why", "x", "--json"], &with_both);
    let value: Value = serde_json::from_slice(&drained.stdout).unwrap();
    assert_eq!(value["created"]["action"], "drain");

    let clear = ctl(&["clear", &id, "--why", "canary done"], &with_both);
    assert!(clear.status.success(), "{}", stderr(&clear));
    assert!(
        stdout(&clear).contains(&format!("removed {id}")),
        "{}",
        stdout(&clear)
    );
    assert_eq!(api.region("us")["effective_weight"], 70);
}

#[test]
fn ctl_fails_clearly() {
    let api = Api::start();
    let addr = api.server.api.to_string();
    let with_api = [("SWITCHYARD_API", addr.as_str())];

    let no_token = ctl(&["drain", "us", "--why", "x"], &with_api);
    assert!(!no_token.status.success());
    assert!(
        stderr(&no_token).contains("need a token"),
        "{}",
        stderr(&no_token)
    );

    let wrong = ctl(
        &[
            "drain",
            "us",
            "--why",
            "x",
            "--token",
            "wrong-token-wrong-token",
        ],
        &with_api,
    );
    assert!(!wrong.status.success());
    let message = stderr(&wrong);
    assert!(
        message.contains("invalid bearer token") && message.contains("HTTP 401"),
        "{message}"
    );

    let unknown = ctl(&["service", "nope.example.com"], &with_api);
    assert!(
        stderr(&unknown).contains("unknown service"),
        "{}",
        stderr(&unknown)
    );

    let missing_why = ctl(&["weight", "us", "10", "--token", ALICE], &with_api);
    assert!(!missing_why.status.success());
    assert!(
        stderr(&missing_why).contains("--why"),
        "{}",
        stderr(&missing_why)
    );

    let bad_expiry = ctl(
        &["drain", "us", "--why", "x", "--expires", "soon"],
        &with_api,
    );
    assert!(!bad_expiry.status.success());

    // Nothing listens on port 1 of loopback.
    let unreachable = ctl(&["status", "--api", "127.0.0.1:1"], &[]);
    assert!(!unreachable.status.success());
    assert!(
        stderr(&unreachable).contains("cannot reach the API at 127.0.0.1:1"),
        "{}",
        stderr(&unreachable)
    );
    assert!(api.overrides().is_empty());
}
