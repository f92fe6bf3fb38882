//! Wiring for `switchyard serve`: load, validate, restore overrides, build
//! the first snapshot, bind every socket, drop root, then serve. Tests
//! start the same thing on port 0.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::api::guard::AuthGuard;
use crate::api::{ApiContext, ApiServer, ApiSocket, ListenerLimits};
use crate::cluster::etcd::{Etcd, EtcdSettings};
use crate::cluster::instance::{ClusterHealth, ClusterHealthView, HealthWiring};
use crate::drills::Drills;
use crate::health::{self, HealthChecker};
use crate::load::{Inputs, LoadError};
use crate::overrides::audit::RejectedLog;
use crate::overrides::store::{StateError, restore};
use crate::privileges::PrivilegeError;
use crate::publisher::{Publisher, PublisherHandle};
use crate::querylog::QueryLog;
use crate::server::Observer;
use crate::server::budget::{self, DescriptorBudget};
use crate::server::{DnsServer, DnsSockets};
use crate::snapshot::SnapshotHandle;
use crate::statedir::{LockError, StateLock};

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
    /// With `[cluster] store = "etcd"`: the watcher, write path and drill
    /// mirror (their tasks stop when this is dropped).
    pub cluster: Option<crate::cluster::ClusterLink>,
    /// The state dir's exclusive lock, held while this app runs.
    pub state_lock: StateLock,
    /// Who the process runs as after `[server] user` took effect, if set.
    pub identity: Option<crate::privileges::Identity>,
    /// With `[cluster] store = "etcd"`: this instance's lease, membership
    /// record and health votes.
    pub cluster_health: Option<crate::cluster::instance::ClusterHealth>,
}

/// How to start.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartOptions {
    /// Move an unreadable or corrupt overrides file aside (never deleting
    /// it) and start with no overrides, instead of refusing to start.
    pub start_clean: bool,
    /// Descriptors set aside for the control API's connections (from the
    /// process's descriptor budget); caps `[api] max_connections`.
    pub api_connection_budget: Option<usize>,
    /// Refuse to start while the API accepts the shipped example token
    /// (the Docker image sets this). Without it, the example token is
    /// refused only when the API listens beyond loopback, and warned about.
    pub refuse_example_token: bool,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Config or zones are invalid.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// Another instance holds the state dir (or it cannot be locked).
    #[error("{0}")]
    Lock(#[from] LockError),
    /// `[server] user`/`group` could not be taken on.
    #[error("{0}\nrefusing to start: the config asks not to run as root")]
    Privileges(#[from] PrivilegeError),
    /// The API would accept the shipped example token where it must not.
    #[error("{0}")]
    ExampleToken(String),
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
    /// The etcd client could not be set up from `[cluster]` (a bad
    /// certificate, say; an unreachable etcd is not an error at start).
    #[error("cannot set up the etcd client: {0}")]
    Cluster(#[from] crate::cluster::etcd::EtcdError),
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
             Fix the file, or start with --start-clean to move it aside (as overrides.json.corrupt-<RFC 3339 time>-<n>, never deleted) and start with no overrides."
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
    /// health from the state dir, publishes the first snapshot, binds the
    /// DNS, API and metrics sockets, drops root (`[server] user`), and only
    /// then answers DNS, serves the API and starts health checks.
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
        let cluster_config = inputs.config.cluster.clone();
        let quorum = inputs.config.health.quorum;
        let rrl_config = inputs.config.rrl.clone();
        let server_config = inputs.config.server.clone();
        let api_config = inputs.config.api.clone();
        if let Some(warning) = inputs.tokens.example_token_warning() {
            let exposed = !server_config.api_listen.ip().is_loopback();
            if options.refuse_example_token || exposed {
                let why = if exposed {
                    format!(
                        "the API listens on {}, beyond loopback",
                        server_config.api_listen
                    )
                } else {
                    "--refuse-example-token (SWITCHYARD_REFUSE_EXAMPLE_TOKEN) is set".to_string()
                };
                return Err(StartError::ExampleToken(format!(
                    "{warning}\nrefusing to start: {why}"
                )));
            }
            tracing::warn!("{warning}");
            eprintln!("{warning}");
        }
        // Before anything reads or writes state: one instance per state dir.
        let state_lock = StateLock::acquire(&server_config.state_dir)?;
        // Ours alone now, so any temp file is a leftover (crash, full disk).
        for dir in [
            server_config.state_dir.clone(),
            server_config
                .state_dir
                .join(crate::drills::store::DRILLS_DIR),
        ] {
            for file in crate::statedir::clean_temp_files(&dir) {
                tracing::info!(file = %file.display(), "removed a leftover temp file");
            }
        }
        let durable = restore(
            &server_config.state_dir,
            options.start_clean,
            crate::clock::now(),
        )?;
        let audit = durable.audit.clone();
        audit.set_rotation(api_config.audit_max_mib << 20, api_config.audit_keep);
        let rejected =
            RejectedLog::open(&server_config.state_dir).map_err(|source| StateError::Dir {
                dir: server_config.state_dir.clone(),
                source,
            })?;
        let persisted = health::store::load(&server_config.state_dir);
        let initial = health::initial_states(&inputs.health, &persisted);
        let initial_health = health::health_inputs(&initial);
        let publisher = Publisher::new(
            config_path.to_path_buf(),
            inputs,
            initial_health.clone(),
            durable,
        );
        let snapshot = publisher.snapshot();
        // The one channel of control-plane settings: auth, status, the
        // health checker, drills and the cluster's orphan check read it.
        let settings = publisher.settings();
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
        let budget = descriptor_budget(&settings.borrow().health, &server_config);
        // Bind every socket while still root (port 53), give root up, and
        // only then answer, probe, write state or serve the API: nothing
        // outside runs as root, not even for the moment start-up takes.
        let dns_sockets = DnsSockets::bind(&server_config)?;
        let api_socket =
            ApiSocket::bind(server_config.api_listen).map_err(|source| StartError::ApiBind {
                addr: server_config.api_listen,
                source,
            })?;
        let metrics_socket = match observe.0.listen {
            Some(addr) => Some(
                ApiSocket::bind(addr).map_err(|source| StartError::MetricsBind { addr, source })?,
            ),
            None => None,
        };
        let identity = match &server_config.user {
            Some(user) => {
                let identity = crate::privileges::drop_to(
                    user,
                    server_config.group.as_deref(),
                    &server_config.state_dir,
                )?;
                tracing::info!(
                    user,
                    uid = identity.uid,
                    gid = identity.gid,
                    "dropped privileges"
                );
                Some(identity)
            }
            None => None,
        };
        let dns = dns_sockets.serve(
            &server_config,
            &rrl_config,
            budget.tcp_max,
            snapshot.clone(),
            observer,
        )?;
        crate::metrics::spawn_upkeep();
        let publisher = publisher.spawn();
        // DNSSEC: reload (keys read again, every zone re-signed) once any
        // static signature has less than `refresh_days` left. Checked
        // hourly, only when something is signed at start-up.
        if !snapshot.load().dnssec.is_empty() {
            let publisher = publisher.clone();
            let snapshot = snapshot.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                    let due = snapshot
                        .load()
                        .dnssec
                        .load
                        .due_for_refresh(crate::clock::now());
                    if due {
                        tracing::info!("DNSSEC signatures due for refresh: reloading");
                        let _ = publisher.reload().await;
                    }
                }
            });
        }
        // With etcd, override changes go through the cluster's write path,
        // and the watcher feeds the publisher (the saved state serves until then).
        let cluster =
            crate::cluster::start(&cluster_config, &publisher, &snapshot, &settings, &audit)?;
        let publisher = match &cluster {
            Some(link) => publisher.with_shared(link.writer.clone()),
            None => publisher,
        };
        // In a cluster the checker's verdicts are votes; the cluster's
        // count of them is what reaches the publisher.
        let (votes_tx, votes_rx) = tokio::sync::mpsc::unbounded_channel();
        let health = HealthChecker::start_voting(
            settings.clone(),
            initial,
            publisher.clone(),
            server_config.state_dir.clone(),
            cluster_config.is_etcd().then_some(votes_tx),
        );
        let cluster_health = if cluster_config.is_etcd() {
            let etcd = Etcd::new(EtcdSettings::from_config(&cluster_config))?;
            let wiring = HealthWiring {
                events: votes_rx,
                registry: health.registry().clone(),
                publisher: publisher.clone(),
                initial: initial_health,
                snapshot: snapshot.clone(),
            };
            Some(ClusterHealth::start(etcd, &cluster_config, quorum, wiring))
        } else {
            None
        };
        // After the DNS listeners are bound: drills verify by querying them.
        let drills = Drills::open_shared(
            &server_config.state_dir,
            publisher.clone(),
            snapshot.clone(),
            settings.clone(),
            dns.local_addrs[0],
            cluster.as_ref().map(|link| link.drills.clone()),
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
            settings,
            audit,
            started,
            started_at: crate::clock::now(),
            health: health.registry().clone(),
            drills: drills.clone(),
            cluster: cluster
                .as_ref()
                .map_or_else(crate::cluster::status::local_handle, |link| {
                    link.status.clone()
                }),
            guard: Arc::new(AuthGuard::new(&api_config, rejected)),
            cluster_health: match &cluster_health {
                Some(cluster_health) => cluster_health.view(),
                None => ClusterHealthView::local(&cluster_config.instance),
            },
        };
        // The API's share of the descriptor budget caps `[api] max_connections`
        // (so held API connections can never take the probes' descriptors);
        // a caller may cap it further.
        let mut limits = ListenerLimits::from_config(&api_config).within_budget(budget.api_max);
        if let Some(cap) = options.api_connection_budget {
            limits = limits.within_budget(cap);
        }
        let api = ApiServer::serve(api_socket, context, limits).map_err(|source| {
            StartError::ApiBind {
                addr: server_config.api_listen,
                source,
            }
        })?;
        let metrics = match (metrics_socket, observe.0.listen) {
            (Some(socket), Some(addr)) => Some(
                ApiServer::serve_metrics(socket, limits)
                    .map_err(|source| StartError::MetricsBind { addr, source })?,
            ),
            _ => None,
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
            cluster,
            state_lock,
            identity,
            cluster_health,
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
