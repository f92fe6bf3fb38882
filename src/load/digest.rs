//! The config digest: a SHA-256 over what every instance of a cluster must
//! load alike (the zones and the shared parts of the config), published in
//! each instance's membership record so that drift between nameservers
//! shows in `/v1/status` and `ctl status`.
//!
//! Deterministic by construction: the config file is re-read as a TOML
//! value, instance-local keys are removed, and what is left is written as
//! JSON with sorted keys; each zone contributes its origin and its records
//! in presentation form, sorted. Comments, key order, whitespace and record
//! order in the files do not change the digest; a changed value does.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::zone::ZoneSet;

/// Keys left out of the digest, by table: settings that legitimately
/// differ between the instances of one cluster (where they listen, where
/// they keep state, who they are, how they reach etcd, how they log).
const LOCAL_KEYS: &[(&str, &[&str])] = &[
    (
        "server",
        &[
            "dns_listen",
            "api_listen",
            "zones_dir",
            "state_dir",
            "udp_workers",
            "user",
            "group",
            "nsid",
        ],
    ),
    (
        "cluster",
        &[
            "instance",
            "endpoints",
            "username",
            "password_file",
            "ca_file",
            "cert_file",
            "key_file",
            "request_timeout_ms",
        ],
    ),
    ("health", &["source_address"]),
    ("metrics", &["listen"]),
    ("api", &["tokens_file"]),
];

/// Tables left out entirely.
const LOCAL_TABLES: &[&str] = &["log"];

/// A digest computed the first time it is asked for: `check` and reloads
/// never pay for hashing large zones; an instance in a cluster asks once
/// per load, off the query path.
pub struct LazyDigest {
    /// The config file's text (the shared part is taken from it).
    config_text: String,
    /// The zones loaded with it.
    zones: Arc<ZoneSet>,
    /// The digest, once computed.
    value: OnceLock<String>,
}

impl std::fmt::Debug for LazyDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyDigest")
            .field("value", &self.value.get())
            .finish_non_exhaustive()
    }
}

impl LazyDigest {
    /// The digest of `config` and `zones`, not computed yet.
    pub fn new(config: &Config, zones: Arc<ZoneSet>) -> LazyDigest {
        LazyDigest {
            config_text: config.text.clone(),
            zones,
            value: OnceLock::new(),
        }
    }

    /// The digest (computed on the first call).
    pub fn get(&self) -> &str {
        self.value
            .get_or_init(|| digest_text(&self.config_text, &self.zones))
    }
}

/// The digest of `config` and `zones`, as 64 lower-case hex digits.
pub fn config_digest(config: &Config, zones: &ZoneSet) -> String {
    digest_text(&config.text, zones)
}

fn digest_text(config_text: &str, zones: &ZoneSet) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"switchyard config digest v1\n");
    hasher.update(shared_config_json(config_text).as_bytes());
    let mut zones: Vec<_> = zones.iter().collect();
    zones.sort_by(|a, b| a.origin.cmp(&b.origin));
    for zone in zones {
        hasher.update(b"\nzone ");
        hasher.update(zone.origin.to_string().as_bytes());
        let mut records: Vec<String> = zone
            .rrsets()
            .flat_map(|(node, set)| set.records(&node.name()))
            .map(|record| record.to_string())
            .collect();
        records.sort_unstable();
        for record in records {
            hasher.update(b"\n");
            hasher.update(record.as_bytes());
        }
    }
    let mut hex = String::with_capacity(64);
    for byte in hasher.finalize() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The config's shared part as canonical JSON (sorted keys, no spaces).
/// The text already parsed as a [`Config`], so it parses here too; should
/// it not, the raw text stands in (still deterministic).
fn shared_config_json(text: &str) -> String {
    let Ok(mut table) = text.parse::<toml::Table>() else {
        return text.to_string();
    };
    for table_name in LOCAL_TABLES {
        table.remove(*table_name);
    }
    for (table_name, keys) in LOCAL_KEYS {
        if let Some(toml::Value::Table(inner)) = table.get_mut(*table_name) {
            for key in *keys {
                inner.remove(*key);
            }
        }
    }
    let value = serde_json::to_value(&table).unwrap_or(serde_json::Value::Null);
    let mut out = String::new();
    canonical(&value, &mut out);
    out
}

/// Writes `value` as JSON with object keys sorted, whatever map type
/// serde_json was built with.
fn canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Inputs;

    const ZONE: &str = "$ORIGIN d.test.\n@ 300 SOA ns1 host 1 7200 900 1209600 60\n@ 300 NS ns1\nns1 300 A 127.0.0.53\nwww 300 A 192.0.2.1\nwww 300 A 192.0.2.2\n";

    fn config(server_extra: &str, tail: &str) -> String {
        format!(
            "version = 1\n[server]\ndns_listen = [\"127.0.0.1:0\"]\napi_listen = \"127.0.0.1:0\"\nzones_dir = \"zones\"\nstate_dir = \"state\"\n{server_extra}\n[regions.r]\nendpoints = [{{ address = \"192.0.2.10\" }}]\n{tail}"
        )
    }

    fn digest(config_text: &str, zone: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("zones")).unwrap();
        std::fs::write(dir.path().join("zones/d.test.zone"), zone).unwrap();
        let path = dir.path().join("switchyard.toml");
        std::fs::write(&path, config_text).unwrap();
        let inputs = Inputs::load(&path).unwrap();
        config_digest(&inputs.config, &inputs.zones)
    }

    #[test]
    fn same_content_same_digest_whatever_the_layout() {
        let a = digest(&config("", ""), ZONE);
        assert_eq!(a.len(), 64);
        // Comments, listen addresses, state dir, logging and record order
        // are instance-local or cosmetic.
        let relaid = config("# a comment\nudp_workers = 2", "[log]\nlevel = \"debug\"\n")
            .replace("127.0.0.1:0", "127.0.0.9:0")
            .replace("\"state\"", "\"elsewhere\"");
        let reordered = ZONE.replace(
            "www 300 A 192.0.2.1\nwww 300 A 192.0.2.2",
            "www 300 A 192.0.2.2\nwww 300 A 192.0.2.1",
        );
        assert_eq!(digest(&relaid, &reordered), a);
    }

    #[test]
    fn shared_settings_and_zone_data_change_the_digest() {
        let a = digest(&config("", ""), ZONE);
        assert_ne!(digest(&config("", "weight = 3\n"), ZONE), a);
        assert_ne!(
            digest(&config("edns_udp_payload = 1400", ""), ZONE),
            a,
            "a shared [server] knob counts"
        );
        assert_ne!(
            digest(&config("", ""), &ZONE.replace("192.0.2.2", "192.0.2.3")),
            a
        );
    }
}
