//! The drill list (`GET /v1/drills`); a drill's report is
//! [`crate::drills::report::DrillReport`] itself.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::drills::report::{DrillReport, Phase, Verdict};
use crate::overrides::time::format as rfc3339;

/// One line of `GET /v1/drills`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DrillSummary {
    /// `dr-...`.
    pub id: String,
    /// The regions taken out.
    pub regions: Vec<String>,
    /// The services verified.
    pub services: Vec<String>,
    /// The token's name.
    pub who: String,
    /// The reason.
    pub why: String,
    /// Index in `[[drills.schedule]]` for scheduled drills.
    pub scheduled: Option<u64>,
    /// Where it is.
    pub phase: Phase,
    /// Its verdict.
    pub result: Verdict,
    /// When it was made.
    #[schema(format = DateTime)]
    pub created: String,
    /// When it ends.
    #[schema(format = DateTime)]
    pub ends_at: String,
    /// When it finished.
    #[schema(format = DateTime)]
    pub finished: Option<String>,
    /// Service and vantage pairs verified.
    pub pairs: u64,
    /// Pairs that failed.
    pub failed_pairs: u64,
    /// The slowest convergence seen.
    pub max_convergence_ms: Option<f64>,
}

impl DrillSummary {
    /// The summary of `report`.
    pub fn of(report: &DrillReport) -> DrillSummary {
        let failed = report
            .pairs
            .iter()
            .filter(|p| p.result == Verdict::Fail)
            .count();
        DrillSummary {
            id: report.id.clone(),
            regions: report.regions.clone(),
            services: report.services.clone(),
            who: report.who.clone(),
            why: report.why.clone(),
            scheduled: report.scheduled.map(|s| s as u64),
            phase: report.phase,
            result: report.result,
            created: rfc3339(report.created),
            ends_at: rfc3339(report.ends_at),
            finished: report.finished.map(rfc3339),
            pairs: report.pairs.len() as u64,
            failed_pairs: failed as u64,
            max_convergence_ms: report.impact.max_convergence_ms,
        }
    }
}

/// `GET /v1/drills`: every drill, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DrillList {
    /// The drills.
    pub drills: Vec<DrillSummary>,
}
