//! The durable override set: `state_dir/overrides.json`.
//!
//! Written as a whole on every change by write-temp, fsync, rename, fsync
//! the directory, so a crash at any point leaves either the old file or the
//! new one, never half of one (DESIGN §3.3). A file that cannot be read or
//! parsed is never overwritten or deleted: start-up refuses, or, when told
//! to start clean, moves it aside first.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::audit::{AuditLog, Entry, Outcome};
use super::{Action, MAX_WEIGHT, Override, OverrideSet};

/// File name of the override set inside the state dir.
pub(crate) const OVERRIDES_FILE: &str = "overrides.json";

/// The only state file format version this build reads and writes.
pub(crate) const STATE_VERSION: u32 = 1;

/// The file's shape.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    overrides: Vec<Override>,
}

/// Why the state dir or file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state directory cannot be created or written.
    #[error("state dir {dir}: {source}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The overrides file exists but cannot be read.
    #[error("cannot read overrides file {file}: {source}")]
    Unreadable {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The overrides file is not a valid override set.
    #[error("corrupt overrides file {file}: {problem}")]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// What is wrong with it (with line and column when JSON is broken).
        problem: String,
    },
}

impl StateError {
    /// True when the file itself is bad (and `--start-clean` can set it aside).
    pub(crate) fn is_bad_file(&self) -> bool {
        matches!(
            self,
            StateError::Unreadable { .. } | StateError::Corrupt { .. }
        )
    }
}

/// Reads and writes `overrides.json` in one state dir.
#[derive(Debug, Clone)]
pub struct OverrideStore {
    dir: PathBuf,
}

impl OverrideStore {
    /// Uses `dir`, creating it if missing.
    pub fn open(dir: &Path) -> Result<OverrideStore, StateError> {
        fs::create_dir_all(dir).map_err(|source| StateError::Dir {
            dir: dir.to_path_buf(),
            source,
        })?;
        Ok(OverrideStore {
            dir: dir.to_path_buf(),
        })
    }

    /// The state dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The overrides file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(OVERRIDES_FILE)
    }

    /// Reads the saved set; no file means none. Expired overrides are kept
    /// here: the caller drops (and audits) them with [`OverrideSet::expire`].
    pub fn load(&self) -> Result<OverrideSet, StateError> {
        let file = self.path();
        let text = match fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(OverrideSet::default()),
            Err(source) => return Err(StateError::Unreadable { file, source }),
        };
        let corrupt = |problem: String| StateError::Corrupt {
            file: file.clone(),
            problem,
        };
        let state: StateFile = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if state.version != STATE_VERSION {
            return Err(corrupt(format!(
                "unsupported version {} (this build reads version {STATE_VERSION})",
                state.version
            )));
        }
        let mut ids = std::collections::HashSet::new();
        for o in &state.overrides {
            if !ids.insert(o.id.as_str()) {
                return Err(corrupt(format!("duplicate override id {:?}", o.id)));
            }
            if o.region.is_empty() || o.who.is_empty() || o.why.trim().is_empty() {
                return Err(corrupt(format!(
                    "override {:?} lacks a region, who or why",
                    o.id
                )));
            }
            if let Action::Weight { weight } = o.action
                && weight > MAX_WEIGHT
            {
                return Err(corrupt(format!(
                    "override {:?} has weight {weight} (most is {MAX_WEIGHT})",
                    o.id
                )));
            }
        }
        Ok(OverrideSet::from_vec(state.overrides))
    }

    /// Replaces the saved set durably: write a temp file, fsync it, rename
    /// it over the old one, fsync the directory (so the rename itself
    /// survives a power cut).
    pub(crate) fn save(&self, set: &OverrideSet) -> io::Result<()> {
        let state = StateFile {
            version: STATE_VERSION,
            overrides: set.iter().cloned().collect(),
        };
        let mut text = serde_json::to_vec_pretty(&state).map_err(io::Error::other)?;
        text.push(b'\n');
        // A failed write (a full disk) removes its temp file: nothing is
        // left behind and the previous file stays as it was.
        crate::statedir::write_atomic(&self.dir, OVERRIDES_FILE, &text)
    }

    /// Moves a bad overrides file aside as `overrides.json.corrupt-<RFC
    /// 3339 time with nanoseconds>-<n>`, never overwriting anything;
    /// returns the new path.
    pub(crate) fn quarantine(&self, now: SystemTime) -> io::Result<PathBuf> {
        crate::statedir::move_aside(&self.dir, OVERRIDES_FILE, "corrupt", now)
    }
}

/// The durable side of the overrides, restored at start-up and handed to
/// the publisher.
#[derive(Debug)]
pub struct Durable {
    /// Where the set is saved.
    pub store: OverrideStore,
    /// Where every attempt is recorded.
    pub audit: AuditLog,
    /// The restored set (expired overrides already dropped).
    pub overrides: OverrideSet,
}

/// Opens the state dir and restores the saved overrides, dropping (and
/// auditing) those that expired while the server was down. A bad file is an
/// error unless `start_clean`, which moves it aside (never deleting it) and
/// starts with no overrides.
pub fn restore(dir: &Path, start_clean: bool, now: SystemTime) -> Result<Durable, StateError> {
    let store = OverrideStore::open(dir)?;
    let audit = AuditLog::open(dir).map_err(|source| StateError::Dir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let entry = |who: &str, what: String, result: Outcome, detail: Option<String>| Entry {
        time: now,
        who: who.into(),
        what,
        why: String::new(),
        result,
        detail,
    };
    let saved = match store.load() {
        Ok(set) => set,
        Err(e) if e.is_bad_file() && start_clean => {
            let moved = store.quarantine(now).map_err(|source| StateError::Dir {
                dir: dir.to_path_buf(),
                source,
            })?;
            tracing::warn!(error = %e, moved_to = %moved.display(), "starting clean: the bad overrides file was moved aside");
            audit.record_or_log(&entry(
                "system",
                "start clean".into(),
                Outcome::Ok,
                Some(format!("{e}; moved to {}", moved.display())),
            ));
            OverrideSet::default()
        }
        Err(e) => return Err(e),
    };
    let (overrides, expired) = saved.expire(now);
    for o in &expired {
        audit.record_or_log(&Entry {
            why: o.why.clone(),
            ..entry(
                "system",
                o.describe(),
                Outcome::Expired,
                Some("expired while the server was down".into()),
            )
        });
    }
    if !expired.is_empty()
        && let Err(e) = store.save(&overrides)
    {
        // Harmless: the next start drops them again, and the next change rewrites the file.
        tracing::warn!(error = %e, "cannot rewrite the overrides file without the expired ones");
    }
    Ok(Durable {
        store,
        audit,
        overrides,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overrides::ForceState;
    use std::time::{Duration, UNIX_EPOCH};

    fn sample(id: &str) -> Override {
        Override {
            id: id.into(),
            region: "us-east".into(),
            action: Action::Force {
                state: ForceState::Down,
            },
            who: "alice".into(),
            why: "maintenance".into(),
            created: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            expires: Some(UNIX_EPOCH + Duration::from_secs(1_700_003_600)),
            drill: None,
        }
    }

    #[test]
    fn saves_and_loads_the_same_set() {
        let dir = tempfile::tempdir().unwrap();
        let store = OverrideStore::open(&dir.path().join("state")).unwrap();
        assert!(
            store.load().unwrap().is_empty(),
            "no file means no overrides"
        );
        let set = OverrideSet::from_vec(vec![sample("ov-1"), sample("ov-2")]);
        store.save(&set).unwrap();
        assert_eq!(store.load().unwrap(), set);
        assert!(!dir.path().join("state/overrides.json.tmp").exists());
    }

    #[test]
    fn corrupt_files_are_named_and_quarantined_without_overwriting() {
        let dir = tempfile::tempdir().unwrap();
        let store = OverrideStore::open(dir.path()).unwrap();
        fs::write(store.path(), "{\"version\": 1, \"overrides\": [").unwrap();
        let err = store.load().unwrap_err();
        assert!(err.is_bad_file());
        let text = err.to_string();
        assert!(
            text.contains("overrides.json") && text.contains("line 1"),
            "{text}"
        );

        let now = UNIX_EPOCH + Duration::from_secs(1234);
        let moved = store.quarantine(now).unwrap();
        let name = moved.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("overrides.json.corrupt-1970-01-01T00:20:34.000000000Z-"),
            "{name}"
        );
        assert!(fs::read_to_string(moved).unwrap().ends_with('['));
        assert!(store.load().unwrap().is_empty());
    }

    #[test]
    fn restore_drops_and_audits_overrides_that_expired_while_down() {
        let dir = tempfile::tempdir().unwrap();
        let store = OverrideStore::open(dir.path()).unwrap();
        let mut lasting = sample("ov-2");
        lasting.expires = None;
        store
            .save(&OverrideSet::from_vec(vec![
                sample("ov-1"),
                lasting.clone(),
            ]))
            .unwrap();
        let after_expiry = UNIX_EPOCH + Duration::from_secs(1_700_003_600);
        let durable = restore(dir.path(), false, after_expiry).unwrap();
        assert_eq!(
            durable.overrides,
            OverrideSet::from_vec(vec![lasting.clone()])
        );
        assert_eq!(
            store.load().unwrap(),
            durable.overrides,
            "rewritten without it"
        );
        let audit = fs::read_to_string(dir.path().join("audit.log")).unwrap();
        assert!(
            audit.contains("\"result\":\"expired\"") && audit.contains("ov-1"),
            "{audit}"
        );
    }

    #[test]
    fn duplicate_ids_and_bad_versions_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = OverrideStore::open(dir.path()).unwrap();
        store
            .save(&OverrideSet::from_vec(vec![sample("ov-1"), sample("ov-1")]))
            .unwrap();
        assert!(store.load().unwrap_err().to_string().contains("duplicate"));
        fs::write(store.path(), "{\"version\": 9, \"overrides\": []}").unwrap();
        assert!(store.load().unwrap_err().to_string().contains("version 9"));
    }
}
