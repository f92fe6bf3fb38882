//! JSON views of the published snapshot: regions, services, overrides and
//! status. Each read handler loads one snapshot and renders from it alone,
//! so every answer is consistent with one generation.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::ApiContext;
use crate::health::HealthRegistry;
use crate::overrides::time::format as rfc3339;
use crate::overrides::{Override, OverrideSet};
use crate::snapshot::Snapshot;
use crate::traffic::{AllDown, EndpointAnswer, Policy, RegionId, Service};

/// One override, with the seconds it has left when it expires.
pub fn override_json(o: &Override, now: SystemTime) -> Value {
    let mut value = serde_json::to_value(o).unwrap_or(Value::Null);
    if let (Some(map), Some(at)) = (value.as_object_mut(), o.expires) {
        let left = at.duration_since(now).map_or(0, |d| d.as_secs());
        map.insert("expires_in_secs".into(), json!(left));
    }
    value
}

/// Every active override, oldest first.
pub fn overrides_json(set: &OverrideSet, now: SystemTime) -> Value {
    Value::Array(set.iter().map(|o| override_json(o, now)).collect())
}

/// A region's endpoints: what each answers and whether it is up.
fn endpoints_json(snapshot: &Snapshot, health: &HealthRegistry, r: RegionId) -> Vec<Value> {
    let region = &snapshot.plan.regions[r];
    let state = &snapshot.state.regions[r];
    region
        .endpoints
        .iter()
        .zip(&state.endpoints_up)
        .map(|(e, up)| {
            let (kind, answer) = match &e.answer {
                EndpointAnswer::V4(a) => ("a", a.to_string()),
                EndpointAnswer::V6(a) => ("aaaa", a.to_string()),
                EndpointAnswer::Target(n) => ("cname", n.to_string()),
            };
            json!({
                "id": e.id,
                "kind": kind,
                "answer": answer,
                "probe": e.probe.map(|p| p.to_string()),
                "up": up,
                // The checker's view (state, consecutive counts, last probe,
                // latency, last failure); null for unchecked endpoints.
                "check": health
                    .get(&region.name, &e.id)
                    .map_or(Value::Null, |status| serde_json::to_value(status).unwrap_or(Value::Null)),
            })
        })
        .collect()
}

/// One region: configured and effective weight, health from checks and
/// effective, forced state, overrides, endpoints.
pub fn region_json(
    snapshot: &Snapshot,
    health: &HealthRegistry,
    r: RegionId,
    now: SystemTime,
) -> Value {
    let region = &snapshot.plan.regions[r];
    let state = &snapshot.state.regions[r];
    let endpoints = endpoints_json(snapshot, health, r);
    let services: Vec<String> = snapshot
        .plan
        .services
        .iter()
        .filter(|s| s.regions.contains(&r))
        .map(|s| s.name.to_string())
        .collect();
    let overrides: Vec<Value> = snapshot
        .overrides
        .for_region(&region.name)
        .map(|o| override_json(o, now))
        .collect();
    json!({
        "name": region.name,
        "configured_weight": region.weight,
        "effective_weight": state.weight,
        "checks_healthy": state.checks_healthy,
        "healthy": state.healthy,
        "forced": state.forced.map(|f| f.as_str()),
        "drained": state.weight == 0,
        "available": state.available(),
        "min_healthy": region.min_healthy,
        "endpoints_up": state.endpoints_up.iter().filter(|u| **u).count(),
        "coordinates": region.coordinates.map(|(lat, lon)| [lat, lon]),
        "services": services,
        "overrides": overrides,
        "endpoints": endpoints,
    })
}

/// One service: its policy, its regions' state, and the overrides on them.
pub fn service_json(
    snapshot: &Snapshot,
    health: &HealthRegistry,
    service: &Service,
    now: SystemTime,
) -> Value {
    let plan = &snapshot.plan;
    let states = &snapshot.state.regions;
    let regions: Vec<Value> = service
        .regions
        .iter()
        .map(|&r| {
            let (region, state) = (&plan.regions[r], &states[r]);
            json!({
                "name": region.name,
                "available": state.available(),
                "healthy": state.healthy,
                "forced": state.forced.map(|f| f.as_str()),
                "configured_weight": region.weight,
                "effective_weight": state.weight,
                "endpoints": endpoints_json(snapshot, health, r),
            })
        })
        .collect();
    let available = service
        .regions
        .iter()
        .filter(|&&r| states[r].available())
        .count();
    let overrides: Vec<Value> = snapshot
        .overrides
        .iter()
        .filter(|o| {
            plan.region_index
                .get(&o.region)
                .is_some_and(|r| service.regions.contains(r))
        })
        .map(|o| override_json(o, now))
        .collect();
    let (all_down, fallback) = match service.all_down {
        AllDown::FailOpen => ("fail_open", None),
        AllDown::Fallback(r) => ("fallback", Some(plan.regions[r].name.clone())),
        AllDown::Empty => ("empty", None),
    };
    let mut value = json!({
        "name": service.name.to_string(),
        "policy": service.policy.name(),
        "ttl": service.ttl,
        "all_down": all_down,
        "fallback": fallback,
        "available": available > 0,
        "available_regions": available,
        "regions": regions,
        "overrides": overrides,
    });
    match &service.policy {
        Policy::Failover { tiers } => {
            let names: Vec<Vec<&str>> = tiers
                .iter()
                .map(|t| t.iter().map(|&r| plan.regions[r].name.as_str()).collect())
                .collect();
            value["tiers"] = json!(names);
        }
        Policy::Multivalue { max } => value["max_answers"] = json!(max),
        _ => {}
    }
    value
}

/// `GET /v1/status`.
pub fn status_json(ctx: &ApiContext, snapshot: &Snapshot, now: SystemTime) -> Value {
    let control = ctx.control.load();
    let last_reload = control.last_reload.as_ref().map(|r| {
        json!({
            "at": rfc3339(r.at),
            "ok": r.result.is_ok(),
            "generation": r.result.as_ref().ok(),
            "error": r.result.as_ref().err(),
        })
    });
    let endpoints: usize = snapshot
        .plan
        .regions
        .iter()
        .map(|r| r.endpoints.len())
        .sum();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": rfc3339(ctx.started_at),
        "uptime_secs": ctx.started.elapsed().as_secs(),
        "ready": ready(snapshot).is_ok(),
        "snapshot": {
            "generation": snapshot.generation,
            "built_at": rfc3339(snapshot.built_at),
            "age_secs": now.duration_since(snapshot.built_at).map_or(0.0, |d| d.as_secs_f64()),
        },
        "counts": {
            "zones": snapshot.zones.len(),
            "regions": snapshot.plan.regions.len(),
            "endpoints": endpoints,
            "services": snapshot.plan.services.len(),
            "overrides": snapshot.overrides.len(),
        },
        "last_reload": last_reload,
        "auth": {
            "tokens": control.tokens.names().count(),
            "protect_reads": control.tokens.protect_reads,
        },
        "drills": ctx.drills.status_json(),
        "cluster": ctx.cluster.load().json(),
        "instance": ctx.cluster_health.members.instance(),
        "instances": ctx.cluster_health.instances_json(snapshot, now),
        "health_votes": ctx.cluster_health.votes_json(),
    })
}

/// Ready to serve: zones loaded and a snapshot published.
pub fn ready(snapshot: &Snapshot) -> Result<(), &'static str> {
    if snapshot.generation == 0 {
        Err("no snapshot published yet")
    } else if snapshot.zones.is_empty() {
        Err("no zones loaded")
    } else {
        Ok(())
    }
}
