//! Many instances acting as one traffic manager through etcd.
//!
//! # Layout
//!
//! - [`digest`]: the config digest each instance publishes (drift shows).
//! - [`quorum`]: `[health] quorum`, the rule turning votes into a verdict.
//! - [`mirror`]: a watched local copy of one etcd prefix.
//! - [`membership`]: the instance's lease and `instances/` record.
//! - [`votes`]: health votes written under the lease and counted.
//! - [`instance`]: membership and votes started together, and their view.

pub mod digest;
pub mod instance;
pub mod membership;
pub mod mirror;
pub mod quorum;
pub mod votes;
