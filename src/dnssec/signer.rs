//! Making RRSIGs: one per signing key over an RRset, in the canonical
//! form of RFC 4034 §6 (hickory-proto's `TBS`), with ring doing the
//! arithmetic.

use std::sync::Arc;

use hickory_proto::dnssec::TBS;
use hickory_proto::dnssec::rdata::sig::SigInput;
use hickory_proto::dnssec::rdata::{DNSSECRData, RRSIG};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use super::keys::ZoneKey;

/// Signature lifetimes, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Validity from signing.
    pub validity: u32,
    /// Signatures with less than this left are made again.
    pub refresh: u32,
    /// Inception this far before now.
    pub backdate: u32,
}

/// The RRSIGs over one RRset, and when the first of them expires.
#[derive(Debug, Clone, Default)]
pub struct Sig {
    /// RRSIG records, owned by the RRset's (lower-cased) owner.
    pub rrsigs: Vec<Record>,
    /// Earliest signature expiration (seconds since the epoch, as u32).
    pub expires: u32,
    /// The same RRSIGs in wire form, each owned by a pointer to the
    /// question name (offset 12), for the fast path to copy as they are.
    pub wire: Box<[u8]>,
}

impl Sig {
    /// True while every signature has at least `refresh` seconds left.
    pub fn fresh(&self, now: u32, refresh: u32) -> bool {
        self.expires.wrapping_sub(now) as i32 > refresh as i32
    }
}

/// Signs RRsets of one zone with its keys.
#[derive(Debug)]
pub struct ZoneSigner {
    /// The zone apex (signer name), lower-cased.
    pub origin: Name,
    /// Every key read for the zone.
    pub keys: Arc<[ZoneKey]>,
    /// Lifetimes.
    pub timing: Timing,
}

/// The key RRsets at the apex (DNSKEY, CDS, CDNSKEY): signed by every
/// published key able to sign keys (KSK, CSK), so that a DS at the parent
/// naming any published KSK or CSK validates the zone's keys, which is
/// what the `parent_ds` check relies on. Everything else is signed by the
/// active zone-signing keys (ZSK, CSK).
pub fn is_key_rrset(rtype: RecordType) -> bool {
    matches!(
        rtype,
        RecordType::DNSKEY | RecordType::CDS | RecordType::CDNSKEY
    )
}

/// Whether `key` signs RRsets of type `rtype` (see [`is_key_rrset`]).
pub fn signs(key: &ZoneKey, rtype: RecordType) -> bool {
    if is_key_rrset(rtype) {
        key.state.published && key.role.signs_keys()
    } else {
        key.state.active && key.role.signs_zone()
    }
}

impl ZoneSigner {
    /// RRSIGs over the RRset `owner`/`rtype` holding `rdatas`, with TTL
    /// `ttl`, signed at `now` (seconds since the epoch). `owner` may be a
    /// wildcard (`*.…`): the label count then leaves the `*` out, per RFC
    /// 4034 §3.1.3. `jitter` (0..=1) spreads expirations so they do not
    /// all fall due together.
    pub fn sign<'a>(
        &self,
        owner: &Name,
        rtype: RecordType,
        ttl: u32,
        rdatas: impl Iterator<Item = &'a RData>,
        now: u32,
        jitter: f32,
    ) -> Sig {
        let owner = owner.to_lowercase();
        let records: Vec<Record> = rdatas
            .map(|d| Record::from_rdata(owner.clone(), ttl, d.clone()))
            .collect();
        let inception = now.wrapping_sub(self.timing.backdate);
        let spread = (self.timing.validity - self.timing.refresh) / 4;
        let expiration = now
            .wrapping_add(self.timing.validity)
            .wrapping_sub((spread as f32 * jitter.clamp(0.0, 1.0)) as u32);
        let mut rrsigs = Vec::new();
        for key in self.keys.iter() {
            if !signs(key, rtype) {
                continue;
            }
            let input = SigInput {
                type_covered: rtype,
                algorithm: key.algorithm(),
                num_labels: owner.num_labels(),
                original_ttl: ttl,
                sig_expiration: SerialNumber::new(expiration),
                sig_inception: SerialNumber::new(inception),
                key_tag: key.tag,
                signer_name: self.origin.clone(),
            };
            let Ok(tbs) = TBS::from_input(&owner, DNSClass::IN, &input, records.iter()) else {
                continue;
            };
            // ring fails only on a broken key, which loading rejected.
            let Ok(signature) = key.signing.sign(&tbs) else {
                continue;
            };
            let rrsig = RRSIG::from_sig(input, signature);
            rrsigs.push(Record::from_rdata(
                owner.clone(),
                ttl,
                RData::DNSSEC(DNSSECRData::RRSIG(rrsig)),
            ));
        }
        Sig {
            wire: wire(&rrsigs),
            rrsigs,
            expires: expiration,
        }
    }
}

/// RRSIG records in wire form, each owner a pointer to offset 12 (the
/// question name), the signer name uncompressed (RFC 4034 §3.1.7).
fn wire(rrsigs: &[Record]) -> Box<[u8]> {
    let mut out = Vec::new();
    for record in rrsigs {
        let mut rdata = Vec::new();
        let mut encoder = BinEncoder::new(&mut rdata);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        if record.data.emit(&mut encoder).is_err() {
            continue;
        }
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&u16::from(RecordType::RRSIG).to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&record.ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    out.into_boxed_slice()
}

/// The lookup key of an RRset's signatures: lower-cased owner in wire
/// form, type, then each RDATA in canonical form (RFC 4034 §6.2),
/// length-prefixed and sorted (§6.3). TTL is left out: an RRset served
/// with a lower TTL (the SOA of a negative answer) keeps its signature.
pub fn rrset_key<'a>(
    owner: &Name,
    rtype: RecordType,
    rdatas: impl Iterator<Item = &'a RData>,
) -> Box<[u8]> {
    let mut parts: Vec<Vec<u8>> = rdatas
        .map(|d| {
            let mut buf = Vec::new();
            let mut encoder = BinEncoder::new(&mut buf);
            encoder.set_canonical_form(true);
            let _ = d.emit(&mut encoder);
            buf
        })
        .collect();
    parts.sort();
    parts.dedup();
    let mut key = owner_key(owner);
    key.extend_from_slice(&u16::from(rtype).to_be_bytes());
    for part in parts {
        key.extend_from_slice(&(part.len() as u16).to_be_bytes());
        key.extend_from_slice(&part);
    }
    key.into_boxed_slice()
}

/// Lower-cased wire form of `name`: the zone store's name key.
pub fn owner_key(name: &Name) -> Vec<u8> {
    crate::zone::store::wire_lower(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyAlgorithm;
    use hickory_proto::dnssec::Verifier;
    use hickory_proto::rr::rdata::A;
    use std::str::FromStr;

    #[test]
    fn signatures_verify_and_wildcards_leave_the_star_out() {
        let dir = tempfile::tempdir().unwrap();
        let origin = Name::from_str("example.com.").unwrap();
        for alg in [KeyAlgorithm::Ecdsap256sha256, KeyAlgorithm::Ed25519] {
            super::super::keys::generate(dir.path(), &origin, alg, false).unwrap();
        }
        let keys = super::super::keys::load_zone(dir.path(), &origin).unwrap();
        let signer = ZoneSigner {
            origin: origin.clone(),
            keys: keys.into(),
            timing: Timing {
                validity: 14 * 86_400,
                refresh: 7 * 86_400,
                backdate: 3600,
            },
        };
        let rdatas = [
            RData::A(A::new(192, 0, 2, 1)),
            RData::A(A::new(192, 0, 2, 2)),
        ];
        for (owner, labels) in [("WWW.example.com.", 3), ("*.apps.example.com.", 3)] {
            let owner = Name::from_str(owner).unwrap();
            let sig = signer.sign(
                &owner,
                RecordType::A,
                300,
                rdatas.iter(),
                1_800_000_000,
                1.0,
            );
            // One signature per active key (both algorithms here).
            assert_eq!(sig.rrsigs.len(), 2);
            let records: Vec<Record> = rdatas
                .iter()
                .rev() // order does not matter: the signed form is canonical
                .map(|d| Record::from_rdata(owner.to_lowercase(), 300, d.clone()))
                .collect();
            for rrsig in &sig.rrsigs {
                let RData::DNSSEC(DNSSECRData::RRSIG(data)) = &rrsig.data else {
                    panic!("not an RRSIG");
                };
                assert_eq!(data.input().num_labels, labels);
                assert_eq!(data.input().sig_inception.get(), 1_800_000_000 - 3600);
                assert!(sig.expires <= 1_800_000_000 + 14 * 86_400);
                assert!(sig.fresh(1_800_000_000, 7 * 86_400));
                let key = signer
                    .keys
                    .iter()
                    .find(|k| k.tag == data.input().key_tag)
                    .unwrap();
                key.dnskey
                    .verify_rrsig(&owner, DNSClass::IN, data, records.iter())
                    .unwrap();
                // A changed RRset fails.
                let other = [Record::from_rdata(
                    owner.clone(),
                    300,
                    RData::A(A::new(192, 0, 2, 9)),
                )];
                assert!(
                    key.dnskey
                        .verify_rrsig(&owner, DNSClass::IN, data, other.iter())
                        .is_err()
                );
            }
        }
        // Keys by content: order and case of RDATA and owner do not matter.
        let a = rrset_key(
            &Name::from_str("WWW.example.com.").unwrap(),
            RecordType::A,
            rdatas.iter(),
        );
        let b = rrset_key(
            &Name::from_str("www.example.com.").unwrap(),
            RecordType::A,
            rdatas.iter().rev(),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn ksks_sign_the_key_rrsets_and_zsks_the_rest() {
        use super::super::keys::{KeyRole, generate_with_role, load_zone};
        let dir = tempfile::tempdir().unwrap();
        let origin = Name::from_str("example.com.").unwrap();
        let alg = KeyAlgorithm::Ecdsap256sha256;
        let make = |role: KeyRole, active: bool| {
            generate_with_role(dir.path(), &origin, alg, role, !active)
                .unwrap()
                .tag
        };
        let csk = make(KeyRole::Csk, true);
        let ksk = make(KeyRole::Ksk, true);
        let next_ksk = make(KeyRole::Ksk, false);
        let zsk = make(KeyRole::Zsk, true);
        let next_zsk = make(KeyRole::Zsk, false);
        let signer = ZoneSigner {
            origin: origin.clone(),
            keys: load_zone(dir.path(), &origin).unwrap().into(),
            timing: Timing {
                validity: 14 * 86_400,
                refresh: 7 * 86_400,
                backdate: 3600,
            },
        };
        let tags = |rtype: RecordType| {
            let data = RData::A(A::new(192, 0, 2, 1));
            let sig = signer.sign(&origin, rtype, 300, [&data].into_iter(), 1_800_000_000, 0.0);
            let mut tags: Vec<u16> = sig
                .rrsigs
                .iter()
                .filter_map(|r| match &r.data {
                    RData::DNSSEC(DNSSECRData::RRSIG(s)) => Some(s.input().key_tag),
                    _ => None,
                })
                .collect();
            tags.sort();
            tags
        };
        let sorted = |mut v: Vec<u16>| {
            v.sort();
            v
        };
        // Data: the active CSK and ZSK; never a KSK, never a pre-published ZSK.
        for rtype in [
            RecordType::A,
            RecordType::SOA,
            RecordType::NSEC,
            RecordType::DS,
        ] {
            assert_eq!(tags(rtype), sorted(vec![csk, zsk]), "{rtype}");
        }
        // Key RRsets: every published KSK and CSK, no ZSK.
        for rtype in [RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY] {
            assert_eq!(tags(rtype), sorted(vec![csk, ksk, next_ksk]), "{rtype}");
        }
        assert!(!tags(RecordType::A).contains(&next_zsk));
    }
}
