//! The publisher: the single writer of the routing table.
//!
//! It owns the inputs (config path, current config and zones), rebuilds the
//! snapshot with the pure [`Snapshot::build`] when asked, and swaps it in.
//! A failed reload keeps the old snapshot serving and reports why.
//!
//! Operator overrides arrive here too: each change is checked against the
//! safety rule, persisted to the state dir, and only then published and
//! audited, all inside this one task, so no two changes interleave and a
//! refused or failed change leaves nothing half-applied. Expiries come back
//! as [`Command::ExpireDue`] from timers the publisher sets itself.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot};

use crate::control::{ControlHandle, ControlStatus, ReloadReport};
use crate::overrides::store::Durable;
use crate::overrides::{ChangeError, OverrideSet, Report, Request};
use crate::snapshot::{Inputs, LoadError, Snapshot, SnapshotHandle};
use crate::traffic::HealthInputs;

// Override changes and expiry: `impl Publisher` continued in publisher/overrides.rs.
mod overrides;

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
    /// Apply an operator's override change (create, delete, force clear).
    Override {
        /// The change.
        request: Request,
        /// Replies with the outcome.
        reply: oneshot::Sender<Result<Report, ChangeError>>,
    },
    /// Some override may have reached its expiry: drop the expired ones.
    ExpireDue,
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

    /// Applies an override change; returns once it is persisted and
    /// published, or why it was not.
    pub async fn change_overrides(&self, request: Request) -> Result<Report, ChangeError> {
        let (reply, outcome) = oneshot::channel();
        self.commands
            .send(Command::Override { request, reply })
            .await
            .map_err(|_| ChangeError::Stopped)?;
        outcome.await.map_err(|_| ChangeError::Stopped)?
    }
}

/// The single writer; see the module docs.
#[derive(Debug)]
pub struct Publisher {
    config_path: PathBuf,
    inputs: Inputs,
    health: HealthInputs,
    snapshot: SnapshotHandle,
    /// Active operator overrides (shared with the snapshots built from them).
    overrides: Arc<OverrideSet>,
    /// Where overrides are persisted and changes audited.
    durable: Durable,
    /// Tokens and last reload, for the API.
    control: ControlHandle,
    /// Mints override ids.
    rng: fastrand::Rng,
    /// Lets expiry timers reach the command loop without keeping it alive.
    expiry_tx: Option<mpsc::WeakSender<Command>>,
}

impl Publisher {
    /// Builds the first snapshot from already-validated inputs and the
    /// overrides restored from the state dir.
    pub fn new(config_path: PathBuf, inputs: Inputs, mut durable: Durable) -> Publisher {
        let health = HealthInputs::new();
        let overrides = Arc::new(std::mem::take(&mut durable.overrides));
        let first = Snapshot::build_with(&inputs, &health, &overrides, 1, SystemTime::now());
        metrics::gauge!("switchyard_snapshot_generation").set(1.0);
        let control = Arc::new(ArcSwap::from_pointee(ControlStatus {
            tokens: inputs.tokens.clone(),
            last_reload: None,
        }));
        Publisher {
            config_path,
            inputs,
            health,
            snapshot: Arc::new(ArcSwap::from_pointee(first)),
            overrides,
            durable,
            control,
            rng: fastrand::Rng::new(),
            expiry_tx: None,
        }
    }

    /// The control-plane status the API reads.
    pub fn control(&self) -> ControlHandle {
        self.control.clone()
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
                self.report_reload(Err(e.to_string()));
                return Err(e);
            }
        };
        if inputs.config.server.dns_listen != self.inputs.config.server.dns_listen {
            tracing::warn!("server.dns_listen changed: listeners change only on restart");
        }
        self.inputs = inputs;
        let generation = self.publish();
        self.report_reload(Ok(generation));
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

    /// Records a reload's outcome (and the tokens now in force) for the API.
    fn report_reload(&self, result: Result<u64, String>) {
        self.control.store(Arc::new(ControlStatus {
            tokens: self.inputs.tokens.clone(),
            last_reload: Some(ReloadReport {
                at: SystemTime::now(),
                result,
            }),
        }));
    }

    /// Builds a snapshot from the current inputs and health and swaps it in.
    fn publish(&mut self) -> u64 {
        let generation = self.snapshot.load().generation + 1;
        let next = Snapshot::build_with(
            &self.inputs,
            &self.health,
            &self.overrides,
            generation,
            SystemTime::now(),
        );
        self.snapshot.store(Arc::new(next));
        metrics::gauge!("switchyard_snapshot_generation").set(generation as f64);
        tracing::debug!(generation, "published snapshot");
        generation
    }

    /// Runs the publisher until every [`PublisherHandle`] is dropped.
    pub fn spawn(mut self) -> PublisherHandle {
        let (commands, mut rx) = mpsc::channel(16);
        self.expiry_tx = Some(commands.downgrade());
        // Overrides restored from the state dir lapse on time too.
        let restored: Vec<SystemTime> = self.overrides.iter().filter_map(|o| o.expires).collect();
        for at in restored {
            self.schedule_expiry(at);
        }
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
                    Command::Override { request, reply } => {
                        let _ = reply.send(self.change_overrides(request, SystemTime::now()));
                    }
                    Command::ExpireDue => self.expire_overrides(SystemTime::now()),
                }
            }
        });
        PublisherHandle { commands }
    }
}
