//! Answers by service, policy, region and reason: counters laid out like
//! the traffic plan, registered when the plan is loaded, so the decision
//! point only indexes and adds. They are the plan's and the decision's
//! metrics, so they live with them; `metrics` only names them and renders
//! the text (this module adds its series through
//! [`crate::metrics::append_to_render`]).
//!
//! `reason` is `policy` when the policy chose, or the all-down rule that
//! answered (`fallback`, `fail_open`, `empty`). `region` is the region the
//! answer's endpoints came from; a failover tier or a multivalue answer
//! drawing on several regions counts once for each; `fail_open` (every
//! region) counts under `all`, `empty` under `none`.
//!
//! # Two exports, one table
//!
//! Every (service, policy, region, reason) has a counter of its own in a
//! process-wide table (`TABLE`): plain atomics, not exporter series, so
//! they cost no scrape time. `GET /v1/traffic` reads them directly. What
//! `/metrics` shows is bounded:
//!
//! - `switchyard_region_answers_total{region, reason}` always (exporter
//!   counters, one per region and reason: cardinality regions × 4);
//! - `switchyard_answers_total{service, policy, region, reason}` only for
//!   the services `[metrics] per_service_answers` selects (by default all
//!   of them when the config has at most [`AUTO_LIMIT`] services, none
//!   above), rendered from the table by [`render_exported`].
//!
//! The table is keyed by labels, so a reload that keeps a service and
//! region keeps counting on the same counter; like exporter series,
//! entries are never removed (a removed service's counts stay until
//! restart).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use metrics::Counter;

use crate::config::{Config, ConfigError, PerServiceAnswers};
use crate::metrics::names;
use crate::traffic::policy::{Decision, Picks, Reason};
use crate::traffic::{AllDown, Policy, RegionId, Service, TrafficPlan, TrafficState};

/// `per_service_answers = "auto"` (the default) exports per-service series
/// only up to this many services: 1,000 services are at most a few
/// thousand series, a scrape of milliseconds.
pub(crate) const AUTO_LIMIT: usize = 1000;

/// Which services get `switchyard_answers_total` series, resolved against
/// a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exported {
    /// Every service.
    All,
    /// No service (region totals only).
    None,
    /// These services (names without the trailing dot, lower case).
    Some(HashSet<String>),
}

impl Exported {
    /// Resolves `[metrics] per_service_answers` against `plan`: a listed
    /// service the plan does not have is an error naming the line.
    pub(crate) fn resolve(
        config: &Config,
        plan: &TrafficPlan,
    ) -> Result<Exported, Vec<ConfigError>> {
        let Some(setting) = &config.metrics.per_service_answers else {
            return Ok(Exported::auto(plan));
        };
        match setting.get_ref() {
            PerServiceAnswers::Mode(mode) => Ok(match mode.as_str() {
                "all" => Exported::All,
                "none" => Exported::None,
                "auto" => Exported::auto(plan),
                other => {
                    return Err(vec![config.error_at(
                        setting.span(),
                        "metrics.per_service_answers",
                        format!(
                            "{other:?} is not \"auto\", \"all\", \"none\" or a list of service names"
                        ),
                    )]);
                }
            }),
            PerServiceAnswers::Services(list) => {
                let known: HashSet<String> = plan
                    .services
                    .iter()
                    .map(|s| service_label(s).to_ascii_lowercase())
                    .collect();
                let mut chosen = HashSet::new();
                let mut errors = Vec::new();
                for name in list {
                    let label = name.trim_end_matches('.').to_ascii_lowercase();
                    if known.contains(&label) {
                        chosen.insert(label);
                    } else {
                        errors.push(config.error_at(
                            setting.span(),
                            "metrics.per_service_answers",
                            format!("{name:?} is not a configured service"),
                        ));
                    }
                }
                if errors.is_empty() {
                    Ok(Exported::Some(chosen))
                } else {
                    Err(errors)
                }
            }
        }
    }

    /// The default: everything for small configs, nothing for large ones.
    fn auto(plan: &TrafficPlan) -> Exported {
        if plan.services.len() <= AUTO_LIMIT {
            Exported::All
        } else {
            Exported::None
        }
    }

    fn contains(&self, label: &str) -> bool {
        match self {
            Exported::All => true,
            Exported::None => false,
            Exported::Some(set) => set.contains(&label.to_ascii_lowercase()),
        }
    }
}

/// A service's label: its name without the trailing dot.
fn service_label(service: &Service) -> String {
    let name = service.name.to_string();
    name.trim_end_matches('.').to_string()
}

/// The labels of one per-service counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    service: Arc<str>,
    policy: &'static str,
    region: Arc<str>,
    reason: &'static str,
}

/// One per-service counter, with its labels.
#[derive(Debug)]
struct Series {
    key: Key,
    count: AtomicU64,
    /// Rendered as a `switchyard_answers_total` series (set by the latest
    /// plan that has this series, and again by [`export`] for the
    /// published one).
    exported: AtomicBool,
}

/// Every per-service counter ever registered, by labels. Locked only when
/// a plan registers and when a scrape collects the exported ones, never
/// by the query path (which holds `Arc`s to the entries).
static TABLE: LazyLock<Mutex<HashMap<Key, Arc<Series>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// One counted outcome: the service's own counter and its region's total.
#[derive(Debug)]
struct Slot {
    series: Arc<Series>,
    region: Counter,
}

impl Slot {
    #[inline]
    fn increment(&self) {
        self.series.count.fetch_add(1, Ordering::Relaxed);
        self.region.increment(1);
    }
}

/// One service's counters.
#[derive(Debug)]
struct ServiceCounters {
    /// Per region of `Service::regions` (same order), chosen by policy.
    regions: Vec<(RegionId, Slot)>,
    /// The fallback region answering for all-down, if the service has one.
    fallback: Option<Slot>,
    /// Fail open: every configured endpoint.
    fail_open: Slot,
    /// The empty all-down rule.
    empty: Slot,
}

impl ServiceCounters {
    /// Every slot, in the order `/v1/traffic` lists them.
    fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.regions
            .iter()
            .map(|(_, s)| s)
            .chain(self.fallback.as_ref())
            .chain([&self.fail_open, &self.empty])
    }
}

/// Answer counters for one traffic plan; see the module docs.
#[derive(Debug, Default)]
pub struct AnswerMetrics {
    /// Indexed like `TrafficPlan::services`; empty when disabled.
    services: Vec<ServiceCounters>,
}

/// Answer counts by (service label, region label, reason label), as
/// `GET /v1/traffic` reads them.
pub type Counts = HashMap<(String, String, String), u64>;

impl AnswerMetrics {
    /// Records nothing (query metrics off, and the snapshots `explain`
    /// and precompilation run on).
    pub fn disabled() -> AnswerMetrics {
        AnswerMetrics::default()
    }

    /// Registers a counter for every (service, region, reason) `plan` can
    /// produce, and marks those of the `exported` services for `/metrics`
    /// (the publisher applies the published selection again with
    /// [`export`]).
    pub(crate) fn register(plan: &TrafficPlan, exported: &Exported) -> AnswerMetrics {
        // The exported series join `/metrics` once any plan counts answers.
        static RENDERED: std::sync::Once = std::sync::Once::new();
        RENDERED.call_once(|| crate::metrics::append_to_render(render_exported));
        let region_names: Vec<Arc<str>> = plan
            .regions
            .iter()
            .map(|r| Arc::from(r.name.as_str()))
            .collect();
        let all: Arc<str> = Arc::from("all");
        let none: Arc<str> = Arc::from("none");
        // Region totals: one exporter counter per (region, reason).
        let mut totals: HashMap<(Arc<str>, &'static str), Counter> = HashMap::new();
        let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        let services = plan
            .services
            .iter()
            .map(|service| {
                let label = service_label(service);
                let on = exported.contains(&label);
                let label: Arc<str> = Arc::from(label);
                let policy = service.policy.name();
                let mut slot = |region: &Arc<str>, reason: &'static str| {
                    let key = Key {
                        service: label.clone(),
                        policy,
                        region: region.clone(),
                        reason,
                    };
                    let series = table
                        .entry(key.clone())
                        .or_insert_with(|| {
                            Arc::new(Series {
                                key,
                                count: AtomicU64::new(0),
                                exported: AtomicBool::new(false),
                            })
                        })
                        .clone();
                    series.exported.store(on, Ordering::Relaxed);
                    let region = totals
                        .entry((region.clone(), reason))
                        .or_insert_with(|| {
                            metrics::counter!(names::REGION_ANSWERS,
                                "region" => region.to_string(), "reason" => reason)
                        })
                        .clone();
                    Slot { series, region }
                };
                ServiceCounters {
                    regions: service
                        .regions
                        .iter()
                        .map(|&r| (r, slot(&region_names[r], "policy")))
                        .collect(),
                    fallback: match service.all_down {
                        AllDown::Fallback(r) => Some(slot(&region_names[r], "fallback")),
                        _ => None,
                    },
                    fail_open: slot(&all, "fail_open"),
                    empty: slot(&none, "empty"),
                }
            })
            .collect();
        AnswerMetrics { services }
    }

    /// Counts the answer `decision` gives for service `index`. Allocation-
    /// and lock-free: a few atomic adds.
    #[inline]
    pub fn record(
        &self,
        index: usize,
        service: &Service,
        state: &TrafficState,
        decision: &Decision,
    ) {
        let Some(counters) = self.services.get(index) else {
            return;
        };
        let chosen = |r: RegionId| {
            if let Some((_, slot)) = counters.regions.iter().find(|(id, _)| *id == r) {
                slot.increment();
            }
        };
        match (&decision.reason, &decision.picks) {
            (Reason::AllDown(AllDown::FailOpen), _) => counters.fail_open.increment(),
            (Reason::AllDown(AllDown::Empty), _) => counters.empty.increment(),
            (Reason::AllDown(AllDown::Fallback(_)), _) => {
                if let Some(slot) = &counters.fallback {
                    slot.increment();
                }
            }
            (Reason::Chosen, Picks::Region(r)) => chosen(*r),
            (Reason::Chosen, Picks::Tier(n)) => {
                if let Policy::Failover { tiers } = &service.policy {
                    for &r in tiers[*n].iter().filter(|r| state.regions[**r].available()) {
                        chosen(r);
                    }
                }
            }
            (Reason::Chosen, Picks::Endpoints { slots, len }) => {
                for (i, (r, _)) in slots[..*len].iter().enumerate() {
                    // Once per region, however many of its endpoints.
                    if !slots[..i].iter().any(|(seen, _)| seen == r) {
                        chosen(*r);
                    }
                }
            }
            (Reason::Chosen, _) => {}
        }
    }

    /// Whether this plan's answers are counted (false when query metrics
    /// are off).
    pub fn enabled(&self) -> bool {
        !self.services.is_empty()
    }

    /// Current counts of every counter of this plan's services, read from
    /// the atomics (no rendering; empty when disabled).
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::with_capacity(self.services.len() * 4);
        for slot in self.services.iter().flat_map(ServiceCounters::slots) {
            let key = &slot.series.key;
            let key = (
                key.service.to_string(),
                key.region.to_string(),
                key.reason.to_string(),
            );
            *counts.entry(key).or_default() += slot.series.count.load(Ordering::Relaxed);
        }
        counts
    }
}

/// Marks the series of `answers`' services that `exported` selects for
/// `/metrics` and unmarks the others. The exporter is process-wide, so the
/// selection is kept on the process-wide table. Loading marks it already
/// (`register`); the publisher calls this whenever it sends a settings
/// generation (`control::Settings::exported`), so a reload refused after
/// its load marked the table puts the published selection back.
pub(crate) fn export(answers: &AnswerMetrics, exported: &Exported) {
    for slot in answers.services.iter().flat_map(ServiceCounters::slots) {
        let on = exported.contains(&slot.series.key.service);
        slot.series.exported.store(on, Ordering::Relaxed);
    }
}

/// Appends the exported per-service series (`switchyard_answers_total`)
/// to `out` as Prometheus text, sorted by labels. The table lock is held
/// only to collect the entries, not while formatting.
fn render_exported(out: &mut String) {
    let mut rows: Vec<(Key, u64)> = {
        let table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        table
            .iter()
            .filter(|(_, s)| s.exported.load(Ordering::Relaxed))
            .map(|(k, s)| (k.clone(), s.count.load(Ordering::Relaxed)))
            .collect()
    };
    if rows.is_empty() {
        return;
    }
    rows.sort_unstable_by(|(a, _), (b, _)| {
        (&a.service, a.policy, &a.region, a.reason)
            .cmp(&(&b.service, b.policy, &b.region, b.reason))
    });
    let name = names::ANSWERS;
    let _ = writeln!(out, "# HELP {name} {}", names::ANSWERS_HELP);
    let _ = writeln!(out, "# TYPE {name} counter");
    for (key, count) in rows {
        let _ = writeln!(
            out,
            "{name}{{service=\"{}\",policy=\"{}\",region=\"{}\",reason=\"{}\"}} {count}",
            Escaped(&key.service),
            key.policy,
            Escaped(&key.region),
            key.reason
        );
    }
}

/// A label value with `\`, `"` and newlines escaped as the text format
/// requires.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        assert_eq!(Escaped("a\"b\\c\nd").to_string(), "a\\\"b\\\\c\\nd");
    }
}
