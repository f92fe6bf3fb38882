//! Response rate limiting (RRL) of UDP answers, as NSD and Knot do it.
//!
//! An authoritative server answers anyone, so a spoofed flood turns it into
//! an amplifier aimed at the spoofed address. RRL caps the answers per
//! second that one client network (/24 for IPv4, /56 for IPv6 by default)
//! gets per *answer class*: the same name and type, the same negative or
//! referral answer of a zone, or errors. Over the rate, answers are
//! dropped, and every `slip`-th one goes out as an empty TC=1 answer so a
//! real client behind the spoofed flood retries over TCP (which is never
//! limited: a TCP client has proven its address).
//!
//! The table is NSD's design: a fixed number of buckets, each one atomic
//! word, indexed by a seeded hash of (network, class). A bucket holds a
//! fingerprint of its key, the second it counts for and the count, so a
//! check is one hash, one load and usually one compare-and-swap: no lock,
//! no allocation, and the memory is fixed at start-up. Two keys that share
//! a bucket reset each other's count (they are rare with a large table and
//! a random seed, and cost at most extra answers, never a lost one).
//!
//! The count is per calendar second, so a client can get up to twice the
//! rate across a second boundary; over a longer period it gets at most the
//! rate per second plus one second's worth.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ipnet::IpNet;

use crate::config::RrlConfig;

/// Bits of a bucket word: count (low), second, key fingerprint (high).
const COUNT_BITS: u32 = 20;
const SECOND_BITS: u32 = 12;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const SECOND_MASK: u64 = (1 << SECOND_BITS) - 1;

/// What to do with one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Under the rate (or whitelisted): send it.
    Send,
    /// Over the rate: send nothing.
    Drop,
    /// Over the rate, but this one goes out as an empty TC=1 answer.
    Slip,
}

/// The shared rate table of every UDP worker.
#[derive(Debug)]
pub struct Rrl {
    buckets: Box<[AtomicU64]>,
    /// `buckets.len() - 1` (the length is a power of two).
    mask: usize,
    /// Answers per second per (network, class).
    rate: u64,
    /// Every `slip`-th limited answer is slipped (0: none).
    slip: u32,
    v4_prefix: u8,
    v6_prefix: u8,
    /// Consulted only for answers over the rate, so its length costs
    /// nothing on the common path.
    whitelist: Vec<IpNet>,
    /// Seeded per process so nobody can precompute colliding keys.
    hasher: foldhash::fast::FixedState,
    /// Seconds are counted from here.
    epoch: Instant,
}

impl Rrl {
    /// The table `[rrl]` asks for, or `None` when rate limiting is off.
    pub fn from_config(config: &RrlConfig) -> Option<Rrl> {
        if !config.enabled {
            return None;
        }
        let size = config.table_size.get_ref().next_power_of_two();
        Some(Rrl {
            buckets: (0..size).map(|_| AtomicU64::new(0)).collect(),
            mask: size - 1,
            rate: u64::from(*config.responses_per_second.get_ref()),
            slip: config.slip,
            v4_prefix: *config.ipv4_prefix.get_ref(),
            v6_prefix: *config.ipv6_prefix.get_ref(),
            whitelist: config.whitelist_nets(),
            hasher: foldhash::fast::FixedState::with_seed(fastrand::u64(..)),
            epoch: Instant::now(),
        })
    }

    /// The current second, read once per batch of answers.
    pub fn now(&self) -> u32 {
        self.epoch.elapsed().as_secs() as u32
    }

    /// Counts `response` (about to go to `source`) and says whether to send
    /// it. `slips` is the caller's own counter of limited answers (one per
    /// worker, so slipping shares nothing between threads).
    pub fn check(&self, source: IpAddr, response: &[u8], now: u32, slips: &mut u32) -> Verdict {
        let key = self
            .hasher
            .hash_one((self.network(source), answer_class(response)));
        let bucket = &self.buckets[key as usize & self.mask];
        let tag = key >> 32;
        let second = u64::from(now) & SECOND_MASK;
        let mut current = bucket.load(Ordering::Relaxed);
        // A few tries under contention; losing them all lets the answer out.
        for _ in 0..4 {
            let same = current >> (COUNT_BITS + SECOND_BITS) == tag
                && (current >> COUNT_BITS) & SECOND_MASK == second;
            let count = if same { (current & COUNT_MASK) + 1 } else { 1 };
            if count > self.rate {
                return self.limited(source, slips);
            }
            let next = tag << (COUNT_BITS + SECOND_BITS) | second << COUNT_BITS | count;
            match bucket.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Verdict::Send,
                Err(actual) => current = actual,
            }
        }
        Verdict::Send
    }

    fn limited(&self, source: IpAddr, slips: &mut u32) -> Verdict {
        if self.whitelist.iter().any(|net| net.contains(&source)) {
            return Verdict::Send;
        }
        *slips = slips.wrapping_add(1);
        if self.slip > 0 && slips.is_multiple_of(self.slip) {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }

    /// The client's network: the family, and the address cut to the
    /// configured prefix.
    fn network(&self, source: IpAddr) -> (u8, u128) {
        match source {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.v4_prefix))
                    .unwrap_or(0);
                (4, u128::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.v6_prefix))
                    .unwrap_or(0);
                (6, u128::from(a) & mask)
            }
        }
    }
}

/// The answer class of a response, as a hash: positive answers by name
/// and type; negative answers and referrals by the zone or delegation
/// (the owner of the first authority record) so random names do not make
/// new classes; errors by RCODE alone. Reads the response bytes only.
pub(crate) fn answer_class(response: &[u8]) -> u64 {
    let Some(header) = response.get(..12) else {
        return ERRORS;
    };
    let rcode = u64::from(header[3] & 0x0f);
    let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    if !(rcode == 0 || rcode == 3) || count(4) != 1 {
        return ERRORS | rcode;
    }
    let mut hash = Fnv::new();
    let Some(after_name) = hash_name(response, 12, &mut hash) else {
        return ERRORS | rcode;
    };
    let Some(qtype) = response.get(after_name..after_name + 2) else {
        return ERRORS | rcode;
    };
    let positive = |mut hash: Fnv| {
        hash.write(qtype);
        hash.finish()
    };
    if count(6) > 0 && rcode == 0 {
        return positive(hash);
    }
    // Negative or referral: the first authority record's owner and type.
    let mut pos = after_name + 4;
    for _ in 0..count(6) {
        let Some(next) = skip_record(response, pos) else {
            return ERRORS | rcode;
        };
        pos = next;
    }
    let mut owner = Fnv::new();
    owner.write(&[0xff, rcode as u8]);
    let Some(end) = hash_name(response, pos, &mut owner) else {
        // No authority at all: by name, like a positive answer.
        return positive(hash);
    };
    match (rcode, response.get(end..end + 2)) {
        // NXDOMAIN by zone (SOA owner), referrals by delegation (NS
        // owner): random names below either make no new classes.
        (3, _) | (_, Some([0, 2])) => owner.finish(),
        // NODATA by name and type: only existing names give it.
        _ => positive(hash),
    }
}

/// The class of error answers (RCODE in the low bits).
const ERRORS: u64 = 0xe77e_0000_0000_0000;

/// A tiny FNV-1a over lower-cased name bytes; the table's seeded hash mixes
/// its result again, so this only has to separate names.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Hashes the (possibly compressed) name at `pos`; returns the offset after
/// it in the record, or `None` when it is malformed.
fn hash_name(message: &[u8], mut pos: usize, hash: &mut Fnv) -> Option<usize> {
    let mut end = None;
    // 128 labels or pointers at most: a loop of pointers ends here.
    for _ in 0..128 {
        let len = *message.get(pos)? as usize;
        match len {
            0 => return Some(end.unwrap_or(pos + 1)),
            1..=63 => {
                hash.write(message.get(pos..pos + 1 + len)?);
                pos += 1 + len;
            }
            0xc0..=0xff => {
                let low = *message.get(pos + 1)? as usize;
                end.get_or_insert(pos + 2);
                pos = (len & 0x3f) << 8 | low;
            }
            _ => return None,
        }
    }
    None
}

/// The offset after the resource record at `pos`.
fn skip_record(message: &[u8], pos: usize) -> Option<usize> {
    let after = hash_name(message, pos, &mut Fnv::new())?;
    let fixed = message.get(after..after + 10)?;
    let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
    Some(after + 10 + rdlen)
}

/// Turns `answer` into the slip NSD sends: header and question only, TC
/// set, every other section empty (no OPT either).
pub fn slip(answer: &mut Vec<u8>) {
    if answer.len() < 12 {
        return;
    }
    let mut end = 12;
    if answer[4..6] == [0, 1] {
        let mut pos = 12;
        while let Some(&len) = answer.get(pos) {
            match len {
                0 => {
                    pos += 1;
                    break;
                }
                1..=63 => pos += 1 + len as usize,
                _ => {
                    pos += 2;
                    break;
                }
            }
        }
        end = (pos + 4).min(answer.len());
    } else {
        answer[4..6].copy_from_slice(&[0, 0]);
    }
    answer[2] |= 0x02;
    answer[6..12].fill(0);
    answer.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    fn config(rate: u32, slip: u32) -> RrlConfig {
        RrlConfig {
            responses_per_second: toml::Spanned::new(0..0, rate),
            slip,
            table_size: toml::Spanned::new(0..0, 1024),
            ..RrlConfig::default()
        }
    }

    fn response(name: &str, qtype: RecordType, rcode: ResponseCode, zone: &str) -> Vec<u8> {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        let name = Name::from_ascii(name).unwrap();
        m.add_query(Query::query(name.clone(), qtype));
        m.metadata.response_code = rcode;
        if rcode == ResponseCode::NoError && qtype == RecordType::A {
            m.add_answer(Record::from_rdata(name, 60, RData::A(A::new(192, 0, 2, 1))));
        } else if rcode != ResponseCode::Refused {
            let zone = Name::from_ascii(zone).unwrap();
            let soa = SOA::new(zone.clone(), zone.clone(), 1, 2, 3, 4, 5);
            m.add_authority(Record::from_rdata(zone, 60, RData::SOA(soa)));
        }
        m.to_vec().unwrap()
    }

    #[test]
    fn classes_follow_name_type_zone_and_rcode() {
        let a = |n| answer_class(&response(n, RecordType::A, ResponseCode::NoError, "x."));
        assert_eq!(a("www.example.com."), a("WWW.example.com."));
        assert_ne!(a("www.example.com."), a("ftp.example.com."));
        let nx = |n, z| answer_class(&response(n, RecordType::A, ResponseCode::NXDomain, z));
        let nodata = |n| answer_class(&response(n, RecordType::MX, ResponseCode::NoError, "x."));
        assert_ne!(nodata("a.example."), nodata("b.example."));
        // Random names in one zone share the zone's NXDOMAIN class.
        assert_eq!(
            nx("r1.example.com.", "example.com."),
            nx("r2.example.com.", "example.com.")
        );
        assert_ne!(
            nx("r1.example.com.", "example.com."),
            nx("r1.example.org.", "example.org.")
        );
        let refused = |n| answer_class(&response(n, RecordType::A, ResponseCode::Refused, "x."));
        assert_eq!(refused("a.org."), refused("b.net."));
        assert_ne!(refused("a.org."), a("a.org."));
        assert_eq!(answer_class(&[1, 2]), ERRORS);
    }

    #[test]
    fn limits_per_network_and_slips_every_nth() {
        let rrl = Rrl::from_config(&config(5, 2)).unwrap();
        let answer = response(
            "www.example.com.",
            RecordType::A,
            ResponseCode::NoError,
            "x.",
        );
        let mut slips = 0;
        let one: IpAddr = "198.51.100.7".parse().unwrap();
        let same_net: IpAddr = "198.51.100.200".parse().unwrap();
        let other: IpAddr = "203.0.113.9".parse().unwrap();
        let verdicts: Vec<_> = (0..9)
            .map(|_| rrl.check(one, &answer, 7, &mut slips))
            .collect();
        assert_eq!(verdicts[..5], [Verdict::Send; 5]);
        assert_eq!(
            verdicts[5..],
            [Verdict::Drop, Verdict::Slip, Verdict::Drop, Verdict::Slip]
        );
        assert_eq!(rrl.check(same_net, &answer, 7, &mut slips), Verdict::Drop);
        assert_eq!(rrl.check(other, &answer, 7, &mut slips), Verdict::Send);
        // A new second, a new allowance.
        assert_eq!(rrl.check(one, &answer, 8, &mut slips), Verdict::Send);
    }

    #[test]
    fn whitelisted_networks_and_ipv6_prefixes() {
        let mut c = config(1, 0);
        c.whitelist = vec![toml::Spanned::new(0..0, "2001:db8:1::/48".into())];
        let rrl = Rrl::from_config(&c).unwrap();
        let answer = response("a.example.", RecordType::A, ResponseCode::NoError, "x.");
        let mut slips = 0;
        let listed: IpAddr = "2001:db8:1::1".parse().unwrap();
        for _ in 0..5 {
            assert_eq!(rrl.check(listed, &answer, 1, &mut slips), Verdict::Send);
        }
        let a: IpAddr = "2001:db8:2:ff::1".parse().unwrap();
        let same_56: IpAddr = "2001:db8:2:1::2".parse().unwrap();
        assert_eq!(rrl.check(a, &answer, 1, &mut slips), Verdict::Send);
        assert_eq!(rrl.check(same_56, &answer, 1, &mut slips), Verdict::Drop);
    }

    #[test]
    fn slip_keeps_header_and_question_only() {
        let mut answer = response(
            "www.example.com.",
            RecordType::A,
            ResponseCode::NoError,
            "x.",
        );
        slip(&mut answer);
        let m = Message::from_vec(&answer).unwrap();
        assert!(m.metadata.truncation);
        assert_eq!(m.queries.len(), 1);
        assert!(m.answers.is_empty() && m.authorities.is_empty() && m.edns.is_none());
        assert_eq!(answer.len(), 12 + 17 + 4);
    }
}
