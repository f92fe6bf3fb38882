//! A large reload runs off the publisher's critical path: a drain sent
//! while a 300,000-record zone loads is published (and answered) before the
//! reload finishes, and the reload, when it lands, keeps the drain.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::api::{ALICE, Api};
use hickory_proto::rr::RecordType;
use serde_json::json;

/// Writes a zone of `n` A records (plus SOA, NS and glue) for `origin`.
fn big_zone(path: &std::path::Path, origin: &str, n: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write!(
        out,
        "$ORIGIN {origin}.\n$TTL 300\n@ SOA ns1 host 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n"
    )
    .unwrap();
    for i in 0..n {
        writeln!(out, "h{i} A 192.0.2.{}", i % 250 + 1).unwrap();
    }
    out.flush().unwrap();
}

#[test]
fn a_drain_during_a_large_reload_is_published_before_the_reload_finishes() {
    let api = Api::start();
    assert_eq!(api.answers("fo.example.com."), ["10.2.0.1"]);
    // Written after start, so only the reload loads it.
    big_zone(&api.zones.path().join("big.test.zone"), "big.test", 300_000);

    std::thread::scope(|scope| {
        let reload = scope.spawn(|| api.server.reload());
        // Let the reload start loading (it takes seconds; it is still
        // loading when the drain is sent, which the assertions check).
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !reload.is_finished(),
            "the reload finished too soon to test anything"
        );
        let sent = Instant::now();
        let (status, body) = api.call(
            "POST",
            "/v1/regions/us/drain",
            Some(ALICE),
            Some(json!({"why": "emergency during a reload"})),
        );
        let drain_took = sent.elapsed();
        assert_eq!(status, 200, "{body}");
        // Published and answered while the reload is still loading.
        assert_eq!(api.answers("fo.example.com."), ["10.1.0.1"]);
        assert!(
            !reload.is_finished(),
            "the drain waited for the reload ({drain_took:?})"
        );
        eprintln!("drain published in {drain_took:?} while the reload was loading");
        let generation = body["generation"].as_u64().unwrap();
        let reloaded = reload.join().unwrap().expect("reload succeeded");
        assert!(reloaded > generation, "{reloaded} after {generation}");
    });
    // The reload landed on top of the drain: both in force.
    assert_eq!(api.answers("fo.example.com."), ["10.1.0.1"]);
    assert_eq!(api.overrides().len(), 1);
    let reply = common::query(api.server.addr, "h299999.big.test.", RecordType::A);
    assert_eq!(reply.answers.len(), 1, "{reply}");
    let status = api.ok("GET", "/v1/status", None);
    assert_eq!(status["last_reload"]["ok"], true, "{status}");
}
