//! Mirrors the drill reports this instance saves into the store
//! (`{prefix}drills/{id}`), tagged with this instance as their verifier.
//! Reports are saved locally first (that never waits on the store); the
//! latest version of each waits here until the store takes it, so a drill
//! started during an outage shows up cluster-wide once the store is back.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;

use super::doc::{SharedDrill, encode_drill};
use super::etcd::Etcd;
use super::keys::Keys;
use crate::drills::shared::MirrorOp;

/// Retry period while the store does not answer.
const RETRY: Duration = Duration::from_millis(500);

/// Runs until every sender is dropped.
pub async fn run(
    etcd: Etcd,
    keys: Keys,
    instance: String,
    mut ops: mpsc::UnboundedReceiver<MirrorOp>,
) {
    // Latest op per drill id, not yet in the store.
    let mut pending: BTreeMap<String, MirrorOp> = BTreeMap::new();
    loop {
        if pending.is_empty() {
            match ops.recv().await {
                Some(op) => insert(&mut pending, op),
                None => return,
            }
        }
        while let Ok(op) = ops.try_recv() {
            insert(&mut pending, op);
        }
        let ids: Vec<String> = pending.keys().cloned().collect();
        for id in ids {
            let result = match &pending[&id] {
                MirrorOp::Save(report) => {
                    let value = encode_drill(&SharedDrill {
                        verifier: instance.clone(),
                        report: (**report).clone(),
                    });
                    etcd.put(&keys.drill(&id), &value, None).await.map(|_| ())
                }
                MirrorOp::Forget(_) => etcd.delete(&keys.drill(&id)).await.map(|_| ()),
            };
            match result {
                Ok(()) => {
                    pending.remove(&id);
                }
                Err(e) => {
                    tracing::debug!(drill = id, error = %e, "drill report not in the cluster store yet; retrying");
                    break;
                }
            }
        }
        if !pending.is_empty() {
            tokio::time::sleep(RETRY).await;
        }
    }
}

fn insert(pending: &mut BTreeMap<String, MirrorOp>, op: MirrorOp) {
    let id = match &op {
        MirrorOp::Save(report) => report.id.clone(),
        MirrorOp::Forget(id) => id.clone(),
    };
    pending.insert(id, op);
}
