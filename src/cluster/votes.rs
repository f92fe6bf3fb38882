//! Health votes: each instance's verdicts, counted across the cluster.
//!
//! ```text
//! health checker --HealthEvent--> writer: {prefix}votes/{instance}/{region}/{endpoint}
//!                                         (bound to the instance's lease)
//! mirror of {prefix}votes/ --+
//! this instance's verdicts --+--> counter: quorum over live votes --> publisher (report_health)
//! ```
//!
//! Every instance probes as it always did; instead of telling its own
//! publisher, it writes its verdict as a vote. The counter follows every
//! instance's votes and tells the publisher the *cluster's* verdict for
//! each endpoint by the `[health] quorum` rule, so each instance's answers
//! follow the same verdicts. A dead instance's votes vanish with its lease.
//! An endpoint nobody has voted on, and every endpoint while etcd cannot
//! be followed, gets this instance's own verdict (and the log and
//! `/v1/status` say so): answers then behave exactly as a lone instance's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::cluster::etcd::Etcd;
use crate::cluster::membership::LeaseWatch;
use crate::cluster::quorum::Quorum;
use crate::cluster::watched_prefix::{self, PrefixState};
use crate::health::scheduler::HealthEvent;
use crate::health::{EndpointKey, HealthRegistry, HealthState};
use crate::overrides::time::format as rfc3339;
use crate::publisher::PublisherHandle;
use crate::traffic::HealthInputs;

/// How often the writer retries failed writes and forgets endpoints that
/// are no longer checked.
const RECONCILE: Duration = Duration::from_millis(500);

/// The JSON of one vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Vote {
    /// The instance's verdict.
    pub up: bool,
    /// Why it failed, when down.
    pub reason: Option<String>,
    /// When the verdict was reached (RFC 3339).
    pub at: String,
}

/// What the vote tasks need.
#[derive(Debug, Clone)]
pub struct VoteSettings {
    /// `[cluster] prefix`.
    pub prefix: String,
    /// `[cluster] instance`.
    pub instance: String,
    /// `[health] quorum`.
    pub quorum: Quorum,
}

/// One endpoint's count, as `/v1/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Live votes that see it up.
    pub(crate) up: usize,
    /// Live votes that see it down.
    pub(crate) down: usize,
    /// The verdict the publisher was given.
    pub(crate) verdict: bool,
    /// Whether it came from the votes (else: this instance's own).
    pub(crate) from_votes: bool,
}

/// The counter's view, for the API.
#[derive(Debug, Clone)]
pub(crate) struct View {
    /// Verdicts come from the cluster's votes (etcd is followed).
    pub(crate) connected: bool,
    /// Since when `connected` has been what it is.
    pub(crate) since: SystemTime,
    /// Why etcd cannot be followed.
    pub(crate) error: Option<String>,
    /// Each endpoint's count, by (region, endpoint).
    pub(crate) tallies: BTreeMap<EndpointKey, Tally>,
}

/// The running vote tasks; dropping it stops them.
#[derive(Debug)]
pub struct Votes {
    /// What the API shows.
    pub view: VotesView,
    tasks: [tokio::task::JoinHandle<()>; 2],
}

/// The vote counter's state, for the API; cheap to clone.
#[derive(Debug, Clone)]
pub struct VotesView {
    quorum: Quorum,
    view: watch::Receiver<Arc<View>>,
}

impl Drop for Votes {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Votes {
    /// Starts writing this instance's verdicts (arriving on `events`, with
    /// `registry` holding the current ones) as votes under `lease`, and
    /// counting everyone's into `publisher`. `initial` is the health the
    /// publisher started from. Must run inside a tokio runtime.
    pub fn start(
        etcd: Etcd,
        settings: VoteSettings,
        lease: LeaseWatch,
        events: mpsc::UnboundedReceiver<HealthEvent>,
        registry: HealthRegistry,
        publisher: PublisherHandle,
        initial: HealthInputs,
    ) -> Votes {
        let prefix = format!("{}votes/", settings.prefix);
        let own = format!("{prefix}{}/", settings.instance);
        let local = own_verdicts(&registry);
        let (local_tx, local_rx) = watch::channel(Arc::new(
            local.iter().map(|(k, v)| (k.clone(), v.up)).collect(),
        ));
        let writer = tokio::spawn(write_votes(
            etcd.clone(),
            own,
            local,
            events,
            lease,
            registry,
            local_tx,
        ));
        let mirror = watched_prefix::spawn(etcd, prefix.clone().into_bytes());
        let (view_tx, view) = watch::channel(Arc::new(View {
            connected: false,
            since: crate::clock::now(),
            error: None,
            tallies: BTreeMap::new(),
        }));
        let counter = tokio::spawn(count_votes(
            mirror,
            local_rx,
            prefix,
            settings.quorum,
            publisher,
            initial,
            view_tx,
        ));
        Votes {
            view: VotesView {
                quorum: settings.quorum,
                view,
            },
            tasks: [writer, counter],
        }
    }
}

impl VotesView {
    /// The counter's state for `/v1/status`: the rule, and the view
    /// (whether verdicts come from the cluster's votes or, etcd
    /// unreachable, this instance's own; since when; each endpoint's count).
    pub(crate) fn status(&self) -> (&Quorum, Arc<View>) {
        (&self.quorum, self.view.borrow().clone())
    }
}

/// This instance's settled verdicts now.
fn own_verdicts(registry: &HealthRegistry) -> HashMap<EndpointKey, Vote> {
    registry
        .snapshot()
        .endpoints
        .into_iter()
        .filter(|s| s.state != HealthState::Unknown)
        .map(|s| {
            let vote = Vote {
                up: s.state.counts_as_up(),
                reason: s
                    .last_failure
                    .filter(|_| !s.state.counts_as_up())
                    .map(|r| r.to_string()),
                at: rfc3339(crate::clock::now()),
            };
            ((s.region, s.endpoint), vote)
        })
        .collect()
}

/// The writer: keeps `{own}{region}/{endpoint}` equal to this instance's
/// verdicts, bound to the current lease; rewrites everything when the
/// lease changes; retries what failed.
async fn write_votes(
    etcd: Etcd,
    own: String,
    mut local: HashMap<EndpointKey, Vote>,
    mut events: mpsc::UnboundedReceiver<HealthEvent>,
    mut lease: LeaseWatch,
    registry: HealthRegistry,
    local_tx: watch::Sender<Arc<HashMap<EndpointKey, bool>>>,
) {
    // What etcd holds: (lease, up) per endpoint.
    let mut written: HashMap<EndpointKey, (i64, bool)> = HashMap::new();
    let mut tick = tokio::time::interval(RECONCILE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let key_of = |(region, endpoint): &EndpointKey| format!("{own}{region}/{endpoint}");
    loop {
        let mut changed = false;
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return };
                apply(&mut local, event);
                while let Ok(event) = events.try_recv() {
                    apply(&mut local, event);
                }
                changed = true;
            }
            result = lease.changed() => {
                if result.is_err() {
                    return;
                }
            }
            _ = tick.tick() => {
                let checked: std::collections::HashSet<EndpointKey> = registry
                    .snapshot()
                    .endpoints
                    .into_iter()
                    .map(|s| (s.region, s.endpoint))
                    .collect();
                let before = local.len();
                local.retain(|k, _| checked.contains(k));
                changed = local.len() != before;
            }
        }
        if changed {
            local_tx.send_replace(Arc::new(
                local.iter().map(|(k, v)| (k.clone(), v.up)).collect(),
            ));
        }
        let Some(id) = *lease.borrow() else {
            continue;
        };
        // Stop at the first failure: etcd is away, and each attempt costs
        // a request timeout; the next tick retries.
        let mut failed = false;
        for (key, vote) in &local {
            if written.get(key) == Some(&(id, vote.up)) {
                continue;
            }
            let value = serde_json::to_vec(vote).unwrap_or_default();
            match etcd.put(key_of(key).as_bytes(), &value, Some(id)).await {
                Ok(_) => {
                    written.insert(key.clone(), (id, vote.up));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "cannot write a health vote; retrying");
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            continue;
        }
        let stale: Vec<EndpointKey> = written
            .keys()
            .filter(|k| !local.contains_key(*k))
            .cloned()
            .collect();
        for key in stale {
            if etcd.delete(key_of(&key).as_bytes()).await.is_err() {
                break;
            }
            written.remove(&key);
        }
    }
}

fn apply(local: &mut HashMap<EndpointKey, Vote>, event: HealthEvent) {
    let up = event.transition.to.counts_as_up();
    if event.transition.to == HealthState::Unknown {
        local.remove(&event.key);
        return;
    }
    local.insert(
        event.key,
        Vote {
            up,
            reason: event.reason.filter(|_| !up).map(|r| r.to_string()),
            at: rfc3339(crate::clock::now()),
        },
    );
}

/// Counts the live votes in `state` per endpoint: (up, down).
fn tally(state: &PrefixState, prefix: &str) -> HashMap<EndpointKey, (usize, usize)> {
    let mut tallies: HashMap<EndpointKey, (usize, usize)> = HashMap::new();
    for kv in state.entries.values() {
        let Some(rest) = kv.key.strip_prefix(prefix.as_bytes()) else {
            continue;
        };
        let rest = String::from_utf8_lossy(rest);
        // {instance}/{region}/{endpoint}; endpoint ids may hold anything.
        let mut parts = rest.splitn(3, '/');
        let (Some(_instance), Some(region), Some(endpoint)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(vote) = serde_json::from_slice::<Vote>(&kv.value) else {
            tracing::debug!(key = %rest, "unreadable health vote");
            continue;
        };
        let entry = tallies
            .entry((region.to_string(), endpoint.to_string()))
            .or_default();
        if vote.up {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    tallies
}

/// The counter: recomputes every endpoint's verdict when the votes or this
/// instance's verdicts change, and tells the publisher what changed.
async fn count_votes(
    mut mirror: watch::Receiver<Arc<PrefixState>>,
    mut local: watch::Receiver<Arc<HashMap<EndpointKey, bool>>>,
    prefix: String,
    quorum: Quorum,
    publisher: PublisherHandle,
    mut reported: HealthInputs,
    view_tx: watch::Sender<Arc<View>>,
) {
    let mut was_connected = None;
    loop {
        let state = mirror.borrow_and_update().clone();
        let own = local.borrow_and_update().clone();
        if was_connected != Some(state.connected) {
            if state.connected {
                tracing::info!(%quorum, "health verdicts follow the cluster's votes");
            } else if was_connected.is_some() {
                tracing::warn!(
                    error = state.error.as_deref().unwrap_or(""),
                    "etcd unreachable: health verdicts fall back to this instance's own probes"
                );
            }
            was_connected = Some(state.connected);
        }
        let counts = if state.connected {
            tally(&state, &prefix)
        } else {
            HashMap::new()
        };
        let mut keys: Vec<EndpointKey> = own.keys().cloned().collect();
        keys.extend(counts.keys().cloned());
        keys.extend(reported.keys().cloned());
        keys.sort();
        keys.dedup();
        let mut tallies = BTreeMap::new();
        for key in keys {
            let (up, down) = counts.get(&key).copied().unwrap_or_default();
            let (verdict, from_votes) = match quorum.verdict(down, up + down) {
                Some(verdict) => (verdict, true),
                None => (own.get(&key).copied().unwrap_or(true), false),
            };
            if reported.get(&key).copied().unwrap_or(true) != verdict {
                tracing::info!(
                    region = key.0,
                    endpoint = key.1,
                    up = verdict,
                    up_votes = up,
                    down_votes = down,
                    from_votes,
                    "cluster health verdict changed"
                );
                if publisher
                    .report_health(&key.0, &key.1, verdict)
                    .await
                    .is_err()
                {
                    return;
                }
                reported.insert(key.clone(), verdict);
            }
            tallies.insert(
                key,
                Tally {
                    up,
                    down,
                    verdict,
                    from_votes,
                },
            );
        }
        view_tx.send_replace(Arc::new(View {
            connected: state.connected,
            since: state.since,
            error: state.error.clone(),
            tallies,
        }));
        tokio::select! {
            changed = mirror.changed() => if changed.is_err() { return },
            changed = local.changed() => if changed.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::etcd::KeyValue;

    fn entry(key: &str, up: bool) -> (Vec<u8>, KeyValue) {
        let vote = Vote {
            up,
            reason: None,
            at: String::new(),
        };
        let kv = KeyValue {
            key: key.as_bytes().to_vec(),
            value: serde_json::to_vec(&vote).unwrap(),
            create_revision: 1,
            mod_revision: 1,
            version: 1,
            lease: 7,
        };
        (kv.key.clone(), kv)
    }

    #[test]
    fn tallies_votes_per_endpoint_across_instances() {
        let state = PrefixState {
            entries: [
                entry("/p/votes/a/eu/127.0.0.1:80", true),
                entry("/p/votes/b/eu/127.0.0.1:80", false),
                entry("/p/votes/c/eu/127.0.0.1:80", true),
                entry("/p/votes/a/us/name/with/slash", false),
                entry("/p/votes/malformed", false),
            ]
            .into_iter()
            .collect(),
            connected: true,
            since: crate::clock::now(),
            revision: 9,
            error: None,
        };
        let t = tally(&state, "/p/votes/");
        assert_eq!(t.len(), 2);
        assert_eq!(t[&("eu".into(), "127.0.0.1:80".into())], (2, 1));
        assert_eq!(t[&("us".into(), "name/with/slash".into())], (0, 1));
    }
}
