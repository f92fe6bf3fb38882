//! The last known endpoint verdicts in `state_dir/health.json`, so a
//! restart never sends traffic to a target that was down.
//!
//! Written durably (temp file, fsync, rename, fsync of the directory) after
//! transitions, at most every [`MIN_WRITE_INTERVAL`]. A file that cannot be
//! parsed is moved aside, never overwritten: health is re-learned within
//! seconds, but the evidence of what went wrong is kept.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::health::registry::{HealthRegistry, unix_ms};
use crate::health::{EndpointKey, HealthState};

/// The file's name inside `state_dir`.
pub(crate) const FILE_NAME: &str = "health.json";

/// The file format version this build writes and reads.
const FORMAT_VERSION: u32 = 1;

/// Shortest time between two writes: a burst of transitions is one write.
pub(crate) const MIN_WRITE_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    written_unix_ms: u64,
    endpoints: Vec<StoredEndpoint>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredEndpoint {
    region: String,
    endpoint: String,
    state: HealthState,
}

/// Path of the health state file in `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// Reads the persisted verdicts. A missing file is an empty result; an
/// unreadable or corrupt one is logged, moved aside to
/// `health.json.corrupt-<RFC 3339 time>-<n>`, and also gives an empty result.
pub fn load(state_dir: &Path) -> HashMap<EndpointKey, HealthState> {
    let file = path(state_dir);
    let text = match std::fs::read(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return HashMap::new(),
        Err(e) => {
            tracing::warn!(path = %file.display(), error = %e,
                "cannot read persisted health state; starting from configured initial states");
            return HashMap::new();
        }
    };
    let parsed: Result<StateFile, String> = serde_json::from_slice::<StateFile>(&text)
        .map_err(|e| e.to_string())
        .and_then(|f| {
            if f.version == FORMAT_VERSION {
                Ok(f)
            } else {
                Err(format!("unsupported format version {}", f.version))
            }
        });
    match parsed {
        Ok(f) => f
            .endpoints
            .into_iter()
            .filter(|e| e.state != HealthState::Unknown)
            .map(|e| ((e.region, e.endpoint), e.state))
            .collect(),
        Err(error) => {
            // A unique name (time to the nanosecond and a counter): two
            // corrupt files moved aside in the same second both survive.
            let moved =
                crate::statedir::move_aside(state_dir, FILE_NAME, "corrupt", crate::clock::now());
            tracing::warn!(
                path = %file.display(),
                %error,
                moved_to = moved.as_ref().ok().map(|p| p.display().to_string()),
                move_error = moved.as_ref().err().map(|e| e.to_string()),
                "corrupt persisted health state; starting from configured initial states"
            );
            HashMap::new()
        }
    }
}

/// Writes `verdicts` durably: temp file, fsync, rename, fsync the directory.
pub(crate) fn save(
    state_dir: &Path,
    verdicts: &BTreeMap<EndpointKey, HealthState>,
) -> io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    let file = StateFile {
        version: FORMAT_VERSION,
        written_unix_ms: unix_ms(crate::clock::now()),
        endpoints: verdicts
            .iter()
            .map(|((region, endpoint), state)| StoredEndpoint {
                region: region.clone(),
                endpoint: endpoint.clone(),
                state: *state,
            })
            .collect(),
    };
    let bytes = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
    // A failed write (a full disk) leaves no temp file behind.
    crate::statedir::write_atomic(state_dir, FILE_NAME, &bytes)
}

/// Asks the writer task for a write; shared by the probe tasks.
#[derive(Debug, Default)]
pub struct StoreSignal {
    notify: Notify,
    dirty: AtomicBool,
}

impl StoreSignal {
    /// Marks the verdicts changed; the writer saves them soon.
    pub(crate) fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    /// Clears the dirty mark, returning whether it was set.
    fn take_dirty(&self) -> bool {
        self.dirty.swap(false, Ordering::AcqRel)
    }
}

/// Saves the registry's verdicts whenever `signal` says they changed, at
/// most every [`MIN_WRITE_INTERVAL`]. Runs until aborted.
pub(crate) async fn run_writer(
    state_dir: PathBuf,
    registry: HealthRegistry,
    signal: Arc<StoreSignal>,
) {
    loop {
        signal.notify.notified().await;
        flush(&state_dir, &registry, &signal).await;
        tokio::time::sleep(MIN_WRITE_INTERVAL).await;
    }
}

/// Writes now if anything changed since the last write.
pub async fn flush(state_dir: &Path, registry: &HealthRegistry, signal: &StoreSignal) {
    if !signal.take_dirty() {
        return;
    }
    let verdicts = registry.verdicts();
    let dir = state_dir.to_path_buf();
    let written = tokio::task::spawn_blocking(move || save(&dir, &verdicts)).await;
    match written {
        Ok(Ok(())) => tracing::debug!(path = %path(state_dir).display(), "saved health state"),
        Ok(Err(e)) => {
            // Keep it dirty so the next transition (or shutdown) retries.
            signal.dirty.store(true, Ordering::Release);
            tracing::warn!(path = %path(state_dir).display(), error = %e, "cannot save health state");
        }
        Err(e) => tracing::warn!(error = %e, "health state writer failed"),
    }
}

/// Writes synchronously if anything changed (for shutdown).
pub(crate) fn flush_blocking(state_dir: &Path, registry: &HealthRegistry, signal: &StoreSignal) {
    if signal.take_dirty()
        && let Err(e) = save(state_dir, &registry.verdicts())
    {
        tracing::warn!(path = %path(state_dir).display(), error = %e, "cannot save health state");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(r: &str, e: &str) -> EndpointKey {
        (r.to_string(), e.to_string())
    }

    #[test]
    fn saved_verdicts_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut verdicts = BTreeMap::new();
        verdicts.insert(key("us", "a"), HealthState::Down);
        verdicts.insert(key("eu", "b"), HealthState::Up);
        save(dir.path(), &verdicts).unwrap();
        let loaded = load(dir.path());
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[&key("us", "a")], HealthState::Down);
        assert_eq!(loaded[&key("eu", "b")], HealthState::Up);
        assert!(!dir.path().join("health.json.tmp").exists());
    }

    #[test]
    fn missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(&dir.path().join("absent")).is_empty());
    }

    #[test]
    fn corrupt_file_is_moved_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), b"{ not json").unwrap();
        assert!(load(dir.path()).is_empty());
        assert!(!path(dir.path()).exists());
        let aside: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert!(aside[0].starts_with("health.json.corrupt-"), "{aside:?}");
        let kept = std::fs::read(dir.path().join(&aside[0])).unwrap();
        assert_eq!(kept, b"{ not json");
    }

    #[test]
    fn future_format_version_is_treated_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            path(dir.path()),
            br#"{"version": 9, "written_unix_ms": 0, "endpoints": []}"#,
        )
        .unwrap();
        assert!(load(dir.path()).is_empty());
        assert!(!path(dir.path()).exists());
    }
}
