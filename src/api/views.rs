//! Views of the published snapshot as the contract's types
//! ([`crate::contract`]): regions, services, overrides and status. Each
//! read handler loads one snapshot and renders from it alone, so every
//! answer is consistent with one generation.

use std::time::SystemTime;

use super::ApiContext;
use crate::contract::{
    AllDownName, AuthInfo, ClusterState, Counts, Endpoint, EndpointKind, LastReload, Override,
    PolicyName, Region, Service, ServiceRegion, SettingsInfo, SnapshotInfo, Status,
};
use crate::health::HealthRegistry;
use crate::overrides::OverrideSet;
use crate::overrides::time::format as rfc3339;
use crate::snapshot::Snapshot;
use crate::traffic::{AllDown, EndpointAnswer, Policy, RegionId};

/// Every active override, oldest first.
pub(super) fn overrides(set: &OverrideSet, now: SystemTime) -> Vec<Override> {
    set.iter().map(|o| Override::of(o, now)).collect()
}

/// A region's endpoints: what each answers and whether it is up.
fn endpoints(snapshot: &Snapshot, health: &HealthRegistry, r: RegionId) -> Vec<Endpoint> {
    let region = &snapshot.plan.regions[r];
    let state = &snapshot.state.regions[r];
    region
        .endpoints
        .iter()
        .zip(&state.endpoints_up)
        .map(|(e, up)| {
            let (kind, answer) = match &e.answer {
                EndpointAnswer::V4(a) => (EndpointKind::A, a.to_string()),
                EndpointAnswer::V6(a) => (EndpointKind::Aaaa, a.to_string()),
                EndpointAnswer::Target(n) => (EndpointKind::Cname, n.to_string()),
            };
            Endpoint {
                id: e.id.clone(),
                kind,
                answer,
                probe: e.probe.map(|p| p.to_string()),
                up: *up,
                check: health
                    .get(&region.name, &e.id)
                    .and_then(|status| serde_json::to_value(status).ok()),
            }
        })
        .collect()
}

/// One region: configured and effective weight, health from checks and
/// effective, forced state, overrides, endpoints.
pub(super) fn region(
    snapshot: &Snapshot,
    health: &HealthRegistry,
    r: RegionId,
    now: SystemTime,
) -> Region {
    let region = &snapshot.plan.regions[r];
    let state = &snapshot.state.regions[r];
    Region {
        name: region.name.clone(),
        configured_weight: region.weight,
        effective_weight: state.weight,
        checks_healthy: state.checks_healthy,
        healthy: state.healthy,
        forced: state.forced.map(Into::into),
        drained: state.weight == 0,
        available: state.available(),
        min_healthy: region.min_healthy as u64,
        endpoints_up: state.endpoints_up.iter().filter(|u| **u).count() as u64,
        coordinates: region.coordinates.map(|(lat, lon)| vec![lat, lon]),
        services: snapshot
            .plan
            .services
            .iter()
            .filter(|s| s.regions.contains(&r))
            .map(|s| s.name.to_string())
            .collect(),
        overrides: snapshot
            .overrides
            .for_region(&region.name)
            .map(|o| Override::of(o, now))
            .collect(),
        endpoints: endpoints(snapshot, health, r),
    }
}

/// One service: its policy, its regions' state, and the overrides on them.
pub(super) fn service(
    snapshot: &Snapshot,
    health: &HealthRegistry,
    service: &crate::traffic::Service,
    now: SystemTime,
) -> Service {
    let plan = &snapshot.plan;
    let states = &snapshot.state.regions;
    let regions: Vec<ServiceRegion> = service
        .regions
        .iter()
        .map(|&r| {
            let (region, state) = (&plan.regions[r], &states[r]);
            ServiceRegion {
                name: region.name.clone(),
                available: state.available(),
                healthy: state.healthy,
                forced: state.forced.map(Into::into),
                configured_weight: region.weight,
                effective_weight: state.weight,
                endpoints: endpoints(snapshot, health, r),
            }
        })
        .collect();
    let available = service
        .regions
        .iter()
        .filter(|&&r| states[r].available())
        .count();
    let overrides = snapshot
        .overrides
        .iter()
        .filter(|o| {
            plan.region_index
                .get(&o.region)
                .is_some_and(|r| service.regions.contains(r))
        })
        .map(|o| Override::of(o, now))
        .collect();
    let (all_down, fallback) = match service.all_down {
        AllDown::FailOpen => (AllDownName::FailOpen, None),
        AllDown::Fallback(r) => (AllDownName::Fallback, Some(plan.regions[r].name.clone())),
        AllDown::Empty => (AllDownName::Empty, None),
    };
    let (policy, tiers, max_answers) = match &service.policy {
        Policy::Failover { tiers } => {
            let names = tiers
                .iter()
                .map(|t| t.iter().map(|&r| plan.regions[r].name.clone()).collect())
                .collect();
            (PolicyName::Failover, Some(names), None)
        }
        Policy::Multivalue { max } => (PolicyName::Multivalue, None, Some(*max as u64)),
        Policy::Weighted => (PolicyName::Weighted, None, None),
        Policy::Geo(_) => (PolicyName::Geo, None, None),
        Policy::Nearest { .. } => (PolicyName::Nearest, None, None),
    };
    Service {
        name: service.name.to_string(),
        policy,
        ttl: service.ttl,
        all_down,
        fallback,
        available: available > 0,
        available_regions: available as u64,
        tiers,
        max_answers,
        regions,
        overrides,
    }
}

/// `GET /v1/status`.
pub(super) fn status(ctx: &ApiContext, snapshot: &Snapshot, now: SystemTime) -> Status {
    // One generation for every setting shown.
    let settings = ctx.settings.borrow().clone();
    let last_reload = settings.last_reload.as_ref().map(|r| LastReload {
        at: rfc3339(r.at),
        ok: r.result.is_ok(),
        generation: r.result.as_ref().ok().copied(),
        error: r.result.as_ref().err().cloned(),
    });
    let endpoints: usize = snapshot
        .plan
        .regions
        .iter()
        .map(|r| r.endpoints.len())
        .sum();
    Status {
        version: env!("CARGO_PKG_VERSION").into(),
        started_at: rfc3339(ctx.started_at),
        uptime_secs: ctx.started.elapsed().as_secs(),
        ready: ready(snapshot).is_ok(),
        snapshot: SnapshotInfo {
            generation: snapshot.generation,
            built_at: rfc3339(snapshot.built_at),
            age_secs: now
                .duration_since(snapshot.built_at)
                .map_or(0.0, |d| d.as_secs_f64()),
        },
        counts: Counts {
            zones: snapshot.zones.len() as u64,
            regions: snapshot.plan.regions.len() as u64,
            endpoints: endpoints as u64,
            services: snapshot.plan.services.len() as u64,
            overrides: snapshot.overrides.len() as u64,
        },
        last_reload,
        auth: AuthInfo {
            tokens: settings.tokens.names().count() as u64,
            protect_reads: settings.tokens.protect_reads,
        },
        settings: SettingsInfo {
            generation: settings.generation,
            loaded_at: rfc3339(settings.loaded_at),
            health_checks: ctx.health.plan_generation(),
            drills_max_duration_secs: settings.drills.max_duration_secs,
        },
        drills: typed(ctx.drills.status_json()).unwrap_or_default(),
        cluster: ClusterState::from(&**ctx.cluster.load()),
        instance: ctx.cluster_health.members.instance().to_string(),
        instances: typed(ctx.cluster_health.instances_json(snapshot, now)).unwrap_or_default(),
        health_votes: typed(ctx.cluster_health.votes_json()).flatten(),
    }
}

/// `value` as the contract's type `T`: the drills and cluster modules render
/// their parts of the status, and reading them through the contract keeps
/// the answer to it. `None` (logged) if one does not fit, which their tests
/// would catch.
fn typed<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Option<T> {
    serde_json::from_value(value)
        .map_err(|e| tracing::error!(error = %e, "a status part does not fit the API contract"))
        .ok()
}

/// Ready to serve: zones loaded and a snapshot published.
pub(super) fn ready(snapshot: &Snapshot) -> Result<(), &'static str> {
    if snapshot.generation == 0 {
        Err("no snapshot published yet")
    } else if snapshot.zones.is_empty() {
        Err("no zones loaded")
    } else {
        Ok(())
    }
}
