//! Reading a query's header, question and OPT record straight from the
//! packet, for the fast path: no allocation, and `None` for anything out of
//! the ordinary, which the full path then decodes with hickory-proto.

use crate::answer::ecs::{ClientSubnet, parse_option};

/// What the fast path parsed from a query.
pub(crate) struct Parsed {
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
    /// QTYPE.
    pub(crate) qtype: u16,
    /// The client's EDNS UDP size, when the query had OPT.
    pub(crate) edns: Option<u16>,
    /// A valid EDNS Client Subnet option, when the query had one.
    pub(crate) ecs: Option<ClientSubnet>,
    /// The query asked for the server's NSID (an empty NSID option).
    pub(crate) nsid: bool,
    /// The DO bit (RFC 3225): the client wants DNSSEC records.
    pub(crate) dnssec_ok: bool,
}

/// Parses the header, question and an optional OPT; `None` for anything
/// unusual (the full path then decides what it is).
pub(crate) fn parse(packet: &[u8]) -> Option<Parsed> {
    let header = packet.get(..12)?;
    // QR=0, OPCODE=0, TC=0; QDCOUNT=1, ANCOUNT=0, NSCOUNT=0, ARCOUNT<=1.
    if header[2] & 0xfa != 0
        || header[4..10] != [0, 1, 0, 0, 0, 0]
        || header[10] != 0
        || header[11] > 1
    {
        return None;
    }
    let mut parsed = Parsed {
        question_end: 0,
        name: [0; 255],
        name_len: 0,
        labels: [0; 128],
        label_count: 0,
        qtype: 0,
        edns: None,
        ecs: None,
        nsid: false,
        dnssec_ok: false,
    };
    let mut pos = 12;
    loop {
        let len = *packet.get(pos)? as usize;
        if len > 63 {
            return None; // compression or extended labels: not in a plain question
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
            break;
        }
    }
    let fixed = packet.get(pos..pos + 4)?;
    parsed.qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    if u16::from_be_bytes([fixed[2], fixed[3]]) != 1 {
        return None; // class IN only
    }
    pos += 4;
    parsed.question_end = pos;
    if header[11] == 1 {
        // OPT: root owner, type 41, version 0, then options.
        let opt = packet.get(pos..pos + 11)?;
        if opt[0] != 0 || opt[1..3] != [0, 41] || opt[6] != 0 {
            return None;
        }
        parsed.edns = Some(u16::from_be_bytes([opt[3], opt[4]]));
        parsed.dnssec_ok = opt[7] & 0x80 != 0;
        let rdlen = u16::from_be_bytes([opt[9], opt[10]]) as usize;
        let mut options = packet.get(pos + 11..pos + 11 + rdlen)?;
        pos += 11 + rdlen;
        while !options.is_empty() {
            let [c0, c1, l0, l1, rest @ ..] = options else {
                return None;
            };
            let len = u16::from_be_bytes([*l0, *l1]) as usize;
            let (value, rest) = rest.split_at_checked(len)?;
            if [*c0, *c1] == [0, 8] {
                if parsed.ecs.is_some() {
                    return None;
                }
                parsed.ecs = Some(parse_option(value).ok()?);
            } else if [*c0, *c1] == [0, 3] && value.is_empty() {
                parsed.nsid = true;
            }
            options = rest;
        }
    }
    // Trailing bytes make it malformed: the full path says FORMERR.
    (pos == packet.len()).then_some(parsed)
}
