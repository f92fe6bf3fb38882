//! Wiring for `switchyard serve`: load, validate, restore overrides, build
//! the first snapshot, then bind. Tests start the same thing on port 0.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::api::{ApiContext, ApiServer};
use crate::drills::Drills;
use crate::health::{self, HealthChecker};
use crate::metrics::query::Observer;
use crate::overrides::store::{StateError, restore};
use crate::publisher::{Publisher, PublisherHandle};
use crate::querylog::QueryLog;
use crate::server::DnsServer;
use crate::server::budget::{self, DescriptorBudget};
use crate::snapshot::{Inputs, LoadError, SnapshotHandle};

/// A running Switchyard: DNS listeners and the control API, with the
/// publisher behind them.
#[derive(Debug)]
pub struct App {
    /// The DNS listeners (their bound addresses are in `dns.local_addrs`).
    pub dns: DnsServer,
    /// The control API listener.
    pub api: ApiServer,
    /// Where the control API answers (port 0 resolved).
    pub api_addr: SocketAddr,
    /// Sends commands (reload, health, overrides) to the publisher.
    pub publisher: PublisherHandle,
    /// The snapshot the listeners answer from.
    pub snapshot: SnapshotHandle,
    /// Probes checked endpoints; its registry is the control plane's view
    /// of their health. Dropping it stops the probes.
    pub health: HealthChecker,
    /// Geo-failover drills (running, restored and scheduled).
    pub drills: Drills,
    /// The `/metrics`-only listener of `[metrics] listen`, if configured.
    pub metrics: Option<ApiServer>,
    /// The sampled query log of `[log.queries]`, if configured.
    pub query_log: Option<Arc<QueryLog>>,
}

/// How to start.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartOptions {
    /// Move an unreadable or corrupt overrides file aside (never deleting
    /// it) and start with no overrides, instead of refusing to start.
    pub start_clean: bool,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Config or zones are invalid.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// The state dir or the overrides file in it cannot be used.
    #[error("{}", state_message(.0))]
    State(#[from] StateError),
    /// A listen address could not be bound.
    #[error("cannot bind DNS listener: {0}")]
    Bind(#[from] std::io::Error),
    /// The API address could not be bound.
    #[error("cannot bind API listener {addr}: {source}")]
    ApiBind {
        /// `server.api_listen`.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The `[metrics] listen` address could not be bound.
    #[error("cannot bind metrics listener {addr}: {source}")]
    MetricsBind {
        /// `metrics.listen`.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The query log file could not be opened.
    #[error("cannot open the query log {path}: {source}")]
    QueryLog {
        /// `log.queries.path`.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

fn state_message(e: &StateError) -> String {
    if e.is_bad_file() {
        format!(
            "{e}\nrefusing to start: serving without the saved overrides could send traffic where operators said it must not go. \
             Fix the file, or start with --start-clean to move it aside (as overrides.json.corrupt-<unix time>, never deleted) and start with no overrides."
        )
    } else {
        format!("{e}\nrefusing to start: overrides could not be saved")
    }
}

impl App {
    /// Starts with default options; see [`App::start_with`].
    pub fn start(config_path: &Path) -> Result<App, StartError> {
        App::start_with(config_path, StartOptions::default())
    }

    /// Loads and validates everything, restores overrides and the last known
    /// health from the state dir, publishes the first snapshot, and only
    /// then binds the DNS listeners and the API and starts health checks.
    /// Must run inside a tokio runtime.
    ///
    /// Because the first snapshot already carries the last known health, a
    /// restart never answers with a target that was down.
    pub fn start_with(config_path: &Path, options: StartOptions) -> Result<App, StartError> {
        let started = Instant::now();
        // Before anything registers metric handles (loading registers the
        // answer counters), or they would record nowhere.
        crate::metrics::install();
        let inputs = Inputs::load(config_path)?;
        let observe = (inputs.config.metrics.clone(), inputs.config.log.clone());
        let rrl_config = inputs.config.rrl.clone();
        let server_config = inputs.config.server.clone();
        let durable = restore(
            &server_config.state_dir,
            options.start_clean,
            SystemTime::now(),
        )?;
        let audit = durable.audit.clone();
        let persisted = health::store::load(&server_config.state_dir);
        let initial = health::initial_states(&inputs.health, &persisted);
        let publisher = Publisher::new(
            config_path.to_path_buf(),
            inputs,
            health::health_inputs(&initial),
            durable,
        );
        let snapshot = publisher.snapshot();
        let control = publisher.control();
        let plans = publisher.health_plan();
        let query_log = match &observe.1.queries {
            Some(config) => {
                Some(
                    QueryLog::start(config).map_err(|source| StartError::QueryLog {
                        path: config.path.display().to_string(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let observer = Observer::new(observe.0.query_metrics, query_log.clone());
        let budget = descriptor_budget(&plans.borrow(), &server_config);
        let dns = DnsServer::bind(
            &server_config,
            &rrl_config,
            budget.tcp_max,
            snapshot.clone(),
            observer,
        )?;
        crate::metrics::spawn_upkeep();
        let publisher = publisher.spawn();
        let health = HealthChecker::start(
            plans,
            initial,
            publisher.clone(),
            server_config.state_dir.clone(),
        );
        // After the DNS listeners are bound: drills verify by querying them.
        let drills = Drills::open(
            &server_config.state_dir,
            publisher.clone(),
            snapshot.clone(),
            dns.local_addrs[0],
        )
        .map_err(|source| {
            StartError::State(StateError::Dir {
                dir: server_config
                    .state_dir
                    .join(crate::drills::store::DRILLS_DIR),
                source,
            })
        })?;
        let context = ApiContext {
            snapshot: snapshot.clone(),
            publisher: publisher.clone(),
            control,
            audit,
            started,
            started_at: SystemTime::now(),
            health: health.registry().clone(),
            drills: drills.clone(),
        };
        let api = ApiServer::bind(server_config.api_listen, context).map_err(|source| {
            StartError::ApiBind {
                addr: server_config.api_listen,
                source,
            }
        })?;
        let metrics = match observe.0.listen {
            Some(addr) => Some(
                ApiServer::bind_metrics(addr)
                    .map_err(|source| StartError::MetricsBind { addr, source })?,
            ),
            None => None,
        };
        Ok(App {
            dns,
            api_addr: api.local_addr,
            api,
            publisher,
            snapshot,
            health,
            drills,
            metrics,
            query_log,
        })
    }
}

/// Raises the descriptor limit and shares it out (see
/// [`crate::server::budget`]); publishes the API's share.
fn descriptor_budget(
    plan: &crate::health::HealthPlan,
    server: &crate::config::ServerConfig,
) -> DescriptorBudget {
    let limit = budget::raise_nofile_limit();
    let budget = DescriptorBudget::compute(
        limit,
        budget::open_descriptors(),
        plan.endpoints.len(),
        plan.max_concurrent_probes,
        server.tcp_max_connections,
    );
    budget::publish(&budget);
    if budget.is_starved() {
        tracing::warn!(
            limit,
            in_use = budget.in_use,
            probe_reserve = budget.probe_reserve,
            "the descriptor limit (RLIMIT_NOFILE) leaves almost nothing for clients; raise it (e.g. LimitNOFILE in the systemd unit)"
        );
    }
    tracing::info!(
        limit,
        tcp_max = budget.tcp_max,
        api_max = budget.api_max,
        probe_reserve = budget.probe_reserve,
        "descriptor budget"
    );
    budget
}
