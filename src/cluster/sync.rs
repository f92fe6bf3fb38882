//! The cluster watcher: keeps this instance's copy of the shared state
//! (overrides, drill reports, audit keys, live instances) in step with the
//! store, and hands the override set to the publisher, which stays the
//! only snapshot writer. No query waits on any of this.
//!
//! It reads the whole prefix once (at start, and again whenever the watch
//! cannot resume because its revision was compacted), then watches from
//! the next revision. When the store breaks it keeps the last state,
//! marks it stale, and resumes the watch from the last revision it
//! applied once the store answers again, so no update is lost.
//!
//! Housekeeping runs here too, on any live instance: removing expired
//! overrides from the store (once for the cluster, by compare-and-swap),
//! finishing the reports of drills whose verifier is gone, and capping the
//! audit trail.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::doc::{SharedDrill, decode_drill, decode_overrides, encode_drill};
use super::etcd::{
    Compare, CompareOp, CompareTarget, Etcd, EtcdError, KeyValue, TxnOp, WatchBatch, WatchEvent,
};
use super::keys::{Key, Keys};
use super::orphans::{finish_report, verifier_lost};
use super::status::StatusCell;
use super::write::expire_due;
use crate::control::SettingsWatch;
use crate::drills::report::{DrillReport, Phase};
use crate::overrides::OverrideSet;
use crate::publisher::PublisherHandle;

/// Housekeeping period (expiry is checked this often; the publisher has
/// already dropped an expired override locally, on time).
const TICK: Duration = Duration::from_millis(250);
/// Liveness probe period.
const PROBE: Duration = Duration::from_secs(1);
/// First and longest wait between reconnection attempts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));
/// Audit lines kept in the store (older ones are deleted).
pub(crate) const AUDIT_CAP: usize = 10_000;

/// What the watcher needs.
#[derive(Debug)]
pub(crate) struct Watcher {
    pub(super) etcd: Etcd,
    pub(super) keys: Keys,
    pub(super) instance: String,
    /// Without cluster routing: the watcher only hands over state.
    pub(super) publisher: PublisherHandle,
    /// For `[drills]` settings (the restore bound).
    /// The control-plane settings (`[drills] converge_timeout`).
    pub(super) settings: SettingsWatch,
    pub(super) status: StatusCell,
    /// Every drill report in the store, for the drill manager.
    pub(super) drills_out: watch::Sender<Arc<BTreeMap<String, DrillReport>>>,
    pub(super) audit_cap: usize,
}

/// The watcher's copy of the store.
#[derive(Debug, Default)]
struct Mirror {
    overrides: OverrideSet,
    overrides_revision: i64,
    drills: BTreeMap<String, (SharedDrill, i64)>,
    audit: BTreeSet<Vec<u8>>,
    instances: BTreeSet<String>,
    /// The latest revision applied: the watch resumes after it.
    revision: i64,
}

/// What an event changed.
#[derive(Debug, Default)]
struct Changed {
    overrides: bool,
    drills: bool,
}

impl Watcher {
    /// Runs until the runtime stops; see the module docs.
    pub(crate) async fn run(self) {
        let probe = tokio::spawn(probe(
            self.etcd.clone(),
            self.keys.clone(),
            self.status.clone(),
        ));
        let _probe = AbortOnDrop(probe);
        let mut mirror = Mirror::default();
        let mut synced = false;
        let mut backoff = BACKOFF.0;
        loop {
            if !synced {
                match self.full_sync(&mut mirror).await {
                    Ok(()) => synced = true,
                    Err(e) => {
                        self.status.watch(false, Some(e.to_string()));
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(BACKOFF.1);
                        continue;
                    }
                }
            }
            let start = mirror.revision + 1;
            let mut watch = match self
                .etcd
                .watch_prefix(self.keys.prefix().as_bytes(), start)
                .await
            {
                Ok(watch) => watch,
                Err(EtcdError::Compacted { compact_revision }) => {
                    tracing::warn!(
                        start,
                        compact_revision,
                        "cluster watch cannot resume (compacted): reading everything again"
                    );
                    synced = false;
                    continue;
                }
                Err(e) => {
                    self.status.watch(false, Some(e.to_string()));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF.1);
                    continue;
                }
            };
            tracing::info!(from_revision = start, "watching the cluster store");
            self.status.watch(true, None);
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    batch = watch.next() => match batch {
                        Ok(batch) => {
                            // A watch that delivers is healthy again: the
                            // next break starts backing off from the start.
                            backoff = BACKOFF.0;
                            self.apply(&mut mirror, batch).await;
                        }
                        Err(EtcdError::Compacted { compact_revision }) => {
                            tracing::warn!(compact_revision, "cluster watch compacted: reading everything again");
                            synced = false;
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, revision = mirror.revision, "cluster watch broke; resuming from the last revision");
                            self.status.watch(false, Some(e.to_string()));
                            // A member that accepts a watch and ends it at
                            // once must not turn this into a busy loop.
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(BACKOFF.1);
                            break;
                        }
                    },
                    _ = tick.tick() => self.housekeeping(&mirror).await,
                }
            }
        }
    }

    /// Reads the whole prefix and replaces the copy.
    async fn full_sync(&self, mirror: &mut Mirror) -> Result<(), EtcdError> {
        let (kvs, revision) = self.etcd.get_prefix(self.keys.prefix().as_bytes()).await?;
        let mut fresh = Mirror {
            revision,
            // No document yet: no overrides, as of this revision.
            overrides_revision: revision,
            ..Mirror::default()
        };
        let mut found = false;
        for kv in &kvs {
            if self.keys.classify(&kv.key) == Some(Key::Overrides) {
                found = true;
            }
            self.put(&mut fresh, kv);
        }
        if !found {
            tracing::info!(
                prefix = self.keys.prefix(),
                "no override document in the cluster store yet: serving none (`switchyard cluster import` copies a local state dir)"
            );
        }
        *mirror = fresh;
        tracing::info!(revision, keys = kvs.len(), "read the cluster state");
        self.publish(
            mirror,
            &Changed {
                overrides: true,
                drills: true,
            },
        )
        .await;
        Ok(())
    }

    /// Applies one watch batch.
    async fn apply(&self, mirror: &mut Mirror, batch: WatchBatch) {
        let mut changed = Changed::default();
        for event in &batch.events {
            let c = match event {
                WatchEvent::Put(kv) => {
                    mirror.revision = mirror.revision.max(kv.mod_revision);
                    self.put(mirror, kv)
                }
                WatchEvent::Delete { key, mod_revision } => {
                    mirror.revision = mirror.revision.max(*mod_revision);
                    self.delete(mirror, key, *mod_revision)
                }
            };
            changed.overrides |= c.overrides;
            changed.drills |= c.drills;
        }
        mirror.revision = mirror.revision.max(batch.revision);
        self.publish(mirror, &changed).await;
        if mirror.audit.len() > self.audit_cap + self.audit_cap / 10 {
            self.prune_audit(mirror);
        }
    }

    /// Hands changes on; records the revision.
    async fn publish(&self, mirror: &Mirror, changed: &Changed) {
        if changed.overrides {
            let _ = self
                .publisher
                .cluster_state(mirror.overrides.clone(), mirror.overrides_revision)
                .await;
        }
        if changed.drills {
            let reports = mirror
                .drills
                .iter()
                .map(|(id, (d, _))| (id.clone(), d.report.clone()))
                .collect();
            self.drills_out.send_replace(Arc::new(reports));
        }
        self.status.revision(mirror.revision);
    }

    fn put(&self, mirror: &mut Mirror, kv: &KeyValue) -> Changed {
        let mut changed = Changed::default();
        match self.keys.classify(&kv.key) {
            Some(Key::Overrides) => match decode_overrides(&kv.value) {
                Ok(set) => {
                    mirror.overrides = set;
                    mirror.overrides_revision = kv.mod_revision;
                    changed.overrides = true;
                }
                Err(e) => {
                    // Never serve a bad document; keep the last good one.
                    tracing::error!(revision = kv.mod_revision, error = %e, "corrupt override document in the cluster store; keeping the last good set");
                    self.status.watch(
                        true,
                        Some(format!(
                            "corrupt override document at revision {}: {e}",
                            kv.mod_revision
                        )),
                    );
                }
            },
            Some(Key::Drill(id)) => match decode_drill(&kv.value) {
                Ok(drill) => {
                    mirror
                        .drills
                        .insert(id.to_string(), (drill, kv.mod_revision));
                    changed.drills = true;
                }
                Err(e) => {
                    tracing::warn!(drill = id, error = %e, "skipping unreadable drill report in the cluster store")
                }
            },
            Some(Key::Audit) => {
                mirror.audit.insert(kv.key.clone());
            }
            Some(Key::Instance(name)) => {
                mirror.instances.insert(name.to_string());
            }
            Some(Key::Other) | None => {}
        }
        changed
    }

    fn delete(&self, mirror: &mut Mirror, key: &[u8], revision: i64) -> Changed {
        let mut changed = Changed::default();
        match self.keys.classify(key) {
            Some(Key::Overrides) => {
                mirror.overrides = OverrideSet::default();
                mirror.overrides_revision = revision;
                changed.overrides = true;
            }
            Some(Key::Drill(id)) => {
                changed.drills = mirror.drills.remove(id).is_some();
            }
            Some(Key::Audit) => {
                mirror.audit.remove(key);
            }
            Some(Key::Instance(name)) => {
                mirror.instances.remove(name);
            }
            Some(Key::Other) | None => {}
        }
        changed
    }

    /// Expiry and orphaned drills; only while the store answers (a write
    /// that cannot land would only hold the watch up).
    async fn housekeeping(&self, mirror: &Mirror) {
        if !self.status.get().connected {
            return;
        }
        let now = crate::clock::now();
        if mirror.overrides.iter().any(|o| o.expired(now)) {
            match expire_due(&self.etcd, &self.keys, &self.instance, now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    removed = n,
                    "removed expired overrides from the cluster store"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot remove expired overrides from the cluster store yet")
                }
            }
        }
        let restore = self.settings.borrow().drills.converge_timeout;
        for (id, (drill, revision)) in &mirror.drills {
            if drill.report.phase == Phase::Finished {
                continue;
            }
            let ours = mirror
                .overrides
                .iter()
                .any(|o| o.drill.as_deref() == Some(id.as_str()));
            if let Some(reason) = verifier_lost(drill, ours, &mirror.instances, restore, now) {
                self.finish_orphan(id, drill, *revision, &reason, now).await;
            }
        }
    }

    /// Finishes a drill report whose verifier is gone, once for the cluster
    /// (compare-and-swap on the report's revision).
    async fn finish_orphan(
        &self,
        id: &str,
        drill: &SharedDrill,
        revision: i64,
        reason: &str,
        now: SystemTime,
    ) {
        let report = finish_report(&drill.report, &drill.verifier, reason, &self.instance, now);
        let value = encode_drill(&SharedDrill {
            verifier: drill.verifier.clone(),
            report,
        });
        let key = self.keys.drill(id);
        let compare = vec![Compare {
            key: key.clone(),
            op: CompareOp::Equal,
            target: CompareTarget::ModRevision(revision),
        }];
        match self
            .etcd
            .txn(
                compare,
                vec![TxnOp::Put {
                    key,
                    value,
                    lease: None,
                }],
                Vec::new(),
            )
            .await
        {
            Ok(r) if r.succeeded => tracing::warn!(
                drill = id,
                verifier = drill.verifier,
                reason,
                "drill verifier lost: finished its report for the cluster"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(drill = id, error = %e, "cannot finish an orphaned drill report yet")
            }
        }
    }

    /// Deletes the oldest audit keys beyond the cap (idempotent: instances
    /// racing to do it delete the same keys).
    fn prune_audit(&self, mirror: &Mirror) {
        let excess = mirror.audit.len().saturating_sub(self.audit_cap);
        let ops: Vec<TxnOp> = mirror
            .audit
            .iter()
            .take(excess.min(100))
            .map(|key| TxnOp::Delete { key: key.clone() })
            .collect();
        let etcd = self.etcd.clone();
        tokio::spawn(async move {
            if let Err(e) = etcd.txn(Vec::new(), ops, Vec::new()).await {
                tracing::debug!(error = %e, "cannot prune the cluster audit trail yet");
            }
        });
    }
}

/// Probes the store (a linearizable read, which fails without a quorum
/// even when the member we watch still answers) every second.
async fn probe(etcd: Etcd, keys: Keys, status: StatusCell) {
    let mut tick = tokio::time::interval(PROBE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match etcd.get(&keys.overrides()).await {
            Ok(_) => status.probe(true, None),
            Err(e) => status.probe(false, Some(e.to_string())),
        }
    }
}

/// Aborts a task when dropped.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
