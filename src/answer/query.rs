//! Reading a query's header, question and OPT record straight from the
//! packet, once per query and without allocating.
//!
//! This is the one reader of those parts of a query: the fast path takes
//! the result when the query has the plain shape it covers
//! ([`Parsed::plain`]), the full path takes its header checks (responses
//! dropped, EDNS version, ECS) from it, and the listeners' metrics and
//! query log read the [`QueryFacts`](crate::answer::QueryFacts) built from
//! it. Only the full path decodes the records further (hickory-proto), to
//! build its response.

use crate::answer::ecs::{ClientSubnet, Malformed, parse_option};

/// The OPT pseudo-record type.
const OPT_TYPE: u16 = 41;
/// The EDNS option code of Client Subnet (RFC 7871).
const ECS_CODE: u16 = 8;
/// The EDNS option code of NSID (RFC 5001).
const NSID_CODE: u16 = 3;

/// What a query's OPT record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opt {
    /// The client's UDP payload size (the OPT CLASS).
    pub(crate) payload: u16,
    /// The EDNS version (the TTL's second byte).
    pub(crate) version: u8,
    /// The owner is the root, as RFC 6891 §6.1.2 requires.
    pub(crate) root_owner: bool,
    /// The ECS option: none, one valid, or malformed (bad framing of the
    /// options, a bad value, or two of them: RFC 7871 §7.1.1 FORMERR).
    pub(crate) ecs: Result<Option<ClientSubnet>, Malformed>,
    /// An ECS option was present, valid or not.
    pub(crate) ecs_present: bool,
    /// The query asked for the server's NSID (an empty NSID option).
    pub(crate) nsid: bool,
    /// The DO bit (RFC 3225): the client wants DNSSEC records.
    pub(crate) dnssec_ok: bool,
}

/// What one pass over a query read.
pub(crate) struct Parsed {
    /// The packet has a whole 12-byte header.
    pub(crate) header: bool,
    /// Header bytes 2 and 3: QR, OPCODE, AA, TC, RD; RA, Z, AD, CD, RCODE.
    pub(crate) flags: [u8; 2],
    /// QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
    pub(crate) counts: [u16; 4],
    /// QTYPE, when the query has exactly one question and it was read.
    pub(crate) qtype: Option<u16>,
    /// QCLASS of that question.
    pub(crate) qclass: u16,
    /// The question name has no compression and fits `name`.
    pub(crate) name_plain: bool,
    /// End of the question (offset after QCLASS).
    pub(crate) question_end: usize,
    /// The lower-cased QNAME in wire form (the first `name_len` bytes).
    pub(crate) name: [u8; 255],
    /// How many bytes of `name` are used.
    pub(crate) name_len: usize,
    /// Offsets of each label start within `name` (the first `label_count`).
    pub(crate) labels: [u8; 128],
    /// How many labels the name has (the root not counted).
    pub(crate) label_count: usize,
    /// The (last) OPT record, when the query had one.
    pub(crate) edns: Option<Opt>,
    /// How many OPT records the query had.
    pub(crate) opt_count: u16,
    /// Every record was read and the packet ends where the last one does.
    pub(crate) complete: bool,
}

#[cfg(test)]
thread_local! {
    /// How many times [`parse`] ran on this thread (tests count passes).
    pub(crate) static PARSES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Parsed {
    /// The query has the plain shape the fast path covers: a query
    /// (QR=0, OPCODE=0, TC=0) with one uncompressed class-IN question, no
    /// answer or authority records, at most one additional which is a
    /// version-0 OPT owned by the root with a valid ECS option if any, and
    /// no trailing bytes. Anything else the full path decides.
    pub(crate) fn plain(&self) -> bool {
        self.header
            && self.flags[0] & 0xfa == 0
            && self.counts[..3] == [1, 0, 0]
            && self.counts[3] <= 1
            && self.name_plain
            && self.qclass == 1
            && self.complete
            && match (self.counts[3], &self.edns) {
                (0, None) => true,
                (1, Some(opt)) => opt.version == 0 && opt.root_owner && opt.ecs.is_ok(),
                _ => false,
            }
    }

    /// The query's OPT set the DO bit (RFC 3225).
    pub(crate) fn dnssec_ok(&self) -> bool {
        self.edns.as_ref().is_some_and(|o| o.dnssec_ok)
    }

    /// The message is a response (QR set): dropped, never answered.
    pub(crate) fn is_response(&self) -> bool {
        self.flags[0] & 0x80 != 0
    }
}

/// Reads the header, the questions and every record's type, walking OPT
/// records' options; never fails (what could not be read is absent).
#[inline]
pub(crate) fn parse(packet: &[u8]) -> Parsed {
    #[cfg(test)]
    PARSES.with(|n| n.set(n.get() + 1));
    let mut parsed = Parsed {
        header: false,
        flags: [0; 2],
        counts: [0; 4],
        qtype: None,
        qclass: 0,
        name_plain: false,
        question_end: 0,
        name: [0; 255],
        name_len: 0,
        labels: [0; 128],
        label_count: 0,
        edns: None,
        opt_count: 0,
        complete: false,
    };
    let Some(header) = packet.get(..12) else {
        return parsed;
    };
    parsed.header = true;
    parsed.flags = [header[2], header[3]];
    for (i, count) in parsed.counts.iter_mut().enumerate() {
        *count = u16::from_be_bytes([header[4 + 2 * i], header[5 + 2 * i]]);
    }
    let mut pos = 12;
    for n in 0..parsed.counts[0] {
        if n == 0 && parsed.counts[0] == 1 {
            match copy_name(packet, pos, &mut parsed) {
                Some(end) => pos = end,
                None => match skip_name(packet, pos) {
                    Some(end) => pos = end,
                    None => return parsed,
                },
            }
        } else {
            let Some(end) = skip_name(packet, pos) else {
                return parsed;
            };
            pos = end;
        }
        let Some(fixed) = packet.get(pos..pos + 4) else {
            return parsed;
        };
        if parsed.counts[0] == 1 {
            parsed.qtype = Some(u16::from_be_bytes([fixed[0], fixed[1]]));
            parsed.qclass = u16::from_be_bytes([fixed[2], fixed[3]]);
        }
        pos += 4;
    }
    parsed.question_end = pos;
    let records = parsed.counts[1] as usize + parsed.counts[2] as usize + parsed.counts[3] as usize;
    for _ in 0..records {
        let root_owner = packet.get(pos) == Some(&0);
        let Some(end) = skip_name(packet, pos) else {
            return parsed;
        };
        let Some(fixed) = packet.get(end..end + 10) else {
            return parsed;
        };
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let Some(rdata) = packet.get(end + 10..end + 10 + len) else {
            return parsed;
        };
        if rtype == OPT_TYPE {
            parsed.opt_count += 1;
            let earlier = parsed.edns.map(|o| o.ecs);
            let mut opt = options(rdata);
            // A malformed ECS in any OPT record stays malformed.
            if let Some(Err(e)) = earlier {
                opt.ecs = Err(e);
            }
            opt.payload = u16::from_be_bytes([fixed[2], fixed[3]]);
            opt.version = fixed[5];
            opt.dnssec_ok = fixed[6] & 0x80 != 0;
            opt.root_owner = root_owner;
            parsed.edns = Some(opt);
        }
        pos = end + 10 + len;
    }
    parsed.complete = pos == packet.len();
    parsed
}

/// Copies the plain (uncompressed, at most 255 bytes and 127 labels)
/// question name at `pos` into `parsed`, lower-cased, and returns where it
/// ends; `None` for any other name (left to [`skip_name`]).
#[inline]
fn copy_name(packet: &[u8], mut pos: usize, parsed: &mut Parsed) -> Option<usize> {
    loop {
        let len = *packet.get(pos)? as usize;
        if len > 63 {
            return None; // compression or extended labels: not plain
        }
        let end = parsed.name_len + 1 + len;
        if end > 255 || parsed.label_count >= 128 {
            return None;
        }
        if len > 0 {
            parsed.labels[parsed.label_count] = parsed.name_len as u8;
            parsed.label_count += 1;
        }
        parsed.name[parsed.name_len] = len as u8;
        let label = packet.get(pos + 1..pos + 1 + len)?;
        for (dst, src) in parsed.name[parsed.name_len + 1..end].iter_mut().zip(label) {
            *dst = src.to_ascii_lowercase();
        }
        parsed.name_len = end;
        pos += 1 + len;
        if len == 0 {
            parsed.name_plain = true;
            return Some(pos);
        }
    }
}

/// Where the name at `pos` ends in the packet: after its root label, or
/// after the compression pointer that ends it.
#[inline]
fn skip_name(packet: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *packet.get(pos)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Some(pos + 1),
            0x00 => pos += 1 + len as usize,
            0xc0 => return packet.get(pos + 1).map(|_| pos + 2),
            _ => return None, // extended label types (RFC 6891 §5)
        }
    }
}

/// The options of an OPT record's RDATA (payload, version and owner are
/// filled in by the caller).
fn options(mut rdata: &[u8]) -> Opt {
    let mut opt = Opt {
        payload: 0,
        version: 0,
        root_owner: false,
        ecs: Ok(None),
        ecs_present: false,
        nsid: false,
        dnssec_ok: false,
    };
    while !rdata.is_empty() {
        let [c0, c1, l0, l1, rest @ ..] = rdata else {
            opt.ecs = Err(Malformed);
            return opt;
        };
        let code = u16::from_be_bytes([*c0, *c1]);
        let len = u16::from_be_bytes([*l0, *l1]) as usize;
        let Some((value, rest)) = rest.split_at_checked(len) else {
            opt.ecs = Err(Malformed);
            return opt;
        };
        match code {
            ECS_CODE => {
                opt.ecs = match (opt.ecs, opt.ecs_present) {
                    (Ok(None), false) => parse_option(value).map(Some),
                    // Two ECS options in one OPT.
                    _ => Err(Malformed),
                };
                opt.ecs_present = true;
            }
            NSID_CODE if value.is_empty() => opt.nsid = true,
            _ => {}
        }
        rdata = rest;
    }
    opt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(qtype: u16, opt: Option<&[u8]>) -> Vec<u8> {
        let mut q = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(opt.is_some())];
        q.extend_from_slice(&[3, b'W', b'w', b'w', 0]);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        if let Some(opt) = opt {
            q.extend_from_slice(opt);
        }
        q
    }

    #[test]
    fn reads_question_opt_and_ecs() {
        let p = parse(&query(28, None));
        assert!(p.plain());
        assert_eq!(p.qtype, Some(28));
        assert_eq!(&p.name[..p.name_len], b"\x03www\x00");
        assert!(p.edns.is_none());

        let ecs_opt = [0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 8, 0, 8, 0, 4, 0, 1, 0, 0];
        let p = parse(&query(1, Some(&ecs_opt)));
        assert!(p.plain());
        let opt = p.edns.unwrap();
        assert_eq!((opt.payload, opt.version), (1024, 0));
        assert!(opt.ecs_present);
        assert_eq!(opt.ecs.unwrap().unwrap().source_prefix, 0);

        // Version 1: read, but not plain (BADVERS is the full path's).
        let mut v1 = ecs_opt;
        v1[6] = 1;
        let p = parse(&query(1, Some(&v1)));
        assert_eq!(p.edns.unwrap().version, 1);
        assert!(!p.plain());

        // Two ECS options: malformed, present.
        let two = [
            0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 16, 0, 8, 0, 4, 0, 1, 0, 0, 0, 8, 0, 4, 0, 1, 0, 0,
        ];
        let p = parse(&query(1, Some(&two)));
        let opt = p.edns.unwrap();
        assert!(opt.ecs_present && opt.ecs.is_err() && !p.plain());

        // Trailing bytes: read, not complete.
        let mut trailing = query(1, None);
        trailing.push(0);
        let p = parse(&trailing);
        assert_eq!(p.qtype, Some(1));
        assert!(!p.complete && !p.plain());

        // Garbage never panics.
        let p = parse(&[0xff; 5]);
        assert!(!p.header && p.qtype.is_none());
        let p = parse(&[0xff; 40]);
        assert!(p.header && !p.plain());
    }

    #[test]
    fn compressed_records_are_walked() {
        // One question, one additional OPT whose owner is a pointer to the
        // question name (not root: not plain), with an NSID request.
        let mut q = query(1, None);
        q[11] = 1;
        q.extend_from_slice(&[0xc0, 12, 0, 41, 4, 0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0]);
        let p = parse(&q);
        let opt = p.edns.unwrap();
        assert!(p.complete && opt.nsid && !opt.root_owner && !p.plain());
    }
}
