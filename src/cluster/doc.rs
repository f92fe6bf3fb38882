//! The JSON values stored in the cluster: the override set (the same shape
//! as `overrides.json`, so an operator reads both the same way) and drill
//! reports tagged with the instance verifying them.

use serde::{Deserialize, Serialize};

use crate::drills::report::DrillReport;
use crate::overrides::store::STATE_VERSION;
use crate::overrides::{Action, MAX_WEIGHT, Override, OverrideSet};

/// `{prefix}overrides`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverridesDoc {
    version: u32,
    overrides: Vec<Override>,
}

/// Encodes the whole set.
pub(crate) fn encode_overrides(set: &OverrideSet) -> Vec<u8> {
    let doc = OverridesDoc {
        version: STATE_VERSION,
        overrides: set.iter().cloned().collect(),
    };
    // A Vec of plain structs always serialises.
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// Decodes and checks the set (ids unique, who/why present, weights in
/// range), like the local file: a bad document is never served.
pub(crate) fn decode_overrides(bytes: &[u8]) -> Result<OverrideSet, String> {
    let doc: OverridesDoc = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if doc.version != STATE_VERSION {
        return Err(format!(
            "unsupported version {} (this build reads version {STATE_VERSION})",
            doc.version
        ));
    }
    let mut ids = std::collections::HashSet::new();
    for o in &doc.overrides {
        if !ids.insert(o.id.as_str()) {
            return Err(format!("duplicate override id {:?}", o.id));
        }
        if o.region.is_empty() || o.who.is_empty() || o.why.trim().is_empty() {
            return Err(format!("override {:?} lacks a region, who or why", o.id));
        }
        if let Action::Weight { weight } = o.action
            && weight > MAX_WEIGHT
        {
            return Err(format!("override {:?} has weight {weight}", o.id));
        }
    }
    Ok(OverrideSet::from_vec(doc.overrides))
}

/// `{prefix}drills/{id}`: the report, plus which instance verifies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedDrill {
    /// The instance running the drill's verification (the one that
    /// started it, or `import`): when it is gone, any instance finishes the
    /// report at the deadline.
    pub verifier: String,
    /// The report, flattened so the value reads like a local report.
    #[serde(flatten)]
    pub report: DrillReport,
}

/// Encodes a drill.
pub(crate) fn encode_drill(drill: &SharedDrill) -> Vec<u8> {
    serde_json::to_vec(drill).unwrap_or_default()
}

/// Decodes a drill.
pub(crate) fn decode_drill(bytes: &[u8]) -> Result<SharedDrill, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overrides::ForceState;
    use std::time::{Duration, UNIX_EPOCH};

    fn sample(id: &str) -> Override {
        Override {
            id: id.into(),
            region: "us".into(),
            action: Action::Force {
                state: ForceState::Down,
            },
            who: "alice".into(),
            why: "maintenance".into(),
            created: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            expires: None,
            drill: Some("dr-1".into()),
        }
    }

    #[test]
    fn overrides_round_trip_and_bad_documents_are_refused() {
        let set = OverrideSet::from_vec(vec![sample("ov-1"), sample("ov-2")]);
        assert_eq!(decode_overrides(&encode_overrides(&set)).unwrap(), set);
        let dup = OverrideSet::from_vec(vec![sample("ov-1"), sample("ov-1")]);
        assert!(
            decode_overrides(&encode_overrides(&dup))
                .unwrap_err()
                .contains("duplicate")
        );
        assert!(decode_overrides(b"{\"version\":2,\"overrides\":[]}").is_err());
        assert!(decode_overrides(b"not json").is_err());
    }
}
