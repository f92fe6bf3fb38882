//! Shared state for several Switchyard instances: many instances acting
//! as one traffic manager through etcd.
//!
//! # Layout
//!
//! - [`etcd`]: a store client for etcd's v3 JSON gateway (key-value reads
//!   and writes, transactions, leases, watches), with endpoint failover,
//!   auth and TLS. It knows nothing about Switchyard's own data: the layers
//!   above it decide what keys hold.
//! - [`digest`]: the config digest each instance publishes (drift shows).
//! - [`quorum`]: `[health] quorum`, the rule turning votes into a verdict.
//! - [`watched_prefix`]: a watched local copy of one etcd prefix.
//! - [`membership`]: the instance's lease and `instances/` record.
//! - [`votes`]: health votes written under the lease and counted.
//! - [`instance`]: membership and votes started together, and their view.

pub mod digest;
pub mod etcd;
pub mod instance;
pub mod membership;
pub mod quorum;
pub mod votes;
pub mod watched_prefix;
