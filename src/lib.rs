//! Switchyard: a DNS-based global traffic manager.
//!
//! Switchyard answers authoritatively for the zones delegated to it and
//! points traffic-managed names only at healthy regions.
//!
//! # Data flow
//!
//! ```text
//! config/*.toml, zones/*.zone --Inputs::load--> Inputs --Snapshot::build--> Snapshot
//! health checkers --report_health--+                                           |
//!                                  v                                           |
//!                              publisher (sole writer) --ArcSwap::store--------+
//! DNS packet --> server::{udp,tcp} --> answer::respond_into(&snapshot.load().view(), ..) --> packet
//!                      \--> server::QueryRecorder (records the returned QueryFacts; flushed per batch)
//!                      \--> querylog (sampled, try_send) --> writer thread --> JSON lines
//!
//! HTTP --> api --Request--> publisher: safety rule, overrides::store (fsync), publish, overrides::audit
//! drills --StartDrill/EndDrill Request--> publisher; drills::verify --UDP+ECS--> own DNS listener
//! ```
//!
//! # Layout
//!
//! - [`cluster`]: state shared by several instances through etcd: the
//!   store client, the compare-and-swap write path for overrides, the
//!   watcher feeding the publisher, membership, the config digest, health
//!   votes and their quorum.
//! - [`config`]: the TOML config model and its file:line:field errors.
//! - [`zone`]: master-file parsing with line tracking, validation, the name tree.
//! - [`dnssec`]: online DNSSEC signing: keys, RRSIGs made at load and
//!   publish, compact denial, the on-demand signature cache.
//! - [`load`]: what `check`, start-up and reloads run: config and zones
//!   read, validated and compiled into [`load::Inputs`].
//! - [`snapshot`]: the immutable routing table and the pure function building it.
//! - [`statedir`]: the state dir's lock, temp-file cleanup and atomic writes.
//! - [`clock`]: the one wall clock (`clock::now`), which follows the tokio
//!   runtime's time so expiry and drill tests run on paused time.
//! - [`answer`]: the query path: decode, look up, encode within size limits.
//! - [`server`]: UDP and TCP listeners feeding [`answer::respond`].
//! - [`app`]: start-up wiring shared by `serve` and the tests.
//! - [`privileges`]: `[server] user`/`group`: leaving root after binding.
//! - [`publisher`]: the single writer that loads inputs and swaps snapshots in.
//! - [`health`]: health checks whose verdicts the publisher turns into snapshots.
//! - [`overrides`]: operator overrides (weight, drain, force), the safety
//!   rule, their durable store and the audit log.
//! - [`api`]: the HTTP control API and its OpenAPI document.
//! - [`control`]: the control-plane settings (tokens, health plan, drills, metrics
//!   selection, last reload), one generation per load, published by the
//!   publisher through one `watch` channel.
//! - [`contract`]: the control API's request and response types, shared by
//!   the handlers, `ctl` and the OpenAPI document.
//! - [`ctl`]: `switchyard ctl`, the API's command-line client.
//! - [`drills`]: geo-failover drills: forced-down overrides with an expiry,
//!   verified by querying our own DNS listener from client vantages (ECS).
//! - [`demo`]: `switchyard demo`, a self-contained local demo.
//! - [`metrics`]: Prometheus metrics; recording on the query path without
//!   allocating or locking.
//! - [`explain`]: why a client gets its answer, from the query path itself.
//! - [`querylog`]: the sampled query log and its background writer.
//! - [`logging`]: the `tracing` subscriber from `[log]`.

#![forbid(unsafe_code)]

pub mod answer;
pub mod api;
pub mod app;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod contract;
pub mod control;
pub mod ctl;
pub mod demo;
pub mod dnssec;
pub mod drills;
pub mod explain;
pub mod geo;
pub mod health;
pub mod load;
pub mod logging;
pub mod metrics;
pub mod overrides;
pub mod privileges;
pub mod publisher;
pub mod querylog;
pub mod server;
pub mod snapshot;
pub mod statedir;
pub mod traffic;
pub mod zone;
