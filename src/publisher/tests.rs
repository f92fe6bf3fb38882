//! The publisher's unit tests: coalescing, reloads, settings generations,
//! lean reloads and the safety rule, on a real config in a temp dir.

use super::*;

/// Inputs with one region of four endpoints (the last one unchecked)
/// and the given `[health]`. Nothing probes them: these tests play the
/// health checker.
fn inputs(dir: &std::path::Path, coalesce_ms: u64) -> PathBuf {
    std::fs::create_dir_all(dir.join("zones")).unwrap();
    std::fs::write(
        dir.join("zones/pub.test.zone"),
        "$ORIGIN pub.test.\n@ 300 SOA ns1 host 1 7200 900 1209600 60\n@ 300 NS ns1\nns1 300 A 127.0.0.53\n",
    )
    .unwrap();
    let config = format!(
        r#"version = 1
[server]
dns_listen = ["127.0.0.1:0"]
api_listen = "127.0.0.1:0"
zones_dir = "zones"
state_dir = "state"
[health]
coalesce_ms = {coalesce_ms}
[checks.t]
kind = "tcp"
port = 9
[regions.r]
check = "t"
endpoints = [{{ address = "127.0.0.1" }}, {{ address = "127.0.0.2" }}, {{ address = "127.0.0.3" }}, {{ address = "127.0.0.4", check = "none" }}]
"#
    );
    let path = dir.join("switchyard.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// A publisher (not yet running) on the test config in `dir`, and
/// that config's path.
fn publisher_in(dir: &std::path::Path, coalesce_ms: u64) -> (Publisher, PathBuf) {
    let path = inputs(dir, coalesce_ms);
    let durable =
        crate::overrides::store::restore(&dir.join("state"), false, crate::clock::now()).unwrap();
    let publisher = Publisher::new(
        path.clone(),
        Inputs::load(&path).unwrap(),
        HealthInputs::new(),
        durable,
    );
    (publisher, path)
}

fn start(coalesce_ms: u64) -> (PublisherHandle, SnapshotHandle, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (publisher, _) = publisher_in(dir.path(), coalesce_ms);
    let snapshot = publisher.snapshot();
    (publisher.spawn(), snapshot, dir)
}

fn up(snapshot: &SnapshotHandle) -> Vec<bool> {
    snapshot.load().state.regions[0].endpoints_up.clone()
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_transitions_is_one_swap() {
    let (handle, snapshot, _dir) = start(50);
    // The first change after a quiet period goes out at once.
    let started = Instant::now();
    assert_eq!(handle.set_health("r", "127.0.0.1", false).await, Ok(2));
    assert_eq!(started.elapsed(), Duration::ZERO);
    // The next ones, within the window, wait for its end together.
    for endpoint in ["127.0.0.2", "127.0.0.3"] {
        handle.report_health("r", endpoint, false).await.unwrap();
    }
    // (A checker's verdict on an unchecked endpoint is ignored; a
    // forced one through set_health is not.)
    handle.report_health("r", "127.0.0.4", true).await.unwrap();
    assert_eq!(handle.set_health("r", "127.0.0.4", false).await, Ok(3));
    assert_eq!(started.elapsed(), Duration::from_millis(50));
    assert_eq!(up(&snapshot), [false; 4]);
    // After a quiet window, a change is immediate again.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let again = Instant::now();
    assert_eq!(handle.set_health("r", "127.0.0.1", true).await, Ok(4));
    assert_eq!(again.elapsed(), Duration::ZERO);
    assert_eq!(up(&snapshot), [true, false, false, false]);
}

#[tokio::test(start_paused = true)]
async fn zero_window_publishes_every_change() {
    let (handle, snapshot, _dir) = start(0);
    for (i, endpoint) in ["127.0.0.1", "127.0.0.2", "127.0.0.3"].iter().enumerate() {
        assert_eq!(
            handle.set_health("r", endpoint, false).await,
            Ok(i as u64 + 2)
        );
    }
    assert_eq!(up(&snapshot), [false, false, false, true]);
}

#[tokio::test(start_paused = true)]
async fn verdicts_for_unchecked_endpoints_are_ignored() {
    let (handle, snapshot, _dir) = start(0);
    handle.report_health("r", "127.0.0.4", false).await.unwrap();
    handle.report_health("r", "127.0.0.1", false).await.unwrap();
    // Round-trip, so both reports have been handled.
    assert_eq!(handle.set_health("r", "127.0.0.2", true).await, Ok(3));
    assert_eq!(up(&snapshot), [false, true, true, true]);
}

/// How `snapshot` answers `name A` over UDP: the reply's bytes (with
/// the query id zeroed) and the path that gave it.
fn answer(snapshot: &SnapshotHandle, name: &str) -> (Vec<u8>, crate::answer::AnswerPath) {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RecordType};
    use std::str::FromStr;
    let mut query = Message::query();
    query.add_query(Query::query(Name::from_str(name).unwrap(), RecordType::A));
    let packet = query.to_vec().unwrap();
    let meta = crate::answer::QueryMeta {
        source: "127.0.0.1:5300".parse().unwrap(),
        transport: crate::answer::Transport::Udp,
    };
    let snapshot = snapshot.load();
    let mut out = Vec::new();
    let facts = crate::answer::respond_into(
        &snapshot.view(),
        &packet,
        &meta,
        &mut fastrand::Rng::with_seed(1),
        &mut out,
    );
    out[..2].fill(0);
    (out, facts.path)
}

/// Waits (5 s at most, real time) until `name` is answered by the fast
/// path again.
async fn templates_back(snapshot: &SnapshotHandle, name: &str) {
    for _ in 0..500 {
        if answer(snapshot, name).1 == crate::answer::AnswerPath::Fast {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the templates never came back");
}

/// A lean reload (templates dropped, zones loaded, templates rebuilt)
/// answers the same throughout, by the full path while the templates
/// are away, gives the fast path back after it, and after a failed
/// load too; the generations are those of plain reloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lean_reload_answers_the_same_and_gives_the_templates_back() {
    let dir = tempfile::tempdir().unwrap();
    let (mut publisher, _) = publisher_in(dir.path(), 0);
    publisher.set_lean_reload_names(0);
    let snapshot = publisher.snapshot();
    let handle = publisher.spawn();
    let before = answer(&snapshot, "ns1.pub.test.");
    assert_eq!(before.1, crate::answer::AnswerPath::Fast);
    // The reload's first publish serves the new zones; until the
    // templates are rebuilt, the full path answers them, alike.
    assert_eq!(handle.reload().await, Ok(2));
    let during = answer(&snapshot, "ns1.pub.test.");
    assert_eq!(during.0, before.0);
    templates_back(&snapshot, "ns1.pub.test.").await;
    assert_eq!(answer(&snapshot, "ns1.pub.test."), before);
    assert_eq!(snapshot.load().generation, 2);
    // A changed zone is served, by the fast path once rebuilt.
    std::fs::write(
        dir.path().join("zones/pub.test.zone"),
        "$ORIGIN pub.test.\n@ 300 SOA ns1 host 2 7200 900 1209600 60\n@ 300 NS ns1\nns1 300 A 127.0.0.54\n",
    )
    .unwrap();
    assert_eq!(handle.reload().await, Ok(3));
    templates_back(&snapshot, "ns1.pub.test.").await;
    let changed = answer(&snapshot, "ns1.pub.test.");
    assert_ne!(changed.0, before.0);
    assert_eq!(&changed.0[changed.0.len() - 4..], [127, 0, 0, 54]);
    // A reload asked for while the templates build (most likely: the
    // first reply comes before them) waits for them, then loads.
    assert_eq!(handle.reload().await, Ok(4));
    assert_eq!(handle.reload().await, Ok(5));
    templates_back(&snapshot, "ns1.pub.test.").await;
    assert_eq!(answer(&snapshot, "ns1.pub.test."), changed);
    // A failed load keeps the zones served and rebuilds their templates.
    std::fs::write(dir.path().join("zones/pub.test.zone"), "garbage\n").unwrap();
    assert!(handle.reload().await.is_err());
    assert_eq!(answer(&snapshot, "ns1.pub.test.").0, changed.0);
    templates_back(&snapshot, "ns1.pub.test.").await;
    assert_eq!(answer(&snapshot, "ns1.pub.test."), changed);
    assert_eq!(snapshot.load().generation, 5);
}

#[tokio::test(start_paused = true)]
async fn a_reload_publishes_held_back_changes() {
    let (handle, snapshot, _dir) = start(1_000);
    handle.set_health("r", "127.0.0.1", false).await.unwrap();
    handle.report_health("r", "127.0.0.2", false).await.unwrap();
    // The reload's publish carries the held-back change.
    assert_eq!(handle.reload().await, Ok(3));
    assert_eq!(up(&snapshot), [false, false, true, true]);
}

#[tokio::test]
async fn a_reload_publishes_one_settings_generation_and_a_failed_one_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let (publisher, path) = publisher_in(dir.path(), 0);
    let mut settings = publisher.settings();
    let first = settings.borrow_and_update().clone();
    assert_eq!(first.generation, 1);
    assert_eq!(first.health.endpoints.len(), 3);
    assert_eq!(first.last_reload, None);
    let handle = publisher.spawn();

    // One reload changing the health plan and the drill limit: both
    // arrive in one new generation.
    let text = std::fs::read_to_string(&path).unwrap().replace(
        r#"{ address = "127.0.0.1" }"#,
        r#"{ address = "127.0.0.1", check = "none" }"#,
    ) + "[drills]\nmax_duration_secs = 60\n";
    std::fs::write(&path, &text).unwrap();
    assert_eq!(handle.reload().await, Ok(2));
    assert!(settings.has_changed().unwrap());
    let second = settings.borrow_and_update().clone();
    assert_eq!(second.generation, 2);
    assert_eq!(second.health.endpoints.len(), 2);
    assert_eq!(second.drills.max_duration_secs, 60);
    assert_eq!(second.last_reload.as_ref().unwrap().result, Ok(2));

    // A reload that leaves the plan equal keeps its `Arc`, so the
    // health checker can tell at a glance that nothing changed.
    assert_eq!(handle.reload().await, Ok(3));
    let third = settings.borrow_and_update().clone();
    assert_eq!(third.generation, 3);
    assert!(Arc::ptr_eq(&third.health, &second.health));

    // A failed reload: same generation, same settings, its error.
    std::fs::write(&path, text.replace("[drills]", "[drills]\nbogus = 1")).unwrap();
    assert!(handle.reload().await.is_err());
    assert!(settings.has_changed().unwrap());
    let failed = settings.borrow_and_update().clone();
    assert_eq!(failed.generation, 3);
    assert!(Arc::ptr_eq(&failed.health, &third.health));
    assert!(Arc::ptr_eq(&failed.tokens, &third.tokens));
    assert!(Arc::ptr_eq(&failed.drills, &third.drills));
    let error = failed.last_reload.as_ref().unwrap().result.clone();
    assert!(error.unwrap_err().contains("bogus"));
}

#[tokio::test]
async fn reloads_asked_for_during_a_load_are_coalesced_into_one_more() {
    let (handle, snapshot, _dir) = start(0);
    let (a, b, c) = tokio::join!(handle.reload(), handle.reload(), handle.reload());
    // The first loads alone; the two asked for meanwhile share the next.
    assert_eq!(a, Ok(2));
    assert_eq!((b, c), (Ok(3), Ok(3)));
    assert_eq!(snapshot.load().generation, 3);
    // Health changes still apply against the reloaded inputs.
    assert_eq!(handle.set_health("r", "127.0.0.1", false).await, Ok(4));
    assert_eq!(up(&snapshot), [false, true, true, true]);
}
