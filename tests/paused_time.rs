//! Expiry, drills and schedules on paused time (issue 13): the real app
//! with its real DNS listener on loopback, inside a current-thread tokio
//! runtime whose clock is paused. Wall time comes from `switchyard::clock`,
//! which follows the runtime, so an override's hour, a ten-minute drill
//! interrupted by a restart, or an hourly schedule pass in well under a
//! second of real time, and the times they record are exact.
//!
//! DNS answers are real UDP exchanges with the server's worker threads (which
//! read the published snapshot and need no runtime), so they are asked from
//! the test's own thread between awaits.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::drill_setup::{AP, DrillSetup, EU, US};
use common::paused::runtime as paused;
use common::{ecs_query, udp};
use hickory_proto::rr::RecordType;
use switchyard::app::App;
use switchyard::drills::StartDrill;
use switchyard::drills::report::{DrillReport, Phase, Verdict};
use switchyard::overrides::{Action, ForceState, Request, RequestKind};

/// The drill world (as in `tests/drills.rs`) with drills of up to an hour
/// probing once a second from eu, us and ap, and `drills_extra` in `[drills]`.
fn setup(drills_extra: &str) -> DrillSetup {
    DrillSetup::new(
        &format!(
            "max_duration_secs = 3600\nprobe_interval_ms = 1000\n\
             vantages = {{ eu = \"{EU}\", us = \"{US}\", ap = \"{AP}\" }}\n\
             {drills_extra}"
        ),
        "",
    )
}

/// Stops what `App::start` started (inside the runtime it runs on).
fn stop(mut app: App) {
    app.dns.shutdown();
    app.health.shutdown();
    app.api.shutdown();
}

/// The A answers for geo.example.com from a client in `subnet`.
fn answers(app: &App, subnet: &str) -> Vec<String> {
    let reply = udp(
        app.dns.local_addrs[0],
        &ecs_query("geo.example.com.", RecordType::A, subnet),
    );
    let mut out: Vec<String> = reply.answers.iter().map(|r| r.data.to_string()).collect();
    out.sort();
    out
}

/// Audit entries with `result`, as JSON.
fn audited(state: &Path, result: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(state.join("audit.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["result"] == result)
        .collect()
}

fn rfc3339(value: &serde_json::Value) -> SystemTime {
    humantime::parse_rfc3339(value.as_str().unwrap()).unwrap()
}

/// `a` and `b` within a few milliseconds (times are recorded to the ms).
fn close(a: SystemTime, b: SystemTime) -> bool {
    let d = a.duration_since(b).unwrap_or_else(|e| e.duration());
    d < Duration::from_millis(5)
}

#[test]
fn an_override_lasts_its_hour_then_expires_at_its_time_and_is_audited() {
    let setup = setup("");
    paused().block_on(async {
        let app = App::start(&setup.config).expect("start");
        assert_eq!(answers(&app, EU), ["198.51.100.1"]);
        let made = app
            .publisher
            .change_overrides(Request {
                kind: RequestKind::Set {
                    region: "eu-west".into(),
                    action: Action::Force {
                        state: ForceState::Down,
                    },
                },
                who: "alice".into(),
                why: "maintenance".into(),
                force: false,
                expires_in_secs: Some(3600),
            })
            .await
            .expect("override accepted");
        let expires = made.applied.created.unwrap().expires.unwrap();
        assert_eq!(answers(&app, EU), ["192.0.2.1"]);
        // A second before its hour is up it still holds.
        tokio::time::sleep(Duration::from_secs(3599)).await;
        assert_eq!(answers(&app, EU), ["192.0.2.1"]);
        assert_eq!(app.snapshot.load().overrides.iter().count(), 1);
        assert!(audited(&setup.state_dir(), "expired").is_empty());
        // Past it, answers are back and the expiry is audited at its time.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(answers(&app, EU), ["198.51.100.1"]);
        assert_eq!(app.snapshot.load().overrides.iter().count(), 0);
        let expired = audited(&setup.state_dir(), "expired");
        assert_eq!(expired.len(), 1, "{expired:?}");
        assert_eq!(expired[0]["who"], "system");
        let at = rfc3339(&expired[0]["time"]);
        assert!(close(at, expires), "expired at {at:?}, due {expires:?}");
        stop(app);
    });
}

/// The drill of `app` with id `id`, waited for until finished.
async fn finished(app: &App, id: &str) -> DrillReport {
    tokio::time::timeout(Duration::from_secs(7200), app.drills.wait_finished(id))
        .await
        .expect("the drill finishes")
        .expect("the drill is known")
}

#[test]
fn a_ten_minute_drill_survives_a_restart_and_rolls_back_exactly_at_its_end() {
    let setup = setup("");
    // First run: start the drill, five minutes pass, the server stops.
    let id = paused().block_on(async {
        let app = App::start(&setup.config).expect("start");
        let report = app
            .drills
            .start(StartDrill {
                regions: vec!["eu-west".into()],
                duration_secs: 600,
                why: "long practice".into(),
                services: None,
                force: false,
                who: "alice".into(),
                scheduled: None,
            })
            .await
            .expect("drill started");
        assert_eq!(answers(&app, EU), ["192.0.2.1"]);
        tokio::time::sleep(Duration::from_secs(300)).await;
        let report_now = app.drills.get(&report.id).unwrap();
        assert_eq!(report_now.phase, Phase::Running);
        assert!(report_now.has_event("verified"), "{report_now:?}");
        stop(app);
        report.id
    });
    // Second run, on the same state dir: the drill resumes and ends on time.
    paused().block_on(async {
        let app = App::start(&setup.config).expect("restart");
        assert_eq!(
            answers(&app, EU),
            ["192.0.2.1"],
            "still out after the restart"
        );
        let running = app.drills.get(&id).unwrap();
        assert_eq!(running.phase, Phase::Running);
        assert!(running.has_event("resumed"));
        let report = finished(&app, &id).await;
        assert_eq!(report.result, Verdict::Pass, "{report:?}");
        assert_eq!(report.rollback_reason.as_deref(), Some("expired"));
        let rolled_back = report.rolled_back.unwrap();
        assert!(
            close(rolled_back, report.ends_at),
            "rolled back at {rolled_back:?}, due {:?}",
            report.ends_at
        );
        assert_eq!(
            report.ends_at.duration_since(report.started).unwrap(),
            Duration::from_secs(600)
        );
        assert_eq!(answers(&app, EU), ["198.51.100.1"]);
        assert_eq!(app.snapshot.load().overrides.iter().count(), 0);
        stop(app);
    });
}

#[test]
fn an_hourly_scheduled_drill_runs_on_the_hour_and_not_before() {
    let schedule = r#"
[[drills.schedule]]
regions = ["ap-south"]
every = "1h"
duration_secs = 60
why = "hourly practice"
"#;
    let setup = setup(schedule);
    paused().block_on(async {
        let app = App::start(&setup.config).expect("start");
        let started = switchyard::clock::now();
        tokio::time::sleep(Duration::from_secs(3599)).await;
        assert!(app.drills.list().is_empty(), "ran before the hour");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let drills = app.drills.list();
        assert_eq!(drills.len(), 1, "{drills:?}");
        let first = &drills[0];
        assert_eq!(first.who, "schedule");
        assert_eq!(first.scheduled, Some(0));
        let due = started + Duration::from_secs(3600);
        assert!(
            close(first.created, due),
            "started at {:?}, due {due:?}",
            first.created
        );
        let report = finished(&app, &first.id).await;
        assert_eq!(report.result, Verdict::Pass, "{report:?}");
        assert_eq!(answers(&app, AP), ["203.0.113.1"]);
        stop(app);
    });
}
