//! The publisher's side of a cluster store (`[cluster] store = "etcd"`):
//! the override set arrives whole from the cluster (the watcher, or the
//! write path after its compare-and-swap) and replaces ours. The publisher
//! stays the only snapshot writer; it also saves the set to the state dir,
//! so a restart while the store is unreachable serves the last known state.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use super::Publisher;
use crate::overrides::{ChangeError, OverrideSet, Report, Request};

/// A boxed, sendable future (the trait below must be object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where override changes go when they are shared by a cluster: the
/// cluster's write path (read, safety rule, compare-and-swap, publish).
/// A trait so the publisher does not depend on the cluster module.
pub trait SharedOverrides: Send + Sync + Debug {
    /// Applies `request` to the cluster's set; returns once the change is
    /// in the store and published here.
    fn change(&self, request: Request) -> BoxFuture<'_, Result<Report, ChangeError>>;
}

impl Publisher {
    /// Takes the cluster's set at `revision` (ignored when older than the
    /// one served: the watcher and the write path race), drops what has
    /// expired by our clock (the cluster removes it too, once), saves it
    /// locally and publishes. Returns the generation serving it.
    pub fn cluster_state(&mut self, set: OverrideSet, revision: i64, now: SystemTime) -> u64 {
        let current = self.snapshot.load().generation;
        if revision < self.cluster_revision {
            return current;
        }
        self.cluster_revision = revision;
        let (set, _) = set.expire(now);
        if set == *self.overrides {
            return current;
        }
        if let Err(e) = self.durable.store.save(&set) {
            // Serving it matters more than caching it; the next restart
            // without the store would serve the previous copy.
            tracing::error!(error = %e, "cannot save the cluster's overrides locally");
        }
        let known: Vec<&str> = self.overrides.iter().map(|o| o.id.as_str()).collect();
        let fresh: Vec<SystemTime> = set
            .iter()
            .filter(|o| !known.contains(&o.id.as_str()))
            .filter_map(|o| o.expires)
            .collect();
        self.overrides = Arc::new(set);
        for at in fresh {
            self.schedule_expiry(at);
        }
        let generation = self.publish();
        tracing::info!(revision, generation, "published the cluster's overrides");
        generation
    }
}
