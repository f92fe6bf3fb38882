//! The process's resident memory at the steps of a load, for finding out
//! what a reload's peak is made of (`RUST_LOG=switchyard::memory=debug`;
//! `benches/scale.sh` and ARCHITECTURE.md "Reload peak" use it). Costs one
//! check of the log filter when that target is off.

/// Target of the events (one per step of a load).
const TARGET: &str = "switchyard::memory";

/// Logs `VmRSS` and `VmHWM` (MiB) after `step` of a load, when debug
/// events of `switchyard::memory` are enabled. `bytes` is what the step
/// built, when it knows (0 otherwise).
pub(crate) fn note(step: &'static str, bytes: usize) {
    if !tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
        return;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
            / 1024
    };
    tracing::debug!(
        target: TARGET,
        step,
        rss_mib = field("VmRSS:"),
        hwm_mib = field("VmHWM:"),
        built_mib = bytes / (1 << 20),
        "memory"
    );
}
