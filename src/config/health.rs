//! The health-checking half of the config: reusable check templates
//! (`[checks.<name>]`) and the checker's global knobs (`[health]`).
//!
//! Plain serde shapes, like [`super::traffic`]. Values that validation can
//! reject are `Spanned`, so an error names the line of the offending key;
//! defaults are applied by [`crate::health::compile`], which also resolves
//! which endpoints use which check.

use serde::Deserialize;
use toml::Spanned;

/// What a check does to decide an endpoint is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// An HTTP request whose status (and optionally body) must match.
    Http,
    /// The same over TLS, with certificate verification unless turned off.
    Https,
    /// A TCP connection that must be accepted within the timeout.
    Tcp,
}

/// The state an endpoint starts in before its first verdict, when nothing
/// was persisted for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialState {
    /// Serve it until checks say otherwise.
    Up,
    /// Keep it out of answers until `rise` probes succeed.
    Down,
}

/// One element of `expect_status`: a code (`200`) or a range (`"200-399"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum StatusItem {
    /// A single status code.
    Code(u16),
    /// `"200-399"`, or a single code written as a string.
    Range(String),
}

/// `expect_status`: one item or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum StatusSpec {
    /// `expect_status = "200-399"` or `expect_status = 204`.
    One(StatusItem),
    /// `expect_status = [200, "300-302"]`.
    Many(Vec<StatusItem>),
}

/// A `[checks.<name>]` table: a reusable health-check template.
///
/// Every knob is optional; [`crate::health::compile`] applies the defaults
/// and rejects combinations that make no sense (a timeout not below the
/// interval, HTTP-only keys on a TCP check, ...).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// `http`, `https` or `tcp`.
    pub kind: CheckKind,
    /// Time between probes of one endpoint (default 1000).
    pub interval_ms: Option<Spanned<u64>>,
    /// How long one probe may take before it counts as failed (default 500;
    /// must be below the interval so probes of one endpoint never overlap).
    pub timeout_ms: Option<Spanned<u64>>,
    /// Consecutive failures that mark an up endpoint down (default 2).
    pub fall: Option<Spanned<u32>>,
    /// Consecutive successes that bring a down endpoint back (default 2).
    pub rise: Option<Spanned<u32>>,
    /// Upper bound of the random offset of each endpoint's first probe, so
    /// probes spread over the interval instead of bursting (default: the
    /// interval).
    pub jitter_ms: Option<Spanned<u64>>,
    /// Start-up state when nothing was persisted (default: unknown, which
    /// counts as up).
    pub initial: Option<InitialState>,
    /// Port probed at the endpoint's served address (default 80 for http,
    /// 443 for https; tcp needs it unless every endpoint has a `probe`).
    pub port: Option<Spanned<u16>>,
    /// HTTP method (default `GET`).
    pub method: Option<Spanned<String>>,
    /// Request path, starting with `/` (default `/`).
    pub path: Option<Spanned<String>>,
    /// `Host` header (default: the address probed).
    pub host: Option<Spanned<String>>,
    /// TLS server name for https (default: `host`, else none: the
    /// certificate must then be valid for the IP address).
    pub sni: Option<Spanned<String>>,
    /// Status codes that count as success (default `"200-399"`).
    pub expect_status: Option<Spanned<StatusSpec>>,
    /// A substring the first 64 KiB of the body must contain.
    pub body_contains: Option<Spanned<String>>,
    /// Verify the server certificate for https (default true).
    pub tls_verify: Option<Spanned<bool>>,
}

/// The `[health]` table: knobs of the checker as a whole.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Transitions within this window after a publish are held back and
    /// published together in one snapshot swap (0 publishes each at once).
    #[serde(default = "default_coalesce_ms")]
    pub coalesce_ms: u64,
    /// Most probes in flight at once, across all endpoints (applies on restart).
    #[serde(default = "default_max_concurrent_probes")]
    pub max_concurrent_probes: Spanned<usize>,
    /// With `[cluster] store = "etcd"`: how many live instances' votes
    /// must say down for the cluster to take an endpoint out (default
    /// `majority`; see [`super::quorum`]).
    #[serde(default)]
    pub quorum: super::quorum::Quorum,
    /// The local address probes are sent from (multi-homed hosts; tests give
    /// each instance its own loopback address). Applies on restart.
    #[serde(default)]
    pub source_address: Option<std::net::IpAddr>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            coalesce_ms: default_coalesce_ms(),
            max_concurrent_probes: default_max_concurrent_probes(),
            quorum: Default::default(),
            source_address: None,
        }
    }
}

fn default_coalesce_ms() -> u64 {
    50
}

fn default_max_concurrent_probes() -> Spanned<usize> {
    Spanned::new(0..0, 1024)
}
