//! The configuration file: its serde model, loading, and errors that name the
//! file, line and field.
//!
//! Paths inside the file are resolved relative to the file's own directory, so
//! `switchyard serve --config /etc/switchyard/switchyard.toml` works from any
//! working directory. Unknown keys are errors: a typo must never be silently
//! ignored in a file that decides where production traffic goes.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

mod api;
pub mod cluster;
mod dnssec;
mod drills;
mod health;
mod observe;
pub mod quorum;
mod rrl;
pub mod tokens;
mod traffic;

pub use api::ApiConfig;
pub use cluster::{ClusterConfig, StoreKind, valid_instance};
pub use dnssec::{DnssecConfig, DnssecZoneConfig, KeyAlgorithm, ParentDs, parse_ds};
pub use drills::{DrillsConfig, ScheduleConfig};
pub use health::{CheckConfig, CheckKind, HealthConfig, InitialState, StatusItem, StatusSpec};
pub use observe::{LogConfig, LogFormat, MetricsConfig, PerServiceAnswers, QueryLogConfig};
pub use rrl::RrlConfig;
pub use traffic::{
    AllDownConfig, EndpointConfig, GeoConfig, GeoField, GeoRulesConfig, NetworkLocation, OneOrMany,
    PolicyKind, RegionConfig, ServiceConfig,
};

/// The only configuration format version this build understands.
pub(crate) const CONFIG_VERSION: u32 = 1;

/// A fully parsed configuration, with paths already resolved against the
/// config file's directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version; must be [`CONFIG_VERSION`].
    pub version: u32,
    /// Listeners, directories and transport limits.
    pub server: ServerConfig,
    /// Where client locations come from (`[geo]`).
    #[serde(default)]
    pub geo: GeoConfig,
    /// Regions by name (`[regions.<name>]`).
    #[serde(default)]
    pub regions: BTreeMap<String, Spanned<RegionConfig>>,
    /// Traffic-managed names (`[services."<name>"]`).
    #[serde(default)]
    pub services: BTreeMap<String, Spanned<ServiceConfig>>,
    /// Health-check templates by name (`[checks.<name>]`).
    #[serde(default)]
    pub checks: BTreeMap<String, Spanned<CheckConfig>>,
    /// Knobs of the health checker as a whole (`[health]`).
    #[serde(default)]
    pub health: HealthConfig,
    /// Control API access (`[api]`).
    #[serde(default)]
    pub api: ApiConfig,
    /// Geo-failover drills: limits, vantages, schedule (`[drills]`).
    #[serde(default)]
    pub drills: DrillsConfig,
    /// The Prometheus exposition (`[metrics]`).
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Log format and level, and the query log (`[log]`).
    #[serde(default)]
    pub log: LogConfig,
    /// `[cluster]` as written; [`Config::cluster`] is its validated form.
    #[serde(default, rename = "cluster")]
    cluster_toml: cluster::ClusterToml,
    /// Where shared state lives: local files or etcd (`[cluster]`), validated.
    #[serde(skip)]
    pub cluster: ClusterConfig,
    /// Response rate limiting of UDP answers (`[rrl]`).
    #[serde(default)]
    pub rrl: RrlConfig,
    /// Online DNSSEC signing (`[dnssec]`).
    #[serde(default)]
    pub dnssec: DnssecConfig,
    /// The file this configuration was read from (not a TOML key).
    #[serde(skip)]
    pub source: PathBuf,
    /// The file's text, kept so later validation can turn spans into lines.
    #[serde(skip)]
    pub text: String,
}

/// The `[server]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Addresses the DNS server listens on, each over both UDP and TCP.
    pub dns_listen: Vec<SocketAddr>,
    /// Address of the HTTP control API.
    pub api_listen: SocketAddr,
    /// Directory holding `<origin>.zone` files; every such file is served.
    pub zones_dir: PathBuf,
    /// Directory for durable state (overrides, health, drill reports).
    pub state_dir: PathBuf,
    /// UDP worker sockets per listen address (`SO_REUSEPORT`); 0 means one per CPU.
    #[serde(default)]
    pub udp_workers: usize,
    /// Seconds a TCP connection may sit idle between queries before it is closed.
    #[serde(default = "default_tcp_idle_timeout")]
    pub tcp_idle_timeout_secs: u64,
    /// Upper bound on concurrently open TCP connections, so a flood of idle
    /// connections cannot exhaust file descriptors.
    #[serde(default = "default_tcp_max_connections")]
    pub tcp_max_connections: usize,
    /// Largest UDP response we send to EDNS clients, whatever they advertise
    /// (1232 avoids IP fragmentation, per DNS Flag Day 2020).
    #[serde(default = "default_edns_udp_payload")]
    pub edns_udp_payload: u16,
    /// User to run as after binding the sockets, when started as root
    /// (`setgroups([])`, `setgid`, `setuid`); start-up fails if it cannot.
    #[serde(default)]
    pub user: Option<String>,
    /// Group to run as with `user` (default: the user's primary group).
    #[serde(default)]
    pub group: Option<String>,
    /// Most TCP connections open at once from one client address, so one
    /// host cannot take every slot (0: no per-source limit).
    #[serde(default = "default_tcp_max_per_source")]
    pub tcp_max_per_source: usize,
    /// The name server identifier returned to queries that ask for it
    /// (RFC 5001 NSID); unset: the host name; `""`: never returned.
    #[serde(default)]
    pub nsid: Option<String>,
}

fn default_tcp_max_per_source() -> usize {
    64
}

fn default_tcp_idle_timeout() -> u64 {
    10
}

fn default_tcp_max_connections() -> usize {
    1024
}

fn default_edns_udp_payload() -> u16 {
    1232
}

impl ServerConfig {
    /// The TCP idle timeout as a [`Duration`].
    pub(crate) fn tcp_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.tcp_idle_timeout_secs)
    }
}

/// A configuration problem, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line, when the problem has a position.
    pub line: Option<usize>,
    /// Dotted path of the offending key (`server.dns_listen[0]`), when known.
    pub field: Option<String>,
    /// What is wrong, in lower case.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads, parses and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            field: None,
            message: format!("cannot read config file: {e}"),
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates config text; `path` names it in errors and anchors
    /// relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let error_at =
            |span: Option<std::ops::Range<usize>>, field: Option<String>, message: String| {
                ConfigError {
                    file: path.to_path_buf(),
                    line: span.map(|s| line_of(text, s.start)),
                    field,
                    message,
                }
            };
        let deserializer = toml::de::Deserializer::parse(text)
            .map_err(|e| error_at(e.span(), None, e.message().to_string()))?;
        let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            // Spanned<T> shows up in serde paths as a private key; users never wrote it.
            let field = e
                .path()
                .to_string()
                .replace(".$__serde_spanned_private_value", "");
            let field = (field != ".").then_some(field);
            let inner = e.into_inner();
            error_at(inner.span(), field, inner.message().to_string())
        })?;
        config.source = path.to_path_buf();
        config.text = text.to_string();
        if config.version != CONFIG_VERSION {
            return Err(error_at(
                find_key(text, "version"),
                Some("version".into()),
                format!(
                    "unsupported config version {} (this build reads version {CONFIG_VERSION})",
                    config.version
                ),
            ));
        }
        if config.server.dns_listen.is_empty() {
            return Err(error_at(
                find_key(text, "dns_listen"),
                Some("server.dns_listen".into()),
                "at least one listen address is required".into(),
            ));
        }
        if let Some(queries) = &config.log.queries {
            for (key, value) in [
                ("sample", queries.sample as usize),
                ("queue", queries.queue),
            ] {
                if value == 0 {
                    return Err(error_at(
                        find_key(text, key),
                        Some(format!("log.queries.{key}")),
                        format!("{key} must be at least 1"),
                    ));
                }
            }
        }
        let api = &config.api;
        for (key, value) in [
            ("max_connections", api.max_connections as u64),
            ("header_timeout_secs", api.header_timeout_secs),
            ("body_timeout_secs", api.body_timeout_secs),
            ("max_auth_failures", u64::from(api.max_auth_failures)),
            ("auth_window_secs", api.auth_window_secs),
            ("audit_max_mib", api.audit_max_mib),
        ] {
            if value == 0 {
                return Err(error_at(
                    find_key(text, key),
                    Some(format!("api.{key}")),
                    format!("{key} must be at least 1"),
                ));
            }
        }
        if config.server.group.is_some() && config.server.user.is_none() {
            return Err(error_at(
                find_key(text, "group"),
                Some("server.group".into()),
                "`group` needs `user`: privileges are dropped to a user and its group".into(),
            ));
        }
        config.rrl.validate(text, path)?;
        if config.server.nsid.as_ref().is_some_and(|n| n.len() > 512) {
            return Err(error_at(
                find_key(text, "nsid"),
                Some("server.nsid".into()),
                "nsid is longer than 512 bytes".into(),
            ));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        config.server.zones_dir = base.join(&config.server.zones_dir);
        config.server.state_dir = base.join(&config.server.state_dir);
        config.geo.resolve_paths(base);
        if let Some(queries) = &mut config.log.queries
            && queries.path != Path::new("-")
        {
            queries.path = base.join(&queries.path);
        }
        if let Some(file) = &mut config.api.tokens_file {
            *file.get_mut() = base.join(file.get_ref());
        }
        let state_dir = config.server.state_dir.clone();
        config.dnssec.validate(text, path, base, &state_dir)?;
        config.cluster = cluster::resolve(&config.cluster_toml, &config, base)?;
        Ok(config)
    }
}

impl Config {
    /// An error about the config element at `span` (a [`Spanned`] value's
    /// position), for validation done after parsing.
    pub(crate) fn error_at(
        &self,
        span: std::ops::Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.source.clone(),
            line: Some(line_of(&self.text, span.start)),
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

/// 1-based line number of byte offset `pos` in `text`.
pub(crate) fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Span of the first line that assigns `key`, for errors found after parsing.
pub(crate) fn find_key(text: &str, key: &str) -> Option<std::ops::Range<usize>> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(offset..offset + line.len());
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"version = 1
[server]
dns_listen = ["127.0.0.1:5353"]
api_listen = "127.0.0.1:8053"
zones_dir = "../zones"
state_dir = "../state"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/sy/switchyard.toml"))
    }

    #[test]
    fn resolves_paths_against_the_config_file() {
        let config = parse(GOOD).unwrap();
        assert_eq!(config.server.zones_dir, Path::new("/etc/sy/../zones"));
        assert_eq!(config.server.tcp_idle_timeout_secs, 10);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = GOOD.replace("state_dir", "stat_dir");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, Some(6), "{err}");
        assert!(err.message.contains("stat_dir"), "{err}");
        assert_eq!(err.field.as_deref(), Some("server.stat_dir"), "{err}");
    }

    #[test]
    fn bad_listen_address_names_field_and_line() {
        let text = GOOD.replace("127.0.0.1:5353", "127.0.0.1:99999");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert_eq!(err.field.as_deref(), Some("server.dns_listen[0]"));
        assert!(
            err.to_string()
                .starts_with("/etc/sy/switchyard.toml:3: server.dns_listen[0]: ")
        );
    }

    #[test]
    fn wrong_version_is_rejected() {
        let err = parse(&GOOD.replace("version = 1", "version = 2")).unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(err.message.contains("unsupported config version 2"));
    }
}
