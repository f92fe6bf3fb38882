//! The publisher: the single writer of the routing table.
//!
//! It owns the inputs (config path, current config and zones), rebuilds the
//! snapshot with the pure [`Snapshot::build`] when asked, and swaps it in.
//! A failed reload keeps the old snapshot serving and reports why.
//!
//! Health changes are coalesced: the first change after a quiet period is
//! published at once, and changes arriving within `[health] coalesce_ms` of
//! a publish wait for the window's end and go out together in one swap, so
//! a burst of transitions (a region dying) costs one rebuild, not hundreds.
//!
//! Operator overrides arrive here too: each change is checked against the
//! safety rule, persisted to the state dir, and only then published and
//! audited, all inside this one task, so no two changes interleave and a
//! refused or failed change leaves nothing half-applied. Expiries come back
//! as [`Command::ExpireDue`] from timers the publisher sets itself.
//!
//! Reloads read and compile config and zones on a blocking thread, off this
//! task: while a large zone loads, overrides and health changes keep being
//! applied and published against the config in force, and the loaded
//! inputs are applied against whatever overrides and health are current
//! when they land. A reload asked for while one is loading is coalesced
//! into one more load after it (the files may have changed since the
//! running load read them); every caller gets that load's outcome.
//!
//! It is also the only writer of the control-plane settings
//! ([`crate::control::Settings`]): one generation per load, published
//! right after the snapshot of that load, through the one `watch` channel
//! every control-plane consumer reads ([`Publisher::settings`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::control::{ReloadReport, Settings, SettingsWatch};
use crate::load::{Inputs, LoadError};
use crate::overrides::store::Durable;
use crate::overrides::{ChangeError, OverrideSet, Report, Request};
use crate::snapshot::{Snapshot, SnapshotHandle};
use crate::traffic::HealthInputs;

// Override changes and expiry: `impl Publisher` continued in publisher/overrides.rs.
mod overrides;
mod publish_metrics;
mod verdicts;
// Overrides shared through a cluster store (etcd): publisher/cluster.rs.
mod cluster;
// Reloads of large zones drop the old templates first: publisher/lean_reload.rs.
mod lean_reload;
pub use cluster::{BoxFuture, Evaluated, Evaluation, SharedOverrides};
pub(crate) use overrides::change_for;

/// Commands queued before senders wait; health checkers send bursts.
const COMMAND_QUEUE: usize = 1024;

/// What the publisher can be asked to do.
#[derive(Debug)]
pub enum Command {
    /// Re-read config and zones from disk; reply with the new generation.
    Reload(Option<oneshot::Sender<Result<u64, String>>>),
    /// Set an endpoint's health verdict (tests, and later the API's tools).
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
    /// A health checker's verdict changed. Ignored unless the endpoint is
    /// checked under the current config: a verdict from a probe that a
    /// reload just stopped must not keep an unchecked endpoint down.
    ReportHealth {
        /// Region name.
        region: String,
        /// Endpoint id within the region.
        endpoint: String,
        /// The new verdict.
        up: bool,
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
    /// The cluster store's override set (`[cluster] store = "etcd"`): it
    /// replaces ours unless older than what we hold. Sent by the cluster
    /// watcher and by the cluster write path after its compare-and-swap.
    ClusterState {
        /// The whole set as stored in the cluster.
        overrides: OverrideSet,
        /// Its revision in the store (newer wins; older is ignored).
        revision: i64,
        /// Replies with the generation that serves it.
        reply: Option<oneshot::Sender<u64>>,
    },
    /// Evaluate an override change against the cluster's set (the safety
    /// rule with this instance's plan and health), changing nothing.
    Evaluate {
        /// The change asked for.
        request: Request,
        /// The cluster's set it applies to.
        base: OverrideSet,
        /// Replies with the change's description and outcome.
        reply: oneshot::Sender<Evaluated>,
    },
}

/// A cheap, cloneable way to send the publisher commands.
#[derive(Debug, Clone)]
pub struct PublisherHandle {
    commands: mpsc::Sender<Command>,
    /// With `[cluster] store = "etcd"`, where override changes go instead
    /// of the local store (see [`SharedOverrides`]).
    shared: Option<Arc<dyn SharedOverrides>>,
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

    /// Records an endpoint health verdict without waiting for the publish
    /// (health checkers use this: their next probe must not wait on a
    /// coalescing window).
    pub(crate) async fn report_health(
        &self,
        region: &str,
        endpoint: &str,
        up: bool,
    ) -> Result<(), String> {
        self.commands
            .send(Command::ReportHealth {
                region: region.to_string(),
                endpoint: endpoint.to_string(),
                up,
            })
            .await
            .map_err(|_| "publisher has stopped".to_string())
    }

    /// Applies an override change; returns once it is persisted and
    /// published, or why it was not.
    pub async fn change_overrides(&self, request: Request) -> Result<Report, ChangeError> {
        if let Some(shared) = &self.shared {
            return shared.change(request).await;
        }
        let (reply, outcome) = oneshot::channel();
        self.commands
            .send(Command::Override { request, reply })
            .await
            .map_err(|_| ChangeError::Stopped)?;
        outcome.await.map_err(|_| ChangeError::Stopped)?
    }

    /// Routes override changes to `shared` (the cluster store) from now on.
    pub(crate) fn with_shared(mut self, shared: Arc<dyn SharedOverrides>) -> PublisherHandle {
        self.shared = Some(shared);
        self
    }

    /// This handle without the cluster routing: what the cluster write
    /// path itself uses to reach the publisher.
    pub fn local(&self) -> PublisherHandle {
        PublisherHandle {
            commands: self.commands.clone(),
            shared: None,
        }
    }

    /// Evaluates `request` against `base` (see [`Publisher::evaluate`]).
    pub(crate) async fn evaluate(
        &self,
        request: Request,
        base: OverrideSet,
    ) -> Result<Evaluated, ChangeError> {
        let (reply, outcome) = oneshot::channel();
        self.commands
            .send(Command::Evaluate {
                request,
                base,
                reply,
            })
            .await
            .map_err(|_| ChangeError::Stopped)?;
        outcome.await.map_err(|_| ChangeError::Stopped)
    }

    /// Hands the publisher the cluster's override set at `revision`; returns
    /// the generation serving it (or the current one when it was older or
    /// the same as what is served).
    pub(crate) async fn cluster_state(
        &self,
        overrides: OverrideSet,
        revision: i64,
    ) -> Result<u64, ChangeError> {
        let (reply, published) = oneshot::channel();
        self.commands
            .send(Command::ClusterState {
                overrides,
                revision,
                reply: Some(reply),
            })
            .await
            .map_err(|_| ChangeError::Stopped)?;
        published.await.map_err(|_| ChangeError::Stopped)
    }
}

/// The single writer; see the module docs.
#[derive(Debug)]
pub struct Publisher {
    config_path: PathBuf,
    inputs: Inputs,
    health: HealthInputs,
    snapshot: SnapshotHandle,
    /// The control-plane settings in force (tokens, health plan, drills,
    /// metrics selection, last reload), for every control-plane consumer.
    settings: watch::Sender<Arc<Settings>>,
    /// When the last snapshot was stored, for coalescing.
    last_publish: Option<Instant>,
    /// Active operator overrides (shared with the snapshots built from them).
    overrides: Arc<OverrideSet>,
    /// Where overrides are persisted and changes audited.
    durable: Durable,
    /// Mints override ids.
    rng: fastrand::Rng,
    /// Lets expiry timers reach the command loop without keeping it alive.
    expiry_tx: Option<mpsc::WeakSender<Command>>,
    /// Revision of the cluster override set served (0: none yet, or the
    /// local store).
    cluster_revision: i64,
    /// What changed since the snapshot in the handle was built.
    stale: Stale,
    /// Incremental (the default) or full rebuilds.
    mode: PublishMode,
    /// The answer templates were dropped for a lean reload and are not
    /// back yet (`lean_reload`).
    templates_missing: bool,
    /// Names in the served zones from which reloads are lean.
    lean_reload_names: usize,
}

/// How the publisher rebuilds the routing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PublishMode {
    /// In proportion to the change: only the regions whose health or
    /// overrides changed are computed again, and the safety rule judges
    /// only the services listing a region whose serving status flips.
    #[default]
    Incremental,
    /// Every publish computes every region and the safety rule walks every
    /// service: the reference the incremental mode is tested and
    /// benchmarked against (`benches/publish.rs`).
    Full,
}

/// The regions whose state may differ from the snapshot in the handle.
#[derive(Debug, Default)]
struct Stale {
    /// Everything (first snapshot, a reload: another plan).
    all: bool,
    /// Regions whose health or overrides changed (unsorted, may repeat).
    regions: Vec<crate::traffic::RegionId>,
}

impl Publisher {
    /// Builds the first snapshot from already-validated inputs, the last
    /// known endpoint health (restored from the state dir, or configured
    /// initial states) and the overrides restored from the state dir.
    pub fn new(
        config_path: PathBuf,
        inputs: Inputs,
        health: HealthInputs,
        mut durable: Durable,
    ) -> Publisher {
        let overrides = Arc::new(std::mem::take(&mut durable.overrides));
        let started = std::time::Instant::now();
        let first = Snapshot::build_with(&inputs, &health, &overrides, 1, crate::clock::now());
        publish_metrics::record_publish(None, &first, started.elapsed());
        let settings = Settings::from_inputs(&inputs, 1, None, None);
        crate::traffic::answer_metrics::export(&inputs.answers, &settings.exported);
        let (settings, _) = watch::channel(Arc::new(settings));
        Publisher {
            config_path,
            inputs,
            health,
            snapshot: Arc::new(ArcSwap::from_pointee(first)),
            settings,
            last_publish: None,
            overrides,
            durable,
            rng: fastrand::Rng::new(),
            expiry_tx: None,
            cluster_revision: 0,
            stale: Stale::default(),
            mode: PublishMode::default(),
            templates_missing: false,
            lean_reload_names: lean_reload::LEAN_RELOAD_NAMES,
        }
    }

    /// Reloads drop the answer templates first from `names` names in the
    /// served zones on (default 100,000; tests make small zones lean).
    #[cfg(test)]
    pub(crate) fn set_lean_reload_names(&mut self, names: usize) {
        self.lean_reload_names = names;
    }

    /// Chooses incremental or full rebuilds from now on (benchmarks and
    /// tests compare the two; serving always uses the default).
    pub fn set_publish_mode(&mut self, mode: PublishMode) {
        self.mode = mode;
    }

    /// Replaces the overrides in force, noting the regions whose forced
    /// state or weight the change touches for the next publish.
    fn replace_overrides(&mut self, next: Arc<OverrideSet>) {
        let changed = crate::overrides::changed_regions(&self.inputs.plan, &self.overrides, &next);
        self.stale.regions.extend(changed);
        self.overrides = next;
    }

    /// The control-plane settings: the generation in force now, and every
    /// later one (API auth and status, the health scheduler, drills).
    pub fn settings(&self) -> SettingsWatch {
        self.settings.subscribe()
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
    /// current snapshot stays. (Loads on the calling thread; the running
    /// publisher loads on a blocking thread instead.)
    pub fn reload(&mut self) -> Result<u64, LoadError> {
        let started = Instant::now();
        let loaded = Inputs::reload(&self.config_path, Some(&self.inputs.zones), true);
        let applied = self.apply_reload(loaded, started);
        if applied.is_ok() {
            self.templates_missing = false;
        }
        applied
    }

    /// Applies loaded inputs (or a load error) against the health and
    /// overrides current now, and publishes.
    fn apply_reload(
        &mut self,
        loaded: Result<Inputs, LoadError>,
        started: Instant,
    ) -> Result<u64, LoadError> {
        let inputs = match loaded {
            Ok(inputs) => inputs,
            Err(e) => {
                metrics::counter!("switchyard_reloads_total", "result" => "failure").increment(1);
                tracing::error!(error = %e, "reload failed; still serving the previous snapshot");
                self.report_failed_reload(e.to_string());
                return Err(e);
            }
        };
        if let Some(warning) = inputs.tokens.example_token_warning() {
            let listen = self.inputs.config.server.api_listen;
            if !listen.ip().is_loopback() {
                let message = format!(
                    "{warning}\nreload refused: the API listens on {listen}, beyond loopback; still serving the previous config"
                );
                metrics::counter!("switchyard_reloads_total", "result" => "failure").increment(1);
                tracing::error!("{message}");
                self.report_failed_reload(message.clone());
                return Err(LoadError::Config(vec![crate::config::ConfigError {
                    file: self.config_path.clone(),
                    line: None,
                    field: Some("api.tokens_file".into()),
                    message,
                }]));
            }
            tracing::warn!("{warning}");
        }
        if inputs.config.server.dns_listen != self.inputs.config.server.dns_listen {
            tracing::warn!("server.dns_listen changed: listeners change only on restart");
        }
        // Verdicts of endpoints no longer checked must not keep them out
        // of answers; the checker forgets them too.
        let (old, new) = (&self.inputs.health, &inputs.health);
        self.health
            .retain(|key, _| !old.is_checked(key) || new.is_checked(key));
        let previous = self.snapshot.load_full();
        let old_inputs = std::mem::replace(&mut self.inputs, inputs);
        self.stale.all = true;
        let generation = self.publish();
        // The settings of this load, all in one generation, after the
        // snapshot of the same load.
        let current = self.settings.borrow().clone();
        let next = Settings::from_inputs(
            &self.inputs,
            current.generation + 1,
            Some(&current),
            Some(ReloadReport {
                at: crate::clock::now(),
                result: Ok(generation),
            }),
        );
        crate::traffic::answer_metrics::export(&self.inputs.answers, &next.exported);
        self.settings.send_replace(Arc::new(next));
        // Freeing a large zone set takes as long as building it: not here.
        // (Inside a runtime; `reload` may also be called outside one.)
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::task::spawn_blocking(move || {
                drop((previous, old_inputs, current));
                crate::zone::memory::note("old inputs freed", 0);
            });
        }
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

    /// Records a health verdict and publishes the result at once.
    pub fn set_health(&mut self, region: String, endpoint: String, up: bool) -> u64 {
        self.record_health(region, endpoint, up);
        self.publish()
    }

    /// Records a health verdict without publishing it.
    fn record_health(&mut self, region: String, endpoint: String, up: bool) {
        tracing::info!(region, endpoint, up, "endpoint health changed");
        if let Some(&r) = self.inputs.plan.region_index.get(&region) {
            self.stale.regions.push(r);
        }
        self.health.insert((region, endpoint), up);
    }

    /// Records a failed reload's error for the API: the settings
    /// generation in force stays (same number, same settings).
    fn report_failed_reload(&self, error: String) {
        let report = ReloadReport {
            at: crate::clock::now(),
            result: Err(error),
        };
        // The failed load may have marked its own selection already.
        let exported = self.settings.borrow().exported.clone();
        crate::traffic::answer_metrics::export(&self.inputs.answers, &exported);
        self.settings
            .send_modify(|current| *current = Arc::new(current.with_reload(report)));
    }

    /// Builds a snapshot from the current inputs and health and swaps it in.
    fn publish(&mut self) -> u64 {
        let previous = self.snapshot.load_full();
        let generation = previous.generation + 1;
        let started = std::time::Instant::now();
        let stale = std::mem::take(&mut self.stale);
        let next = if stale.all || self.mode == PublishMode::Full {
            Snapshot::build_with(
                &self.inputs,
                &self.health,
                &self.overrides,
                generation,
                crate::clock::now(),
            )
        } else {
            let mut changed = stale.regions;
            changed.sort_unstable();
            changed.dedup();
            Snapshot::rebuild(
                &previous,
                &self.inputs,
                &self.health,
                &self.overrides,
                &changed,
                generation,
                crate::clock::now(),
            )
        };
        let build = started.elapsed();
        publish_metrics::record_publish(Some(&previous), &next, build);
        let available = next.state.regions.iter().filter(|r| r.available()).count();
        self.snapshot.store(Arc::new(next));
        self.last_publish = Some(Instant::now());
        tracing::info!(
            generation,
            build_us = build.as_micros() as u64,
            regions_available = available,
            regions = self.inputs.plan.regions.len(),
            overrides = self.overrides.iter().count(),
            "published snapshot"
        );
        generation
    }

    /// The coalescing window from the current config.
    fn coalesce(&self) -> Duration {
        Duration::from_millis(self.inputs.config.health.coalesce_ms)
    }

    /// Runs the publisher until every [`PublisherHandle`] is dropped.
    pub fn spawn(mut self) -> PublisherHandle {
        let (commands, mut rx) = mpsc::channel(COMMAND_QUEUE);
        self.expiry_tx = Some(commands.downgrade());
        // Overrides restored from the state dir lapse on time too.
        let restored: Vec<SystemTime> = self.overrides.iter().filter_map(|o| o.expires).collect();
        for at in restored {
            self.schedule_expiry(at);
        }
        tokio::spawn(async move {
            // Health changes recorded but not yet published, and who waits.
            let mut pending = Pending::default();
            // The reload loading on a blocking thread, if any.
            let mut loading: Option<Loading> = None;
            // Templates building after a lean reload, if any.
            let mut templates: Option<lean_reload::Building> = None;
            // A reload asked for while they build (who asked): it starts
            // once they are in, so that its load never meets them half
            // built (both would be in memory with the new zones).
            let mut deferred: Option<ReloadReplies> = None;
            loop {
                let command = tokio::select! {
                    // Requests already queued come before a finished load, so
                    // reloads asked for while it ran join the next load
                    // together (however fast the load was).
                    biased;
                    command = rx.recv() => command,
                    loaded = finished(loading.as_mut().map(|l| &mut l.task)), if loading.is_some() => {
                        let Some(done) = loading.take() else { continue };
                        let loaded = loaded.unwrap_or_else(|e| {
                            Err(LoadError::Config(vec![crate::config::ConfigError {
                                file: self.config_path.clone(),
                                line: None,
                                field: None,
                                message: format!("the reload task failed: {e}"),
                            }]))
                        });
                        let outcome = self.apply_reload(loaded, done.started).map_err(|e| e.to_string());
                        if let Ok(generation) = outcome {
                            pending.published(generation);
                            // A lean load's inputs come without templates.
                            self.templates_missing = done.lean;
                        }
                        for reply in done.replies {
                            let _ = reply.send(outcome.clone());
                        }
                        if done.again_asked {
                            let lean = self.begin_reload();
                            loading = Some(Loading::start(&self.config_path, &self.inputs, done.again, lean));
                        } else if self.templates_missing {
                            // After a lean load, or a failed one: the
                            // templates of what is served now.
                            templates = Some(lean_reload::Building::start(&self.inputs));
                        }
                        continue;
                    }
                    built = finished(templates.as_mut().map(|b| &mut b.task)), if templates.is_some() => {
                        let Some(building) = templates.take() else { continue };
                        match built {
                            Ok(table) => self.install_templates(&building, table),
                            // (The full path keeps answering; the next
                            // reload tries again.)
                            Err(e) => tracing::error!(error = %e, "building the answer templates failed"),
                        }
                        if let Some(replies) = deferred.take() {
                            let lean = self.begin_reload();
                            loading = Some(Loading::start(&self.config_path, &self.inputs, replies, lean));
                        }
                        continue;
                    }
                    _ = tokio::time::sleep_until(pending.deadline.unwrap_or_else(Instant::now)),
                        if pending.deadline.is_some() =>
                    {
                        let generation = self.publish();
                        pending.published(generation);
                        continue;
                    }
                };
                let Some(command) = command else {
                    break;
                };
                match command {
                    Command::Reload(reply) => match loading.as_mut() {
                        // One load at a time; this one runs after it.
                        Some(running) => {
                            running.again_asked = true;
                            running.again.extend(reply);
                            metrics::counter!("switchyard_reloads_coalesced_total").increment(1);
                        }
                        None if templates.is_some() => {
                            deferred.get_or_insert_with(Vec::new).extend(reply);
                        }
                        None => {
                            let lean = self.begin_reload();
                            loading = Some(Loading::start(
                                &self.config_path,
                                &self.inputs,
                                reply.into_iter().collect(),
                                lean,
                            ));
                        }
                    },
                    Command::ReportHealth {
                        region,
                        endpoint,
                        up,
                    } => {
                        let key = (region, endpoint);
                        if !self.inputs.health.is_checked(&key) {
                            tracing::debug!(
                                region = key.0,
                                endpoint = key.1,
                                "ignoring verdict for an endpoint no longer checked"
                            );
                            continue;
                        }
                        self.record_health(key.0, key.1, up);
                        self.publish_health(&mut pending);
                    }
                    Command::SetHealth {
                        region,
                        endpoint,
                        up,
                        reply,
                    } => {
                        self.record_health(region, endpoint, up);
                        pending.replies.extend(reply);
                        self.publish_health(&mut pending);
                    }
                    Command::Override { request, reply } => {
                        let _ = reply.send(self.change_overrides(request, crate::clock::now()));
                    }
                    Command::ExpireDue => self.expire_overrides(crate::clock::now()),
                    Command::ClusterState {
                        overrides,
                        revision,
                        reply,
                    } => {
                        let generation =
                            self.cluster_state(overrides, revision, crate::clock::now());
                        if let Some(reply) = reply {
                            let _ = reply.send(generation);
                        }
                    }
                    Command::Evaluate {
                        request,
                        base,
                        reply,
                    } => {
                        let _ = reply.send(self.evaluate(&request, &base, crate::clock::now()));
                    }
                }
            }
            // Handles are gone; publish what is still held back.
            if pending.deadline.is_some() {
                self.publish();
            }
        });
        PublisherHandle {
            commands,
            shared: None,
        }
    }

    /// Publishes recorded health changes now, or at the end of the
    /// coalescing window when a snapshot went out less than a window ago.
    fn publish_health(&mut self, pending: &mut Pending) {
        let window = self.coalesce();
        let since = self.last_publish.map(|t| t.elapsed());
        if window.is_zero() || since.is_none_or(|s| s >= window) {
            let generation = self.publish();
            pending.published(generation);
        } else if pending.deadline.is_none() {
            let last = self.last_publish.unwrap_or_else(Instant::now);
            pending.deadline = Some(last + window);
        }
    }
}

/// Replies owed for a reload.
type ReloadReplies = Vec<oneshot::Sender<Result<u64, String>>>;

/// A reload whose inputs are loading on a blocking thread.
struct Loading {
    task: tokio::task::JoinHandle<Result<Inputs, LoadError>>,
    started: Instant,
    /// Who asked for this load.
    replies: ReloadReplies,
    /// Reloads asked for while this one loads: one more load follows.
    again_asked: bool,
    /// Who asked for the next one.
    again: ReloadReplies,
    /// Loading without templates (`lean_reload`).
    lean: bool,
}

impl Loading {
    /// Loads on a blocking thread; zones whose files did not change are
    /// taken from `previous`.
    fn start(
        config_path: &std::path::Path,
        previous: &Inputs,
        replies: ReloadReplies,
        lean: bool,
    ) -> Loading {
        let path = config_path.to_path_buf();
        let zones = previous.zones.clone();
        Loading {
            task: tokio::task::spawn_blocking(move || Inputs::reload(&path, Some(&zones), !lean)),
            lean,
            started: Instant::now(),
            replies,
            again_asked: false,
            again: Vec::new(),
        }
    }
}

/// Health changes held back by coalescing.
#[derive(Debug, Default)]
struct Pending {
    /// When to publish them; `None` when nothing is held back.
    deadline: Option<Instant>,
    /// Callers of [`PublisherHandle::set_health`] waiting for the publish.
    replies: Vec<oneshot::Sender<u64>>,
}

impl Pending {
    /// Everything held back went out in `generation`.
    fn published(&mut self, generation: u64) {
        self.deadline = None;
        for reply in self.replies.drain(..) {
            let _ = reply.send(generation);
        }
    }
}

/// The result of the background task in a `select!` slot, or never when
/// the slot is empty (its branch is then switched off by its guard too).
async fn finished<T>(
    task: Option<&mut tokio::task::JoinHandle<T>>,
) -> Result<T, tokio::task::JoinError> {
    match task {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod incremental_tests;

#[cfg(test)]
mod tests;
