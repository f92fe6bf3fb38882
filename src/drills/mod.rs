//! Geo-failover drills (DESIGN §2): take regions out on purpose for a
//! bounded time, verify from each configured client vantage (real UDP
//! queries with EDNS Client Subnet to our own DNS listener) that answers
//! moved off them and came back, and keep a report.
//!
//! A drill is a set of forced-down overrides linked to the drill's id and
//! expiring with it, created and removed through the publisher like any
//! other override (same safety rule, durability and audit). Everything else
//! here is control plane: the query path never sees a drill, only the
//! overrides it made.
//!
//! - [`report`]: the report, which is also the drill's durable state.
//! - [`store`]: reports on disk (`state_dir/drills/<id>.json`).
//! - [`verify`]: the verification queries and the drill's life (run, roll
//!   back, restore), including resuming after a restart.
//! - [`schedule`]: scheduled drills (`drills.schedule` entries).

pub mod report;
pub mod schedule;
pub mod shared;
pub mod store;
pub mod verify;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::control::SettingsWatch;
use crate::overrides::time::format as rfc3339;
use crate::overrides::{ChangeError, Request, RequestKind, expiry_after};
use crate::publisher::PublisherHandle;
use crate::snapshot::SnapshotHandle;
use report::{DrillReport, Impact, Phase, Verdict};
use store::DrillStore;

pub use crate::traffic::drill_plan::{DrillPlan, Vantage, compile, find_service};

/// A request to start a drill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartDrill {
    /// Regions to take out.
    pub regions: Vec<String>,
    /// How long (capped by `drills.max_duration_secs`).
    pub duration_secs: u64,
    /// Why (audited).
    pub why: String,
    /// Services to verify (`None`: every service using the regions).
    pub services: Option<Vec<String>>,
    /// Start even if the safety rule refuses.
    pub force: bool,
    /// Token name, or `schedule`.
    pub who: String,
    /// The schedule entry that started it, if any.
    pub scheduled: Option<usize>,
}

/// Why a drill could not be started or stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrillError {
    /// The request is wrong (duration, empty region list, ...).
    #[error("{0}")]
    Invalid(String),
    /// A named region is not configured.
    #[error("unknown region {0:?}")]
    UnknownRegion(String),
    /// A named service is not configured.
    #[error("unknown service {0:?}")]
    UnknownService(String),
    /// `[drills] vantages` is empty: there is nowhere to verify from.
    #[error(
        "no vantages configured: add `[drills] vantages = {{ eu = \"81.2.69.0/24\", ... }}` so drills can be verified"
    )]
    NoVantages,
    /// No drill has this id.
    #[error("no drill with id {0:?}")]
    UnknownDrill(String),
    /// The drill has already rolled back.
    #[error("drill {0} is not running (it has rolled back already)")]
    NotRunning(String),
    /// The publisher refused or failed the override change.
    #[error("{0}")]
    Change(#[from] ChangeError),
    /// The report could not be written.
    #[error("cannot save the drill report: {0}")]
    Storage(String),
}

/// A drill's rollback as requested by `stop`: when and why.
pub(crate) type Rollback = Option<(SystemTime, String)>;

/// The outcome of the latest scheduled drill.
#[derive(Debug, Clone)]
struct ScheduledOutcome {
    schedule: usize,
    at: SystemTime,
    outcome: Result<DrillReport, String>,
}

/// Mutable manager state.
#[derive(Debug, Default)]
struct State {
    /// Every known report by id (restored ones and new ones).
    reports: BTreeMap<String, DrillReport>,
    /// Stop signals of the drills still running.
    stops: HashMap<String, watch::Sender<Rollback>>,
    /// For `/v1/status`.
    last_scheduled: Option<ScheduledOutcome>,
}

/// What the drills share.
#[derive(Debug)]
struct Inner {
    store: DrillStore,
    publisher: PublisherHandle,
    snapshot: SnapshotHandle,
    /// `[drills]` settings (durations, vantages, timeouts) in force.
    settings: SettingsWatch,
    /// Our own DNS listener, queried by the verifier.
    dns: SocketAddr,
    state: Mutex<State>,
    rng: Mutex<fastrand::Rng>,
    /// Reports other instances put in the cluster store (none locally).
    remote: Option<watch::Receiver<Arc<BTreeMap<String, DrillReport>>>>,
}

/// The drill manager: starts, stops, lists drills; cheap to clone.
#[derive(Debug, Clone)]
pub struct Drills {
    inner: Arc<Inner>,
}

impl Drills {
    /// Opens `state_dir/drills`, restores every report, resumes the drills
    /// that were running when the server stopped (their overrides were
    /// restored by the publisher, with their expiry), and starts the
    /// schedule. `dns` is our own listener. Must run inside a tokio runtime.
    pub fn open(
        state_dir: &std::path::Path,
        publisher: PublisherHandle,
        snapshot: SnapshotHandle,
        settings: SettingsWatch,
        dns: SocketAddr,
    ) -> std::io::Result<Drills> {
        Drills::open_shared(state_dir, publisher, snapshot, settings, dns, None)
    }

    /// Like [`Drills::open`], sharing reports through a cluster store when
    /// `shared` is given: saved reports are mirrored there, and the other
    /// instances' reports are listed beside ours.
    pub(crate) fn open_shared(
        state_dir: &std::path::Path,
        publisher: PublisherHandle,
        snapshot: SnapshotHandle,
        settings: SettingsWatch,
        dns: SocketAddr,
        shared: Option<shared::SharedDrills>,
    ) -> std::io::Result<Drills> {
        let mut store = DrillStore::open(state_dir)?;
        let mut remote = None;
        if let Some(shared) = shared {
            store = store.with_mirror(shared.mirror);
            remote = Some(shared.remote);
        }
        let restored = store.load_all();
        let drills = Drills {
            inner: Arc::new(Inner {
                store,
                publisher,
                snapshot,
                settings,
                dns: verify::loopback_for(dns),
                state: Mutex::new(State::default()),
                rng: Mutex::new(fastrand::Rng::new()),
                remote,
            }),
        };
        for mut report in restored {
            if report.phase != Phase::Finished {
                report.event(
                    crate::clock::now(),
                    "resumed",
                    Some("after a restart".into()),
                );
                tracing::info!(
                    drill = report.id,
                    phase = report.phase.as_str(),
                    "resuming drill"
                );
                drills.spawn_runner(report);
            } else {
                drills.state().reports.insert(report.id.clone(), report);
            }
        }
        // Schedules are read at start-up only (see `control`).
        let schedules = drills.inner.settings.borrow().drills.schedules.clone();
        for schedule in schedules {
            tokio::spawn(schedule::run(drills.clone(), schedule));
        }
        Ok(drills)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take drills down with it.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a drill: validate, sample the answers before, save the
    /// report, create the overrides (safety rule and all), then verify in
    /// the background. Returns the report as it stands once the regions are
    /// out.
    pub async fn start(&self, request: StartDrill) -> Result<DrillReport, DrillError> {
        let snapshot = self.inner.snapshot.load_full();
        let settings = self.inner.settings.borrow().drills.clone();
        let plan = &snapshot.plan;
        let mut regions: Vec<String> = Vec::new();
        for region in &request.regions {
            if !plan.region_index.contains_key(region) {
                return Err(DrillError::UnknownRegion(region.clone()));
            }
            if !regions.contains(region) {
                regions.push(region.clone());
            }
        }
        if regions.is_empty() {
            return Err(DrillError::Invalid(
                "`regions` must name at least one region".into(),
            ));
        }
        if request.duration_secs == 0 || request.duration_secs > settings.max_duration_secs {
            return Err(DrillError::Invalid(format!(
                "`duration_secs` must be between 1 and {} (drills.max_duration_secs)",
                settings.max_duration_secs
            )));
        }
        if settings.vantages.is_empty() {
            return Err(DrillError::NoVantages);
        }
        let drilled: Vec<usize> = regions.iter().map(|r| plan.region_index[r]).collect();
        let services: Vec<usize> = match &request.services {
            Some(names) => {
                let mut list = Vec::new();
                for name in names {
                    let s = find_service(plan, name)
                        .ok_or_else(|| DrillError::UnknownService(name.clone()))?;
                    if !list.contains(&s) {
                        list.push(s);
                    }
                }
                list
            }
            None => (0..plan.services.len())
                .filter(|&s| plan.services[s].regions.iter().any(|r| drilled.contains(r)))
                .collect(),
        };
        if services.is_empty() {
            return Err(DrillError::Invalid(format!(
                "no service uses {}: there is nothing to verify",
                regions.join(", ")
            )));
        }
        let id = self.new_id();
        let created = crate::clock::now();
        let targets = verify::Targets::new(plan, &regions, &services, &settings.vantages);
        let pairs = targets.sample_before(self.inner.dns).await;
        let mut report = DrillReport {
            id: id.clone(),
            regions: regions.clone(),
            services: services
                .iter()
                .map(|&s| plan.services[s].name.to_string())
                .collect(),
            who: request.who.clone(),
            why: request.why.clone(),
            duration_secs: request.duration_secs,
            scheduled: request.scheduled,
            phase: Phase::Running,
            result: Verdict::Pending,
            created,
            started: created,
            ends_at: expiry_after(created, request.duration_secs),
            rolled_back: None,
            rollback_reason: None,
            finished: None,
            overrides: Vec::new(),
            timeline: Vec::new(),
            pairs,
            impact: Impact {
                detection_ms: 0,
                max_ttl_secs: services
                    .iter()
                    .map(|&s| plan.services[s].ttl)
                    .max()
                    .unwrap_or(0),
                max_convergence_ms: None,
                worst_case_ms: None,
            },
        };
        report.event(
            created,
            "created",
            Some(format!("by {}: {}", request.who, request.why)),
        );
        // Saved before the overrides exist, so a crash right after they are
        // published still leaves a drill to resume and roll back.
        self.inner
            .store
            .save(&report)
            .map_err(|e| DrillError::Storage(e.to_string()))?;
        let change = self
            .inner
            .publisher
            .change_overrides(Request {
                kind: RequestKind::StartDrill {
                    drill: id.clone(),
                    regions: regions.clone(),
                },
                who: request.who.clone(),
                why: format!("drill {id}: {}", request.why),
                force: request.force,
                expires_in_secs: Some(request.duration_secs),
            })
            .await;
        let applied = match change {
            Ok(applied) => applied,
            Err(e) => {
                // Nothing happened: forget the drill.
                self.inner.store.forget(&id);
                return Err(e.into());
            }
        };
        report.started = crate::clock::now();
        let created_overrides = applied.applied.drill_created;
        if let Some(at) = created_overrides.first().and_then(|o| o.expires) {
            report.ends_at = at;
        }
        report.overrides = created_overrides.iter().map(|o| o.id.clone()).collect();
        report.event(
            report.started,
            "started",
            Some(format!(
                "{} forced down until {} (generation {}; overrides {})",
                regions.join(", "),
                rfc3339(report.ends_at),
                applied.generation,
                report.overrides.join(" ")
            )),
        );
        self.persist(&report);
        tracing::info!(
            drill = id,
            regions = regions.join(" "),
            who = request.who,
            "drill started"
        );
        self.spawn_runner(report.clone());
        Ok(report)
    }

    /// Stops a running drill now: its overrides are removed (audited as
    /// `who`'s change), and verification moves on to the restore phase.
    pub async fn stop(&self, id: &str, who: &str, why: &str) -> Result<DrillReport, DrillError> {
        if !self.state().reports.contains_key(id) {
            return self.stop_remote(id, who, why).await;
        }
        let signal = {
            let state = self.state();
            let report = state
                .reports
                .get(id)
                .ok_or_else(|| DrillError::UnknownDrill(id.into()))?;
            if report.phase != Phase::Running {
                return Err(DrillError::NotRunning(id.into()));
            }
            state.stops.get(id).cloned()
        };
        let (at, reason) = self.end_overrides(id, who, why).await?;
        if let Some(signal) = signal {
            signal.send_replace(Some((at, reason.clone())));
        }
        // The runner records the rollback at its next round; show it now.
        let mut report = self
            .get(id)
            .ok_or_else(|| DrillError::UnknownDrill(id.into()))?;
        if report.phase == Phase::Running {
            report.mark_rolling_back(at, reason);
        }
        Ok(report)
    }

    /// Removes drill `id`'s overrides on an operator's request; returns when
    /// and why, as the report records the rollback.
    async fn end_overrides(
        &self,
        id: &str,
        who: &str,
        why: &str,
    ) -> Result<(SystemTime, String), DrillError> {
        self.inner
            .publisher
            .change_overrides(Request {
                kind: RequestKind::EndDrill { drill: id.into() },
                who: who.into(),
                why: format!("stop drill {id}: {why}"),
                force: false,
                expires_in_secs: None,
            })
            .await?;
        Ok((crate::clock::now(), format!("stopped by {who}: {why}")))
    }

    /// Stops a drill another instance verifies: its overrides are removed
    /// through the cluster; that instance's verifier sees them gone and
    /// rolls back (or, if it is dead, the cluster finishes the report).
    async fn stop_remote(&self, id: &str, who: &str, why: &str) -> Result<DrillReport, DrillError> {
        let mut report = self
            .remote(id)
            .ok_or_else(|| DrillError::UnknownDrill(id.into()))?;
        if report.phase != Phase::Running {
            return Err(DrillError::NotRunning(id.into()));
        }
        let (at, reason) = self.end_overrides(id, who, why).await?;
        report.mark_rolling_back(at, reason);
        Ok(report)
    }

    /// A report from the cluster store, if there is one.
    fn remote(&self, id: &str) -> Option<DrillReport> {
        self.inner.remote.as_ref()?.borrow().get(id).cloned()
    }

    /// Every report: ours, and (with a cluster store) the others'. Ours
    /// wins for a drill we verify: it is the freshest copy.
    fn all_reports(&self) -> BTreeMap<String, DrillReport> {
        let mut all = match &self.inner.remote {
            Some(remote) => (**remote.borrow()).clone(),
            None => BTreeMap::new(),
        };
        all.extend(
            self.state()
                .reports
                .iter()
                .map(|(id, r)| (id.clone(), r.clone())),
        );
        all
    }

    /// One report.
    pub fn get(&self, id: &str) -> Option<DrillReport> {
        let local = self.state().reports.get(id).cloned();
        local.or_else(|| self.remote(id))
    }

    /// Every report, oldest first.
    pub fn list(&self) -> Vec<DrillReport> {
        let mut list: Vec<DrillReport> = self.all_reports().into_values().collect();
        list.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        list
    }

    /// Waits until the drill's report is final (or the drill is unknown).
    pub async fn wait_finished(&self, id: &str) -> Result<DrillReport, String> {
        loop {
            match self.get(id) {
                Some(report) if report.phase == Phase::Finished => return Ok(report),
                Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                None => return Err(format!("drill {id} disappeared")),
            }
        }
    }

    /// The `drills` section of `/v1/status`: active drills and the latest
    /// scheduled outcome.
    pub(crate) fn status_json(&self) -> Value {
        let all = self.all_reports();
        let state = self.state();
        let active: Vec<Value> = all
            .values()
            .filter(|r| r.phase != Phase::Finished)
            .map(|r| json!({"id": r.id, "regions": r.regions, "phase": r.phase.as_str(), "ends_at": rfc3339(r.ends_at)}))
            .collect();
        let last = state.last_scheduled.as_ref().map(|s| match &s.outcome {
            Ok(report) => json!({
                "schedule": s.schedule,
                "at": rfc3339(s.at),
                "drill": report.id,
                "result": report.result.as_str(),
                "error": Value::Null,
            }),
            Err(e) => json!({
                "schedule": s.schedule,
                "at": rfc3339(s.at),
                "drill": Value::Null,
                "result": "fail",
                "error": e,
            }),
        });
        json!({"active": active, "last_scheduled": last})
    }

    /// Records a scheduled drill's outcome for `/v1/status`.
    fn record_scheduled(&self, schedule: usize, outcome: Result<DrillReport, String>) {
        self.state().last_scheduled = Some(ScheduledOutcome {
            schedule,
            at: crate::clock::now(),
            outcome,
        });
    }

    /// Saves the report durably, then updates the in-memory copy (a failed
    /// save is logged: the drill goes on, and its overrides expire anyway).
    fn persist(&self, report: &DrillReport) {
        // Saved before it is shown, so whoever sees a phase through the
        // API finds the same report on disk.
        if let Err(e) = self.inner.store.save(report) {
            tracing::error!(drill = report.id, error = %e, "cannot save drill report");
        }
        self.update(report);
    }

    /// Updates the in-memory copy only (between saves).
    fn update(&self, report: &DrillReport) {
        let mut state = self.state();
        if report.phase == Phase::Finished {
            state.stops.remove(&report.id);
        }
        state.reports.insert(report.id.clone(), report.clone());
    }

    fn spawn_runner(&self, report: DrillReport) {
        let (tx, rx) = watch::channel(None);
        {
            let mut state = self.state();
            state.stops.insert(report.id.clone(), tx);
            state.reports.insert(report.id.clone(), report.clone());
        }
        tokio::spawn(verify::run(self.clone(), report, rx));
    }

    /// A fresh id: `dr-` and 12 hex digits.
    fn new_id(&self) -> String {
        let mut rng = self.inner.rng.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let id = format!("dr-{:012x}", rng.u64(..) & 0xffff_ffff_ffff);
            if !self.state().reports.contains_key(&id) {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError};
    use crate::traffic::TrafficPlan;

    fn compile_text(drills: &str) -> Result<DrillPlan, Vec<ConfigError>> {
        let text = format!(
            "version = 1\n[server]\ndns_listen = [\"127.0.0.1:0\"]\napi_listen = \"127.0.0.1:0\"\nzones_dir = \"z\"\nstate_dir = \"s\"\n{drills}"
        );
        let config = Config::parse(&text, std::path::Path::new("/etc/sy.toml")).unwrap();
        compile(&config, &TrafficPlan::default())
    }

    #[test]
    fn defaults_and_errors_that_name_line_and_field() {
        let plan = compile_text("").unwrap();
        assert_eq!(plan, DrillPlan::default());
        let errors = compile_text(
            "[drills]\nvantages = { eu = \"81.2.69.1/24\", us = \"nope\" }\nprobe_interval_ms = 5\n[[drills.schedule]]\nregions = [\"mars\"]\nevery = \"2s\"\nduration_secs = 9999\n",
        )
        .unwrap_err();
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let all = text.join("\n");
        assert!(
            all.contains(
                "/etc/sy.toml:8: drills.vantages.eu: 81.2.69.1/24 has bits set beyond its prefix"
            ),
            "{all}"
        );
        assert!(
            all.contains("drills.vantages.us: \"nope\" is not a subnet"),
            "{all}"
        );
        assert!(
            all.contains(":9: drills.probe_interval_ms: must be between 20"),
            "{all}"
        );
        assert!(
            all.contains("drills.schedule[0].regions: unknown region \"mars\""),
            "{all}"
        );
        assert!(all.contains("drills.schedule[0].duration_secs"), "{all}");
    }
}
