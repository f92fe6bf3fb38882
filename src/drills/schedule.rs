//! Scheduled drills (`[[drills.schedule]]`): when each entry is due next
//! (pure, so it is unit-tested with pinned clocks), and the task that starts
//! the drills, waits for their reports and records the latest outcome for
//! `/v1/status`. A failed scheduled drill is logged at error level.

use super::report::Verdict;
use super::{Drills, StartDrill};

pub use crate::traffic::drill_plan::{Schedule, When, parse_weekday};

/// Runs one schedule entry until the runtime stops: wait until due, start
/// the drill, wait for its report, record the outcome. Overlapping runs are
/// impossible: the next run is computed after this one finished.
pub(super) async fn run(drills: Drills, schedule: Schedule) {
    let started = crate::clock::now();
    loop {
        let now = crate::clock::now();
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
    use crate::traffic::drill_plan::{DAY, WEEK};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
