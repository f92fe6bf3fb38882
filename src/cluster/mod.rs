//! Many instances, one traffic manager: operator state shared through etcd
//! (`[cluster] store = "etcd"`). With the default local store none of this
//! runs and the state dir is the only store, exactly as before.
//!
//! - [`etcd`]: the etcd v3 JSON-gateway client.
//! - [`keys`]: the key layout under `[cluster] prefix`.
//! - [`doc`]: the JSON values (override set, drill reports).
//! - [`write`]: the write path: read, safety rule, compare-and-swap, with
//!   the audit line in the same transaction; cluster-wide expiry.
//! - [`sync`]: the watcher feeding the publisher, resuming from the last
//!   revision after an outage, and housekeeping (expiry, orphaned drills,
//!   audit cap).
//! - [`mirror`]: drill reports into the store.
//! - [`orphans`]: finishing the reports of drills whose verifier is gone.
//! - [`status`]: connected / stale-since / revision, for the API and metrics.
//! - [`import`]: `switchyard cluster import`.
//! - [`digest`]: the config digest each instance publishes (drift shows).
//! - [`quorum`]: `[health] quorum`, the rule turning votes into a verdict.
//! - [`watched_prefix`]: a watched local copy of one etcd prefix.
//! - [`membership`]: the instance's lease and `instances/` record.
//! - [`votes`]: health votes written under the lease and counted.
//! - [`instance`]: membership and votes started together, and their view.

pub mod doc;
pub mod etcd;
pub mod import;
pub mod keys;
pub mod mirror;
pub mod orphans;
pub mod status;
pub mod sync;
pub mod write;

pub use crate::load::digest;
pub mod instance;
pub mod membership;
pub use crate::config::quorum;
pub mod votes;
pub mod watched_prefix;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::config::ClusterConfig;
use crate::control::SettingsWatch;
use crate::drills::shared::SharedDrills;
use crate::overrides::audit::AuditLog;
use crate::publisher::PublisherHandle;
use crate::snapshot::SnapshotHandle;
use etcd::{Etcd, EtcdError, EtcdSettings};
use keys::Keys;
use status::{ClusterStatusHandle, StatusCell};
use sync::AbortOnDrop;
use write::ClusterWriter;

/// The running cluster link of one instance: its write path, the drill
/// seam, its status, and the background tasks (stopped on drop).
#[derive(Debug)]
pub struct ClusterLink {
    /// Where the publisher handle routes override changes.
    pub writer: Arc<ClusterWriter>,
    /// What the drill manager mirrors to and reads from.
    pub drills: SharedDrills,
    /// What the API reports.
    pub status: ClusterStatusHandle,
    /// Watcher and mirror tasks.
    _tasks: Vec<AbortOnDrop>,
}

/// Starts the cluster link when `[cluster] store = "etcd"` (`None` for the
/// local store). Never waits on etcd: the watcher connects in the
/// background and the instance serves its saved state meanwhile.
pub fn start(
    config: &ClusterConfig,
    publisher: &PublisherHandle,
    snapshot: &SnapshotHandle,
    settings: &SettingsWatch,
    audit: &AuditLog,
) -> Result<Option<ClusterLink>, EtcdError> {
    if !config.is_etcd() {
        return Ok(None);
    }
    let etcd = Etcd::new(EtcdSettings::from_config(config))?;
    let keys = Keys::new(&config.prefix);
    let instance = config.instance.clone();
    let status = StatusCell::new(&instance, &config.prefix);
    let writer = Arc::new(ClusterWriter::new(
        etcd.clone(),
        keys.clone(),
        instance.clone(),
        publisher.local(),
        snapshot.clone(),
        audit.clone(),
    ));
    let (drills_out, remote) = watch::channel(Arc::new(BTreeMap::new()));
    let (mirror_tx, mirror_rx) = mpsc::unbounded_channel();
    let watcher = sync::Watcher {
        etcd: etcd.clone(),
        keys: keys.clone(),
        instance: instance.clone(),
        publisher: publisher.local(),
        settings: settings.clone(),
        status: status.clone(),
        drills_out,
        audit_cap: sync::AUDIT_CAP,
    };
    let tasks = vec![
        AbortOnDrop(tokio::spawn(watcher.run())),
        AbortOnDrop(tokio::spawn(mirror::run(etcd, keys, instance, mirror_rx))),
    ];
    Ok(Some(ClusterLink {
        writer,
        drills: SharedDrills {
            mirror: mirror_tx,
            remote,
        },
        status: status.handle(),
        _tasks: tasks,
    }))
}
