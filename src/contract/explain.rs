//! `GET /v1/explain`'s answer: the explain module builds it, `ctl explain`
//! and the status page read it, and the document's `Explanation` schema is
//! derived from it. Parts that apply to one policy only are left out for
//! the others (`#[serde(default, skip_serializing_if)]`): the answer
//! carries only what applies.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AllDownName, Forced, PolicyName};

/// Why a client gets the answer it gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub(crate) struct Explanation {
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
pub(crate) struct ExplainQuestion {
    /// The name, with the trailing dot.
    pub name: String,
    /// The record type.
    #[serde(rename = "type")]
    pub qtype: String,
}

/// Where the client's address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ClientSource {
    /// An ECS client subnet.
    Ecs,
    /// The resolver's own address.
    Address,
}

/// The client as Switchyard resolves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub(crate) struct ExplainClient {
    /// The address policies use (an IPv4-mapped IPv6 address as IPv4).
    pub address: String,
    /// The address asked was IPv4-mapped IPv6 (`::ffff:a.b.c.d`).
    pub ipv4_mapped: bool,
    /// Where it came from.
    pub source: ClientSource,
    /// The ECS subnet, for `ecs`.
    pub subnet: Option<String>,
    /// Where the location sources place it.
    pub location: ExplainLocation,
}

/// A client's location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub(crate) struct ExplainLocation {
    /// `geo.networks`, `database` or `unknown`.
    pub source: String,
    /// The database file, for `database`.
    pub database: Option<String>,
    /// The matched network.
    pub network: Option<String>,
    /// Its prefix length.
    pub prefix: Option<u8>,
    /// How deep the address's path goes in the networks table (what the
    /// ECS scope is built from).
    pub depth: u8,
    /// ISO 3166 country code.
    pub country: Option<String>,
    /// Continent code.
    pub continent: Option<String>,
    /// `[latitude, longitude]`.
    pub coordinates: Option<Vec<f64>>,
}

/// What the policy considered and decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub(crate) struct ExplainService {
    /// The managed name.
    pub name: String,
    /// Its policy.
    pub policy: PolicyName,
    /// Answer TTL.
    pub ttl: u32,
    /// The rule that applied (geo: the matched rule and its regions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<ExplainRule>,
    /// Every region the policy considered (left out with `note`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
    /// What it decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<ExplainDecision>,
    /// Why the policy does not answer this question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The kind of rule that applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RuleKind {
    /// Geo: a `cidr` rule.
    Cidr,
    /// Geo: a `country` rule.
    Country,
    /// Geo: a `continent` rule.
    Continent,
    /// Geo: the `default` list.
    Default,
    /// Failover: tiers in order.
    Tiers,
    /// Weighted: a draw by weight.
    Weights,
    /// Nearest: by distance.
    Distance,
    /// Multivalue: a sample of endpoints.
    Sample,
}

/// The rule that applied. Geo rules carry `match`, `regions`, `result`,
/// `fell_through`, `all_down` and `steps`; failover carries `tiers`;
/// multivalue `max_answers`; weighted and nearest only `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct ExplainRule {
    /// Which rule.
    pub kind: RuleKind,
    /// Geo: what matched (a network, a country, a continent; `null` for
    /// the default list).
    #[serde(
        default,
        rename = "match",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    #[schema(value_type = Option<String>)]
    pub matched: Option<Option<String>>,
    /// Geo: the matched rule's regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
    /// Geo: what the rule gave (`answered by eu-west`, or why it fell through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Geo: a more specific rule matched first but had no available region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fell_through: Option<bool>,
    /// Geo: every rule fell through; the all-down rule answered (this is
    /// the first rule matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_down: Option<bool>,
    /// Geo: every rule tried, most specific first, up to the one that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<GeoRuleStep>>,
    /// Failover: the tiers, by region name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Vec<Vec<String>>>,
    /// Multivalue: most endpoints per answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_answers: Option<u64>,
}

/// A present field as `Some`, even when it is `null` (`match` is `null`
/// for the default list, and absent for policies without rules).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// One geo rule the walk tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct GeoRuleStep {
    /// `cidr`, `country`, `continent` or `default`.
    pub kind: RuleKind,
    /// What matched; `null` for the default list.
    #[serde(rename = "match")]
    pub matched: Option<String>,
    /// The rule's regions.
    pub regions: Vec<String>,
    /// `answered by eu-west`, or why it fell through.
    pub result: String,
}

/// An override as explain lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct CandidateOverride {
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
pub(crate) struct Candidate {
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
    /// Endpoints that must be up for the region to be healthy.
    pub min_healthy: u64,
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
pub(crate) enum DecisionReason {
    /// The policy chose.
    Policy,
    /// No candidate was available.
    AllDown,
}

/// An endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct AnsweredEndpoint {
    /// Its region.
    pub region: String,
    /// Its id.
    pub endpoint: String,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct ExplainDecision {
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

/// What the query path answered, or why it could not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum ExplainAnswer {
    /// The response.
    Answered(AnswerSections),
    /// The question could not be put to the query path.
    Failed {
        /// Why there is no answer.
        error: String,
    },
}

/// A response as explain shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct AnswerSections {
    /// `NOERROR`, `NXDOMAIN`, `REFUSED`...
    pub rcode: String,
    /// The AA bit.
    pub authoritative: bool,
    /// The answer section.
    pub records: Vec<Record>,
    /// The authority section.
    pub authority: Vec<Record>,
    /// The smallest answer TTL (`null` with no answer records).
    pub ttl: Option<u32>,
    /// The ECS scope prefix the answer carries (ECS questions only).
    pub ecs_scope: Option<u8>,
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
