//! The `[drills]` table: limits and verification settings for geo-failover
//! drills, the client vantages they are verified from, and optional
//! `[[drills.schedule]]` entries. Plain serde shapes; [`crate::traffic::drill_plan::compile`]
//! validates them against the compiled regions and services.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// `[drills]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillsConfig {
    /// Longest drill anyone may ask for (seconds); a drill is an expiring
    /// override, never an open-ended one.
    #[serde(default = "default_max_duration")]
    pub max_duration_secs: Spanned<u64>,
    /// Named client subnets (`eu = "81.2.69.0/24"`), sent as EDNS Client
    /// Subnet in the verification queries.
    #[serde(default)]
    pub vantages: BTreeMap<String, Spanned<String>>,
    /// Time between verification rounds (milliseconds).
    #[serde(default = "default_probe_interval")]
    pub probe_interval_ms: Spanned<u64>,
    /// How long answers may take to leave the drilled region (and to come
    /// back after rollback) before the vantage fails the drill.
    #[serde(default = "default_converge_timeout")]
    pub converge_timeout_secs: Spanned<u64>,
    /// Drills started automatically.
    #[serde(default)]
    pub schedule: Vec<Spanned<ScheduleConfig>>,
}

impl Default for DrillsConfig {
    fn default() -> DrillsConfig {
        DrillsConfig {
            max_duration_secs: default_max_duration(),
            vantages: BTreeMap::new(),
            probe_interval_ms: default_probe_interval(),
            converge_timeout_secs: default_converge_timeout(),
            schedule: Vec::new(),
        }
    }
}

fn default_max_duration() -> Spanned<u64> {
    Spanned::new(0..0, 3600)
}

fn default_probe_interval() -> Spanned<u64> {
    Spanned::new(0..0, 200)
}

fn default_converge_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 10)
}

/// One `[[drills.schedule]]` entry: either `every = "7d"` (from start-up),
/// or weekly at `weekday` + `hour` (+ `minute`), UTC.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Regions to take out.
    pub regions: Vec<String>,
    /// Services to verify (default: every service using those regions).
    pub services: Option<Vec<String>>,
    /// A period such as `"2s"`, `"1h"`, `"7d"`.
    pub every: Option<String>,
    /// `mon` ... `sun` (or full names), UTC.
    pub weekday: Option<String>,
    /// Hour of day (0-23), UTC, with `weekday`.
    pub hour: Option<u8>,
    /// Minute of the hour (0-59), with `weekday`; default 0.
    pub minute: Option<u8>,
    /// How long each drill lasts.
    pub duration_secs: u64,
    /// The reason recorded on the drill and its overrides.
    pub why: Option<String>,
}
