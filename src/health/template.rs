//! One `[checks.<name>]` template: defaults applied, every knob validated,
//! each error naming the offending key's line.

use std::time::Duration;

use toml::Spanned;

use crate::config::{
    CheckConfig, CheckKind, Config, ConfigError, InitialState, StatusItem, StatusSpec,
};
use crate::health::HealthState;
use crate::health::plan::{CheckSpec, HttpSpec, MAX_BODY_READ};

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
pub(crate) fn compile_check(
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
