//! Every metric Switchyard exports, by name, with its help text. Names
//! follow Prometheus conventions: `switchyard_` prefix, `_total` for
//! counters, base units (`_seconds`). Labels are bounded: transports,
//! qtype and rcode buckets, and names from the config (services, regions,
//! endpoints, check kinds), never client addresses or query names.

use metrics::{describe_counter, describe_gauge, describe_histogram};

/// Counter `{transport, qtype, rcode}`: queries answered.
pub const QUERIES: &str = "switchyard_queries_total";
/// Counter `{transport}`: messages received and not answered (not a query,
/// too short to have a header).
pub(crate) const QUERIES_DROPPED: &str = "switchyard_queries_dropped_total";
/// Counter `{transport}`: queries carrying EDNS Client Subnet.
pub(crate) const ECS_QUERIES: &str = "switchyard_ecs_queries_total";
/// Counter `{transport}`: responses sent with TC set.
pub(crate) const TRUNCATED: &str = "switchyard_responses_truncated_total";
/// Histogram `{transport}`: time from a batch's receipt to its answers
/// handed to the kernel, per query.
pub(crate) const QUERY_DURATION: &str = "switchyard_query_duration_seconds";
/// Counter `{service, policy, region, reason}`: managed answers by the
/// region they came from, for the services `[metrics]
/// per_service_answers` selects (rendered by `answers`, not the exporter).
pub(crate) const ANSWERS: &str = "switchyard_answers_total";
/// The `# HELP` text of [`ANSWERS`], which the exporter does not render.
pub(crate) const ANSWERS_HELP: &str =
    "Managed-name answers by service, policy, region answered and reason (policy or all-down rule)";
/// Counter `{region, reason}`: managed answers of every service by the
/// region they came from (bounded: regions x reasons).
pub(crate) const REGION_ANSWERS: &str = "switchyard_region_answers_total";
/// Gauge: open TCP connections.
pub(crate) const TCP_OPEN: &str = "switchyard_tcp_connections_open";
/// Counter `{result}`: TCP connections accepted or refused over the cap.
pub(crate) const TCP_CONNECTIONS: &str = "switchyard_tcp_connections_total";
/// Counter: UDP answers not sent because the client network was over its
/// response rate (RRL), slipped ones included.
pub(crate) const RRL_LIMITED: &str = "switchyard_rrl_limited_total";
/// Counter: rate-limited UDP answers sent as an empty TC=1 answer instead
/// (RRL slip), so real clients retry over TCP.
pub(crate) const RRL_SLIPPED: &str = "switchyard_rrl_slipped_total";
/// Counter: log lines dropped because the log writer was behind (the log
/// never blocks the process).
pub(crate) const LOG_DROPPED: &str = "switchyard_log_lines_dropped_total";
/// Counter `{what}`: repeated warnings not logged because the same
/// warning was logged too often in the last second.
pub(crate) const LOG_SUPPRESSED: &str = "switchyard_log_warnings_suppressed_total";
/// Counter: sampled queries the query log had to drop (writer behind).
pub(crate) const QUERY_LOG_DROPPED: &str = "switchyard_query_log_dropped_total";
/// Counter: query log lines written.
pub(crate) const QUERY_LOG_WRITTEN: &str = "switchyard_query_log_written_total";
/// Counter `{kind, result}`: health probes run.
pub(crate) const PROBES: &str = "switchyard_health_probes_total";
/// Histogram `{kind}`: health probe latency.
pub(crate) const PROBE_DURATION: &str = "switchyard_health_probe_duration_seconds";
/// Counter `{to}`: endpoint verdict changes.
pub(crate) const TRANSITIONS: &str = "switchyard_health_transitions_total";
/// Gauge `{region, endpoint}`: 1 when the endpoint is answered.
pub(crate) const ENDPOINT_UP: &str = "switchyard_endpoint_up";
/// Gauge `{region}`: 1 when the region is healthy (after forced states).
pub(crate) const REGION_HEALTHY: &str = "switchyard_region_healthy";
/// Gauge `{region}`: 1 when the region may answer (healthy, weight > 0).
pub(crate) const REGION_AVAILABLE: &str = "switchyard_region_available";
/// Gauge `{region}`: effective weight (after overrides).
pub(crate) const REGION_WEIGHT: &str = "switchyard_region_weight";
/// Gauge: generation of the snapshot being served.
pub(crate) const SNAPSHOT_GENERATION: &str = "switchyard_snapshot_generation";
/// Counter: snapshots published.
pub(crate) const SNAPSHOT_PUBLISHES: &str = "switchyard_snapshot_publishes_total";
/// Histogram: time to build a snapshot.
pub(crate) const SNAPSHOT_BUILD_DURATION: &str = "switchyard_snapshot_build_duration_seconds";
/// Gauge: operator overrides in force.
pub(crate) const OVERRIDES_ACTIVE: &str = "switchyard_overrides_active";
/// Gauge: drills running (distinct drills among the active overrides).
pub(crate) const DRILLS_ACTIVE: &str = "switchyard_drills_active";
/// Counter `{result}`: override changes (ok, refused, failed, expired).
pub(crate) const OVERRIDE_CHANGES: &str = "switchyard_override_changes_total";
/// Counter `{result}`: config reloads (success, failure).
pub(crate) const RELOADS: &str = "switchyard_reloads_total";
/// Gauge `{version}`: always 1.
pub(crate) const BUILD_INFO: &str = "switchyard_build_info";

/// Gives every metric its `# HELP` text.
pub(super) fn describe() {
    describe_counter!(
        QUERIES,
        "DNS queries answered, by transport, query type and response code"
    );
    describe_counter!(
        QUERIES_DROPPED,
        "DNS messages received and not answered (responses, runts)"
    );
    describe_counter!(ECS_QUERIES, "DNS queries carrying EDNS Client Subnet");
    describe_counter!(TRUNCATED, "DNS responses sent truncated (TC set)");
    describe_counter!(
        REGION_ANSWERS,
        "Managed-name answers of all services by region answered and reason (policy or all-down rule)"
    );
    describe_counter!(
        RRL_LIMITED,
        "UDP answers withheld by response rate limiting (slips included)"
    );
    describe_counter!(
        RRL_SLIPPED,
        "Rate-limited UDP answers sent as empty truncated (TC=1) answers"
    );
    describe_counter!(
        LOG_DROPPED,
        "Log lines dropped because the log writer was behind"
    );
    describe_counter!(
        LOG_SUPPRESSED,
        "Repeated warnings suppressed by the log rate limit"
    );
    describe_gauge!(TCP_OPEN, "Open DNS TCP connections");
    describe_counter!(
        TCP_CONNECTIONS,
        "DNS TCP connections accepted, or refused over the connection cap"
    );
    describe_counter!(
        QUERY_LOG_DROPPED,
        "Sampled queries not logged because the query log writer fell behind"
    );
    describe_counter!(QUERY_LOG_WRITTEN, "Query log lines written");
    describe_counter!(PROBES, "Health probes run, by check kind and result");
    describe_histogram!(
        PROBE_DURATION,
        metrics::Unit::Seconds,
        "Health probe latency by check kind"
    );
    describe_counter!(
        TRANSITIONS,
        "Endpoint health verdict changes, by the state entered"
    );
    describe_gauge!(
        ENDPOINT_UP,
        "1 when the endpoint is answered (health and forced states), else 0"
    );
    describe_gauge!(
        REGION_HEALTHY,
        "1 when the region is healthy (enough endpoints up, or forced up), else 0"
    );
    describe_gauge!(
        REGION_AVAILABLE,
        "1 when the region may answer (healthy and weight above 0), else 0"
    );
    describe_gauge!(REGION_WEIGHT, "Effective region weight after overrides");
    describe_gauge!(
        SNAPSHOT_GENERATION,
        "Generation of the snapshot being served"
    );
    describe_counter!(SNAPSHOT_PUBLISHES, "Snapshots published");
    describe_histogram!(
        SNAPSHOT_BUILD_DURATION,
        metrics::Unit::Seconds,
        "Time to build a snapshot"
    );
    describe_gauge!(OVERRIDES_ACTIVE, "Operator overrides in force");
    describe_gauge!(DRILLS_ACTIVE, "Geo-failover drills running");
    describe_counter!(OVERRIDE_CHANGES, "Override changes by result");
    describe_counter!(RELOADS, "Config and zone reloads by result");
    describe_gauge!(BUILD_INFO, "Switchyard version (always 1)");
}

/// Registers the control-plane counters whose labels are known up front,
/// so their series exist (at 0) from the start and `rate()` and
/// dashboards see them before the first event.
pub(super) fn preregister() {
    for to in ["up", "down"] {
        metrics::counter!(TRANSITIONS, "to" => to).increment(0);
    }
    for result in ["success", "failure"] {
        metrics::counter!(RELOADS, "result" => result).increment(0);
    }
    for result in ["ok", "refused", "failed", "expired"] {
        metrics::counter!(OVERRIDE_CHANGES, "result" => result).increment(0);
    }
    metrics::counter!(QUERY_LOG_DROPPED).increment(0);
    metrics::counter!(RRL_LIMITED).increment(0);
    metrics::counter!(RRL_SLIPPED).increment(0);
    metrics::counter!(LOG_DROPPED).increment(0);
    metrics::counter!(SNAPSHOT_PUBLISHES).increment(0);
    metrics::gauge!(OVERRIDES_ACTIVE).set(0.0);
    metrics::gauge!(DRILLS_ACTIVE).set(0.0);
    metrics::gauge!(TCP_OPEN).set(0.0);
}

/// The `# HELP` text of the query latency histogram, which the exporter
/// does not render (see [`super::histogram`]).
pub(crate) const QUERY_DURATION_HELP: &str =
    "Time from a query batch's receipt to its answers handed to the kernel, per query";
