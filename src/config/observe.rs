//! The `[metrics]` and `[log]` tables: what Switchyard exposes about itself.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

/// `[metrics]`: the Prometheus exposition.
///
/// `/metrics` is always served on the API listener; `listen` adds a
/// listener that serves only `/metrics` (for a scraper that must not reach
/// the control API).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Record per-query metrics (queries by type and rcode, answers by
    /// region, query latency). Off leaves control-plane metrics only; the
    /// switch exists to measure what recording costs.
    #[serde(default = "yes")]
    pub query_metrics: bool,
    /// An extra listener serving only `GET /metrics`.
    pub listen: Option<SocketAddr>,
    /// Which services get per-service `switchyard_answers_total` series:
    /// `"auto"` (default: all when the config has at most 1,000 services,
    /// none above), `"all"`, `"none"`, or a list of service names. Region
    /// totals are always exported; `/v1/traffic` always sees every service.
    #[serde(default)]
    pub per_service_answers: Option<Spanned<PerServiceAnswers>>,
}

/// `[metrics] per_service_answers`: a mode or a list of services
/// (validated against the plan by `traffic::answer_metrics::Exported::resolve`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PerServiceAnswers {
    /// `"auto"`, `"all"` or `"none"`.
    Mode(String),
    /// Service names, with or without the trailing dot.
    Services(Vec<String>),
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            query_metrics: true,
            listen: None,
            per_service_answers: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines with `key=value` fields.
    #[default]
    Text,
    /// One JSON object per line (fields under `fields`).
    Json,
}

/// `[log]`: the process log, and the optional query log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `switchyard=debug,warn`); `RUST_LOG`
    /// overrides it.
    #[serde(default = "default_level")]
    pub level: String,
    /// The sampled query log (`[log.queries]`); off when absent.
    pub queries: Option<QueryLogConfig>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: default_level(),
            queries: None,
        }
    }
}

fn default_level() -> String {
    "info".into()
}

/// `[log.queries]`: JSON lines about sampled queries, written off the
/// query path by a background writer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryLogConfig {
    /// Log one query in `sample` (1 logs every query).
    #[serde(default = "one")]
    pub sample: u32,
    /// A file to append to (relative to the config file), or `-` for stdout.
    pub path: PathBuf,
    /// Entries queued for the writer; when it falls behind, further
    /// sampled queries are dropped and counted, never waited for.
    #[serde(default = "default_queue")]
    pub queue: usize,
}

fn one() -> u32 {
    1
}

fn default_queue() -> usize {
    4096
}
