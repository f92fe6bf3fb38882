//! The HTTP control API (DESIGN §4): read health, decisions and overrides;
//! set weights, drain and force regions. It never touches the query path:
//! reads come from the published snapshot, writes go to the publisher as
//! [`crate::overrides::Request`]s.
//!
//! - [`routes`]: the route table (also the source of truth for the OpenAPI test).
//! - [`auth`]: tokens and the `Reader`/`Writer` extractors.
//! - [`errors`]: the one error shape (its types are in [`crate::contract`]).
//! - `extract`: the one extractor every write takes (token, path, body,
//!   `why`, refusals audited).
//! - `drills`: the drill endpoints (start, list, show, stop).
//! - [`openapi`]: the OpenAPI 3 document served at `/v1/openapi.json`.
//! - `prometheus`: `GET /metrics`, also servable on a listener of its own.
//! - `explain`: `GET /v1/explain`, why a client gets the answer it gets.
//! - `traffic`: `GET /v1/traffic`, where answers went over the last minute.
//! - [`ui`]: the read-only status page at `/` and `/ui/…`.
//! - [`listener`]: the accept loop: header, idle and body deadlines, and a
//!   connection cap.
//! - [`guard`]: the failed-authentication limit per client address and the
//!   bounded audit of rejected attempts.

pub mod auth;
mod drills;
pub mod errors;
mod explain;
mod extract;
pub mod guard;
pub mod listener;
pub mod openapi;
mod prometheus;
pub mod routes;
mod traffic;
pub mod ui;
mod views;
mod writes;

use std::io;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use tokio::sync::watch;

use crate::control::SettingsWatch;
use crate::overrides::audit::AuditLog;
use crate::publisher::PublisherHandle;
use crate::snapshot::SnapshotHandle;

/// Largest request body accepted (every valid body is far smaller).
pub(crate) const BODY_LIMIT: usize = 16 * 1024;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct ApiContext {
    /// The published routing table (read once per request).
    pub snapshot: SnapshotHandle,
    /// Where override changes go.
    pub publisher: PublisherHandle,
    /// The control-plane settings in force (tokens, drill limits, last
    /// reload): read per request, so a reload applies from the next one.
    pub settings: SettingsWatch,
    /// For unauthorised and invalid attempts, which never reach the publisher.
    pub audit: AuditLog,
    /// Process start, for uptime.
    pub started: Instant,
    /// Process start as wall-clock time, for display.
    pub started_at: SystemTime,
    /// Per-endpoint health-check status (control plane only).
    pub health: crate::health::HealthRegistry,
    /// Geo-failover drills.
    pub drills: crate::drills::Drills,
    /// Whether the cluster state served is current (`store: local` without `[cluster]`).
    pub cluster: crate::cluster::status::ClusterStatusHandle,
    /// Failed authentications per client address, and the bounded log of
    /// rejected attempts.
    pub guard: std::sync::Arc<guard::AuthGuard>,
    /// Cluster membership and health votes (just this instance in local mode).
    pub cluster_health: crate::cluster::instance::ClusterHealthView,
}

pub use listener::ListenerLimits;

/// An HTTP listener bound but not yet serving: the start-up binds while it
/// may still be root, gives up root, and only then serves.
#[derive(Debug)]
pub struct ApiSocket(std::net::TcpListener);

impl ApiSocket {
    /// Binds `addr` (non-blocking, for tokio).
    pub fn bind(addr: SocketAddr) -> io::Result<ApiSocket> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(ApiSocket(listener))
    }
}

/// The running API listener. Dropping it (or [`ApiServer::shutdown`])
/// stops accepting.
#[derive(Debug)]
pub struct ApiServer {
    /// The bound address (port 0 resolved).
    pub local_addr: SocketAddr,
    shutdown: Option<watch::Sender<bool>>,
}

impl ApiServer {
    /// Serves the API on an already bound `socket` under `limits`. Must
    /// run inside a tokio runtime.
    pub fn serve(
        socket: ApiSocket,
        context: ApiContext,
        limits: ListenerLimits,
    ) -> io::Result<ApiServer> {
        ApiServer::serve_router(socket, routes::router(context), limits)
    }

    /// Serves only `GET /metrics` on an already bound `socket`.
    pub(crate) fn serve_metrics(
        socket: ApiSocket,
        limits: ListenerLimits,
    ) -> io::Result<ApiServer> {
        ApiServer::serve_router(socket, prometheus::router(), limits)
    }

    fn serve_router(
        socket: ApiSocket,
        app: axum::Router,
        limits: ListenerLimits,
    ) -> io::Result<ApiServer> {
        let listener = tokio::net::TcpListener::from_std(socket.0)?;
        let local_addr = listener.local_addr()?;
        let (shutdown, stop) = watch::channel(false);
        tokio::spawn(listener::serve(listener, app, limits, stop));
        Ok(ApiServer {
            local_addr,
            shutdown: Some(shutdown),
        })
    }

    /// Stops accepting connections (requests in flight finish).
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
