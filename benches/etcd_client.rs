//! The etcd store client against a real 3-member etcd cluster on loopback:
//! request latency (get, put, CAS txn, lease keep-alive), write-to-watch
//! propagation between two clients on different members, and recovery after
//! quorum loss. Figures depend on the machine (etcd fsyncs every write), so
//! they are printed, never asserted.
//!
//! `cargo bench --bench etcd_client` (needs `etcd` on PATH), or without a
//! release build `cargo test --bench etcd_client -- --bench`: the time is
//! etcd's and the network's, so the client's build profile barely shows.

#[allow(dead_code)]
#[path = "../tests/common/etcd.rs"]
mod etcd;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use etcd::EtcdCluster;
use switchyard::cluster::etcd::{
    Compare, CompareOp, CompareTarget, Etcd, EtcdSettings, TxnOp, WatchEvent,
};

const ROUNDS: usize = 300;
const PROPAGATION_WRITES: usize = 200;

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<34} n={:<4} p50={:>8.2?} p90={:>8.2?} p99={:>8.2?} max={:>8.2?}",
        samples.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        samples[samples.len() - 1]
    );
}

fn client(urls: Vec<String>) -> Etcd {
    let mut settings = EtcdSettings::new(urls);
    settings.request_timeout = Duration::from_secs(2);
    Etcd::new(settings).expect("client")
}

fn main() {
    // `cargo test --benches` runs benches with no arguments but `--bench`
    // absent; only measure when asked to.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let Some(mut cluster) = EtcdCluster::start(3) else {
        eprintln!("etcd not on PATH: nothing measured");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let writer = client(vec![cluster.client_url(0)]);
        let reader = client(vec![cluster.client_url(1)]);

        let mut puts = Vec::new();
        for i in 0..ROUNDS {
            let t = Instant::now();
            writer
                .put(format!("/bench/k{}", i % 16).as_bytes(), b"value", None)
                .await
                .unwrap();
            puts.push(t.elapsed());
        }
        percentiles("put (fsync'd, 3 members)", puts);

        let mut gets = Vec::new();
        for i in 0..ROUNDS {
            let t = Instant::now();
            reader
                .get(format!("/bench/k{}", i % 16).as_bytes())
                .await
                .unwrap();
            gets.push(t.elapsed());
        }
        percentiles("get (linearizable)", gets);

        let mut cas = Vec::new();
        let (kv, _) = writer.get(b"/bench/doc").await.unwrap();
        let mut rev = kv.map_or(0, |kv| kv.mod_revision);
        for i in 0..ROUNDS {
            let t = Instant::now();
            let r = writer
                .txn(
                    vec![Compare {
                        key: b"/bench/doc".to_vec(),
                        op: CompareOp::Equal,
                        target: CompareTarget::ModRevision(rev),
                    }],
                    vec![TxnOp::Put {
                        key: b"/bench/doc".to_vec(),
                        value: format!("{i}").into_bytes(),
                        lease: None,
                    }],
                    vec![],
                )
                .await
                .unwrap();
            cas.push(t.elapsed());
            assert!(r.succeeded);
            rev = r.revision;
        }
        percentiles("txn compare-and-swap", cas);

        let lease = writer.lease_grant(Duration::from_secs(30)).await.unwrap();
        let mut keepalives = Vec::new();
        for _ in 0..ROUNDS {
            let t = Instant::now();
            writer.lease_keepalive(lease).await.unwrap();
            keepalives.push(t.elapsed());
        }
        percentiles("lease keep-alive", keepalives);

        // Write on member 0, watch on member 1: time from calling put to the
        // event arriving at the watcher.
        let (_, now) = reader.get(b"/prop/").await.unwrap();
        let mut watch = reader.watch_prefix(b"/prop/", now + 1).await.unwrap();
        let received = tokio::spawn(async move {
            let mut at = HashMap::new();
            while at.len() < PROPAGATION_WRITES {
                let batch = watch.next().await.unwrap();
                let t = Instant::now();
                for event in batch.events {
                    if let WatchEvent::Put(kv) = event {
                        at.insert(kv.key, t);
                    }
                }
            }
            at
        });
        let mut sent = HashMap::new();
        for i in 0..PROPAGATION_WRITES {
            let key = format!("/prop/{i}").into_bytes();
            sent.insert(key.clone(), Instant::now());
            writer.put(&key, b"x", None).await.unwrap();
            // About 50 writes/s, like a busy control plane.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let received = received.await.unwrap();
        percentiles(
            "put -> watch event (other member)",
            sent.iter().map(|(k, t)| received[k] - *t).collect(),
        );

        // Quorum lost, then one member back: time until a write is accepted.
        let all = client(cluster.client_urls());
        for round in 0..3 {
            tokio::task::block_in_place(|| {
                cluster.kill(1);
                cluster.kill(2);
            });
            while all.put(b"/bench/quorum", b"x", None).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let started = Instant::now();
            let writes = tokio::spawn({
                let all = all.clone();
                async move {
                    loop {
                        if all.put(b"/bench/quorum", b"y", None).await.is_ok() {
                            return Instant::now();
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            });
            // Blocks this worker until the member reports healthy; the
            // writer keeps trying on the other worker meanwhile.
            let healthy = tokio::task::block_in_place(|| {
                cluster.restart(1);
                Instant::now()
            });
            let writes = writes.await.unwrap();
            println!(
                "quorum restore round {round}: restart -> healthy {:>8.2?}, restart -> write accepted {:>8.2?}, healthy -> write accepted {:>+8.2?} ms",
                healthy - started,
                writes - started,
                (writes.duration_since(started).as_secs_f64()
                    - healthy.duration_since(started).as_secs_f64())
                    * 1000.0
            );
            tokio::task::block_in_place(|| {
                cluster.restart(2);
                assert!(cluster.wait_healthy(Duration::from_secs(10)));
            });
        }
    });
}
