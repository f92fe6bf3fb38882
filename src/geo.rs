//! Client location: which country, continent and coordinates an address (or
//! an EDNS Client Subnet) maps to, and how much of the address that answer
//! depended on (the network prefix, which becomes the ECS scope).
//!
//! Sources, most specific first: the `[geo.networks]` table from config, then
//! a MaxMind-format database. Both are loaded once, when the config is, and
//! are read-only on the query path (in-memory lookups, no I/O).

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use maxminddb::{PathElement, Reader};

use crate::config::{Config, ConfigError, GeoConfig};

/// Deepest database path (`a.b.c`) a field may name.
const MAX_PATH_DEPTH: usize = 8;

/// A two-letter upper-case code (ISO 3166 country, or continent).
pub type Code = [u8; 2];

/// Parses a two-letter code, upper-casing it.
pub fn parse_code(text: &str) -> Option<Code> {
    match text.as_bytes() {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
        }
        _ => None,
    }
}

/// Renders a code for humans and logs.
pub fn code_str(code: &Code) -> &str {
    std::str::from_utf8(code).unwrap_or("??")
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

/// A location together with the prefix of the network it was found for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Located {
    /// Where the client is, as far as the sources know.
    pub location: Location,
    /// Prefix length of the network the location came from; `None` when no
    /// source knew anything about the address.
    pub prefix: Option<u8>,
}

/// Where a client location came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationSource {
    /// A `[geo.networks]` entry from the config.
    Networks,
    /// The MaxMind-format database.
    Database,
    /// No source knows the address.
    Unknown,
}

impl LocationSource {
    /// The name `explain` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            LocationSource::Networks => "geo.networks",
            LocationSource::Database => "database",
            LocationSource::Unknown => "unknown",
        }
    }
}

/// A longest-prefix-match table from networks to values.
#[derive(Debug, Clone)]
pub struct CidrTable<T> {
    /// Per prefix length, longest first: masked network address to value.
    v4: Vec<(u8, HashMap<u32, T>)>,
    v6: Vec<(u8, HashMap<u128, T>)>,
}

impl<T> Default for CidrTable<T> {
    fn default() -> Self {
        CidrTable {
            v4: Vec::new(),
            v6: Vec::new(),
        }
    }
}

fn mask4(addr: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        addr & (u32::MAX << (32 - prefix as u32))
    }
}

fn mask6(addr: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        addr & (u128::MAX << (128 - prefix as u32))
    }
}

impl<T> CidrTable<T> {
    /// Adds `net` (host bits are ignored); a later insert of the same network wins.
    pub fn insert(&mut self, net: IpNet, value: T) {
        let prefix = net.prefix_len();
        match net.addr() {
            IpAddr::V4(a) => insert_len(&mut self.v4, prefix, mask4(a.into(), prefix), value),
            IpAddr::V6(a) => insert_len(&mut self.v6, prefix, mask6(a.into(), prefix), value),
        }
    }

    /// How many networks the table holds.
    pub fn len(&self) -> usize {
        self.v4.iter().map(|(_, m)| m.len()).sum::<usize>()
            + self.v6.iter().map(|(_, m)| m.len()).sum::<usize>()
    }

    /// The value of the most specific network containing `addr`, with that
    /// network's prefix length.
    pub fn lookup(&self, addr: IpAddr) -> Option<(&T, u8)> {
        match addr {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4
                    .iter()
                    .find_map(|(len, map)| map.get(&mask4(a, *len)).map(|v| (v, *len)))
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6
                    .iter()
                    .find_map(|(len, map)| map.get(&mask6(a, *len)).map(|v| (v, *len)))
            }
        }
    }

    /// The longest prefix of any network in the table that lies inside
    /// `addr/prefix` and is narrower than it: an answer for that whole
    /// network would not hold for all of it.
    pub fn longest_inside(&self, addr: IpAddr, prefix: u8) -> Option<u8> {
        match addr {
            IpAddr::V4(a) => {
                let outer = mask4(a.into(), prefix);
                self.v4
                    .iter()
                    .find(|(len, map)| {
                        *len > prefix && map.keys().any(|k| mask4(*k, prefix) == outer)
                    })
                    .map(|(len, _)| *len)
            }
            IpAddr::V6(a) => {
                let outer = mask6(a.into(), prefix);
                self.v6
                    .iter()
                    .find(|(len, map)| {
                        *len > prefix && map.keys().any(|k| mask6(*k, prefix) == outer)
                    })
                    .map(|(len, _)| *len)
            }
        }
    }

    /// True when the table holds no network.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

fn insert_len<K: std::hash::Hash + Eq, T>(
    levels: &mut Vec<(u8, HashMap<K, T>)>,
    prefix: u8,
    key: K,
    value: T,
) {
    match levels.iter_mut().find(|(len, _)| *len == prefix) {
        Some((_, map)) => {
            map.insert(key, value);
        }
        None => {
            levels.push((prefix, HashMap::from([(key, value)])));
            levels.sort_by_key(|level| std::cmp::Reverse(level.0));
        }
    }
}

/// Parses `"192.0.2.0/24"` (or a bare address, meaning a host route).
pub fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// The loaded location sources.
pub struct GeoDb {
    networks: CidrTable<Location>,
    database: Option<Reader<Vec<u8>>>,
    country_path: Vec<String>,
    continent_path: Vec<String>,
    latitude_path: Vec<String>,
    longitude_path: Vec<String>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("networks", &!self.networks.is_empty())
            .field(
                "database",
                &self
                    .database
                    .as_ref()
                    .map(|d| d.metadata().database_type.clone()),
            )
            .finish()
    }
}

impl GeoDb {
    /// A source that knows nothing (no database, no networks).
    pub fn empty() -> GeoDb {
        GeoDb::from_parts(CidrTable::default(), None, &GeoConfig::default())
    }

    fn from_parts(
        networks: CidrTable<Location>,
        database: Option<Reader<Vec<u8>>>,
        geo: &GeoConfig,
    ) -> GeoDb {
        let path = |p: &str| p.split('.').map(str::to_string).collect();
        GeoDb {
            networks,
            database,
            country_path: path(&geo.country_field),
            continent_path: path(&geo.continent_field),
            latitude_path: path(&geo.latitude_field),
            longitude_path: path(&geo.longitude_field),
        }
    }

    /// Loads `[geo]` from `config`: parses the network table and opens the
    /// database, if any, into memory.
    pub fn load(config: &Config) -> Result<GeoDb, Vec<ConfigError>> {
        let geo = &config.geo;
        let mut errors = Vec::new();
        let mut networks = CidrTable::default();
        for (net, location) in &geo.networks {
            let field = format!("geo.networks.\"{net}\"");
            let Some(parsed) = parse_net(net) else {
                errors.push(config.error_at(
                    location.span(),
                    field,
                    format!("{net:?} is not a network (expected e.g. 192.0.2.0/24)"),
                ));
                continue;
            };
            let spec = location.get_ref();
            let mut code = |value: &Option<String>, what: &str| -> Option<Code> {
                let text = value.as_deref()?;
                let parsed = parse_code(text);
                if parsed.is_none() {
                    errors.push(config.error_at(
                        location.span(),
                        format!("{field}.{what}"),
                        format!("{text:?} is not a two-letter code"),
                    ));
                }
                parsed
            };
            let country = code(&spec.country, "country");
            let continent = code(&spec.continent, "continent");
            networks.insert(
                parsed,
                Location {
                    country,
                    continent,
                    coordinates: spec.coordinates.map(|[lat, lon]| (lat, lon)),
                },
            );
        }
        let database = match &geo.database {
            None => None,
            Some(path) => match Reader::open_readfile(path) {
                Ok(reader) => Some(reader),
                Err(e) => {
                    errors.push(ConfigError {
                        file: config.source.clone(),
                        line: None,
                        field: Some("geo.database".into()),
                        message: format!("cannot open {}: {e}", path.display()),
                    });
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(GeoDb::from_parts(networks, database, geo))
        } else {
            Err(errors)
        }
    }

    /// Where `addr` is. Config networks win over the database. Never fails:
    /// an address no source knows gets an empty location.
    pub fn locate(&self, addr: IpAddr) -> Located {
        if let Some((location, prefix)) = self.networks.lookup(addr) {
            return Located {
                location: *location,
                prefix: Some(prefix),
            };
        }
        self.locate_in_database(addr).unwrap_or_default()
    }

    /// Which source [`GeoDb::locate`] answers `addr` from, for `explain`.
    pub fn source_of(&self, addr: IpAddr) -> LocationSource {
        if self.networks.lookup(addr).is_some() {
            return LocationSource::Networks;
        }
        match self.locate_in_database(addr) {
            Some(found) if found.location != Location::default() => LocationSource::Database,
            _ => LocationSource::Unknown,
        }
    }

    fn locate_in_database(&self, addr: IpAddr) -> Option<Located> {
        let db = self.database.as_ref()?;
        // An IPv4-only database cannot place IPv6 clients (and its reader
        // does not expect to be asked).
        if addr.is_ipv6() && db.metadata().ip_version == 4 {
            return None;
        }
        let result = db.lookup(addr).ok()?;
        let prefix = result.network().ok().map(|n| n.prefix());
        if !result.has_data() {
            return Some(Located {
                location: Location::default(),
                prefix,
            });
        }
        // Paths are at most a few keys deep; build them on the stack so a
        // lookup allocates nothing.
        let with_path = |path: &[String], f: &mut dyn FnMut(&[PathElement<'_>])| {
            let mut elements: [PathElement<'_>; MAX_PATH_DEPTH] =
                std::array::from_fn(|_| PathElement::Index(0));
            let depth = path.len().min(MAX_PATH_DEPTH);
            for (slot, key) in elements.iter_mut().zip(path) {
                *slot = PathElement::Key(key);
            }
            f(&elements[..depth]);
        };
        let get_code = |path: &[String]| -> Option<Code> {
            let mut code = None;
            with_path(path, &mut |p| {
                code = result
                    .decode_path::<&str>(p)
                    .ok()
                    .flatten()
                    .and_then(parse_code);
            });
            code
        };
        let get_f64 = |path: &[String]| -> Option<f64> {
            let mut value = None;
            with_path(path, &mut |p| {
                value = result.decode_path::<f64>(p).ok().flatten()
            });
            value
        };
        let coordinates = match (get_f64(&self.latitude_path), get_f64(&self.longitude_path)) {
            (Some(lat), Some(lon)) => Some((lat, lon)),
            _ => None,
        };
        Some(Located {
            location: Location {
                country: get_code(&self.country_path),
                continent: get_code(&self.continent_path),
                coordinates,
            },
            prefix,
        })
    }
}

/// Great-circle distance in kilometres between two `(lat, lon)` points.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
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
    fn cidr_table_prefers_the_longest_prefix() {
        let mut table = CidrTable::default();
        table.insert("10.0.0.0/8".parse().unwrap(), "wide");
        table.insert("10.1.0.0/16".parse().unwrap(), "narrow");
        table.insert("2001:db8::/32".parse().unwrap(), "v6");
        assert_eq!(
            table.lookup("10.1.2.3".parse().unwrap()),
            Some((&"narrow", 16))
        );
        assert_eq!(
            table.lookup("10.2.2.3".parse().unwrap()),
            Some((&"wide", 8))
        );
        assert_eq!(
            table.lookup("2001:db8::1".parse().unwrap()),
            Some((&"v6", 32))
        );
        assert_eq!(table.lookup("192.0.2.1".parse().unwrap()), None);
        assert_eq!(
            table.longest_inside("10.0.0.0".parse().unwrap(), 8),
            Some(16)
        );
        assert_eq!(table.longest_inside("10.1.0.0".parse().unwrap(), 16), None);
    }

    #[test]
    fn distance_between_london_and_new_york() {
        let km = distance_km((51.5, -0.12), (40.71, -74.0));
        assert!((km - 5570.0).abs() < 30.0, "{km}");
    }
}
