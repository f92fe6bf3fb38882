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

use crate::config::{
    CheckConfig, CheckKind, Config, ConfigError, InitialState, StatusItem, StatusSpec,
};
use crate::health::{EndpointKey, HealthState};
use crate::traffic::{EndpointAnswer, TrafficPlan};

/// The name that turns checking off for one endpoint (`check = "none"`).
pub const NO_CHECK: &str = "none";

/// Largest `body_contains`: it must fit in the 64 KiB of body we read.
pub const MAX_BODY_READ: usize = 64 * 1024;

/// Status codes that count as success, as inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<(u16, u16)>,
}

impl Default for StatusSet {
    /// 2xx and 3xx: redirects are not followed, a redirect means "alive".
    fn default() -> Self {
        StatusSet {
            ranges: vec![(200, 399)],
        }
    }
}

impl StatusSet {
    /// Does `code` count as success?
    pub fn contains(&self, code: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }

    /// Parses `expect_status`; the error says what is wrong.
    pub fn parse(spec: &StatusSpec) -> Result<StatusSet, String> {
        let items: &[StatusItem] = match spec {
            StatusSpec::One(item) => std::slice::from_ref(item),
            StatusSpec::Many(items) => items,
        };
        if items.is_empty() {
            return Err("needs at least one status code or range".into());
        }
        let code = |text: &str| -> Result<u16, String> {
            let code: u16 = text
                .trim()
                .parse()
                .map_err(|_| format!("{text:?} is not a status code"))?;
            check_code(code)
        };
        let ranges = items
            .iter()
            .map(|item| match item {
                StatusItem::Code(c) => check_code(*c).map(|c| (c, c)),
                StatusItem::Range(text) => match text.split_once('-') {
                    Some((lo, hi)) => {
                        let (lo, hi) = (code(lo)?, code(hi)?);
                        if lo > hi {
                            Err(format!("range {text:?} is empty (start above end)"))
                        } else {
                            Ok((lo, hi))
                        }
                    }
                    None => code(text).map(|c| (c, c)),
                },
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(StatusSet { ranges })
    }
}

fn check_code(code: u16) -> Result<u16, String> {
    if (100..=599).contains(&code) {
        Ok(code)
    } else {
        Err(format!("{code} is not an HTTP status code (100-599)"))
    }
}

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
    index: HashMap<EndpointKey, usize>,
}

impl HealthPlan {
    /// Is this endpoint health-checked?
    pub fn is_checked(&self, key: &EndpointKey) -> bool {
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

/// Collects a template's errors, each named `checks.<name>.<key>`.
struct TemplateErrors<'a> {
    config: &'a Config,
    field: &'a str,
    list: Vec<ConfigError>,
}

impl TemplateErrors<'_> {
    fn at(&mut self, span: std::ops::Range<usize>, key: &str, message: String) {
        let field = format!("{}.{key}", self.field);
        self.list.push(self.config.error_at(span, field, message));
    }
}

/// Validates one template and applies its defaults.
fn compile_check(
    config: &Config,
    name: &str,
    spanned: &Spanned<CheckConfig>,
    field: &str,
) -> Result<CheckSpec, Vec<ConfigError>> {
    let check = spanned.get_ref();
    let mut errs = TemplateErrors {
        config,
        field,
        list: Vec::new(),
    };
    // A missing key's errors point at the template itself.
    let span_of = |span: Option<std::ops::Range<usize>>| span.unwrap_or(spanned.span());
    let value =
        |v: &Option<Spanned<u64>>, default: u64| v.as_ref().map_or(default, |s| *s.get_ref());

    let interval_ms = value(&check.interval_ms, 1000);
    // Default 500 ms, but always below an explicitly short interval.
    let timeout_ms = value(&check.timeout_ms, 500.min(interval_ms / 2));
    if interval_ms == 0 {
        errs.at(
            span_of(check.interval_ms.as_ref().map(|s| s.span())),
            "interval_ms",
            "must be at least 1".into(),
        );
    }
    if timeout_ms == 0 || timeout_ms >= interval_ms {
        errs.at(
            span_of(check.timeout_ms.as_ref().map(|s| s.span())),
            "timeout_ms",
            format!(
                "must be at least 1 and below interval_ms ({interval_ms}), so probes of one endpoint never overlap"
            ),
        );
    }
    let jitter_ms = value(&check.jitter_ms, interval_ms);
    if jitter_ms > interval_ms {
        errs.at(
            span_of(check.jitter_ms.as_ref().map(|s| s.span())),
            "jitter_ms",
            format!("must not exceed interval_ms ({interval_ms})"),
        );
    }
    let mut threshold = |v: &Option<Spanned<u32>>, key: &str| {
        let n = v.as_ref().map_or(2, |s| *s.get_ref());
        if n == 0 {
            errs.at(
                span_of(v.as_ref().map(|s| s.span())),
                key,
                "must be at least 1".into(),
            );
        }
        n
    };
    let fall = threshold(&check.fall, "fall");
    let rise = threshold(&check.rise, "rise");

    let http = match check.kind {
        CheckKind::Tcp => {
            let http_only = [
                ("method", check.method.as_ref().map(|s| s.span())),
                ("path", check.path.as_ref().map(|s| s.span())),
                ("host", check.host.as_ref().map(|s| s.span())),
                ("sni", check.sni.as_ref().map(|s| s.span())),
                (
                    "expect_status",
                    check.expect_status.as_ref().map(|s| s.span()),
                ),
                (
                    "body_contains",
                    check.body_contains.as_ref().map(|s| s.span()),
                ),
                ("tls_verify", check.tls_verify.as_ref().map(|s| s.span())),
            ];
            for (key, span) in http_only {
                if let Some(span) = span {
                    errs.at(span, key, format!("`{key}` does not apply to tcp checks"));
                }
            }
            None
        }
        kind @ (CheckKind::Http | CheckKind::Https) => Some(compile_http(check, kind, &mut errs)),
    };
    if !errs.list.is_empty() {
        return Err(errs.list);
    }
    Ok(CheckSpec {
        name: name.to_string(),
        kind: check.kind,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        fall,
        rise,
        jitter: Duration::from_millis(jitter_ms),
        initial: match check.initial {
            None => HealthState::Unknown,
            Some(InitialState::Up) => HealthState::Up,
            Some(InitialState::Down) => HealthState::Down,
        },
        http,
    })
}

/// The HTTP keys of an `http`/`https` template.
fn compile_http(check: &CheckConfig, kind: CheckKind, errs: &mut TemplateErrors<'_>) -> HttpSpec {
    if kind == CheckKind::Http {
        for (key, span) in [
            ("sni", check.sni.as_ref().map(|s| s.span())),
            ("tls_verify", check.tls_verify.as_ref().map(|s| s.span())),
        ] {
            if let Some(span) = span {
                errs.at(span, key, format!("`{key}` applies to https checks only"));
            }
        }
    }
    let method = match &check.method {
        None => reqwest::Method::GET,
        Some(m) => match reqwest::Method::from_bytes(m.get_ref().as_bytes()) {
            // Lower-case methods are legal extension tokens, but always a typo here.
            Ok(method) if m.get_ref().bytes().all(|b| b.is_ascii_uppercase()) => method,
            _ => {
                errs.at(
                    m.span(),
                    "method",
                    format!("{:?} is not an HTTP method (e.g. GET, HEAD)", m.get_ref()),
                );
                reqwest::Method::GET
            }
        },
    };
    let path = match &check.path {
        None => "/".to_string(),
        Some(p) => {
            let text = p.get_ref();
            let valid = text.starts_with('/')
                && !text
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
                && reqwest::Url::parse(&format!("http://127.0.0.1{text}"))
                    .is_ok_and(|u| u.host_str() == Some("127.0.0.1"));
            if !valid {
                errs.at(
                    p.span(),
                    "path",
                    format!("{text:?} is not a request path (e.g. \"/healthz\")"),
                );
            }
            text.clone()
        }
    };
    let host = check.host.as_ref().map(|h| {
        let text = h.get_ref();
        let valid = !text.is_empty()
            && !text.contains(char::is_whitespace)
            && reqwest::header::HeaderValue::from_str(text).is_ok();
        if !valid {
            errs.at(
                h.span(),
                "host",
                format!("{text:?} is not a Host header value"),
            );
        }
        text.clone()
    });
    let sni = check.sni.as_ref().map(|s| {
        let text = s.get_ref();
        let is_name = matches!(
            rustls::pki_types::ServerName::try_from(text.as_str()),
            Ok(rustls::pki_types::ServerName::DnsName(_))
        );
        if !is_name {
            errs.at(s.span(), "sni", format!("{text:?} is not a DNS name"));
        }
        text.clone()
    });
    let expect_status = match &check.expect_status {
        None => StatusSet::default(),
        Some(s) => StatusSet::parse(s.get_ref()).unwrap_or_else(|message| {
            errs.at(s.span(), "expect_status", message);
            StatusSet::default()
        }),
    };
    let body_contains = check.body_contains.as_ref().map(|b| {
        let text = b.get_ref();
        if text.is_empty() || text.len() > MAX_BODY_READ {
            errs.at(
                b.span(),
                "body_contains",
                format!("must be 1 to {MAX_BODY_READ} bytes"),
            );
        }
        text.clone()
    });
    HttpSpec {
        method,
        path,
        host,
        sni,
        expect_status,
        body_contains,
        tls_verify: check.tls_verify.as_ref().is_none_or(|v| *v.get_ref()),
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
