//! Wiring for `switchyard serve`: load, validate, build the first snapshot,
//! then bind. Tests start the same thing on port 0.

use std::path::Path;

use crate::health::{self, HealthChecker};
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
    /// Probes checked endpoints; its registry is the control plane's view
    /// of their health. Dropping it stops the probes.
    pub health: HealthChecker,
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
    /// only then binds the listeners and starts health checks. Must run
    /// inside a tokio runtime.
    ///
    /// The first snapshot already carries the last known health from
    /// `state_dir`, so a restart never answers with a target that was down.
    pub fn start(config_path: &Path) -> Result<App, StartError> {
        let inputs = Inputs::load(config_path)?;
        let server_config = inputs.config.server.clone();
        let persisted = health::store::load(&server_config.state_dir);
        let initial = health::initial_states(&inputs.health, &persisted);
        let publisher = Publisher::with_health(
            config_path.to_path_buf(),
            inputs,
            health::health_inputs(&initial),
        );
        let snapshot = publisher.snapshot();
        let plans = publisher.health_plan();
        let dns = DnsServer::bind(&server_config, snapshot.clone())?;
        let publisher = publisher.spawn();
        let health = HealthChecker::start(
            plans,
            initial,
            publisher.clone(),
            server_config.state_dir.clone(),
        );
        Ok(App {
            dns,
            publisher,
            snapshot,
            health,
        })
    }
}
