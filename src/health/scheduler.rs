//! Running the checks: one task per checked endpoint, so a slow or hanging
//! target only ever delays its own probes; a semaphore bounds how many
//! probes are in flight at once; a supervisor follows config reloads and
//! forwards verdict changes to the publisher (through [`super::sink::VerdictSink`]) and the state file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::health::EndpointKey;
use crate::health::plan::{CheckSpec, CheckedEndpoint, HealthPlan};
use crate::health::probe::{FailureReason, Probe, ProbeResult, Prober};
use crate::health::registry::{
    EndpointStatus, HealthRegistry, HealthReport, StatusCell, lock, unix_ms,
};
use crate::health::sink::VerdictSink;
use crate::health::state::{EndpointHealth, HealthState, Transition};
use crate::health::stats::ScheduleStats;
use crate::health::store::{self, StoreSignal};

/// What the scheduler follows through its `watch` channel: a value that
/// carries the health plan. In the app it is the control plane's settings
/// generation (`control::Settings`, defined above this module, which is
/// why this is a trait); tests hand a bare `Arc<HealthPlan>`.
pub trait PlanSource: Clone + Send + Sync + 'static {
    /// The health plan this value carries.
    fn health_plan(&self) -> &Arc<HealthPlan>;

    /// The settings generation it belongs to (0 for a bare plan), shown as
    /// [`HealthRegistry::plan_generation`] once the plan is applied.
    fn generation(&self) -> u64 {
        0
    }
}

impl PlanSource for Arc<HealthPlan> {
    fn health_plan(&self) -> &Arc<HealthPlan> {
        self
    }
}

/// A verdict change, from a probe task to the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthEvent {
    /// Which endpoint.
    pub key: EndpointKey,
    /// From what to what.
    pub transition: Transition,
    /// The failure that tipped it down (none when it came up).
    pub reason: Option<FailureReason>,
}

/// Everything one endpoint's probe loop needs.
#[derive(Debug)]
pub(crate) struct EndpointTask<P> {
    /// Which endpoint.
    pub key: EndpointKey,
    /// Its check template.
    pub check: Arc<CheckSpec>,
    /// What to run every interval.
    pub probe: P,
    /// Its verdict and streaks.
    pub machine: EndpointHealth,
    /// Where its status is shown.
    pub status: StatusCell,
    /// Shared bound on probes in flight.
    pub permits: Arc<Semaphore>,
    /// Where verdict changes go.
    pub events: mpsc::UnboundedSender<HealthEvent>,
    /// Shared schedule counters.
    pub stats: Arc<ScheduleStats>,
    /// Delay of the first probe (random, for spread).
    pub first_offset: Duration,
}

impl<P: Probe> EndpointTask<P> {
    /// Probes every interval until aborted (or the semaphore closes).
    pub(crate) async fn run(mut self) {
        let mut ticks =
            tokio::time::interval_at(Instant::now() + self.first_offset, self.check.interval);
        // A late tick (overloaded machine) is not made up with a burst.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            let scheduled = ticks.tick().await;
            let Ok(permit) = self.permits.acquire().await else {
                return;
            };
            let started = Instant::now();
            let started_wall = crate::clock::now();
            self.stats.record_start(started - scheduled);
            let outcome = match tokio::time::timeout(self.check.timeout, self.probe.probe()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(FailureReason::Timeout),
            };
            let latency = started.elapsed();
            drop(permit);
            self.record(ProbeResult { outcome, latency }, started_wall);
        }
    }

    /// Feeds one result to the state machine, updates the status, and
    /// reports a transition.
    pub(crate) fn record(&mut self, result: ProbeResult, started: SystemTime) {
        if result.outcome.is_err() {
            self.stats.record_failure();
        }
        super::metrics::record_probe(self.check.kind, &result.outcome, result.latency);
        let transition = self.machine.observe(result.outcome.is_ok());
        let reason = result.outcome.clone().err();
        {
            let mut status = lock(&self.status);
            status.state = self.machine.state();
            status.consecutive_successes = self.machine.consecutive_successes();
            status.consecutive_failures = self.machine.consecutive_failures();
            status.probes += 1;
            status.last_probe_unix_ms = Some(unix_ms(started));
            status.last_latency_ms = Some(result.latency.as_secs_f64() * 1e3);
            if let Some(reason) = &reason {
                status.last_failure = Some(reason.clone());
            }
            if transition.is_some() {
                status.last_transition_unix_ms = Some(unix_ms(crate::clock::now()));
            }
        }
        let Some(transition) = transition else {
            return;
        };
        let (region, endpoint) = (&self.key.0, &self.key.1);
        if transition.to == HealthState::Down {
            tracing::warn!(
                region, endpoint, check = %self.check.name,
                from = ?transition.from, to = ?transition.to,
                reason = %reason.as_ref().map(|r| r.to_string()).unwrap_or_default(),
                consecutive_failures = self.machine.consecutive_failures(),
                "endpoint marked down"
            );
        } else {
            tracing::info!(
                region, endpoint, check = %self.check.name,
                from = ?transition.from, to = ?transition.to,
                consecutive_successes = self.machine.consecutive_successes(),
                latency_ms = result.latency.as_secs_f64() * 1e3,
                "endpoint marked up"
            );
        }
        super::metrics::record_transition(transition.to);
        // The supervisor outlives every task it runs, so a send fails only
        // during shutdown, when the event no longer matters.
        let _ = self.events.send(HealthEvent {
            key: self.key.clone(),
            transition,
            reason,
        });
    }
}

/// Aborts a task when dropped, so dropping the owner stops it.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The running health checker. Dropping it stops every probe and saves
/// unsaved verdicts.
#[derive(Debug)]
pub struct HealthChecker {
    registry: HealthRegistry,
    stats: Arc<ScheduleStats>,
    signal: Arc<StoreSignal>,
    state_dir: PathBuf,
    supervisor: Option<AbortOnDrop>,
}

impl HealthChecker {
    /// Starts probing every endpoint of the plan in `plans` (and follows
    /// reloads through it). `initial` holds each endpoint's starting state
    /// (restored or configured, see [`crate::health::initial_states`]);
    /// verdict changes go to `publisher`, and to `state_dir/health.json`.
    /// Must run inside a tokio runtime.
    pub fn start<S: PlanSource>(
        plans: watch::Receiver<S>,
        initial: HashMap<EndpointKey, HealthState>,
        publisher: impl VerdictSink,
        state_dir: PathBuf,
    ) -> HealthChecker {
        HealthChecker::start_voting(plans, initial, publisher, state_dir, None)
    }

    /// Like [`HealthChecker::start`]; with `votes`, verdict changes go
    /// there instead of to the publisher (a cluster's vote counter decides
    /// what the publisher hears; see [`crate::cluster::votes`]).
    pub(crate) fn start_voting<S: PlanSource>(
        plans: watch::Receiver<S>,
        initial: HashMap<EndpointKey, HealthState>,
        publisher: impl VerdictSink,
        state_dir: PathBuf,
        votes: Option<mpsc::UnboundedSender<HealthEvent>>,
    ) -> HealthChecker {
        let registry = HealthRegistry::new();
        // Listed before any task runs, so the control plane shows every
        // checked endpoint (with its starting state) from the first moment.
        let first = plans.borrow().clone();
        for endpoint in &first.health_plan().endpoints {
            let state = initial
                .get(&endpoint.key)
                .copied()
                .unwrap_or(endpoint.check.initial);
            let status =
                EndpointStatus::new(&endpoint.key, &endpoint.check.name, endpoint.target, state);
            registry.insert(endpoint.key.clone(), status);
        }
        let stats = Arc::new(ScheduleStats::default());
        let signal = Arc::new(StoreSignal::default());
        let supervisor = Supervisor {
            prober: Prober::from_source(first.health_plan().source_address),
            registry: registry.clone(),
            stats: stats.clone(),
            signal: signal.clone(),
            publisher: Arc::new(publisher),
            votes,
            tasks: HashMap::new(),
            permits: Arc::new(Semaphore::new(
                first.health_plan().max_concurrent_probes.max(1),
            )),
        };
        let handle = tokio::spawn(supervisor.run(plans, initial, state_dir.clone()));
        HealthChecker {
            registry,
            stats,
            signal,
            state_dir,
            supervisor: Some(AbortOnDrop(handle)),
        }
    }

    /// The per-endpoint statuses, for the API.
    pub fn registry(&self) -> &HealthRegistry {
        &self.registry
    }

    /// Every checked endpoint's status now.
    pub fn snapshot(&self) -> HealthReport {
        self.registry.snapshot()
    }

    /// Probe counts and schedule lag.
    pub fn stats(&self) -> &Arc<ScheduleStats> {
        &self.stats
    }

    /// Stops probing and saves unsaved verdicts.
    pub fn shutdown(&mut self) {
        if self.supervisor.take().is_some() {
            store::flush_blocking(&self.state_dir, &self.registry, &self.signal);
        }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A running endpoint task and what it was started with.
struct Running {
    endpoint: CheckedEndpoint,
    _task: AbortOnDrop,
}

/// Owns the endpoint tasks; see the module docs.
struct Supervisor {
    prober: Prober,
    registry: HealthRegistry,
    stats: Arc<ScheduleStats>,
    signal: Arc<StoreSignal>,
    publisher: Arc<dyn VerdictSink>,
    /// In a cluster, where verdict changes go instead of the publisher.
    votes: Option<mpsc::UnboundedSender<HealthEvent>>,
    tasks: HashMap<EndpointKey, Running>,
    permits: Arc<Semaphore>,
}

impl Supervisor {
    async fn run<S: PlanSource>(
        mut self,
        mut plans: watch::Receiver<S>,
        initial: HashMap<EndpointKey, HealthState>,
        state_dir: PathBuf,
    ) {
        let _writer = AbortOnDrop(tokio::spawn(store::run_writer(
            state_dir,
            self.registry.clone(),
            self.signal.clone(),
        )));
        let (events, mut event_rx) = mpsc::unbounded_channel();
        let first = plans.borrow_and_update().clone();
        let mut plan = first.health_plan().clone();
        let max_concurrent = plan.max_concurrent_probes;
        self.reconcile(&plan, Some(&initial), &events).await;
        self.registry.set_plan_generation(first.generation());
        drop(initial);
        loop {
            tokio::select! {
                changed = plans.changed() => {
                    if changed.is_err() {
                        // The publisher is gone: the app is stopping.
                        return;
                    }
                    let next = plans.borrow_and_update().clone();
                    // A generation whose plan is unchanged (same `Arc`, or
                    // equal) starts and stops nothing.
                    let changed = !Arc::ptr_eq(next.health_plan(), &plan)
                        && **next.health_plan() != *plan;
                    if changed {
                        plan = next.health_plan().clone();
                        if plan.max_concurrent_probes != max_concurrent {
                            tracing::warn!("health.max_concurrent_probes changes only on restart");
                        }
                        self.reconcile(&plan, None, &events).await;
                    }
                    self.registry.set_plan_generation(next.generation());
                }
                Some(event) = event_rx.recv() => self.forward(event).await,
            }
        }
    }

    /// Tells the publisher (if answers change) and the state file.
    async fn forward(&self, event: HealthEvent) {
        if !self.tasks.contains_key(&event.key) {
            // From a task a reload just stopped.
            return;
        }
        self.signal.mark_dirty();
        if let Some(votes) = &self.votes {
            // Every transition is a vote (unknown to up included).
            let _ = votes.send(event);
            return;
        }
        if event.transition.changes_answers() {
            let (region, endpoint) = &event.key;
            let up = event.transition.to.counts_as_up();
            if self
                .publisher
                .report_health(region, endpoint, up)
                .await
                .is_err()
            {
                tracing::debug!("publisher stopped; dropping health event");
            }
        }
    }

    /// Starts, restarts and stops endpoint tasks so they match `plan`.
    /// `initial` is given on the first call only; endpoints added by a
    /// reload start from their check's configured initial state.
    async fn reconcile(
        &mut self,
        plan: &HealthPlan,
        initial: Option<&HashMap<EndpointKey, HealthState>>,
        events: &mpsc::UnboundedSender<HealthEvent>,
    ) {
        let gone: Vec<EndpointKey> = self
            .tasks
            .keys()
            .filter(|k| !plan.is_checked(k))
            .cloned()
            .collect();
        for key in gone {
            self.tasks.remove(&key);
            self.registry.remove(&key);
            self.signal.mark_dirty();
        }
        let (mut started, mut kept) = (0, 0);
        for endpoint in &plan.endpoints {
            if self
                .tasks
                .get(&endpoint.key)
                .is_some_and(|r| r.endpoint == *endpoint)
            {
                kept += 1;
                continue;
            }
            // A changed check keeps the verdict it had; a new endpoint
            // starts from the restored or configured state.
            let state = match self.registry.state(&endpoint.key) {
                Some(state) => state,
                None => match initial {
                    Some(initial) => initial
                        .get(&endpoint.key)
                        .copied()
                        .unwrap_or(endpoint.check.initial),
                    None => {
                        let state = endpoint.check.initial;
                        if let Some(votes) = &self.votes {
                            let _ = votes.send(HealthEvent {
                                key: endpoint.key.clone(),
                                transition: Transition {
                                    from: HealthState::Unknown,
                                    to: state,
                                },
                                reason: None,
                            });
                        } else if state != HealthState::Unknown {
                            let (region, id) = &endpoint.key;
                            let _ = self
                                .publisher
                                .report_health(region, id, state.counts_as_up())
                                .await;
                        }
                        state
                    }
                },
            };
            self.start(endpoint, state, events);
            started += 1;
        }
        tracing::info!(
            endpoints = plan.endpoints.len(),
            started,
            kept,
            "health checks scheduled"
        );
    }

    fn start(
        &mut self,
        endpoint: &CheckedEndpoint,
        state: HealthState,
        events: &mpsc::UnboundedSender<HealthEvent>,
    ) {
        let check = endpoint.check.clone();
        let status = self.registry.insert(
            endpoint.key.clone(),
            EndpointStatus::new(&endpoint.key, &check.name, endpoint.target, state),
        );
        let jitter_us = check.jitter.as_micros() as u64;
        let task = EndpointTask {
            key: endpoint.key.clone(),
            probe: self.prober.prepare(endpoint),
            machine: EndpointHealth::new(state, check.fall, check.rise),
            check,
            status,
            permits: self.permits.clone(),
            events: events.clone(),
            stats: self.stats.clone(),
            first_offset: Duration::from_micros(fastrand::u64(0..jitter_us.max(1))),
        };
        let handle = tokio::spawn(task.run());
        self.tasks.insert(
            endpoint.key.clone(),
            Running {
                endpoint: endpoint.clone(),
                _task: AbortOnDrop(handle),
            },
        );
    }
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
