//! The traffic-management half of the config: regions, their endpoints,
//! services (managed names) with their policies, and geo data sources.
//!
//! These are plain serde shapes. Cross-references (a service naming a region
//! that does not exist, a service outside every zone) are checked later by
//! [`crate::traffic::compile`], which has the zones at hand; the `Spanned`
//! wrappers keep the byte positions those errors need to name a line.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

/// A `[regions.<name>]` table: a pool of endpoints that fails together.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// Share of traffic under `weighted` policies; 0 means drained.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// `[latitude, longitude]` in degrees, for the `nearest` policy.
    pub coordinates: Option<[f64; 2]>,
    /// How many endpoints must be up for the region to count as healthy.
    #[serde(default = "default_min_healthy")]
    pub min_healthy: usize,
    /// What the region answers with.
    pub endpoints: Vec<Spanned<EndpointConfig>>,
    /// Name of the `[checks.<name>]` template probing every endpoint
    /// (endpoints may override it); unchecked endpoints count as up.
    pub check: Option<Spanned<String>>,
}

fn default_weight() -> u32 {
    100
}

fn default_min_healthy() -> usize {
    1
}

/// One endpoint: an address served as A/AAAA, or a name served as CNAME.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// IPv4 (served as A) or IPv6 (served as AAAA) address.
    pub address: Option<IpAddr>,
    /// A DNS name served as a CNAME target instead of an address.
    pub target: Option<String>,
    /// Where health checks probe, when not the served address (e.g. a
    /// loopback sidecar, or a different port).
    pub probe: Option<SocketAddr>,
    /// Stable identifier for the API and state files; defaults to the
    /// address or target.
    pub id: Option<String>,
    /// This endpoint's check template, overriding the region's; `"none"`
    /// turns checking off for it.
    pub check: Option<Spanned<String>>,
}

/// How a service picks regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// Ordered tiers; the first tier with an available region answers.
    Failover,
    /// One region per query, with probability proportional to its weight.
    Weighted,
    /// Client location mapped to an ordered list of regions.
    Geo,
    /// The available region closest to the client.
    Nearest,
    /// Up to `max_answers` available endpoints across all regions.
    Multivalue,
}

/// What a service answers when none of its regions is available.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllDownConfig {
    /// Answer every configured endpoint: better a maybe-dead answer than none.
    #[default]
    FailOpen,
    /// Answer the region named by `fallback`.
    Fallback,
    /// Answer NODATA with the zone's SOA.
    Empty,
}

/// A `[services."<name>"]` table: one traffic-managed name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// TTL of the answers, in seconds: it bounds how long a failover takes
    /// to reach clients behind caches.
    #[serde(default = "default_service_ttl")]
    pub ttl: u32,
    /// How regions are picked.
    pub policy: PolicyKind,
    /// Candidate regions (in preference order for `failover`).
    #[serde(default)]
    pub regions: Vec<Spanned<String>>,
    /// `failover` only: explicit tiers; each inner list is one tier.
    pub tiers: Option<Vec<Vec<Spanned<String>>>>,
    /// What to answer when no region is available.
    #[serde(default)]
    pub all_down: AllDownConfig,
    /// The region answered when `all_down = "fallback"`.
    pub fallback: Option<Spanned<String>>,
    /// `geo` only: the location rules.
    pub geo: Option<GeoRulesConfig>,
    /// `nearest` only: kilometres added to a region's distance (negative
    /// values attract traffic).
    #[serde(default)]
    pub bias_km: BTreeMap<String, f64>,
    /// `multivalue` only: most endpoints per answer.
    pub max_answers: Option<usize>,
}

fn default_service_ttl() -> u32 {
    60
}

/// The rules of a `geo` service, most specific first: CIDR, then country,
/// then continent, then `default`. Each maps to regions in preference order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoRulesConfig {
    /// Client networks (`"81.2.69.0/24"`) to regions.
    #[serde(default)]
    pub cidr: BTreeMap<String, Vec<Spanned<String>>>,
    /// ISO 3166 country codes (`"GB"`) to regions.
    #[serde(default)]
    pub country: BTreeMap<String, Vec<Spanned<String>>>,
    /// Continent codes (`"EU"`, `"NA"`, `"AS"`, ...) to regions.
    #[serde(default)]
    pub continent: BTreeMap<String, Vec<Spanned<String>>>,
    /// Regions for clients no other rule matches.
    #[serde(default)]
    pub default: Vec<Spanned<String>>,
}

/// The `[geo]` table: where client locations come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoConfig {
    /// A MaxMind-format (`.mmdb`) database: GeoLite2/GeoIP2 Country or City,
    /// or DB-IP Lite. Relative to the config file.
    pub database: Option<PathBuf>,
    /// Dotted path of the ISO country code inside a database record.
    #[serde(default = "default_country_field")]
    pub country_field: String,
    /// Dotted path of the continent code.
    #[serde(default = "default_continent_field")]
    pub continent_field: String,
    /// Dotted path of the latitude.
    #[serde(default = "default_latitude_field")]
    pub latitude_field: String,
    /// Dotted path of the longitude.
    #[serde(default = "default_longitude_field")]
    pub longitude_field: String,
    /// Explicit client networks; they win over the database.
    #[serde(default)]
    pub networks: BTreeMap<String, Spanned<NetworkLocation>>,
}

impl Default for GeoConfig {
    fn default() -> Self {
        GeoConfig {
            database: None,
            country_field: default_country_field(),
            continent_field: default_continent_field(),
            latitude_field: default_latitude_field(),
            longitude_field: default_longitude_field(),
            networks: BTreeMap::new(),
        }
    }
}

fn default_country_field() -> String {
    "country.iso_code".into()
}

fn default_continent_field() -> String {
    "continent.code".into()
}

fn default_latitude_field() -> String {
    "location.latitude".into()
}

fn default_longitude_field() -> String {
    "location.longitude".into()
}

/// Where an explicitly mapped network is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkLocation {
    /// ISO 3166 country code.
    pub country: Option<String>,
    /// Continent code.
    pub continent: Option<String>,
    /// `[latitude, longitude]` in degrees.
    pub coordinates: Option<[f64; 2]>,
}
