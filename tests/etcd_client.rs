//! The etcd store client (`switchyard::cluster::etcd`) against a real
//! 3-member etcd cluster on loopback, started by `common::etcd`.

mod common;

use std::time::Duration;

use common::etcd::EtcdCluster;

#[test]
fn harness_starts_kills_and_restarts_members() {
    let Some(mut cluster) = EtcdCluster::start(3) else {
        return;
    };
    let put = cluster.etcdctl(&["put", "/harness", "v1"], &[]);
    assert!(put.status.success(), "{put:?}");
    cluster.kill(0);
    assert!(
        cluster.wait_healthy(Duration::from_secs(10)),
        "{}",
        cluster.logs()
    );
    let get = cluster.etcdctl(&["get", "/harness", "--print-value-only"], &[]);
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "v1", "{get:?}");
    cluster.restart(0);
    assert!(
        cluster.wait_healthy(Duration::from_secs(10)),
        "{}",
        cluster.logs()
    );
}
