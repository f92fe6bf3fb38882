//! The fast path allocates nothing per query: a counting allocator watches
//! `respond_into` answer static names, NXDOMAIN and managed names, and the
//! listeners' recording of each query (metrics into pre-registered
//! handles, answers by region, a query log sampling every query).

mod counting_alloc;

use counting_alloc::{allocations, assert_counting};

use std::net::SocketAddr;
use std::path::Path;

use switchyard::answer::{QueryMeta, Transport, respond_into};
use switchyard::metrics::query::Observer;
use switchyard::querylog::QueryLog;
use switchyard::snapshot::{Inputs, Snapshot};

/// A query for `name` (dotted, absolute) of type `qtype`, optionally with an OPT record.
fn packet(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
    for label in name.trim_end_matches('.').split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&[0, 1]);
    if edns {
        p.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    }
    p
}

/// Adds an ECS option for 198.51.100.0/24 (in the test database) to a query ending in OPT.
fn with_ecs(mut query: Vec<u8>) -> Vec<u8> {
    let rdlen = query.len() - 2;
    query[rdlen..].copy_from_slice(&11u16.to_be_bytes());
    query.extend_from_slice(&[0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100]);
    query
}

#[path = "common/mod.rs"]
mod common;

#[test]
fn fast_path_answers_without_allocating() {
    // The example config, plus a MaxMind database so geo lookups run through it.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    common::write_test_mmdb(&dir.path().join("city.mmdb"));
    let text = std::fs::read_to_string(repo.join("config/switchyard.toml"))
        .unwrap()
        .replace(
            "zones_dir = \"../zones\"",
            &format!("zones_dir = {:?}", repo.join("zones").display().to_string()),
        )
        .replace(
            "[geo.networks]",
            "[geo]\ndatabase = \"city.mmdb\"\n[geo.networks]",
        )
        .replace(
            "tokens_file = \"tokens.example\"",
            &format!(
                "tokens_file = {:?}",
                repo.join("config/tokens.example").display().to_string()
            ),
        );
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, text).unwrap();
    // The real recorder, installed first, so answer counters are live handles.
    assert!(switchyard::metrics::install());
    let inputs = Inputs::load(&config).unwrap();
    let snapshot = Snapshot::build(
        &inputs,
        &Default::default(),
        1,
        std::time::SystemTime::UNIX_EPOCH,
    );
    let meta = QueryMeta {
        source: SocketAddr::from(([127, 0, 0, 1], 5353)),
        transport: Transport::Udp,
    };
    let mut rng = fastrand::Rng::with_seed(1);
    let mut out = Vec::with_capacity(4096);
    let queries = [
        ("static A", packet("WWW.example.com.", 1, false)),
        ("static MX with EDNS", packet("example.com.", 15, true)),
        ("NXDOMAIN", packet("nope.example.com.", 1, true)),
        ("NODATA", packet("www.example.com.", 16, false)),
        ("weighted", packet("app.example.com.", 1, false)),
        ("failover", packet("api.example.com.", 1, true)),
        ("geo", packet("geo.example.com.", 1, false)),
        (
            "nearest via the database",
            with_ecs(packet("near.example.com.", 1, true)),
        ),
        (
            "geo via the database",
            with_ecs(packet("geo.example.com.", 28, true)),
        ),
        ("multivalue", packet("pool.example.com.", 1, false)),
    ];
    // Every query sampled into the log: the worst case for the query path.
    let log = QueryLog::with_writer(1, 1024, Box::new(std::io::sink())).unwrap();
    let mut recorder = Observer::new(true, Some(log.clone())).recorder(Transport::Udp);
    for (what, query) in &queries {
        // Warm up once (first use may size buffers), then count.
        assert!(
            respond_into(&snapshot.view(), query, &meta, &mut rng, &mut out),
            "{what}"
        );
        assert_counting();
        let before = allocations();
        for _ in 0..100 {
            // As a UDP worker does it: time the batch, answer, record, flush.
            let started = recorder.batch_start();
            assert!(respond_into(
                &snapshot.view(),
                query,
                &meta,
                &mut rng,
                &mut out
            ));
            recorder.query(query, Some(&out), meta.source, started);
            recorder.batch_end(started, 1);
        }
        assert_eq!(
            allocations() - before,
            0,
            "{what} allocated on the query path"
        );
    }
    // The recording really happened.
    let text = switchyard::metrics::render();
    assert!(
        text.contains("switchyard_queries_total{transport=\"udp\",qtype=\"A\",rcode=\"NOERROR\"}"),
        "{text}"
    );
    assert!(text.contains("service=\"app.example.com\""), "{text}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while log.written() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(log.written() > 0, "nothing reached the query log");
}
