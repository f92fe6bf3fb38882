//! This instance's part in a cluster's health and membership: the lease
//! and membership record ([`membership`](crate::cluster::membership)) and
//! the health votes ([`votes`](crate::cluster::votes)), started together
//! because the votes are bound to the membership's lease.

use std::time::SystemTime;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::cluster::etcd::Etcd;
use crate::cluster::membership::{Members, Membership, MembershipSettings};
use crate::cluster::quorum::Quorum;
use crate::cluster::votes::{VoteSettings, Votes, VotesView};
use crate::config::ClusterConfig;
use crate::health::HealthRegistry;
use crate::health::scheduler::HealthEvent;
use crate::publisher::PublisherHandle;
use crate::snapshot::{Snapshot, SnapshotHandle};
use crate::traffic::HealthInputs;

/// Membership and votes of a running instance in etcd mode. Dropping it
/// stops both (the lease then expires on its own).
#[derive(Debug)]
pub struct ClusterHealth {
    /// The lease and the membership record.
    pub membership: Membership,
    /// The vote writer and counter.
    pub votes: Votes,
}

/// Everything that [`ClusterHealth::start`] needs from the app.
#[derive(Debug)]
pub struct HealthWiring {
    /// The health checker's verdict changes (see
    /// [`crate::health::HealthChecker::start_voting`]).
    pub events: mpsc::UnboundedReceiver<HealthEvent>,
    /// The checker's current verdicts.
    pub registry: HealthRegistry,
    /// Where the cluster's verdicts go.
    pub publisher: PublisherHandle,
    /// The health the publisher started from.
    pub initial: HealthInputs,
    /// What the instance serves (generation and config digest).
    pub snapshot: SnapshotHandle,
}

impl ClusterHealth {
    /// Starts the lease, the membership record and the votes. Never waits
    /// for etcd. Must run inside a tokio runtime.
    pub fn start(
        etcd: Etcd,
        cluster: &ClusterConfig,
        quorum: Quorum,
        wiring: HealthWiring,
    ) -> ClusterHealth {
        let membership = Membership::start(
            etcd.clone(),
            MembershipSettings {
                prefix: cluster.prefix.clone(),
                instance: cluster.instance.clone(),
                lease_ttl: cluster.lease_ttl,
            },
            wiring.snapshot,
        );
        let votes = Votes::start(
            etcd,
            VoteSettings {
                prefix: cluster.prefix.clone(),
                instance: cluster.instance.clone(),
                quorum,
            },
            membership.lease.clone(),
            wiring.events,
            wiring.registry,
            wiring.publisher,
            wiring.initial,
        );
        ClusterHealth { membership, votes }
    }

    /// The API's view of it.
    pub fn view(&self) -> ClusterHealthView {
        ClusterHealthView {
            members: self.membership.members.clone(),
            votes: Some(self.votes.view.clone()),
        }
    }
}

/// What `/v1/status` shows of membership and votes; cheap to clone.
#[derive(Debug, Clone)]
pub struct ClusterHealthView {
    /// The instances.
    pub members: Members,
    /// The vote counter; `None` in local mode.
    pub votes: Option<VotesView>,
}

impl ClusterHealthView {
    /// Local mode: only this instance, no votes.
    pub fn local(instance: &str) -> ClusterHealthView {
        ClusterHealthView {
            members: Members::local(instance),
            votes: None,
        }
    }

    /// `instances` for `/v1/status`.
    pub fn instances_json(&self, snapshot: &Snapshot, now: SystemTime) -> Value {
        self.members.instances_json(snapshot, now)
    }

    /// `health_votes` for `/v1/status`: `null` in local mode.
    pub fn votes_json(&self) -> Value {
        match &self.votes {
            Some(votes) => votes.status_json(),
            None => json!(null),
        }
    }
}
