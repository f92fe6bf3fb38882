//! The answer hook: what the full path's DO answers get from the signing
//! state (RRSIGs over every RRset, DNSKEY/CDS/CDNSKEY at a signed apex,
//! compact-denial NSECs, wildcard proofs, the DS or no-DS proof at a
//! referral). The signatures themselves are made at load and publish
//! ([`super::Dnssec`]) or on first use into the shared cache.

use std::collections::BTreeSet;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::signer::{Sig, rrset_key};
use super::{APEX_TYPES, SignedZone, Signing, denial, epoch, wildcard};
use crate::traffic::TrafficPlan;
use crate::zone::{Zone, ZoneSet};

/// The zone that answers `owner`/`rtype`: the parent for a DS at a cut
/// when both sides are served (RFC 4035 §3.1.4.1), as the lookup does.
fn zone_for<'z>(zones: &'z ZoneSet, owner: &Name, rtype: RecordType) -> Option<&'z Arc<Zone>> {
    let zone = zones.find(owner)?;
    if rtype == RecordType::DS
        && zone.origin == *owner
        && !owner.is_root()
        && let Some(parent) = zones.find(&owner.base_name())
        && parent.node(owner).is_some_and(|n| n.is_cut())
    {
        return Some(parent);
    }
    Some(zone)
}

/// The response sections [`apply`] edits.
pub struct Response<'a> {
    /// Response code (NXDOMAIN becomes NOERROR under compact denial).
    pub rcode: &'a mut ResponseCode,
    /// Answer section.
    pub answers: &'a mut Vec<Record>,
    /// Authority section.
    pub authority: &'a mut Vec<Record>,
}

impl Signing {
    /// The pre-signed signatures of a managed answer, by RRset key (the
    /// fast path builds the key on the stack: no allocation).
    pub fn managed_sig(&self, key: &[u8]) -> Option<&Sig> {
        self.managed.get(key).map(|s| &**s)
    }

    /// The pre-signed signatures of a static RRset of the zone `origin`.
    pub fn static_sig(&self, origin: &Name, key: &[u8]) -> Option<&Sig> {
        self.load.zone(origin)?.statics.get(key).map(|s| &**s)
    }

    /// Refresh threshold in seconds: a signature with less left is not
    /// served from a template.
    pub fn refresh_secs(&self) -> u32 {
        self.load.refresh
    }

    /// True when nothing is signed (the common, free case).
    pub fn is_empty(&self) -> bool {
        self.load.is_empty()
    }

    /// The signatures of an RRset: pre-signed (static or managed) when
    /// fresh, else from the cache or made now and cached.
    fn sig_for(
        &self,
        signed: &SignedZone,
        owner: &Name,
        rtype: RecordType,
        ttl: u32,
        rdatas: &[&RData],
        now: u32,
    ) -> Arc<Sig> {
        let key = rrset_key(owner, rtype, rdatas.iter().copied());
        let refresh = self.load.refresh;
        for found in [signed.statics.get(&key), self.managed.get(&key)]
            .into_iter()
            .flatten()
        {
            if found.fresh(now, refresh) {
                return found.clone();
            }
        }
        if let Some(found) = self.load.cache.get(&key)
            && found.fresh(now, refresh)
        {
            return found;
        }
        let sig = Arc::new(signed.signer.sign(
            owner,
            rtype,
            ttl,
            rdatas.iter().copied(),
            now,
            fastrand::f32(),
        ));
        self.load.cache.put(key, sig.clone());
        sig
    }

    /// A DO query for NSEC or RRSIG at a name that exists (not through a
    /// wildcard) is answered, not denied: with compact denial every such
    /// name owns an NSEC (the one its NODATA answers carry: owner the
    /// name, its real types plus RRSIG and NSEC) and the RRSIGs over its
    /// RRsets, so a NODATA whose NSEC lists the type asked would
    /// contradict itself (RFC 4035 §3.1.3.1). NSEC: that NSEC RRset (signed
    /// below like any answer). RRSIG: the signatures of the name's zone
    /// RRsets, the server's apex RRsets and that NSEC (RRSIGs are not
    /// themselves signed); a managed name's policy answers change per
    /// query and are left out. Without DO the answer stays NODATA.
    fn answer_dnssec_types(
        &self,
        zones: &ZoneSet,
        plan: &TrafficPlan,
        qname: &Name,
        qtype: RecordType,
        response: &mut Response<'_>,
        now: u32,
    ) {
        if !matches!(qtype, RecordType::NSEC | RecordType::RRSIG)
            || !response.answers.is_empty()
            || *response.rcode != ResponseCode::NoError
            || !response
                .authority
                .iter()
                .any(|r| r.record_type() == RecordType::SOA)
        {
            return;
        }
        let lower = qname.to_lowercase();
        let Some(zone) = zones.find(&lower) else {
            return;
        };
        let Some(signed) = self.load.zone(&zone.origin) else {
            return;
        };
        let apex: &[RecordType] = &APEX_TYPES;
        if wildcard::expansion(zone, plan, &lower).is_some() {
            return;
        }
        let Some(types) = denial::types_at(zone, plan, &lower, apex) else {
            return;
        };
        let nsec = Record::from_rdata(
            qname.clone(),
            zone.negative_ttl,
            denial::nsec(&lower, types),
        );
        response.authority.clear();
        if qtype == RecordType::NSEC {
            response.answers.push(nsec);
            return;
        }
        let mut sets: Vec<(RecordType, u32, Vec<RData>)> = Vec::new();
        if let Some(node) = zone.node(&lower) {
            sets.extend(
                node.rrsets()
                    .map(|set| (set.rtype(), set.ttl(), set.rdatas().collect())),
            );
        }
        if lower == zone.origin {
            sets.extend(signed.apex.iter().filter_map(|(rtype, records)| {
                let ttl = records.first()?.ttl;
                Some((
                    *rtype,
                    ttl,
                    records.iter().map(|r| r.data.clone()).collect(),
                ))
            }));
        }
        sets.push((RecordType::NSEC, nsec.ttl, vec![nsec.data.clone()]));
        for (rtype, ttl, rdatas) in sets {
            let rdatas: Vec<&RData> = rdatas.iter().collect();
            let sig = self.sig_for(signed, &lower, rtype, ttl, &rdatas, now);
            response.answers.extend(sig.rrsigs.iter().map(|r| {
                let mut r = r.clone();
                r.name = qname.clone();
                r.ttl = ttl;
                r
            }));
        }
    }

    /// Appends the RRSIGs of every RRset in `records` after it (owner as
    /// served, TTL as served), skipping RRsets of unsigned zones and the
    /// NS RRsets of referrals (unsigned by definition, RFC 4035 §2.2).
    /// With `wildcards` (the answer section), an RRset a wildcard
    /// synthesised gets the wildcard RRset's signature (RFC 4035
    /// §3.1.3.3), and its expansion is noted for the proof.
    fn sign_section(
        &self,
        zones: &ZoneSet,
        records: &mut Vec<Record>,
        skip_ns: bool,
        now: u32,
        mut wildcards: Option<(&TrafficPlan, &mut Vec<wildcard::Expansion>)>,
    ) {
        let mut out = Vec::with_capacity(records.len() * 2);
        let mut i = 0;
        while i < records.len() {
            let first = &records[i];
            let owner = first.name.to_lowercase();
            let rtype = first.record_type();
            let mut end = i + 1;
            while end < records.len()
                && records[end].record_type() == rtype
                && records[end].name.eq_case(&first.name)
            {
                end += 1;
            }
            let set = &records[i..end];
            out.extend_from_slice(set);
            let skip = rtype == RecordType::RRSIG || (skip_ns && rtype == RecordType::NS);
            if !skip
                && let Some(zone) = zone_for(zones, &owner, rtype)
                && let Some(signed) = self.load.zone(&zone.origin)
            {
                let rdatas: Vec<&RData> = set.iter().map(|r| &r.data).collect();
                let ttl = set.iter().map(|r| r.ttl).min().unwrap_or(0);
                // A synthesised RRset is signed as the wildcard's (made at
                // load): the same signature for every name it answers.
                let expansion = match wildcards.as_mut() {
                    Some((plan, found)) if rtype != RecordType::NSEC => {
                        wildcard::expansion(zone, plan, &owner).inspect(|e| {
                            if !found.iter().any(|f| f.next_closer == e.next_closer) {
                                found.push(e.clone());
                            }
                        })
                    }
                    _ => None,
                };
                let signed_as = expansion.as_ref().map_or(&owner, |e| &e.wildcard);
                let sig = self.sig_for(signed, signed_as, rtype, ttl, &rdatas, now);
                out.extend(sig.rrsigs.iter().map(|r| {
                    let mut r = r.clone();
                    r.name = set[0].name.clone();
                    r.ttl = ttl;
                    r
                }));
            }
            i = end;
        }
        *records = out;
    }
}

/// Serves DNSKEY, CDS and CDNSKEY at a signed apex (whatever the DO bit)
/// and, for a query with DO, adds RRSIGs to every RRset and the proofs of
/// nonexistence: a compact-denial NSEC for NXDOMAIN (which becomes NOERROR,
/// RFC 9824) and NODATA, the DS or an NSEC proving there is none at a
/// referral. Does nothing for unsigned zones.
pub fn apply(
    signing: &Signing,
    zones: &ZoneSet,
    plan: &TrafficPlan,
    qname: &Name,
    qtype: RecordType,
    dnssec_ok: bool,
    mut response: Response<'_>,
) {
    if signing.is_empty() {
        return;
    }
    let lower = qname.to_lowercase();
    if APEX_TYPES.contains(&qtype)
        && response.answers.is_empty()
        && *response.rcode == ResponseCode::NoError
        && let Some(signed) = signing.load.zone(&lower)
        && let Some(set) = signed.apex_rrset(qtype)
        && !set.is_empty()
    {
        response.answers.extend(set.iter().map(|r| {
            let mut r = r.clone();
            r.name = qname.clone();
            r
        }));
        response.authority.clear();
    }
    if !dnssec_ok {
        return;
    }
    let now = epoch(crate::clock::now());
    signing.answer_dnssec_types(zones, plan, qname, qtype, &mut response, now);
    let mut expansions = Vec::new();
    signing.sign_section(
        zones,
        response.answers,
        false,
        now,
        Some((plan, &mut expansions)),
    );
    // The name a negative answer or referral is about: the end of any CNAME chain.
    let mut denied = lower.clone();
    for _ in 0..16 {
        let next = response.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if r.name.to_lowercase() == denied => {
                Some(target.0.to_lowercase())
            }
            _ => None,
        });
        match next {
            Some(next) => denied = next,
            None => break,
        }
    }
    let negative = response
        .authority
        .iter()
        .any(|r| r.record_type() == RecordType::SOA);
    let cut = response
        .authority
        .iter()
        .find(|r| r.record_type() == RecordType::NS)
        .map(|r| r.name.to_lowercase());
    let mut proof: Vec<Record> = Vec::new();
    if negative
        && let Some(zone) = zone_for(zones, &denied, qtype)
        && signing.load.zone(&zone.origin).is_some()
    {
        let wildcard_nodata = match *response.rcode {
            ResponseCode::NXDomain => None,
            _ => wildcard::expansion(zone, plan, &denied)
                .and_then(|e| wildcard::wildcard_nsec(zone, &e.wildcard).map(|nsec| (e, nsec))),
        };
        let types: BTreeSet<RecordType> = if *response.rcode == ResponseCode::NXDomain {
            *response.rcode = ResponseCode::NoError;
            [denial::NXNAME].into()
        } else if let Some((expansion, nsec)) = wildcard_nodata {
            // Wildcard NODATA (RFC 4035 §3.1.3.4): the wildcard's own NSEC
            // (made at load) shows the type is not there; the next closer
            // name's proof follows below.
            proof.push(Record::from_rdata(
                expansion.wildcard.clone(),
                zone.negative_ttl,
                nsec,
            ));
            if !expansions
                .iter()
                .any(|e| e.next_closer == expansion.next_closer)
            {
                expansions.push(expansion);
            }
            BTreeSet::new()
        } else {
            let apex: &[RecordType] = &APEX_TYPES;
            let mut types = denial::types_at(zone, plan, &denied, apex).unwrap_or_default();
            types.remove(&qtype);
            types.remove(&RecordType::CNAME);
            types
        };
        if proof.is_empty() {
            proof.push(Record::from_rdata(
                denied.clone(),
                zone.negative_ttl,
                denial::nsec(&denied, types),
            ));
        }
    } else if let Some(cut) = cut
        && let Some(zone) = zones.find(&cut)
        && zone.origin != cut
        && signing.load.zone(&zone.origin).is_some()
        && let Some(node) = zone.node(&cut)
    {
        // Only referrals put NS in the authority section: the DS if the
        // child is signed, else an NSEC showing the cut has no DS (the
        // child is insecure).
        match node.get(RecordType::DS) {
            Some(ds) => ds.push_records(&cut, &mut proof),
            None => {
                let types = node
                    .rrsets()
                    .map(|s| s.rtype())
                    .filter(|t| *t != RecordType::DS);
                proof.push(Record::from_rdata(
                    cut.clone(),
                    zone.negative_ttl,
                    denial::nsec_at_cut(&cut, types),
                ));
            }
        }
    }
    // Every wildcard answer's proof that the next closer name does not
    // exist: one minimally covering NSEC each, signed per name (cache).
    for expansion in &expansions {
        if let Some(zone) = zones.find(&expansion.encloser) {
            proof.push(Record::from_rdata(
                expansion.before.clone(),
                zone.negative_ttl,
                wildcard::covering_nsec(expansion),
            ));
        }
    }
    response.authority.extend(proof);
    signing.sign_section(zones, response.authority, true, now, None);
}
