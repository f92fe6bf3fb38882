//! The cluster's write path: read the override set from the store,
//! compute the change and check the safety rule against *that* set, then
//! compare-and-swap it on the document's `mod_revision`, with the audit line
//! in the same transaction. A lost race re-reads and re-evaluates, so two
//! conflicting writes sent to two instances at once cannot both pass the
//! rule: the second one sees the first and is refused (409).
//!
//! Expiry goes the same way ([`expire_due`]): any instance may remove the
//! overrides whose time has come; the compare-and-swap makes the removal
//! (and its audit line) happen once for the cluster, whoever made them and
//! whether or not that instance is alive.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::doc::{decode_overrides, encode_overrides};
use super::etcd::{Compare, CompareOp, CompareTarget, Etcd, EtcdError, TxnOp};
use super::keys::Keys;
use crate::overrides::audit::{AuditLog, Entry, Outcome};
use crate::overrides::{Applied, ChangeError, OverrideSet, Report, Request};
use crate::publisher::{Evaluation, PublisherHandle, SharedOverrides, change_for};
use crate::snapshot::SnapshotHandle;

/// Attempts before a write gives up under contention (each attempt is one
/// read and one transaction; losing means another write landed).
const MAX_ATTEMPTS: u32 = 32;

/// How long a write keeps retrying while etcd is briefly unavailable (a
/// leader election after a member is lost takes about a second) before it
/// answers 503.
const PATIENCE: Duration = Duration::from_secs(3);

/// Pause between retries while etcd is unavailable.
const RETRY: Duration = Duration::from_millis(100);

/// A store error worth retrying within [`PATIENCE`]: no endpoint could
/// serve right now. (A corrupt document or refused credentials will not fix
/// themselves by waiting.)
fn transient(e: &ChangeError) -> bool {
    matches!(e, ChangeError::ClusterUnavailable(m) if m.starts_with(UNAVAILABLE))
}

/// Prefix of the messages of [`transient`] errors.
const UNAVAILABLE: &str = "etcd unavailable";

/// The set in the store and the revision to compare against (0: no
/// document yet, which etcd compares as `mod_revision` 0).
pub(crate) async fn read_overrides(
    etcd: &Etcd,
    keys: &Keys,
) -> Result<(OverrideSet, i64), ChangeError> {
    let (kv, _) = etcd.get(&keys.overrides()).await.map_err(unavailable)?;
    match kv {
        None => Ok((OverrideSet::default(), 0)),
        Some(kv) => {
            let set = decode_overrides(&kv.value).map_err(|e| {
                ChangeError::ClusterUnavailable(format!(
                    "the override document {} in the store is corrupt: {e}",
                    String::from_utf8_lossy(&keys.overrides())
                ))
            })?;
            Ok((set, kv.mod_revision))
        }
    }
}

/// Maps a store error to the API's 503 (keeping etcd's wording, which
/// [`transient`] relies on: `etcd unavailable: ...`).
pub fn unavailable(e: EtcdError) -> ChangeError {
    ChangeError::ClusterUnavailable(e.to_string())
}

/// An audit line as a put in the store's transaction.
fn audit_put(keys: &Keys, instance: &str, entry: &Entry) -> TxnOp {
    TxnOp::Put {
        key: keys.audit(entry.time, instance),
        value: serde_json::to_vec(&AuditRecord { instance, entry }).unwrap_or_default(),
        lease: None,
    }
}

/// The value of an audit key: the local audit line plus the instance.
#[derive(serde::Serialize)]
struct AuditRecord<'a> {
    instance: &'a str,
    #[serde(flatten)]
    entry: &'a Entry,
}

/// "Only if the document is still at `revision`".
fn unchanged(keys: &Keys, revision: i64) -> Vec<Compare> {
    vec![Compare {
        key: keys.overrides(),
        op: CompareOp::Equal,
        target: CompareTarget::ModRevision(revision),
    }]
}

/// Audit lines for overrides found expired while writing.
fn expired_entries(
    gone: &[crate::overrides::Override],
    now: SystemTime,
    instance: &str,
) -> Vec<Entry> {
    gone.iter()
        .map(|o| Entry {
            time: now,
            who: "system".into(),
            what: o.describe(),
            why: o.why.clone(),
            result: Outcome::Expired,
            detail: Some(format!("made by {}; removed by {instance}", o.who)),
        })
        .collect()
}

/// Writes override changes to the cluster store.
#[derive(Debug)]
pub struct ClusterWriter {
    etcd: Etcd,
    keys: Keys,
    instance: String,
    /// The publisher without cluster routing (we are the routing).
    publisher: PublisherHandle,
    /// For the plan the safety rule is evaluated on.
    snapshot: SnapshotHandle,
    /// This instance's own audit log, which keeps its lines as before.
    audit: AuditLog,
    /// Mints override ids.
    rng: Mutex<fastrand::Rng>,
}

impl ClusterWriter {
    /// A writer for `instance`'s API and drills.
    pub fn new(
        etcd: Etcd,
        keys: Keys,
        instance: String,
        publisher: PublisherHandle,
        snapshot: SnapshotHandle,
        audit: AuditLog,
    ) -> ClusterWriter {
        ClusterWriter {
            etcd,
            keys,
            instance,
            publisher: publisher.local(),
            snapshot,
            audit,
            rng: Mutex::new(fastrand::Rng::new()),
        }
    }

    /// Read, check, compare-and-swap, publish; see the module docs.
    /// Retries while etcd is briefly unavailable (up to [`PATIENCE`]); a
    /// transaction whose outcome is unknown (the answer was lost) is
    /// recognised on the next read, so a retry never applies it twice.
    pub async fn apply(&self, request: Request) -> Result<Report, ChangeError> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        // The set a transaction with an unknown outcome would have stored.
        let mut in_doubt: Option<(OverrideSet, Applied, Entry)> = None;
        let mut attempts = 0;
        loop {
            match self.attempt(&request, &mut in_doubt).await {
                Attempt::Done(result) => return result,
                Attempt::Lost => {
                    attempts += 1;
                    if attempts >= MAX_ATTEMPTS {
                        return Err(ChangeError::ClusterUnavailable(format!(
                            "{MAX_ATTEMPTS} compare-and-swap attempts lost to other writes; try again"
                        )));
                    }
                    // Another write landed first: re-read and decide again.
                    let jitter = self
                        .rng
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .u64(1..20);
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                }
                Attempt::Unavailable(e) => {
                    if tokio::time::Instant::now() + RETRY >= deadline {
                        metrics::counter!("switchyard_override_changes_total", "result" => "failed")
                            .increment(1);
                        tracing::warn!(who = request.who, error = %e, "override change not applied: the cluster store is unavailable");
                        let now = crate::clock::now();
                        let what = {
                            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
                            change_for(&request, &OverrideSet::default(), &mut rng, now).describe()
                        };
                        self.audit.record_or_log(&Entry {
                            time: now,
                            who: request.who.clone(),
                            what,
                            why: request.why.clone(),
                            result: Outcome::Failed,
                            detail: Some(e.to_string()),
                        });
                        return Err(e);
                    }
                    tracing::debug!(error = %e, "cluster store unavailable; retrying the write");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    /// One read-decide-swap round.
    async fn attempt(
        &self,
        request: &Request,
        in_doubt: &mut Option<(OverrideSet, Applied, Entry)>,
    ) -> Attempt {
        let (stored, revision) = match read_overrides(&self.etcd, &self.keys).await {
            Ok(read) => read,
            Err(e) if transient(&e) => return Attempt::Unavailable(e),
            Err(e) => return Attempt::Done(Err(e)),
        };
        if let Some((next, applied, line)) = in_doubt.take()
            && stored == next
        {
            // The earlier transaction did land.
            return Attempt::Done(self.landed(next, applied, &line, &[], revision).await);
        }
        let now = crate::clock::now();
        // Expired overrides are gone for the rule, and this write removes
        // them from the store (audited once, here).
        let (current, gone) = stored.expire(now);
        // The publisher judges the change (plan, health, safety rule).
        let (what, outcome) = match self
            .publisher
            .evaluate(request.clone(), current.clone())
            .await
        {
            Ok(evaluated) => evaluated,
            Err(e) => return Attempt::Done(Err(e)),
        };
        let entry = |result: Outcome, detail: String| Entry {
            time: now,
            who: request.who.clone(),
            what: what.clone(),
            why: request.why.clone(),
            result,
            detail: Some(detail),
        };
        let Evaluation {
            next,
            applied,
            forced_past,
            ..
        } = match outcome {
            Ok(evaluation) => evaluation,
            Err(e) => {
                let result = e.count_outcome();
                let line = entry(result, format!("{e} (store revision {revision})"));
                self.audit.record_or_log(&line);
                // Refusals are part of the cluster's trail too; best effort.
                let _ = self
                    .etcd
                    .txn(
                        Vec::new(),
                        vec![audit_put(&self.keys, &self.instance, &line)],
                        Vec::new(),
                    )
                    .await;
                tracing::warn!(who = request.who, what, error = %e, "override change not applied");
                return Attempt::Done(Err(e));
            }
        };
        if next == current && gone.is_empty() {
            // Nothing to write (ending a drill already rolled back).
            let generation = self.snapshot.load().generation;
            return Attempt::Done(Ok(Report {
                generation,
                applied,
            }));
        }
        let detail = applied.audit_detail(format!("instance {}", self.instance), &forced_past);
        let line = entry(Outcome::Ok, detail);
        let expired = expired_entries(&gone, now, &self.instance);
        let mut ops = vec![TxnOp::Put {
            key: self.keys.overrides(),
            value: encode_overrides(&next),
            lease: None,
        }];
        ops.push(audit_put(&self.keys, &self.instance, &line));
        ops.extend(
            expired
                .iter()
                .map(|e| audit_put(&self.keys, &self.instance, e)),
        );
        match self
            .etcd
            .txn(unchanged(&self.keys, revision), ops, Vec::new())
            .await
        {
            Ok(response) if response.succeeded => Attempt::Done(
                self.landed(next, applied, &line, &expired, response.revision)
                    .await,
            ),
            Ok(_) => {
                tracing::debug!(revision, "override compare-and-swap lost; retrying");
                Attempt::Lost
            }
            Err(e) => {
                // It may or may not have landed: the next read tells.
                *in_doubt = Some((next, applied, line));
                Attempt::Unavailable(unavailable(e))
            }
        }
    }

    /// The change is in the store at `revision`: publish it here, audit it
    /// locally, report it.
    async fn landed(
        &self,
        next: OverrideSet,
        applied: Applied,
        line: &Entry,
        expired: &[Entry],
        revision: i64,
    ) -> Result<Report, ChangeError> {
        let generation = self.publisher.cluster_state(next, revision).await?;
        self.audit.record_or_log(&Entry {
            detail: Some(format!(
                "{}; generation {generation}; store revision {revision}",
                line.detail.clone().unwrap_or_default(),
            )),
            ..line.clone()
        });
        for e in expired {
            self.audit.record_or_log(e);
        }
        tracing::info!(
            who = line.who,
            what = line.what,
            revision,
            generation,
            "override change applied to the cluster"
        );
        metrics::counter!("switchyard_override_changes_total", "result" => "ok").increment(1);
        Ok(Report {
            generation,
            applied,
        })
    }
}

/// How one round of [`ClusterWriter::apply`] ended.
enum Attempt {
    /// Finished: applied, refused or failed for good.
    Done(Result<Report, ChangeError>),
    /// The compare-and-swap lost to another write.
    Lost,
    /// etcd could not serve; worth retrying for a while.
    Unavailable(ChangeError),
}

impl SharedOverrides for ClusterWriter {
    fn change(
        &self,
        request: Request,
    ) -> crate::publisher::BoxFuture<'_, Result<Report, ChangeError>> {
        Box::pin(self.apply(request))
    }
}

/// Removes the overrides expired at `now` from the store, once for the
/// cluster: the compare-and-swap fails for every instance but the first,
/// and the re-read finds nothing left to do. Returns how many it removed.
pub(crate) async fn expire_due(
    etcd: &Etcd,
    keys: &Keys,
    instance: &str,
    now: SystemTime,
) -> Result<usize, ChangeError> {
    for _ in 0..MAX_ATTEMPTS {
        let (stored, revision) = read_overrides(etcd, keys).await?;
        let (next, gone) = stored.expire(now);
        if gone.is_empty() {
            return Ok(0);
        }
        let mut ops = vec![TxnOp::Put {
            key: keys.overrides(),
            value: encode_overrides(&next),
            lease: None,
        }];
        ops.extend(
            expired_entries(&gone, now, instance)
                .iter()
                .map(|e| audit_put(keys, instance, e)),
        );
        let response = etcd
            .txn(unchanged(keys, revision), ops, Vec::new())
            .await
            .map_err(unavailable)?;
        if response.succeeded {
            for o in &gone {
                tracing::info!(
                    id = o.id,
                    region = o.region,
                    made_by = o.who,
                    "override expired; removed from the cluster store"
                );
            }
            // (Counted as expired by each publisher as it drops them.)
            return Ok(gone.len());
        }
    }
    Err(ChangeError::ClusterUnavailable(
        "expiry lost every compare-and-swap attempt".into(),
    ))
}
