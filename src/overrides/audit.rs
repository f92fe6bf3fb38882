//! The audit trail: `state_dir/audit.log`, one JSON object per line, for
//! every attempted change: applied, refused, failed, expired, unauthorised
//! or invalid. Append-only; nothing here ever rewrites old lines.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// File name of the audit log inside the state dir.
pub const AUDIT_FILE: &str = "audit.log";

/// How an attempted change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Persisted and published.
    Ok,
    /// Refused by the safety rule.
    Refused,
    /// Could not be applied (unknown region or override, storage failure).
    Failed,
    /// An override lapsed at its expiry (or was found expired at start-up).
    Expired,
    /// No valid bearer token.
    Unauthorized,
    /// The request itself was malformed or had invalid values.
    Invalid,
}

/// One audit line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// When (RFC 3339, UTC).
    #[serde(with = "super::time::rfc3339")]
    pub time: SystemTime,
    /// The token's name, `system` for expiries, or `-` when unauthenticated.
    pub who: String,
    /// What was attempted (`drain us-east`, `delete ov-…`, `PUT /v1/...`).
    pub what: String,
    /// The operator's reason, when one was given.
    pub why: String,
    /// How it ended.
    pub result: Outcome,
    /// Ids, generation or the error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The open audit log, shared by the publisher and the API.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    // Appends come from the publisher and from API tasks (unauthorised and
    // invalid requests never reach the publisher); the lock keeps each line
    // whole. It is held only for one write.
    file: Arc<Mutex<File>>,
}

impl AuditLog {
    /// Opens (creating if needed) `dir/audit.log` for appending.
    pub fn open(dir: &Path) -> io::Result<AuditLog> {
        let path = dir.join(AUDIT_FILE);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(AuditLog {
            path,
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` as one line. Changes that took effect (`ok`,
    /// `expired`) are fsynced; rejected attempts are not, so a flood of bad
    /// requests cannot turn into a flood of disk flushes.
    pub fn record(&self, entry: &Entry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        let file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (&*file).write_all(&line)?;
        if matches!(entry.result, Outcome::Ok | Outcome::Expired) {
            file.sync_data()?;
        }
        Ok(())
    }

    /// Like [`AuditLog::record`], logging instead of failing: the audit
    /// trail must not undo a change that already took effect.
    pub fn record_or_log(&self, entry: &Entry) {
        if let Err(e) = self.record(entry) {
            tracing::error!(path = %self.path.display(), error = %e, what = entry.what, "cannot append to the audit log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_one_json_line_per_entry() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        let entry = Entry {
            time: SystemTime::UNIX_EPOCH,
            who: "alice".into(),
            what: "drain us-east".into(),
            why: "maintenance".into(),
            result: Outcome::Ok,
            detail: None,
        };
        log.record(&entry).unwrap();
        log.record(&Entry {
            result: Outcome::Refused,
            ..entry.clone()
        })
        .unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<Entry> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], entry);
        assert!(text.starts_with("{\"time\":\"1970-01-01T00:00:00.000Z\",\"who\":\"alice\""));
    }
}
