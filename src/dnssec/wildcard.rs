//! Wildcard answers in the form of RFC 4035 §3.1.3.3: the synthesised
//! RRset carries the wildcard RRset's own signature (owner `*.<closest
//! encloser>`, Labels without the `*`, RFC 4034 §3.1.3), made once when
//! the zone is signed and reused for every name the wildcard answers, and
//! the authority section proves that the next closer name does not exist
//! with one minimally covering NSEC ("white lies", RFC 4470, with the
//! epsilon functions of RFC 4471).
//!
//! The NSEC's owner is the greatest name that can sort before the next
//! closer name's subtree without being in it (its first label decremented
//! and padded with `\xff` to the longest label that fits), and its next
//! name the first name after that subtree (the label with a zero octet
//! appended). It covers the next closer name, the names below it (none
//! exist: the next closer name does not) and the names below the owner
//! (none exist: an owner that exists is refused). So it never covers an
//! existing name, the wildcard or the closest encloser, which keeps
//! resolvers doing aggressive NSEC caching (RFC 8198) from denying real
//! names.
//!
//! When no such NSEC can be made (next closer names at the very edges of
//! the name space, or an existing owner), [`expansion`] says so and the
//! answer is signed as if the name existed, as RFC 9824 §3.3 does.

use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC};
use hickory_proto::rr::{Label, Name, RData, RecordType};

use crate::traffic::TrafficPlan;
use crate::zone::Zone;

/// The longest label (RFC 1035 §2.3.4).
const MAX_LABEL: usize = 63;
/// The longest name in wire form (RFC 1035 §2.3.4).
const MAX_NAME: usize = 255;

/// A name answered through a wildcard, and the proof it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// The closest encloser (RFC 4592 §3.3.1).
    pub encloser: Name,
    /// The wildcard that answered, `*.<encloser>`.
    pub wildcard: Name,
    /// The encloser's child on the way to the name asked: the name whose
    /// nonexistence the proof shows.
    pub next_closer: Name,
    /// Owner of the minimally covering NSEC (just before the next closer name).
    pub before: Name,
    /// Next name of that NSEC (just after the next closer name's subtree).
    pub after: Name,
}

/// True when `name` (lower-case) exists in `zone`: a node (with data or
/// an empty non-terminal), a managed name, or an ancestor of one.
fn exists(zone: &Zone, plan: &TrafficPlan, name: &Name) -> bool {
    zone.node(name).is_some()
        || plan.by_name.contains_key(name)
        || plan.implied_names.contains(name)
}

/// How `name` (lower-case) is answered through a wildcard of `zone`:
/// `None` when the name exists, no wildcard matches it, or no minimally
/// covering NSEC can be made for it (then it is signed as if it existed).
pub fn expansion(zone: &Zone, plan: &TrafficPlan, name: &Name) -> Option<Expansion> {
    if !zone.origin.zone_of(name) || exists(zone, plan, name) {
        return None;
    }
    let mut encloser = name.base_name();
    while !exists(zone, plan, &encloser) {
        if encloser == zone.origin || encloser.is_root() {
            return None;
        }
        encloser = encloser.base_name();
    }
    let wildcard = encloser.prepend_label("*").ok()?;
    zone.node(&wildcard)?;
    let next_closer = name.trim_to(encloser.num_labels() as usize + 1);
    let label = next_closer.iter().next()?;
    let room = MAX_NAME.saturating_sub(wire_len(&encloser) + 1);
    let before = encloser
        .prepend_label(Label::from_raw_bytes(&predecessor(label, room)?).ok()?)
        .ok()?;
    let after = encloser
        .prepend_label(Label::from_raw_bytes(&successor(label, room)?).ok()?)
        .ok()?;
    // Never the wildcard or the encloser, never an existing name, and the
    // span holds the next closer name but not the wildcard.
    if before == wildcard
        || before == encloser
        || exists(zone, plan, &before)
        || !(before < next_closer && next_closer < after)
        || (before < wildcard && wildcard < after)
    {
        return None;
    }
    Some(Expansion {
        encloser,
        wildcard,
        next_closer,
        before,
        after,
    })
}

/// True when `name`'s first label is `*` (RFC 4592 §2.1.1).
pub fn is_wildcard(name: &Name) -> bool {
    name.iter().next() == Some(&b"*"[..])
}

/// The NSEC of the wildcard `wildcard` of `zone`, with its real types
/// (a wildcard NODATA shows the type is not there, RFC 4035 §3.1.3.4).
pub fn wildcard_nsec(zone: &Zone, wildcard: &Name) -> Option<RData> {
    let node = zone.node(wildcard)?;
    Some(super::denial::nsec(
        wildcard,
        node.rrsets().map(|s| s.rtype()),
    ))
}

/// The minimally covering NSEC of `expansion`: owned by
/// [`Expansion::before`], types RRSIG and NSEC only (RFC 4470 §3).
pub fn covering_nsec(expansion: &Expansion) -> RData {
    RData::DNSSEC(DNSSECRData::NSEC(NSEC::new_cover_self(
        expansion.after.clone(),
        std::iter::empty::<RecordType>(),
    )))
}

/// Length of `name` in wire form.
fn wire_len(name: &Name) -> usize {
    name.iter().map(|l| l.len() + 1).sum::<usize>() + 1
}

/// The greatest label, at most `room` octets, that sorts before `label`
/// (lower-case) in canonical order (RFC 4034 §6.1), or `None` if none.
fn predecessor(label: &[u8], room: usize) -> Option<Vec<u8>> {
    let room = room.min(MAX_LABEL);
    let (&last, head) = label.split_last()?;
    let mut out = head.to_vec();
    if last == 0 {
        // A prefix sorts first: `ab` is the greatest label before `ab\0`.
        return (!out.is_empty()).then_some(out);
    }
    out.push(match last - 1 {
        // Upper-case octets sort as lower-case ones: skip past them.
        b'A'..=b'Z' => b'@',
        octet => octet,
    });
    out.resize(room.max(out.len()), 0xff);
    (out.len() <= room).then_some(out)
}

/// The least name that sorts after `name` and its whole subtree: its first
/// label with a zero octet appended (`cut\000.parent`). The next name of
/// the NSEC at an insecure delegation (RFC 9824 §3.4), so that the NSEC
/// skips the child zone's names instead of pointing into it. `None` for
/// the root or when no such label fits.
pub(crate) fn after_subtree(name: &Name) -> Option<Name> {
    let label = name.iter().next()?;
    let parent = name.base_name();
    let room = MAX_NAME.saturating_sub(wire_len(&parent) + 1);
    parent
        .prepend_label(Label::from_raw_bytes(&successor(label, room)?).ok()?)
        .ok()
}

/// The least label, at most `room` octets, that sorts after every name
/// below `label` (lower-case) and after `label` itself: `label` with a
/// zero octet appended, or when that is too long its last octet
/// incremented (longer labels cannot exist there).
fn successor(label: &[u8], room: usize) -> Option<Vec<u8>> {
    let room = room.min(MAX_LABEL);
    let mut out = label.to_vec();
    if out.len() < room {
        out.push(0);
        return Some(out);
    }
    while out.last() == Some(&0xff) {
        out.pop();
    }
    let last = out.last_mut()?;
    *last = match *last + 1 {
        b'A'..=b'Z' => b'[',
        octet => octet,
    };
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn zone(text: &str) -> Zone {
        crate::zone::build_example(text).unwrap()
    }

    fn name(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    #[test]
    fn epsilon_functions_bracket_the_label() {
        assert_eq!(predecessor(b"host", 63).unwrap(), {
            let mut v = b"hoss".to_vec();
            v.resize(63, 0xff);
            v
        });
        assert_eq!(predecessor(b"ab\0", 63).unwrap(), b"ab");
        assert_eq!(predecessor(b"\0", 63), None);
        // `[` minus one is `Z`, which sorts as `z`: `@` instead.
        assert_eq!(predecessor(b"a[", 2).unwrap(), b"a@");
        assert_eq!(successor(b"host", 63).unwrap(), b"host\0");
        let full = vec![b'a'; 63];
        let mut next = vec![b'a'; 62];
        next.push(b'b');
        assert_eq!(successor(&full, 63).unwrap(), next);
        assert_eq!(successor(b"a@", 2).unwrap(), b"a[");
        assert_eq!(successor(&[0xff, 0xff], 2), None);
        // Canonical order agrees, case folded, for labels of every kind.
        for label in [&b"host"[..], b"a[", b"x\0", b"*", b"-", b"zz"] {
            let l = |b: &[u8]| {
                Name::from_labels([Label::from_raw_bytes(b).unwrap()])
                    .unwrap()
                    .append_domain(&name("example.com."))
                    .unwrap()
            };
            let at = l(label);
            let below = at.prepend_label("zzz").unwrap();
            if let Some(p) = predecessor(label, 63) {
                assert!(l(&p) < at, "{label:?}");
            }
            let s = successor(label, 63).unwrap();
            assert!(at < l(&s) && below < l(&s), "{label:?}");
        }
    }

    #[test]
    fn the_proof_covers_the_next_closer_name_and_nothing_that_exists() {
        let z = zone(
            "$TTL 60\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n*.w A 192.0.2.2\nhosu.w A 192.0.2.3\nhosr.w A 192.0.2.4\nb.w TXT \"x\"\n",
        );
        let plan = TrafficPlan::default();
        let e = expansion(&z, &plan, &name("x.host.w.example.com.")).unwrap();
        assert_eq!(e.encloser, name("w.example.com."));
        assert_eq!(e.wildcard, name("*.w.example.com."));
        assert_eq!(e.next_closer, name("host.w.example.com."));
        assert!(e.before < e.next_closer && e.next_closer < e.after);
        // The asked name, below the next closer name, is covered too.
        let asked = name("x.host.w.example.com.");
        assert!(e.before < asked && asked < e.after);
        for existing in [
            "w.example.com.",
            "*.w.example.com.",
            "hosu.w.example.com.",
            "hosr.w.example.com.",
            "b.w.example.com.",
            "example.com.",
        ] {
            let n = name(existing);
            assert!(!(e.before <= n && n < e.after), "{existing} covered");
        }
        // Existing names and names no wildcard matches: no expansion.
        assert!(expansion(&z, &plan, &name("b.w.example.com.")).is_none());
        assert!(expansion(&z, &plan, &name("nope.example.com.")).is_none());
        assert!(expansion(&z, &plan, &name("a.b.w.example.com.")).is_none());
        // `\0.w` sorts right after `w`: no owner fits between, so none.
        let zero = name("w.example.com.")
            .prepend_label(Label::from_raw_bytes(&[0]).unwrap())
            .unwrap();
        assert!(expansion(&z, &plan, &zero).is_none());
    }
}
