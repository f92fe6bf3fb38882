//! The descriptor budget: how many sockets clients may hold, so that no
//! client load can leave the health checker without descriptors.
//!
//! Under systemd's default limit of 1,024 descriptors, slow DNS-over-TCP or
//! HTTP clients could once take every descriptor; probes then failed with
//! "Too many open files", healthy regions were marked down and answers
//! moved. So at start-up the soft `RLIMIT_NOFILE` is raised to the hard
//! limit, and what is left after the descriptors already open is split:
//!
//! 1. `probe_reserve`: one pooled connection per checked endpoint, one new
//!    connection per probe in flight (`health.max_concurrent_probes`), and a
//!    margin for state files, the log and listeners;
//! 2. `api_max`: a quarter of the rest (at most [`API_MAX_CAP`]) for the
//!    control API's connections (read with [`api_max`]);
//! 3. `tcp_max`: the rest for DNS over TCP, never more than
//!    `server.tcp_max_connections`.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Descriptors kept aside for everything that is neither a client nor a
/// probe: listeners, state and log files, the etcd client, reloads.
pub(crate) const MARGIN: usize = 64;

/// The API never needs more connections than this, however high the limit.
pub(crate) const API_MAX_CAP: usize = 1024;

/// How the process's descriptors are shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DescriptorBudget {
    /// The (raised) soft descriptor limit.
    pub limit: usize,
    /// Descriptors open when the budget was computed.
    pub in_use: usize,
    /// Kept free for health probes (see the module docs).
    pub probe_reserve: usize,
    /// Most DNS-over-TCP connections open at once.
    pub tcp_max: usize,
    /// Most control API connections open at once.
    pub api_max: usize,
}

impl DescriptorBudget {
    /// Splits `limit` descriptors, `in_use` of them already open, given
    /// `checked` health-checked endpoints probed at most `concurrency` at a
    /// time and the configured TCP cap. Pure. Each client cap is at least 1
    /// (a budget that small is logged as a warning at start-up).
    pub(crate) fn compute(
        limit: usize,
        in_use: usize,
        checked: usize,
        concurrency: usize,
        tcp_configured: usize,
    ) -> DescriptorBudget {
        let probe_reserve = checked + checked.min(concurrency) + MARGIN;
        let spare = limit.saturating_sub(in_use + probe_reserve);
        let api_max = (spare / 4).clamp(1, API_MAX_CAP);
        let tcp_max = spare
            .saturating_sub(api_max)
            .clamp(1, tcp_configured.max(1));
        DescriptorBudget {
            limit,
            in_use,
            probe_reserve,
            tcp_max,
            api_max,
        }
    }

    /// True when the limit leaves clients fewer descriptors than a working
    /// server wants (then start-up warns).
    pub(crate) fn is_starved(&self) -> bool {
        self.limit < self.in_use + self.probe_reserve + 16
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft
/// limit in force afterwards.
pub(crate) fn raise_nofile_limit() -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return usize::try_from(hard).unwrap_or(usize::MAX);
    }
    usize::try_from(soft).unwrap_or(usize::MAX)
}

/// Descriptors open now (Linux: entries of `/proc/self/fd`).
pub(crate) fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(16, |dir| dir.count())
}

/// The API's connection cap from the budget in force (0 before one is set).
static API_MAX: AtomicUsize = AtomicUsize::new(0);

/// Most control API connections the descriptor budget allows; the API
/// listener caps its open connections at this. 0 until the server has
/// computed its budget (then there is no cap to apply).
pub fn api_max() -> usize {
    API_MAX.load(Ordering::Relaxed)
}

/// Publishes `budget` for [`api_max`].
pub(crate) fn publish(budget: &DescriptorBudget) {
    API_MAX.store(budget.api_max, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_reserved_before_clients() {
        // systemd's default: 1024, 30 in use, 100 checked endpoints.
        let b = DescriptorBudget::compute(1024, 30, 100, 1024, 1024);
        assert_eq!(b.probe_reserve, 100 + 100 + MARGIN);
        assert_eq!(b.api_max + b.tcp_max + b.probe_reserve + b.in_use, 1024);
        assert_eq!(b.api_max, (1024 - 30 - 264) / 4);
        assert!(!b.is_starved());
    }

    #[test]
    fn configured_tcp_cap_and_api_cap_bound_a_large_limit() {
        let b = DescriptorBudget::compute(1 << 20, 30, 10, 4, 1024);
        assert_eq!((b.tcp_max, b.api_max), (1024, API_MAX_CAP));
    }

    #[test]
    fn a_tiny_limit_still_leaves_one_of_each_and_says_so() {
        let b = DescriptorBudget::compute(64, 30, 10, 10, 1024);
        assert_eq!((b.tcp_max, b.api_max), (1, 1));
        assert!(b.is_starved());
    }

    #[test]
    fn raising_never_lowers_the_limit() {
        let before = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .unwrap()
            .0 as usize;
        assert!(raise_nofile_limit() >= before);
        assert!(open_descriptors() >= 3);
    }
}
