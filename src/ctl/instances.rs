//! The cluster part of `ctl status`: every instance with its liveness,
//! generation, last contact and config digest, flagging those whose digest
//! differs from the answering instance's, and where health verdicts come
//! from.

use super::render::{table, yes};
use crate::contract::{Status, VoteSource};

/// The lines appended to `ctl status`.
pub(super) fn render(status: &Status) -> String {
    let instances = &status.instances;
    let differing = instances.iter().filter(|i| !i.config_matches).count();
    let live = instances.iter().filter(|i| i.live).count();
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
            let digest = &i.config_digest;
            vec![
                if i.instance == status.instance {
                    format!("{} (this)", i.instance)
                } else {
                    i.instance.clone()
                },
                yes(i.live),
                i.generation.to_string(),
                i.last_contact.clone(),
                format!(
                    "{}{}",
                    digest.get(..12).unwrap_or(digest),
                    if i.config_matches { "" } else { "  DIFFERS" }
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
    if let Some(votes) = &status.health_votes {
        out += &format!(
            "health votes {} (quorum {}) since {}{}",
            match votes.source {
                VoteSource::Cluster => "counted across the cluster",
                VoteSource::Local => "LOCAL ONLY: etcd unreachable, this instance's own verdicts",
            },
            votes.quorum,
            votes.since,
            votes
                .error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
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
        let status: Status = serde_json::from_value(json!({
            "version": "0", "started_at": "t", "uptime_secs": 1, "ready": true,
            "snapshot": {"generation": 4, "built_at": "t", "age_secs": 0.5},
            "counts": {"zones": 1, "regions": 1, "endpoints": 1, "services": 1, "overrides": 0},
            "last_reload": null,
            "auth": {"tokens": 1, "protect_reads": true},
            "settings": {"generation": 1, "loaded_at": "t", "health_checks": 1, "drills_max_duration_secs": 3600},
            "drills": {"active": [], "last_scheduled": null},
            "cluster": {"store": "etcd", "instance": "a", "prefix": "/p/", "connected": true,
                        "stale": false, "stale_since": null, "revision": 3, "last_error": null},
            "instance": "a",
            "instances": [
                {"instance": "a", "live": true, "generation": 4, "started": "t0", "last_contact": "t1",
                 "config_digest": "aaaaaaaaaaaaaaaa", "config_matches": true},
                {"instance": "b", "live": false, "generation": 3, "started": "t0", "last_contact": "t0",
                 "config_digest": "bbbbbbbbbbbbbbbb", "config_matches": false},
            ],
            "health_votes": {"source": "cluster", "quorum": "majority", "since": "t", "error": null,
                             "endpoints": []},
        }))
        .unwrap();
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
