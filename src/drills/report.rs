//! A drill's report: what was asked, what happened when (timeline), and per
//! vantage × service what clients were answered before, during and after,
//! with convergence and restore times and a verdict. The report is the
//! drill's durable record: it is saved at every phase change and restored
//! after a restart, so a drill resumes where it was. It is also what the
//! API answers for a drill, so its types derive the OpenAPI schema too.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::overrides::time::{rfc3339, rfc3339_opt};

/// Where a drill is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The regions are forced down; answers are being verified.
    Running,
    /// The overrides are gone; waiting for answers to return.
    RollingBack,
    /// Done; the report is final.
    Finished,
}

impl Phase {
    /// `running`, `rolling_back`, `finished`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Running => "running",
            Phase::RollingBack => "rolling_back",
            Phase::Finished => "finished",
        }
    }
}

/// A verdict, for one vantage × service or the whole drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Not decided yet.
    Pending,
    /// Answers left the drilled regions in time and came back.
    Pass,
    /// Something went wrong; see the reason.
    Fail,
}

impl Verdict {
    /// `pending`, `pass`, `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pending => "pending",
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// When.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: SystemTime,
    /// `created`, `started`, `verified`, `verification_failed`,
    /// `rolled_back`, `restored`, `resumed`, `finished`.
    pub what: String,
    /// Anything worth saying about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What one vantage saw for one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PairReport {
    /// The managed name.
    pub service: String,
    /// The vantage's name from `[drills] vantages`.
    pub vantage: String,
    /// The client subnet sent as ECS.
    pub subnet: String,
    /// Answers before the drill (union of the samples taken).
    pub before: Vec<String>,
    /// Whether `before` pointed at a drilled region (if not, the drill
    /// should not change this vantage's answers at all).
    pub was_on_drilled: bool,
    /// Every answer seen while the regions were out.
    pub during: Vec<String>,
    /// Answers once restored (or the last ones seen, if never restored).
    pub after: Vec<String>,
    /// Milliseconds from the drill's start to the first probe of the final
    /// run of probes that no longer pointed at a drilled region.
    pub convergence_ms: Option<f64>,
    /// Milliseconds from rollback until answers were back.
    pub restore_ms: Option<f64>,
    /// Offset (ms from start) of the latest probe that still pointed at a
    /// drilled region, if any: convergence is measured after it.
    #[serde(default)]
    pub last_on_drilled_ms: Option<f64>,
    /// Verification rounds run for this pair.
    pub probes: u64,
    /// Pass, fail, or still pending.
    pub result: Verdict,
    /// Why it failed (the first reason found).
    pub reason: Option<String>,
}

impl PairReport {
    /// A pair not yet probed: nothing observed, verdict pending.
    pub fn pending(service: String, vantage: String, subnet: String) -> PairReport {
        PairReport {
            service,
            vantage,
            subnet,
            before: Vec::new(),
            was_on_drilled: false,
            during: Vec::new(),
            after: Vec::new(),
            convergence_ms: None,
            restore_ms: None,
            last_on_drilled_ms: None,
            probes: 0,
            result: Verdict::Pending,
            reason: None,
        }
    }

    /// Marks the pair failed, keeping the first reason.
    pub fn fail(&mut self, reason: String) {
        if self.result != Verdict::Fail {
            self.result = Verdict::Fail;
            self.reason = Some(reason);
        }
    }
}

/// How badly clients may be affected, as far as DNS decides it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Impact {
    /// A drill is deliberate, so there is nothing to detect: 0.
    pub detection_ms: u64,
    /// Largest TTL among the verified services: resolvers may keep serving
    /// a cached answer pointing at a drilled region this long after the
    /// start (and a cached answer avoiding it this long after rollback).
    pub max_ttl_secs: u32,
    /// Worst convergence seen on Switchyard's own listener.
    pub max_convergence_ms: Option<f64>,
    /// Worst case for a client behind a caching resolver:
    /// detection + convergence + TTL.
    pub worst_case_ms: Option<f64>,
}

/// The whole report; also the drill's state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrillReport {
    /// `dr-` and 12 hex digits.
    pub id: String,
    /// Regions taken out.
    pub regions: Vec<String>,
    /// Services verified.
    pub services: Vec<String>,
    /// Who asked (token name, or `schedule`).
    pub who: String,
    /// Why.
    pub why: String,
    /// Requested duration.
    pub duration_secs: u64,
    /// Set for drills the schedule started: the schedule entry's index.
    #[serde(default)]
    pub scheduled: Option<usize>,
    /// Where it is.
    pub phase: Phase,
    /// Overall verdict.
    pub result: Verdict,
    /// When it was asked for.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created: SystemTime,
    /// When the forced-down overrides were published.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started: SystemTime,
    /// When it rolls back by itself.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: SystemTime,
    /// When its overrides went away.
    #[serde(with = "rfc3339_opt", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub rolled_back: Option<SystemTime>,
    /// Why it rolled back (`expired`, or who stopped it and why).
    #[serde(default)]
    pub rollback_reason: Option<String>,
    /// When the report became final.
    #[serde(with = "rfc3339_opt", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished: Option<SystemTime>,
    /// The forced-down overrides it created.
    pub overrides: Vec<String>,
    /// What happened, in order.
    pub timeline: Vec<Event>,
    /// Per vantage × service.
    pub pairs: Vec<PairReport>,
    /// Expected client impact.
    pub impact: Impact,
}

impl DrillReport {
    /// Records that the drill is rolling back since `at`, and why.
    pub fn mark_rolling_back(&mut self, at: SystemTime, reason: String) {
        self.phase = Phase::RollingBack;
        self.rolled_back = Some(at);
        self.rollback_reason = Some(reason);
    }

    /// Appends a timeline event.
    pub fn event(&mut self, at: SystemTime, what: &str, detail: Option<String>) {
        self.timeline.push(Event {
            at,
            what: what.into(),
            detail,
        });
    }

    /// Whether a timeline event of this kind exists.
    pub fn has_event(&self, what: &str) -> bool {
        self.timeline.iter().any(|e| e.what == what)
    }

    /// Milliseconds from `started` to `at` (0 if earlier).
    pub fn since_start(&self, at: SystemTime) -> f64 {
        ms_between(self.started, at)
    }

    /// Recomputes the overall verdict and the impact figures from the pairs.
    /// A finished drill with every pair passed passes; any failed pair fails it.
    pub fn summarize(&mut self) {
        let max_convergence = self
            .pairs
            .iter()
            .filter_map(|p| p.convergence_ms)
            .fold(None, |m: Option<f64>, c| Some(m.map_or(c, |m| m.max(c))));
        self.impact.max_convergence_ms = max_convergence;
        self.impact.worst_case_ms = max_convergence
            .map(|c| self.impact.detection_ms as f64 + c + self.impact.max_ttl_secs as f64 * 1e3);
        self.result = if self.pairs.iter().any(|p| p.result == Verdict::Fail) {
            Verdict::Fail
        } else if self.phase == Phase::Finished {
            Verdict::Pass
        } else {
            Verdict::Pending
        };
    }
}

/// Milliseconds from `from` to `to`, 0 when `to` is earlier; rounded to
/// microseconds so reports stay readable.
pub fn ms_between(from: SystemTime, to: SystemTime) -> f64 {
    let ms = to
        .duration_since(from)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3);
    (ms * 1000.0).round() / 1000.0
}
