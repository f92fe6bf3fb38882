//! Human-readable output for `ctl`: aligned tables from the API's JSON.

use serde_json::Value;

use super::CtlCommand;

/// Renders an API answer for `command`.
pub fn render(command: &CtlCommand, value: &Value) -> String {
    match command {
        CtlCommand::Status => status(value),
        CtlCommand::Regions => regions(value["regions"].as_array().map_or(&[][..], |v| v)),
        CtlCommand::Region { .. } => region(value),
        CtlCommand::Services => services(value["services"].as_array().map_or(&[][..], |v| v)),
        CtlCommand::Service { .. } => service(value),
        CtlCommand::Overrides => overrides(value["overrides"].as_array().map_or(&[][..], |v| v)),
        CtlCommand::Drill { command } => super::drill::render(command, value),
        CtlCommand::Explain { .. } => explain(value),
        _ => change(value),
    }
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

/// A JSON scalar as text (`-` for null or missing).
pub(super) fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        other => other.to_string(),
    }
}

/// `1h2m` from seconds.
fn duration(secs: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs))
        .to_string()
        .replace(' ', "")
}

/// `drain`, `weight 50`, `force down`.
fn action(o: &Value) -> String {
    match o["action"].as_str() {
        Some("weight") => format!("weight {}", text(&o["weight"])),
        Some("force") => format!("force {}", text(&o["state"])),
        Some(other) => other.to_string(),
        None => "-".into(),
    }
}

fn expires(o: &Value) -> String {
    o["expires_in_secs"]
        .as_u64()
        .map_or("never".into(), |s| format!("in {}", duration(s)))
}

fn ids(list: &Value) -> String {
    let ids: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| format!("{} ({})", text(&o["id"]), action(o)))
        .collect();
    if ids.is_empty() {
        "-".into()
    } else {
        ids.join(", ")
    }
}

fn status(v: &Value) -> String {
    let reload = match &v["last_reload"] {
        Value::Null => "none since start".to_string(),
        r if r["ok"] == Value::Bool(true) => format!(
            "ok at {} (generation {})",
            text(&r["at"]),
            text(&r["generation"])
        ),
        r => format!("FAILED at {}: {}", text(&r["at"]), text(&r["error"])),
    };
    let c = &v["counts"];
    [
        format!("version      {}", text(&v["version"])),
        format!(
            "uptime       {}",
            duration(v["uptime_secs"].as_u64().unwrap_or(0))
        ),
        format!("ready        {}", text(&v["ready"])),
        format!(
            "snapshot     generation {}, built {} ({:.1}s ago)",
            text(&v["snapshot"]["generation"]),
            text(&v["snapshot"]["built_at"]),
            v["snapshot"]["age_secs"].as_f64().unwrap_or(0.0)
        ),
        format!(
            "counts       {} zones, {} regions, {} endpoints, {} services, {} overrides",
            text(&c["zones"]),
            text(&c["regions"]),
            text(&c["endpoints"]),
            text(&c["services"]),
            text(&c["overrides"])
        ),
        format!("last reload  {reload}"),
        format!("cluster      {}", cluster_line(&v["cluster"])),
    ]
    .join("\n")
        + &super::instances::render(v)
}

/// Where operator state lives and whether this instance's copy is current.
fn cluster_line(c: &Value) -> String {
    if c["store"] != "etcd" {
        return "local store (state_dir)".into();
    }
    let at = format!(
        "etcd {} as {}, revision {}",
        text(&c["prefix"]),
        text(&c["instance"]),
        text(&c["revision"])
    );
    if c["stale"] == Value::Bool(true) {
        format!(
            "{at}: STALE since {} (serving the last known state): {}",
            text(&c["stale_since"]),
            text(&c["last_error"])
        )
    } else {
        format!("{at}: current")
    }
}

fn region_row(r: &Value) -> Vec<String> {
    let total = r["endpoints"].as_array().map_or(0, |e| e.len());
    vec![
        text(&r["name"]),
        text(&r["available"]),
        if r["checks_healthy"] == Value::Bool(true) {
            "up"
        } else {
            "down"
        }
        .into(),
        text(&r["forced"]),
        format!(
            "{}/{}",
            text(&r["effective_weight"]),
            text(&r["configured_weight"])
        ),
        format!("{}/{total}", text(&r["endpoints_up"])),
        ids(&r["overrides"]),
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

fn regions(list: &[Value]) -> String {
    table(&REGION_HEADER, list.iter().map(region_row).collect())
}

fn region(r: &Value) -> String {
    let endpoints = table(
        &["ENDPOINT", "ANSWER", "UP", "PROBE"],
        r["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                vec![
                    text(&e["id"]),
                    text(&e["answer"]),
                    text(&e["up"]),
                    text(&e["probe"]),
                ]
            })
            .collect(),
    );
    format!(
        "{}\n\n{endpoints}",
        table(&REGION_HEADER, vec![region_row(r)])
    )
}

fn services(list: &[Value]) -> String {
    let rows = list
        .iter()
        .map(|s| {
            let regions: Vec<String> = s["regions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    let mark = if r["available"] == Value::Bool(true) {
                        ""
                    } else {
                        "(out)"
                    };
                    format!("{}{mark}", text(&r["name"]))
                })
                .collect();
            vec![
                text(&s["name"]),
                text(&s["policy"]),
                format!("{}/{}", text(&s["available_regions"]), regions.len()),
                regions.join(" "),
            ]
        })
        .collect();
    table(&["SERVICE", "POLICY", "AVAILABLE", "REGIONS"], rows)
}

fn service(s: &Value) -> String {
    let head = format!(
        "{}  policy {}, ttl {}, all down: {}{}",
        text(&s["name"]),
        text(&s["policy"]),
        text(&s["ttl"]),
        text(&s["all_down"]),
        s["fallback"]
            .as_str()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default()
    );
    let rows = s["regions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            vec![
                text(&r["name"]),
                text(&r["available"]),
                text(&r["healthy"]),
                text(&r["forced"]),
                format!(
                    "{}/{}",
                    text(&r["effective_weight"]),
                    text(&r["configured_weight"])
                ),
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
    let list = s["overrides"].as_array().map_or(&[][..], |v| v);
    if list.is_empty() {
        format!("{head}\n\n{regions}")
    } else {
        format!("{head}\n\n{regions}\n\n{}", overrides(list))
    }
}

fn overrides(list: &[Value]) -> String {
    if list.is_empty() {
        return "no active overrides".into();
    }
    let rows = list
        .iter()
        .map(|o| {
            vec![
                text(&o["id"]),
                text(&o["region"]),
                action(o),
                text(&o["who"]),
                expires(o),
                text(&o["why"]),
            ]
        })
        .collect();
    table(&["ID", "REGION", "ACTION", "WHO", "EXPIRES", "WHY"], rows)
}

fn change(v: &Value) -> String {
    let mut lines = vec![format!("applied in generation {}", text(&v["generation"]))];
    if v["created"].is_object() {
        let o = &v["created"];
        lines.push(format!(
            "created {}: {} on {}, expires {}",
            text(&o["id"]),
            action(o),
            text(&o["region"]),
            expires(o)
        ));
    }
    for o in v["removed"].as_array().into_iter().flatten() {
        lines.push(format!(
            "removed {}: {} on {}",
            text(&o["id"]),
            action(o),
            text(&o["region"])
        ));
    }
    lines.join("\n")
}

/// `ctl explain`: the client, the policy's candidates, the answer.
fn explain(v: &Value) -> String {
    let client = &v["client"];
    let location = &client["location"];
    let mut lines = vec![format!(
        "{} {}  (snapshot {}, seed {})",
        text(&v["question"]["name"]),
        text(&v["question"]["type"]),
        text(&v["generation"]),
        text(&v["seed"])
    )];
    let source = match client["source"].as_str() {
        Some("ecs") => format!("ECS subnet {}", text(&client["subnet"])),
        _ => format!("source address {}", text(&client["address"])),
    };
    let coordinates = location["coordinates"]
        .as_array()
        .map(|c| format!("{}, {}", text(&c[0]), text(&c[1])))
        .unwrap_or_else(|| "-".into());
    lines.push(format!(
        "client: {source}; location from {} (network {}): country {}, continent {}, coordinates {coordinates}",
        text(&location["source"]),
        text(&location["network"]),
        text(&location["country"]),
        text(&location["continent"]),
    ));
    let service = &v["service"];
    if service.is_null() {
        lines.push("not a managed name: answered from the zone files".into());
    } else {
        lines.push(format!(
            "service: {} (policy {}, ttl {})",
            text(&service["name"]),
            text(&service["policy"]),
            text(&service["ttl"])
        ));
        if let Some(note) = service["note"].as_str() {
            lines.push(note.to_string());
        }
        let rule = &service["rule"];
        if rule["kind"].is_string() && !rule["match"].is_null() || rule["kind"] == "default" {
            let regions: Vec<String> = rule["regions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            lines.push(format!(
                "rule: {} {} -> [{}]",
                text(&rule["kind"]),
                if rule["match"].is_null() {
                    String::new()
                } else {
                    text(&rule["match"])
                },
                regions.join(", ")
            ));
        }
        let rows = service["candidates"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                vec![
                    if c["chosen"] == true {
                        "*".into()
                    } else {
                        String::new()
                    },
                    text(&c["region"]),
                    text(&c["available"]),
                    format!("{}/{}", text(&c["endpoints_up"]), text(&c["endpoints"])),
                    text(&c["effective_weight"]),
                    ids(&c["overrides"]),
                    text(&c["why"]),
                ]
            })
            .collect();
        lines.push(String::new());
        lines.push(table(
            &[
                "",
                "REGION",
                "AVAILABLE",
                "UP",
                "WEIGHT",
                "OVERRIDES",
                "WHY",
            ],
            rows,
        ));
        lines.push(String::new());
        lines.push(format!(
            "decision: {}",
            text(&service["decision"]["summary"])
        ));
    }
    let answer = &v["answer"];
    lines.push(format!(
        "answer: {} ttl {} ecs scope {}",
        text(&answer["rcode"]),
        text(&answer["ttl"]),
        text(&answer["ecs_scope"])
    ));
    for record in answer["records"].as_array().into_iter().flatten() {
        lines.push(format!(
            "  {} {} {} {}",
            text(&record["name"]),
            text(&record["ttl"]),
            text(&record["type"]),
            text(&record["data"])
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_columns() {
        let out = table(&["A", "LONG"], vec![vec!["xyz".into(), "1".into()]]);
        assert_eq!(out, "A    LONG\nxyz  1");
    }

    #[test]
    fn overrides_render_action_and_expiry() {
        let out = overrides(&[json!({
            "id": "ov-1", "region": "eu", "action": "weight", "weight": 5,
            "who": "alice", "why": "test", "expires_in_secs": 3600
        })]);
        assert!(out.contains("weight 5") && out.contains("in 1h"), "{out}");
    }
}
