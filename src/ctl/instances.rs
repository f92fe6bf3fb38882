//! The cluster part of `ctl status`: every instance with its liveness,
//! generation, last contact and config digest, flagging those whose digest
//! differs from the answering instance's, and where health verdicts come
//! from.

use serde_json::Value;

use super::render::{table, text};

/// The lines appended to `ctl status` (empty when the server predates
/// membership).
pub(super) fn render(status: &Value) -> String {
    let Some(instances) = status["instances"].as_array() else {
        return String::new();
    };
    let this = status["instance"].as_str().unwrap_or("");
    let differing = instances
        .iter()
        .filter(|i| i["config_matches"] == Value::Bool(false))
        .count();
    let live = instances
        .iter()
        .filter(|i| i["live"] == Value::Bool(true))
        .count();
    let mut out = format!(
        "\ninstances    {} ({live} live){}\n",
        instances.len(),
        match differing {
            0 => String::new(),
            n => format!(", {n} with a DIFFERENT config"),
        }
    );
    let rows = instances
        .iter()
        .map(|i| {
            let name = text(&i["instance"]);
            let digest = text(&i["config_digest"]);
            vec![
                if name == this {
                    format!("{name} (this)")
                } else {
                    name
                },
                text(&i["live"]),
                text(&i["generation"]),
                text(&i["last_contact"]),
                format!(
                    "{}{}",
                    digest.get(..12).unwrap_or(&digest),
                    if i["config_matches"] == Value::Bool(false) {
                        "  DIFFERS"
                    } else {
                        ""
                    }
                ),
            ]
        })
        .collect();
    let listing = table(
        &["INSTANCE", "LIVE", "GENERATION", "LAST CONTACT", "CONFIG"],
        rows,
    );
    for line in listing.lines() {
        out += "  ";
        out += line;
        out += "\n";
    }
    let votes = &status["health_votes"];
    if votes.is_object() {
        out += &format!(
            "health votes {} (quorum {}) since {}{}",
            if votes["source"] == "cluster" {
                "counted across the cluster"
            } else {
                "LOCAL ONLY: etcd unreachable, this instance's own verdicts"
            },
            text(&votes["quorum"]),
            text(&votes["since"]),
            match &votes["error"] {
                Value::String(e) => format!(" ({e})"),
                _ => String::new(),
            }
        );
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_instances_whose_config_differs() {
        let status = json!({
            "instance": "a",
            "instances": [
                {"instance": "a", "live": true, "generation": 4, "last_contact": "t1",
                 "config_digest": "aaaaaaaaaaaaaaaa", "config_matches": true},
                {"instance": "b", "live": false, "generation": 3, "last_contact": "t0",
                 "config_digest": "bbbbbbbbbbbbbbbb", "config_matches": false},
            ],
            "health_votes": {"source": "cluster", "quorum": "majority", "since": "t", "error": null},
        });
        let text = render(&status);
        assert!(
            text.contains("2 (1 live), 1 with a DIFFERENT config"),
            "{text}"
        );
        assert!(text.contains("a (this)"), "{text}");
        let b = text.lines().find(|l| l.contains(" b ")).unwrap();
        assert!(
            b.contains("no") && b.ends_with("bbbbbbbbbbbb  DIFFERS"),
            "{text}"
        );
        assert!(
            !text
                .lines()
                .find(|l| l.contains("a (this)"))
                .unwrap()
                .contains("DIFFERS")
        );
        assert!(
            text.contains("counted across the cluster (quorum majority)"),
            "{text}"
        );
    }
}
