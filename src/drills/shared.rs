//! Drills shared through a cluster store: the manager mirrors every report
//! it saves (the instance that starts a drill verifies it), and shows the
//! reports other instances mirrored. The cluster module does the store I/O;
//! this is only the seam, so drills do not depend on it.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::report::DrillReport;

/// A change to mirror into the cluster store.
#[derive(Debug, Clone)]
pub enum MirrorOp {
    /// The report was saved locally: store this version.
    Save(Box<DrillReport>),
    /// The drill never started (its overrides were refused): forget it.
    Forget(String),
}

/// The manager's link to the cluster.
#[derive(Debug, Clone)]
pub struct SharedDrills {
    /// Where saved reports go (never blocks: the store may be down).
    pub mirror: mpsc::UnboundedSender<MirrorOp>,
    /// Every drill report in the cluster store, by id, as last watched.
    pub remote: watch::Receiver<Arc<BTreeMap<String, DrillReport>>>,
}
