//! Key files: one key per file set, shared by any number of instances
//! through a plain directory.
//!
//! Each key is three files named like BIND's, `K<zone>+<alg>+<tag>`:
//! `.key` (the DNSKEY record, public), `.private` (the PKCS#8 private key
//! in base64, created 0600 and never logged or served) and `.state`
//! (`published`/`active`, which an operator edits during a rollover, and
//! the key's `role`).
//!
//! A key's role says what it signs: a combined signing key (CSK, the
//! default and what a file without `role` is) signs everything; a
//! key-signing key (KSK) signs only the DNSKEY, CDS and CDNSKEY RRsets and
//! is what the parent's DS names; a zone-signing key (ZSK) signs every
//! other RRset. KSK and CSK carry the SEP flag (257), a ZSK does not (256).

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

/// DNSKEY flags of a key with the secure entry point bit (KSK, CSK):
/// zone key + SEP.
const SEP_FLAGS: u16 = 257;
/// DNSKEY flags of a zone-signing key: zone key only.
const ZSK_FLAGS: u16 = 256;

/// What a key signs (kept in its `.state` file as `role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// Combined signing key: the DNSKEY RRset and every other RRset. The
    /// default, and the role of every key written before roles existed.
    #[default]
    Csk,
    /// Key-signing key: only DNSKEY, CDS and CDNSKEY; the parent's DS
    /// names it.
    Ksk,
    /// Zone-signing key: every RRset but DNSKEY, CDS and CDNSKEY.
    Zsk,
}

impl KeyRole {
    /// The name as written in `.state` files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            KeyRole::Csk => "csk",
            KeyRole::Ksk => "ksk",
            KeyRole::Zsk => "zsk",
        }
    }

    /// DNSKEY flags: 257 (SEP) for KSK and CSK, 256 for a ZSK.
    pub fn flags(self) -> u16 {
        match self {
            KeyRole::Csk | KeyRole::Ksk => SEP_FLAGS,
            KeyRole::Zsk => ZSK_FLAGS,
        }
    }

    /// Signs the DNSKEY, CDS and CDNSKEY RRsets, so a DS may name it.
    pub fn signs_keys(self) -> bool {
        matches!(self, KeyRole::Csk | KeyRole::Ksk)
    }

    /// Signs the zone's data (every RRset but the key RRsets).
    pub fn signs_zone(self) -> bool {
        matches!(self, KeyRole::Csk | KeyRole::Zsk)
    }
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for KeyRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "csk" => Ok(KeyRole::Csk),
            "ksk" => Ok(KeyRole::Ksk),
            "zsk" => Ok(KeyRole::Zsk),
            _ => Err(format!("unknown key role {s:?}: use csk, ksk or zsk")),
        }
    }
}

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
    /// In the zone's DNSKEY RRset (and, for a KSK or CSK, in CDS and
    /// CDNSKEY and signing the three of them).
    pub published: bool,
    /// Signs what its role signs. An active key is always published.
    pub active: bool,
}

/// The `.state` file: [`KeyState`] plus the key's role (absent: CSK).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    published: bool,
    active: bool,
    #[serde(default)]
    role: KeyRole,
}

/// One DNSSEC key read from the key directory.
pub struct ZoneKey {
    /// The zone (lower-cased, absolute).
    pub zone: Name,
    /// Its DNSKEY (flags 257 for a KSK or CSK, 256 for a ZSK).
    pub dnskey: DNSKEY,
    /// What it signs.
    pub role: KeyRole,
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
            .field("role", &self.role)
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

    /// The file stem, `K<zone>+<alg>+<tag>`, for messages.
    pub fn file_name(&self) -> String {
        self.base
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// True when the DS `(tag, algorithm, digest type, digest)` names this
    /// key (a digest type this build cannot compute never matches).
    pub fn matches_ds(&self, tag: u16, algorithm: u8, digest_type: u8, digest: &[u8]) -> bool {
        tag == self.tag
            && algorithm == u8::from(self.algorithm())
            && self
                .dnskey
                .to_digest(&self.zone, DigestType::from(digest_type))
                .is_ok_and(|d| d.as_ref() == digest)
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

/// Builds the DNSKEY of a signing key in `role`.
fn dnskey_of(signing: &dyn SigningKey, role: KeyRole) -> Result<DNSKEY, String> {
    let public = signing.to_public_key().map_err(|e| e.to_string())?;
    Ok(DNSKEY::with_flags(role.flags(), public))
}

/// Makes a new combined signing key: [`generate_with_role`] with
/// [`KeyRole::Csk`].
pub fn generate(
    dir: &Path,
    zone: &Name,
    algorithm: KeyAlgorithm,
    published_only: bool,
) -> Result<ZoneKey, KeyError> {
    generate_with_role(dir, zone, algorithm, KeyRole::Csk, published_only)
}

/// Makes a new key of `role` for `zone` in `dir` (created 0700 if missing)
/// and writes its three files; the private key file is created 0600 and
/// never overwritten. `published_only` makes a pre-published key (for a
/// rollover) that is in the DNSKEY RRset but signs nothing yet.
pub fn generate_with_role(
    dir: &Path,
    zone: &Name,
    algorithm: KeyAlgorithm,
    role: KeyRole,
    published_only: bool,
) -> Result<ZoneKey, KeyError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    // Tags from the file names, not by loading the keys: a broken key
    // (say, an active one whose private file was lost) must not stop the
    // operator from making its replacement.
    let prefix = format!("K{}+", zone.to_lowercase());
    let existing: Vec<u16> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter_map(|e| tag_in_name(&e.path().with_extension("")))
        .collect();
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
        let dnskey = dnskey_of(signing.as_ref(), role).map_err(KeyError::Crypto)?;
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
        write_state(&base, &state, role)?;
        return Ok(ZoneKey {
            zone,
            dnskey,
            role,
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
pub fn write_state(base: &Path, state: &KeyState, role: KeyRole) -> Result<(), KeyError> {
    let path = file(base, "state");
    let text = format!(
        "# published: in the DNSKEY RRset; active: signs what its role signs\n\
         # role: csk (everything), ksk (DNSKEY/CDS/CDNSKEY), zsk (the rest);\n\
         # csk and ksk may be swapped, a zsk stays a zsk (its flags, so its tag, differ)\n\
         published = {}\nactive = {}\nrole = \"{}\"\n",
        state.published, state.active, role
    );
    std::fs::write(&path, text).map_err(|source| KeyError::Io { path, source })
}

/// Every key of `zone` in `dir` (none when the directory does not exist),
/// ordered by tag. A key whose `.state` says it is published or active but
/// whose `.private` file is gone is an error (the zone would lose a key it
/// relies on); a retired key's leftover files, or a lone `.key`, are not.
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
    // Every key named by any of its files, so a missing one is noticed.
    let mut stems = std::collections::BTreeSet::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.starts_with(&prefix) {
            continue;
        }
        for ext in [".private", ".state"] {
            if let Some(stem) = name.strip_suffix(ext) {
                stems.insert(stem.to_string());
            }
        }
    }
    let mut keys = Vec::new();
    for stem in stems {
        let base = dir.join(&stem);
        let private = file(&base, "private");
        if private.exists() {
            keys.push(load_key(&base, zone)?);
            continue;
        }
        let state = read_state(&base)?;
        if let Some(state) = state.filter(|s| s.published || s.active) {
            return Err(KeyError::Invalid {
                path: private,
                message: format!(
                    "missing: {stem}.state says the key is {} but its private key file is gone \
                     (restore it, or set published = false and active = false to retire the key)",
                    if state.active { "active" } else { "published" }
                ),
            });
        }
    }
    keys.sort_by_key(|k| k.tag);
    Ok(keys)
}

/// A key's `.state` file, `None` when there is none.
fn read_state(base: &Path) -> Result<Option<StateFile>, KeyError> {
    let path = file(base, "state");
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str::<StateFile>(&text)
            .map(Some)
            .map_err(|e| KeyError::Invalid {
                path,
                message: e.message().to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeyError::Io { path, source }),
    }
}

/// The key tag a file stem names (`K<zone>+<alg>+<tag>`), if it names one.
fn tag_in_name(base: &Path) -> Option<u16> {
    base.file_name()?.to_str()?.rsplit('+').next()?.parse().ok()
}

/// Reads one key from `<base>.private`, the `.state` beside it and, when
/// present, checks the `.key` file holds the same DNSKEY.
fn load_key(base: &Path, zone: &Name) -> Result<ZoneKey, KeyError> {
    let private = file(base, "private");
    let invalid = |message: String| KeyError::Invalid {
        path: private.clone(),
        message,
    };
    let text = std::fs::read_to_string(&private).map_err(|source| KeyError::Io {
        path: private.clone(),
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
    let state_path = file(base, "state");
    // A key without a state file is a key someone copied in by hand:
    // published and active, as keygen makes them, and a CSK.
    let state = read_state(base)?.unwrap_or(StateFile {
        published: true,
        active: true,
        role: KeyRole::Csk,
    });
    let role = state.role;
    let dnskey = dnskey_of(signing.as_ref(), role).map_err(invalid)?;
    let tag = dnskey
        .calculate_key_tag()
        .map_err(|e| invalid(e.to_string()))?;
    if let Some(named) = tag_in_name(base)
        && named != tag
    {
        return Err(KeyError::Invalid {
            path: state_path,
            message: format!(
                "role = \"{role}\" gives the key flags {} and tag {tag}, but its files are named \
                 for tag {named}: a zsk cannot become a ksk or csk, nor the reverse (only csk and \
                 ksk swap); restore the role it was made with",
                role.flags()
            ),
        });
    }
    check_key_file(base, &dnskey)?;
    if state.active && !state.published {
        return Err(KeyError::Invalid {
            path: state_path,
            message: "an active key must be published (published = true)".into(),
        });
    }
    Ok(ZoneKey {
        zone: zone.to_lowercase(),
        dnskey,
        role,
        tag,
        state: KeyState {
            published: state.published,
            active: state.active,
        },
        base: base.to_path_buf(),
        signing,
    })
}

/// The `.key` file, when there is one, must hold the DNSKEY the private
/// key and role make: operators take trust anchors from it, so a stale or
/// swapped one would mislead them.
fn check_key_file(base: &Path, dnskey: &DNSKEY) -> Result<(), KeyError> {
    let path = file(base, "key");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(KeyError::Io { path, source }),
    };
    let invalid = |message: String| KeyError::Invalid {
        path: path.clone(),
        message,
    };
    let record = text
        .lines()
        .map(|l| l.split(';').next().unwrap_or(""))
        .find(|l| {
            l.split_whitespace()
                .any(|w| w.eq_ignore_ascii_case("DNSKEY"))
        })
        .ok_or_else(|| invalid("no DNSKEY record".into()))?;
    let rdata: Vec<&str> = record
        .split_whitespace()
        .skip_while(|w| !w.eq_ignore_ascii_case("DNSKEY"))
        .skip(1)
        .collect();
    let flags: Option<u16> = rdata.first().and_then(|f| f.parse().ok());
    let public = rdata
        .get(3..)
        .and_then(|parts| BASE64.decode(parts.concat()).ok());
    let (Some(flags), Some(public)) = (flags, public) else {
        return Err(invalid(
            "not a DNSKEY record (flags 3 algorithm base64)".into(),
        ));
    };
    if public != dnskey.public_key().public_bytes() {
        return Err(invalid(
            "holds another public key than the .private file beside it".into(),
        ));
    }
    if flags != dnskey.flags() {
        return Err(invalid(format!(
            "says flags {flags} but the key's role in its .state file gives flags {}",
            dnskey.flags()
        )));
    }
    Ok(())
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

    #[test]
    fn roles_set_flags_and_survive_a_load() {
        let dir = tempfile::tempdir().unwrap();
        let zone = Name::from_str("example.com.").unwrap();
        let alg = KeyAlgorithm::Ecdsap256sha256;
        let mut made = Vec::new();
        for role in [KeyRole::Csk, KeyRole::Ksk, KeyRole::Zsk] {
            let key = generate_with_role(dir.path(), &zone, alg, role, false).unwrap();
            assert_eq!(key.dnskey.flags(), role.flags());
            assert_eq!(key.dnskey.secure_entry_point(), role != KeyRole::Zsk);
            assert!(key.dnskey.zone_key());
            let state = std::fs::read_to_string(file(&key.base, "state")).unwrap();
            assert!(state.contains(&format!("role = \"{role}\"")), "{state}");
            made.push((key.tag, role));
        }
        assert_eq!(KeyRole::Csk.flags(), 257);
        assert_eq!(KeyRole::Ksk.flags(), 257);
        assert_eq!(KeyRole::Zsk.flags(), 256);
        let loaded = load_zone(dir.path(), &zone).unwrap();
        for (tag, role) in made {
            let key = loaded.iter().find(|k| k.tag == tag).unwrap();
            assert_eq!(key.role, role);
            assert_eq!(key.dnskey.flags(), role.flags());
        }
        assert_eq!("ZSK".parse::<KeyRole>(), Ok(KeyRole::Zsk));
        assert!("kzk".parse::<KeyRole>().is_err());
    }

    #[test]
    fn a_state_file_without_role_is_a_csk() {
        let dir = tempfile::tempdir().unwrap();
        let zone = Name::from_str("example.com.").unwrap();
        let key = generate(dir.path(), &zone, KeyAlgorithm::Ed25519, false).unwrap();
        // The format written before roles existed.
        std::fs::write(
            file(&key.base, "state"),
            "# published: in the DNSKEY RRset; active: signs the zone's data\npublished = true\nactive = true\n",
        )
        .unwrap();
        let loaded = load_zone(dir.path(), &zone).unwrap();
        assert_eq!(loaded[0].role, KeyRole::Csk);
        assert_eq!(loaded[0].tag, key.tag);
        assert_eq!(loaded[0].dnskey.flags(), 257);
    }

    #[test]
    fn csk_and_ksk_swap_but_a_zsk_stays_a_zsk() {
        let dir = tempfile::tempdir().unwrap();
        let zone = Name::from_str("example.com.").unwrap();
        let alg = KeyAlgorithm::Ecdsap256sha256;
        let csk = generate(dir.path(), &zone, alg, false).unwrap();
        let state = KeyState {
            published: true,
            active: true,
        };
        // CSK to KSK: same flags, same tag, same files.
        write_state(&csk.base, &state, KeyRole::Ksk).unwrap();
        let loaded = load_zone(dir.path(), &zone).unwrap();
        assert_eq!((loaded[0].tag, loaded[0].role), (csk.tag, KeyRole::Ksk));
        let zsk = generate_with_role(dir.path(), &zone, alg, KeyRole::Zsk, false).unwrap();
        // A ZSK's role line lost (or edited): its tag no longer matches.
        std::fs::write(
            file(&zsk.base, "state"),
            "published = true\nactive = true\n",
        )
        .unwrap();
        let err = load_zone(dir.path(), &zone).unwrap_err().to_string();
        assert!(
            err.contains(&format!("named for tag {}", zsk.tag)) && err.contains(".state"),
            "{err}"
        );
    }

    #[test]
    fn an_active_key_with_missing_or_mismatched_files_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let zone = Name::from_str("example.com.").unwrap();
        let alg = KeyAlgorithm::Ecdsap256sha256;
        let key = generate_with_role(dir.path(), &zone, alg, KeyRole::Ksk, false).unwrap();
        let other = generate(dir.path(), &zone, alg, false).unwrap();
        // A .key file holding another key.
        let theirs = std::fs::read_to_string(file(&other.base, "key")).unwrap();
        let ours = std::fs::read_to_string(file(&key.base, "key")).unwrap();
        std::fs::write(file(&key.base, "key"), &theirs).unwrap();
        let err = load_zone(dir.path(), &zone).unwrap_err().to_string();
        assert!(err.contains("another public key"), "{err}");
        // A .key file saying ZSK flags for a KSK.
        std::fs::write(file(&key.base, "key"), ours.replacen(" 257 ", " 256 ", 1)).unwrap();
        let err = load_zone(dir.path(), &zone).unwrap_err().to_string();
        assert!(err.contains("flags 256"), "{err}");
        std::fs::write(file(&key.base, "key"), &ours).unwrap();
        assert_eq!(load_zone(dir.path(), &zone).unwrap().len(), 2);
        // The private key file gone while .state says active.
        let private = file(&key.base, "private");
        let saved = std::fs::read(&private).unwrap();
        std::fs::remove_file(&private).unwrap();
        let err = load_zone(dir.path(), &zone).unwrap_err().to_string();
        assert!(
            err.contains("missing") && err.contains("active") && err.contains(&key.file_name()),
            "{err}"
        );
        // ...but making its replacement is not blocked by it.
        let replacement = generate_with_role(dir.path(), &zone, alg, KeyRole::Ksk, true).unwrap();
        assert_ne!(replacement.tag, key.tag);
        // Published only: still refused (it is in the DNSKEY RRset).
        write_state(
            &key.base,
            &KeyState {
                published: true,
                active: false,
            },
            KeyRole::Ksk,
        )
        .unwrap();
        let err = load_zone(dir.path(), &zone).unwrap_err().to_string();
        assert!(err.contains("published"), "{err}");
        // Retired: its leftovers are fine.
        write_state(
            &key.base,
            &KeyState {
                published: false,
                active: false,
            },
            KeyRole::Ksk,
        )
        .unwrap();
        assert_eq!(load_zone(dir.path(), &zone).unwrap().len(), 2);
        // An unreadable private key file is an error, not a skipped key.
        std::fs::write(&private, &saved).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&private).is_err() {
            // (root reads it anyway: nothing to test then)
            let err = load_zone(dir.path(), &zone).unwrap_err().to_string();
            assert!(err.contains(&key.file_name()), "{err}");
        }
    }
}
