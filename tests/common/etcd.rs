//! A real etcd cluster on loopback for tests: N members started from the
//! `etcd` binary on PATH, each with its own data dir in a temp dir and free
//! 127.0.0.1 ports, stopped by PID (SIGKILL) on drop.
//!
//! When `etcd` is missing, [`EtcdCluster::start`] returns `None` and prints
//! why, so a developer without etcd can still run the rest of the suite; CI
//! sets `SWITCHYARD_REQUIRE_ETCD=1`, and then a missing etcd is a failure.
#![allow(unreachable_pub)] // a private module of each test (or bench) crate that includes it

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

/// How long a fresh cluster (or a restarted member) may take to serve.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Distinguishes clusters started by one test process.
static CLUSTERS: AtomicUsize = AtomicUsize::new(0);

/// One etcd member: its ports, data dir and (while running) process.
struct Member {
    name: String,
    client: SocketAddr,
    peer: SocketAddr,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// PEM files for a cluster that serves clients over TLS and requires
/// client certificates (peers still talk plain HTTP on loopback).
#[derive(Debug, Clone)]
pub struct EtcdTls {
    /// The CA that signed both certificates.
    pub ca: PathBuf,
    /// Server certificate (valid for 127.0.0.1) and its key.
    pub server_cert: PathBuf,
    /// The server certificate's key.
    pub server_key: PathBuf,
    /// A client certificate signed by the CA, for etcdctl.
    pub client_cert: PathBuf,
    /// The client certificate's key.
    pub client_key: PathBuf,
}

/// A running etcd cluster on loopback.
pub struct EtcdCluster {
    members: Vec<Member>,
    initial_cluster: String,
    token: String,
    tls: Option<EtcdTls>,
    dir: tempfile::TempDir,
}

impl EtcdCluster {
    /// Starts `members` members and waits until every one reports healthy.
    /// `None` (with a printed reason) when `etcd` is not on PATH, unless
    /// `SWITCHYARD_REQUIRE_ETCD=1`, when that panics.
    pub fn start(members: usize) -> Option<EtcdCluster> {
        EtcdCluster::start_with(members, None)
    }

    /// Like [`EtcdCluster::start`], serving clients over https with `tls`
    /// and requiring client certificates.
    pub fn start_tls(members: usize, tls: &EtcdTls) -> Option<EtcdCluster> {
        EtcdCluster::start_with(members, Some(tls.clone()))
    }

    fn start_with(members: usize, tls: Option<EtcdTls>) -> Option<EtcdCluster> {
        assert!(members >= 1, "an etcd cluster needs at least one member");
        if let Err(e) = Command::new("etcd")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            if std::env::var("SWITCHYARD_REQUIRE_ETCD").as_deref() == Ok("1") {
                panic!("etcd not found on PATH ({e}) and SWITCHYARD_REQUIRE_ETCD=1");
            }
            eprintln!(
                "skipping: etcd not found on PATH ({e}); install etcd-server to run this test"
            );
            return None;
        }
        // Free ports are found by binding port 0 and releasing it, so another
        // process may take one before etcd binds it; a start that fails is
        // retried with fresh ports.
        let mut last = String::new();
        for _attempt in 0..3 {
            match EtcdCluster::try_start(members, tls.clone()) {
                Ok(cluster) => return Some(cluster),
                Err(e) => last = e,
            }
        }
        panic!("etcd cluster did not start: {last}");
    }

    fn try_start(count: usize, tls: Option<EtcdTls>) -> Result<EtcdCluster, String> {
        let dir = tempfile::Builder::new()
            .prefix("switchyard-etcd")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        // Hold every listener until all ports are chosen so none repeats.
        let listeners: Vec<TcpListener> = (0..count * 2)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
            .collect();
        let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        drop(listeners);
        let nanos = switchyard::clock::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let token = format!(
            "switchyard-test-{}-{}-{nanos}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        );
        let members: Vec<Member> = (0..count)
            .map(|i| Member {
                name: format!("m{i}"),
                client: addrs[2 * i],
                peer: addrs[2 * i + 1],
                data_dir: dir.path().join(format!("m{i}.etcd")),
                log: dir.path().join(format!("m{i}.log")),
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = EtcdCluster {
            members,
            initial_cluster,
            token,
            tls,
            dir,
        };
        for i in 0..count {
            cluster
                .spawn(i)
                .map_err(|e| format!("spawn member {i}: {e}"))?;
        }
        if cluster.wait_healthy(START_TIMEOUT) {
            Ok(cluster)
        } else {
            Err(format!(
                "not healthy within {START_TIMEOUT:?}; logs:\n{}",
                cluster.logs()
            ))
        }
    }

    /// Starts member `i`'s process with its fixed ports and data dir.
    fn spawn(&mut self, i: usize) -> std::io::Result<()> {
        let member = &self.members[i];
        let log = File::options()
            .create(true)
            .append(true)
            .open(&member.log)?;
        let client = self.url(member);
        let peer = format!("http://{}", member.peer);
        let mut command = Command::new("etcd");
        if let Some(tls) = &self.tls {
            command
                .arg("--cert-file")
                .arg(&tls.server_cert)
                .arg("--key-file")
                .arg(&tls.server_key)
                .arg("--trusted-ca-file")
                .arg(&tls.ca)
                .arg("--client-cert-auth");
        }
        let child = command
            .arg("--name")
            .arg(&member.name)
            .arg("--data-dir")
            .arg(&member.data_dir)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-token", &self.token])
            .args(["--initial-cluster-state", "new"])
            .args(["--heartbeat-interval", "50"])
            .args(["--election-timeout", "500"])
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.members[i].child = Some(child);
        Ok(())
    }

    /// The client URL of every member, in member order (killed ones too).
    pub fn client_urls(&self) -> Vec<String> {
        self.members.iter().map(|m| self.url(m)).collect()
    }

    /// The client URL of member `i`.
    pub fn client_url(&self, i: usize) -> String {
        self.url(&self.members[i])
    }

    fn url(&self, member: &Member) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", member.client)
    }

    /// Whether member `i` serves: `/health` says true (over TLS, etcdctl
    /// asks, since this harness speaks only plain HTTP itself).
    fn member_serves(&self, i: usize) -> bool {
        match &self.tls {
            None => member_healthy(self.members[i].client),
            Some(_) => self
                .etcdctl_at(&[self.client_url(i)], &["endpoint", "health"], &[])
                .status
                .success(),
        }
    }

    /// Kills member `i` with SIGKILL (by PID) and reaps it.
    pub fn kill(&mut self, member: usize) {
        if let Some(mut child) = self.members[member].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts member `i` on its old data dir and ports, and waits until it
    /// serves (its `/health` says true).
    pub fn restart(&mut self, member: usize) {
        self.kill(member);
        self.spawn(member).expect("respawn etcd member");
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if self.member_serves(member) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "etcd member {member} did not serve within {START_TIMEOUT:?} after restart; logs:\n{}",
            self.logs()
        );
    }

    /// Restarts several members at once (same data dirs and ports) and
    /// waits until every running member is healthy: after a lost quorum
    /// no single member can serve on its own, so one-by-one
    /// [`EtcdCluster::restart`] would wait in vain.
    pub fn restart_many(&mut self, members: &[usize]) {
        for &member in members {
            self.kill(member);
            self.spawn(member).expect("respawn etcd member");
        }
        assert!(
            self.wait_healthy(START_TIMEOUT),
            "etcd members {members:?} not healthy within {START_TIMEOUT:?} after restart; logs:\n{}",
            self.logs()
        );
    }

    /// Waits until every running member reports healthy (it has a leader
    /// and serves linearizable reads); false on timeout.
    pub fn wait_healthy(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let all = (0..self.members.len())
                .filter(|&i| self.members[i].child.is_some())
                .all(|i| self.member_serves(i));
            if all {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `etcdctl` against every member (e.g. `user add`, `auth enable`,
    /// `compaction`), with `extra_env` set. Panics when etcdctl is missing.
    pub fn etcdctl(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let endpoints: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.child.is_some())
            .map(|m| self.url(m))
            .collect();
        self.etcdctl_at(&endpoints, args, extra_env)
    }

    fn etcdctl_at(
        &self,
        endpoints: &[String],
        args: &[&str],
        extra_env: &[(&str, &str)],
    ) -> Output {
        let mut command = Command::new("etcdctl");
        command
            .env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(endpoints.join(","))
            .args(["--dial-timeout", "2s", "--command-timeout", "3s"])
            .stdin(Stdio::null());
        if let Some(tls) = &self.tls {
            command
                .arg("--cacert")
                .arg(&tls.ca)
                .arg("--cert")
                .arg(&tls.client_cert)
                .arg("--key")
                .arg(&tls.client_key);
        }
        command.args(args);
        for (k, v) in extra_env {
            command.env(k, v);
        }
        command.output().expect("run etcdctl (package etcd-client)")
    }

    /// The temp dir holding the members' data dirs and logs.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Every member's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for m in &self.members {
            let text = std::fs::read_to_string(&m.log).unwrap_or_default();
            // The tail is what explains a failure; whole logs drown it.
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            out.push_str(&format!("--- {} ---\n", m.name));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// One `GET /health` over a plain socket: true when the member answers
/// `"health":"true"`.
fn member_healthy(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200") && response.contains("\"health\":\"true\"")
}
