//! The audit trail: `state_dir/audit.log`, one JSON object per line, for
//! every attempted change by an operator: applied, refused, failed, expired
//! or invalid. Append-only; nothing here ever rewrites old lines. It is
//! rotated at a size (`audit.log.1` ... `audit.log.<keep>`), so it cannot
//! fill the disk either.
//!
//! Requests without a valid token go to a separate, small, rotated file
//! ([`RejectedLog`], `audit-rejected.log`) at a bounded rate, so however
//! many arrive they can never use the space operators' writes need.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Counter: rejected API attempts not written to `audit-rejected.log`
/// (over its rate); the API describes it with its other counters.
pub const REJECTED_AUDIT_DROPPED: &str = "switchyard_api_rejected_audit_dropped_total";

/// File name of the audit log inside the state dir.
pub(crate) const AUDIT_FILE: &str = "audit.log";

/// File name of the log of rejected (unauthenticated) attempts.
pub(crate) const REJECTED_FILE: &str = "audit-rejected.log";

/// `audit-rejected.log` is rotated at this size, keeping one old file: at
/// most twice this on disk, whatever the request rate.
pub(crate) const REJECTED_MAX_BYTES: u64 = 4 << 20;

/// Default rotation of `audit.log`: size and files kept.
pub(crate) const AUDIT_MAX_BYTES: u64 = 64 << 20;
/// See [`AUDIT_MAX_BYTES`].
pub(crate) const AUDIT_KEEP: u32 = 4;

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

/// An append-only file rotated at a size: `name` -> `name.1` -> ... ->
/// `name.<keep>` (the oldest is dropped).
#[derive(Debug)]
struct Rotating {
    path: PathBuf,
    file: File,
    /// Bytes in the current file.
    size: u64,
    max_bytes: u64,
    keep: u32,
}

impl Rotating {
    fn open(path: PathBuf, max_bytes: u64, keep: u32) -> io::Result<Rotating> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(Rotating {
            path,
            file,
            size,
            max_bytes,
            keep,
        })
    }

    /// Appends `line`, rotating first when it would pass the size.
    fn append(&mut self, line: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        (&self.file).write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.keep == 0 {
            fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.keep).rev() {
                let from = self.numbered(n);
                if from.exists() {
                    fs::rename(&from, self.numbered(n + 1))?;
                }
            }
            fs::rename(&self.path, self.numbered(1))?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// The open audit log, shared by the publisher and the API.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    // Appends come from the publisher and from API tasks (invalid requests
    // never reach the publisher); the lock keeps each line whole. It is
    // held only for one write (and a rotation).
    file: Arc<Mutex<Rotating>>,
}

impl AuditLog {
    /// Opens (creating if needed) `dir/audit.log` for appending, rotated at
    /// [`AUDIT_MAX_BYTES`] keeping [`AUDIT_KEEP`] old files.
    pub fn open(dir: &Path) -> io::Result<AuditLog> {
        let path = dir.join(AUDIT_FILE);
        let file = Rotating::open(path.clone(), AUDIT_MAX_BYTES, AUDIT_KEEP)?;
        Ok(AuditLog {
            path,
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// Rotates at `max_bytes`, keeping `keep` old files (`[api] audit_max_mib`, `audit_keep`).
    pub(crate) fn set_rotation(&self, max_bytes: u64, keep: u32) {
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file.max_bytes = max_bytes.max(1);
        file.keep = keep;
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
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file.append(&line)?;
        if matches!(entry.result, Outcome::Ok | Outcome::Expired) {
            file.file.sync_data()?;
        }
        Ok(())
    }

    /// Like [`AuditLog::record`], logging instead of failing: the audit
    /// trail must not undo a change that already took effect.
    pub(crate) fn record_or_log(&self, entry: &Entry) {
        if let Err(e) = self.record(entry) {
            tracing::error!(path = %self.path.display(), error = %e, what = entry.what, "cannot append to the audit log");
        }
    }
}

/// One line of `audit-rejected.log`: a request refused before any token
/// was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// When (RFC 3339, UTC).
    #[serde(with = "super::time::rfc3339")]
    pub time: SystemTime,
    /// The client's address.
    pub client: String,
    /// `PUT /v1/...`.
    pub what: String,
    /// `unauthorized`, or `rate_limited` when the address reached the
    /// failed-authentication limit (further attempts are not logged until
    /// its window ends).
    pub result: String,
    /// Why it was refused.
    pub detail: String,
}

/// The bounded log of rejected attempts: its own file, rotated at
/// [`REJECTED_MAX_BYTES`] keeping one old file, and at most
/// [`RejectedLog::LINES_PER_SEC`] lines a second (a burst of
/// [`RejectedLog::BURST`]); lines over the rate are counted in
/// `switchyard_api_rejected_audit_dropped_total` instead.
#[derive(Debug)]
pub struct RejectedLog {
    inner: Mutex<RejectedInner>,
}

#[derive(Debug)]
struct RejectedInner {
    file: Option<Rotating>,
    /// Token bucket: lines that may be written now, refilled over time.
    tokens: f64,
    refilled: std::time::Instant,
}

impl RejectedLog {
    /// Sustained lines per second.
    pub(crate) const LINES_PER_SEC: f64 = 20.0;
    /// Lines that may be written at once after a quiet period.
    pub(crate) const BURST: f64 = 100.0;

    /// Opens (creating if needed) `dir/audit-rejected.log`.
    pub fn open(dir: &Path) -> io::Result<RejectedLog> {
        let file = Rotating::open(dir.join(REJECTED_FILE), REJECTED_MAX_BYTES, 1)?;
        Ok(RejectedLog::with_file(Some(file)))
    }

    /// A log that writes nothing (for routers built without a state dir).
    pub fn disabled() -> RejectedLog {
        RejectedLog::with_file(None)
    }

    fn with_file(file: Option<Rotating>) -> RejectedLog {
        RejectedLog {
            inner: Mutex::new(RejectedInner {
                file,
                tokens: RejectedLog::BURST,
                refilled: std::time::Instant::now(),
            }),
        }
    }

    /// Appends `entry` if the rate allows; returns whether it was written.
    /// Never fails the request: errors are logged.
    pub fn record(&self, entry: &Rejected) -> bool {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = std::time::Instant::now();
        let elapsed = now.duration_since(inner.refilled).as_secs_f64();
        inner.refilled = now;
        inner.tokens =
            (inner.tokens + elapsed * RejectedLog::LINES_PER_SEC).min(RejectedLog::BURST);
        if inner.tokens < 1.0 {
            metrics::counter!(REJECTED_AUDIT_DROPPED).increment(1);
            return false;
        }
        inner.tokens -= 1.0;
        let Some(file) = inner.file.as_mut() else {
            return false;
        };
        let Ok(mut line) = serde_json::to_vec(entry) else {
            return false;
        };
        line.push(b'\n');
        if let Err(e) = file.append(&line) {
            tracing::warn!(path = %file.path.display(), error = %e, "cannot append to the rejected-attempts log");
            return false;
        }
        true
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

#[cfg(test)]
mod rotation_tests {
    use super::*;

    fn entry(n: usize) -> Entry {
        Entry {
            time: SystemTime::UNIX_EPOCH,
            who: "alice".into(),
            what: format!("drain r{n}"),
            why: "x".repeat(100),
            result: Outcome::Refused,
            detail: None,
        }
    }

    #[test]
    fn the_audit_log_rotates_at_its_size_keeping_k_files() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        log.set_rotation(1000, 2);
        for n in 0..100 {
            log.record(&entry(n)).unwrap();
        }
        let size = |name: &str| fs::metadata(dir.path().join(name)).map(|m| m.len()).ok();
        assert!(size("audit.log").unwrap() <= 1000);
        assert!(size("audit.log.1").unwrap() <= 1000);
        assert!(size("audit.log.2").unwrap() <= 1000);
        assert_eq!(size("audit.log.3"), None, "only two old files kept");
        // The newest line is in the current file, whole.
        let text = fs::read_to_string(dir.path().join("audit.log")).unwrap();
        let last: Entry = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last.what, "drain r99");
    }

    #[test]
    fn rejected_attempts_are_rate_limited_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let log = RejectedLog::open(dir.path()).unwrap();
        let line = Rejected {
            time: SystemTime::UNIX_EPOCH,
            client: "127.0.0.1".into(),
            what: "POST /v1/regions/us/drain".into(),
            result: "unauthorized".into(),
            detail: "invalid bearer token".into(),
        };
        let written = (0..1000).filter(|_| log.record(&line)).count();
        // The burst, plus what the rate refilled while the loop ran.
        assert!((100..200).contains(&written), "{written}");
        let text = fs::read_to_string(dir.path().join(REJECTED_FILE)).unwrap();
        assert_eq!(text.lines().count(), written);
    }
}
