//! Prometheus metrics: what Switchyard counts, and the `/metrics` text.
//!
//! Everything goes through the `metrics` crate facade into one
//! process-wide `metrics-exporter-prometheus` recorder ([`install`]), so
//! control-plane code records with the usual macros. The query path is
//! different: it must not allocate or lock, so
//!
//! - [`query`] pre-registers counter handles (plain atomics) per transport,
//!   qtype bucket and rcode once, and each worker accumulates counts in a
//!   local array that it adds to those handles once per batch;
//! - answers by service and region are counters laid out like the
//!   traffic plan, so they live with it (`traffic::answer_metrics`) and
//!   add their series to the text through [`append_to_render`];
//! - query latency uses [`histogram::Histogram`], fixed buckets of
//!   atomics, because the exporter's histograms keep raw samples until
//!   scraped.
//!
//! [`render`] is the exporter's text followed by those histograms and the
//! per-service answer series `[metrics] per_service_answers` selects. It
//! is blocking work proportional to the series count; `/metrics` runs it
//! through [`scrape`], off the async runtime and one at a time.
//!
//! # Layout
//!
//! - [`names`]: every metric name, in one place.
//! - [`histogram`]: the fixed-bucket query latency histogram.
//! - [`query`]: per-transport query counters and the per-worker recorder.
//! - [`scrape`]: renders off the async runtime, one render shared by
//!   concurrent scrapes.
//!
//! Publish-time gauges live in `publisher/publish_metrics.rs`, probes and
//! verdict changes in `health/metrics.rs`, answers by service in
//! `traffic/answer_metrics.rs`, the per-worker query recorder in
//! `server/recorder.rs`: components own their metrics. This module
//! imports no other module of the crate.

pub mod histogram;
pub mod names;
pub mod query;
pub mod scrape;

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The installed exporter, if this process installed one. `None` inside
/// means another recorder was already global (a host application's), and
/// `/metrics` then has nothing of its own to show.
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How often histograms kept by the exporter are folded into their buckets
/// when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Buckets for health probe latency (seconds): probes take milliseconds
/// to their timeout.
const PROBE_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets for snapshot build time (seconds).
const BUILD_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Installs the Prometheus recorder as the process's global `metrics`
/// recorder (once; later calls do nothing) and describes every metric.
/// Call before anything registers handles: handles taken from the facade
/// before a recorder exists record nowhere.
///
/// Returns true when this process's recorder is the global one.
pub fn install() -> bool {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            // Matchers are full names, so these calls cannot fail; a failure
            // would only cost the buckets (the metric renders as a summary).
            let builder = builder
                .set_buckets_for_metric(Matcher::Full(names::PROBE_DURATION.into()), PROBE_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(names::SNAPSHOT_BUILD_DURATION.into()),
                        BUILD_BUCKETS,
                    )
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    names::describe();
                    names::preregister();
                    metrics::gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"))
                        .set(1.0);
                    Some(handle)
                }
                Err(_) => None,
            }
        })
        .is_some()
}

/// Folds the exporter's histogram samples into buckets every few seconds,
/// so they stay bounded when nobody scrapes. Must run inside a tokio
/// runtime; the task ends with the runtime.
pub(crate) fn spawn_upkeep() {
    let Some(Some(handle)) = HANDLE.get() else {
        return;
    };
    let handle = handle.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            ticks.tick().await;
            handle.run_upkeep();
        }
    });
}

/// Functions run just before each render; see [`before_render`].
static RENDER_HOOKS: std::sync::Mutex<Vec<fn()>> = std::sync::Mutex::new(Vec::new());

/// Registers `hook` to run just before every render, so a component that
/// keeps a count of its own (the log writer's dropped lines) can copy it
/// into the recorder without this module knowing the component.
pub(crate) fn before_render(hook: fn()) {
    RENDER_HOOKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(hook);
}

/// Functions that append text of their own to each render; see
/// [`append_to_render`].
static RENDER_APPENDERS: std::sync::Mutex<Vec<fn(&mut String)>> = std::sync::Mutex::new(Vec::new());

/// Registers `append` to add its own series (with `# HELP`/`# TYPE`) after
/// the exporter's text and the latency histograms on every render, so a
/// component that keeps counters outside the exporter (answers by
/// service) renders them without this module knowing the component.
pub fn append_to_render(append: fn(&mut String)) {
    RENDER_APPENDERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(append);
}

/// The Prometheus text exposition of every metric (empty when this
/// process's recorder is not installed).
pub fn render() -> String {
    let Some(Some(handle)) = HANDLE.get() else {
        return String::new();
    };
    // Counts kept by their owners (the log writer's drops, ...) are copied
    // in just before rendering, through hooks those owners registered.
    for hook in RENDER_HOOKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        hook();
    }
    let mut text = handle.render();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    query::render_latency(&mut text);
    let appenders = RENDER_APPENDERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    for append in appenders {
        append(&mut text);
    }
    text
}
