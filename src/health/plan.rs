//! Resolving `[checks]` templates into what each endpoint is probed with,
//! with every mistake reported by file, line and field.
//!
//! Runs inside [`crate::snapshot::Inputs::load`], so `switchyard check`,
//! start-up and reloads validate checks exactly alike.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use crate::config::{CheckKind, Config, ConfigError};
use crate::health::template::compile_check;
use crate::health::{EndpointKey, HealthState};
use crate::traffic::{EndpointAnswer, TrafficPlan};

pub use crate::health::template::StatusSet;

/// The name that turns checking off for one endpoint (`check = "none"`).
pub(crate) const NO_CHECK: &str = "none";

/// Largest `body_contains`: it must fit in the 64 KiB of body we read.
pub(crate) const MAX_BODY_READ: usize = 64 * 1024;

/// The HTTP part of an `http`/`https` check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    /// Request method.
    pub method: reqwest::Method,
    /// Request path (with query, if any).
    pub path: String,
    /// `Host` header, when not the probed address.
    pub host: Option<String>,
    /// TLS server name (https only), when not the probed address.
    pub sni: Option<String>,
    /// Codes that count as success.
    pub expect_status: StatusSet,
    /// Substring required within the first 64 KiB of the body.
    pub body_contains: Option<String>,
    /// Whether the server certificate is verified (https).
    pub tls_verify: bool,
}

/// A compiled `[checks.<name>]` template, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    /// Its name in config, for logs and the API.
    pub name: String,
    /// What the probe does.
    pub kind: CheckKind,
    /// Time between probes of one endpoint.
    pub interval: Duration,
    /// Longest a probe may take.
    pub timeout: Duration,
    /// Consecutive failures that mark an endpoint down.
    pub fall: u32,
    /// Consecutive successes that bring it back up.
    pub rise: u32,
    /// Upper bound of each endpoint's random first-probe offset.
    pub jitter: Duration,
    /// Start-up state when nothing was persisted.
    pub initial: HealthState,
    /// Set for `http` and `https`.
    pub http: Option<HttpSpec>,
}

/// One endpoint under a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedEndpoint {
    /// `(region, endpoint id)`.
    pub key: EndpointKey,
    /// The check template it uses.
    pub check: Arc<CheckSpec>,
    /// Where probes go: the endpoint's `probe`, else its served address
    /// with the check's port.
    pub target: SocketAddr,
}

/// Every checked endpoint, and the checker's global knobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthPlan {
    /// In config order (region by name, then endpoint order).
    pub endpoints: Vec<CheckedEndpoint>,
    /// Window in which transitions are published together.
    pub coalesce: Duration,
    /// Most probes in flight at once.
    pub max_concurrent_probes: usize,
    /// The local address probes are sent from (`[health] source_address`).
    pub source_address: Option<std::net::IpAddr>,
    index: HashMap<EndpointKey, usize>,
}

impl HealthPlan {
    /// Is this endpoint health-checked?
    pub(crate) fn is_checked(&self, key: &EndpointKey) -> bool {
        self.index.contains_key(key)
    }

    /// The checked endpoint with this key.
    pub fn get(&self, key: &EndpointKey) -> Option<&CheckedEndpoint> {
        self.index.get(key).map(|&i| &self.endpoints[i])
    }
}

/// Validates `[checks]`, `[health]` and every `check = ...` reference, and
/// resolves each checked endpoint's probe target. `traffic` must be the
/// plan compiled from the same `config` (its endpoints line up with the
/// config's). Returns every error found.
pub fn compile(config: &Config, traffic: &TrafficPlan) -> Result<HealthPlan, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut checks: BTreeMap<&str, Arc<CheckSpec>> = BTreeMap::new();
    for (name, spanned) in &config.checks {
        let field = format!("checks.{name}");
        if name == NO_CHECK {
            errors.push(config.error_at(
                spanned.span(),
                field,
                format!("{NO_CHECK:?} is reserved: `check = \"{NO_CHECK}\"` turns checking off"),
            ));
            continue;
        }
        match compile_check(config, name, spanned, &field) {
            Ok(spec) => {
                checks.insert(name, Arc::new(spec));
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    let max = &config.health.max_concurrent_probes;
    if *max.get_ref() == 0 {
        errors.push(config.error_at(
            max.span(),
            "health.max_concurrent_probes",
            "must be at least 1",
        ));
    }

    let defined = || {
        let names: Vec<&str> = config.checks.keys().map(String::as_str).collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    // Some(None) = known reference to "none"; None = unknown (already reported).
    let lookup = |r: &Spanned<String>, field: String, errors: &mut Vec<ConfigError>| {
        let name = r.get_ref().as_str();
        if name == NO_CHECK {
            return Some(None);
        }
        match checks.get(name) {
            Some(spec) => Some(Some(spec.clone())),
            None => {
                if !config.checks.contains_key(name) {
                    errors.push(config.error_at(
                        r.span(),
                        field,
                        format!("unknown check {name:?} (defined: {})", defined()),
                    ));
                }
                None
            }
        }
    };

    let mut plan = HealthPlan {
        coalesce: Duration::from_millis(config.health.coalesce_ms),
        max_concurrent_probes: *max.get_ref(),
        source_address: config.health.source_address,
        ..HealthPlan::default()
    };
    for (region_name, spanned_region) in &config.regions {
        let region_config = spanned_region.get_ref();
        let Some(region) = traffic
            .region_index
            .get(region_name)
            .map(|&r| &traffic.regions[r])
        else {
            continue;
        };
        let region_check = region_config
            .check
            .as_ref()
            .map(|r| lookup(r, format!("regions.{region_name}.check"), &mut errors));
        for (i, (endpoint_config, endpoint)) in region_config
            .endpoints
            .iter()
            .zip(&region.endpoints)
            .enumerate()
        {
            let field = format!("regions.{region_name}.endpoints[{i}]");
            let check = match &endpoint_config.get_ref().check {
                Some(r) => lookup(r, format!("{field}.check"), &mut errors),
                None => region_check.clone().flatten(),
            };
            // None: no check, or an unknown one (reported); Some(None): "none".
            let Some(Some(check)) = check else {
                continue;
            };
            let served = match &endpoint.answer {
                EndpointAnswer::V4(a) => Some(IpAddr::V4(*a)),
                EndpointAnswer::V6(a) => Some(IpAddr::V6(*a)),
                EndpointAnswer::Target(_) => None,
            };
            let default_port = match check.kind {
                CheckKind::Http => Some(80),
                CheckKind::Https => Some(443),
                CheckKind::Tcp => None,
            };
            let port = config.checks[&check.name]
                .get_ref()
                .port
                .as_ref()
                .map(|p| *p.get_ref())
                .or(default_port);
            let target = match (endpoint.probe, served, port) {
                (Some(probe), _, _) => probe,
                (None, Some(ip), Some(port)) => SocketAddr::new(ip, port),
                (None, None, _) => {
                    errors.push(config.error_at(
                        endpoint_config.span(),
                        format!("{field}.probe"),
                        format!(
                            "endpoint {:?} is a name (CNAME target): check {:?} needs `probe = \"ip:port\"`",
                            endpoint.id, check.name
                        ),
                    ));
                    continue;
                }
                (None, Some(_), None) => {
                    errors.push(config.error_at(
                        endpoint_config.span(),
                        format!("{field}.probe"),
                        format!(
                            "tcp check {:?} has no `port`: set it on the check or give the endpoint `probe = \"ip:port\"`",
                            check.name
                        ),
                    ));
                    continue;
                }
            };
            let key = (region.name.clone(), endpoint.id.clone());
            plan.index.insert(key.clone(), plan.endpoints.len());
            plan.endpoints.push(CheckedEndpoint { key, check, target });
        }
    }
    if errors.is_empty() {
        Ok(plan)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
