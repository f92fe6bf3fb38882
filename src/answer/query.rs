//! Reading a query's header, question and OPT record straight from the
//! packet, once per query and without allocating.
//!
//! This is the one reader of those parts of a query: the fast path takes
//! the result when the query has the plain shape it covers
//! ([`Parsed::plain`]), the full path takes its header checks (responses
//! dropped, EDNS version, ECS) from it, and the listeners' metrics and
//! query log read the [`QueryFacts`](crate::answer::QueryFacts) built from
//! it. The full path builds its response from it too ([`Request::read`]
//! takes the question names in the case sent and a TSIG record's fields):
//! nothing decodes the incoming message with hickory-proto. The walk
//! refuses what hickory-proto's decoder refused ([`Parsed::malformed`]), so
//! a message answered with a bare FORMERR before still is, with two
//! exceptions: the RDATA of records other than OPT and TSIG is not read
//! (hickory refused, say, a 5-byte A record in a query's additional
//! section; such a query is now answered, its extra records ignored as
//! before); and an EDNS option that runs past the end of its OPT record,
//! but is not longer than the whole RDATA (hickory read on into the bytes
//! after it), is ignored, or makes the ECS option malformed (FORMERR with
//! the question echoed) when one came before it.

use hickory_proto::op::Query;
use hickory_proto::rr::rdata::tsig::{TSIG, TsigAlgorithm};
use hickory_proto::rr::{DNSClass, Name, RecordType};

use crate::answer::ecs::{ClientSubnet, Malformed, parse_option};

/// The OPT pseudo-record type.
const OPT_TYPE: u16 = 41;
/// The EDNS option code of Client Subnet (RFC 7871).
const ECS_CODE: u16 = 8;
/// The EDNS option code of NSID (RFC 5001).
const NSID_CODE: u16 = 3;
/// The SIG record type (SIG(0), RFC 2931).
const SIG_TYPE: u16 = 24;
/// The TSIG record type (RFC 8945).
const TSIG_TYPE: u16 = 250;
/// The UPDATE opcode (RFC 2136), whose records may have empty RDATA.
const UPDATE_OPCODE: u8 = 5;

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
    /// An option hickory-proto's decoder refused (longer than the whole
    /// RDATA, or an ECS value it cannot read): the message is
    /// [`Parsed::malformed`].
    pub(crate) undecodable: bool,
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
    /// Every record was read (bytes may follow the last one).
    pub(crate) records_read: bool,
    /// The message breaks a rule of the wire format that the full path
    /// answers with a bare FORMERR: a name with a label type other than
    /// length or pointer, a pointer that does not point before the name,
    /// a name over 255 bytes, OPT, SIG or TSIG outside the additional
    /// section, an OPT not owned by the root, more than one OPT, a record
    /// after a TSIG, or empty RDATA outside UPDATE (RFC 2136 uses it).
    pub(crate) malformed: bool,
    /// Where the TSIG record (the last additional) starts, if there is one.
    pub(crate) tsig_at: Option<usize>,
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

    /// The OPCODE (header bits 1-4).
    pub(crate) fn op_code(&self) -> u8 {
        (self.flags[0] >> 3) & 0x0f
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
        records_read: false,
        malformed: false,
        tsig_at: None,
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
                    Some(end) => {
                        parsed.malformed |= !valid_name(packet, pos);
                        pos = end;
                    }
                    None => return parsed,
                },
            }
        } else {
            let Some(end) = skip_name(packet, pos) else {
                return parsed;
            };
            parsed.malformed |= !valid_name(packet, pos);
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
    // Answer and authority records come before this many.
    let before_additional = parsed.counts[1] as usize + parsed.counts[2] as usize;
    let records = before_additional + parsed.counts[3] as usize;
    for i in 0..records {
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
        // The rules hickory-proto's decoder enforced (RFC 1035 §4.1.4,
        // RFC 6891 §6.1.1, RFC 8945 §5.1); an owner other than the root
        // (rare in a query) has its pointers checked.
        let additional = i >= before_additional;
        parsed.malformed |= (!root_owner && !valid_name(packet, pos))
            || parsed.tsig_at.is_some()
            || (!additional && matches!(rtype, OPT_TYPE | SIG_TYPE | TSIG_TYPE))
            || (rtype == OPT_TYPE && (!root_owner || parsed.opt_count > 0))
            || (len == 0 && rtype != OPT_TYPE && parsed.op_code() != UPDATE_OPCODE);
        if rtype == TSIG_TYPE {
            parsed.tsig_at = Some(pos);
        }
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
            parsed.malformed |= opt.undecodable;
            parsed.edns = Some(opt);
        }
        pos = end + 10 + len;
    }
    parsed.records_read = true;
    parsed.complete = pos == packet.len();
    parsed
}

/// True when the name at `pos` reads as hickory-proto reads names: length
/// or pointer labels only, every pointer pointing before the name it
/// continues, at most 255 bytes in all.
fn valid_name(packet: &[u8], pos: usize) -> bool {
    read_name(packet, pos, |_| {}).is_some()
}

/// Reads the (possibly compressed) name at `pos`, handing each label's
/// bytes, in the case sent, to `label`; returns where the name ends in the
/// packet, or `None` when it breaks the rules [`valid_name`] checks.
fn read_name<'p>(
    packet: &'p [u8],
    mut pos: usize,
    mut label: impl FnMut(&'p [u8]),
) -> Option<usize> {
    // Where the name being read starts: a pointer must point before it,
    // and reading must not run into it (no loops, no overlaps).
    let mut name_start = pos;
    let mut limit = usize::MAX;
    let mut end = None;
    let mut wire_len = 1;
    loop {
        if pos >= limit {
            return None;
        }
        let len = *packet.get(pos)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Some(end.unwrap_or(pos + 1)),
            0x00 => {
                let bytes = packet.get(pos + 1..pos + 1 + len as usize)?;
                wire_len += 1 + bytes.len();
                if wire_len > 255 {
                    return None;
                }
                label(bytes);
                pos += 1 + bytes.len();
            }
            0xc0 => {
                let low = *packet.get(pos + 1)?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                if target >= name_start {
                    return None;
                }
                end.get_or_insert(pos + 2);
                limit = name_start;
                name_start = target;
                pos = target;
            }
            _ => return None,
        }
    }
}

/// The name at `pos` as a hickory [`Name`] in the case sent, and where it
/// ends in the packet.
fn name_at(packet: &[u8], pos: usize) -> Option<(Name, usize)> {
    let mut labels: Vec<&[u8]> = Vec::new();
    let end = read_name(packet, pos, |l| labels.push(l))?;
    Some((Name::from_labels(labels).ok()?, end))
}

/// What the full path needs of a query beyond [`Parsed`]: its questions
/// (echoed in the response, in the case sent) and, when it is signed, the
/// TSIG record's key name and fields.
pub(crate) struct Request {
    /// Every question, in order.
    pub(crate) queries: Vec<Query>,
    /// The TSIG record's owner (the key name) and its RDATA.
    pub(crate) tsig: Option<(Name, TSIG)>,
}

impl Request {
    /// Reads the questions and the TSIG record of a query `parsed` walked;
    /// `None` when the message is one the full path answers with a bare
    /// FORMERR (cut short, [`Parsed::malformed`], or a TSIG RDATA that
    /// does not read).
    pub(crate) fn read(parsed: &Parsed, packet: &[u8]) -> Option<Request> {
        if !parsed.header || !parsed.records_read || parsed.malformed {
            return None;
        }
        let mut queries = Vec::with_capacity(usize::from(parsed.counts[0]).min(8));
        let mut pos = 12;
        for _ in 0..parsed.counts[0] {
            let (name, end) = name_at(packet, pos)?;
            let fixed = packet.get(end..end + 4)?;
            let mut query = Query::query(
                name,
                RecordType::from(u16::from_be_bytes([fixed[0], fixed[1]])),
            );
            query.set_query_class(DNSClass::from(u16::from_be_bytes([fixed[2], fixed[3]])));
            queries.push(query);
            pos = end + 4;
        }
        let tsig = match parsed.tsig_at {
            Some(at) => Some(read_tsig(packet, at)?),
            None => None,
        };
        Some(Request { queries, tsig })
    }
}

/// The TSIG record at `at`: its owner and RDATA (RFC 8945 §4.2), read as
/// strictly as hickory-proto reads it (lengths must add up exactly).
fn read_tsig(packet: &[u8], at: usize) -> Option<(Name, TSIG)> {
    let (key, end) = name_at(packet, at)?;
    let fixed = packet.get(end..end + 10)?;
    let start = end + 10;
    let rdata_end = start + usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let (algorithm, mut pos) = name_at(packet, start)?;
    let u16_at = |pos: usize| -> Option<u16> {
        let b = packet.get(pos..pos + 2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    };
    let time = packet
        .get(pos..pos + 6)?
        .iter()
        .fold(0u64, |t, b| t << 8 | u64::from(*b));
    let fudge = u16_at(pos + 6)?;
    let mac_size = usize::from(u16_at(pos + 8)?);
    pos += 10;
    if pos + mac_size + 6 > rdata_end {
        return None;
    }
    pos += mac_size;
    let oid = u16_at(pos)?;
    let other_len = usize::from(u16_at(pos + 4)?);
    if pos + 6 + other_len != rdata_end || rdata_end > packet.len() {
        return None;
    }
    let tsig = TSIG::new(
        TsigAlgorithm::from_name(algorithm),
        time,
        fudge,
        Vec::new(),
        oid,
        None,
        Vec::new(),
    );
    Some((key, tsig))
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
    let total = rdata.len();
    let mut opt = Opt {
        payload: 0,
        version: 0,
        root_owner: false,
        ecs: Ok(None),
        ecs_present: false,
        nsid: false,
        dnssec_ok: false,
        undecodable: false,
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
            opt.undecodable = len > total;
            return opt;
        };
        match code {
            ECS_CODE => {
                opt.undecodable |= !ecs_decodes(value);
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

/// True when hickory-proto's decoder reads the ECS option `value`: a
/// known family, a source prefix that fits it, and the address bytes it
/// implies (bits past the prefix and extra bytes it lets pass; RFC 7871
/// FORMERR for those is [`parse_option`]'s).
fn ecs_decodes(value: &[u8]) -> bool {
    let [f0, f1, source_prefix, _scope, address @ ..] = value else {
        return false;
    };
    let bytes = match u16::from_be_bytes([*f0, *f1]) {
        1 => 4,
        2 => 16,
        _ => return false,
    };
    let needed = usize::from(*source_prefix).div_ceil(8);
    needed <= bytes && address.len() >= needed
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
