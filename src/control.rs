//! Control-plane facts the publisher shares with the API, kept out of the
//! snapshot because the query path never needs them (and tokens are
//! secrets): the API tokens in force and the last reload's outcome.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::config::tokens::Tokens;

/// What the API reads besides the snapshot. Replaced whole by the publisher.
#[derive(Debug, Clone)]
pub struct ControlStatus {
    /// Tokens and read protection from the config in force.
    pub tokens: Arc<Tokens>,
    /// The outcome of the latest reload, if there has been one.
    pub last_reload: Option<ReloadReport>,
}

/// How a reload went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// When it finished.
    pub at: SystemTime,
    /// The generation it published, or why it failed (the old snapshot
    /// kept serving).
    pub result: Result<u64, String>,
}

/// The shared cell holding the current [`ControlStatus`].
pub(crate) type ControlHandle = Arc<ArcSwap<ControlStatus>>;
