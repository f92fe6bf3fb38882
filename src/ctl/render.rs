//! Human-readable output for `ctl`: aligned tables from the API's answers,
//! read as the contract's types ([`crate::contract`]).

use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::CtlCommand;
use crate::contract::{
    ChangeResult, ClusterState, Override, OverrideAction, OverrideList, Region, RegionList,
    Service, ServiceList, Status,
};

/// Renders the API's answer `body` for `command`.
pub(super) fn render(command: &CtlCommand, body: &[u8]) -> Result<String, String> {
    match command {
        CtlCommand::Status => read(body, status),
        CtlCommand::Regions => read(body, |l: &RegionList| regions(&l.regions)),
        CtlCommand::Region { .. } => read(body, region),
        CtlCommand::Services => read(body, |l: &ServiceList| services(&l.services)),
        CtlCommand::Service { .. } => read(body, service),
        CtlCommand::Overrides => read(body, |l: &OverrideList| overrides(&l.overrides)),
        CtlCommand::Drill { command } => super::drill::render(command, body),
        CtlCommand::Explain { .. } => read(body, super::explain::render),
        _ => read(body, change),
    }
}

/// `body` read as `T` and rendered, or why it does not fit the contract.
pub(super) fn read<T: DeserializeOwned>(
    body: &[u8],
    render: impl FnOnce(&T) -> String,
) -> Result<String, String> {
    serde_json::from_slice(body)
        .map(|value| render(&value))
        .map_err(|e| format!("the API's answer does not fit this ctl's contract: {e}"))
}

/// Left-aligned columns separated by two spaces; no trailing spaces.
pub(super) fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text += cell;
            } else {
                text += &format!("{cell:<w$}  ");
            }
        }
        text.trim_end().to_string()
    };
    let mut lines = vec![line(header.iter().map(|h| h.to_string()).collect())];
    lines.extend(rows.into_iter().map(line));
    lines.join("\n")
}

/// `yes` or `no`.
pub(super) fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// The value, or `-` for none.
pub(super) fn or_dash<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}

/// A unit enum variant by its wire name (`fail_open`), as the API spells it.
pub(super) fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "-".into(),
    }
}

/// A list of strings as `a b c` (`-` when empty).
pub(super) fn join(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(" ")
    }
}

/// `1h2m` from seconds.
fn duration(secs: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs))
        .to_string()
        .replace(' ', "")
}

/// `drain`, `weight 50`, `force down`.
fn action(o: &Override) -> String {
    match o.action {
        OverrideAction::Weight => format!("weight {}", or_dash(o.weight)),
        OverrideAction::Force => format!("force {}", or_dash(o.state.as_ref().map(name))),
        OverrideAction::Drain => "drain".into(),
    }
}

fn expires(o: &Override) -> String {
    o.expires_in_secs
        .map_or("never".into(), |s| format!("in {}", duration(s)))
}

fn ids(list: &[Override]) -> String {
    let ids: Vec<String> = list
        .iter()
        .map(|o| format!("{} ({})", o.id, action(o)))
        .collect();
    if ids.is_empty() {
        "-".into()
    } else {
        ids.join(", ")
    }
}

fn status(v: &Status) -> String {
    let reload = match &v.last_reload {
        None => "none since start".to_string(),
        Some(r) if r.ok => format!("ok at {} (generation {})", r.at, or_dash(r.generation)),
        Some(r) => format!("FAILED at {}: {}", r.at, or_dash(r.error.as_ref())),
    };
    let c = &v.counts;
    [
        format!("version      {}", v.version),
        format!("uptime       {}", duration(v.uptime_secs)),
        format!("ready        {}", yes(v.ready)),
        format!(
            "snapshot     generation {}, built {} ({:.1}s ago)",
            v.snapshot.generation, v.snapshot.built_at, v.snapshot.age_secs
        ),
        format!(
            "counts       {} zones, {} regions, {} endpoints, {} services, {} overrides",
            c.zones, c.regions, c.endpoints, c.services, c.overrides
        ),
        format!("last reload  {reload}"),
        format!(
            "settings     generation {}, loaded {} (health checks run generation {})",
            v.settings.generation, v.settings.loaded_at, v.settings.health_checks
        ),
        format!("cluster      {}", cluster_line(&v.cluster)),
    ]
    .join("\n")
        + &super::instances::render(v)
}

/// Where operator state lives and whether this instance's copy is current.
fn cluster_line(c: &ClusterState) -> String {
    if c.store != "etcd" {
        return "local store (state_dir)".into();
    }
    let at = format!(
        "etcd {} as {}, revision {}",
        or_dash(c.prefix.as_ref()),
        or_dash(c.instance.as_ref()),
        c.revision
    );
    if c.stale {
        format!(
            "{at}: STALE since {} (serving the last known state): {}",
            or_dash(c.stale_since.as_ref()),
            or_dash(c.last_error.as_ref())
        )
    } else {
        format!("{at}: current")
    }
}

fn region_row(r: &Region) -> Vec<String> {
    vec![
        r.name.clone(),
        yes(r.available),
        if r.checks_healthy { "up" } else { "down" }.into(),
        or_dash(r.forced.as_ref().map(name)),
        format!("{}/{}", r.effective_weight, r.configured_weight),
        format!("{}/{}", r.endpoints_up, r.endpoints.len()),
        ids(&r.overrides),
    ]
}

const REGION_HEADER: [&str; 7] = [
    "REGION",
    "AVAILABLE",
    "CHECKS",
    "FORCED",
    "WEIGHT(eff/conf)",
    "ENDPOINTS UP",
    "OVERRIDES",
];

fn regions(list: &[Region]) -> String {
    table(&REGION_HEADER, list.iter().map(region_row).collect())
}

fn region(r: &Region) -> String {
    let endpoints = table(
        &["ENDPOINT", "ANSWER", "UP", "PROBE"],
        r.endpoints
            .iter()
            .map(|e| {
                vec![
                    e.id.clone(),
                    e.answer.clone(),
                    yes(e.up),
                    or_dash(e.probe.as_ref()),
                ]
            })
            .collect(),
    );
    format!(
        "{}\n\n{endpoints}",
        table(&REGION_HEADER, vec![region_row(r)])
    )
}

fn services(list: &[Service]) -> String {
    let rows = list
        .iter()
        .map(|s| {
            let regions: Vec<String> = s
                .regions
                .iter()
                .map(|r| format!("{}{}", r.name, if r.available { "" } else { "(out)" }))
                .collect();
            vec![
                s.name.clone(),
                name(&s.policy),
                format!("{}/{}", s.available_regions, regions.len()),
                regions.join(" "),
            ]
        })
        .collect();
    table(&["SERVICE", "POLICY", "AVAILABLE", "REGIONS"], rows)
}

fn service(s: &Service) -> String {
    let head = format!(
        "{}  policy {}, ttl {}, all down: {}{}",
        s.name,
        name(&s.policy),
        s.ttl,
        name(&s.all_down),
        s.fallback
            .as_ref()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default()
    );
    let rows = s
        .regions
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                yes(r.available),
                yes(r.healthy),
                or_dash(r.forced.as_ref().map(name)),
                format!("{}/{}", r.effective_weight, r.configured_weight),
            ]
        })
        .collect();
    let regions = table(
        &[
            "REGION",
            "AVAILABLE",
            "HEALTHY",
            "FORCED",
            "WEIGHT(eff/conf)",
        ],
        rows,
    );
    if s.overrides.is_empty() {
        format!("{head}\n\n{regions}")
    } else {
        format!("{head}\n\n{regions}\n\n{}", overrides(&s.overrides))
    }
}

fn overrides(list: &[Override]) -> String {
    if list.is_empty() {
        return "no active overrides".into();
    }
    let rows = list
        .iter()
        .map(|o| {
            vec![
                o.id.clone(),
                o.region.clone(),
                action(o),
                o.who.clone(),
                expires(o),
                o.why.clone(),
            ]
        })
        .collect();
    table(&["ID", "REGION", "ACTION", "WHO", "EXPIRES", "WHY"], rows)
}

fn change(v: &ChangeResult) -> String {
    let mut lines = vec![format!("applied in generation {}", v.generation)];
    if let Some(o) = &v.created {
        lines.push(format!(
            "created {}: {} on {}, expires {}",
            o.id,
            action(o),
            o.region,
            expires(o)
        ));
    }
    for o in &v.removed {
        lines.push(format!("removed {}: {} on {}", o.id, action(o), o.region));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let out = table(&["A", "LONG"], vec![vec!["xyz".into(), "1".into()]]);
        assert_eq!(out, "A    LONG\nxyz  1");
    }

    #[test]
    fn overrides_render_action_and_expiry() {
        let o: Override = serde_json::from_value(serde_json::json!({
            "id": "ov-1", "region": "eu", "action": "weight", "weight": 5,
            "who": "alice", "why": "test", "created": "2026-01-01T00:00:00Z",
            "expires": "2026-01-01T01:00:00Z", "expires_in_secs": 3600
        }))
        .unwrap();
        let out = overrides(&[o]);
        assert!(out.contains("weight 5") && out.contains("in 1h"), "{out}");
    }
}
