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
    /// The DS records the parent zone holds now, in presentation format
    /// (`"example.com. IN DS 12345 13 2 ABCD…"` or just `"12345 13 2 ABCD…"`),
    /// as the operator last saw them (`dig DS example.com. @parent`). When
    /// given, a load refuses keys none of these DS names (a published KSK
    /// or CSK): the chain of trust would break. An empty list says the
    /// parent has no DS yet (the zone is insecure, nothing to break);
    /// absent, `check` warns that the chain is not checked.
    #[serde(default)]
    pub parent_ds: Option<Vec<Spanned<String>>>,
    /// `parent_ds` parsed (filled by validation).
    #[serde(skip)]
    pub parent_ds_parsed: Vec<ParentDs>,
}

/// One DS record of `parent_ds`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentDs {
    /// Key tag of the DNSKEY it names.
    pub key_tag: u16,
    /// Algorithm number of that DNSKEY.
    pub algorithm: u8,
    /// Digest type (1 SHA-1, 2 SHA-256, 4 SHA-384).
    pub digest_type: u8,
    /// The digest.
    pub digest: Vec<u8>,
    /// Line of the entry in the config file, for messages.
    pub line: usize,
}

impl std::fmt::Display for ParentDs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DS {} {} {} ",
            self.key_tag, self.algorithm, self.digest_type
        )?;
        self.digest.iter().try_for_each(|b| write!(f, "{b:02X}"))
    }
}

/// Parses one `parent_ds` entry for `zone` (absolute, any case): an owner,
/// TTL and class before `DS` are allowed (and the owner must be the zone),
/// then key tag, algorithm, digest type and the hex digest (which may hold
/// spaces, as `dig` prints long digests).
pub fn parse_ds(text: &str, zone: &str, line: usize) -> Result<ParentDs, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let rdata = match words.iter().position(|w| w.eq_ignore_ascii_case("DS")) {
        Some(at) => {
            let head = &words[..at];
            if let Some(owner) = head.first().filter(|w| {
                w.parse::<u32>().is_err()
                    && !["IN", "CH", "HS"].iter().any(|c| w.eq_ignore_ascii_case(c))
            }) {
                let owner = owner.trim_end_matches('.');
                if !owner.eq_ignore_ascii_case(zone.trim_end_matches('.')) {
                    return Err(format!(
                        "{text:?} is a DS for {owner}., not for this zone {zone}"
                    ));
                }
            }
            &words[at + 1..]
        }
        None => &words[..],
    };
    let usage = || {
        format!(
            "{text:?} is not a DS record: expected \"<key tag> <algorithm> <digest type> <hex digest>\", optionally after \"{zone} IN DS\""
        )
    };
    if rdata.len() < 4 {
        return Err(usage());
    }
    let key_tag: u16 = rdata[0].parse().map_err(|_| usage())?;
    let algorithm: u8 = rdata[1].parse().map_err(|_| usage())?;
    let digest_type: u8 = rdata[2].parse().map_err(|_| usage())?;
    let hex = rdata[3..].concat();
    let digest = decode_hex(&hex)
        .ok_or_else(|| format!("{text:?}: the digest {hex:?} is not hexadecimal"))?;
    let want = match digest_type {
        1 => 20,
        2 => 32,
        4 => 48,
        other => {
            return Err(format!(
                "{text:?}: digest type {other} is not one this check knows (1 SHA-1, 2 SHA-256, 4 SHA-384)"
            ));
        }
    };
    if digest.len() != want {
        return Err(format!(
            "{text:?}: a digest of type {digest_type} is {want} bytes ({} hex digits), this one is {}",
            want * 2,
            digest.len()
        ));
    }
    Ok(ParentDs {
        key_tag,
        algorithm,
        digest_type,
        digest,
        line,
    })
}

/// Hexadecimal (either case) to bytes; `None` for odd lengths or non-hex.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
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
        for (name, zone) in &mut self.zones {
            if !name.ends_with('.') || name.parse::<hickory_proto::rr::Name>().is_err() {
                return Err(error(
                    Some(zone.span()),
                    &format!("dnssec.zones.{name:?}"),
                    format!("{name:?} is not an absolute domain name (it must end in a dot)"),
                ));
            }
            let zone = zone.get_mut();
            let mut parsed = Vec::new();
            for (i, entry) in zone.parent_ds.iter().flatten().enumerate() {
                let line = line_of(text, entry.span().start);
                parsed.push(parse_ds(entry.get_ref(), name, line).map_err(|message| {
                    error(
                        Some(entry.span()),
                        &format!("dnssec.zones.{name:?}.parent_ds[{i}]"),
                        message,
                    )
                })?);
            }
            zone.parent_ds_parsed = parsed;
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

    /// The `[dnssec.zones]` entry of `origin` (any case), if any.
    pub fn zone(&self, origin: &str) -> Option<&Spanned<DnssecZoneConfig>> {
        self.zones
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(origin))
            .map(|(_, z)| z)
    }

    /// The zones with `enabled = true`, lower-cased.
    pub fn enabled_zones(&self) -> impl Iterator<Item = (String, &Spanned<DnssecZoneConfig>)> {
        self.zones
            .iter()
            .filter(|(_, z)| z.get_ref().enabled)
            .map(|(name, z)| (name.to_ascii_lowercase(), z))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "2BB183AF5F22588179A53B0A98631FAD1A292118A4D8F1E2B9A4B8C3D5E6F708";

    #[test]
    fn ds_in_every_presentation_form_parses() {
        for text in [
            format!("example.com. IN DS 12345 13 2 {DIGEST}"),
            format!("Example.COM 3600 IN DS 12345 13 2 {DIGEST}"),
            format!("12345 13 2 {}", DIGEST.to_lowercase()),
            format!("12345 13 2 {} {}", &DIGEST[..32], &DIGEST[32..]),
        ] {
            let ds = parse_ds(&text, "example.com.", 7).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((ds.key_tag, ds.algorithm, ds.digest_type), (12345, 13, 2));
            assert_eq!(ds.digest.len(), 32);
            assert_eq!(ds.line, 7);
            assert_eq!(ds.to_string(), format!("DS 12345 13 2 {DIGEST}"));
        }
    }

    #[test]
    fn bad_ds_is_refused_with_a_reason() {
        for (text, says) in [
            (
                format!("other.com. IN DS 12345 13 2 {DIGEST}"),
                "not for this zone",
            ),
            ("12345 13 2".to_string(), "not a DS record"),
            (format!("70000 13 2 {DIGEST}"), "not a DS record"),
            ("12345 13 2 XYZ0".to_string(), "not hexadecimal"),
            (format!("12345 13 2 {}", &DIGEST[..40]), "32 bytes"),
            (format!("12345 13 3 {DIGEST}"), "digest type 3"),
        ] {
            let err = parse_ds(&text, "example.com.", 1).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn config_errors_name_the_line_and_entry() {
        let path = Path::new("switchyard.toml");
        let text = format!(
            "version = 1\n[server]\ndns_listen = [\"127.0.0.1:0\"]\napi_listen = \"127.0.0.1:0\"\n\
             zones_dir = \"zones\"\nstate_dir = \"state\"\n\
             [dnssec.zones.\"example.com.\"]\nparent_ds = [\n  \"12345 13 2 {DIGEST}\",\n  \"12345 13 2 nothex\",\n]\n"
        );
        let err = match crate::config::Config::parse(&text, path) {
            Ok(_) => panic!("a bad parent_ds loaded"),
            Err(e) => e,
        };
        assert_eq!(err.line, Some(10), "{err}");
        assert_eq!(
            err.field.as_deref(),
            Some("dnssec.zones.\"example.com.\".parent_ds[1]"),
            "{err}"
        );
        assert!(err.to_string().contains("not hexadecimal"), "{err}");
        // The good entry alone parses.
        let good = text.replace("  \"12345 13 2 nothex\",\n", "");
        let config = crate::config::Config::parse(&good, path).unwrap_or_else(|e| panic!("{e}"));
        let zone = config.dnssec.zone("example.com.").unwrap().get_ref();
        assert_eq!(zone.parent_ds_parsed.len(), 1);
        assert_eq!(zone.parent_ds_parsed[0].line, 9);
    }
}
