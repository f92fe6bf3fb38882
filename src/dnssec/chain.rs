//! The checks that keep a signed zone's chain of trust whole, run by
//! `check`, every start and every reload before anything is signed: the
//! keys must be able to sign both the key RRsets and the data, and the DS
//! the parent holds (as the operator recorded it in `parent_ds`) must
//! still name a key that signs the DNSKEY RRset. Each finding is a
//! sentence naming the zone, the key files and what is missing.

use std::path::Path;

use hickory_proto::dnssec::Algorithm;
use hickory_proto::rr::Name;

use super::keys::{KeyRole, ZoneKey};
use crate::config::ParentDs;

/// `K…+tag (role, state)` for every key, or "none", for messages.
fn listing(keys: &[ZoneKey]) -> String {
    if keys.is_empty() {
        return "none".into();
    }
    keys.iter()
        .map(|k| {
            format!(
                "{} ({}, {})",
                k.file_name(),
                k.role,
                match (k.state.published, k.state.active) {
                    (_, true) => "active",
                    (true, false) => "published only",
                    (false, false) => "retired",
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// True when an active key of a role that signs data uses `algorithm`.
fn data_signed_with(keys: &[ZoneKey], algorithm: Algorithm) -> bool {
    keys.iter()
        .any(|k| k.state.active && k.role.signs_zone() && k.algorithm() == algorithm)
}

/// What is wrong with the keys of `origin` read from `key_dir`: no active
/// key that signs the DNSKEY RRset (KSK or CSK), no active key that signs
/// the data (ZSK or CSK), or an active KSK of an algorithm no active
/// ZSK/CSK signs the data with (a DS naming it would find the data
/// unsigned by its algorithm, RFC 4035 §2.2). Empty when all is well.
pub fn check_keys(origin: &Name, keys: &[ZoneKey], key_dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let dir = key_dir.display();
    if !keys.iter().any(|k| k.state.active && k.role.signs_keys()) {
        problems.push(format!(
            "zone {origin} is signed but {dir} holds no active key that can sign its DNSKEY RRset \
             (a ksk or csk); its keys: {}. Run `switchyard dnssec keygen {origin}` (a csk) or \
             `--role ksk`, or set active = true in a ksk's .state file",
            listing(keys)
        ));
    }
    if !keys.iter().any(|k| k.state.active && k.role.signs_zone()) {
        problems.push(format!(
            "zone {origin} is signed but {dir} holds no active key that can sign its data \
             (a zsk or csk); its keys: {}. Run `switchyard dnssec keygen {origin} --role zsk`, \
             or set active = true in a zsk's .state file",
            listing(keys)
        ));
    }
    for key in keys
        .iter()
        .filter(|k| k.state.active && k.role == KeyRole::Ksk)
    {
        if keys.iter().any(|k| k.state.active && k.role.signs_zone())
            && !data_signed_with(keys, key.algorithm())
        {
            problems.push(format!(
                "zone {origin}: the active ksk {} is algorithm {} but no active zsk or csk in {dir} \
                 signs the data with algorithm {}: a DS naming it would find the data unsigned \
                 by its algorithm (make a zsk of that algorithm active first)",
                key.file_name(),
                u8::from(key.algorithm()),
                u8::from(key.algorithm())
            ));
        }
    }
    problems
}

/// Why one DS of `parent_ds` carries no chain, or `None` when it does: it
/// names a published KSK or CSK (which signs the DNSKEY RRset) whose
/// algorithm the data is signed with.
fn why_not(ds: &ParentDs, keys: &[ZoneKey]) -> Option<String> {
    let named = keys
        .iter()
        .find(|k| k.matches_ds(ds.key_tag, ds.algorithm, ds.digest_type, &ds.digest));
    let Some(key) = named else {
        return Some(format!("{ds} (line {}) names no key here", ds.line));
    };
    if !key.state.published {
        return Some(format!(
            "{ds} (line {}) names {}, which is retired (published = false)",
            ds.line,
            key.file_name()
        ));
    }
    if !key.role.signs_keys() {
        return Some(format!(
            "{ds} (line {}) names {}, a zsk, which does not sign the DNSKEY RRset",
            ds.line,
            key.file_name()
        ));
    }
    if !data_signed_with(keys, key.algorithm()) {
        return Some(format!(
            "{ds} (line {}) names {}, of algorithm {}, but no active zsk or csk signs the data \
             with that algorithm",
            ds.line,
            key.file_name(),
            u8::from(key.algorithm())
        ));
    }
    None
}

/// Refuses keys that no DS of `parent_ds` names (a published KSK or CSK
/// whose algorithm signs the data): the parent would point nowhere and
/// validators would call the whole zone bogus. An empty `parent_ds` (the
/// parent has no DS yet) has nothing to break.
pub fn check_parent_ds(
    origin: &Name,
    keys: &[ZoneKey],
    parent_ds: &[ParentDs],
    key_dir: &Path,
) -> Result<(), String> {
    if parent_ds.is_empty() {
        return Ok(());
    }
    let mut reasons = Vec::new();
    for ds in parent_ds {
        match why_not(ds, keys) {
            // One DS that carries the chain is enough.
            None => return Ok(()),
            Some(reason) => reasons.push(reason),
        }
    }
    Err(format!(
        "zone {origin}: none of the DS records the parent holds (parent_ds) names a published \
         ksk or csk in {}: the chain of trust would break. {}. Keys there: {}. Keep publishing \
         the key a DS names (and signing with its algorithm), or update parent_ds once the \
         parent holds the new DS",
        key_dir.display(),
        reasons.join("; "),
        listing(keys)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{KeyAlgorithm, parse_ds};
    use crate::dnssec::keys::{self, KeyState};
    use std::str::FromStr;

    fn zone() -> Name {
        Name::from_str("example.com.").unwrap()
    }

    fn make(dir: &Path, alg: KeyAlgorithm, role: KeyRole, active: bool) -> u16 {
        keys::generate_with_role(dir, &zone(), alg, role, !active)
            .unwrap()
            .tag
    }

    fn load(dir: &Path) -> Vec<ZoneKey> {
        keys::load_zone(dir, &zone()).unwrap()
    }

    fn ds_of(keys: &[ZoneKey], tag: u16) -> ParentDs {
        let key = keys.iter().find(|k| k.tag == tag).unwrap();
        let line = key.ds_line().unwrap();
        parse_ds(&line, "example.com.", 3).unwrap()
    }

    fn set_state(keys: &[ZoneKey], tag: u16, published: bool, active: bool) {
        let key = keys.iter().find(|k| k.tag == tag).unwrap();
        keys::write_state(&key.base, &KeyState { published, active }, key.role).unwrap();
    }

    const ECDSA: KeyAlgorithm = KeyAlgorithm::Ecdsap256sha256;

    #[test]
    fn a_csk_alone_or_an_active_ksk_and_zsk_pass() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), ECDSA, KeyRole::Csk, true);
        assert!(check_keys(&zone(), &load(dir.path()), dir.path()).is_empty());
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), ECDSA, KeyRole::Ksk, true);
        make(dir.path(), ECDSA, KeyRole::Zsk, true);
        // A pre-published ZSK changes nothing.
        make(dir.path(), ECDSA, KeyRole::Zsk, false);
        assert!(check_keys(&zone(), &load(dir.path()), dir.path()).is_empty());
    }

    #[test]
    fn refuses_keys_without_an_active_ksk_or_csk() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), ECDSA, KeyRole::Zsk, true);
        // A published-only KSK signs the DNSKEY RRset but none is active.
        make(dir.path(), ECDSA, KeyRole::Ksk, false);
        let problems = check_keys(&zone(), &load(dir.path()), dir.path());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("no active key that can sign its DNSKEY RRset")
                && problems[0].contains("example.com.")
                && problems[0].contains("Kexample.com.+013+")
                && problems[0].contains("(ksk, published only)"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn refuses_keys_without_an_active_zsk_or_csk() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), ECDSA, KeyRole::Ksk, true);
        make(dir.path(), ECDSA, KeyRole::Zsk, false);
        let problems = check_keys(&zone(), &load(dir.path()), dir.path());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("no active key that can sign its data")
                && problems[0].contains("(zsk, published only)"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn refuses_an_active_ksk_whose_algorithm_signs_no_data() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), ECDSA, KeyRole::Ksk, true);
        let ed = make(dir.path(), KeyAlgorithm::Ed25519, KeyRole::Ksk, true);
        make(dir.path(), ECDSA, KeyRole::Zsk, true);
        let problems = check_keys(&zone(), &load(dir.path()), dir.path());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains(&format!("+015+{ed:05}")) && problems[0].contains("algorithm 15"),
            "{}",
            problems[0]
        );
        // An Ed25519 ZSK beside it fixes it.
        make(dir.path(), KeyAlgorithm::Ed25519, KeyRole::Zsk, true);
        assert!(check_keys(&zone(), &load(dir.path()), dir.path()).is_empty());
    }

    #[test]
    fn parent_ds_must_name_a_published_ksk_or_csk() {
        let dir = tempfile::tempdir().unwrap();
        let ksk = make(dir.path(), ECDSA, KeyRole::Ksk, true);
        let zsk = make(dir.path(), ECDSA, KeyRole::Zsk, true);
        let keys = load(dir.path());
        let ksk_ds = ds_of(&keys, ksk);
        // The ZSK's DS, as an operator might wrongly submit it.
        let key = keys.iter().find(|k| k.tag == zsk).unwrap();
        let zsk_ds = parse_ds(&key.ds_line().unwrap(), "example.com.", 4).unwrap();
        assert!(check_parent_ds(&zone(), &keys, std::slice::from_ref(&ksk_ds), dir.path()).is_ok());
        assert!(
            check_parent_ds(
                &zone(),
                &keys,
                &[zsk_ds.clone(), ksk_ds.clone()],
                dir.path()
            )
            .is_ok()
        );
        assert!(check_parent_ds(&zone(), &keys, &[], dir.path()).is_ok());
        let err = check_parent_ds(&zone(), &keys, &[zsk_ds], dir.path()).unwrap_err();
        assert!(
            err.contains("a zsk, which does not sign the DNSKEY RRset")
                && err.contains("line 4")
                && err.contains("chain of trust would break"),
            "{err}"
        );
        // A DS for a key that is not there at all (a new KSK made, the old
        // one deleted, the parent not told).
        let mut stray = ksk_ds.clone();
        stray.digest[0] ^= 0xff;
        let err = check_parent_ds(&zone(), &keys, &[stray], dir.path()).unwrap_err();
        assert!(err.contains("names no key here"), "{err}");
        // The KSK retired while the parent still names only it.
        set_state(&keys, ksk, false, false);
        let keys = load(dir.path());
        let err = check_parent_ds(&zone(), &keys, &[ksk_ds], dir.path()).unwrap_err();
        assert!(err.contains("retired"), "{err}");
    }

    #[test]
    fn parent_ds_of_a_ksk_whose_algorithm_signs_no_data_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), ECDSA, KeyRole::Ksk, true);
        make(dir.path(), ECDSA, KeyRole::Zsk, true);
        let ed = make(dir.path(), KeyAlgorithm::Ed25519, KeyRole::Ksk, false);
        let keys = load(dir.path());
        let err = check_parent_ds(&zone(), &keys, &[ds_of(&keys, ed)], dir.path()).unwrap_err();
        assert!(err.contains("algorithm 15"), "{err}");
    }
}
