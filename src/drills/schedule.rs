//! Scheduled drills (`[[drills.schedule]]`): when each entry is due next
//! (pure, so it is unit-tested with pinned clocks), and the task that starts
//! the drills, waits for their reports and records the latest outcome for
//! `/v1/status`. A failed scheduled drill is logged at error level.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::report::Verdict;
use super::{Drills, StartDrill};

/// Seconds in a day and a week.
const DAY: u64 = 86_400;
const WEEK: u64 = 7 * DAY;

/// When an entry runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Every period, counted from start-up (a restart starts counting again).
    Every(Duration),
    /// Weekly at this UTC time.
    Weekly {
        /// 0 = Monday ... 6 = Sunday.
        weekday: u8,
        /// 0-23.
        hour: u8,
        /// 0-59.
        minute: u8,
    },
}

/// One validated schedule entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Its position in `[[drills.schedule]]`, which names it in reports.
    pub index: usize,
    /// Regions to take out.
    pub regions: Vec<String>,
    /// Services to verify (`None`: every service using the regions).
    pub services: Option<Vec<String>>,
    /// When.
    pub when: When,
    /// Drill duration.
    pub duration_secs: u64,
    /// Reason recorded on the drill.
    pub why: String,
}

impl When {
    /// The first run strictly after `now`; `started` anchors `Every`.
    pub fn next_after(&self, started: SystemTime, now: SystemTime) -> SystemTime {
        match *self {
            When::Every(period) => {
                let period = period.max(Duration::from_millis(1));
                let elapsed = now.duration_since(started).unwrap_or_default();
                let n = elapsed.as_nanos() / period.as_nanos() + 1;
                started + period * (n as u32)
            }
            When::Weekly {
                weekday,
                hour,
                minute,
            } => {
                let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                // 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
                let week_start = secs - ((secs / DAY + 3) % 7) * DAY - secs % DAY;
                let offset = weekday as u64 * DAY + hour as u64 * 3600 + minute as u64 * 60;
                let mut at = week_start + offset;
                if at <= secs {
                    at += WEEK;
                }
                UNIX_EPOCH + Duration::from_secs(at)
            }
        }
    }
}

/// `mon`/`monday` ... `sun`/`sunday` (any case) to 0-6.
pub fn parse_weekday(text: &str) -> Option<u8> {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let text = text.to_ascii_lowercase();
    DAYS.iter()
        .position(|d| text.len() >= 3 && d.starts_with(&text))
        .map(|i| i as u8)
}

/// Runs one schedule entry until the runtime stops: wait until due, start
/// the drill, wait for its report, record the outcome. Overlapping runs are
/// impossible: the next run is computed after this one finished.
pub(super) async fn run(drills: Drills, schedule: Schedule) {
    let started = SystemTime::now();
    loop {
        let now = SystemTime::now();
        let due = schedule.when.next_after(started, now);
        tokio::time::sleep(due.duration_since(now).unwrap_or_default()).await;
        let request = StartDrill {
            regions: schedule.regions.clone(),
            duration_secs: schedule.duration_secs,
            why: schedule.why.clone(),
            services: schedule.services.clone(),
            force: false,
            who: "schedule".into(),
            scheduled: Some(schedule.index),
        };
        let outcome = match drills.start(request).await {
            Ok(report) => drills.wait_finished(&report.id).await,
            Err(e) => Err(format!("could not start: {e}")),
        };
        match &outcome {
            Ok(report) if report.result == Verdict::Pass => {
                tracing::info!(
                    drill = report.id,
                    schedule = schedule.index,
                    "scheduled drill passed"
                );
            }
            Ok(report) => {
                let reasons: Vec<String> = report
                    .pairs
                    .iter()
                    .filter_map(|p| {
                        p.reason
                            .as_ref()
                            .map(|r| format!("{} from {}: {r}", p.service, p.vantage))
                    })
                    .collect();
                tracing::error!(
                    drill = report.id,
                    schedule = schedule.index,
                    regions = schedule.regions.join(" "),
                    failures = reasons.join("; "),
                    "scheduled drill FAILED"
                );
            }
            Err(e) => tracing::error!(
                schedule = schedule.index,
                regions = schedule.regions.join(" "),
                error = %e,
                "scheduled drill FAILED"
            ),
        }
        drills.record_scheduled(schedule.index, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn every_counts_from_start_up() {
        let when = When::Every(Duration::from_secs(10));
        assert_eq!(when.next_after(at(100), at(100)), at(110));
        assert_eq!(when.next_after(at(100), at(109)), at(110));
        assert_eq!(when.next_after(at(100), at(110)), at(120));
        assert_eq!(when.next_after(at(100), at(50)), at(110));
    }

    #[test]
    fn weekly_is_the_next_such_time_in_utc() {
        // 2024-01-01T00:00:00Z was a Monday.
        let monday = 1_704_067_200;
        let when = When::Weekly {
            weekday: 2,
            hour: 9,
            minute: 30,
        };
        let wednesday_0930 = at(monday + 2 * DAY + 9 * 3600 + 1800);
        assert_eq!(when.next_after(at(0), at(monday)), wednesday_0930);
        assert_eq!(
            when.next_after(at(0), wednesday_0930),
            wednesday_0930 + Duration::from_secs(WEEK)
        );
        // Sunday evening: next is this coming Wednesday.
        let sunday = at(monday + 6 * DAY + 20 * 3600);
        assert_eq!(
            when.next_after(at(0), sunday),
            wednesday_0930 + Duration::from_secs(WEEK)
        );
    }

    #[test]
    fn weekdays_parse_short_and_long() {
        assert_eq!(parse_weekday("mon"), Some(0));
        assert_eq!(parse_weekday("Sunday"), Some(6));
        assert_eq!(parse_weekday("thu"), Some(3));
        assert_eq!(parse_weekday("m"), None);
        assert_eq!(parse_weekday("funday"), None);
    }
}
