//! Compact denial of existence (RFC 9824): every negative answer carries
//! one NSEC owned by the name denied, whose next name is the immediate
//! successor `\000.<name>`, so it covers no other name and nothing can be
//! walked. A name that does not exist gets the bitmap {RRSIG, NSEC,
//! NXNAME}; an existing one its real types minus the one asked for.

use std::collections::BTreeSet;

use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC};
use hickory_proto::rr::{Label, Name, RData, RecordType};

use crate::traffic::{EndpointAnswer, TrafficPlan};
use crate::zone::Zone;

/// The NXNAME meta-type (RFC 9824 §2): "this name does not exist".
pub const NXNAME: RecordType = RecordType::Unknown(128);

/// The immediate successor of `name` in canonical order: `\000.<name>`
/// (or `name` itself when a label more would pass 255 octets).
pub fn successor(name: &Name) -> Name {
    Label::from_raw_bytes(&[0])
        .ok()
        .and_then(|zero| name.prepend_label(zero).ok())
        .unwrap_or_else(|| name.clone())
}

/// NSEC RDATA for a compact denial at `name` with `types` (RRSIG and
/// NSEC are added).
pub fn nsec(name: &Name, types: impl IntoIterator<Item = RecordType>) -> RData {
    RData::DNSSEC(DNSSECRData::NSEC(NSEC::new_cover_self(
        successor(&name.to_lowercase()),
        types,
    )))
}

/// NSEC RDATA at an insecure delegation point `cut` with the types there
/// (no DS): its next name is the first name after the child zone's
/// names, `cut\000.parent` (RFC 9824 §3.4), not a name inside the child.
pub fn nsec_at_cut(cut: &Name, types: impl IntoIterator<Item = RecordType>) -> RData {
    let cut = cut.to_lowercase();
    let next = super::wildcard::after_subtree(&cut).unwrap_or_else(|| successor(&cut));
    RData::DNSSEC(DNSSECRData::NSEC(NSEC::new_cover_self(next, types)))
}

/// The types that exist at `name` (lower-cased) in `zone`: its RRsets,
/// those a managed name answers, and `apex_extra` (DNSKEY, CDS, CDNSKEY)
/// at the apex. A name that does not exist but matches a wildcard has the
/// wildcard's types. `None` when the name does not exist at all.
pub fn types_at(
    zone: &Zone,
    plan: &TrafficPlan,
    name: &Name,
    apex_extra: &[RecordType],
) -> Option<BTreeSet<RecordType>> {
    let mut types = BTreeSet::new();
    let mut exists = false;
    if let Some(node) = zone.node(name) {
        exists = true;
        types.extend(node.rrsets().map(|s| s.rtype()));
    }
    if let Some(&service) = plan.by_name.get(name) {
        exists = true;
        for &region in &plan.services[service].regions {
            for endpoint in &plan.regions[region].endpoints {
                types.insert(match endpoint.answer {
                    EndpointAnswer::V4(_) => RecordType::A,
                    EndpointAnswer::V6(_) => RecordType::AAAA,
                    EndpointAnswer::Target(_) => RecordType::CNAME,
                });
            }
        }
    }
    exists |= plan.implied_names.contains(name);
    if *name == zone.origin {
        types.extend(apex_extra.iter().copied());
    }
    if exists {
        return Some(types);
    }
    // Closest encloser, then its wildcard (RFC 4592).
    let mut encloser = name.base_name();
    while zone.origin.zone_of(&encloser) {
        if zone.node(&encloser).is_some()
            || plan.implied_names.contains(&encloser)
            || plan.by_name.contains_key(&encloser)
        {
            let wildcard = encloser.prepend_label("*").ok()?;
            let node = zone.node(&wildcard)?;
            return Some(node.rrsets().map(|s| s.rtype()).collect());
        }
        if encloser.is_root() {
            break;
        }
        encloser = encloser.base_name();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn zone(text: &str) -> Zone {
        crate::zone::build_example(text).unwrap()
    }

    #[test]
    fn successor_is_the_next_name_in_canonical_order() {
        let name = Name::from_str("www.example.com.").unwrap();
        let next = successor(&name);
        assert_eq!(next.to_ascii(), "\\000.www.example.com.");
        assert!(name < next);
        // A name with no room for another label is its own successor.
        let long = Name::from_str(&format!("{}.", vec!["a".repeat(63); 3].join("."))).unwrap();
        let longest = long.prepend_label("b".repeat(61)).unwrap();
        assert_eq!(successor(&longest), longest);
    }

    #[test]
    fn the_nsec_at_a_cut_skips_the_child_zone() {
        let cut = Name::from_str("Child.example.com.").unwrap();
        let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = nsec_at_cut(&cut, [RecordType::NS]) else {
            panic!("not an NSEC");
        };
        let next = nsec.next_domain_name();
        assert_eq!(next.to_ascii(), "child\\000.example.com.");
        let cut = cut.to_lowercase();
        let inside = Name::from_str("deep.www.child.example.com.").unwrap();
        let sibling = Name::from_str("childa.example.com.").unwrap();
        assert!(
            cut < inside && inside < *next,
            "the child's names lie in the span"
        );
        assert!(*next < sibling, "the next sibling does not");
    }

    #[test]
    fn bitmaps_hold_the_types_present() {
        let z = zone(
            "$TTL 60\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\nwww TXT \"x\"\n*.w MX 10 www\na.b.c A 192.0.2.3\n",
        );
        let plan = TrafficPlan::default();
        let name = |s: &str| Name::from_str(s).unwrap();
        let www = types_at(&z, &plan, &name("www.example.com."), &[]).unwrap();
        assert_eq!(
            www.into_iter().collect::<Vec<_>>(),
            [RecordType::A, RecordType::TXT]
        );
        let apex = types_at(&z, &plan, &name("example.com."), &[RecordType::DNSKEY]).unwrap();
        assert!(apex.contains(&RecordType::DNSKEY) && apex.contains(&RecordType::SOA));
        // Empty non-terminal: exists, no types.
        assert!(
            types_at(&z, &plan, &name("b.c.example.com."), &[])
                .unwrap()
                .is_empty()
        );
        // Below a wildcard: the wildcard's types.
        let wild = types_at(&z, &plan, &name("q.w.example.com."), &[]).unwrap();
        assert!(wild.contains(&RecordType::MX));
        // Nothing there.
        assert!(types_at(&z, &plan, &name("nope.example.com."), &[]).is_none());
        // The NSEC carries RRSIG and NSEC besides.
        let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = nsec(&name("Nope.example.com."), [NXNAME])
        else {
            panic!("not an NSEC");
        };
        let types: Vec<RecordType> = nsec.type_bit_maps().collect();
        assert_eq!(types, [RecordType::RRSIG, RecordType::NSEC, NXNAME]);
        assert_eq!(
            nsec.next_domain_name().to_ascii(),
            "\\000.nope.example.com."
        );
    }
}
