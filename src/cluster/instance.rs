//! This instance's part in a cluster's health and membership: the lease
//! and membership record ([`membership`](crate::cluster::membership)) and
//! the health votes ([`votes`](crate::cluster::votes)), started together
//! because the votes are bound to the membership's lease.

use std::time::SystemTime;

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

    /// `instances` for `/v1/status`: each record and whether it is live.
    pub(crate) fn instances(
        &self,
        snapshot: &Snapshot,
        now: SystemTime,
    ) -> Vec<(crate::cluster::membership::InstanceRecord, bool)> {
        self.members.instances(snapshot, now)
    }

    /// `health_votes` for `/v1/status`: `None` in local mode.
    pub(crate) fn votes(&self) -> Option<&VotesView> {
        self.votes.as_ref()
    }
}
