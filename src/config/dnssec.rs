//! The `[dnssec]` table: where signing keys live, how long signatures
//! last, and which zones are signed (see `crate::dnssec`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, find_key, line_of};

/// `[dnssec]`: online signing settings shared by every signed zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnssecConfig {
    /// Directory of the key files; `<state_dir>/keys` when unset. Several
    /// instances may share it (each signs on its own).
    #[serde(default)]
    pub key_dir: Option<PathBuf>,
    /// How long a signature is valid, counted from signing.
    #[serde(default = "default_validity")]
    pub validity_days: Spanned<u32>,
    /// Signatures are made again (a reload) once less than this remains.
    #[serde(default = "default_refresh")]
    pub refresh_days: Spanned<u32>,
    /// Inception is set this far in the past, for resolvers whose clocks lag.
    #[serde(default = "default_backdate")]
    pub inception_backdate_secs: u32,
    /// Signed zones by origin (`[dnssec.zones."example.com."]`).
    #[serde(default)]
    pub zones: BTreeMap<String, Spanned<DnssecZoneConfig>>,
}

impl Default for DnssecConfig {
    fn default() -> Self {
        DnssecConfig {
            key_dir: None,
            validity_days: default_validity(),
            refresh_days: default_refresh(),
            inception_backdate_secs: default_backdate(),
            zones: BTreeMap::new(),
        }
    }
}

/// `[dnssec.zones."<origin>"]`: one zone's signing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnssecZoneConfig {
    /// Sign this zone (answers to DO queries carry RRSIGs). A listed zone
    /// with `enabled = false` is served unsigned and keeps its keys.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Algorithm of keys `dnssec keygen` makes for this zone (keys already
    /// in the key directory are used whatever their algorithm).
    #[serde(default)]
    pub algorithm: KeyAlgorithm,
}

/// A DNSSEC signing algorithm this build can make keys for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAlgorithm {
    /// ECDSA P-256 with SHA-256 (algorithm 13), the default: small
    /// signatures, supported by every validating resolver.
    #[default]
    Ecdsap256sha256,
    /// Ed25519 (algorithm 15).
    Ed25519,
}

impl KeyAlgorithm {
    /// The name as written in config and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Ecdsap256sha256 => "ecdsap256sha256",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }

    /// The DNSSEC algorithm number (RFC 8624).
    pub fn number(self) -> u8 {
        match self {
            KeyAlgorithm::Ecdsap256sha256 => 13,
            KeyAlgorithm::Ed25519 => 15,
        }
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ecdsap256sha256" | "13" => Ok(KeyAlgorithm::Ecdsap256sha256),
            "ed25519" | "15" => Ok(KeyAlgorithm::Ed25519),
            _ => Err(format!(
                "unknown algorithm {s:?}: use ecdsap256sha256 or ed25519"
            )),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_validity() -> Spanned<u32> {
    Spanned::new(0..0, 14)
}
fn default_refresh() -> Spanned<u32> {
    Spanned::new(0..0, 7)
}
fn default_backdate() -> u32 {
    3600
}

impl DnssecConfig {
    /// Checks the numbers and zone names; resolves `key_dir` against `base`
    /// (the config file's directory), defaulting to `<state_dir>/keys`.
    pub(super) fn validate(
        &mut self,
        text: &str,
        path: &Path,
        base: &Path,
        state_dir: &Path,
    ) -> Result<(), ConfigError> {
        let error =
            |span: Option<std::ops::Range<usize>>, field: &str, message: String| ConfigError {
                file: path.to_path_buf(),
                line: span.map(|s| line_of(text, s.start)),
                field: Some(field.to_string()),
                message,
            };
        let validity = *self.validity_days.get_ref();
        let refresh = *self.refresh_days.get_ref();
        if validity == 0 || validity > 365 {
            return Err(error(
                find_key(text, "validity_days"),
                "dnssec.validity_days",
                "validity_days must be between 1 and 365".into(),
            ));
        }
        if refresh == 0 || refresh >= validity {
            return Err(error(
                find_key(text, "refresh_days"),
                "dnssec.refresh_days",
                format!("refresh_days must be at least 1 and less than validity_days ({validity})"),
            ));
        }
        for (name, zone) in &self.zones {
            if !name.ends_with('.') || name.parse::<hickory_proto::rr::Name>().is_err() {
                return Err(error(
                    Some(zone.span()),
                    &format!("dnssec.zones.{name:?}"),
                    format!("{name:?} is not an absolute domain name (it must end in a dot)"),
                ));
            }
        }
        self.key_dir = Some(match &self.key_dir {
            Some(dir) => base.join(dir),
            None => state_dir.join("keys"),
        });
        Ok(())
    }

    /// The key directory (resolved; `<state_dir>/keys` by default).
    pub fn key_dir(&self) -> PathBuf {
        self.key_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("keys"))
    }

    /// The zones with `enabled = true`, lower-cased.
    pub fn enabled_zones(&self) -> impl Iterator<Item = (String, &Spanned<DnssecZoneConfig>)> {
        self.zones
            .iter()
            .filter(|(_, z)| z.get_ref().enabled)
            .map(|(name, z)| (name.to_ascii_lowercase(), z))
    }
}
