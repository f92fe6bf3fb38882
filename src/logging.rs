//! The process log: `tracing` events written as text or JSON lines, as
//! `[log]` says. Health transitions, override changes, reloads and
//! snapshot publishes are events with structured fields (region, endpoint,
//! generation, who, why...), so a JSON log can be queried by field.

use std::path::Path;

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogConfig, LogFormat};

/// Installs the global `tracing` subscriber for `config`. `RUST_LOG`, when
/// set, overrides `config.level`. Does nothing if a subscriber is already
/// installed (tests).
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// Installs the subscriber from the `[log]` table of the config at `path`;
/// defaults when the file cannot be read (starting up reports that error
/// properly a moment later).
pub fn init_from(path: &Path) {
    let log = Config::load(path).map(|c| c.log).unwrap_or_default();
    init(&log);
    if let Err(e) = EnvFilter::try_new(&log.level) {
        tracing::warn!(level = log.level, error = %e, "log.level is not a valid filter; using info");
    }
}
