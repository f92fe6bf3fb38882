//! `ctl explain`: the client, the policy's candidates, the answer.

use super::render::{name, or_dash, table, yes};
use crate::contract::{ClientSource, ExplainAnswer, Explanation};

/// Renders an explanation.
pub(super) fn render(v: &Explanation) -> String {
    let client = &v.client;
    let location = &client.location;
    let mut lines = vec![format!(
        "{} {}  (snapshot {}, seed {})",
        v.question.name, v.question.qtype, v.generation, v.seed
    )];
    let source = match client.source {
        ClientSource::Ecs => format!("ECS subnet {}", or_dash(client.subnet.as_ref())),
        ClientSource::Address => format!("source address {}", client.address),
    };
    let coordinates = match location.coordinates.as_deref() {
        Some([lat, lon]) => format!("{lat}, {lon}"),
        _ => "-".into(),
    };
    lines.push(format!(
        "client: {source}; location from {} (network {}): country {}, continent {}, coordinates {coordinates}",
        location.source,
        or_dash(location.network.as_ref()),
        or_dash(location.country.as_ref()),
        or_dash(location.continent.as_ref()),
    ));
    match &v.service {
        None => lines.push("not a managed name: answered from the zone files".into()),
        Some(service) => {
            lines.push(format!(
                "service: {} (policy {}, ttl {})",
                service.name,
                name(&service.policy),
                service.ttl
            ));
            if let Some(note) = &service.note {
                lines.push(note.clone());
            }
            // Geo rules say what matched (`null` for the default list).
            if let Some(rule) = &service.rule
                && let Some(matched) = &rule.matched
            {
                lines.push(format!(
                    "rule: {} {} -> [{}]",
                    name(&rule.kind),
                    matched.as_deref().unwrap_or_default(),
                    rule.regions.as_deref().unwrap_or_default().join(", ")
                ));
            }
            let rows = service
                .candidates
                .iter()
                .map(|c| {
                    let overrides: Vec<String> = c
                        .overrides
                        .iter()
                        .map(|o| format!("{} ({})", o.id, o.action))
                        .collect();
                    vec![
                        if c.chosen { "*" } else { "" }.to_string(),
                        c.region.clone(),
                        yes(c.available),
                        format!("{}/{}", c.endpoints_up, c.endpoints),
                        c.effective_weight.to_string(),
                        if overrides.is_empty() {
                            "-".into()
                        } else {
                            overrides.join(", ")
                        },
                        c.why.clone(),
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
                or_dash(service.decision.as_ref().map(|d| &d.summary))
            ));
        }
    }
    match &v.answer {
        ExplainAnswer::Answered(answer) => {
            lines.push(format!(
                "answer: {} ttl {} ecs scope {}",
                answer.rcode,
                or_dash(answer.ttl),
                or_dash(answer.ecs_scope)
            ));
            for record in &answer.records {
                lines.push(format!(
                    "  {} {} {} {}",
                    record.name, record.ttl, record.rtype, record.data
                ));
            }
        }
        ExplainAnswer::Failed { error } => lines.push(format!("answer: {error}")),
    }
    lines.join("\n")
}
