//! Reloads: an edited zone is swapped in, a broken one is refused while the
//! old answers keep serving, no query is lost while reloads happen, and the
//! real binary reloads on SIGHUP.

mod common;

use common::free_port;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

const ZONE: &str =
    "$TTL 3600\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n";

/// The test zone with `www` pointing at `addr` and the given serial.
fn zone(serial: u32, addr: &str) -> String {
    ZONE.replace(" 1 7200", &format!(" {serial} 7200")) + &format!("www A {addr}\n")
}

/// Replaces the zone file atomically, so a reload never reads half a file.
fn write_zone(dir: &Path, text: &str) {
    let tmp = dir.join("reload.test.zone.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join("reload.test.zone")).unwrap();
}

/// The A answers for www.reload.test.
fn www(addr: SocketAddr) -> Vec<String> {
    let reply = query(addr, "www.reload.test.", RecordType::A);
    assert_eq!(
        reply.metadata.response_code,
        ResponseCode::NoError,
        "{reply}"
    );
    assert!(reply.metadata.authoritative);
    rrs(&reply.answers)
}

fn answer(addr: &str) -> Vec<String> {
    vec![format!("www.reload.test. 3600 A {addr}")]
}

#[test]
fn reload_swaps_in_an_edited_zone() {
    let dir = zones_dir(&[("reload.test.", &zone(1, "192.0.2.1"))]);
    let server = TestServer::builder().zones(dir.path()).start();
    assert_eq!(www(server.addr), answer("192.0.2.1"));
    write_zone(dir.path(), &zone(2, "192.0.2.2"));
    assert_eq!(server.reload(), Ok(2));
    assert_eq!(www(server.addr), answer("192.0.2.2"));
    // A name added by the edit answers too, over TCP as well.
    write_zone(
        dir.path(),
        &(zone(3, "192.0.2.2") + "new AAAA 2001:db8::1\n"),
    );
    assert_eq!(server.reload(), Ok(3));
    let reply = tcp(
        server.addr,
        &make_query("new.reload.test.", RecordType::AAAA, None),
    );
    assert_eq!(
        rrs(&reply.answers),
        vec!["new.reload.test. 3600 AAAA 2001:db8::1"]
    );
}

#[test]
fn broken_reload_fails_and_old_answers_keep_serving() {
    let dir = zones_dir(&[("reload.test.", &zone(1, "192.0.2.1"))]);
    let server = TestServer::builder().zones(dir.path()).start();
    write_zone(
        dir.path(),
        &(zone(2, "192.0.2.2") + "bad IN AA 192.0.2.3\n"),
    );
    let err = server.reload().expect_err("a broken zone must not load");
    assert!(err.contains("reload.test.zone:6:"), "{err}");
    assert_eq!(www(server.addr), answer("192.0.2.1"));
    let nx = query(server.addr, "bad.reload.test.", RecordType::A);
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    // A broken config is refused the same way.
    let config = std::fs::read_to_string(&server.config_path).unwrap();
    std::fs::write(
        &server.config_path,
        config.replace("udp_workers", "udp_wrkrs"),
    )
    .unwrap();
    let err = server.reload().expect_err("a broken config must not load");
    assert!(err.contains("udp_wrkrs"), "{err}");
    assert_eq!(www(server.addr), answer("192.0.2.1"));
    // Once both are fixed, the next reload goes through.
    std::fs::write(&server.config_path, config).unwrap();
    write_zone(dir.path(), &zone(3, "192.0.2.3"));
    assert!(server.reload().is_ok());
    assert_eq!(www(server.addr), answer("192.0.2.3"));
}

#[test]
fn reload_under_load_loses_no_query() {
    const QUERIES: u16 = 2000;
    let dir = zones_dir(&[("reload.test.", &zone(1, "192.0.2.1"))]);
    let server = TestServer::builder().zones(dir.path()).start();
    let addr = server.addr;
    let done = Arc::new(AtomicBool::new(false));
    let client = {
        let done = done.clone();
        std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut lost = Vec::new();
            let mut buf = [0u8; 512];
            for id in 0..QUERIES {
                let mut msg = make_query("www.reload.test.", RecordType::A, None);
                msg.metadata.id = id;
                socket.send_to(&msg.to_vec().unwrap(), addr).unwrap();
                // Skip stale replies to earlier (timed-out) queries.
                let reply = loop {
                    match socket.recv(&mut buf) {
                        Ok(n) => {
                            let reply = Message::from_vec(&buf[..n]).unwrap();
                            if reply.metadata.id == id {
                                break Some(reply);
                            }
                        }
                        Err(_) => break None,
                    }
                };
                match reply {
                    Some(reply) => {
                        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
                        assert_eq!(reply.answers.len(), 1, "{reply}");
                    }
                    None => lost.push(id),
                }
            }
            done.store(true, Ordering::SeqCst);
            lost
        })
    };
    let started = Instant::now();
    let mut reloads = 0u32;
    while !done.load(Ordering::SeqCst) && reloads < 500 {
        let addr = format!("192.0.2.{}", reloads % 2 + 1);
        write_zone(dir.path(), &zone(reloads + 2, &addr));
        server.reload().expect("reload");
        reloads += 1;
    }
    let lost = client.join().expect("client thread");
    assert!(lost.is_empty(), "lost {} queries: {lost:?}", lost.len());
    assert!(reloads >= 5, "only {reloads} reloads happened");
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// The `serve` child, killed (by its own PID) when the test ends.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `addr` over UDP until www.reload.test answers `expected` (10 s at most).
fn wait_for_answer(addr: SocketAddr, expected: &[String]) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let msg = make_query("www.reload.test.", RecordType::A, None)
        .to_vec()
        .unwrap();
    let mut last = String::from("no reply");
    while Instant::now() < deadline {
        if let Some(raw) = udp_raw(addr, &msg)
            && let Ok(reply) = Message::from_vec(&raw)
        {
            if rrs(&reply.answers) == expected {
                return Ok(());
            }
            last = reply.to_string();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last)
}

#[test]
fn sighup_reloads_the_running_binary() {
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    write_zone(&zones, &zone(1, "192.0.2.1"));
    let port = free_port();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        common::config_header(
            &format!("127.0.0.1:{port}"),
            "127.0.0.1:0",
            Path::new("zones"),
            Path::new("state"),
            "udp_workers = 1",
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn switchyard serve");
    let serve = Serve(child);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for_answer(addr, &answer("192.0.2.1")).expect("serve never answered");

    write_zone(&zones, &zone(2, "192.0.2.2"));
    let status = Command::new("kill")
        .args(["-HUP", &serve.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    wait_for_answer(addr, &answer("192.0.2.2")).expect("SIGHUP did not reload");
    // Still the same process: SIGHUP reloads, it does not exit.
    let mut serve = serve;
    assert!(serve.0.try_wait().unwrap().is_none());
}
