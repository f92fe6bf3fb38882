//! `GET /v1/traffic`'s answer: where each service's answers went (total and
//! over the last minute) next to its configured weights or rules. Built by
//! `api::traffic`, read by `ctl traffic` and the status page; the
//! document's `Traffic` schema is derived from these types.
//!
//! Parts that apply to one policy only (`tiers`, `rules`, `max_answers`,
//! a region's `bias_km`) are left out for the others.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AllDownName, PolicyName};
use crate::traffic::{AllDown, Policy};

/// Where each service's answers went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub(crate) struct Traffic {
    /// The snapshot generation read.
    pub generation: u64,
    /// When that snapshot was built.
    #[schema(format = DateTime)]
    pub built_at: String,
    /// Snapshot age.
    pub age_secs: f64,
    /// How far back `last_minute` reaches (up to 60; less when nobody
    /// asked a minute ago).
    pub window_secs: f64,
    /// Every service, in config order.
    pub services: Vec<TrafficService>,
}

/// One service: its configuration and its answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub(crate) struct TrafficService {
    /// The managed name, with the trailing dot.
    pub name: String,
    /// Its policy.
    pub policy: PolicyName,
    /// What it answers when no region is available.
    pub all_down: AllDownName,
    /// Its regions, in config order.
    pub regions: Vec<TrafficRegion>,
    /// Failover only: the tiers, by region name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Vec<Vec<String>>>,
    /// Geo only: the location rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<TrafficGeoRules>,
    /// Multivalue only: most endpoints per answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_answers: Option<u64>,
    /// False when answer counting is off (`[metrics] query_metrics = false`).
    pub counted: bool,
    /// Answers over the window, every series together.
    pub last_minute_total: u64,
    /// Answers per series: each region by policy, the fallback, fail open,
    /// empty.
    pub answers: Vec<TrafficAnswer>,
}

/// One of a service's regions as answers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub(crate) struct TrafficRegion {
    /// The region.
    pub name: String,
    /// The weight in config.
    pub configured_weight: u32,
    /// The weight answers use (after overrides).
    pub effective_weight: u32,
    /// Healthy and effective weight above 0.
    pub available: bool,
    /// Nearest only: the region's bias, in km.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_km: Option<f64>,
}

/// A geo service's rules, by region name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub(crate) struct TrafficGeoRules {
    /// How many subnet rules.
    pub networks: u64,
    /// Regions by ISO 3166 country code.
    pub country: BTreeMap<String, Vec<String>>,
    /// Regions by continent code.
    pub continent: BTreeMap<String, Vec<String>>,
    /// Regions for clients no rule places.
    pub default: Vec<String>,
}

/// Why an answer series answered (the `reason` label of
/// `switchyard_answers_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AnswerReason {
    /// The policy chose the region.
    Policy,
    /// No region was available: the fallback region answered.
    Fallback,
    /// No region was available: every endpoint answered.
    FailOpen,
    /// No region was available: the answer was empty.
    Empty,
}

/// One answer series of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub(crate) struct TrafficAnswer {
    /// The region; `all` for `fail_open`, `none` for `empty`.
    pub region: String,
    /// Why it answered.
    pub reason: AnswerReason,
    /// Since the process started.
    pub total: u64,
    /// Over the last `window_secs`.
    pub last_minute: u64,
    /// Of the service's answers over the window (0 when there were none).
    pub share: f64,
}

impl From<&Policy> for PolicyName {
    fn from(policy: &Policy) -> PolicyName {
        match policy {
            Policy::Failover { .. } => PolicyName::Failover,
            Policy::Weighted => PolicyName::Weighted,
            Policy::Geo(_) => PolicyName::Geo,
            Policy::Nearest { .. } => PolicyName::Nearest,
            Policy::Multivalue { .. } => PolicyName::Multivalue,
        }
    }
}

impl From<AllDown> for AllDownName {
    fn from(rule: AllDown) -> AllDownName {
        match rule {
            AllDown::FailOpen => AllDownName::FailOpen,
            AllDown::Fallback(_) => AllDownName::Fallback,
            AllDown::Empty => AllDownName::Empty,
        }
    }
}
