//! Online DNSSEC signing, done when data is loaded and published rather
//! than per query.
//!
//! - `keys`: key files (one key per file set, ECDSA P-256 or Ed25519, in
//!   the role CSK, KSK or ZSK), key tags, DS/CDS/CDNSKEY,
//!   `published`/`active` state.
//! - `chain`: the checks that keep the chain of trust whole (keys able to
//!   sign keys and data, the parent's DS naming a published KSK/CSK).
//! - `signer`: RRSIGs over an RRset with a zone's keys, and the RRset key
//!   signatures are looked up by (owner, type, canonical RDATA).
//! - `denial`: compact denial of existence (RFC 9824) and type bitmaps.
//! - `wildcard`: wildcard answers in RFC 4035 form (the wildcard's own
//!   signature, and a minimally covering NSEC for the next closer name).
//! - `cache`: the bounded shared cache of signatures made on first use.
//! - `response`: the answer hook [`apply`], what the full path's DO
//!   answers get (RRSIGs, apex keys, denial and wildcard proofs).
//! - `cli`: `switchyard dnssec keygen|ds|status`.
//! - `clock`: the coarse clock the fast path checks freshness against.
//!
//! [`Dnssec::load`] (once per load, beside the zones) reads the keys of
//! every enabled zone and signs every static RRset, plus DNSKEY, CDS and
//! CDNSKEY at the apex. [`Dnssec::for_snapshot`] (once per publish) signs
//! every answer a policy can give for each managed name (each region's
//! endpoints, up and all, per family; each failover tier; fail-open), reusing
//! the previous publish's signatures for variants that did not change.
//! [`apply`] (on the full answer path, DO queries) adds the RRSIGs and
//! denial records; anything not pre-signed (multivalue subsets, NSECs for
//! names asked about, the NSECs proving a wildcard's next closer name does
//! not exist) is signed on first use into the shared [`cache::SigCache`].
//! Wildcard answers reuse the wildcard RRset's signature made at load.

pub mod cache;
pub mod chain;
pub mod cli;
pub mod clock;
pub mod denial;
pub mod keys;
mod response;
pub mod signer;
pub mod wildcard;

pub use response::{Response, apply};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::config::{Config, ConfigError};
use crate::traffic::{AllDown, EndpointAnswer, Policy, RegionId, TrafficPlan, TrafficState};
use crate::zone::{Zone, ZoneSet};
use cache::SigCache;
use signer::{Sig, Timing, ZoneSigner, rrset_key};

/// The types the server adds at a signed apex.
const APEX_TYPES: [RecordType; 3] = [RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY];

/// Most signatures kept in the on-demand cache.
const CACHE_CAPACITY: usize = 100_000;

/// A managed variant waiting for its signature: key, zone, service, type, RDATA.
type Pending<'a> = (
    Box<[u8]>,
    &'a SignedZone,
    &'a crate::traffic::Service,
    RecordType,
    Vec<RData>,
);

/// An RRset key with its signatures.
type Signed = (Box<[u8]>, Arc<Sig>);

/// Signs `work` on every core: one scoped thread per chunk, each with its
/// own random source (for the expiry spread). Signing is the whole cost of
/// a signed load or publish, and each item is independent.
fn sign_in_parallel<T: Sync>(
    work: &[T],
    sign: impl Fn(&T, &mut fastrand::Rng) -> Signed + Sync,
) -> Vec<Signed> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = work.len().div_ceil(threads).max(1);
    let sign = &sign;
    std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .chunks(chunk)
            .map(|batch| {
                scope.spawn(move || {
                    let mut rng = fastrand::Rng::new();
                    batch
                        .iter()
                        .map(|item| sign(item, &mut rng))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .flatten()
            .collect()
    })
}

/// Length of the uncompressed wire name at the start of `wire` (all of
/// it when it does not end).
fn wire_name_len(wire: &[u8]) -> usize {
    let mut at = 0;
    while let Some(&len) = wire.get(at) {
        at += 1 + len as usize;
        if len == 0 {
            return at.min(wire.len());
        }
    }
    wire.len()
}

/// Signatures by RRset key.
pub type SigMap = HashMap<Box<[u8]>, Arc<Sig>, foldhash::fast::RandomState>;

/// One signed zone: its signer, the signatures of its static RRsets and
/// the RRsets the server adds at the apex.
#[derive(Debug)]
pub struct SignedZone {
    /// Keys and lifetimes.
    pub signer: ZoneSigner,
    /// Signatures of the zone file's RRsets (and the apex additions).
    statics: SigMap,
    /// DNSKEY, CDS and CDNSKEY at the apex, owned by the origin.
    apex: Vec<(RecordType, Vec<Record>)>,
}

impl SignedZone {
    /// The apex RRset of `rtype` the server adds (DNSKEY, CDS, CDNSKEY).
    pub fn apex_rrset(&self, rtype: RecordType) -> Option<&[Record]> {
        self.apex
            .iter()
            .find(|(t, _)| *t == rtype)
            .map(|(_, r)| r.as_slice())
    }

    /// Number of pre-signed static RRsets.
    pub fn signed_rrsets(&self) -> usize {
        self.statics.len()
    }
}

/// What one load signs: every enabled zone, the previous publish's managed
/// signatures and the on-demand cache. Shared by every snapshot of a load.
#[derive(Debug)]
pub struct Dnssec {
    zones: HashMap<Name, SignedZone>,
    /// The managed-answer signatures of the last publish, reused by the
    /// next one for variants that did not change (publisher only).
    memo: Mutex<SigMap>,
    /// Signatures made on first use, shared by the workers.
    cache: SigCache,
    /// Refresh threshold in seconds.
    refresh: u32,
    /// The earliest expiration of any static signature (0: none).
    earliest_expiry: u32,
    /// Problems worth knowing that do not stop loading (a signed zone
    /// whose parent DS is not recorded, so not checked).
    warnings: Vec<ConfigError>,
}

impl Default for Dnssec {
    fn default() -> Self {
        Dnssec {
            zones: HashMap::new(),
            memo: Mutex::default(),
            cache: SigCache::new(CACHE_CAPACITY),
            refresh: 7 * 86_400,
            earliest_expiry: 0,
            warnings: Vec::new(),
        }
    }
}

/// What a snapshot carries: the load's signing and this publish's
/// managed-answer signatures.
#[derive(Debug, Clone, Default)]
pub struct Signing {
    /// The load's signed zones and cache.
    pub load: Arc<Dnssec>,
    /// Signatures of every managed answer variant of this publish.
    pub managed: Arc<SigMap>,
}

/// Seconds since the epoch as DNSSEC's 32-bit serial time.
fn epoch(now: SystemTime) -> u32 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

impl Dnssec {
    /// Reads the keys of every zone `[dnssec]` enables and signs the zones.
    /// Refuses (as `check` does) a signed zone that is not served, keys that
    /// cannot sign the zone (see [`chain::check_keys`]), a `parent_ds` that
    /// names no published KSK/CSK, and a DS in a served parent that matches
    /// none of a signed child's published KSKs/CSKs.
    pub fn load(
        config: &Config,
        zones: &ZoneSet,
        now: SystemTime,
    ) -> Result<Dnssec, Vec<ConfigError>> {
        let dnssec = &config.dnssec;
        let key_dir = dnssec.key_dir();
        let timing = Timing {
            validity: dnssec.validity_days.get_ref() * 86_400,
            refresh: dnssec.refresh_days.get_ref() * 86_400,
            backdate: dnssec.inception_backdate_secs,
        };
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut signed = HashMap::new();
        for (name, entry) in dnssec.enabled_zones() {
            let field = format!("dnssec.zones.{name:?}");
            let error = |message: String| config.error_at(entry.span(), &field, message);
            let Ok(origin) = name.parse::<Name>() else {
                continue;
            };
            let Some(zone) = zones.iter().find(|z| z.origin == origin) else {
                errors.push(error(format!(
                    "zone {origin} is signed here but no zone file serves it"
                )));
                continue;
            };
            let keys = match keys::load_zone(&key_dir, &origin) {
                Ok(keys) => keys,
                Err(e) => {
                    errors.push(error(format!("cannot read keys: {e}")));
                    continue;
                }
            };
            let problems = chain::check_keys(&origin, &keys, &key_dir);
            if !problems.is_empty() {
                errors.extend(problems.into_iter().map(&error));
                continue;
            }
            let zone_config = entry.get_ref();
            let ds_field = format!("{field}.parent_ds");
            match &zone_config.parent_ds {
                Some(listed) => {
                    if let Err(message) = chain::check_parent_ds(
                        &origin,
                        &keys,
                        &zone_config.parent_ds_parsed,
                        &key_dir,
                    ) {
                        let span = listed.first().map_or(entry.span(), |d| d.span());
                        errors.push(config.error_at(span, &ds_field, message));
                        continue;
                    }
                }
                None if !parent_served_with_ds(zones, &origin) => {
                    let warning = config.error_at(
                        entry.span(),
                        &ds_field,
                        format!(
                            "not set: nothing checks that the parent's DS for {origin} still names a key here; \
                             set it to the DS records the parent serves (`dig DS {origin}`), [] if none yet"
                        ),
                    );
                    tracing::warn!("{warning}");
                    warnings.push(warning);
                }
                None => {}
            }
            let signer = ZoneSigner {
                origin: origin.clone(),
                keys: keys.into(),
                timing,
            };
            signed.insert(origin, sign_zone(zone, signer, epoch(now)));
        }
        errors.extend(check_delegations(config, zones, &signed));
        if !errors.is_empty() {
            return Err(errors);
        }
        let earliest_expiry = signed
            .values()
            .flat_map(|z| z.statics.values())
            .map(|s| s.expires)
            .min()
            .unwrap_or(0);
        Ok(Dnssec {
            zones: signed,
            refresh: timing.refresh,
            earliest_expiry,
            warnings,
            ..Dnssec::default()
        })
    }

    /// True when a static signature has less than `refresh_days` left: a
    /// reload re-signs everything (the answer path re-signs stale entries
    /// on its own meanwhile, through the cache).
    pub fn due_for_refresh(&self, now: SystemTime) -> bool {
        self.earliest_expiry != 0 && self.earliest_expiry.saturating_sub(self.refresh) <= epoch(now)
    }

    /// Problems found while loading that do not stop it (for `check`).
    pub fn warnings(&self) -> &[ConfigError] {
        &self.warnings
    }

    /// One line for `check`: which zones are signed, with which keys.
    pub fn summary(&self) -> Option<String> {
        if self.zones.is_empty() {
            return None;
        }
        let mut zones: Vec<String> = self
            .zones
            .iter()
            .map(|(origin, z)| {
                let keys: Vec<String> = z
                    .signer
                    .keys
                    .iter()
                    .filter(|k| k.state.published)
                    .map(|k| {
                        format!(
                            "{} {} alg {}{}",
                            k.tag,
                            k.role,
                            u8::from(k.algorithm()),
                            if k.state.active {
                                ""
                            } else {
                                " published only"
                            }
                        )
                    })
                    .collect();
                format!(
                    "{origin} ({} RRsets; keys {})",
                    z.statics.len(),
                    keys.join(", ")
                )
            })
            .collect();
        zones.sort();
        Some(format!("dnssec: signed {}", zones.join("; ")))
    }

    /// The signed zone with apex `origin`, if signed.
    pub fn zone(&self, origin: &Name) -> Option<&SignedZone> {
        self.zones.get(origin)
    }

    /// True when no zone is signed.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    /// Signs every answer a policy can give for the managed names of
    /// signed zones, reusing the last publish's signatures that are still
    /// fresh, and returns what a snapshot carries.
    pub fn for_snapshot(
        self: &Arc<Self>,
        zones: &ZoneSet,
        plan: &TrafficPlan,
        state: &TrafficState,
        now: SystemTime,
    ) -> Signing {
        if self.zones.is_empty() {
            return Signing {
                load: self.clone(),
                managed: Arc::default(),
            };
        }
        let now = epoch(now);
        let mut memo = match self.memo.lock() {
            Ok(memo) => memo,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut managed = SigMap::default();
        self.sign_services(
            plan.services.iter(),
            zones,
            plan,
            state,
            now,
            &memo,
            &mut managed,
        );
        *memo = managed.clone();
        Signing {
            load: self.clone(),
            managed: Arc::new(managed),
        }
    }

    /// [`Dnssec::for_snapshot`] after a publish that changed only the
    /// regions `changed` (`Snapshot::rebuild`): the previous publish's
    /// signatures are kept and only the services of those regions looked
    /// at again, so a publish costs what its change does. Those services'
    /// variants are dropped first and put back only if still answered, so
    /// the result holds exactly what [`Dnssec::for_snapshot`] would.
    pub fn for_rebuild(
        self: &Arc<Self>,
        previous: &Signing,
        zones: &ZoneSet,
        plan: &TrafficPlan,
        state: &TrafficState,
        changed: &[RegionId],
        now: SystemTime,
    ) -> Signing {
        if self.zones.is_empty() || !Arc::ptr_eq(&previous.load, self) {
            return self.for_snapshot(zones, plan, state, now);
        }
        let mut services: Vec<usize> = changed
            .iter()
            .flat_map(|r| plan.services_in(*r).iter().copied())
            .collect();
        services.sort_unstable();
        services.dedup();
        if services.is_empty() {
            return previous.clone();
        }
        let mut managed = (*previous.managed).clone();
        // The changed services' variants, by owner: a key is the owner's
        // wire form (which no other wire name extends), type, RDATA.
        let owners: HashSet<Vec<u8>> = services
            .iter()
            .filter_map(|s| plan.services.get(*s))
            .map(|s| signer::owner_key(&s.name))
            .collect();
        managed.retain(|key, _| !owners.contains(&key[..wire_name_len(key)]));
        self.sign_services(
            services.iter().filter_map(|s| plan.services.get(*s)),
            zones,
            plan,
            state,
            epoch(now),
            &previous.managed,
            &mut managed,
        );
        Signing {
            load: self.clone(),
            managed: Arc::new(managed),
        }
    }

    /// Puts into `managed` the signatures of every variant of `services`:
    /// from `reuse` when fresh, else made now on every core.
    #[allow(clippy::too_many_arguments)]
    fn sign_services<'p>(
        &self,
        services: impl Iterator<Item = &'p crate::traffic::Service>,
        zones: &ZoneSet,
        plan: &TrafficPlan,
        state: &TrafficState,
        now: u32,
        reuse: &SigMap,
        managed: &mut SigMap,
    ) {
        // What still needs a signature, signed below on every core.
        let mut todo: Vec<Pending<'_>> = Vec::new();
        for service in services {
            let Some(zone) = zones.find(&service.name) else {
                continue;
            };
            let Some(signed) = self.zones.get(&zone.origin) else {
                continue;
            };
            for (rtype, rdatas) in variants(plan, state, service) {
                let key = rrset_key(&service.name, rtype, rdatas.iter());
                if managed
                    .get(&key)
                    .is_some_and(|s| s.fresh(now, self.refresh))
                {
                    continue;
                }
                match reuse.get(&key) {
                    Some(sig) if sig.fresh(now, self.refresh) => {
                        managed.insert(key, sig.clone());
                    }
                    _ => {
                        // A placeholder keeps a variant two services share
                        // (never: names differ) from being queued twice.
                        managed.insert(key.clone(), Arc::new(Sig::default()));
                        todo.push((key, signed, service, rtype, rdatas));
                    }
                }
            }
        }
        managed.extend(sign_in_parallel(
            &todo,
            |(key, signed, service, rtype, rdatas), rng| {
                let sig = signed.signer.sign(
                    &service.name,
                    *rtype,
                    service.ttl,
                    rdatas.iter(),
                    now,
                    rng.f32(),
                );
                (key.clone(), Arc::new(sig))
            },
        ));
    }
}

/// Every RRset a managed name's policy can answer with, given this
/// publish's health: per region its up endpoints and all of them, each
/// failover tier, fail-open and the fallback region; per family; and a
/// CNAME per name target. Multivalue subsets are signed on first use.
fn variants(
    plan: &TrafficPlan,
    state: &TrafficState,
    service: &crate::traffic::Service,
) -> Vec<(RecordType, Vec<RData>)> {
    let mut groups: Vec<Vec<(RegionId, usize)>> = Vec::new();
    let up = |r: RegionId| -> Vec<(RegionId, usize)> {
        let flags = state
            .regions
            .get(r)
            .map(|s| s.endpoints_up.as_slice())
            .unwrap_or(&[]);
        flags
            .iter()
            .enumerate()
            .filter(|(_, up)| **up)
            .map(|(i, _)| (r, i))
            .collect()
    };
    let all = |r: RegionId| -> Vec<(RegionId, usize)> {
        (0..plan.regions[r].endpoints.len())
            .map(|i| (r, i))
            .collect()
    };
    for &r in &service.regions {
        groups.push(up(r));
        groups.push(all(r));
    }
    if let Policy::Failover { tiers } = &service.policy {
        for tier in tiers {
            groups.push(
                tier.iter()
                    .filter(|r| state.regions.get(**r).is_some_and(|s| s.available()))
                    .flat_map(|r| up(*r))
                    .collect(),
            );
        }
    }
    groups.push(service.regions.iter().flat_map(|r| all(*r)).collect());
    if let AllDown::Fallback(r) = service.all_down {
        groups.push(all(r));
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for group in groups {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (r, i) in group {
            match &plan.regions[r].endpoints[i].answer {
                EndpointAnswer::V4(a) if !v4.contains(a) => v4.push(*a),
                EndpointAnswer::V6(a) if !v6.contains(a) => v6.push(*a),
                EndpointAnswer::Target(name)
                    if seen.insert((RecordType::CNAME, vec![name.to_string()])) =>
                {
                    out.push((RecordType::CNAME, vec![RData::CNAME(CNAME(name.clone()))]));
                }
                _ => {}
            }
        }
        v4.sort();
        v6.sort();
        if !v4.is_empty()
            && seen.insert((RecordType::A, v4.iter().map(|a| a.to_string()).collect()))
        {
            out.push((
                RecordType::A,
                v4.into_iter().map(|a| RData::A(A(a))).collect(),
            ));
        }
        if !v6.is_empty()
            && seen.insert((RecordType::AAAA, v6.iter().map(|a| a.to_string()).collect()))
        {
            out.push((
                RecordType::AAAA,
                v6.into_iter().map(|a| RData::AAAA(AAAA(a))).collect(),
            ));
        }
    }
    out
}

/// Signs every authoritative RRset of `zone` (not NS at cuts, not glue)
/// and adds DNSKEY, CDS and CDNSKEY at the apex. Uses every core: a large
/// zone is split into one batch per thread.
fn sign_zone(zone: &Zone, signer: ZoneSigner, now: u32) -> SignedZone {
    let cuts: HashSet<&[u8]> = zone
        .nodes()
        .filter(|n| n.is_cut())
        .map(|n| n.name_wire())
        .collect();
    let mut origin_wire = [0u8; crate::zone::store::MAX_NAME_LEN];
    let origin_len = crate::zone::store::wire_lower_into(&zone.origin, &mut origin_wire);
    let below_cut = |wire: &[u8]| {
        if cuts.is_empty() {
            return false;
        }
        let mut n = crate::zone::store::wire_parent(wire);
        while n.len() > origin_len {
            if cuts.contains(n) {
                return true;
            }
            n = crate::zone::store::wire_parent(n);
        }
        false
    };
    // Views into the zone store; each thread decodes its own batch, so the
    // whole zone is never held decoded at once.
    let mut work: Vec<(crate::zone::Node<'_>, crate::zone::RecordSet<'_>)> = Vec::new();
    for (node, set) in zone.rrsets() {
        if below_cut(node.name_wire()) {
            continue;
        }
        // At a cut only the DS is the parent's (NS and glue are the child's).
        if node.is_cut() && set.rtype() != RecordType::DS {
            continue;
        }
        work.push((node, set));
    }
    let apex_ttl = zone.soa.ttl;
    let origin = &zone.origin;
    let record = |data: RData| Record::from_rdata(origin.clone(), apex_ttl, data);
    let published: Vec<_> = signer.keys.iter().filter(|k| k.state.published).collect();
    // CDS and CDNSKEY say which DS the parent should hold: KSKs and CSKs only.
    let entry_points: Vec<_> = published.iter().filter(|k| k.role.signs_keys()).collect();
    let apex: Vec<(RecordType, Vec<Record>)> = vec![
        (
            RecordType::DNSKEY,
            published
                .iter()
                .map(|k| record(RData::DNSSEC(DNSSECRData::DNSKEY(k.dnskey.clone()))))
                .collect(),
        ),
        (
            RecordType::CDS,
            entry_points
                .iter()
                .filter_map(|k| k.cds())
                .map(|c| record(RData::DNSSEC(DNSSECRData::CDS(c))))
                .collect(),
        ),
        (
            RecordType::CDNSKEY,
            entry_points
                .iter()
                .map(|k| record(RData::DNSSEC(DNSSECRData::CDNSKEY(k.cdnskey()))))
                .collect(),
        ),
    ];
    let mut statics = SigMap::with_capacity_and_hasher(work.len() + apex.len(), Default::default());
    statics.extend(sign_in_parallel(&work, |(node, set), rng| {
        let name = node.name();
        let rdatas: Vec<RData> = set.rdatas().collect();
        let (rtype, ttl) = (set.rtype(), set.ttl());
        let key = rrset_key(&name, rtype, rdatas.iter());
        let sig = signer.sign(&name, rtype, ttl, rdatas.iter(), now, rng.f32());
        (key, Arc::new(sig))
    }));
    let mut rng = fastrand::Rng::new();
    for (rtype, records) in &apex {
        let rdatas = || records.iter().map(|r| &r.data);
        let key = rrset_key(origin, *rtype, rdatas());
        let sig = signer.sign(origin, *rtype, apex_ttl, rdatas(), now, rng.f32());
        statics.insert(key, Arc::new(sig));
    }
    // Each wildcard's NSEC (its real types): wildcard NODATA answers carry
    // it, the same for every name the wildcard answers.
    for node in zone.nodes() {
        let name = node.name();
        if below_cut(node.name_wire()) || !wildcard::is_wildcard(&name) {
            continue;
        }
        if let Some(data) = wildcard::wildcard_nsec(zone, &name) {
            let rdatas = || std::iter::once(&data);
            let key = rrset_key(&name, RecordType::NSEC, rdatas());
            let sig = signer.sign(
                &name,
                RecordType::NSEC,
                zone.negative_ttl,
                rdatas(),
                now,
                rng.f32(),
            );
            statics.insert(key, Arc::new(sig));
        }
    }
    SignedZone {
        signer,
        statics,
        apex,
    }
}

/// A DS in a served parent must match a published key of its signed child
/// (else the chain breaks at the delegation).
fn check_delegations(
    config: &Config,
    zones: &ZoneSet,
    signed: &HashMap<Name, SignedZone>,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (origin, child) in signed {
        if origin.is_root() {
            continue;
        }
        let Some(parent) = zones.find(&origin.base_name()) else {
            continue;
        };
        let Some(ds) = parent.node(origin).and_then(|n| n.get(RecordType::DS)) else {
            continue;
        };
        let published: Vec<_> = child
            .signer
            .keys
            .iter()
            .filter(|k| k.state.published && k.role.signs_keys())
            .filter_map(|k| k.ds())
            .collect();
        let matches = ds.rdatas().any(|data| match &data {
            RData::DNSSEC(DNSSECRData::DS(ds)) => published.iter().any(|p| {
                p.key_tag() == ds.key_tag()
                    && p.algorithm() == ds.algorithm()
                    && (ds.digest_type() != p.digest_type() || p.digest() == ds.digest())
            }),
            _ => false,
        });
        if !matches {
            let entry = config
                .dnssec
                .zones
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&origin.to_string()))
                .map(|(_, z)| z.span());
            errors.push(ConfigError {
                file: config.source.clone(),
                line: entry.map(|s| crate::config::line_of(&config.text, s.start)),
                field: Some(format!("dnssec.zones.\"{origin}\"")),
                message: format!(
                    "the DS for {origin} in zone {} matches none of its published keys that sign its DNSKEY RRset (ksk or csk): the chain of trust would break (publish the key the DS names, or update the DS)",
                    parent.origin
                ),
            });
        }
    }
    errors
}

/// True when the parent of `origin` is served here with a DS at the cut
/// ([`check_delegations`] then checks the chain without `parent_ds`).
fn parent_served_with_ds(zones: &ZoneSet, origin: &Name) -> bool {
    !origin.is_root()
        && zones
            .find(&origin.base_name())
            .and_then(|parent| parent.node(origin))
            .is_some_and(|n| n.get(RecordType::DS).is_some())
}
