//! Shared state for several Switchyard instances.
//!
//! - [`etcd`]: a store client for etcd's v3 JSON gateway (key-value reads
//!   and writes, transactions, leases, watches), with endpoint failover,
//!   auth and TLS. It knows nothing about Switchyard's own data: the layers
//!   above it decide what keys hold.

pub mod etcd;
