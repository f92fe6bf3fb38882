//! Counters of the probe schedule: how many probes ran, how many failed,
//! and how late they started (a log-linear histogram, lock-free, so the
//! probe tasks never contend on it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: about 6% resolution.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Lags are clamped to 2^36 µs (about 19 hours).
const MAX_POWER: u32 = 36;
const BUCKETS: usize = ((MAX_POWER - SUB_BITS + 1) as usize + 1) * SUB as usize;

/// Probe counts and schedule lag (actual probe start minus scheduled time).
#[derive(Debug)]
pub struct ScheduleStats {
    probes: AtomicU64,
    failures: AtomicU64,
    lag_us: [AtomicU64; BUCKETS],
}

/// A copy of [`ScheduleStats`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct StatsSnapshot {
    /// Probes started.
    pub probes: u64,
    /// Probes that failed (any reason).
    pub failures: u64,
    /// Median schedule lag.
    pub lag_p50: Duration,
    /// 99th percentile schedule lag.
    pub lag_p99: Duration,
    /// Largest schedule lag (bucket resolution).
    pub lag_max: Duration,
}

impl Default for ScheduleStats {
    fn default() -> Self {
        ScheduleStats {
            probes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            lag_us: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl ScheduleStats {
    /// Records a probe that started `lag` after its scheduled time.
    pub(crate) fn record_start(&self, lag: Duration) {
        self.probes.fetch_add(1, Ordering::Relaxed);
        let us = (lag.as_micros() as u64).min(1 << MAX_POWER);
        self.lag_us[bucket(us)].fetch_add(1, Ordering::Relaxed);
    }

    /// Records a failed probe.
    pub(crate) fn record_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Zeroes everything (e.g. after a benchmark's warm-up).
    pub fn reset(&self) {
        self.probes.store(0, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        for b in &self.lag_us {
            b.store(0, Ordering::Relaxed);
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let counts: Vec<u64> = self
            .lag_us
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let quantile = |q: f64| -> Duration {
            if total == 0 {
                return Duration::ZERO;
            }
            let rank = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Duration::from_micros(upper_bound(i));
                }
            }
            Duration::from_micros(upper_bound(BUCKETS - 1))
        };
        StatsSnapshot {
            probes: self.probes.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            lag_p50: quantile(0.50),
            lag_p99: quantile(0.99),
            lag_max: quantile(1.0),
        }
    }
}

fn bucket(us: u64) -> usize {
    if us < SUB {
        return us as usize;
    }
    let power = 63 - us.leading_zeros();
    let sub = (us >> (power - SUB_BITS)) & (SUB - 1);
    ((power - SUB_BITS + 1) as u64 * SUB + sub) as usize
}

/// The largest value (µs) that lands in bucket `i`.
fn upper_bound(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let power = (i / SUB) as u32 + SUB_BITS - 1;
    let sub = i % SUB;
    ((SUB + sub + 1) << (power - SUB_BITS)) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_values() {
        for us in [0, 1, 15, 16, 17, 31, 32, 100, 999, 1000, 123_456, 1 << 30] {
            let b = bucket(us);
            assert!(upper_bound(b) >= us, "{us} in {b}");
            assert!(b == 0 || upper_bound(b - 1) < us, "{us} in {b}");
            assert!(
                upper_bound(b) <= us + us / 16 + 1,
                "{us}: {}",
                upper_bound(b)
            );
        }
        assert!(bucket(1 << MAX_POWER) < BUCKETS);
    }

    #[test]
    fn percentiles_follow_the_recorded_lags() {
        let stats = ScheduleStats::default();
        for ms in 1..=100 {
            stats.record_start(Duration::from_millis(ms));
        }
        let s = stats.snapshot();
        assert_eq!(s.probes, 100);
        let p50 = s.lag_p50.as_secs_f64() * 1e3;
        let p99 = s.lag_p99.as_secs_f64() * 1e3;
        assert!((50.0..=54.0).contains(&p50), "{p50}");
        assert!((99.0..=106.0).contains(&p99), "{p99}");
        stats.reset();
        assert_eq!(stats.snapshot().probes, 0);
    }
}
