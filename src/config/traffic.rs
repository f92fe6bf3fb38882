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
    pub bias_km: BTreeMap<String, Spanned<f64>>,
    /// `multivalue` only: most endpoints per answer.
    pub max_answers: Option<Spanned<usize>>,
}

fn default_service_ttl() -> u32 {
    60
}

/// The rules of a `geo` service, most specific first: CIDR, then country,
/// then continent, then `default`. Each maps to regions in preference order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoRulesConfig {
    /// Client networks (`"81.2.69.0/24"`) to regions. Keys keep their
    /// position so errors about them name their line.
    #[serde(default)]
    pub cidr: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
    /// ISO 3166 country codes (`"GB"`) to regions.
    #[serde(default)]
    pub country: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
    /// Continent codes (`"EU"`, `"NA"`, `"AS"`, ...) to regions.
    #[serde(default)]
    pub continent: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
    /// Regions for clients no other rule matches.
    #[serde(default)]
    pub default: Vec<Spanned<String>>,
}

/// One value or a list of them (`database = "a.mmdb"` or
/// `database = ["v4.mmdb", "v6.mmdb"]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// A list, in preference order.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The values in order.
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v,
        }
    }

    /// The values in order, mutably.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            OneOrMany::One(v) => std::slice::from_mut(v),
            OneOrMany::Many(v) => v,
        }
    }
}

/// The `[geo]` table: where client locations come from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoConfig {
    /// MaxMind-format (`.mmdb`) databases: GeoLite2/GeoIP2 Country or City,
    /// DB-IP Lite, ip-location-db. One path or a list; for each address the
    /// first database holding data for it answers (so a per-family pair of
    /// files works). Relative to the config file.
    pub database: Option<Spanned<OneOrMany<PathBuf>>>,
    /// Dotted path(s) of the ISO country code inside a database record;
    /// alternatives are tried in order. Default `country.iso_code`.
    pub country_field: Option<Spanned<OneOrMany<String>>>,
    /// Dotted path(s) of the continent code. Default `continent.code`.
    pub continent_field: Option<Spanned<OneOrMany<String>>>,
    /// Dotted path(s) of the latitude. Default `location.latitude`.
    pub latitude_field: Option<Spanned<OneOrMany<String>>>,
    /// Dotted path(s) of the longitude. Default `location.longitude`.
    pub longitude_field: Option<Spanned<OneOrMany<String>>>,
    /// Explicit client networks; they win over the database.
    #[serde(default)]
    pub networks: BTreeMap<Spanned<String>, Spanned<NetworkLocation>>,
}

/// Which database field a `*_field` key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeoField {
    /// `country_field`.
    Country,
    /// `continent_field`.
    Continent,
    /// `latitude_field`.
    Latitude,
    /// `longitude_field`.
    Longitude,
}

impl GeoField {
    /// All four, in a fixed order.
    pub const ALL: [GeoField; 4] = [
        GeoField::Country,
        GeoField::Continent,
        GeoField::Latitude,
        GeoField::Longitude,
    ];

    /// The config key.
    pub fn key(self) -> &'static str {
        match self {
            GeoField::Country => "country_field",
            GeoField::Continent => "continent_field",
            GeoField::Latitude => "latitude_field",
            GeoField::Longitude => "longitude_field",
        }
    }

    /// The path used when the key is absent (GeoLite2's layout).
    pub(crate) fn default_path(self) -> &'static str {
        match self {
            GeoField::Country => "country.iso_code",
            GeoField::Continent => "continent.code",
            GeoField::Latitude => "location.latitude",
            GeoField::Longitude => "location.longitude",
        }
    }
}

impl GeoConfig {
    /// The configured value of `field`, if the key is present.
    pub fn field(&self, field: GeoField) -> Option<&Spanned<OneOrMany<String>>> {
        match field {
            GeoField::Country => self.country_field.as_ref(),
            GeoField::Continent => self.continent_field.as_ref(),
            GeoField::Latitude => self.latitude_field.as_ref(),
            GeoField::Longitude => self.longitude_field.as_ref(),
        }
    }

    /// The dotted paths to try for `field`, in order.
    pub fn paths(&self, field: GeoField) -> Vec<String> {
        match self.field(field) {
            Some(spanned) => spanned.get_ref().as_slice().to_vec(),
            None => vec![field.default_path().to_string()],
        }
    }

    /// Makes database paths relative to `base` (the config file's folder).
    pub(crate) fn resolve_paths(&mut self, base: &std::path::Path) {
        if let Some(database) = &mut self.database {
            for path in database.get_mut().as_mut_slice() {
                *path = base.join(&*path);
            }
        }
    }
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
