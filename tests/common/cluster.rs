//! A fleet for cluster tests: a real 3-member etcd cluster on loopback and
//! N real `switchyard serve` processes sharing it, each with its own state
//! dir and fixed free ports (so a restarted process comes back on the same
//! addresses). Processes are stopped by PID: `kill` is SIGKILL, as a crash.

pub use super::free_port;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use serde_json::Value;

use super::api::{ALICE, BOB, ZONE, call, traffic};
use super::etcd::EtcdCluster;
use super::{query, zones_dir};

/// The key prefix every fleet uses.
pub const PREFIX: &str = "/sy-test/";

/// `fo.example.com` (failover us, then eu) answers this while us serves...
pub const US: &str = "10.2.0.1";
/// ...and this once us is out.
pub const EU: &str = "10.1.0.1";

/// One Switchyard process.
pub struct Instance {
    /// Its `[cluster] instance` name.
    pub name: String,
    /// DNS (UDP and TCP).
    pub dns: SocketAddr,
    /// Control API.
    pub api: SocketAddr,
    /// Its own directory (config, state dir, log).
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Instance {
    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.dir.join("switchyard.toml")
    }

    /// The state dir.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The A records answered for `name`, sorted (empty when no reply).
    pub fn answers(&self, name: &str) -> Vec<String> {
        let reply = query(self.dns, name, RecordType::A);
        let mut out: Vec<String> = reply.answers.iter().map(|r| r.data.to_string()).collect();
        out.sort();
        out
    }

    /// One API request as alice.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        call(self.api, method, path, Some(ALICE), body)
    }

    /// One API request as bob (a second operator).
    pub fn call_as_bob(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        call(self.api, method, path, Some(BOB), body)
    }

    /// A request that must succeed.
    pub fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, body);
        assert_eq!(status, 200, "{} {method} {path}: {value}", self.name);
        value
    }

    /// `/v1/status`'s `cluster` object.
    pub fn cluster_status(&self) -> Value {
        self.ok("GET", "/v1/status", None)["cluster"].clone()
    }

    /// True while the process runs.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// The process's log (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.join("serve.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["serve", "--config"])
            .arg(self.config())
            .env("RUST_LOG", "info,switchyard::cluster=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("spawn switchyard serve");
        self.child = Some(child);
    }

    /// SIGKILL (a crash: nothing is cleaned up).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the API answers `/readyz` (15 s at most).
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(r) =
                switchyard::ctl::http::request(&self.api.to_string(), "GET", "/readyz", None, None)
                && r.status == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} never became ready; log:\n{}", self.name, self.log());
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// etcd plus the instances.
pub struct Fleet {
    /// The etcd cluster (3 members).
    pub etcd: EtcdCluster,
    /// The instances, `a`, `b`, `c`, ...
    pub instances: Vec<Instance>,
    /// Zones, tokens, instance dirs.
    pub dir: tempfile::TempDir,
}

impl Fleet {
    /// 3 etcd members and `n` instances, every instance given every
    /// endpoint (its own member first). `None` when etcd is not installed.
    pub fn start(n: usize) -> Option<Fleet> {
        Fleet::start_with(n, |_, urls| urls.to_vec())
    }

    /// Like [`Fleet::start`], choosing each instance's endpoints from the
    /// member URLs (e.g. only its own member, to cut it off alone).
    pub fn start_with(
        n: usize,
        endpoints: impl Fn(usize, &[String]) -> Vec<String>,
    ) -> Option<Fleet> {
        let etcd = EtcdCluster::start(3)?;
        let zones = zones_dir(&[("example.com", ZONE)]);
        let dir = zones;
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, format!("alice:{ALICE}\nbob:{BOB}\n")).unwrap();
        let urls = etcd.client_urls();
        let mut instances = Vec::new();
        for i in 0..n {
            let name = ["a", "b", "c", "d", "e"][i].to_string();
            let idir = dir.path().join(format!("instance-{name}"));
            std::fs::create_dir_all(&idir).unwrap();
            let mut own_first = urls.clone();
            own_first.rotate_left(i % urls.len());
            let list: Vec<String> = endpoints(i, &own_first);
            let dns = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let config = format!(
                r#"version = 1
[server]
dns_listen = ["{dns}"]
api_listen = "{api}"
zones_dir = {zones:?}
state_dir = "state"
udp_workers = 1

[cluster]
store = "etcd"
endpoints = {list:?}
prefix = "{PREFIX}"
instance = "{name}"
request_timeout_ms = 500
lease_ttl_secs = 2

[drills]
vantages = {{ any = "198.18.0.0/24" }}
probe_interval_ms = 50
converge_timeout_secs = 2
{traffic}
"#,
                zones = dir.path().display().to_string(),
                traffic = traffic(&tokens, ""),
            );
            std::fs::write(idir.join("switchyard.toml"), config).unwrap();
            let mut instance = Instance {
                name,
                dns,
                api,
                dir: idir,
                child: None,
            };
            instance.spawn();
            instances.push(instance);
        }
        let fleet = Fleet {
            etcd,
            instances,
            dir,
        };
        for i in &fleet.instances {
            i.wait_ready();
        }
        for i in 0..n {
            fleet.wait_connected(i, Duration::from_secs(10));
        }
        Some(fleet)
    }

    /// Instance `i`.
    pub fn at(&self, i: usize) -> &Instance {
        &self.instances[i]
    }

    /// SIGKILLs instance `i`.
    pub fn kill(&mut self, i: usize) {
        self.instances[i].kill();
    }

    /// Starts instance `i` again on the same config, ports and state dir;
    /// waits until it answers the API.
    pub fn restart(&mut self, i: usize) {
        self.instances[i].kill();
        self.instances[i].spawn();
        self.instances[i].wait_ready();
    }

    /// Waits until instance `i` reports its cluster state current.
    pub fn wait_connected(&self, i: usize, timeout: Duration) {
        let ok = wait_until(timeout, || {
            self.at(i).cluster_status()["connected"] == Value::Bool(true)
        });
        assert!(
            ok,
            "{} not connected to etcd: {}\n{}",
            self.at(i).name,
            self.at(i).cluster_status(),
            self.at(i).log()
        );
    }

    /// Waits until every running instance answers `name` with `expected`;
    /// panics with what each answered otherwise.
    pub fn wait_answers(&self, name: &str, expected: &[&str], timeout: Duration) {
        let want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        let running: Vec<&Instance> = self.instances.iter().filter(|i| i.running()).collect();
        let ok = wait_until(timeout, || running.iter().all(|i| i.answers(name) == want));
        if !ok {
            let seen: Vec<String> = running
                .iter()
                .map(|i| format!("{}: {:?}", i.name, i.answers(name)))
                .collect();
            panic!("not every instance answers {want:?}: {}", seen.join("; "));
        }
    }

    /// The value at `key` in etcd, as text (empty when absent).
    pub fn etcd_get(&self, key: &str) -> String {
        let out = self.etcd.etcdctl(&["get", key, "--print-value-only"], &[]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Every value under `prefix` in etcd.
    pub fn etcd_values(&self, prefix: &str) -> Vec<String> {
        let out = self
            .etcd
            .etcdctl(&["get", prefix, "--prefix", "--print-value-only"], &[]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect()
    }
}

/// Polls `check` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `switchyard <args>`: (success, stdout, stderr).
pub fn run_cli(args: &[&str], config: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run switchyard");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
