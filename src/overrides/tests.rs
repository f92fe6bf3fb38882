//! Override rules without sockets or files: replacement, deletion, expiry,
//! the safety rule, and their effect on region state.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::rr::Name;

use super::*;
use crate::traffic::{
    AllDown, Endpoint, EndpointAnswer, HealthInputs, Policy, Region, Service, TrafficState,
};

/// Regions a (weight 60), b (30), z (0, configured drained); services
/// `ab.` over a and b, `a.` over a alone, `z.` over z alone.
fn plan() -> TrafficPlan {
    let mut plan = TrafficPlan::default();
    for (name, weight) in [("a", 60), ("b", 30), ("z", 0)] {
        plan.region_index.insert(name.into(), plan.regions.len());
        plan.regions.push(Region {
            name: name.into(),
            weight,
            coordinates: None,
            min_healthy: 1,
            endpoints: vec![
                Endpoint {
                    id: "e1".into(),
                    answer: EndpointAnswer::V4([192, 0, 2, 1].into()),
                    probe: None,
                },
                Endpoint {
                    id: "e2".into(),
                    answer: EndpointAnswer::V4([192, 0, 2, 2].into()),
                    probe: None,
                },
            ],
        });
    }
    for (name, regions) in [("ab.", vec![0, 1]), ("a.", vec![0]), ("z.", vec![2])] {
        plan.services.push(Service {
            name: Name::from_str(name).unwrap(),
            ttl: 60,
            policy: Policy::Weighted,
            regions,
            all_down: AllDown::FailOpen,
        });
    }
    plan
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn ov(id: &str, region: &str, action: Action, expires: Option<u64>) -> Override {
    Override {
        id: id.into(),
        region: region.into(),
        action,
        who: "alice".into(),
        why: "test".into(),
        created: at(0),
        expires: expires.map(at),
        drill: None,
    }
}

const DOWN: Action = Action::Force {
    state: ForceState::Down,
};
const UP: Action = Action::Force {
    state: ForceState::Up,
};

#[test]
fn a_new_override_replaces_the_same_kind_only() {
    let plan = plan();
    let set = OverrideSet::default();
    let (set, _) = set
        .apply(
            &plan,
            &Change::Create(ov("1", "a", Action::Weight { weight: 5 }, None)),
        )
        .unwrap();
    let (set, _) = set
        .apply(&plan, &Change::Create(ov("2", "a", DOWN, None)))
        .unwrap();
    let (set, applied) = set
        .apply(&plan, &Change::Create(ov("3", "a", Action::Drain, None)))
        .unwrap();
    assert_eq!(
        applied
            .removed
            .iter()
            .map(|o| o.id.as_str())
            .collect::<Vec<_>>(),
        ["1"]
    );
    assert_eq!(set.weight_of("a"), Some(0));
    assert_eq!(set.force_of("a"), Some(ForceState::Down));
    assert_eq!(set.len(), 2);
}

#[test]
fn unknown_regions_and_ids_are_errors_and_change_nothing() {
    let plan = plan();
    let set = OverrideSet::from_vec(vec![ov("1", "a", UP, None)]);
    assert_eq!(
        set.apply(&plan, &Change::Create(ov("2", "nope", Action::Drain, None))),
        Err(ChangeError::UnknownRegion("nope".into()))
    );
    assert_eq!(
        set.apply(&plan, &Change::Delete("9".into())),
        Err(ChangeError::UnknownOverride("9".into()))
    );
    assert_eq!(
        set.apply(&plan, &Change::ClearForce("b".into())),
        Err(ChangeError::NotForced("b".into()))
    );
    let (cleared, applied) = set.apply(&plan, &Change::ClearForce("a".into())).unwrap();
    assert!(cleared.is_empty());
    assert_eq!(applied.removed.len(), 1);
    assert_eq!(set.len(), 1, "apply never touches the original");
}

#[test]
fn expiry_drops_only_the_due() {
    let set = OverrideSet::from_vec(vec![
        ov("1", "a", Action::Drain, Some(10)),
        ov("2", "b", Action::Drain, Some(20)),
        ov("3", "b", UP, None),
    ]);
    assert_eq!(set.next_expiry(), Some(at(10)));
    let (kept, gone) = set.expire(at(10));
    assert_eq!(
        gone.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        ["1"]
    );
    assert_eq!(kept.len(), 2);
    assert_eq!(kept.next_expiry(), Some(at(20)));
    let (kept, _) = kept.expire(at(100));
    assert_eq!(kept.next_expiry(), None);
}

#[test]
fn safety_rule_names_newly_starved_services_only() {
    let plan = plan();
    let healthy = HealthInputs::new();
    let none = OverrideSet::default();
    // z. is starved by its config (weight 0) and never blocks anything.
    assert_eq!(starved_services(&plan, &healthy, &none), ["z."]);
    let a_down = OverrideSet::from_vec(vec![ov("1", "a", DOWN, None)]);
    assert_eq!(newly_starved(&plan, &healthy, &none, &a_down), ["a."]);
    let both = OverrideSet::from_vec(vec![
        ov("1", "a", DOWN, None),
        ov("2", "b", Action::Drain, None),
    ]);
    assert_eq!(newly_starved(&plan, &healthy, &a_down, &both), ["ab."]);
    // Raising z's weight un-starves it; taking that back starves it anew.
    let z_up = OverrideSet::from_vec(vec![ov("3", "z", Action::Weight { weight: 10 }, None)]);
    assert!(newly_starved(&plan, &healthy, &none, &z_up).is_empty());
    assert_eq!(newly_starved(&plan, &healthy, &z_up, &none), ["z."]);
    // Force up does not count as out of service.
    let a_up = OverrideSet::from_vec(vec![ov("1", "a", UP, None)]);
    assert!(newly_starved(&plan, &healthy, &none, &a_up).is_empty());
}

#[test]
fn safety_rule_counts_only_regions_passing_their_checks() {
    let plan = plan();
    let none = OverrideSet::default();
    // b fails its checks: ab. now rests on a alone.
    let mut b_failing = HealthInputs::new();
    for e in &plan.regions[plan.region_index["b"]].endpoints {
        b_failing.insert(("b".to_string(), e.id.clone()), false);
    }
    let a_down = OverrideSet::from_vec(vec![ov("1", "a", DOWN, None)]);
    let mut starved = newly_starved(&plan, &b_failing, &none, &a_down);
    starved.sort();
    assert_eq!(starved, ["a.", "ab."]);
    // Draining a is as bad as forcing it down.
    let a_drained = OverrideSet::from_vec(vec![ov("1", "a", Action::Drain, None)]);
    assert!(newly_starved(&plan, &b_failing, &none, &a_drained).contains(&"ab.".to_string()));
    // Forcing the failing b up does not make it a region that can serve.
    let b_up_a_down = OverrideSet::from_vec(vec![ov("1", "a", DOWN, None), ov("2", "b", UP, None)]);
    assert!(newly_starved(&plan, &b_failing, &none, &b_up_a_down).contains(&"ab.".to_string()));
    // With both healthy, taking a out leaves b: only a. is starved.
    assert_eq!(
        newly_starved(&plan, &HealthInputs::new(), &none, &a_down),
        ["a."]
    );
}

#[test]
fn forced_states_beat_health_and_weights_keep_it() {
    let plan = plan();
    let mut health = HealthInputs::new();
    health.insert(("a".into(), "e1".into()), false);
    health.insert(("a".into(), "e2".into()), false);
    let overrides = OverrideSet::from_vec(vec![
        ov("1", "a", UP, None),
        ov("2", "b", DOWN, None),
        ov("3", "b", Action::Weight { weight: 7 }, None),
        ov("4", "z", Action::Weight { weight: 9 }, None),
        ov("5", "gone", Action::Drain, None),
    ]);
    let state = TrafficState::compute(&plan, &health, &overrides);
    let [a, b, z] = &state.regions[..] else {
        panic!("three regions")
    };
    assert!(a.healthy && !a.checks_healthy && a.available());
    assert_eq!(
        a.endpoints_up,
        [true, true],
        "forced up answers every endpoint"
    );
    assert!(!b.healthy && b.checks_healthy && !b.available());
    assert_eq!(b.weight, 7);
    assert!(z.available() && z.weight == 9);
    // Without overrides, health decides again.
    let plain = TrafficState::compute(&plan, &health, &OverrideSet::default());
    assert!(!plain.regions[0].healthy && plain.regions[1].available());
    // Drain: weight 0 while health still says healthy.
    let drained = OverrideSet::from_vec(vec![ov("1", "b", Action::Drain, None)]);
    let state = TrafficState::compute(&plan, &HealthInputs::new(), &drained);
    assert!(state.regions[1].healthy && !state.regions[1].available());
}

#[test]
fn ids_are_fresh_and_well_formed() {
    let mut rng = fastrand::Rng::with_seed(7);
    let set = OverrideSet::default();
    let id = new_id(&set, &mut rng);
    assert!(id.starts_with("ov-") && id.len() == 15, "{id}");
    assert_ne!(id, new_id(&set, &mut rng));
}

fn drilled(id: &str, region: &str, drill: &str) -> Override {
    Override {
        drill: Some(drill.into()),
        ..ov(id, region, DOWN, Some(60))
    }
}

#[test]
fn a_drill_starts_all_or_nothing_and_ends_only_its_own_overrides() {
    let plan = plan();
    let set = OverrideSet::from_vec(vec![ov("1", "b", UP, None)]);
    // b is forced up by an operator: the drill must not take it (its
    // rollback would drop the operator's override), and nothing is added.
    let start = Change::StartDrill(vec![drilled("2", "a", "dr-1"), drilled("3", "b", "dr-1")]);
    assert_eq!(
        set.apply(&plan, &start),
        Err(ChangeError::AlreadyForced("b".into()))
    );
    let set = OverrideSet::from_vec(vec![ov("1", "b", Action::Drain, None)]);
    let start = Change::StartDrill(vec![drilled("2", "a", "dr-1"), drilled("3", "z", "dr-1")]);
    let (next, applied) = set.apply(&plan, &start).unwrap();
    assert_eq!(next.len(), 3);
    assert_eq!(applied.drill_created.len(), 2);
    assert_eq!(applied.created.unwrap().id, "2");
    // Ending it removes its two overrides and leaves the drain.
    let (ended, applied) = next.apply(&plan, &Change::EndDrill("dr-1".into())).unwrap();
    assert_eq!(ended, set);
    assert_eq!(applied.removed.len(), 2);
    // Ending it again is not an error: it may have expired already.
    let (again, applied) = ended
        .apply(&plan, &Change::EndDrill("dr-1".into()))
        .unwrap();
    assert_eq!((again, applied.removed.len()), (set, 0));
}
