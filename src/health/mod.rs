//! Health checking: probes every checked endpoint on its own schedule and
//! tells the publisher when an endpoint's verdict changes.
//!
//! ```text
//! HealthPlan (from config) --> scheduler: one task per endpoint
//!     tick --> semaphore permit --> probe (http/https/tcp, with timeout)
//!          --> state machine (fall/rise) --> registry (control plane view)
//!          --> on transition: PublisherHandle::report_health + store (health.json)
//! ```
//!
//! # Layout
//!
//! - [`plan`]: which endpoints are checked, with what, at which address.
//! - [`template`]: one `[checks.<name>]` template, validated, defaults applied.
//! - [`state`]: the pure up/down state machine with hysteresis.
//! - [`probe`]: the HTTP(S) and TCP probes and why a probe failed.
//! - [`scheduler`]: per-endpoint tasks, jitter, bounded concurrency, reloads.
//! - [`registry`]: the per-endpoint status the API will show.
//! - [`store`]: the last known states in `state_dir/health.json`.
//!
//! The DNS query path never touches any of this: it only sees the snapshot
//! the publisher builds from the verdicts.

pub mod metrics;
pub mod plan;
pub mod probe;
pub mod registry;
pub mod scheduler;
pub mod sink;
pub mod state;
pub mod stats;
pub mod store;
pub mod template;

pub use plan::{CheckSpec, CheckedEndpoint, HealthPlan, HttpSpec, StatusSet, compile};
pub use probe::{FailureReason, ProbeResult};
pub use registry::{EndpointStatus, HealthRegistry, HealthReport};
pub use scheduler::HealthChecker;
pub use state::{EndpointHealth, HealthState, Transition};
pub use stats::{ScheduleStats, StatsSnapshot};

use std::collections::HashMap;

use crate::traffic::HealthInputs;

/// An endpoint as the health checker and the publisher name it:
/// `(region name, endpoint id)`.
pub(crate) type EndpointKey = (String, String);

/// Each checked endpoint's starting state: the persisted verdict when there
/// is one (so a restart never serves a target that was down), else its
/// check's configured `initial` state.
pub(crate) fn initial_states(
    plan: &HealthPlan,
    persisted: &HashMap<EndpointKey, HealthState>,
) -> HashMap<EndpointKey, HealthState> {
    plan.endpoints
        .iter()
        .map(|e| {
            let state = persisted.get(&e.key).copied().unwrap_or(e.check.initial);
            (e.key.clone(), state)
        })
        .collect()
}

/// The publisher's view of `states`: settled verdicts only, since an
/// endpoint without an entry counts as up, exactly like unknown.
pub(crate) fn health_inputs(states: &HashMap<EndpointKey, HealthState>) -> HealthInputs {
    states
        .iter()
        .filter(|(_, s)| **s != HealthState::Unknown)
        .map(|(k, s)| (k.clone(), s.counts_as_up()))
        .collect()
}
