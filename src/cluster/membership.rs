//! Instance membership: every instance holds one etcd lease (TTL from
//! `[cluster] lease_ttl_secs`, kept alive at a third of it) and keeps
//! `{prefix}instances/{instance}` bound to it, holding its config digest,
//! the generation of the snapshot it serves, when it started and when it
//! last reached etcd. The record is rewritten at every keepalive and when
//! a new snapshot is published (at most once a second for the latter). An instance that dies stops its
//! keepalives; etcd deletes its record (and its health votes, bound to the
//! same lease) when the lease runs out.
//!
//! [`Members`] is what the API reads: the instances seen through a mirror
//! of `{prefix}instances/`, live while their record exists, kept as not
//! live (with their last record) once it vanished. In local mode it lists
//! only this instance.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::cluster::etcd::{Etcd, EtcdError};
use crate::cluster::watched_prefix::{self, PrefixState};
use crate::overrides::time::format as rfc3339;
use crate::snapshot::{Snapshot, SnapshotHandle};

/// How often the membership task looks for a newly published snapshot.
const GENERATION_POLL: Duration = Duration::from_millis(100);
/// At most one record write per this interval for new generations: under a
/// stream of writes every instance publishes many times a second, and each
/// record write is an fsync on every etcd member.
const MIN_RECORD_INTERVAL: Duration = Duration::from_secs(1);

/// The JSON stored at `{prefix}instances/{instance}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InstanceRecord {
    /// The instance's name (`[cluster] instance`).
    pub instance: String,
    /// Its [config digest](crate::cluster::digest).
    pub config_digest: String,
    /// The generation of the snapshot it serves.
    pub generation: u64,
    /// When it started (RFC 3339).
    pub started: String,
    /// When it last wrote this record (RFC 3339).
    pub last_contact: String,
}

/// The lease an instance's records are bound to: `None` while it has none
/// (etcd unreachable, or the lease expired and a new one is being granted).
pub(crate) type LeaseWatch = watch::Receiver<Option<i64>>;

/// The membership view the API shows; cheap to clone.
#[derive(Debug, Clone)]
pub struct Members {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// This instance's name.
    instance: String,
    /// When this instance started.
    started: SystemTime,
    /// The mirror of `{prefix}instances/`; `None` in local mode.
    mirror: Option<(String, watch::Receiver<Arc<PrefixState>>)>,
    /// Every instance seen since start, with its last record, so that one
    /// whose lease ran out still shows (as not live).
    seen: Mutex<BTreeMap<String, InstanceRecord>>,
}

impl Members {
    /// Local mode: only this instance.
    pub fn local(instance: &str) -> Members {
        Members {
            inner: Arc::new(Inner {
                instance: instance.to_string(),
                started: crate::clock::now(),
                mirror: None,
                seen: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// This instance's name.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// Each instance as `/v1/status` shows it: its record and whether the
    /// record is live (an instance whose lease expired stays listed, not
    /// live), sorted by name. In local mode, this instance alone.
    pub(crate) fn instances(
        &self,
        snapshot: &Snapshot,
        now: SystemTime,
    ) -> Vec<(InstanceRecord, bool)> {
        let Some((prefix, mirror)) = &self.inner.mirror else {
            let own = InstanceRecord {
                instance: self.inner.instance.clone(),
                config_digest: snapshot.config_digest.get().to_string(),
                generation: snapshot.generation,
                started: rfc3339(self.inner.started),
                last_contact: rfc3339(now),
            };
            return vec![(own, true)];
        };
        let state = mirror.borrow().clone();
        let mut live = BTreeMap::new();
        for kv in state.entries.values() {
            let Some(name) = kv.key.strip_prefix(prefix.as_bytes()) else {
                continue;
            };
            match serde_json::from_slice::<InstanceRecord>(&kv.value) {
                Ok(record) => {
                    live.insert(String::from_utf8_lossy(name).into_owned(), record);
                }
                Err(e) => tracing::debug!(error = %e, "unreadable instance record"),
            }
        }
        let mut seen = self.inner.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.extend(live.iter().map(|(k, v)| (k.clone(), v.clone())));
        seen.iter()
            .map(|(name, record)| {
                // Named by its key, as the record's own field could differ.
                let record = InstanceRecord {
                    instance: name.clone(),
                    ..record.clone()
                };
                (record, live.contains_key(name))
            })
            .collect()
    }

    /// Whether this view follows etcd, and since when it has (or has not)
    /// been able to; `None` in local mode.
    pub fn etcd_view(&self) -> Option<(bool, SystemTime)> {
        let (_, mirror) = self.inner.mirror.as_ref()?;
        let state = mirror.borrow();
        Some((state.connected, state.since))
    }
}

/// What the membership task needs.
#[derive(Debug, Clone)]
pub struct MembershipSettings {
    /// `[cluster] prefix`.
    pub prefix: String,
    /// `[cluster] instance`.
    pub instance: String,
    /// `[cluster] lease_ttl_secs`.
    pub lease_ttl: Duration,
}

/// The running membership: the API's view, and the lease the health votes
/// bind to. Dropping it stops the keepalives (the lease then expires).
#[derive(Debug)]
pub struct Membership {
    /// What `/v1/status` shows.
    pub members: Members,
    /// The current lease.
    pub lease: LeaseWatch,
    task: tokio::task::JoinHandle<()>,
    etcd: Etcd,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Membership {
    /// Starts holding a lease and writing this instance's record, and
    /// mirroring everyone's. Must run inside a tokio runtime; never waits
    /// for etcd (a missing etcd shows as no lease and a stale view).
    pub fn start(etcd: Etcd, settings: MembershipSettings, snapshot: SnapshotHandle) -> Membership {
        let instances = format!("{}instances/", settings.prefix);
        let mirror = watched_prefix::spawn(etcd.clone(), instances.clone().into_bytes());
        let started = crate::clock::now();
        let members = Members {
            inner: Arc::new(Inner {
                instance: settings.instance.clone(),
                started,
                mirror: Some((instances.clone(), mirror)),
                seen: Mutex::new(BTreeMap::new()),
            }),
        };
        let (lease_tx, lease) = watch::channel(None);
        let task = tokio::spawn(hold_lease(
            etcd.clone(),
            settings,
            format!("{instances}{}", members.instance()),
            started,
            snapshot,
            lease_tx,
        ));
        Membership {
            members,
            lease,
            task,
            etcd,
        }
    }

    /// Leaves the cluster at once: revokes the lease, so this instance's
    /// record and votes vanish now rather than at the lease's expiry.
    pub async fn leave(&self) {
        self.task.abort();
        if let Some(id) = *self.lease.borrow() {
            let _ = self.etcd.lease_revoke(id).await;
        }
    }
}

/// Holds the lease: grants one, keeps it alive at a third of its TTL,
/// writes the record at every keepalive and on every new generation, and
/// grants a fresh lease (rewriting everything bound to it) when the old
/// one is gone.
async fn hold_lease(
    etcd: Etcd,
    settings: MembershipSettings,
    key: String,
    started: SystemTime,
    snapshot: SnapshotHandle,
    lease_tx: watch::Sender<Option<i64>>,
) {
    let ttl = settings.lease_ttl.max(Duration::from_secs(1));
    let refresh = ttl / 3;
    let mut lease: Option<(i64, tokio::time::Instant)> = None;
    let mut written_generation = 0;
    let mut last_write = tokio::time::Instant::now();
    let mut next_refresh = tokio::time::Instant::now();
    let mut poll = tokio::time::interval(GENERATION_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        poll.tick().await;
        let now = tokio::time::Instant::now();
        let current = snapshot.load();
        let new_generation = current.generation != written_generation
            && lease.is_some()
            && last_write.elapsed() >= MIN_RECORD_INTERVAL;
        if now < next_refresh && !new_generation {
            continue;
        }
        let due = now >= next_refresh;
        if due {
            // Without a lease, retry sooner: the votes wait for it.
            next_refresh = now
                + if lease.is_some() {
                    refresh
                } else {
                    refresh.min(Duration::from_secs(1))
                };
        }
        let outcome: Result<(), EtcdError> = async {
            let id = match lease {
                Some((id, last_ok)) if due => match etcd.lease_keepalive(id).await {
                    Ok(left) if !left.is_zero() => {
                        lease = Some((id, tokio::time::Instant::now()));
                        id
                    }
                    Ok(_) => {
                        tracing::warn!(lease = id, "etcd lease expired; taking a new one");
                        lease = None;
                        lease_tx.send_replace(None);
                        grant(&etcd, ttl, &mut lease, &lease_tx).await?
                    }
                    Err(e) => {
                        // Past its TTL without a keepalive, the lease is
                        // gone for etcd too: start over when it answers.
                        if last_ok.elapsed() >= ttl {
                            lease = None;
                            lease_tx.send_replace(None);
                        }
                        return Err(e);
                    }
                },
                Some((id, _)) => id,
                None => grant(&etcd, ttl, &mut lease, &lease_tx).await?,
            };
            let record = InstanceRecord {
                instance: settings.instance.clone(),
                config_digest: current.config_digest.get().to_string(),
                generation: current.generation,
                started: rfc3339(started),
                last_contact: rfc3339(crate::clock::now()),
            };
            let value = serde_json::to_vec(&record).unwrap_or_default();
            etcd.put(key.as_bytes(), &value, Some(id)).await?;
            written_generation = current.generation;
            last_write = tokio::time::Instant::now();
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            tracing::debug!(error = %e, "cannot refresh this instance's membership in etcd");
            // Retry at the next poll only when due again, so an unreachable
            // etcd costs one attempt per refresh interval.
            written_generation = current.generation;
        }
    }
}

async fn grant(
    etcd: &Etcd,
    ttl: Duration,
    lease: &mut Option<(i64, tokio::time::Instant)>,
    lease_tx: &watch::Sender<Option<i64>>,
) -> Result<i64, EtcdError> {
    let id = etcd.lease_grant(ttl).await?;
    *lease = Some((id, tokio::time::Instant::now()));
    lease_tx.send_replace(Some(id));
    tracing::info!(
        lease = id,
        ttl_secs = ttl.as_secs(),
        "holding an etcd lease"
    );
    Ok(id)
}
