//! `switchyard ctl drill start|list|show|stop`: the drill endpoints, with
//! the report rendered as a timeline and a per-vantage table.

use clap::Subcommand;
use serde_json::{Value, json};

use super::render::{table, text};
use super::{parse_expiry, segment};

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
            let mut body =
                json!({"regions": regions, "duration_secs": duration, "why": why, "force": force});
            if !services.is_empty() {
                body["services"] = json!(services);
            }
            ("POST", "/v1/drills".into(), Some(body))
        }
        DrillCommand::List => ("GET", "/v1/drills".into(), None),
        DrillCommand::Show { id } => ("GET", format!("/v1/drills/{}", segment(id)), None),
        DrillCommand::Stop { id, why } => (
            "POST",
            format!("/v1/drills/{}/stop", segment(id)),
            Some(json!({"why": why})),
        ),
    }
}

/// Renders a drill answer.
pub fn render(command: &DrillCommand, value: &Value) -> String {
    match command {
        DrillCommand::List => list(value["drills"].as_array().map_or(&[][..], |v| v)),
        _ => report(value),
    }
}

fn list(drills: &[Value]) -> String {
    if drills.is_empty() {
        return "no drills".into();
    }
    let rows = drills
        .iter()
        .map(|d| {
            vec![
                text(&d["id"]),
                join(&d["regions"]),
                text(&d["phase"]),
                text(&d["result"]),
                text(&d["created"]),
                format!("{}/{}", text(&d["failed_pairs"]), text(&d["pairs"])),
                ms(&d["max_convergence_ms"]),
                text(&d["who"]),
                text(&d["why"]),
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

/// A list of strings as `a b c` (`-` when empty).
fn join(v: &Value) -> String {
    let items: Vec<String> = v
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    if items.is_empty() {
        "-".into()
    } else {
        items.join(" ")
    }
}

/// Milliseconds with one decimal, or `-`.
fn ms(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |m| format!("{m:.1} ms"))
}

/// The full report: header, timeline, per-vantage table, impact.
pub fn report(r: &Value) -> String {
    let result = text(&r["result"]).to_uppercase();
    let mut out = vec![
        format!(
            "drill {}  result: {result}  phase: {}",
            text(&r["id"]),
            text(&r["phase"])
        ),
        format!(
            "regions: {}  services: {}  duration: {}s",
            join(&r["regions"]),
            join(&r["services"]),
            text(&r["duration_secs"])
        ),
        format!("by {}: {}", text(&r["who"]), text(&r["why"])),
        String::new(),
        "timeline".into(),
    ];
    let events: Vec<Vec<String>> = r["timeline"]
        .as_array()
        .map_or(&[][..], |v| v)
        .iter()
        .map(|e| vec![text(&e["at"]), text(&e["what"]), text(&e["detail"])])
        .collect();
    out.push(table(&["TIME", "EVENT", "DETAIL"], events));
    out.push(String::new());
    let pairs: Vec<Vec<String>> = r["pairs"]
        .as_array()
        .map_or(&[][..], |v| v)
        .iter()
        .map(|p| {
            vec![
                text(&p["service"]),
                format!("{} ({})", text(&p["vantage"]), text(&p["subnet"])),
                join(&p["before"]),
                join(&p["during"]),
                join(&p["after"]),
                ms(&p["convergence_ms"]),
                ms(&p["restore_ms"]),
                match &p["reason"] {
                    Value::String(reason) => format!("{}: {reason}", text(&p["result"])),
                    _ => text(&p["result"]),
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
    let impact = &r["impact"];
    out.push(String::new());
    out.push(format!(
        "expected worst-case client impact: detection {} ms + convergence {} + cached answers up to {} s (max TTL) = {}",
        text(&impact["detection_ms"]),
        ms(&impact["max_convergence_ms"]),
        text(&impact["max_ttl_secs"]),
        impact["worst_case_ms"]
            .as_f64()
            .map_or("-".into(), |w| format!("{:.1} s", w / 1e3)),
    ));
    out.join("\n")
}
