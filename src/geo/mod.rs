//! Client location: which country, continent and coordinates an address (or
//! an EDNS Client Subnet) maps to, and how many leading bits of the address
//! that answer depended on (which bounds the ECS scope).
//!
//! Sources, most specific first: the `[geo.networks]` table from config, then
//! MaxMind-format databases in the order configured. All are loaded once, when
//! the config is, and are read-only on the query path (in-memory lookups, no
//! I/O, no allocation).
//!
//! - `trie`: the prefix trie behind `[geo.networks]` and geo CIDR rules.
//! - `database`: opening, validating and reading `.mmdb` files.
//! - `codes`: which country and continent codes exist.

pub mod codes;
mod database;
mod trie;

pub use trie::{PrefixTrie, Walk};

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

use crate::config::{Config, ConfigError};
use database::{Database, DbAnswer, Fields};

/// A two-letter upper-case code (ISO 3166 country, or continent).
pub type Code = [u8; 2];

/// Parses a two-letter code, upper-casing it.
pub(crate) fn parse_code(text: &str) -> Option<Code> {
    match text.as_bytes() {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
        }
        _ => None,
    }
}

/// Renders a code for humans and logs.
pub(crate) fn code_str(code: &Code) -> &str {
    std::str::from_utf8(code).unwrap_or("??")
}

/// Checks a country code written in config: two letters, ISO 3166-1.
pub(crate) fn check_country(text: &str) -> Result<Code, String> {
    match parse_code(text) {
        Some(code) if codes::is_country(&code) => Ok(code),
        Some(code) => Err(format!(
            "{text:?} is not an ISO 3166-1 country code{}",
            codes::country_hint(&code)
        )),
        None => Err(format!("{text:?} is not a two-letter country code")),
    }
}

/// Checks a continent code written in config.
pub(crate) fn check_continent(text: &str) -> Result<Code, String> {
    match parse_code(text) {
        Some(code) if codes::is_continent(&code) => Ok(code),
        _ => Err(format!(
            "{text:?} is not a continent code (one of {})",
            codes::continents()
        )),
    }
}

/// What is known about where a client is.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Location {
    /// ISO 3166 country code.
    pub country: Option<Code>,
    /// Continent code (`EU`, `NA`, `AS`, ...).
    pub continent: Option<Code>,
    /// `(latitude, longitude)` in degrees.
    pub coordinates: Option<(f64, f64)>,
}

/// Where a client location came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LocationSource {
    /// A `[geo.networks]` entry from the config.
    Networks,
    /// The database with this index in `[geo] database`.
    Database(u8),
    /// No source knows the address.
    #[default]
    Unknown,
}

impl LocationSource {
    /// The name `explain` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            LocationSource::Networks => "geo.networks",
            LocationSource::Database(_) => "database",
            LocationSource::Unknown => "unknown",
        }
    }
}

/// A location together with what it depended on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Located {
    /// Where the client is, as far as the sources know.
    pub location: Location,
    /// Prefix length of the network the location came from; `None` when no
    /// source knew anything about the address.
    pub prefix: Option<u8>,
    /// The fewest leading bits of the address that every address sharing
    /// them is located exactly the same way (same source, same network):
    /// every configured network and database network boundary near the
    /// address counted. 0 when no source has anything for the family.
    pub depth: u8,
    /// Which source answered.
    pub source: LocationSource,
}

/// Parses `"192.0.2.0/24"` (or a bare address, meaning a host route).
pub(crate) fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Parses a network written in config strictly: no host bits past the
/// prefix (`10.1.2.3/8` is refused rather than silently read as `10.0.0.0/8`).
pub(crate) fn check_net(text: &str, example: &str) -> Result<IpNet, String> {
    let net = parse_net(text)
        .ok_or_else(|| format!("{text:?} is not a network (expected e.g. {example})"))?;
    if net.trunc() != net {
        return Err(format!(
            "{text:?} has host bits set past the prefix (did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// The loaded location sources.
#[derive(Debug, Default)]
pub struct GeoDb {
    networks: PrefixTrie<Location>,
    databases: Vec<Database>,
    fields: Fields,
    warnings: Vec<ConfigError>,
}

impl GeoDb {
    /// A source that knows nothing (no database, no networks).
    pub fn empty() -> GeoDb {
        GeoDb::default()
    }

    /// Loads `[geo]` from `config`: parses the network table, opens every
    /// database into memory and checks that the configured fields can be
    /// read from its records. Problems that make answers wrong are errors;
    /// fields that no sampled record has are warnings (see
    /// [`GeoDb::warnings`]), also logged here so `serve` reports them.
    pub fn load(config: &Config) -> Result<GeoDb, Vec<ConfigError>> {
        let geo = &config.geo;
        let mut errors = Vec::new();
        let mut networks = PrefixTrie::default();
        for (net, location) in &geo.networks {
            let field = format!("geo.networks.\"{}\"", net.get_ref());
            let parsed = match check_net(net.get_ref(), "192.0.2.0/24") {
                Ok(parsed) => parsed,
                Err(message) => {
                    errors.push(config.error_at(net.span(), field, message));
                    continue;
                }
            };
            let spec = location.get_ref();
            let mut code = |value: &Option<String>,
                            what: &str,
                            check: fn(&str) -> Result<Code, String>|
             -> Option<Code> {
                let text = value.as_deref()?;
                match check(text) {
                    Ok(code) => Some(code),
                    Err(message) => {
                        errors.push(config.error_at(
                            location.span(),
                            format!("{field}.{what}"),
                            message,
                        ));
                        None
                    }
                }
            };
            let country = code(&spec.country, "country", check_country);
            let continent = code(&spec.continent, "continent", check_continent);
            if let Some([lat, lon]) = spec.coordinates
                && (!(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon))
            {
                errors.push(config.error_at(
                    location.span(),
                    format!("{field}.coordinates"),
                    format!("[{lat}, {lon}] is not [latitude, longitude] in degrees"),
                ));
            }
            let replaced = networks.insert(
                parsed,
                Location {
                    country,
                    continent,
                    coordinates: spec.coordinates.map(|[lat, lon]| (lat, lon)),
                },
            );
            if replaced.is_some() {
                errors.push(config.error_at(
                    net.span(),
                    field,
                    format!("{parsed} is listed twice in [geo.networks]"),
                ));
            }
        }
        let fields = Fields::from_config(geo);
        let mut databases = Vec::new();
        if let Some(paths) = &geo.database {
            for (i, path) in paths.get_ref().as_slice().iter().enumerate() {
                let field = if paths.get_ref().as_slice().len() > 1 {
                    format!("geo.database[{i}]")
                } else {
                    "geo.database".to_string()
                };
                match Database::open(path) {
                    Ok(db) => databases.push(db),
                    Err(message) => errors.push(config.error_at(paths.span(), field, message)),
                }
            }
        }
        let warnings = database::validate(config, &databases, &fields, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        for warning in &warnings {
            tracing::warn!(%warning, "geo config");
        }
        Ok(GeoDb {
            networks,
            databases,
            fields,
            warnings,
        })
    }

    /// Problems worth knowing that do not stop loading (a field no sampled
    /// record has, continent rules with no continent data).
    pub fn warnings(&self) -> &[ConfigError] {
        &self.warnings
    }

    /// The path of database `index`, for `explain`.
    pub(crate) fn database_path(&self, index: u8) -> Option<&Path> {
        self.databases.get(index as usize).map(|d| d.path())
    }

    /// Where `addr` is. Config networks win over the databases; among the
    /// databases the first with data for the address answers. Never fails:
    /// an address no source knows gets an empty location. Allocation-free.
    pub(crate) fn locate(&self, addr: IpAddr) -> Located {
        let walk = self.networks.walk(addr);
        if let Some(id) = walk.best {
            let (location, prefix) = self.networks.get(id);
            return Located {
                location: *location,
                prefix: Some(prefix),
                depth: walk.depth,
                source: LocationSource::Networks,
            };
        }
        // Not in any configured network: the databases decide, but the
        // answer holds only as far as no configured network is nearby.
        let mut depth = walk.depth;
        for (i, db) in self.databases.iter().enumerate() {
            match db.lookup(addr, &self.fields) {
                DbAnswer::NoFamily => {}
                DbAnswer::NoData { prefix } => depth = depth.max(prefix),
                DbAnswer::Found { prefix, location } => {
                    return Located {
                        location,
                        prefix: Some(prefix),
                        depth: depth.max(prefix),
                        source: LocationSource::Database(i as u8),
                    };
                }
            }
        }
        Located {
            depth,
            ..Located::default()
        }
    }
}

/// Great-circle distance in kilometres between two `(lat, lon)` points.
pub(crate) fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0;
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_between_london_and_new_york() {
        let km = distance_km((51.5, -0.12), (40.71, -74.0));
        assert!((km - 5570.0).abs() < 30.0, "{km}");
    }

    #[test]
    fn networks_with_host_bits_are_refused() {
        assert!(check_net("10.0.0.0/8", "x").is_ok());
        assert!(check_net("10.0.0.1", "x").is_ok());
        let err = check_net("10.1.2.3/8", "x").unwrap_err();
        assert!(err.contains("did you mean 10.0.0.0/8"), "{err}");
        assert!(check_net("10.0.0.0/33", "x").is_err());
    }

    #[test]
    fn country_and_continent_codes_are_checked() {
        assert_eq!(check_country("gb"), Ok(*b"GB"));
        assert!(check_country("UK").unwrap_err().contains("GB"));
        assert!(check_continent("XX").is_err());
        assert_eq!(check_continent("eu"), Ok(*b"EU"));
    }
}
