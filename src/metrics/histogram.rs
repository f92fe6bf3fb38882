//! A fixed-bucket histogram of atomics for the query path.
//!
//! The Prometheus exporter's own histograms keep every raw sample until the
//! next scrape or upkeep, which at hundreds of thousands of queries a
//! second is memory that grows with load and an allocation now and then.
//! This one is a fixed array of counters: observing is a few relaxed atomic
//! adds, never an allocation or a lock, and it renders as a standard
//! Prometheus histogram (cumulative `_bucket{le}`, `_sum`, `_count`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the buckets in nanoseconds (10 µs to 100 ms); anything
/// slower lands in `+Inf`.
pub const BOUNDS_NS: [u64; 12] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    100_000_000,
];

/// A latency histogram; see the module docs.
#[derive(Debug)]
pub struct Histogram {
    /// Per bucket (non-cumulative), the last one being `+Inf`.
    buckets: [AtomicU64; BOUNDS_NS.len() + 1],
    /// Sum of observations in nanoseconds.
    sum_ns: AtomicU64,
    /// Number of observations.
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram (usable in a `static`).
    pub const fn new() -> Histogram {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BOUNDS_NS.len() + 1],
            sum_ns: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records `times` observations of `ns` nanoseconds each (a batch of
    /// queries that all waited the same time).
    pub fn observe(&self, ns: u64, times: u64) {
        if times == 0 {
            return;
        }
        let bucket = BOUNDS_NS
            .iter()
            .position(|&bound| ns <= bound)
            .unwrap_or(BOUNDS_NS.len());
        self.buckets[bucket].fetch_add(times, Ordering::Relaxed);
        self.sum_ns
            .fetch_add(ns.saturating_mul(times), Ordering::Relaxed);
        self.count.fetch_add(times, Ordering::Relaxed);
    }

    /// Number of observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Appends this histogram's samples as `name{labels,le="..."}` lines
    /// (no `# HELP`/`# TYPE`: the caller writes those once per name).
    /// `labels` is `key="value"` pairs joined by commas, possibly empty.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = match BOUNDS_NS.get(i) {
                Some(ns) => format_seconds(*ns),
                None => "+Inf".to_string(),
            };
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        // Relaxed loads may see a bucket added before its count; the count
        // is reported as the +Inf bucket so the two always agree.
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// Nanoseconds as a plain decimal number of seconds (`0.00001`).
fn format_seconds(ns: u64) -> String {
    let text = format!("{:.9}", ns as f64 / 1e9);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cumulative_buckets() {
        let h = Histogram::new();
        h.observe(5_000, 3);
        h.observe(60_000, 1);
        h.observe(1_000_000_000, 1);
        let mut text = String::new();
        h.render(&mut text, "q_seconds", "transport=\"udp\"");
        assert!(text.contains("q_seconds_bucket{transport=\"udp\",le=\"0.00001\"} 3\n"));
        assert!(text.contains("q_seconds_bucket{transport=\"udp\",le=\"0.0001\"} 4\n"));
        assert!(text.contains("q_seconds_bucket{transport=\"udp\",le=\"+Inf\"} 5\n"));
        assert!(text.contains("q_seconds_count{transport=\"udp\"} 5\n"));
        assert!(text.contains("q_seconds_sum{transport=\"udp\"} 1.000075\n"));
        assert_eq!(h.count(), 5);
    }
}
