//! `ctl traffic`: where each service's answers went, total and over the
//! last minute, one row per answer series.

use super::render::{name, table};
use crate::contract::Traffic;

/// Renders the traffic view: a line about the snapshot and the window, then
/// a row per (service, region, reason).
pub(super) fn render(v: &Traffic) -> String {
    let rows = v
        .services
        .iter()
        .flat_map(|s| {
            s.answers.iter().map(move |a| {
                vec![
                    s.name.clone(),
                    name(&s.policy),
                    a.region.clone(),
                    name(&a.reason),
                    a.total.to_string(),
                    a.last_minute.to_string(),
                    format!("{:.0}%", a.share * 100.0),
                ]
            })
        })
        .collect();
    let uncounted: Vec<&str> = v
        .services
        .iter()
        .filter(|s| !s.counted)
        .map(|s| s.name.as_str())
        .collect();
    let mut lines = vec![format!(
        "snapshot {} (built {}), last minute = the last {:.0} s",
        v.generation, v.built_at, v.window_secs
    )];
    if !uncounted.is_empty() {
        lines.push(format!(
            "not counted (query_metrics off): {}",
            uncounted.join(", ")
        ));
    }
    lines.push(table(
        &[
            "SERVICE",
            "POLICY",
            "REGION",
            "REASON",
            "TOTAL",
            "LAST MINUTE",
            "SHARE",
        ],
        rows,
    ));
    lines.join("\n")
}
