//! `switchyard ctl drill start|list|show|stop`: the drill endpoints, with
//! the report rendered as a timeline and a per-vantage table.

use clap::Subcommand;
use serde_json::Value;

use super::render::{join, or_dash, read, table};
use super::{parse_expiry, segment};
use crate::contract::{DeleteRequest, DrillList, DrillRequest, DrillSummary};
use crate::drills::report::DrillReport;
use crate::overrides::time::format as rfc3339;

/// `ctl drill` subcommands.
#[derive(Debug, Subcommand)]
pub enum DrillCommand {
    /// Start a drill: force the regions down for a while, verify answers
    /// from every vantage, roll back by itself.
    Start {
        /// Regions to take out.
        #[arg(required = true)]
        regions: Vec<String>,
        /// How long (`90s`, `5m`, `1h`); capped by `[drills] max_duration_secs`.
        #[arg(long, value_parser = parse_expiry)]
        duration: u64,
        /// Why (required; audited).
        #[arg(long)]
        why: String,
        /// A service to verify (repeat; default: every service using the regions).
        #[arg(long = "service")]
        services: Vec<String>,
        /// Start even if a service would be left with no available region.
        #[arg(long)]
        force: bool,
    },
    /// Every drill, oldest first.
    List,
    /// One drill's report.
    Show {
        /// The drill id (`dr-...`).
        id: String,
    },
    /// Roll a running drill back now.
    Stop {
        /// The drill id (`dr-...`).
        id: String,
        /// Why (required; audited).
        #[arg(long)]
        why: String,
    },
}

/// The request a drill subcommand makes: method, path, body.
pub fn request_for(command: &DrillCommand) -> (&'static str, String, Option<Value>) {
    match command {
        DrillCommand::Start {
            regions,
            duration,
            why,
            services,
            force,
        } => {
            let body = DrillRequest {
                regions: regions.clone(),
                duration_secs: *duration,
                services: (!services.is_empty()).then(|| services.clone()),
                why: why.clone(),
                force: *force,
            };
            ("POST", "/v1/drills".into(), serde_json::to_value(body).ok())
        }
        DrillCommand::List => ("GET", "/v1/drills".into(), None),
        DrillCommand::Show { id } => ("GET", format!("/v1/drills/{}", segment(id)), None),
        DrillCommand::Stop { id, why } => {
            let body = DeleteRequest {
                why: why.clone(),
                force: false,
            };
            (
                "POST",
                format!("/v1/drills/{}/stop", segment(id)),
                serde_json::to_value(body).ok(),
            )
        }
    }
}

/// Renders a drill answer.
pub fn render(command: &DrillCommand, body: &[u8]) -> Result<String, String> {
    match command {
        DrillCommand::List => read(body, |l: &DrillList| list(&l.drills)),
        _ => read(body, report),
    }
}

fn list(drills: &[DrillSummary]) -> String {
    if drills.is_empty() {
        return "no drills".into();
    }
    let rows = drills
        .iter()
        .map(|d| {
            vec![
                d.id.clone(),
                join(&d.regions),
                d.phase.as_str().into(),
                d.result.as_str().into(),
                d.created.clone(),
                format!("{}/{}", d.failed_pairs, d.pairs),
                ms(d.max_convergence_ms),
                d.who.clone(),
                d.why.clone(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "REGIONS",
            "PHASE",
            "RESULT",
            "CREATED",
            "FAILED",
            "CONVERGENCE",
            "WHO",
            "WHY",
        ],
        rows,
    )
}

/// Milliseconds with one decimal, or `-`.
fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |m| format!("{m:.1} ms"))
}

/// The full report: header, timeline, per-vantage table, impact.
pub fn report(r: &DrillReport) -> String {
    let mut out = vec![
        format!(
            "drill {}  result: {}  phase: {}",
            r.id,
            r.result.as_str().to_uppercase(),
            r.phase.as_str()
        ),
        format!(
            "regions: {}  services: {}  duration: {}s",
            join(&r.regions),
            join(&r.services),
            r.duration_secs
        ),
        format!("by {}: {}", r.who, r.why),
        String::new(),
        "timeline".into(),
    ];
    let events: Vec<Vec<String>> = r
        .timeline
        .iter()
        .map(|e| vec![rfc3339(e.at), e.what.clone(), or_dash(e.detail.as_ref())])
        .collect();
    out.push(table(&["TIME", "EVENT", "DETAIL"], events));
    out.push(String::new());
    let pairs: Vec<Vec<String>> = r
        .pairs
        .iter()
        .map(|p| {
            vec![
                p.service.clone(),
                format!("{} ({})", p.vantage, p.subnet),
                join(&p.before),
                join(&p.during),
                join(&p.after),
                ms(p.convergence_ms),
                ms(p.restore_ms),
                match &p.reason {
                    Some(reason) => format!("{}: {reason}", p.result.as_str()),
                    None => p.result.as_str().into(),
                },
            ]
        })
        .collect();
    out.push(table(
        &[
            "SERVICE",
            "VANTAGE",
            "BEFORE",
            "DURING",
            "AFTER",
            "CONVERGENCE",
            "RESTORE",
            "RESULT",
        ],
        pairs,
    ));
    let impact = &r.impact;
    out.push(String::new());
    out.push(format!(
        "expected worst-case client impact: detection {} ms + convergence {} + cached answers up to {} s (max TTL) = {}",
        impact.detection_ms,
        ms(impact.max_convergence_ms),
        impact.max_ttl_secs,
        impact
            .worst_case_ms
            .map_or("-".into(), |w| format!("{:.1} s", w / 1e3)),
    ));
    out.join("\n")
}
