//! Key files: one combined signing key (CSK) per file set, shared by any
//! number of instances through a plain directory.
//!
//! Each key is three files named like BIND's, `K<zone>+<alg>+<tag>`:
//! `.key` (the DNSKEY record, public), `.private` (the PKCS#8 private key
//! in base64, created 0600 and never logged or served) and `.state`
//! (`published`/`active`, which an operator edits during a rollover).

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey};
use hickory_proto::dnssec::rdata::{CDNSKEY, CDS, DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKey, SigningKey, Verifier};
use hickory_proto::rr::Name;
use rustls::pki_types::PrivatePkcs8KeyDer;
use serde::{Deserialize, Serialize};

use crate::config::KeyAlgorithm;

/// Flags of a combined signing key: zone key + secure entry point.
const CSK_FLAGS: u16 = 257;

/// Why a key could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A file's contents are wrong.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The crypto library refused (should not happen with valid input).
    #[error("key generation failed: {0}")]
    Crypto(String),
}

/// Whether a key is in the DNSKEY RRset and whether it signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyState {
    /// In the zone's DNSKEY, CDS and CDNSKEY RRsets (and signing them).
    pub published: bool,
    /// Signs every other RRset. An active key is always published.
    pub active: bool,
}

/// One DNSSEC key read from the key directory.
pub struct ZoneKey {
    /// The zone (lower-cased, absolute).
    pub zone: Name,
    /// Its DNSKEY (flags 257: a combined signing key).
    pub dnskey: DNSKEY,
    /// RFC 4034 Appendix B key tag.
    pub tag: u16,
    /// Published/active.
    pub state: KeyState,
    /// The files' common path, without extension.
    pub base: PathBuf,
    /// The private key (never printed: `Debug` leaves it out).
    pub signing: Box<dyn SigningKey>,
}

impl fmt::Debug for ZoneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZoneKey")
            .field("zone", &self.zone)
            .field("tag", &self.tag)
            .field("algorithm", &self.algorithm())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ZoneKey {
    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.dnskey.algorithm()
    }

    /// The DS record (SHA-256) for this key.
    pub fn ds(&self) -> Option<DS> {
        let digest = self.dnskey.to_digest(&self.zone, DigestType::SHA256).ok()?;
        Some(DS::new(
            self.tag,
            self.algorithm(),
            DigestType::SHA256,
            digest.as_ref().to_vec(),
        ))
    }

    /// The CDS record (RFC 7344) for this key.
    pub fn cds(&self) -> Option<CDS> {
        let ds = self.ds()?;
        Some(CDS::new(
            ds.key_tag(),
            Some(ds.algorithm()),
            ds.digest_type(),
            ds.digest().to_vec(),
        ))
    }

    /// The CDNSKEY record (RFC 7344) for this key.
    pub fn cdnskey(&self) -> CDNSKEY {
        CDNSKEY::with_flags(
            self.dnskey.flags(),
            Some(self.algorithm()),
            self.dnskey.public_key().public_bytes().to_vec(),
        )
    }

    /// The DS record in zone-file presentation format.
    pub fn ds_line(&self) -> Option<String> {
        let ds = self.ds()?;
        Some(format!(
            "{} IN DS {} {} 2 {}",
            self.zone,
            ds.key_tag(),
            u8::from(ds.algorithm()),
            hex(ds.digest())
        ))
    }
}

/// Lower-case hexadecimal, as DS digests are written.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// One of a key's files: `<base>.<ext>` (the stem holds dots, so
/// `Path::with_extension` would cut it).
pub fn file(base: &Path, ext: &str) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

/// The file stem for a key: `K<zone>+<alg>+<tag>`.
fn stem(zone: &Name, algorithm: u8, tag: u16) -> String {
    format!("K{}+{algorithm:03}+{tag:05}", zone.to_lowercase())
}

/// Turns PKCS#8 bytes into a signing key of `algorithm`.
fn signing_key(der: &[u8], algorithm: Algorithm) -> Result<Box<dyn SigningKey>, String> {
    let der = PrivatePkcs8KeyDer::from(der.to_vec());
    match algorithm {
        Algorithm::ECDSAP256SHA256 => EcdsaSigningKey::from_pkcs8(&der, algorithm)
            .map(|k| Box::new(k) as Box<dyn SigningKey>)
            .map_err(|e| e.to_string()),
        Algorithm::ED25519 => Ed25519SigningKey::from_pkcs8(&der)
            .map(|k| Box::new(k) as Box<dyn SigningKey>)
            .map_err(|e| e.to_string()),
        other => Err(format!("unsupported algorithm {other}")),
    }
}

/// Builds the CSK DNSKEY for a signing key.
fn dnskey_of(signing: &dyn SigningKey) -> Result<DNSKEY, String> {
    let public = signing.to_public_key().map_err(|e| e.to_string())?;
    Ok(DNSKEY::with_flags(CSK_FLAGS, public))
}

/// Makes a new key for `zone` in `dir` (created 0700 if missing) and
/// writes its three files; the private key file is created 0600 and never
/// overwritten. `published_only` makes a pre-published key (for a
/// rollover) that is in the DNSKEY RRset but signs nothing yet.
pub fn generate(
    dir: &Path,
    zone: &Name,
    algorithm: KeyAlgorithm,
    published_only: bool,
) -> Result<ZoneKey, KeyError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let existing: Vec<u16> = load_zone(dir, zone)?.iter().map(|k| k.tag).collect();
    let zone = zone.to_lowercase();
    // A tag already used by this zone's keys would make two files (and two
    // DNSKEYs) indistinguishable by tag: draw again.
    for _ in 0..16 {
        let (der, alg) = match algorithm {
            KeyAlgorithm::Ecdsap256sha256 => (
                EcdsaSigningKey::generate_pkcs8(Algorithm::ECDSAP256SHA256),
                Algorithm::ECDSAP256SHA256,
            ),
            KeyAlgorithm::Ed25519 => (Ed25519SigningKey::generate_pkcs8(), Algorithm::ED25519),
        };
        let der = der.map_err(|e| KeyError::Crypto(e.to_string()))?;
        let signing = signing_key(der.secret_pkcs8_der(), alg).map_err(KeyError::Crypto)?;
        let dnskey = dnskey_of(signing.as_ref()).map_err(KeyError::Crypto)?;
        let tag = dnskey
            .calculate_key_tag()
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        if existing.contains(&tag) {
            continue;
        }
        let base = dir.join(stem(&zone, u8::from(alg), tag));
        let private = file(&base, "private");
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&private)
            .map_err(io(&private))?;
        let text = format!(
            "Private-key-format: switchyard-v1\nAlgorithm: {}\nPKCS8: {}\n",
            u8::from(alg),
            BASE64.encode(der.secret_pkcs8_der())
        );
        out.write_all(text.as_bytes())
            .and_then(|_| out.sync_all())
            .map_err(io(&private))?;
        let public = file(&base, "key");
        std::fs::write(&public, format!("{zone} IN DNSKEY {dnskey}\n")).map_err(io(&public))?;
        let state = KeyState {
            published: true,
            active: !published_only,
        };
        write_state(&base, &state)?;
        return Ok(ZoneKey {
            zone,
            dnskey,
            tag,
            state,
            base,
            signing,
        });
    }
    Err(KeyError::Crypto(
        "could not draw a key with an unused key tag".into(),
    ))
}

/// Writes a key's `.state` file.
pub fn write_state(base: &Path, state: &KeyState) -> Result<(), KeyError> {
    let path = file(base, "state");
    let text = format!(
        "# published: in the DNSKEY RRset; active: signs the zone's data\npublished = {}\nactive = {}\n",
        state.published, state.active
    );
    std::fs::write(&path, text).map_err(|source| KeyError::Io { path, source })
}

/// Every key of `zone` in `dir` (none when the directory does not exist),
/// ordered by tag.
pub fn load_zone(dir: &Path, zone: &Name) -> Result<Vec<ZoneKey>, KeyError> {
    let prefix = format!("K{}+", zone.to_lowercase());
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(KeyError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut keys = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.starts_with(&prefix) || !name.ends_with(".private") {
            continue;
        }
        keys.push(load_key(&path, zone)?);
    }
    keys.sort_by_key(|k| k.tag);
    Ok(keys)
}

/// Reads one key from its `.private` file and the `.state` beside it.
fn load_key(private: &Path, zone: &Name) -> Result<ZoneKey, KeyError> {
    let invalid = |message: String| KeyError::Invalid {
        path: private.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(private).map_err(|source| KeyError::Io {
        path: private.to_path_buf(),
        source,
    })?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
    };
    let algorithm: u8 = field("Algorithm:")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| invalid("no `Algorithm:` line".into()))?;
    let der = field("PKCS8:")
        .and_then(|k| BASE64.decode(k).ok())
        .ok_or_else(|| invalid("no valid `PKCS8:` line".into()))?;
    let signing = signing_key(&der, Algorithm::from_u8(algorithm)).map_err(invalid)?;
    let dnskey = dnskey_of(signing.as_ref()).map_err(invalid)?;
    let tag = dnskey
        .calculate_key_tag()
        .map_err(|e| invalid(e.to_string()))?;
    let base = private.with_extension("");
    let state_path = file(&base, "state");
    let state = match std::fs::read_to_string(&state_path) {
        Ok(text) => toml::from_str::<KeyState>(&text).map_err(|e| KeyError::Invalid {
            path: state_path.clone(),
            message: e.message().to_string(),
        })?,
        // A key without a state file is a key someone copied in by hand:
        // published and active, as keygen makes them.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeyState {
            published: true,
            active: true,
        },
        Err(source) => {
            return Err(KeyError::Io {
                path: state_path,
                source,
            });
        }
    };
    if state.active && !state.published {
        return Err(KeyError::Invalid {
            path: state_path,
            message: "an active key must be published (published = true)".into(),
        });
    }
    Ok(ZoneKey {
        zone: zone.to_lowercase(),
        dnskey,
        tag,
        state,
        base,
        signing,
    })
}

/// Shared handle to a zone's keys.
pub type Keys = Arc<[ZoneKey]>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn generated_keys_load_back_with_private_file_0600() {
        let dir = tempfile::tempdir().unwrap();
        let zone = Name::from_str("Example.COM.").unwrap();
        for alg in [KeyAlgorithm::Ecdsap256sha256, KeyAlgorithm::Ed25519] {
            let made = generate(dir.path(), &zone, alg, false).unwrap();
            let mode = std::fs::metadata(file(&made.base, "private"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            assert_eq!(made.dnskey.flags(), 257);
            assert_eq!(u8::from(made.algorithm()), alg.number());
        }
        let loaded = load_zone(dir.path(), &zone).unwrap();
        assert_eq!(loaded.len(), 2);
        assert!(loaded.iter().all(|k| k.state.active && k.state.published));
        // The DS line names the zone in lower case, with a 64-digit SHA-256.
        let line = loaded[0].ds_line().unwrap();
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts[0], "example.com.");
        assert_eq!(parts[2], "DS");
        assert_eq!(parts[6].len(), 64);
        // Debug never shows key material.
        assert!(!format!("{:?}", loaded[0]).contains("PKCS8"));
    }

    #[test]
    fn active_but_unpublished_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let zone = Name::from_str("example.org.").unwrap();
        let made = generate(dir.path(), &zone, KeyAlgorithm::Ed25519, true).unwrap();
        assert!(!made.state.active);
        std::fs::write(
            file(&made.base, "state"),
            "published = false\nactive = true\n",
        )
        .unwrap();
        let err = load_zone(dir.path(), &zone).unwrap_err().to_string();
        assert!(err.contains("must be published"), "{err}");
    }
}
