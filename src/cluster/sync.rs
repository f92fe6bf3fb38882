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
use super::status::StatusCell;
use super::write::expire_due;
use crate::drills::report::{DrillReport, Phase, Verdict};
use crate::overrides::OverrideSet;
use crate::publisher::PublisherHandle;
use crate::snapshot::SnapshotHandle;

/// Housekeeping period (expiry is checked this often; the publisher has
/// already dropped an expired override locally, on time).
const TICK: Duration = Duration::from_millis(250);
/// Liveness probe period.
const PROBE: Duration = Duration::from_secs(1);
/// First and longest wait between reconnection attempts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));
/// How long after its deadline (plus the restore bound) a drill's report
/// may stay unfinished before another instance declares its verifier lost.
const VERIFIER_GRACE: Duration = Duration::from_secs(5);
/// Audit lines kept in the store (older ones are deleted).
pub const AUDIT_CAP: usize = 10_000;

/// What the watcher needs.
#[derive(Debug)]
pub struct Watcher {
    pub(super) etcd: Etcd,
    pub(super) keys: Keys,
    pub(super) instance: String,
    /// Without cluster routing: the watcher only hands over state.
    pub(super) publisher: PublisherHandle,
    /// For `[drills]` settings (the restore bound).
    pub(super) snapshot: SnapshotHandle,
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
    pub async fn run(self) {
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
        let now = SystemTime::now();
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
        let restore = self.snapshot.load().drills.converge_timeout;
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

/// Why a running drill's verifier is considered lost, if it is: the
/// report is still unfinished well past the time a live verifier would
/// have finished it (deadline or rollback, plus the restore bound and a
/// grace), or membership shows its instance gone while the drill's
/// overrides are already gone too.
pub fn verifier_lost(
    drill: &SharedDrill,
    overrides_left: bool,
    instances: &BTreeSet<String>,
    restore: Duration,
    now: SystemTime,
) -> Option<String> {
    let report = &drill.report;
    let ended = report
        .rolled_back
        .unwrap_or(report.ends_at)
        .min(report.ends_at);
    if now >= ended + restore + VERIFIER_GRACE {
        return Some(format!(
            "verifier {} lost: the report was not finished within {} s of the drill's end",
            drill.verifier,
            (restore + VERIFIER_GRACE).as_secs()
        ));
    }
    if !instances.is_empty() && !instances.contains(&drill.verifier) && !overrides_left {
        return Some(format!(
            "verifier {} lost: it is no longer a live instance",
            drill.verifier
        ));
    }
    None
}

/// The finished form of an orphaned report: rolled back at its deadline
/// (the cluster removed its overrides then), pairs not yet decided marked
/// failed with the reason, and the loss on the timeline.
pub fn finish_report(
    report: &DrillReport,
    verifier: &str,
    reason: &str,
    by: &str,
    now: SystemTime,
) -> DrillReport {
    let mut report = report.clone();
    if report.rolled_back.is_none() {
        let at = report.ends_at.min(now);
        report.rolled_back = Some(at);
        report.rollback_reason =
            Some("expired (rolled back by the cluster at its deadline)".into());
        report.event(
            at,
            "rolled_back",
            Some("the cluster removed the drill's overrides".into()),
        );
    }
    for pair in &mut report.pairs {
        if pair.result == Verdict::Pending {
            pair.fail(format!("not verified to the end: {reason}"));
        }
    }
    report.event(
        now,
        "verifier_lost",
        Some(format!(
            "{reason}; finished by {by} (verifier was {verifier})"
        )),
    );
    report.phase = Phase::Finished;
    report.finished = Some(now);
    report.summarize();
    report.event(
        now,
        "finished",
        Some(format!("{}: verifier lost", report.result.as_str())),
    );
    report
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
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drills::report::{Impact, PairReport};
    use std::time::UNIX_EPOCH;

    fn drill(verifier: &str) -> SharedDrill {
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        SharedDrill {
            verifier: verifier.into(),
            report: DrillReport {
                id: "dr-1".into(),
                regions: vec!["us".into()],
                services: vec!["fo.example.com.".into()],
                who: "alice".into(),
                why: "practice".into(),
                duration_secs: 60,
                scheduled: None,
                phase: Phase::Running,
                result: Verdict::Pending,
                created: start,
                started: start,
                ends_at: start + Duration::from_secs(60),
                rolled_back: None,
                rollback_reason: None,
                finished: None,
                overrides: vec!["ov-1".into()],
                timeline: Vec::new(),
                pairs: vec![PairReport::pending(
                    "fo.example.com.".into(),
                    "any".into(),
                    "198.18.0.0/24".into(),
                )],
                impact: Impact {
                    detection_ms: 0,
                    max_ttl_secs: 5,
                    max_convergence_ms: None,
                    worst_case_ms: None,
                },
            },
        }
    }

    #[test]
    fn a_verifier_is_lost_only_well_after_the_end_or_when_it_left() {
        let d = drill("a");
        let end = d.report.ends_at;
        let restore = Duration::from_secs(2);
        let none = BTreeSet::new();
        let live: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        let gone: BTreeSet<String> = ["b".to_string()].into();
        // Before the end plus restore plus grace, a silent verifier may
        // still be finishing.
        assert!(verifier_lost(&d, true, &none, restore, end).is_none());
        assert!(verifier_lost(&d, false, &none, restore, end + Duration::from_secs(6)).is_none());
        assert!(verifier_lost(&d, false, &none, restore, end + Duration::from_secs(7)).is_some());
        // Membership says it left, and its overrides are gone: now.
        assert!(verifier_lost(&d, false, &live, restore, end).is_none());
        assert!(verifier_lost(&d, true, &gone, restore, end).is_none());
        let why = verifier_lost(&d, false, &gone, restore, end).unwrap();
        assert!(why.contains("verifier a lost"), "{why}");
    }

    #[test]
    fn an_orphaned_report_is_finished_rolled_back_at_its_deadline() {
        let d = drill("a");
        let now = d.report.ends_at + Duration::from_secs(10);
        let report = finish_report(&d.report, "a", "verifier a lost", "b", now);
        assert_eq!(report.phase, Phase::Finished);
        assert_eq!(report.finished, Some(now));
        assert_eq!(report.rolled_back, Some(d.report.ends_at));
        assert_eq!(report.result, Verdict::Fail);
        assert!(report.has_event("verifier_lost") && report.has_event("finished"));
        assert!(
            report.pairs[0]
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("not verified to the end")),
            "{:?}",
            report.pairs[0]
        );
    }
}
