//! The control plane's view of every checked endpoint: its verdict, streaks,
//! last probe and why it last failed. The API renders [`HealthRegistry::snapshot`].
//!
//! Each endpoint has its own lock, written only by its probe task, so
//! probes never contend with each other; the map itself is written only
//! when the set of checked endpoints changes. The DNS query path never
//! reads any of this.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::health::{EndpointKey, FailureReason, HealthState};

/// One endpoint's health, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointStatus {
    /// Region name.
    pub region: String,
    /// Endpoint id within the region.
    pub endpoint: String,
    /// Name of the check template probing it.
    pub check: String,
    /// Address probed.
    pub target: SocketAddr,
    /// Current verdict.
    pub state: HealthState,
    /// Consecutive successful probes.
    pub consecutive_successes: u32,
    /// Consecutive failed probes.
    pub consecutive_failures: u32,
    /// Probes run since checking started.
    pub probes: u64,
    /// When the last probe started (Unix milliseconds).
    pub last_probe_unix_ms: Option<u64>,
    /// How long the last probe took, in milliseconds.
    pub last_latency_ms: Option<f64>,
    /// Why the most recent failed probe failed (kept after recovery).
    pub last_failure: Option<FailureReason>,
    /// When the verdict last changed (Unix milliseconds).
    pub last_transition_unix_ms: Option<u64>,
}

impl EndpointStatus {
    /// A status with no probe run yet.
    pub fn new(key: &EndpointKey, check: &str, target: SocketAddr, state: HealthState) -> Self {
        EndpointStatus {
            region: key.0.clone(),
            endpoint: key.1.clone(),
            check: check.to_string(),
            target,
            state,
            consecutive_successes: 0,
            consecutive_failures: 0,
            probes: 0,
            last_probe_unix_ms: None,
            last_latency_ms: None,
            last_failure: None,
            last_transition_unix_ms: None,
        }
    }
}

/// Every checked endpoint's status, at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthReport {
    /// Sorted by region, then endpoint id.
    pub endpoints: Vec<EndpointStatus>,
}

/// A shared, per-endpoint-locked status cell.
pub(crate) type StatusCell = Arc<Mutex<EndpointStatus>>;

/// The registry of endpoint statuses; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct HealthRegistry {
    cells: Arc<RwLock<BTreeMap<EndpointKey, StatusCell>>>,
    /// The settings generation whose health plan the endpoints are from.
    plan_generation: Arc<AtomicU64>,
}

impl HealthRegistry {
    /// An empty registry.
    pub fn new() -> HealthRegistry {
        HealthRegistry::default()
    }

    /// Every endpoint's status, sorted, for the API.
    pub fn snapshot(&self) -> HealthReport {
        let cells = self.cells.read().unwrap_or_else(|e| e.into_inner());
        HealthReport {
            endpoints: cells.values().map(|c| lock(c).clone()).collect(),
        }
    }

    /// One endpoint's status.
    pub fn get(&self, region: &str, endpoint: &str) -> Option<EndpointStatus> {
        let cells = self.cells.read().unwrap_or_else(|e| e.into_inner());
        cells
            .get(&(region.to_string(), endpoint.to_string()))
            .map(|c| lock(c).clone())
    }

    /// Settled verdicts (up or down, not unknown), for persistence.
    pub fn verdicts(&self) -> BTreeMap<EndpointKey, HealthState> {
        let cells = self.cells.read().unwrap_or_else(|e| e.into_inner());
        cells
            .iter()
            .filter_map(|(k, c)| {
                let state = lock(c).state;
                (state != HealthState::Unknown).then(|| (k.clone(), state))
            })
            .collect()
    }

    /// Adds (or replaces) an endpoint; returns its cell for the probe task.
    pub(crate) fn insert(&self, key: EndpointKey, status: EndpointStatus) -> StatusCell {
        let cell = Arc::new(Mutex::new(status));
        let mut cells = self.cells.write().unwrap_or_else(|e| e.into_inner());
        cells.insert(key, cell.clone());
        cell
    }

    /// Forgets an endpoint that is no longer checked.
    pub(crate) fn remove(&self, key: &EndpointKey) {
        let mut cells = self.cells.write().unwrap_or_else(|e| e.into_inner());
        cells.remove(key);
    }

    /// The control-plane settings generation whose health plan the
    /// scheduler has applied (endpoints started and stopped to match it);
    /// 0 before the first, or when the plan came without one.
    pub fn plan_generation(&self) -> u64 {
        self.plan_generation.load(Ordering::Acquire)
    }

    /// Records that the plan of settings generation `generation` is applied.
    pub(crate) fn set_plan_generation(&self, generation: u64) {
        self.plan_generation.store(generation, Ordering::Release);
    }

    /// The current state of an endpoint, if it is checked.
    pub(crate) fn state(&self, key: &EndpointKey) -> Option<HealthState> {
        let cells = self.cells.read().unwrap_or_else(|e| e.into_inner());
        cells.get(key).map(|c| lock(c).state)
    }
}

/// Locks a status cell; a panicked writer left plain data, still usable.
pub(crate) fn lock(cell: &Mutex<EndpointStatus>) -> std::sync::MutexGuard<'_, EndpointStatus> {
    cell.lock().unwrap_or_else(|e| e.into_inner())
}

/// Milliseconds since the Unix epoch, for statuses shown to people.
pub(crate) fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
