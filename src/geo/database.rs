//! MaxMind-format (`.mmdb`) databases as they are shipped: GeoLite2/GeoIP2
//! (nested records, `country.iso_code`, coordinates as doubles), DB-IP, and
//! ip-location-db (flat records, coordinates as 32-bit floats, one file per
//! address family).
//!
//! Fields are dotted paths with alternatives tried in order; numbers are read
//! whatever their MMDB type (double, float, signed or unsigned integers).
//! At load time a sample of records is read with every configured path, so a
//! path that points at the wrong kind of value is an error and one that no
//! sampled record has is a warning, rather than a silent `null` per query.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use maxminddb::{LookupResult, PathElement, Reader, WithinOptions};
use serde::Deserialize;

use super::{Code, Location, parse_code};
use crate::config::{Config, ConfigError, GeoConfig, GeoField, PolicyKind};

/// Deepest path (`a.b.c`) a field may name; paths live on the stack.
const MAX_PATH_DEPTH: usize = 8;

/// Records read per database at load time to check the fields.
const SAMPLE_RECORDS: usize = 4096;

/// An open database and which families it has data for.
pub(super) struct Database {
    path: PathBuf,
    reader: Reader<Vec<u8>>,
    /// False for an IPv6 database without an IPv4 subtree: it must never
    /// place (or scope) an IPv4 client.
    has_v4: bool,
    /// False for an IPv4-only database.
    has_v6: bool,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .field("type", &self.reader.metadata().database_type)
            .field("has_v4", &self.has_v4)
            .field("has_v6", &self.has_v6)
            .finish()
    }
}

/// What one database says about an address.
pub(super) enum DbAnswer {
    /// The database has no data for the address's family at all.
    NoFamily,
    /// No record for the address; `prefix` is the network without data.
    NoData { prefix: u8 },
    /// A record, for the network of this prefix length.
    Found { prefix: u8, location: Location },
}

/// The configured field paths, split into keys once.
#[derive(Debug, Clone, Default)]
pub(super) struct Fields {
    /// Per [`GeoField`] (in `GeoField::ALL` order): alternatives, each a
    /// list of path components.
    paths: [Vec<Vec<String>>; 4],
}

impl Fields {
    pub(super) fn from_config(geo: &GeoConfig) -> Fields {
        let split = |field: GeoField| -> Vec<Vec<String>> {
            geo.paths(field)
                .iter()
                .map(|p| p.split('.').map(str::to_string).collect())
                .collect()
        };
        Fields {
            paths: GeoField::ALL.map(split),
        }
    }

    fn of(&self, field: GeoField) -> &[Vec<String>] {
        &self.paths[field as usize]
    }
}

/// A number of any MMDB numeric type, read without allocating.
struct Number(f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Number, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Number;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_f32<E>(self, v: f32) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u128<E>(self, v: u128) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Runs `f` with `path` as maxminddb path elements built on the stack
/// (numeric components index arrays: `subdivisions.0.iso_code`).
fn with_path<R>(path: &[String], f: impl FnOnce(&[PathElement<'_>]) -> R) -> R {
    let mut elements: [PathElement<'_>; MAX_PATH_DEPTH] =
        std::array::from_fn(|_| PathElement::Index(0));
    let depth = path.len().min(MAX_PATH_DEPTH);
    for (slot, key) in elements.iter_mut().zip(path) {
        *slot = match key.parse::<usize>() {
            Ok(i) => PathElement::Index(i),
            Err(_) => PathElement::Key(key),
        };
    }
    f(&elements[..depth])
}

/// A value read at one path: absent, present, or not what the field needs.
enum Read<T> {
    Absent,
    Value(T),
    Wrong(String),
}

fn read_code(result: &LookupResult<'_, Vec<u8>>, path: &[String]) -> Read<Code> {
    with_path(path, |p| match result.decode_path::<&str>(p) {
        Ok(None) => Read::Absent,
        Ok(Some(text)) => match parse_code(text) {
            Some(code) => Read::Value(code),
            None => Read::Wrong(format!("{text:?} is not a two-letter code")),
        },
        Err(e) => Read::Wrong(e.to_string()),
    })
}

fn read_number(result: &LookupResult<'_, Vec<u8>>, path: &[String]) -> Read<f64> {
    with_path(path, |p| match result.decode_path::<Number>(p) {
        Ok(None) => Read::Absent,
        Ok(Some(Number(v))) => Read::Value(v),
        Err(e) => Read::Wrong(e.to_string()),
    })
}

/// The first alternative that has a usable value.
fn first<T>(alternatives: &[Vec<String>], read: impl Fn(&[String]) -> Read<T>) -> Option<T> {
    alternatives.iter().find_map(|path| match read(path) {
        Read::Value(v) => Some(v),
        _ => None,
    })
}

impl Database {
    /// Opens `path` into memory and works out which families it covers.
    pub(super) fn open(path: &Path) -> Result<Database, String> {
        let reader = Reader::open_readfile(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let (has_v4, has_v6) = if reader.metadata().ip_version == 4 {
            (true, false)
        } else {
            // An IPv6 database has IPv4 data only if its tree reaches the
            // IPv4 subtree (::/96); otherwise the reader reports an IPv6
            // network for IPv4 lookups.
            let v4 = reader
                .lookup(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
                .and_then(|r| r.network())
                .is_ok_and(|n| n.is_ipv4());
            (v4, has_ipv6_data(&reader))
        };
        Ok(Database {
            path: path.to_path_buf(),
            reader,
            has_v4,
            has_v6,
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Looks `addr` up. Allocation-free: paths are decoded in place.
    pub(super) fn lookup(&self, addr: IpAddr, fields: &Fields) -> DbAnswer {
        let covered = match addr {
            IpAddr::V4(_) => self.has_v4,
            IpAddr::V6(_) => self.has_v6,
        };
        if !covered {
            return DbAnswer::NoFamily;
        }
        let Ok(result) = self.reader.lookup(addr) else {
            return DbAnswer::NoFamily;
        };
        let Ok(network) = result.network() else {
            return DbAnswer::NoFamily;
        };
        // Never an IPv6 network for an IPv4 client (see `open`).
        if network.is_ipv4() != addr.is_ipv4() {
            return DbAnswer::NoFamily;
        }
        let prefix = network.prefix();
        if !result.has_data() {
            return DbAnswer::NoData { prefix };
        }
        let code = |f: GeoField| first(fields.of(f), |p| read_code(&result, p));
        let number = |f: GeoField| first(fields.of(f), |p| read_number(&result, p));
        let coordinates = match (number(GeoField::Latitude), number(GeoField::Longitude)) {
            (Some(lat), Some(lon)) => Some((lat, lon)),
            _ => None,
        };
        DbAnswer::Found {
            prefix,
            location: Location {
                country: code(GeoField::Country),
                continent: code(GeoField::Continent),
                coordinates,
            },
        }
    }
}

/// True when an IPv6 database has a record for some IPv6 network outside
/// `::/8` (where the IPv4 subtree lives; aliases of it are skipped). A file
/// with IPv4 data only must not make IPv6 answers depend on its empty tree.
fn has_ipv6_data(reader: &Reader<Vec<u8>>) -> bool {
    // ::/0 without ::/8, as the eight blocks 100::/8 .. 8000::/1.
    (0..8u8).any(|i| {
        let len = 8 - i;
        let first = 1u128 << (127 - (len - 1) as u32);
        let Ok(net) = ipnetwork::Ipv6Network::new(std::net::Ipv6Addr::from(first), len) else {
            return false;
        };
        reader
            .within(ipnetwork::IpNetwork::V6(net), WithinOptions::default())
            .is_ok_and(|mut networks| networks.next().is_some_and(|r| r.is_ok()))
    })
}

/// The first service setting that uses `field` (a country or continent
/// rule, a `nearest` policy), as (position, dotted field): a missing field
/// is worth a warning only when something uses it, and the warning points
/// at that use.
fn first_use(config: &Config, field: GeoField) -> Option<(std::ops::Range<usize>, String)> {
    config.services.iter().find_map(|(name, s)| {
        let service = s.get_ref();
        let rules = service.geo.as_ref();
        let (key, table) = match field {
            GeoField::Country => ("country", rules.map(|g| &g.country)),
            GeoField::Continent => ("continent", rules.map(|g| &g.continent)),
            GeoField::Latitude | GeoField::Longitude => {
                return (service.policy == PolicyKind::Nearest)
                    .then(|| (s.span(), format!("services.\"{name}\".policy")));
            }
        };
        let code = table?.keys().next()?;
        Some((
            code.span(),
            format!("services.\"{name}\".geo.{key}.{}", code.get_ref()),
        ))
    })
}

fn used(config: &Config, field: GeoField) -> bool {
    first_use(config, field).is_some()
}

/// Reads a sample of every database's records with every configured path.
/// A configured path that points at the wrong kind of value is an error
/// (pushed to `errors`); a field no sampled record has is a warning
/// (returned) when it is configured or used by a service.
pub(super) fn validate(
    config: &Config,
    databases: &[Database],
    fields: &Fields,
    errors: &mut Vec<ConfigError>,
) -> Vec<ConfigError> {
    let geo = &config.geo;
    let mut warnings = Vec::new();
    let at = |field: GeoField, message: String| {
        let span = geo
            .field(field)
            .map(|s| s.span())
            .or_else(|| geo.database.as_ref().map(|d| d.span()))
            .unwrap_or(0..0);
        config.error_at(span, format!("geo.{}", field.key()), message)
    };
    for field in GeoField::ALL {
        for path in geo.paths(field) {
            let parts = path.split('.').count();
            if path.split('.').any(str::is_empty) || parts > MAX_PATH_DEPTH {
                errors.push(at(
                    field,
                    format!(
                        "{path:?} is not a dotted path of at most {MAX_PATH_DEPTH} keys (e.g. {})",
                        field.default_path()
                    ),
                ));
            }
        }
    }
    if databases.is_empty() || !errors.is_empty() {
        return warnings;
    }
    let configured = |f: GeoField| geo.field(f).is_some();
    // Per field: has any sampled record of any database a value for it?
    let mut found = [false; 4];
    let mut reported = [false; 4];
    for db in databases {
        let Ok(networks) = db.reader.networks(WithinOptions::default()) else {
            continue;
        };
        for result in networks.take(SAMPLE_RECORDS) {
            let Ok(result) = result else {
                break;
            };
            for field in GeoField::ALL {
                let i = field as usize;
                for path in fields.of(field) {
                    let read = match field {
                        GeoField::Country | GeoField::Continent => match read_code(&result, path) {
                            Read::Value(_) => Read::Value(()),
                            Read::Absent => Read::Absent,
                            Read::Wrong(e) => Read::Wrong(format!("as a two-letter code: {e}")),
                        },
                        _ => match read_number(&result, path) {
                            Read::Value(_) => Read::Value(()),
                            Read::Absent => Read::Absent,
                            Read::Wrong(e) => Read::Wrong(format!("as a number: {e}")),
                        },
                    };
                    match read {
                        Read::Value(()) => found[i] = true,
                        Read::Absent => {}
                        // A default path may simply not fit this layout;
                        // only a path someone wrote must be readable.
                        Read::Wrong(e) if configured(field) && !reported[i] => {
                            reported[i] = true;
                            let network =
                                result.network().map(|n| n.to_string()).unwrap_or_default();
                            errors.push(at(
                                field,
                                format!(
                                    "{:?} in {} (network {network}) cannot be read {e}",
                                    path.join("."),
                                    db.path.display()
                                ),
                            ));
                        }
                        Read::Wrong(_) => {}
                    }
                }
            }
        }
    }
    for field in GeoField::ALL {
        let i = field as usize;
        if found[i] || reported[i] || !(configured(field) || used(config, field)) {
            continue;
        }
        let paths: Vec<String> = geo.paths(field);
        let names: Vec<String> = databases
            .iter()
            .map(|d| d.path.display().to_string())
            .collect();
        let mut message = format!(
            "no sampled record of {} has {}",
            names.join(", "),
            paths
                .iter()
                .map(|p| format!("{p:?}"))
                .collect::<Vec<_>>()
                .join(" or ")
        );
        if used(config, field) {
            message += match field {
                GeoField::Continent => ": continent rules will never match",
                GeoField::Country => ": country rules will never match",
                _ => ": nearest cannot place clients",
            };
        }
        // Point at the key that names the path, or else at the rule
        // that needs the field.
        let warning = match (geo.field(field), first_use(config, field)) {
            (None, Some((span, use_field))) => config.error_at(span, use_field, message),
            _ => at(field, message),
        };
        warnings.push(warning);
    }
    warnings
}
