//! Drill reports whose verifier is gone. The instance that starts a drill
//! verifies it and writes its report; the rollback itself does not need it
//! (the drill's overrides expire for the cluster at the deadline). When
//! that instance dies, another one finishes the report, saying so, once
//! for the cluster (the watcher does the compare-and-swap).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use super::doc::SharedDrill;
use crate::drills::report::{DrillReport, Phase, Verdict};

/// How long after its deadline (plus the restore bound) a drill's report
/// may stay unfinished before another instance declares its verifier lost.
const VERIFIER_GRACE: Duration = Duration::from_secs(5);

/// Why a running drill's verifier is considered lost, if it is: the
/// report is still unfinished well past the time a live verifier would
/// have finished it (deadline or rollback, plus the restore bound and a
/// grace), or membership shows its instance gone while the drill's
/// overrides are already gone too.
pub fn verifier_lost(
    drill: &SharedDrill,
    overrides_left: bool,
    instances: &BTreeSet<String>,
    restore: Duration,
    now: SystemTime,
) -> Option<String> {
    let report = &drill.report;
    let ended = report
        .rolled_back
        .unwrap_or(report.ends_at)
        .min(report.ends_at);
    if now >= ended + restore + VERIFIER_GRACE {
        return Some(format!(
            "verifier {} lost: the report was not finished within {} s of the drill's end",
            drill.verifier,
            (restore + VERIFIER_GRACE).as_secs()
        ));
    }
    if !instances.is_empty() && !instances.contains(&drill.verifier) && !overrides_left {
        return Some(format!(
            "verifier {} lost: it is no longer a live instance",
            drill.verifier
        ));
    }
    None
}

/// The finished form of an orphaned report: rolled back at its deadline
/// (the cluster removed its overrides then), pairs not yet decided marked
/// failed with the reason, and the loss on the timeline.
pub(crate) fn finish_report(
    report: &DrillReport,
    verifier: &str,
    reason: &str,
    by: &str,
    now: SystemTime,
) -> DrillReport {
    let mut report = report.clone();
    if report.rolled_back.is_none() {
        let at = report.ends_at.min(now);
        report.rolled_back = Some(at);
        report.rollback_reason =
            Some("expired (rolled back by the cluster at its deadline)".into());
        report.event(
            at,
            "rolled_back",
            Some("the cluster removed the drill's overrides".into()),
        );
    }
    for pair in &mut report.pairs {
        if pair.result == Verdict::Pending {
            pair.fail(format!("not verified to the end: {reason}"));
        }
    }
    report.event(
        now,
        "verifier_lost",
        Some(format!(
            "{reason}; finished by {by} (verifier was {verifier})"
        )),
    );
    report.phase = Phase::Finished;
    report.finished = Some(now);
    report.summarize();
    report.event(
        now,
        "finished",
        Some(format!("{}: verifier lost", report.result.as_str())),
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drills::report::{Impact, PairReport};
    use std::time::UNIX_EPOCH;

    fn drill(verifier: &str) -> SharedDrill {
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        SharedDrill {
            verifier: verifier.into(),
            report: DrillReport {
                id: "dr-1".into(),
                regions: vec!["us".into()],
                services: vec!["fo.example.com.".into()],
                who: "alice".into(),
                why: "practice".into(),
                duration_secs: 60,
                scheduled: None,
                phase: Phase::Running,
                result: Verdict::Pending,
                created: start,
                started: start,
                ends_at: start + Duration::from_secs(60),
                rolled_back: None,
                rollback_reason: None,
                finished: None,
                overrides: vec!["ov-1".into()],
                timeline: Vec::new(),
                pairs: vec![PairReport::pending(
                    "fo.example.com.".into(),
                    "any".into(),
                    "198.18.0.0/24".into(),
                )],
                impact: Impact {
                    detection_ms: 0,
                    max_ttl_secs: 5,
                    max_convergence_ms: None,
                    worst_case_ms: None,
                },
            },
        }
    }

    #[test]
    fn a_verifier_is_lost_only_well_after_the_end_or_when_it_left() {
        let d = drill("a");
        let end = d.report.ends_at;
        let restore = Duration::from_secs(2);
        let none = BTreeSet::new();
        let live: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        let gone: BTreeSet<String> = ["b".to_string()].into();
        // Before the end plus restore plus grace, a silent verifier may
        // still be finishing.
        assert!(verifier_lost(&d, true, &none, restore, end).is_none());
        assert!(verifier_lost(&d, false, &none, restore, end + Duration::from_secs(6)).is_none());
        assert!(verifier_lost(&d, false, &none, restore, end + Duration::from_secs(7)).is_some());
        // Membership says it left, and its overrides are gone: now.
        assert!(verifier_lost(&d, false, &live, restore, end).is_none());
        assert!(verifier_lost(&d, true, &gone, restore, end).is_none());
        let why = verifier_lost(&d, false, &gone, restore, end).unwrap();
        assert!(why.contains("verifier a lost"), "{why}");
    }

    #[test]
    fn an_orphaned_report_is_finished_rolled_back_at_its_deadline() {
        let d = drill("a");
        let now = d.report.ends_at + Duration::from_secs(10);
        let report = finish_report(&d.report, "a", "verifier a lost", "b", now);
        assert_eq!(report.phase, Phase::Finished);
        assert_eq!(report.finished, Some(now));
        assert_eq!(report.rolled_back, Some(d.report.ends_at));
        assert_eq!(report.result, Verdict::Fail);
        assert!(report.has_event("verifier_lost") && report.has_event("finished"));
        assert!(
            report.pairs[0]
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("not verified to the end")),
            "{:?}",
            report.pairs[0]
        );
    }
}
