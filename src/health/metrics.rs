//! The health checker's metrics: probes (by kind and outcome) and verdict
//! changes. Owned here, not in `metrics`, so that `metrics` (names,
//! exporter, rendering) stays a leaf and knows no probe failure kinds.

use std::time::Duration;

use super::{FailureReason, HealthState};
use crate::config::CheckKind;
use crate::metrics::names;

/// The `kind` label of a check.
pub(crate) fn kind_label(kind: CheckKind) -> &'static str {
    match kind {
        CheckKind::Http => "http",
        CheckKind::Https => "https",
        CheckKind::Tcp => "tcp",
    }
}

/// Records one health probe: its outcome (`success` or why it failed) and
/// latency.
pub(crate) fn record_probe(
    kind: CheckKind,
    outcome: &Result<(), FailureReason>,
    latency: Duration,
) {
    let kind = kind_label(kind);
    let result = match outcome {
        Ok(()) => "success",
        Err(FailureReason::Status { .. }) => "status",
        Err(FailureReason::Timeout) => "timeout",
        Err(FailureReason::ConnectionRefused) => "connection_refused",
        Err(FailureReason::Tls { .. }) => "tls",
        Err(FailureReason::BodyMismatch) => "body_mismatch",
        Err(FailureReason::Io { .. }) => "io",
    };
    metrics::counter!(names::PROBES, "kind" => kind, "result" => result).increment(1);
    metrics::histogram!(names::PROBE_DURATION, "kind" => kind).record(latency.as_secs_f64());
}

/// Records an endpoint verdict change into `to`.
pub(crate) fn record_transition(to: HealthState) {
    let to = match to {
        HealthState::Up => "up",
        HealthState::Down => "down",
        HealthState::Unknown => "unknown",
    };
    metrics::counter!(names::TRANSITIONS, "to" => to).increment(1);
}
