//! `[drills]` validated: the drill plan the snapshot carries (vantages,
//! bounds, `[[drills.schedule]]` entries and when each is due). Here, below
//! `snapshot`, because it is checked against the traffic plan and is part of
//! what `check` and reload validate; `drills` runs drills from it and
//! re-exports these types at their old paths.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::rr::Name;
use ipnet::IpNet;

use super::TrafficPlan;
use crate::config::{Config, ConfigError};

/// Shortest probe interval accepted: faster only loads the listener.
const MIN_PROBE_INTERVAL_MS: u64 = 20;

/// A named client subnet drills are verified from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vantage {
    /// Its name (`eu`).
    pub name: String,
    /// The subnet sent as ECS.
    pub subnet: IpNet,
}

/// `[drills]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillPlan {
    /// Longest drill allowed.
    pub max_duration_secs: u64,
    /// Vantages, in name order.
    pub vantages: Vec<Vantage>,
    /// Time between verification rounds.
    pub probe_interval: Duration,
    /// Bound on convergence and on restore.
    pub converge_timeout: Duration,
    /// Scheduled drills.
    pub schedules: Vec<Schedule>,
}

impl Default for DrillPlan {
    fn default() -> DrillPlan {
        DrillPlan {
            max_duration_secs: 3600,
            vantages: Vec::new(),
            probe_interval: Duration::from_millis(200),
            converge_timeout: Duration::from_secs(10),
            schedules: Vec::new(),
        }
    }
}

/// Validates `[drills]` against the compiled regions and services; every
/// error names its line and field.
pub fn compile(config: &Config, plan: &TrafficPlan) -> Result<DrillPlan, Vec<ConfigError>> {
    let drills = &config.drills;
    let mut errors = Vec::new();
    let max = *drills.max_duration_secs.get_ref();
    if max == 0 {
        errors.push(config.error_at(
            drills.max_duration_secs.span(),
            "drills.max_duration_secs",
            "must be at least 1",
        ));
    }
    let interval = *drills.probe_interval_ms.get_ref();
    if !(MIN_PROBE_INTERVAL_MS..=60_000).contains(&interval) {
        errors.push(config.error_at(
            drills.probe_interval_ms.span(),
            "drills.probe_interval_ms",
            format!("must be between {MIN_PROBE_INTERVAL_MS} and 60000"),
        ));
    }
    let timeout = *drills.converge_timeout_secs.get_ref();
    if !(1..=3600).contains(&timeout) {
        errors.push(config.error_at(
            drills.converge_timeout_secs.span(),
            "drills.converge_timeout_secs",
            "must be between 1 and 3600",
        ));
    }
    let mut vantages = Vec::new();
    for (name, text) in &drills.vantages {
        let field = format!("drills.vantages.{name}");
        match text.get_ref().parse::<IpNet>() {
            // ECS (RFC 7871) forbids address bits beyond the prefix.
            Ok(net) if net.trunc() != net => errors.push(config.error_at(
                text.span(),
                field,
                format!(
                    "{net} has bits set beyond its prefix (did you mean {}?)",
                    net.trunc()
                ),
            )),
            Ok(subnet) => vantages.push(Vantage {
                name: name.clone(),
                subnet,
            }),
            Err(e) => errors.push(config.error_at(
                text.span(),
                field,
                format!(
                    "{:?} is not a subnet like \"81.2.69.0/24\": {e}",
                    text.get_ref()
                ),
            )),
        }
    }
    let mut schedules = Vec::new();
    for (index, spanned) in drills.schedule.iter().enumerate() {
        let entry = spanned.get_ref();
        let field = |key: &str| format!("drills.schedule[{index}].{key}");
        let at = |key: &str, message: String| config.error_at(spanned.span(), field(key), message);
        if entry.regions.is_empty() {
            errors.push(at("regions", "name at least one region".into()));
        }
        for region in &entry.regions {
            if !plan.region_index.contains_key(region) {
                errors.push(at("regions", format!("unknown region {region:?}")));
            }
        }
        for service in entry.services.iter().flatten() {
            if find_service(plan, service).is_none() {
                errors.push(at("services", format!("unknown service {service:?}")));
            }
        }
        if entry.duration_secs == 0 || entry.duration_secs > max {
            errors.push(at(
                "duration_secs",
                format!("must be between 1 and drills.max_duration_secs ({max})"),
            ));
        }
        let when = match (&entry.every, &entry.weekday, entry.hour) {
            (Some(every), None, None) => match humantime::parse_duration(every) {
                Ok(period) if period >= Duration::from_secs(1) => Some(When::Every(period)),
                Ok(_) => {
                    errors.push(at("every", "must be at least 1s".into()));
                    None
                }
                Err(e) => {
                    errors.push(at("every", format!("{every:?}: {e} (try \"7d\", \"12h\")")));
                    None
                }
            },
            (None, Some(day), Some(hour)) => {
                let minute = entry.minute.unwrap_or(0);
                match parse_weekday(day) {
                    _ if hour > 23 => {
                        errors.push(at("hour", "must be 0-23 (UTC)".into()));
                        None
                    }
                    _ if minute > 59 => {
                        errors.push(at("minute", "must be 0-59".into()));
                        None
                    }
                    Some(weekday) => Some(When::Weekly {
                        weekday,
                        hour,
                        minute,
                    }),
                    None => {
                        errors.push(at(
                            "weekday",
                            format!("{day:?} is not a weekday (mon ... sun)"),
                        ));
                        None
                    }
                }
            }
            _ => {
                errors.push(at(
                    "every",
                    "set either `every` or `weekday` and `hour`".into(),
                ));
                None
            }
        };
        if let Some(when) = when {
            schedules.push(Schedule {
                index,
                regions: entry.regions.clone(),
                services: entry.services.clone(),
                when,
                duration_secs: entry.duration_secs,
                why: entry
                    .why
                    .clone()
                    .filter(|w| !w.trim().is_empty())
                    .unwrap_or_else(|| format!("scheduled drill (drills.schedule[{index}])")),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(DrillPlan {
        max_duration_secs: max,
        vantages,
        probe_interval: Duration::from_millis(interval),
        converge_timeout: Duration::from_secs(timeout),
        schedules,
    })
}

/// The service named `name` (trailing dot and case optional).
pub fn find_service(plan: &TrafficPlan, name: &str) -> Option<usize> {
    let mut parsed = Name::from_str(name).ok()?;
    parsed.set_fqdn(true);
    plan.by_name.get(&parsed.to_lowercase()).copied()
}

/// Seconds in a day and a week.
pub(crate) const DAY: u64 = 86_400;
pub(crate) const WEEK: u64 = 7 * DAY;

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
    pub(crate) fn next_after(&self, started: SystemTime, now: SystemTime) -> SystemTime {
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
