//! The `[api]` table: who may use the control API, and the limits that keep
//! its listener from being held open or flooded by clients without a token.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// `[api]`: bearer tokens for the control API, whether reads need one, and
/// the listener's limits.
///
/// Tokens come from a file (`tokens_file`, relative to the config file) or
/// an environment variable (`tokens_env`), never from the config itself, so
/// the config can be shared and committed. Both hold one `name:token` per
/// line; `#` starts a comment. With neither, every write is refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// File of `name:token` lines; the name is who the audit trail says acted.
    pub tokens_file: Option<Spanned<PathBuf>>,
    /// Environment variable holding the same `name:token` lines.
    pub tokens_env: Option<Spanned<String>>,
    /// Reads that expose probe addresses, operator names, `why` texts or
    /// paths need a token too. On unless set to `false` explicitly: the API
    /// may be reachable by more people than the operators.
    #[serde(default = "yes")]
    pub protect_reads: bool,
    /// Most connections the API listener holds open at once; more are
    /// accepted and closed at once. (The descriptor budget may lower it.)
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, counted from the
    /// connection's start or the end of the previous response, so an idle
    /// keep-alive connection is closed after the same time. Also the most a
    /// response write may wait for a client that does not read.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's body once its headers are in.
    #[serde(default = "default_body_timeout")]
    pub body_timeout_secs: u64,
    /// Failed authentications (401) per client address (IPv6: per /64)
    /// before it gets 429 until `auth_window_secs` after its first failure.
    #[serde(default = "default_auth_failures")]
    pub max_auth_failures: u32,
    /// The failed-authentication window, in seconds.
    #[serde(default = "default_auth_window")]
    pub auth_window_secs: u64,
    /// `audit.log` is rotated when it reaches this many MiB.
    #[serde(default = "default_audit_max_mib")]
    pub audit_max_mib: u64,
    /// Rotated audit logs kept (`audit.log.1` ... `audit.log.<n>`).
    #[serde(default = "default_audit_keep")]
    pub audit_keep: u32,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            tokens_file: None,
            tokens_env: None,
            protect_reads: true,
            max_connections: default_max_connections(),
            header_timeout_secs: default_header_timeout(),
            body_timeout_secs: default_body_timeout(),
            max_auth_failures: default_auth_failures(),
            auth_window_secs: default_auth_window(),
            audit_max_mib: default_audit_max_mib(),
            audit_keep: default_audit_keep(),
        }
    }
}

impl ApiConfig {
    /// `header_timeout_secs` as a [`Duration`].
    pub(crate) fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    /// `body_timeout_secs` as a [`Duration`].
    pub(crate) fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs)
    }

    /// `auth_window_secs` as a [`Duration`].
    pub(crate) fn auth_window(&self) -> Duration {
        Duration::from_secs(self.auth_window_secs)
    }
}

fn yes() -> bool {
    true
}

fn default_max_connections() -> usize {
    256
}

fn default_header_timeout() -> u64 {
    10
}

fn default_body_timeout() -> u64 {
    10
}

fn default_auth_failures() -> u32 {
    10
}

fn default_auth_window() -> u64 {
    60
}

fn default_audit_max_mib() -> u64 {
    64
}

fn default_audit_keep() -> u32 {
    4
}
