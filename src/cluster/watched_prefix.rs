//! A local copy of every key under one etcd prefix, kept current by a
//! watch: read the prefix, watch from the revision after, apply events.
//! When the watch breaks (the member died, the network went) the copy is
//! marked disconnected and rebuilt by a fresh read as soon as any endpoint
//! answers, which also covers a compacted start revision: the state is the
//! key set, so a full read loses nothing.
//!
//! Membership and health votes each keep one; readers get
//! [`PrefixState`]s through a `watch` channel and never wait on etcd.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::cluster::etcd::{Etcd, EtcdError, KeyValue, WatchEvent};

/// Delay before the first retry after etcd failed; doubled up to
/// [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest delay between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The copy at one moment.
#[derive(Debug, Clone)]
pub struct PrefixState {
    /// Every key under the prefix (full keys) with its value and lease.
    pub entries: BTreeMap<Vec<u8>, KeyValue>,
    /// True while the watch is running; false before the first read and
    /// after the stream broke, until a new read succeeded.
    pub connected: bool,
    /// When `connected` last changed (start-up counts as a change).
    pub since: SystemTime,
    /// The etcd revision the copy reflects (0 before the first read).
    pub revision: i64,
    /// The last etcd error, while disconnected.
    pub error: Option<String>,
}

impl PrefixState {
    fn empty() -> PrefixState {
        PrefixState {
            entries: BTreeMap::new(),
            connected: false,
            since: crate::clock::now(),
            revision: 0,
            error: None,
        }
    }
}

/// Starts mirroring `prefix`; the task stops when every receiver is gone.
pub fn spawn(etcd: Etcd, prefix: Vec<u8>) -> watch::Receiver<Arc<PrefixState>> {
    let (tx, rx) = watch::channel(Arc::new(PrefixState::empty()));
    tokio::spawn(run(etcd, prefix, tx));
    rx
}

async fn run(etcd: Etcd, prefix: Vec<u8>, tx: watch::Sender<Arc<PrefixState>>) {
    let mut backoff = MIN_BACKOFF;
    let mut state = PrefixState::empty();
    while !tx.is_closed() {
        let error = match follow(&etcd, &prefix, &tx, &mut state).await {
            Ok(()) => return,
            Err(e) => e,
        };
        let was_connected = state.connected;
        state.connected = false;
        state.error = Some(error.to_string());
        if was_connected {
            state.since = crate::clock::now();
            tracing::warn!(prefix = %String::from_utf8_lossy(&prefix), error = %error,
                "etcd watch broke; keeping the last known state until it resumes");
            backoff = MIN_BACKOFF;
        }
        tx.send_replace(Arc::new(state.clone()));
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Reads the prefix and follows it until the watch fails; `Ok` only when
/// nobody is listening any more.
async fn follow(
    etcd: &Etcd,
    prefix: &[u8],
    tx: &watch::Sender<Arc<PrefixState>>,
    state: &mut PrefixState,
) -> Result<(), EtcdError> {
    let (entries, revision) = etcd.get_prefix(prefix).await?;
    let mut watch = etcd.watch_prefix(prefix, revision + 1).await?;
    state.entries = entries.into_iter().map(|kv| (kv.key.clone(), kv)).collect();
    state.revision = revision;
    if !state.connected {
        state.connected = true;
        state.since = crate::clock::now();
        state.error = None;
        tracing::info!(prefix = %String::from_utf8_lossy(prefix), revision, "following etcd");
    }
    tx.send_replace(Arc::new(state.clone()));
    loop {
        let batch = tokio::select! {
            batch = watch.next() => batch?,
            _ = tx.closed() => return Ok(()),
        };
        for event in batch.events {
            match event {
                WatchEvent::Put(kv) => {
                    state.entries.insert(kv.key.clone(), kv);
                }
                WatchEvent::Delete { key, .. } => {
                    state.entries.remove(&key);
                }
            }
        }
        state.revision = state.revision.max(batch.revision);
        tx.send_replace(Arc::new(state.clone()));
    }
}
