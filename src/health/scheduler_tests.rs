//! Paused-time tests of the probe loop: thresholds in real intervals,
//! timeouts, and one hanging target not delaying another.

use super::*;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::CheckKind;

/// A probe whose results follow a script; `h` hangs forever.
struct Scripted {
    script: Vec<char>,
    next: AtomicUsize,
    started: Arc<Mutex<Vec<Instant>>>,
}

impl Scripted {
    fn new(script: &str) -> (Scripted, Arc<Mutex<Vec<Instant>>>) {
        let started = Arc::new(Mutex::new(Vec::new()));
        let probe = Scripted {
            script: script.chars().collect(),
            next: AtomicUsize::new(0),
            started: started.clone(),
        };
        (probe, started)
    }
}

impl Probe for Scripted {
    async fn probe(&self) -> Result<(), FailureReason> {
        self.started.lock().unwrap().push(Instant::now());
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        match self.script.get(i).copied().unwrap_or('+') {
            '+' => Ok(()),
            'h' => std::future::pending().await,
            _ => Err(FailureReason::Status { code: 500 }),
        }
    }
}

fn check(interval_ms: u64, timeout_ms: u64, fall: u32, rise: u32) -> Arc<CheckSpec> {
    Arc::new(CheckSpec {
        name: "t".into(),
        kind: CheckKind::Tcp,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        fall,
        rise,
        jitter: Duration::ZERO,
        initial: HealthState::Unknown,
        http: None,
    })
}

struct Harness {
    events: mpsc::UnboundedReceiver<HealthEvent>,
    status: StatusCell,
    stats: Arc<ScheduleStats>,
    started: Arc<Mutex<Vec<Instant>>>,
    _task: AbortOnDrop,
}

fn spawn(
    name: &str,
    spec: Arc<CheckSpec>,
    script: &str,
    state: HealthState,
    permits: Arc<Semaphore>,
) -> Harness {
    let (tx, events) = mpsc::unbounded_channel();
    let key = ("r".to_string(), name.to_string());
    let status = Arc::new(std::sync::Mutex::new(EndpointStatus::new(
        &key,
        "t",
        "127.0.0.1:1".parse().unwrap(),
        state,
    )));
    let stats = Arc::new(ScheduleStats::default());
    let (probe, started) = Scripted::new(script);
    let task = EndpointTask {
        key,
        machine: EndpointHealth::new(state, spec.fall, spec.rise),
        check: spec,
        probe,
        status: status.clone(),
        permits,
        events: tx,
        stats: stats.clone(),
        first_offset: Duration::ZERO,
    };
    Harness {
        events,
        status,
        stats,
        started,
        _task: AbortOnDrop(tokio::spawn(task.run())),
    }
}

fn permits() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(16))
}

#[tokio::test(start_paused = true)]
async fn goes_down_after_fall_intervals_and_back_after_rise() {
    let t0 = Instant::now();
    let mut h = spawn(
        "a",
        check(100, 50, 2, 3),
        "+--+++",
        HealthState::Unknown,
        permits(),
    );
    // Probe 0 at t0 settles unknown -> up.
    let e = h.events.recv().await.unwrap();
    assert_eq!(e.transition.to, HealthState::Up);
    // Failures at t0+100 and t0+200: down on the second.
    let e = h.events.recv().await.unwrap();
    assert_eq!(e.transition.to, HealthState::Down);
    assert_eq!(e.reason, Some(FailureReason::Status { code: 500 }));
    assert_eq!(Instant::now() - t0, Duration::from_millis(200));
    // Successes at 300, 400, 500: up on the third (rise = 3).
    let e = h.events.recv().await.unwrap();
    assert_eq!(
        e.transition,
        Transition {
            from: HealthState::Down,
            to: HealthState::Up
        }
    );
    assert_eq!(Instant::now() - t0, Duration::from_millis(500));
    let status = lock(&h.status).clone();
    assert_eq!(status.consecutive_successes, 3);
    assert_eq!(status.probes, 6);
    assert_eq!(
        status.last_failure,
        Some(FailureReason::Status { code: 500 })
    );
}

#[tokio::test(start_paused = true)]
async fn a_hanging_probe_times_out_and_counts_as_failure() {
    let t0 = Instant::now();
    let mut h = spawn("a", check(100, 30, 2, 2), "hh", HealthState::Up, permits());
    let e = h.events.recv().await.unwrap();
    assert_eq!(e.transition.to, HealthState::Down);
    assert_eq!(e.reason, Some(FailureReason::Timeout));
    // Second probe at t0+100 times out at t0+130.
    assert_eq!(Instant::now() - t0, Duration::from_millis(130));
    let status = lock(&h.status).clone();
    assert_eq!(status.last_latency_ms, Some(30.0));
}

#[tokio::test(start_paused = true)]
async fn a_hanging_target_does_not_delay_another() {
    let shared = permits();
    let hanging = spawn(
        "slow",
        check(100, 90, 2, 2),
        &"h".repeat(50),
        HealthState::Up,
        shared.clone(),
    );
    let fast = spawn("fast", check(100, 90, 2, 2), "", HealthState::Up, shared);
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    let starts = fast.started.lock().unwrap().clone();
    assert_eq!(starts.len(), 11, "one probe per interval");
    for pair in starts.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::from_millis(100));
    }
    assert_eq!(fast.stats.snapshot().lag_max, Duration::ZERO);
    assert_eq!(hanging.started.lock().unwrap().len(), 11);
}

#[tokio::test(start_paused = true)]
async fn restored_down_stays_out_until_rise_successes() {
    let mut h = spawn("a", check(100, 50, 2, 2), "+", HealthState::Down, permits());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(h.events.try_recv().is_err(), "one success is not enough");
    assert_eq!(lock(&h.status).state, HealthState::Down);
    let e = h.events.recv().await.unwrap();
    assert_eq!(e.transition.to, HealthState::Up);
}

#[tokio::test(start_paused = true)]
async fn flapping_target_sends_no_transitions_while_down() {
    let mut h = spawn(
        "a",
        check(100, 50, 2, 2),
        "--+-+-+-+-+-+-",
        HealthState::Up,
        permits(),
    );
    let e = h.events.recv().await.unwrap();
    assert_eq!(e.transition.to, HealthState::Down);
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert!(h.events.try_recv().is_err());
    assert_eq!(lock(&h.status).state, HealthState::Down);
}

#[tokio::test(start_paused = true)]
async fn bounded_concurrency_delays_but_does_not_drop_probes() {
    // One permit, two endpoints probing at the same instant: the second
    // starts when the first finishes, and its lag is recorded.
    let one = Arc::new(Semaphore::new(1));
    let a = spawn(
        "a",
        check(100, 90, 2, 2),
        &"h".repeat(5),
        HealthState::Up,
        one.clone(),
    );
    let b = spawn("b", check(100, 90, 2, 2), "", HealthState::Up, one);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let b_starts = b.started.lock().unwrap().len();
    assert!(b_starts >= 2, "b still probes: {b_starts}");
    let lag = a.stats.snapshot().lag_max.max(b.stats.snapshot().lag_max);
    assert!(lag >= Duration::from_millis(89), "{lag:?}");
}
