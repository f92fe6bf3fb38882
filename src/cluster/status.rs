//! Whether this instance's view of the cluster store is current: what
//! `/v1/status` (`cluster`), `/readyz` and the `switchyard_cluster_*`
//! metrics report. The watcher and the liveness probe update it; the API
//! only reads it.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use crate::overrides::time::format as rfc3339;

/// 1 while the store answers and the watch runs, else 0.
pub(crate) const CONNECTED: &str = "switchyard_cluster_connected";
/// Unix time since which the cluster state is stale (0 while current).
pub(crate) const STALE_SINCE: &str = "switchyard_cluster_stale_since_seconds";
/// Store revision of the cluster state this instance has applied.
pub(crate) const REVISION: &str = "switchyard_cluster_revision";

/// A point-in-time view, replaced whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    /// `local` or `etcd`.
    pub store: &'static str,
    /// This instance's name (etcd only).
    pub instance: Option<String>,
    /// Key prefix (etcd only).
    pub prefix: Option<String>,
    /// The store answers and the watch is running.
    pub connected: bool,
    /// Since when answers may lag the cluster (unset while current).
    pub stale_since: Option<SystemTime>,
    /// The latest store revision applied here.
    pub revision: i64,
    /// The latest error talking to the store.
    pub last_error: Option<String>,
}

impl ClusterStatus {
    /// The local file store: never stale.
    pub fn local() -> ClusterStatus {
        ClusterStatus {
            store: "local",
            instance: None,
            prefix: None,
            connected: true,
            stale_since: None,
            revision: 0,
            last_error: None,
        }
    }

    /// True when the cluster state served here may be out of date.
    pub fn stale(&self) -> bool {
        self.stale_since.is_some()
    }
}

/// The shared cell the API reads.
pub(crate) type ClusterStatusHandle = Arc<ArcSwap<ClusterStatus>>;

/// A handle for the local store (what `App` uses without `[cluster]`).
pub(crate) fn local_handle() -> ClusterStatusHandle {
    Arc::new(ArcSwap::from_pointee(ClusterStatus::local()))
}

/// Writes the status from the watcher and the liveness probe, which each
/// hold half of "connected".
#[derive(Debug, Clone)]
pub(crate) struct StatusCell {
    handle: ClusterStatusHandle,
    /// (watch running, probe succeeding); the lock only orders updates.
    parts: Arc<Mutex<(bool, bool)>>,
}

impl StatusCell {
    /// Starts disconnected and stale since now: nothing is known until the
    /// first full read of the store.
    pub(crate) fn new(instance: &str, prefix: &str) -> StatusCell {
        let status = ClusterStatus {
            store: "etcd",
            instance: Some(instance.to_string()),
            prefix: Some(prefix.to_string()),
            connected: false,
            stale_since: Some(crate::clock::now()),
            revision: 0,
            last_error: None,
        };
        metrics::describe_gauge!(
            CONNECTED,
            "1 while the cluster store (etcd) answers and the watch runs, else 0"
        );
        metrics::describe_gauge!(
            STALE_SINCE,
            "Unix time since which the cluster state served here is stale; 0 while current"
        );
        metrics::describe_gauge!(
            REVISION,
            "Cluster store revision of the state applied on this instance"
        );
        let cell = StatusCell {
            handle: Arc::new(ArcSwap::from_pointee(status)),
            parts: Arc::new(Mutex::new((false, false))),
        };
        cell.record(&cell.handle.load());
        cell
    }

    /// What the API reads.
    pub(crate) fn handle(&self) -> ClusterStatusHandle {
        self.handle.clone()
    }

    /// The current status.
    pub(crate) fn get(&self) -> ClusterStatus {
        (**self.handle.load()).clone()
    }

    /// The watch is running (true) or broken (false, with why).
    pub(crate) fn watch(&self, ok: bool, error: Option<String>) {
        self.update(|parts| parts.0 = ok, error);
    }

    /// The liveness probe succeeded (true) or failed (false, with why).
    pub(crate) fn probe(&self, ok: bool, error: Option<String>) {
        self.update(|parts| parts.1 = ok, error);
    }

    /// A revision has been applied.
    pub(crate) fn revision(&self, revision: i64) {
        let _parts = self.parts.lock().unwrap_or_else(|e| e.into_inner());
        let mut status = self.get();
        if revision > status.revision {
            status.revision = revision;
            self.record(&status);
            self.handle.store(Arc::new(status));
        }
    }

    fn update(&self, set: impl FnOnce(&mut (bool, bool)), error: Option<String>) {
        let mut parts = self.parts.lock().unwrap_or_else(|e| e.into_inner());
        set(&mut parts);
        let mut status = self.get();
        let connected = parts.0 && parts.1;
        if connected && !status.connected {
            if let Some(since) = status.stale_since {
                tracing::info!(
                    stale_since = rfc3339(since),
                    "cluster store reachable again; state current"
                );
            }
            status.stale_since = None;
        } else if !connected && status.stale_since.is_none() {
            tracing::warn!(
                error = error.as_deref().unwrap_or("-"),
                "cluster store unreachable: serving the last known state"
            );
            status.stale_since = Some(crate::clock::now());
        }
        status.connected = connected;
        if error.is_some() {
            status.last_error = error;
        }
        if status != **self.handle.load() {
            self.record(&status);
            self.handle.store(Arc::new(status));
        }
    }

    fn record(&self, status: &ClusterStatus) {
        metrics::gauge!(CONNECTED).set(if status.connected { 1.0 } else { 0.0 });
        let since = status
            .stale_since
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64());
        metrics::gauge!(STALE_SINCE).set(since);
        metrics::gauge!(REVISION).set(status.revision as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_only_when_watch_and_probe_both_work() {
        let cell = StatusCell::new("a", "/p/");
        assert!(cell.get().stale());
        cell.watch(true, None);
        assert!(!cell.get().connected, "the probe has not answered yet");
        cell.probe(true, None);
        let status = cell.get();
        assert!(status.connected && !status.stale());
        cell.probe(false, Some("no leader".into()));
        let stale = cell.get();
        assert!(!stale.connected);
        let since = stale.stale_since.expect("stale");
        // A second failure keeps the first time.
        cell.watch(false, Some("stream broke".into()));
        assert_eq!(cell.get().stale_since, Some(since));
        assert_eq!(cell.get().last_error.as_deref(), Some("stream broke"));
        cell.revision(7);
        cell.revision(5);
        assert_eq!(cell.get().revision, 7);
        assert!(cell.get().stale());
    }
}
