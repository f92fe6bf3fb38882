//! The real binary as packaged: loud about the shipped example token (and
//! refusing it where it must), and leaving root after binding when
//! `[server] user` says so.

mod common;

use common::free_port;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::api::ZONE;
use hickory_proto::rr::RecordType;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// A config in `dir` serving example.com on `dns`, API on `api`, tokens
/// from `tokens` (a file in `dir`), with `server_extra` in `[server]`.
fn setup(dir: &Path, dns: &str, api: &str, tokens: &str, server_extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("zones")).unwrap();
    std::fs::write(dir.join("zones/example.com.zone"), ZONE).unwrap();
    std::fs::write(dir.join("tokens"), tokens).unwrap();
    let config = dir.join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n[server]\ndns_listen = [\"{dns}\"]\napi_listen = \"{api}\"\nzones_dir = \"zones\"\nstate_dir = \"state\"\n{server_extra}\n[api]\ntokens_file = \"tokens\"\n[regions.us]\nendpoints = [{{ address = \"10.2.0.1\" }}]\n[regions.eu]\nendpoints = [{{ address = \"10.1.0.1\" }}]\n[services.\"fo.example.com\"]\npolicy = \"failover\"\nregions = [\"us\", \"eu\"]\n"
        ),
    )
    .unwrap();
    config
}

/// Stops the child by its PID on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(config: &Path, args: &[&str], dir: &Path) -> Server {
    Server(
        Command::new(BIN)
            .args(["serve", "--config"])
            .arg(config)
            .args(args)
            .env_remove("SWITCHYARD_REFUSE_EXAMPLE_TOKEN")
            .stdout(std::fs::File::create(dir.join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// Waits (bounded) until the server answers a DNS query on `addr`.
fn wait_for_dns(addr: SocketAddr, server: &mut Server) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let query = common::make_query("example.com.", RecordType::SOA, None);
    loop {
        if common::udp_raw(addr, &query.to_vec().unwrap()).is_some() {
            return;
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("server exited: {status}");
        }
        assert!(Instant::now() < deadline, "no DNS answer from {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn example_tokens() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tokens.example"))
        .unwrap()
}

#[test]
fn the_example_token_is_warned_about_and_refused_where_it_must_be() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(
        dir.path(),
        "127.0.0.1:0",
        "127.0.0.1:0",
        &example_tokens(),
        "",
    );

    let check = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(check.status.success());
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains("WARNING") && stderr.contains("example token"),
        "{stderr}"
    );

    // As the Docker image runs it: by flag, and by environment.
    for (args, env) in [(vec!["--refuse-example-token"], None), (vec![], Some("1"))] {
        let mut command = Command::new(BIN);
        command.args(["serve", "--config"]).arg(&config).args(&args);
        if let Some(value) = env {
            command.env("SWITCHYARD_REFUSE_EXAMPLE_TOKEN", value);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success(), "{args:?} {env:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("refusing to start"), "{stderr}");
    }

    // An API beyond loopback with the example token: refused, whatever the flags.
    let exposed = tempfile::tempdir().unwrap();
    let config_exposed = setup(
        exposed.path(),
        "127.0.0.1:0",
        "0.0.0.0:0",
        &example_tokens(),
        "",
    );
    let output = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config_exposed)
        .env_remove("SWITCHYARD_REFUSE_EXAMPLE_TOKEN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("beyond loopback"), "{stderr}");

    // On loopback without the flag it serves, loudly.
    let port = free_port();
    let local = tempfile::tempdir().unwrap();
    let config_local = setup(
        local.path(),
        &format!("127.0.0.1:{port}"),
        "127.0.0.1:0",
        &example_tokens(),
        "",
    );
    let mut server = spawn(&config_local, &[], local.path());
    wait_for_dns(SocketAddr::from(([127, 0, 0, 1], port)), &mut server);
    let stderr = std::fs::read_to_string(local.path().join("stderr.log")).unwrap();
    assert!(
        stderr.contains("WARNING") && stderr.contains("example token"),
        "{stderr}"
    );
}

/// `Name:\tv1\tv2...` values of /proc/PID/status.
fn status_field(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in status"))
        .trim()
        .to_string()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn started_as_root_it_runs_as_the_configured_user_and_still_answers() {
    if !is_root() {
        eprintln!("skipped: the privilege drop needs a test run as root (CI runs as root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // nobody must reach the state dir inside the temp dir.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let port = free_port();
    let api_port = free_port();
    let token = "alice-token-0123456789";
    let config = setup(
        dir.path(),
        &format!("127.0.0.1:{port}"),
        &format!("127.0.0.1:{api_port}"),
        &format!("alice:{token}\n"),
        "user = \"nobody\"\ngroup = \"nogroup\"",
    );
    let mut server = spawn(&config, &[], dir.path());
    let dns = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for_dns(dns, &mut server);
    let pid = server.0.id();
    let ids = |name| {
        status_field(pid, name)
            .split_whitespace()
            .map(|v| v.parse::<u32>().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids("Uid"), [65534; 4], "real, effective, saved, fs uid");
    assert_eq!(ids("Gid"), [65534; 4]);
    assert_eq!(status_field(pid, "Groups"), "");
    for caps in ["CapEff", "CapPrm", "CapAmb"] {
        assert_eq!(status_field(pid, caps), "0000000000000000", "{caps}");
    }
    // Every thread, not only the main one.
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        assert!(
            status.contains("Uid:\t65534\t65534\t65534\t65534"),
            "{status}"
        );
    }
    // It still answers DNS, and can still write its state.
    let reply = common::query(dns, "fo.example.com.", RecordType::A);
    assert_eq!(reply.answers.len(), 1, "{reply}");
    let (status, body) = common::api::call(
        SocketAddr::from(([127, 0, 0, 1], api_port)),
        "POST",
        "/v1/regions/us/drain",
        Some(token),
        Some(serde_json::json!({"why": "after the drop"})),
    );
    assert_eq!(status, 200, "{body}");
    let saved = std::fs::metadata(dir.path().join("state/overrides.json")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&saved), 65534);
}

#[test]
fn started_as_root_with_a_user_it_cannot_become_it_refuses_to_run() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = setup(
        dir.path(),
        "127.0.0.1:0",
        "127.0.0.1:0",
        "alice:alice-token-0123456789\n",
        "user = \"no-such-user-switchyard\"",
    );
    let output = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no user named") && stderr.contains("refusing to start"),
        "{stderr}"
    );
}

#[test]
fn a_full_disk_fails_the_write_cleanly_and_leaves_no_temp_file() {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let api_port = free_port();
    let token = "alice-token-0123456789";
    let config = setup(
        dir.path(),
        &format!("127.0.0.1:{port}"),
        &format!("127.0.0.1:{api_port}"),
        &format!("alice:{token}\n"),
        "",
    );
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    // The server gets a 1 MiB state dir in a mount namespace of its own
    // (the host's mounts are untouched); the test reaches it through
    // /proc/<pid>/root.
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs '{}' && exec '{BIN}' serve --config '{}'",
        state.display(),
        config.display()
    );
    let mut server = Server(
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdout(std::fs::File::create(dir.path().join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for_dns(SocketAddr::from(([127, 0, 0, 1], port)), &mut server);
    let seen = PathBuf::from(format!("/proc/{}/root", server.0.id()))
        .join(state.strip_prefix("/").unwrap());
    let api = SocketAddr::from(([127, 0, 0, 1], api_port));
    let change = |path: &str, body: serde_json::Value| {
        common::api::call(
            api,
            if path.ends_with("weight") {
                "PUT"
            } else {
                "POST"
            },
            path,
            Some(token),
            Some(body),
        )
    };
    let temp_files = || -> Vec<String> {
        std::fs::read_dir(&seen)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    };
    assert_eq!(
        change("/v1/regions/us/drain", serde_json::json!({"why": "before"})).0,
        200
    );
    let saved = std::fs::read(seen.join("overrides.json")).unwrap();

    // Fill the state dir's filesystem.
    let mut filler = std::fs::File::create(seen.join("filler")).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while std::io::Write::write_all(&mut filler, &chunk).is_ok() {}
    drop(filler);

    let (status, body) = change(
        "/v1/regions/eu/weight",
        serde_json::json!({"weight": 5, "why": "full"}),
    );
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "storage_failed");
    assert!(temp_files().is_empty(), "{:?}", temp_files());
    assert_eq!(
        std::fs::read(seen.join("overrides.json")).unwrap(),
        saved,
        "the saved set is untouched"
    );
    // Still serving, and the drain still in force.
    let reply = common::query(
        SocketAddr::from(([127, 0, 0, 1], port)),
        "fo.example.com.",
        RecordType::A,
    );
    assert_eq!(reply.answers[0].data.to_string(), "10.1.0.1");

    // Space again: writes work again.
    std::fs::remove_file(seen.join("filler")).unwrap();
    let (status, body) = change(
        "/v1/regions/eu/weight",
        serde_json::json!({"weight": 5, "why": "space again"}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(temp_files().is_empty());
}
