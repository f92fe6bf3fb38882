//! The publisher: the single writer of the routing table.
//!
//! It owns the inputs (config path, current config and zones), rebuilds the
//! snapshot with the pure [`Snapshot::build`] when asked, and swaps it in.
//! A failed reload keeps the old snapshot serving and reports why.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot};

use crate::snapshot::{Inputs, LoadError, Snapshot, SnapshotHandle};
use crate::traffic::HealthInputs;

/// What the publisher can be asked to do.
#[derive(Debug)]
pub enum Command {
    /// Re-read config and zones from disk; reply with the new generation.
    Reload(Option<oneshot::Sender<Result<u64, String>>>),
    /// An endpoint's health verdict changed (from a health checker).
    SetHealth {
        /// Region name.
        region: String,
        /// Endpoint id within the region.
        endpoint: String,
        /// The new verdict.
        up: bool,
        /// Replies with the generation that carries the change.
        reply: Option<oneshot::Sender<u64>>,
    },
}

/// A cheap, cloneable way to send the publisher commands.
#[derive(Debug, Clone)]
pub struct PublisherHandle {
    commands: mpsc::Sender<Command>,
}

impl PublisherHandle {
    /// Asks for a reload and waits for its outcome.
    pub async fn reload(&self) -> Result<u64, String> {
        let (reply, outcome) = oneshot::channel();
        self.commands
            .send(Command::Reload(Some(reply)))
            .await
            .map_err(|_| "publisher has stopped".to_string())?;
        outcome
            .await
            .map_err(|_| "publisher has stopped".to_string())?
    }

    /// Records an endpoint health verdict; returns once a snapshot carrying
    /// it is published (with its generation).
    pub async fn set_health(&self, region: &str, endpoint: &str, up: bool) -> Result<u64, String> {
        let (reply, published) = oneshot::channel();
        self.commands
            .send(Command::SetHealth {
                region: region.to_string(),
                endpoint: endpoint.to_string(),
                up,
                reply: Some(reply),
            })
            .await
            .map_err(|_| "publisher has stopped".to_string())?;
        published
            .await
            .map_err(|_| "publisher has stopped".to_string())
    }
}

/// The single writer; see the module docs.
#[derive(Debug)]
pub struct Publisher {
    config_path: PathBuf,
    inputs: Inputs,
    health: HealthInputs,
    snapshot: SnapshotHandle,
}

impl Publisher {
    /// Builds the first snapshot from already-validated inputs.
    pub fn new(config_path: PathBuf, inputs: Inputs) -> Publisher {
        let health = HealthInputs::new();
        let first = Snapshot::build(&inputs, &health, 1, SystemTime::now());
        metrics::gauge!("switchyard_snapshot_generation").set(1.0);
        Publisher {
            config_path,
            inputs,
            health,
            snapshot: Arc::new(ArcSwap::from_pointee(first)),
        }
    }

    /// The handle the query path reads from.
    pub fn snapshot(&self) -> SnapshotHandle {
        self.snapshot.clone()
    }

    /// The inputs currently served.
    pub fn inputs(&self) -> &Inputs {
        &self.inputs
    }

    /// Reloads config and zones and publishes a new snapshot; on error the
    /// current snapshot stays.
    pub fn reload(&mut self) -> Result<u64, LoadError> {
        let started = Instant::now();
        let inputs = match Inputs::load(&self.config_path) {
            Ok(inputs) => inputs,
            Err(e) => {
                metrics::counter!("switchyard_reloads_total", "result" => "failure").increment(1);
                tracing::error!(error = %e, "reload failed; still serving the previous snapshot");
                return Err(e);
            }
        };
        if inputs.config.server.dns_listen != self.inputs.config.server.dns_listen {
            tracing::warn!("server.dns_listen changed: listeners change only on restart");
        }
        self.inputs = inputs;
        let generation = self.publish();
        metrics::counter!("switchyard_reloads_total", "result" => "success").increment(1);
        tracing::info!(
            generation,
            zones = self.inputs.zones.len(),
            services = self.inputs.plan.services.len(),
            load_ms = started.elapsed().as_secs_f64() * 1e3,
            "reloaded config and zones"
        );
        Ok(generation)
    }

    /// Records a health verdict and publishes the result.
    pub fn set_health(&mut self, region: String, endpoint: String, up: bool) -> u64 {
        tracing::info!(region, endpoint, up, "endpoint health changed");
        self.health.insert((region, endpoint), up);
        self.publish()
    }

    /// Builds a snapshot from the current inputs and health and swaps it in.
    fn publish(&mut self) -> u64 {
        let generation = self.snapshot.load().generation + 1;
        let next = Snapshot::build(&self.inputs, &self.health, generation, SystemTime::now());
        self.snapshot.store(Arc::new(next));
        metrics::gauge!("switchyard_snapshot_generation").set(generation as f64);
        tracing::debug!(generation, "published snapshot");
        generation
    }

    /// Runs the publisher until every [`PublisherHandle`] is dropped.
    pub fn spawn(mut self) -> PublisherHandle {
        let (commands, mut rx) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Some(command) = rx.recv().await {
                match command {
                    Command::Reload(reply) => {
                        let outcome = self.reload().map_err(|e| e.to_string());
                        if let Some(reply) = reply {
                            let _ = reply.send(outcome);
                        }
                    }
                    Command::SetHealth {
                        region,
                        endpoint,
                        up,
                        reply,
                    } => {
                        let generation = self.set_health(region, endpoint, up);
                        if let Some(reply) = reply {
                            let _ = reply.send(generation);
                        }
                    }
                }
            }
        });
        PublisherHandle { commands }
    }
}
