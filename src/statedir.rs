//! The state directory as a whole: one instance at a time (an exclusive
//! lock on `state_dir/lock`), no temp files left behind (removed at start
//! and on every failed write), and files moved aside under names that never
//! collide.
//!
//! The per-file stores (`overrides::store`, `health::store`, drill reports)
//! write through [`write_atomic`] and move bad files aside with
//! [`move_aside`].

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// The directory under the state dir holding drill reports
/// (`state_dir/drills/<id>.json`); here so that `privileges` can hand it
/// over without depending on `drills`.
pub const DRILLS_DIR: &str = "drills";

/// The lock file's name inside the state dir.
pub(crate) const LOCK_FILE: &str = "lock";

/// Suffix of the temp files [`write_atomic`] renames into place.
pub(crate) const TMP_SUFFIX: &str = ".tmp";

/// Why the state dir cannot be used by this process.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "state dir {dir} is in use by another switchyard (pid {holder}): two instances on one state dir would overwrite each other's overrides; \
         stop the other one or give this one its own state_dir"
    )]
    Busy {
        /// The state dir.
        dir: PathBuf,
        /// What the lock file says about its holder (a pid, or `unknown`).
        holder: String,
    },
    /// The lock file cannot be created or locked.
    #[error("state dir {dir}: cannot lock {}: {source}", dir.join(LOCK_FILE).display())]
    Io {
        /// The state dir.
        dir: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
}

/// Holds the state dir's exclusive lock until dropped (or the process
/// exits: the kernel releases `flock` locks with the descriptor).
#[derive(Debug)]
pub struct StateLock {
    /// The locked file; the lock lives as long as this descriptor.
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// Creates `dir` if needed and takes its lock without waiting; writes
    /// this process's id into the lock file for the next one's message.
    pub(crate) fn acquire(dir: &Path) -> Result<StateLock, LockError> {
        let io_err = |source| LockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(io_err)?;
        let path = dir.join(LOCK_FILE);
        // Not truncated before the lock is ours: the holder's pid stays readable.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path)
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "unknown".into());
                return Err(LockError::Busy {
                    dir: dir.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        file.set_len(0).map_err(io_err)?;
        writeln!(file, "{}", std::process::id()).map_err(io_err)?;
        Ok(StateLock { _file: file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Removes temp files (`*.tmp`) left in `dir` by a crash or a full disk.
/// Only run while holding the lock: another instance's temp file would be
/// in use. Returns the files removed.
pub(crate) fn clean_temp_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let is_tmp = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(TMP_SUFFIX));
        if is_tmp && entry.file_type().is_ok_and(|t| t.is_file()) {
            match fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot remove a leftover temp file")
                }
            }
        }
    }
    removed
}

/// Replaces `dir/name` with `bytes` durably: write `name.tmp`, fsync,
/// rename over `name`, fsync the directory (so the rename survives a power
/// cut). On any failure (a full disk) the temp file is removed, so nothing
/// is left behind and the old file is untouched.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, dir.join(name))
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(dir)?.sync_all()
}

/// Distinguishes names minted in the same nanosecond by this process.
static ASIDE_SEQ: AtomicU64 = AtomicU64::new(0);

/// Moves `dir/name` aside as `name.<tag>-<RFC 3339 time with nanoseconds>-<n>`
/// (`<n>` counts within this process), reserving the new name with
/// `create_new` first so nothing is ever overwritten. Returns the new path.
pub(crate) fn move_aside(
    dir: &Path,
    name: &str,
    tag: &str,
    now: SystemTime,
) -> io::Result<PathBuf> {
    let stamp = humantime::format_rfc3339_nanos(now).to_string();
    // Bounded: the counter makes every name new unless files from another
    // process (or a restored backup) already hold them.
    for _ in 0..1000 {
        let n = ASIDE_SEQ.fetch_add(1, Ordering::Relaxed);
        let target = dir.join(format!("{name}.{tag}-{stamp}-{n}"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
        {
            Ok(_) => {
                fs::rename(dir.join(name), &target)?;
                File::open(dir)?.sync_all()?;
                return Ok(target);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "cannot find a free name to move {name} aside"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(dir.path()).unwrap();
        let err = StateLock::acquire(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("in use by another switchyard")
                && text.contains(&std::process::id().to_string()),
            "{text}"
        );
        drop(first);
        StateLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn temp_files_are_cleaned_and_failed_writes_leave_none() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("overrides.json.tmp"), "half").unwrap();
        fs::write(dir.path().join("overrides.json"), "kept").unwrap();
        let removed = clean_temp_files(dir.path());
        assert_eq!(removed, [dir.path().join("overrides.json.tmp")]);
        assert!(dir.path().join("overrides.json").exists());

        // A rename onto a directory fails after the temp file is written.
        fs::create_dir(dir.path().join("blocked")).unwrap();
        fs::write(dir.path().join("blocked/x"), "").unwrap();
        assert!(write_atomic(dir.path(), "blocked", b"new").is_err());
        assert!(!dir.path().join("blocked.tmp").exists());
        write_atomic(dir.path(), "overrides.json", b"new").unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("overrides.json")).unwrap(),
            "new"
        );
    }

    #[test]
    fn files_moved_aside_in_the_same_instant_get_distinct_names() {
        let dir = tempfile::tempdir().unwrap();
        let now =
            SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(1_700_000_000_123_456_789);
        let mut moved = Vec::new();
        for content in ["one", "two"] {
            fs::write(dir.path().join("health.json"), content).unwrap();
            moved.push(move_aside(dir.path(), "health.json", "corrupt", now).unwrap());
        }
        assert_ne!(moved[0], moved[1]);
        let name = moved[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("health.json.corrupt-2023-11-14T22:13:20.123456789Z-"),
            "{name}"
        );
        assert_eq!(fs::read_to_string(&moved[0]).unwrap(), "one");
        assert_eq!(fs::read_to_string(&moved[1]).unwrap(), "two");
    }
}
