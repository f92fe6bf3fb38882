//! Wiring for `switchyard serve`: load, validate, build the first snapshot,
//! then bind. Tests start the same thing on port 0.

use std::path::Path;

use crate::publisher::{Publisher, PublisherHandle};
use crate::server::DnsServer;
use crate::snapshot::{Inputs, LoadError, SnapshotHandle};

/// A running Switchyard: DNS listeners plus the publisher behind them.
#[derive(Debug)]
pub struct App {
    /// The DNS listeners (their bound addresses are in `dns.local_addrs`).
    pub dns: DnsServer,
    /// Sends commands (reload) to the publisher.
    pub publisher: PublisherHandle,
    /// The snapshot the listeners answer from.
    pub snapshot: SnapshotHandle,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Config or zones are invalid.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// A listen address could not be bound.
    #[error("cannot bind DNS listener: {0}")]
    Bind(#[from] std::io::Error),
}

impl App {
    /// Loads and validates everything, publishes the first snapshot, and
    /// only then binds the listeners. Must run inside a tokio runtime.
    pub fn start(config_path: &Path) -> Result<App, StartError> {
        let inputs = Inputs::load(config_path)?;
        let server_config = inputs.config.server.clone();
        let publisher = Publisher::new(config_path.to_path_buf(), inputs);
        let snapshot = publisher.snapshot();
        let dns = DnsServer::bind(&server_config, snapshot.clone())?;
        Ok(App {
            dns,
            publisher: publisher.spawn(),
            snapshot,
        })
    }
}
