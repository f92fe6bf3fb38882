//! The key layout under `[cluster] prefix` (shared by every helper of the
//! cluster; see ARCHITECTURE.md): one document for the whole override set,
//! one key per drill, one per audit line, lease-bound membership and votes.

use std::time::SystemTime;

/// Builds and classifies keys under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// Starts and ends with `/` (checked by the config).
    prefix: String,
}

/// What a key under the prefix holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key<'a> {
    /// `{prefix}overrides`: the whole override set.
    Overrides,
    /// `{prefix}drills/{id}`: a drill's report (its state and deadline).
    Drill(&'a str),
    /// `{prefix}audit/{time}-{instance}`: one audit line.
    Audit,
    /// `{prefix}instances/{instance}`: a live instance (lease-bound).
    Instance(&'a str),
    /// Anything else (health votes, keys of newer versions).
    Other,
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_string(),
        }
    }

    /// The prefix itself (what the watcher watches).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}overrides`.
    pub fn overrides(&self) -> Vec<u8> {
        format!("{}overrides", self.prefix).into_bytes()
    }

    /// `{prefix}drills/`.
    pub fn drills(&self) -> Vec<u8> {
        format!("{}drills/", self.prefix).into_bytes()
    }

    /// `{prefix}drills/{id}`.
    pub fn drill(&self, id: &str) -> Vec<u8> {
        format!("{}drills/{id}", self.prefix).into_bytes()
    }

    /// `{prefix}audit/`.
    pub fn audit_prefix(&self) -> Vec<u8> {
        format!("{}audit/", self.prefix).into_bytes()
    }

    /// `{prefix}audit/{rfc3339 with nanoseconds}-{instance}`: sorts by time,
    /// and two instances writing in the same nanosecond still differ.
    pub fn audit(&self, at: SystemTime, instance: &str) -> Vec<u8> {
        format!(
            "{}audit/{}-{instance}",
            self.prefix,
            humantime::format_rfc3339_nanos(at)
        )
        .into_bytes()
    }

    /// What `key` is, or `None` when it is not under the prefix.
    pub(crate) fn classify<'a>(&self, key: &'a [u8]) -> Option<Key<'a>> {
        let key = std::str::from_utf8(key).ok()?;
        let rest = key.strip_prefix(self.prefix.as_str())?;
        Some(if rest == "overrides" {
            Key::Overrides
        } else if let Some(id) = rest.strip_prefix("drills/") {
            Key::Drill(id)
        } else if rest.starts_with("audit/") {
            Key::Audit
        } else if let Some(name) = rest.strip_prefix("instances/") {
            Key::Instance(name)
        } else {
            Key::Other
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_classify() {
        let keys = Keys::new("/sy/prod/");
        assert_eq!(keys.overrides(), b"/sy/prod/overrides");
        assert_eq!(keys.classify(&keys.overrides()), Some(Key::Overrides));
        assert_eq!(keys.classify(&keys.drill("dr-1")), Some(Key::Drill("dr-1")));
        let audit = keys.audit(SystemTime::UNIX_EPOCH, "a");
        assert_eq!(audit, b"/sy/prod/audit/1970-01-01T00:00:00.000000000Z-a");
        assert_eq!(keys.classify(&audit), Some(Key::Audit));
        assert_eq!(
            keys.classify(b"/sy/prod/instances/b"),
            Some(Key::Instance("b"))
        );
        assert_eq!(keys.classify(b"/sy/prod/votes/a/r/e"), Some(Key::Other));
        assert_eq!(keys.classify(b"/sy/other/overrides"), None);
    }
}
