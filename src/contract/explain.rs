//! `GET /v1/explain`'s answer. The explain module renders it (it is being
//! reworked to read the decision's facts); these types are what `ctl
//! explain` reads and what the document's `Explanation` schema is derived
//! from, so the schemathesis run holds the rendering to them. Optional
//! parts are `#[serde(default)]`: the answer carries only what applies to
//! the policy.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AllDownName, Forced, PolicyName};

/// Why a client gets the answer it gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Explanation {
    /// The snapshot explained.
    pub generation: u64,
    /// The seed of weighted and multivalue draws (repeat it to repeat a draw).
    pub seed: u64,
    /// The question.
    pub question: ExplainQuestion,
    /// Who asks, and where the location sources place them.
    pub client: ExplainClient,
    /// The policy's view; `null` for names no policy answers.
    pub service: Option<ExplainService>,
    /// What the query path answered.
    pub answer: ExplainAnswer,
}

/// The name and type asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExplainQuestion {
    /// The name, with the trailing dot.
    pub name: String,
    /// The record type.
    #[serde(rename = "type")]
    pub qtype: String,
}

/// Where the client's address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientSource {
    /// An ECS client subnet.
    Ecs,
    /// The resolver's own address.
    Address,
}

/// The client as Switchyard resolves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExplainClient {
    /// The address policies use.
    pub address: String,
    /// Where it came from.
    pub source: ClientSource,
    /// The ECS subnet, for `ecs`.
    pub subnet: Option<String>,
    /// Where the location sources place it.
    pub location: ExplainLocation,
}

/// A client's location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExplainLocation {
    /// `geo.networks`, `database` or `unknown`.
    pub source: String,
    /// The matched network.
    pub network: Option<String>,
    /// Its prefix length.
    pub prefix: Option<u8>,
    /// ISO 3166 country code.
    pub country: Option<String>,
    /// Continent code.
    pub continent: Option<String>,
    /// `[latitude, longitude]`.
    pub coordinates: Option<Vec<f64>>,
}

/// What the policy considered and decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExplainService {
    /// The managed name.
    pub name: String,
    /// Its policy.
    pub policy: PolicyName,
    /// Answer TTL.
    pub ttl: u32,
    /// The rule that applied (geo: the matched rule and its regions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<ExplainRule>,
    /// Every region the policy considered.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// What it decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<ExplainDecision>,
    /// Why the policy does not answer this question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The rule that applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExplainRule {
    /// `cidr`, `country`, `continent`, `default` (geo), `tiers`,
    /// `weights`, `distance`, `sample`.
    pub kind: String,
    /// Geo: what matched (a network, a country, a continent).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
    /// Geo: the matched rule's regions.
    #[serde(default)]
    pub regions: Vec<String>,
}

/// An override as explain lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CandidateOverride {
    /// `ov-...`.
    pub id: String,
    /// `weight 50`, `drain`, `force down`.
    pub action: String,
    /// The token's name.
    pub who: String,
    /// The reason.
    pub why: String,
}

/// One region the policy considered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Candidate {
    /// The region.
    pub region: String,
    /// Healthy and effective weight above 0.
    pub available: bool,
    /// Effective health.
    pub healthy: bool,
    /// What health results alone say.
    pub checks_healthy: bool,
    /// The forced state, if any.
    pub forced: Option<Forced>,
    /// The weight in config.
    pub configured_weight: u32,
    /// The weight answers use.
    pub effective_weight: u32,
    /// Endpoints up.
    pub endpoints_up: u64,
    /// Endpoints configured.
    pub endpoints: u64,
    /// Overrides on it.
    pub overrides: Vec<CandidateOverride>,
    /// Whether it answers.
    pub chosen: bool,
    /// Why it does or does not.
    pub why: String,
    /// Failover: 1-based tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<u64>,
    /// Weighted: probability of being drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// Geo: position in the matched list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<u64>,
    /// Nearest: great-circle distance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    /// Nearest: the region's bias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_km: Option<f64>,
}

/// Why the answer is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionReason {
    /// The policy chose.
    Policy,
    /// No candidate was available.
    AllDown,
}

/// An endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AnsweredEndpoint {
    /// Its region.
    pub region: String,
    /// Its id.
    pub endpoint: String,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExplainDecision {
    /// Why.
    pub reason: DecisionReason,
    /// For `all_down`: the service's rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_down: Option<AllDownName>,
    /// In words.
    pub summary: String,
    /// The ECS scope prefix the decision carries.
    pub ecs_scope: u8,
    /// The endpoints answered.
    pub endpoints: Vec<AnsweredEndpoint>,
}

/// What the query path answered (only `error` when it could not run).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct ExplainAnswer {
    /// `NOERROR`, `NXDOMAIN`, `REFUSED`...
    #[serde(default)]
    pub rcode: String,
    /// The AA bit.
    #[serde(default)]
    pub authoritative: bool,
    /// The answer section.
    #[serde(default)]
    pub records: Vec<Record>,
    /// The authority section.
    #[serde(default)]
    pub authority: Vec<Record>,
    /// The smallest answer TTL.
    #[serde(default)]
    pub ttl: Option<u32>,
    /// The ECS scope prefix the answer carries (ECS questions only).
    #[serde(default)]
    pub ecs_scope: Option<u8>,
    /// Why there is no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One resource record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Record {
    /// Owner name.
    pub name: String,
    /// Record type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// TTL.
    pub ttl: u32,
    /// The data, in zone-file form.
    pub data: String,
}
