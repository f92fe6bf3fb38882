//! `GET /v1/traffic`: where each service's answers went, total and over
//! the last minute, next to its configured weights or rules (the status
//! page's Traffic panel).
//!
//! The counts are the answer counters the query path bumps (the table
//! behind `switchyard_answers_total`, see `traffic::answer_metrics`), read
//! directly from their atomics: every service is counted whether or not
//! `/metrics` exports its series, and nothing is rendered or parsed.
//! "The last minute" is the difference from a sample taken about a minute
//! earlier: each request adds a sample to a small process-wide ring (at
//! most one a second, none older than the window), so the window is full
//! while someone watches and starts again after a pause; the answer says
//! how long it actually is (`window_secs`).
//!
//! Cost: one read of the current plan's counters per request; nothing
//! when nobody asks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::ApiContext;
use super::auth::Reader;
use crate::contract::{
    AnswerReason, Traffic, TrafficAnswer, TrafficGeoRules, TrafficRegion, TrafficService,
};
use crate::geo::code_str;
use crate::overrides::time::format as rfc3339;
use crate::snapshot::Snapshot;
use crate::traffic::{AllDown, Policy, Service};
use axum::Json;
use axum::extract::State;

/// How far back "the last minute" reaches.
pub(super) const WINDOW: Duration = Duration::from_secs(60);

/// Samples closer together than this are not kept (a page polls every
/// second; several viewers must not fill the ring faster). Five seconds
/// keeps the window between 55 and 60 s once it is full, with at most a
/// dozen samples.
const SAMPLE_SPACING: Duration = Duration::from_secs(5);

/// Most samples kept: the window at the spacing, plus slack. Bounds the
/// ring whatever the request rate.
const MAX_SAMPLES: usize = 14;

/// One answer counter: (service without the trailing dot, region label,
/// reason label).
type Series = (String, String, String);

/// Counter values by series.
type Counts = crate::traffic::answer_metrics::Counts;

/// A sample after the oldest: only the series that changed since the
/// sample before it, with their new values (at 100k services most series
/// are idle in any five seconds, so this is far smaller than a copy).
#[derive(Debug)]
struct Delta {
    at: Instant,
    changed: Counts,
}

/// Recent samples: the oldest in full (the base the window is measured
/// from), later ones as deltas, and the newest in full (to compute the
/// next delta). Memory: two copies of the counters plus what changed over
/// the window, never more than `MAX_SAMPLES + 1` copies (it was 80 full
/// copies before).
#[derive(Debug, Default)]
pub(super) struct Ring {
    /// The oldest sample: when, and every counter then.
    base: Option<(Instant, Counts)>,
    /// Later samples, oldest first.
    deltas: VecDeque<Delta>,
    /// The counters at the newest sample (the base's when there are no
    /// deltas).
    latest: Counts,
}

impl Ring {
    /// Forgets samples older than the window, returns the oldest one left
    /// (the base the window's counts are measured from) as `(age, counts)`,
    /// and keeps `counts` as a new sample unless the newest is too recent.
    fn observe(&mut self, now: Instant, counts: &Counts) -> Option<(Duration, Counts)> {
        let expired = |at: Instant| now.saturating_duration_since(at) > WINDOW;
        if self.base.as_ref().is_some_and(|(at, _)| expired(*at)) {
            // Move the base forward over the deltas that expired too: the
            // first one still within the window (or none) becomes the base.
            while let Some((at, base)) = self.base.as_mut() {
                if !expired(*at) {
                    break;
                }
                match self.deltas.pop_front() {
                    Some(delta) => {
                        *at = delta.at;
                        base.extend(delta.changed);
                    }
                    None => self.base = None,
                }
            }
        }
        while self.samples() > MAX_SAMPLES {
            // Unreachable at the spacing within the window; a guard all the same.
            if let (Some((at, base)), Some(delta)) = (self.base.as_mut(), self.deltas.pop_front()) {
                *at = delta.at;
                base.extend(delta.changed);
            }
        }
        let result = self
            .base
            .as_ref()
            .map(|(at, base)| (now.saturating_duration_since(*at), base.clone()));
        let newest = self
            .deltas
            .back()
            .map(|d| d.at)
            .or(self.base.as_ref().map(|b| b.0));
        if newest.is_none_or(|at| now.saturating_duration_since(at) >= SAMPLE_SPACING) {
            if self.base.is_none() {
                self.base = Some((now, counts.clone()));
            } else {
                let changed: Counts = counts
                    .iter()
                    .filter(|(k, v)| self.latest.get(*k) != Some(*v))
                    .map(|(k, v)| (k.clone(), *v))
                    .collect();
                self.deltas.push_back(Delta { at: now, changed });
            }
            self.latest = counts.clone();
        }
        result
    }

    /// How many samples the ring holds.
    fn samples(&self) -> usize {
        usize::from(self.base.is_some()) + self.deltas.len()
    }

    /// How many counter entries the ring holds (the base, the deltas and
    /// the newest copy): what its memory is proportional to.
    #[cfg(test)]
    fn entries(&self) -> usize {
        self.base.as_ref().map_or(0, |(_, b)| b.len())
            + self.deltas.iter().map(|d| d.changed.len()).sum::<usize>()
            + self.latest.len()
    }
}

/// The process-wide ring: the counters are process-wide too.
static RING: LazyLock<Mutex<Ring>> = LazyLock::new(Mutex::default);

/// `GET /v1/traffic`.
pub(super) async fn traffic(State(ctx): State<ApiContext>, _: Reader) -> Json<Traffic> {
    let snapshot = ctx.snapshot.load();
    let counts = snapshot.answers.counts();
    let now = Instant::now();
    // A poisoned lock only means a panic elsewhere mid-update; the ring is
    // still a valid (if stale) set of samples.
    let base = RING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .observe(now, &counts);
    Json(traffic_view(
        &snapshot,
        &counts,
        base.as_ref(),
        crate::clock::now(),
    ))
}

/// The answer: per service, its configuration and its answers.
fn traffic_view(
    snapshot: &Snapshot,
    counts: &Counts,
    base: Option<&(Duration, Counts)>,
    now: SystemTime,
) -> Traffic {
    Traffic {
        generation: snapshot.generation,
        built_at: rfc3339(snapshot.built_at),
        age_secs: now
            .duration_since(snapshot.built_at)
            .map_or(0.0, |d| d.as_secs_f64()),
        window_secs: base.map_or(0.0, |(age, _)| age.as_secs_f64()),
        services: snapshot
            .plan
            .services
            .iter()
            .map(|s| service_view(snapshot, s, counts, base.map(|(_, c)| c)))
            .collect(),
    }
}

/// One service: configured weights or rules, and answers per series.
fn service_view(
    snapshot: &Snapshot,
    service: &Service,
    counts: &Counts,
    base: Option<&Counts>,
) -> TrafficService {
    let plan = &snapshot.plan;
    let label = service.name.to_string();
    let label = label.trim_end_matches('.');
    let names = |list: &[usize]| -> Vec<String> {
        list.iter().map(|&r| plan.regions[r].name.clone()).collect()
    };
    let regions = service
        .regions
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            let state = &snapshot.state.regions[r];
            TrafficRegion {
                name: plan.regions[r].name.clone(),
                configured_weight: plan.regions[r].weight,
                effective_weight: state.weight,
                available: state.available(),
                bias_km: match &service.policy {
                    Policy::Nearest { bias_km } => bias_km.get(i).copied(),
                    _ => None,
                },
            }
        })
        .collect();
    // Every series the answer counters register for this service, in a
    // stable order: each region by policy, the fallback, fail open, empty.
    let mut series: Vec<(String, AnswerReason)> = service
        .regions
        .iter()
        .map(|&r| (plan.regions[r].name.clone(), AnswerReason::Policy))
        .collect();
    if let AllDown::Fallback(r) = service.all_down {
        series.push((plan.regions[r].name.clone(), AnswerReason::Fallback));
    }
    series.push(("all".into(), AnswerReason::FailOpen));
    series.push(("none".into(), AnswerReason::Empty));
    let mut counted = false;
    let rows: Vec<(String, AnswerReason, u64, u64)> = series
        .into_iter()
        .map(|(region, reason)| {
            let key = (label.to_string(), region, reason_label(reason).to_string());
            let total = counts.get(&key).copied();
            counted |= total.is_some();
            let total = total.unwrap_or(0);
            let recent = since(base, &key, total);
            (key.1, reason, total, recent)
        })
        .collect();
    let window_total: u64 = rows.iter().map(|r| r.3).sum();
    let answers = rows
        .into_iter()
        .map(|(region, reason, total, last_minute)| TrafficAnswer {
            region,
            reason,
            total,
            last_minute,
            share: if window_total == 0 {
                0.0
            } else {
                last_minute as f64 / window_total as f64
            },
        })
        .collect();
    let table = |map: &HashMap<[u8; 2], Vec<usize>>| -> BTreeMap<String, Vec<String>> {
        map.iter()
            .map(|(code, list)| (code_str(code).to_string(), names(list)))
            .collect()
    };
    TrafficService {
        name: service.name.to_string(),
        policy: (&service.policy).into(),
        all_down: service.all_down.into(),
        regions,
        tiers: match &service.policy {
            Policy::Failover { tiers } => Some(tiers.iter().map(|t| names(t)).collect()),
            _ => None,
        },
        rules: match &service.policy {
            Policy::Geo(rules) => Some(TrafficGeoRules {
                networks: rules.cidr.len() as u64,
                country: table(&rules.country),
                continent: table(&rules.continent),
                default: names(&rules.default),
            }),
            _ => None,
        },
        max_answers: match &service.policy {
            Policy::Multivalue { max } => Some(*max as u64),
            _ => None,
        },
        counted,
        last_minute_total: window_total,
        answers,
    }
}

/// The `reason` label the answer counters carry for `reason`.
fn reason_label(reason: AnswerReason) -> &'static str {
    match reason {
        AnswerReason::Policy => "policy",
        AnswerReason::Fallback => "fallback",
        AnswerReason::FailOpen => "fail_open",
        AnswerReason::Empty => "empty",
    }
}

/// How much `series` grew since `base`, now that it reads `total`. No
/// base: nothing to measure from yet (0). A series the base lacks was
/// registered since (the service came with a reload, or other servers in
/// the process loaded it later): it started from zero.
fn since(base: Option<&Counts>, series: &Series, total: u64) -> u64 {
    base.map_or(0, |b| {
        total.saturating_sub(b.get(series).copied().unwrap_or(0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_measured_from_the_base_or_from_zero() {
        let key = ("s".to_string(), "r".to_string(), "policy".to_string());
        let base = Counts::from([(key.clone(), 40)]);
        assert_eq!(since(Some(&base), &key, 55), 15);
        assert_eq!(since(None, &key, 55), 0, "no base, no window");
        assert_eq!(since(Some(&Counts::new()), &key, 55), 55, "new series");
        assert_eq!(since(Some(&base), &key, 10), 0, "never negative");
    }

    #[test]
    fn the_window_is_measured_from_the_oldest_sample_within_a_minute() {
        let mut ring = Ring::default();
        let t0 = Instant::now();
        let counts = |n: u64| Counts::from([(("s".into(), "r".into(), "policy".into()), n)]);
        assert!(ring.observe(t0, &counts(0)).is_none(), "no base yet");
        // Samples closer than the spacing are not kept.
        let (age, base) = ring
            .observe(t0 + Duration::from_millis(100), &counts(1))
            .unwrap();
        assert_eq!((age, base), (Duration::from_millis(100), counts(0)));
        assert_eq!(ring.samples(), 1);
        for s in 1..=70u64 {
            ring.observe(t0 + Duration::from_secs(s), &counts(s * 10));
        }
        // At 70 s, the oldest sample within the window is the one from 10 s
        // (samples are kept every 5 s: 0, 5, 10...).
        let (age, base) = ring
            .observe(t0 + Duration::from_secs(70), &counts(700))
            .unwrap();
        assert_eq!((age, base), (Duration::from_secs(60), counts(100)));
        assert!(ring.samples() <= MAX_SAMPLES);
        // After a pause longer than the window, the window starts again.
        assert!(
            ring.observe(t0 + Duration::from_secs(500), &counts(900))
                .is_none()
        );
        assert_eq!(ring.samples(), 1);
    }

    /// Many services polled every second for five minutes: the ring keeps
    /// the counters about twice plus what changed, not a copy per sample,
    /// and the window's counts stay right.
    #[test]
    fn memory_stays_bounded_with_many_services() {
        const SERVICES: u64 = 20_000;
        let key = |i: u64| {
            (
                format!("s{i}.example"),
                "r".to_string(),
                "policy".to_string(),
            )
        };
        let mut counts: Counts = (0..SERVICES).map(|i| (key(i), 0)).collect();
        let mut ring = Ring::default();
        let t0 = Instant::now();
        let mut most = 0;
        for s in 0..300u64 {
            // One in a hundred services answers a query each second; the
            // first one answers every second.
            for i in (0..SERVICES).filter(|i| (i + s) % 100 == 0 || *i == 0) {
                *counts.get_mut(&key(i)).unwrap() += 1;
            }
            let base = ring.observe(t0 + Duration::from_secs(s), &counts);
            most = most.max(ring.entries());
            if s >= 60 {
                let (age, base) = base.unwrap();
                assert!(age >= Duration::from_secs(55) && age <= WINDOW, "{age:?}");
                // The busy service: one answer a second over the window.
                let grown = since(Some(&base), &key(0), counts[&key(0)]);
                assert_eq!(grown, age.as_secs(), "at {s} s");
            }
        }
        let copy = SERVICES as usize;
        // Base and newest in full, plus the changes of at most a dozen
        // samples (each about 5% of the series): well under three copies.
        assert!(most < 3 * copy, "{most} entries for {copy} series");
        // A ring of full copies (the old design) held up to 80.
        assert!(ring.samples() <= MAX_SAMPLES);
    }

    /// When every series changes between samples, the ring still holds at
    /// most a copy per sample, and the number of samples is capped.
    #[test]
    fn memory_is_capped_when_every_series_changes() {
        const SERVICES: u64 = 5_000;
        let key = |i: u64| {
            (
                format!("s{i}.example"),
                "r".to_string(),
                "policy".to_string(),
            )
        };
        let mut ring = Ring::default();
        let t0 = Instant::now();
        for ms in (0..200_000u64).step_by(250) {
            let counts: Counts = (0..SERVICES).map(|i| (key(i), ms)).collect();
            ring.observe(t0 + Duration::from_millis(ms), &counts);
            assert!(ring.samples() <= MAX_SAMPLES);
            assert!(ring.entries() <= (MAX_SAMPLES + 1) * SERVICES as usize);
        }
    }
}
