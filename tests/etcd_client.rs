//! The etcd store client (`switchyard::cluster::etcd`) against a real
//! 3-member etcd cluster on loopback, started by `common::etcd`: reads and
//! writes, transactions and a compare-and-swap race, leases whose expiry
//! deletes keys, watches from a revision, compaction, failover with one
//! member dead, unavailability with two dead and recovery, and auth.
//!
//! Each test starts its own cluster (a second or two) so tests never see
//! each other's keys or kill each other's members.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::etcd::EtcdCluster;
use switchyard::cluster::etcd::{
    Compare, CompareOp, CompareTarget, Etcd, EtcdError, EtcdSettings, TxnOp, Watch, WatchBatch,
    WatchEvent,
};

/// Per-request timeout the tests use: short, so dead members cost little.
const TIMEOUT: Duration = Duration::from_secs(1);

/// A client for every member of `cluster`.
fn client(cluster: &EtcdCluster) -> Etcd {
    let mut settings = EtcdSettings::new(cluster.client_urls());
    settings.request_timeout = TIMEOUT;
    Etcd::new(settings).expect("client")
}

/// The next watch batch, failing the test instead of hanging.
async fn next(watch: &mut Watch) -> Result<WatchBatch, EtcdError> {
    tokio::time::timeout(Duration::from_secs(15), watch.next())
        .await
        .expect("watch produced nothing within 15 s")
}

/// Runs harness code that blocks (process spawn, polling) off the runtime's
/// worker so watches and timers keep running.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn value_of(kv: &Option<switchyard::cluster::etcd::KeyValue>) -> Option<&[u8]> {
    kv.as_ref().map(|kv| kv.value.as_slice())
}

#[test]
fn harness_starts_kills_and_restarts_members() {
    let Some(mut cluster) = EtcdCluster::start(3) else {
        return;
    };
    let put = cluster.etcdctl(&["put", "/harness", "v1"], &[]);
    assert!(put.status.success(), "{put:?}");
    cluster.kill(0);
    assert!(
        cluster.wait_healthy(Duration::from_secs(10)),
        "{}",
        cluster.logs()
    );
    let get = cluster.etcdctl(&["get", "/harness", "--print-value-only"], &[]);
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "v1", "{get:?}");
    cluster.restart(0);
    assert!(
        cluster.wait_healthy(Duration::from_secs(10)),
        "{}",
        cluster.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_prefix_and_delete() {
    let Some(cluster) = EtcdCluster::start(3) else {
        return;
    };
    let etcd = client(&cluster);
    let (missing, rev0) = etcd.get(b"/t/a").await.unwrap();
    assert!(missing.is_none());
    assert!(rev0 >= 1);

    let r1 = etcd.put(b"/t/b", b"two", None).await.unwrap();
    let r2 = etcd.put(b"/t/a", b"one", None).await.unwrap();
    let r3 = etcd.put(b"/t/a", b"uno", None).await.unwrap();
    etcd.put(b"/t0", b"outside", None).await.unwrap();
    etcd.put(b"/s/a", b"outside", None).await.unwrap();
    assert!(rev0 < r1 && r1 < r2 && r2 < r3, "{rev0} {r1} {r2} {r3}");

    let (a, rev) = etcd.get(b"/t/a").await.unwrap();
    let a = a.expect("/t/a exists");
    assert_eq!(a.key, b"/t/a");
    assert_eq!(a.value, b"uno");
    assert_eq!(
        (a.create_revision, a.mod_revision, a.version, a.lease),
        (r2, r3, 2, 0)
    );
    assert!(rev > r3);

    // Binary keys and values survive the base64 round trip.
    let binary: Vec<u8> = (0u8..=255).collect();
    etcd.put(b"/t/bin\xff\x00", &binary, None).await.unwrap();
    let (kv, _) = etcd.get(b"/t/bin\xff\x00").await.unwrap();
    assert_eq!(value_of(&kv), Some(binary.as_slice()));

    let (kvs, _) = etcd.get_prefix(b"/t/").await.unwrap();
    let keys: Vec<&[u8]> = kvs.iter().map(|kv| kv.key.as_slice()).collect();
    assert_eq!(keys, [&b"/t/a"[..], b"/t/b", b"/t/bin\xff\x00"]);

    let before = etcd.get(b"/t/b").await.unwrap().1;
    let deleted_at = etcd.delete(b"/t/b").await.unwrap();
    assert!(deleted_at > before);
    assert!(etcd.get(b"/t/b").await.unwrap().0.is_none());
    // Deleting what is not there is not an error.
    etcd.delete(b"/t/b").await.unwrap();

    etcd.delete_prefix(b"/t/").await.unwrap();
    assert!(etcd.get_prefix(b"/t/").await.unwrap().0.is_empty());
    assert_eq!(
        value_of(&etcd.get(b"/t0").await.unwrap().0),
        Some(&b"outside"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txn_compares_choose_the_branch_and_return_its_gets() {
    let Some(cluster) = EtcdCluster::start(3) else {
        return;
    };
    let etcd = client(&cluster);
    // Create-if-absent: version == 0.
    let absent = Compare {
        key: b"/x/doc".to_vec(),
        op: CompareOp::Equal,
        target: CompareTarget::Version(0),
    };
    let created = etcd
        .txn(
            vec![absent.clone()],
            vec![
                TxnOp::Put {
                    key: b"/x/doc".to_vec(),
                    value: b"v1".to_vec(),
                    lease: None,
                },
                TxnOp::Get {
                    key: b"/x/doc".to_vec(),
                },
            ],
            vec![TxnOp::Get {
                key: b"/x/doc".to_vec(),
            }],
        )
        .await
        .unwrap();
    assert!(created.succeeded);
    assert_eq!(created.gets.len(), 1);
    assert_eq!(created.gets[0][0].value, b"v1");
    let rev = created.gets[0][0].mod_revision;
    assert_eq!(created.revision, rev);

    // The same create again fails and runs the failure branch's get.
    let again = etcd
        .txn(
            vec![absent],
            vec![TxnOp::Delete {
                key: b"/x/doc".to_vec(),
            }],
            vec![
                TxnOp::Put {
                    key: b"/x/other".to_vec(),
                    value: b"o".to_vec(),
                    lease: None,
                },
                TxnOp::Get {
                    key: b"/x/doc".to_vec(),
                },
                TxnOp::GetPrefix {
                    prefix: b"/x/".to_vec(),
                },
            ],
        )
        .await
        .unwrap();
    assert!(!again.succeeded);
    assert_eq!(again.gets.len(), 2);
    assert_eq!(again.gets[0][0].value, b"v1");
    let keys: Vec<&[u8]> = again.gets[1].iter().map(|kv| kv.key.as_slice()).collect();
    assert_eq!(keys, [&b"/x/doc"[..], b"/x/other"]);

    // CAS on mod_revision: stale revision fails, current one wins.
    let cas = |rev: i64, value: &[u8]| {
        (
            vec![Compare {
                key: b"/x/doc".to_vec(),
                op: CompareOp::Equal,
                target: CompareTarget::ModRevision(rev),
            }],
            vec![TxnOp::Put {
                key: b"/x/doc".to_vec(),
                value: value.to_vec(),
                lease: None,
            }],
        )
    };
    let (c, s) = cas(rev - 1, b"stale");
    assert!(!etcd.txn(c, s, vec![]).await.unwrap().succeeded);
    let (c, s) = cas(rev, b"v2");
    assert!(etcd.txn(c, s, vec![]).await.unwrap().succeeded);
    assert_eq!(
        value_of(&etcd.get(b"/x/doc").await.unwrap().0),
        Some(&b"v2"[..])
    );

    // Value, Greater, Less and NotEqual compares; DeletePrefix in a branch.
    let all_hold = vec![
        Compare {
            key: b"/x/doc".to_vec(),
            op: CompareOp::Equal,
            target: CompareTarget::Value(b"v2".to_vec()),
        },
        Compare {
            key: b"/x/doc".to_vec(),
            op: CompareOp::Greater,
            target: CompareTarget::Version(1),
        },
        Compare {
            key: b"/x/doc".to_vec(),
            op: CompareOp::Less,
            target: CompareTarget::CreateRevision(rev + 1),
        },
        Compare {
            key: b"/x/other".to_vec(),
            op: CompareOp::NotEqual,
            target: CompareTarget::Value(b"v2".to_vec()),
        },
    ];
    let cleared = etcd
        .txn(
            all_hold.clone(),
            vec![TxnOp::DeletePrefix {
                prefix: b"/x/".to_vec(),
            }],
            vec![],
        )
        .await
        .unwrap();
    assert!(cleared.succeeded);
    assert!(cleared.gets.is_empty());
    assert!(etcd.get_prefix(b"/x/").await.unwrap().0.is_empty());
    // With the keys gone the same compares fail.
    assert!(!etcd.txn(all_hold, vec![], vec![]).await.unwrap().succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_swap_race_has_exactly_one_winner() {
    let Some(cluster) = EtcdCluster::start(3) else {
        return;
    };
    let etcd = client(&cluster);
    // A second client through another member, as a second instance would be.
    let mut settings = EtcdSettings::new(vec![cluster.client_url(1), cluster.client_url(2)]);
    settings.request_timeout = TIMEOUT;
    let other = Etcd::new(settings).unwrap();
    etcd.put(b"/race", b"start", None).await.unwrap();
    for round in 0..20 {
        let (kv, _) = etcd.get(b"/race").await.unwrap();
        let rev = kv.unwrap().mod_revision;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let contenders = [("a", etcd.clone()), ("b", other.clone())].map(|(name, client)| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let value = format!("{name}{round}").into_bytes();
                client
                    .txn(
                        vec![Compare {
                            key: b"/race".to_vec(),
                            op: CompareOp::Equal,
                            target: CompareTarget::ModRevision(rev),
                        }],
                        vec![TxnOp::Put {
                            key: b"/race".to_vec(),
                            value,
                            lease: None,
                        }],
                        vec![TxnOp::Get {
                            key: b"/race".to_vec(),
                        }],
                    )
                    .await
                    .unwrap()
            })
        });
        let mut results = Vec::new();
        for c in contenders {
            results.push(c.await.unwrap());
        }
        let winners: Vec<usize> = (0..2).filter(|&i| results[i].succeeded).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let winner = ["a", "b"][winners[0]];
        let loser = &results[1 - winners[0]];
        // The loser's failure branch saw the winner's write.
        assert_eq!(
            loser.gets[0][0].value,
            format!("{winner}{round}").as_bytes()
        );
        let (kv, _) = etcd.get(b"/race").await.unwrap();
        assert_eq!(kv.unwrap().value, format!("{winner}{round}").as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_keepalive_expiry_and_revoke() {
    let Some(cluster) = EtcdCluster::start(3) else {
        return;
    };
    let etcd = client(&cluster);
    let (_, rev) = etcd.get(b"/l/").await.unwrap();
    let mut watch = etcd.watch_prefix(b"/l/", rev + 1).await.unwrap();

    let lease = etcd.lease_grant(Duration::from_secs(2)).await.unwrap();
    let put_rev = etcd
        .put(b"/l/vote", b"up", Some(lease))
        .await
        .expect("put with lease");
    let (kv, _) = etcd.get(b"/l/vote").await.unwrap();
    assert_eq!(kv.unwrap().lease, lease);

    // Kept alive past its TTL, the key stays.
    let kept_until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < kept_until {
        let left = etcd.lease_keepalive(lease).await.unwrap();
        assert!(
            left > Duration::ZERO && left <= Duration::from_secs(2),
            "{left:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(etcd.get(b"/l/vote").await.unwrap().0.is_some());

    // Left alone, it expires: the key vanishes and the watch says so.
    let first = next(&mut watch).await.unwrap();
    assert_eq!(first.events.len(), 1);
    assert!(
        matches!(&first.events[0], WatchEvent::Put(kv) if kv.key == b"/l/vote" && kv.mod_revision == put_rev)
    );
    let deleted = next(&mut watch).await.unwrap();
    assert_eq!(deleted.events.len(), 1, "{deleted:?}");
    let WatchEvent::Delete { key, mod_revision } = &deleted.events[0] else {
        panic!("expected a delete: {deleted:?}")
    };
    assert_eq!(key, b"/l/vote");
    assert!(*mod_revision > put_rev);
    assert_eq!(deleted.revision, *mod_revision);
    assert!(etcd.get(b"/l/vote").await.unwrap().0.is_none());
    assert_eq!(etcd.lease_keepalive(lease).await.unwrap(), Duration::ZERO);

    // Revoking deletes at once; revoking again is not an error.
    let lease = etcd.lease_grant(Duration::from_secs(60)).await.unwrap();
    etcd.put(b"/l/a", b"1", Some(lease)).await.unwrap();
    etcd.put(b"/l/b", b"2", Some(lease)).await.unwrap();
    assert_eq!(etcd.get_prefix(b"/l/").await.unwrap().0.len(), 2);
    etcd.lease_revoke(lease).await.unwrap();
    assert!(etcd.get_prefix(b"/l/").await.unwrap().0.is_empty());
    etcd.lease_revoke(lease).await.unwrap();
    assert_eq!(etcd.lease_keepalive(lease).await.unwrap(), Duration::ZERO);
    // A put on a dead lease is refused.
    match etcd.put(b"/l/c", b"3", Some(lease)).await {
        Err(EtcdError::Rejected(m)) => assert!(m.contains("lease not found"), "{m}"),
        other => panic!("put on a revoked lease: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_revision_gets_every_event_in_order() {
    let Some(cluster) = EtcdCluster::start(3) else {
        return;
    };
    let etcd = client(&cluster);
    let mut revisions = Vec::new();
    for i in 0..20 {
        let key = format!("/w/k{}", i % 7);
        let rev = if i % 5 == 4 {
            etcd.delete(key.as_bytes()).await.unwrap()
        } else {
            etcd.put(key.as_bytes(), format!("v{i}").as_bytes(), None)
                .await
                .unwrap()
        };
        etcd.put(b"/other/noise", b"x", None).await.unwrap();
        revisions.push((i, key, rev));
    }
    // Watch from the 6th write: the history from there, then live events.
    let from = revisions[5].2;
    let mut watch = etcd.watch_prefix(b"/w/", from).await.unwrap();
    let live = etcd.put(b"/w/live", b"after", None).await.unwrap();

    let mut seen = Vec::new();
    let mut last_batch = 0;
    while seen.last().is_none_or(|&(_, rev)| rev < live) {
        let batch = next(&mut watch).await.unwrap();
        assert!(batch.revision > last_batch);
        last_batch = batch.revision;
        for event in batch.events {
            match event {
                WatchEvent::Put(kv) => {
                    seen.push((String::from_utf8(kv.key).unwrap(), kv.mod_revision))
                }
                WatchEvent::Delete { key, mod_revision } => seen.push((
                    format!("-{}", String::from_utf8(key).unwrap()),
                    mod_revision,
                )),
            }
        }
    }
    let mut expected: Vec<(String, i64)> = revisions[5..]
        .iter()
        .map(|(i, key, rev)| {
            if i % 5 == 4 {
                (format!("-{key}"), *rev)
            } else {
                (key.clone(), *rev)
            }
        })
        .collect();
    expected.push(("/w/live".into(), live));
    assert_eq!(seen, expected);

    // `next` is cancel-safe: a select! that often gives up on it loses nothing.
    let writer = etcd.clone();
    let writes = tokio::spawn(async move {
        let mut revisions = Vec::new();
        for i in 0..10 {
            tokio::time::sleep(Duration::from_millis(25)).await;
            revisions.push(
                writer
                    .put(b"/w/sel", format!("{i}").as_bytes(), None)
                    .await
                    .unwrap(),
            );
        }
        revisions
    });
    let mut got = Vec::new();
    let mut cancelled = 0;
    let deadline = Instant::now() + Duration::from_secs(15);
    while got.len() < 10 && Instant::now() < deadline {
        tokio::select! {
            batch = watch.next() => {
                for event in batch.unwrap().events {
                    if let WatchEvent::Put(kv) = event {
                        got.push(kv.mod_revision);
                    }
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(3)) => cancelled += 1,
        }
    }
    assert_eq!(got, writes.await.unwrap());
    assert!(cancelled > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_compacted_revision_reports_compacted() {
    let Some(cluster) = EtcdCluster::start(3) else {
        return;
    };
    let etcd = client(&cluster);
    let first = etcd.put(b"/c/a", b"1", None).await.unwrap();
    etcd.put(b"/c/a", b"2", None).await.unwrap();
    let third = etcd.put(b"/c/a", b"3", None).await.unwrap();
    etcd.compact(third).await.unwrap();

    let mut watch = etcd.watch_prefix(b"/c/", first).await.unwrap();
    match next(&mut watch).await {
        Err(EtcdError::Compacted { compact_revision }) => assert_eq!(compact_revision, third),
        other => panic!("expected Compacted, got {other:?}"),
    }
    // The watch is finished after that.
    assert!(watch.next().await.is_err());

    // From the compaction point on, watching works.
    let mut watch = etcd.watch_prefix(b"/c/", third).await.unwrap();
    let batch = next(&mut watch).await.unwrap();
    assert!(matches!(&batch.events[..], [WatchEvent::Put(kv)] if kv.value == b"3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_down_everything_works_two_down_unavailable_then_recovers() {
    let Some(mut cluster) = EtcdCluster::start(3) else {
        return;
    };
    let etcd = client(&cluster);
    etcd.put(b"/f/before", b"1", None).await.unwrap();
    let lease = etcd.lease_grant(Duration::from_secs(30)).await.unwrap();
    let (_, rev) = etcd.get(b"/f/").await.unwrap();
    // Member 0 is the first endpoint, so this watch and the sticky endpoint
    // are on the member about to die.
    let mut watch = etcd.watch_prefix(b"/f/", rev + 1).await.unwrap();

    blocking(|| {
        cluster.kill(0);
        assert!(
            cluster.wait_healthy(Duration::from_secs(10)),
            "{}",
            cluster.logs()
        );
    });
    // The watch on the dead member breaks; it does not hang.
    match next(&mut watch).await {
        Err(EtcdError::Unavailable(_)) => {}
        other => panic!("watch on a killed member: {other:?}"),
    }
    // Everything else fails over to the surviving members.
    let put_rev = etcd.put(b"/f/during", b"2", Some(lease)).await.unwrap();
    assert_eq!(
        value_of(&etcd.get(b"/f/before").await.unwrap().0),
        Some(&b"1"[..])
    );
    assert_eq!(etcd.get_prefix(b"/f/").await.unwrap().0.len(), 2);
    assert!(etcd.lease_keepalive(lease).await.unwrap() > Duration::ZERO);
    let txn = etcd
        .txn(
            vec![Compare {
                key: b"/f/during".to_vec(),
                op: CompareOp::Equal,
                target: CompareTarget::ModRevision(put_rev),
            }],
            vec![TxnOp::Delete {
                key: b"/f/during".to_vec(),
            }],
            vec![],
        )
        .await
        .unwrap();
    assert!(txn.succeeded);
    // A new watch from where the broken one stopped misses nothing.
    // (Catching up, etcd may put both changes in one batch.)
    let mut watch = etcd.watch_prefix(b"/f/", rev + 1).await.unwrap();
    let mut events = Vec::new();
    while events.len() < 2 {
        events.extend(next(&mut watch).await.unwrap().events);
    }
    assert!(
        matches!(&events[..], [WatchEvent::Put(kv), WatchEvent::Delete { key, .. }]
            if kv.key == b"/f/during" && key == b"/f/during"),
        "{events:?}"
    );

    // Two of three down: no quorum. Calls fail with Unavailable instead of
    // hanging (each endpoint gets at most one timeout).
    // A watch held on the member that survives alone.
    let mut settings = EtcdSettings::new(vec![cluster.client_url(2)]);
    settings.request_timeout = TIMEOUT;
    let survivor = Etcd::new(settings).unwrap();
    let mut lonely_watch = survivor.watch_prefix(b"/f/", 0).await.unwrap();
    blocking(|| cluster.kill(1));
    // Its member loses the leader and ends the stream (`hasleader`), so a
    // watcher cut off from the quorum learns it instead of waiting forever.
    match next(&mut lonely_watch).await {
        Err(EtcdError::Unavailable(m)) => assert!(m.contains("no leader"), "{m}"),
        other => panic!("watch on a member without quorum: {other:?}"),
    }
    let bound = TIMEOUT * 3 + Duration::from_secs(3);
    let get = tokio::time::timeout(bound, etcd.get(b"/f/before"))
        .await
        .expect("get without quorum must not hang");
    assert!(matches!(get, Err(EtcdError::Unavailable(_))), "{get:?}");
    // A write sent while the survivor still believes in its old leader may
    // sit in its log and commit once quorum returns, so the client reports
    // it as "may or may not have been applied". Once the survivor knows it
    // has no leader (an election timeout later), it refuses writes outright.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match etcd.get(b"/f/before").await {
            Err(EtcdError::Unavailable(m)) if m.contains("no leader") => break,
            Err(EtcdError::Unavailable(m)) => {
                assert!(Instant::now() < deadline, "{m}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("read without quorum: {other:?}"),
        }
    }
    let put = tokio::time::timeout(bound, etcd.put(b"/f/lost", b"x", None))
        .await
        .expect("put without quorum must not hang");
    match &put {
        Err(EtcdError::Unavailable(m)) => {
            assert!(m.contains("no leader"), "{m}");
            assert!(!m.contains("may or may not"), "{m}");
        }
        other => panic!("put without quorum: {other:?}"),
    }
    let opened = tokio::time::timeout(bound, etcd.watch_prefix(b"/f/", 0))
        .await
        .expect("watch without quorum must not hang");
    assert!(
        matches!(opened, Err(EtcdError::Unavailable(_))),
        "{opened:?}"
    );

    // Quorum back: the same client works again, and nothing was lost.
    blocking(|| {
        cluster.restart(1);
        cluster.restart(0);
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let rev = loop {
        match etcd.put(b"/f/after", b"3", None).await {
            Ok(rev) => break rev,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for quorum: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no recovery after restart: {e}"),
        }
    };
    assert!(rev > put_rev);
    let (kvs, _) = etcd.get_prefix(b"/f/").await.unwrap();
    let keys: Vec<&[u8]> = kvs.iter().map(|kv| kv.key.as_slice()).collect();
    // The refused write never ran.
    assert_eq!(keys, [&b"/f/after"[..], b"/f/before"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_tokens_wrong_passwords_and_reauthentication() {
    let Some(mut cluster) = EtcdCluster::start(3) else {
        return;
    };
    blocking(|| {
        for args in [
            &["user", "add", "root:rootpw"][..],
            &["user", "grant-role", "root", "root"],
            &["user", "add", "switchyard:sypw"],
            &["role", "add", "sy"],
            &[
                "role",
                "grant-permission",
                "sy",
                "--prefix=true",
                "readwrite",
                "/sy/",
            ],
            &["user", "grant-role", "switchyard", "sy"],
            &["auth", "enable"],
        ] {
            let out = cluster.etcdctl(args, &[]);
            assert!(out.status.success(), "etcdctl {args:?}: {out:?}");
        }
    });
    let with = |user: Option<(&str, &str)>| {
        let mut settings = EtcdSettings::new(cluster.client_urls());
        settings.request_timeout = TIMEOUT;
        if let Some((u, p)) = user {
            settings.username = Some(u.into());
            settings.password = Some(p.into());
        }
        Etcd::new(settings).unwrap()
    };

    // No credentials, a wrong password, a key outside the role: all Auth.
    let anonymous = with(None);
    assert!(matches!(
        anonymous.get(b"/sy/a").await,
        Err(EtcdError::Auth(_))
    ));
    let wrong = with(Some(("switchyard", "nope")));
    match wrong.put(b"/sy/a", b"1", None).await {
        Err(EtcdError::Auth(m)) => assert!(m.contains("authentication failed"), "{m}"),
        other => panic!("wrong password: {other:?}"),
    }
    let etcd = with(Some(("switchyard", "sypw")));
    assert!(matches!(
        etcd.put(b"/elsewhere", b"1", None).await,
        Err(EtcdError::Auth(_))
    ));

    // The right one works for every kind of call, watches included.
    let rev = etcd.put(b"/sy/a", b"1", None).await.unwrap();
    let mut watch = etcd.watch_prefix(b"/sy/", rev).await.unwrap();
    let batch = next(&mut watch).await.unwrap();
    assert!(matches!(&batch.events[..], [WatchEvent::Put(kv)] if kv.value == b"1"));
    let lease = etcd.lease_grant(Duration::from_secs(30)).await.unwrap();
    etcd.put(b"/sy/b", b"2", Some(lease)).await.unwrap();
    assert!(etcd.lease_keepalive(lease).await.unwrap() > Duration::ZERO);

    // etcd keeps simple tokens in memory: after every member restarts the
    // client's token is unknown everywhere, and it must authenticate again.
    blocking(|| {
        for member in 0..3 {
            cluster.restart(member);
        }
        assert!(
            cluster.wait_healthy(Duration::from_secs(10)),
            "{}",
            cluster.logs()
        );
    });
    let (kv, _) = etcd.get(b"/sy/a").await.expect("re-authenticated read");
    assert_eq!(value_of(&kv), Some(&b"1"[..]));
    let mut watch = etcd
        .watch_prefix(b"/sy/", rev)
        .await
        .expect("re-authenticated watch");
    assert!(!next(&mut watch).await.unwrap().events.is_empty());
}

/// Writes a CA, a server certificate for 127.0.0.1 and a client
/// certificate (all signed by the CA) into `dir`.
fn write_pki(dir: &std::path::Path) -> common::etcd::EtcdTls {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
        ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    // Distinct subject names: a leaf whose subject equals its issuer's
    // looks self-signed to verifiers.
    let named = |cn: &str| {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        dn
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name = named("switchyard test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: Vec<String>, usages: Vec<ExtendedKeyUsagePurpose>| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params.distinguished_name = named(&names[0]);
        params.extended_key_usages = usages;
        (
            params.signed_by(&key, &ca).unwrap().pem(),
            key.serialize_pem(),
        )
    };
    // With --client-cert-auth, etcd's JSON gateway connects to its own gRPC
    // server presenting the server certificate, so that certificate needs
    // the clientAuth usage too (etcd's documented requirement).
    let (server_cert, server_key) = leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    );
    let (client_cert, client_key) = leaf(
        vec!["switchyard".into()],
        vec![ExtendedKeyUsagePurpose::ClientAuth],
    );
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    common::etcd::EtcdTls {
        ca: write("ca.pem", &ca.pem()),
        server_cert: write("server.pem", &server_cert),
        server_key: write("server.key", &server_key),
        client_cert: write("client.pem", &client_cert),
        client_key: write("client.key", &client_key),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca_and_client_certificates() {
    let pki = tempfile::tempdir().unwrap();
    let tls = write_pki(pki.path());
    let Some(cluster) = EtcdCluster::start_tls(1, &tls) else {
        return;
    };
    let settings = |ca: bool, identity: bool| {
        let mut s = EtcdSettings::new(cluster.client_urls());
        s.request_timeout = TIMEOUT;
        if ca {
            s.ca_file = Some(tls.ca.clone());
        }
        if identity {
            s.cert_file = Some(tls.client_cert.clone());
            s.key_file = Some(tls.client_key.clone());
        }
        Etcd::new(s).unwrap()
    };
    let etcd = settings(true, true);
    let rev = etcd.put(b"/tls/a", b"secure", None).await.unwrap();
    assert_eq!(
        value_of(&etcd.get(b"/tls/a").await.unwrap().0),
        Some(&b"secure"[..])
    );
    let mut watch = etcd.watch_prefix(b"/tls/", rev).await.unwrap();
    assert!(!next(&mut watch).await.unwrap().events.is_empty());

    // Without the CA the server is not trusted; without a client
    // certificate etcd refuses the connection. Neither reaches etcd.
    for (ca, identity) in [(false, true), (true, false)] {
        match settings(ca, identity).get(b"/tls/a").await {
            Err(EtcdError::Unavailable(m)) => eprintln!("ca={ca} identity={identity}: {m}"),
            other => panic!("ca={ca} identity={identity}: {other:?}"),
        }
    }
    // Unreadable or mismatched credential files fail at construction.
    let mut s = EtcdSettings::new(cluster.client_urls());
    s.cert_file = Some(tls.client_cert.clone());
    s.key_file = Some(pki.path().join("missing.key"));
    assert!(matches!(Etcd::new(s), Err(EtcdError::Auth(_))));
    let mut s = EtcdSettings::new(cluster.client_urls());
    s.ca_file = Some(tls.server_key.clone());
    assert!(matches!(Etcd::new(s), Err(EtcdError::Auth(_))));
}
