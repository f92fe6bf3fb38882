//! Compiling `[regions]` and `[services]` into a [`TrafficPlan`], with every
//! cross-reference checked and every error located in the config file.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use hickory_proto::rr::{Name, RecordType};
use toml::Spanned;

use crate::config::{AllDownConfig, Config, ConfigError, PolicyKind, ServiceConfig};
use crate::geo::{check_continent, check_country, check_net};
use crate::traffic::policy::MAX_MULTIVALUE;
use crate::traffic::{
    AllDown, Endpoint, EndpointAnswer, GeoRules, Policy, Region, RegionId, Service, TrafficPlan,
};
use crate::zone::ZoneSet;

/// Most endpoints a `multivalue` answer carries unless configured.
const DEFAULT_MULTIVALUE_MAX: usize = 8;

/// Validates the traffic config against the served `zones` and indexes it.
/// Returns every error found, not just the first.
pub fn compile(config: &Config, zones: &ZoneSet) -> Result<TrafficPlan, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut plan = TrafficPlan::default();

    for (name, spanned) in &config.regions {
        let region = spanned.get_ref();
        let field = format!("regions.{name}");
        let at = |what: &str, message: String| {
            config.error_at(spanned.span(), format!("{field}{what}"), message)
        };
        if region.endpoints.is_empty() {
            errors.push(at(
                ".endpoints",
                "a region needs at least one endpoint".into(),
            ));
        }
        if region.min_healthy == 0 || region.min_healthy > region.endpoints.len().max(1) {
            errors.push(at(
                ".min_healthy",
                format!(
                    "must be between 1 and the number of endpoints ({})",
                    region.endpoints.len()
                ),
            ));
        }
        if let Some([lat, lon]) = region.coordinates
            && (!(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon))
        {
            errors.push(at(
                ".coordinates",
                format!("[{lat}, {lon}] is not [latitude, longitude] in degrees"),
            ));
        }
        let mut endpoints = Vec::new();
        let mut ids = HashSet::new();
        for (i, spanned_endpoint) in region.endpoints.iter().enumerate() {
            let endpoint = spanned_endpoint.get_ref();
            let efield = format!("{field}.endpoints[{i}]");
            let eat =
                |message: String| config.error_at(spanned_endpoint.span(), efield.clone(), message);
            let answer = match (&endpoint.address, &endpoint.target) {
                (Some(std::net::IpAddr::V4(a)), None) => EndpointAnswer::V4(*a),
                (Some(std::net::IpAddr::V6(a)), None) => EndpointAnswer::V6(*a),
                (None, Some(target)) => match Name::from_str(target) {
                    Ok(mut name) => {
                        name.set_fqdn(true);
                        EndpointAnswer::Target(name)
                    }
                    Err(e) => {
                        errors.push(eat(format!("target {target:?} is not a domain name: {e}")));
                        continue;
                    }
                },
                _ => {
                    errors.push(eat("needs exactly one of `address` or `target`".into()));
                    continue;
                }
            };
            let id = endpoint.id.clone().unwrap_or_else(|| match &answer {
                EndpointAnswer::V4(a) => a.to_string(),
                EndpointAnswer::V6(a) => a.to_string(),
                EndpointAnswer::Target(n) => n.to_string(),
            });
            if !ids.insert(id.clone()) {
                errors.push(eat(format!(
                    "duplicate endpoint id {id:?} in region {name}"
                )));
            }
            endpoints.push(Endpoint {
                id,
                answer,
                probe: endpoint.probe,
            });
        }
        plan.region_index.insert(name.clone(), plan.regions.len());
        plan.regions.push(Region {
            name: name.clone(),
            weight: region.weight,
            coordinates: region.coordinates.map(|[lat, lon]| (lat, lon)),
            min_healthy: region.min_healthy,
            endpoints,
        });
    }

    let mut seen_names: HashMap<Name, String> = HashMap::new();
    for (name, spanned) in &config.services {
        let field = format!("services.\"{name}\"");
        match compile_service(config, &plan, zones, name, spanned, &field) {
            Ok(service) => {
                if let Some(other) = seen_names.insert(service.name.clone(), name.clone()) {
                    errors.push(config.error_at(
                        spanned.span(),
                        field,
                        format!("duplicate service: {name:?} and {other:?} are the same name"),
                    ));
                    continue;
                }
                plan.by_name
                    .insert(service.name.clone(), plan.services.len());
                plan.services.push(service);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }

    // Ancestors of managed names that the zone files lack must exist as
    // empty non-terminals, or resolvers would be told (RFC 8020) that
    // nothing exists below them.
    for service in &plan.services {
        let Some(zone) = zones.find(&service.name) else {
            continue;
        };
        let mut ancestor = service.name.base_name();
        while ancestor != zone.origin && zone.origin.zone_of(&ancestor) {
            if zone.node(&ancestor).is_none() {
                plan.implied_names.insert(ancestor.clone());
            }
            ancestor = ancestor.base_name();
        }
    }

    if errors.is_empty() {
        // Index services by region now, while loading, not on the first
        // override or health change.
        let _ = plan.services_in(0);
        Ok(plan)
    } else {
        Err(errors)
    }
}

/// Checks one service and resolves its references.
fn compile_service(
    config: &Config,
    plan: &TrafficPlan,
    zones: &ZoneSet,
    name: &str,
    spanned: &Spanned<ServiceConfig>,
    field: &str,
) -> Result<Service, Vec<ConfigError>> {
    let service = spanned.get_ref();
    let mut errors = Vec::new();
    let at = |what: &str, message: String| {
        config.error_at(spanned.span(), format!("{field}{what}"), message)
    };

    let lower = match Name::from_str(name) {
        Ok(mut n) => {
            n.set_fqdn(true);
            n.to_lowercase()
        }
        Err(e) => return Err(vec![at("", format!("{name:?} is not a domain name: {e}"))]),
    };
    match zones.find(&lower) {
        None => errors.push(at("", format!("{lower} is not inside any served zone"))),
        Some(zone) => {
            // A managed name below a delegation would never be reached.
            let mut ancestor = lower.clone();
            while ancestor != zone.origin {
                if zone.node(&ancestor).is_some_and(|n| n.is_cut()) {
                    errors.push(at(
                        "",
                        format!("{lower} is at or below the delegation {ancestor}"),
                    ));
                    break;
                }
                ancestor = ancestor.base_name();
            }
            if let Some(node) = zone.node(&lower) {
                let clashing: Vec<String> = node
                    .rrsets()
                    .filter(|s| {
                        matches!(
                            s.rtype(),
                            RecordType::A | RecordType::AAAA | RecordType::CNAME
                        )
                    })
                    .map(|s| s.rtype().to_string())
                    .collect();
                if !clashing.is_empty() {
                    errors.push(at(
                        "",
                        format!("{lower} also has static {} records in its zone file: remove them, the service answers that type", clashing.join("/")),
                    ));
                }
            }
        }
    }

    let region_ref =
        |r: &Spanned<String>, what: &str, errors: &mut Vec<ConfigError>| -> Option<RegionId> {
            let id = plan.region_index.get(r.get_ref()).copied();
            if id.is_none() {
                errors.push(config.error_at(
                    r.span(),
                    format!("{field}{what}"),
                    format!(
                        "unknown region {:?} (defined: {})",
                        r.get_ref(),
                        defined(plan)
                    ),
                ));
            }
            id
        };
    let list =
        |rs: &[Spanned<String>], what: &str, errors: &mut Vec<ConfigError>| -> Vec<RegionId> {
            rs.iter()
                .filter_map(|r| region_ref(r, what, errors))
                .collect()
        };

    let mut regions = list(&service.regions, ".regions", &mut errors);
    let wrong = |key: &str, present: bool, errors: &mut Vec<ConfigError>| {
        if present {
            errors.push(at(
                &format!(".{key}"),
                format!("`{key}` does not apply to policy {:?}", service.policy),
            ));
        }
    };
    wrong(
        "tiers",
        service.tiers.is_some() && service.policy != PolicyKind::Failover,
        &mut errors,
    );
    wrong(
        "geo",
        service.geo.is_some() && service.policy != PolicyKind::Geo,
        &mut errors,
    );
    wrong(
        "bias_km",
        !service.bias_km.is_empty() && service.policy != PolicyKind::Nearest,
        &mut errors,
    );
    wrong(
        "max_answers",
        service.max_answers.is_some() && service.policy != PolicyKind::Multivalue,
        &mut errors,
    );

    let policy = match service.policy {
        PolicyKind::Failover => {
            let tiers: Vec<Vec<RegionId>> = match &service.tiers {
                Some(tiers) => {
                    let tiers: Vec<Vec<RegionId>> = tiers
                        .iter()
                        .map(|t| list(t, ".tiers", &mut errors))
                        .collect();
                    for &r in tiers.iter().flatten() {
                        if !regions.contains(&r) {
                            regions.push(r);
                        }
                    }
                    tiers
                }
                None => regions.iter().map(|r| vec![*r]).collect(),
            };
            Policy::Failover { tiers }
        }
        PolicyKind::Weighted => {
            // Weight 0 drains a region; all of them at 0 is a service that
            // can only ever answer through its all-down rule.
            if !regions.is_empty() && regions.iter().all(|&r| plan.regions[r].weight == 0) {
                let span = service.regions.first().map_or(spanned.span(), |r| r.span());
                errors.push(config.error_at(
                    span,
                    format!("{field}.regions"),
                    "every region of this weighted service has weight 0: it would never answer from a healthy region",
                ));
            }
            Policy::Weighted
        }
        PolicyKind::Multivalue => {
            let max = service
                .max_answers
                .as_ref()
                .map_or(DEFAULT_MULTIVALUE_MAX, |m| *m.get_ref());
            if let Some(spanned) = &service.max_answers
                && (max == 0 || max > MAX_MULTIVALUE)
            {
                errors.push(config.error_at(
                    spanned.span(),
                    format!("{field}.max_answers"),
                    format!("must be between 1 and {MAX_MULTIVALUE}"),
                ));
            }
            Policy::Multivalue { max }
        }
        PolicyKind::Nearest => {
            for (i, &r) in regions.iter().enumerate() {
                if plan.regions[r].coordinates.is_none() {
                    // Point at the region's name in this service's list.
                    let span = service
                        .regions
                        .iter()
                        .find(|name| name.get_ref() == &plan.regions[r].name)
                        .map_or(spanned.span(), |name| name.span());
                    errors.push(config.error_at(
                        span,
                        format!("{field}.regions[{i}]"),
                        format!(
                            "policy nearest needs coordinates on region {}",
                            plan.regions[r].name
                        ),
                    ));
                }
            }
            for (key, value) in &service.bias_km {
                let at_value = |message: String| {
                    config.error_at(value.span(), format!("{field}.bias_km.{key}"), message)
                };
                if !plan
                    .region_index
                    .get(key)
                    .is_some_and(|r| regions.contains(r))
                {
                    errors.push(at_value(format!(
                        "{key:?} is not one of this service's regions"
                    )));
                } else if !value.get_ref().is_finite() {
                    errors.push(at_value("must be a finite number of kilometres".into()));
                }
            }
            let bias_km = regions
                .iter()
                .map(|&r| {
                    service
                        .bias_km
                        .get(&plan.regions[r].name)
                        .map_or(0.0, |b| *b.get_ref())
                })
                .collect();
            Policy::Nearest { bias_km }
        }
        PolicyKind::Geo => {
            let Some(geo) = &service.geo else {
                errors.push(at(
                    ".geo",
                    "policy geo needs a [services.\"...\".geo] table of rules".into(),
                ));
                return Err(errors);
            };
            let mut rules = GeoRules {
                default: list(&geo.default, ".geo.default", &mut errors),
                ..GeoRules::default()
            };
            let mut cidr_regions = Vec::new();
            for (net, targets) in &geo.cidr {
                let what = format!(".geo.cidr.\"{}\"", net.get_ref());
                let ids = list(targets, &what, &mut errors);
                cidr_regions.extend(ids.iter().copied());
                match check_net(net.get_ref(), "81.2.69.0/24") {
                    Ok(parsed) => {
                        if rules.cidr.insert(parsed, ids).is_some() {
                            errors.push(config.error_at(
                                net.span(),
                                format!("{field}{what}"),
                                format!(
                                    "{parsed} has a rule already (the same network written twice)"
                                ),
                            ));
                        }
                    }
                    Err(message) => {
                        errors.push(config.error_at(net.span(), format!("{field}{what}"), message))
                    }
                }
            }
            type Check = fn(&str) -> Result<crate::geo::Code, String>;
            for (table, key, dest, check) in [
                (
                    &geo.country,
                    "country",
                    &mut rules.country,
                    check_country as Check,
                ),
                (
                    &geo.continent,
                    "continent",
                    &mut rules.continent,
                    check_continent,
                ),
            ] {
                for (code, targets) in table {
                    let what = format!(".geo.{key}.{}", code.get_ref());
                    let ids = list(targets, &what, &mut errors);
                    match check(code.get_ref()) {
                        Ok(parsed) => {
                            if dest.insert(parsed, ids).is_some() {
                                errors.push(config.error_at(
                                    code.span(),
                                    format!("{field}{what}"),
                                    format!(
                                        "{} has a rule already (written twice)",
                                        code.get_ref()
                                    ),
                                ));
                            }
                        }
                        Err(message) => errors.push(config.error_at(
                            code.span(),
                            format!("{field}{what}"),
                            message,
                        )),
                    }
                }
            }
            let referenced = rules
                .default
                .iter()
                .chain(rules.country.values().flatten())
                .chain(rules.continent.values().flatten())
                .chain(cidr_regions.iter())
                .copied()
                .collect::<Vec<_>>();
            for r in referenced {
                if !regions.contains(&r) {
                    regions.push(r);
                }
            }
            Policy::Geo(Box::new(rules))
        }
    };
    if regions.is_empty() && errors.is_empty() {
        errors.push(at(".regions", "a service needs at least one region".into()));
    }

    let all_down = match (service.all_down, &service.fallback) {
        (AllDownConfig::Fallback, Some(r)) => {
            region_ref(r, ".fallback", &mut errors).map(AllDown::Fallback)
        }
        (AllDownConfig::Fallback, None) => {
            errors.push(at(
                ".fallback",
                "all_down = \"fallback\" needs `fallback = \"<region>\"`".into(),
            ));
            None
        }
        (_, Some(_)) => {
            errors.push(at(
                ".fallback",
                "`fallback` is only used with all_down = \"fallback\"".into(),
            ));
            None
        }
        (AllDownConfig::FailOpen, None) => Some(AllDown::FailOpen),
        (AllDownConfig::Empty, None) => Some(AllDown::Empty),
    };

    match all_down {
        Some(all_down) if errors.is_empty() => Ok(Service {
            name: lower,
            ttl: service.ttl,
            policy,
            regions,
            all_down,
        }),
        _ => Err(errors),
    }
}

/// The defined region names, for "unknown region" errors.
fn defined(plan: &TrafficPlan) -> String {
    let mut names: Vec<&str> = plan.regions.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
