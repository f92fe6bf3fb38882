//! Real Switchyard processes for cluster tests: each instance is the
//! `switchyard` binary started with `serve` on free loopback ports, its own
//! state dir and its own `[cluster] instance`, stopped by PID (SIGKILL, as
//! a crash would) on [`Instance::kill`] or drop. Plus a probe target that
//! fails health checks only from chosen source addresses, standing in for
//! a region that some checkers cannot reach.
#![allow(dead_code)] // each test binary uses a different part

pub use super::free_port;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One running instance.
pub struct Instance {
    /// `[cluster] instance`.
    pub name: String,
    /// Its DNS listener (UDP and TCP).
    pub dns: SocketAddr,
    /// Its control API.
    pub api: SocketAddr,
    /// Its config file.
    pub config: PathBuf,
    /// Its directory (config, zones, state, log).
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Instance {
    /// Writes `config` (a template in which `{dns}`, `{api}` and
    /// `{instance}` are replaced) and `zones` into `dir`, starts the binary
    /// and waits until `/readyz` answers.
    pub fn start(dir: &Path, name: &str, config: &str, zones: &[(&str, &str)]) -> Instance {
        std::fs::create_dir_all(dir.join("zones")).unwrap();
        for (file, text) in zones {
            std::fs::write(dir.join("zones").join(file), text).unwrap();
        }
        let dns = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let text = config
            .replace("{dns}", &dns.to_string())
            .replace("{api}", &api.to_string())
            .replace("{instance}", name);
        let path = dir.join("switchyard.toml");
        std::fs::write(&path, text).unwrap();
        let mut instance = Instance {
            name: name.to_string(),
            dns,
            api,
            config: path,
            dir: dir.to_path_buf(),
            child: None,
        };
        instance.spawn();
        instance
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "switchyard=info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn switchyard");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "instance {} exited ({status}) at start:\n{}",
                    self.name,
                    self.log()
                );
            }
            if http_get(self.api, "/readyz").is_some_and(|(code, _)| code == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "instance {} not ready:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// SIGKILL by PID, as a crash: nothing is cleaned up, its lease expires.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again with the same config (and ports).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Value {
        let (code, body) = http_get(self.api, "/v1/status").expect("status");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("status JSON")
    }

    /// The A records `name` gets from this instance over UDP, sorted.
    pub fn answers(&self, name: &str) -> Vec<String> {
        let reply = super::query(self.dns, name, hickory_proto::rr::RecordType::A);
        let mut out: Vec<String> = reply.answers.iter().map(|r| r.data.to_string()).collect();
        out.sort();
        out
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A plain `GET` on loopback: `(status, body)`, or `None` when nothing
/// answers.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let code = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

/// Polls `check` every 50 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
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

/// An HTTP probe target on 127.0.0.1 that answers 200, except 503 to
/// requests from the source addresses in its failing set: a region that
/// only some checkers cannot reach.
pub struct PickyTarget {
    /// Where it listens.
    pub addr: SocketAddr,
    failing: Arc<Mutex<HashSet<IpAddr>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PickyTarget {
    /// Starts one, failing nobody.
    pub fn start() -> PickyTarget {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let failing = Arc::new(Mutex::new(HashSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (failing, stop) = (failing.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (mut stream, peer) = match listener.accept() {
                        Ok(accepted) => accepted,
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(2));
                            continue;
                        }
                    };
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                    let mut buf = [0u8; 2048];
                    let _ = stream.read(&mut buf);
                    let fail = failing.lock().unwrap().contains(&peer.ip());
                    let (status, body) = if fail {
                        ("503 Service Unavailable", "unreachable from here\n")
                    } else {
                        ("200 OK", "ok\n")
                    };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            })
        };
        PickyTarget {
            addr,
            failing,
            stop,
            thread: Some(thread),
        }
    }

    /// Probes from these source addresses fail from now on (and only they).
    pub fn fail_from(&self, sources: &[&str]) {
        let mut failing = self.failing.lock().unwrap();
        failing.clear();
        failing.extend(sources.iter().map(|s| s.parse::<IpAddr>().unwrap()));
    }
}

impl Drop for PickyTarget {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
