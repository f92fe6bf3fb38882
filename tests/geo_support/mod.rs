//! Shared helpers of the `geo_*` tests: `.mmdb` files in the layouts real
//! databases ship in, written with `mmdb-writer` at a fixed build epoch.
#![allow(dead_code)]
#![allow(unreachable_pub)] // a private module of each test (or bench) crate that includes it

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use mmdb_writer::{IpVersion, Ipv4Aliasing, Writer};

fn writer(kind: &str, ip_version: IpVersion) -> Writer {
    Writer::builder(kind)
        .ip_version(ip_version)
        // An IPv6 file of ip-location-db has no IPv4 subtree; aliases
        // would create one.
        .ipv4_aliasing(Ipv4Aliasing::Disabled)
        .build_epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .build()
}

/// ip-location-db's city layout: flat keys, coordinates as 32-bit floats,
/// no continent.
#[derive(serde::Serialize)]
pub struct FlatCity {
    pub country_code: &'static str,
    pub latitude: f32,
    pub longitude: f32,
}

/// Writes a flat-layout database of one family (`V4` or `V6`).
pub fn write_flat(path: &Path, ip_version: IpVersion, rows: &[(&str, &'static str, f32, f32)]) {
    let mut w = writer("ip-location-db-geolite2-city", ip_version);
    for (net, cc, lat, lon) in rows {
        let record = FlatCity {
            country_code: cc,
            latitude: *lat,
            longitude: *lon,
        };
        w.insert(net.parse::<ipnet::IpNet>().unwrap(), &record)
            .unwrap();
    }
    std::fs::write(path, w.to_bytes().unwrap()).unwrap();
}

#[derive(serde::Serialize)]
struct Iso {
    iso_code: String,
}

#[derive(serde::Serialize)]
struct ContinentCode {
    code: String,
}

#[derive(serde::Serialize)]
struct Coordinates {
    latitude: f64,
    longitude: f64,
}

/// GeoLite2's nested layout; any part may be missing.
#[derive(serde::Serialize)]
struct Nested {
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<Iso>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registered_country: Option<Iso>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continent: Option<ContinentCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Coordinates>,
}

/// One row of a GeoLite2-shaped database.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub net: String,
    pub country: Option<String>,
    pub registered_country: Option<String>,
    pub continent: Option<String>,
    pub coordinates: Option<(f64, f64)>,
}

/// Writes a GeoLite2-shaped (nested) IPv6 database holding both families;
/// later rows win where they overlap.
pub fn write_nested(path: &Path, rows: &[Row]) {
    let mut w = writer("GeoLite2-City", IpVersion::V6);
    for row in rows {
        let record = Nested {
            country: row.country.clone().map(|iso_code| Iso { iso_code }),
            registered_country: row
                .registered_country
                .clone()
                .map(|iso_code| Iso { iso_code }),
            continent: row.continent.clone().map(|code| ContinentCode { code }),
            location: row.coordinates.map(|(latitude, longitude)| Coordinates {
                latitude,
                longitude,
            }),
        };
        w.insert(row.net.parse::<ipnet::IpNet>().unwrap(), &record)
            .unwrap();
    }
    std::fs::write(path, w.to_bytes().unwrap()).unwrap();
}
