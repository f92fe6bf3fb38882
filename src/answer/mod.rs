//! The query path: bytes in, bytes out, from one [`View`] of a snapshot's tables.
//!
//! [`respond_into`] reads the query once (`query.rs`: header, question,
//! OPT), answers it by the fast path when the query is plain and covered,
//! else by the full path ([`respond`]: FORMERR, NOTIMP, BADVERS from what
//! was read, look the name up, encode within the transport's size limit,
//! setting TC when the answer does not fit), and returns the
//! [`QueryFacts`] the listeners' metrics and query log record, so nothing
//! after it reads the packet again. It never panics and never blocks: any
//! failure to encode becomes SERVFAIL.

mod ecs;
#[cfg(test)]
mod facts_tests;
mod fast;
#[cfg(test)]
mod fast_tests;
mod lookup;
mod managed;
pub mod nsid;
mod query;
mod view;

pub use ecs::{ClientSubnet, Malformed};
pub use fast::{Fast, FastTable};
pub use lookup::{Sections, lookup};
pub use view::View;

/// The EDNS Client Subnet option of `packet`, as the one query reader
/// (`query::parse`) reads it: `Ok(None)` without one, `Err` when it is
/// malformed (the query gets FORMERR, RFC 7871 §7.1.1). For the fuzz target
/// and tools; the query path reads it together with everything else.
pub fn read_client_subnet(packet: &[u8]) -> Result<Option<ClientSubnet>, Malformed> {
    match query::parse(packet).edns {
        Some(opt) if opt.ecs_present => opt.ecs,
        _ => Ok(None),
    }
}

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet as EcsOption, EdnsOption, NSIDPayload};
use hickory_proto::rr::rdata::tsig::{TSIG, TsigError, make_tsig_record};
use hickory_proto::rr::{DNSClass, RecordType};

use crate::answer::query::{Parsed, Request, parse};
use crate::traffic::Client;

/// The transport a query arrived on; it decides the response size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: 512 bytes, or the EDNS size both sides agree on.
    Udp,
    /// TCP: up to 65535 bytes.
    Tcp,
}

impl Transport {
    /// The label value in metrics and the query log: `udp` or `tcp`.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// Who asked and how: the per-query facts that are not in the packet.
#[derive(Debug, Clone, Copy)]
pub struct QueryMeta {
    /// The source address of the query.
    pub source: SocketAddr,
    /// The transport it came over.
    pub transport: Transport,
}

/// Which path produced an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnswerPath {
    /// The precompiled fast path.
    #[default]
    Fast,
    /// The full path (decode, lookup, encode).
    Full,
}

/// What [`respond_into`] learned answering one message: everything the
/// listeners' metrics and query log record, so they never read the packet
/// themselves. Small and `Copy`; filling it costs nothing extra.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueryFacts {
    /// A response is in `out`; false when the message is dropped unanswered.
    pub answered: bool,
    /// The path that answered (or dropped).
    pub path: AnswerPath,
    /// QTYPE, when the query has exactly one question that could be read.
    pub qtype: Option<u16>,
    /// The response code sent, extended (BADVERS is 16); 0 when dropped.
    pub rcode: u16,
    /// The response has TC set.
    pub truncated: bool,
    /// The query's EDNS version, when it had an OPT record.
    pub edns_version: Option<u8>,
    /// The query carried an ECS option, valid or not.
    pub ecs_present: bool,
    /// The query's ECS option, when it was valid.
    pub ecs: Option<ClientSubnet>,
    /// The scope prefix of the ECS option echoed in the response.
    pub ecs_scope: Option<u8>,
}

impl QueryFacts {
    /// The facts the query alone gives (before any answer).
    fn of(parsed: &Parsed, path: AnswerPath) -> QueryFacts {
        QueryFacts {
            answered: false,
            path,
            qtype: parsed.qtype,
            rcode: 0,
            truncated: false,
            edns_version: parsed.edns.map(|o| o.version),
            ecs_present: parsed.edns.is_some_and(|o| o.ecs_present),
            ecs: parsed.edns.and_then(|o| o.ecs.ok().flatten()),
            ecs_scope: None,
        }
    }

    /// Adds what the response in `out` says: RCODE (`badvers`: the
    /// extended BADVERS, whose header bits are 0) and TC.
    fn answered(mut self, out: &[u8], badvers: bool, ecs_scope: Option<u8>) -> QueryFacts {
        self.answered = true;
        self.rcode = out.get(3).map_or(0, |b| u16::from(b & 0x0f)) + if badvers { 16 } else { 0 };
        self.truncated = out.get(2).is_some_and(|b| b & 0x02 != 0);
        self.ecs_scope = ecs_scope;
        self
    }
}

/// The size every DNS client accepts over UDP without EDNS (RFC 1035 §4.2.1).
const CLASSIC_UDP_LIMIT: usize = 512;

/// The most bytes a response may have: 64 KiB over TCP; over UDP the
/// smaller of the client's EDNS size and ours, never under 512, or 512
/// without EDNS. Both paths size their answers by this.
fn size_limit(client_payload: Option<u16>, transport: Transport, our_payload: u16) -> usize {
    match (client_payload, transport) {
        (_, Transport::Tcp) => u16::MAX as usize,
        (Some(size), Transport::Udp) => (size.min(our_payload) as usize).max(CLASSIC_UDP_LIMIT),
        (None, Transport::Udp) => CLASSIC_UDP_LIMIT,
    }
}

/// Who the policy answers: the ECS subnet when the query sent one, else
/// the source address. Both paths build their client here.
fn client_of(source: IpAddr, ecs: Option<ClientSubnet>) -> Client {
    Client {
        addr: ecs.map_or(source, |s| s.addr),
        ecs_source_prefix: ecs.map(|s| s.source_prefix),
    }
}

/// Answers one DNS message into `out` (cleared first), by the fast path
/// when it covers the query, else the full path, and returns what the
/// listeners record about it; `answered` is false when the message must
/// be dropped silently. The packet is read once, here.
///
/// The answer path is written not to panic (and fuzzed for it); should a
/// bug panic anyway, it costs that one query, never the listener: a panic
/// unwinding out of here would end a UDP worker thread.
pub fn respond_into(
    snapshot: &View<'_>,
    packet: &[u8],
    meta: &QueryMeta,
    rng: &mut fastrand::Rng,
    out: &mut Vec<u8>,
) -> QueryFacts {
    let answer = std::panic::AssertUnwindSafe(|| answer_into(snapshot, packet, meta, rng, out));
    match std::panic::catch_unwind(answer) {
        Ok(facts) => facts,
        Err(_) => {
            out.clear();
            static PANICS: crate::logging::Throttle = crate::logging::Throttle::new("query_panic");
            if PANICS.allow() {
                tracing::error!(
                    len = packet.len(),
                    "bug: the query path panicked; query dropped"
                );
            }
            QueryFacts::default()
        }
    }
}

/// [`respond_into`] without the panic guard.
fn answer_into(
    snapshot: &View<'_>,
    packet: &[u8],
    meta: &QueryMeta,
    rng: &mut fastrand::Rng,
    out: &mut Vec<u8>,
) -> QueryFacts {
    let parsed = parse(packet);
    if parsed.plain()
        && let Some(scope) = fast::answer_parsed(snapshot, &parsed, packet, meta, rng, out)
    {
        let facts = QueryFacts::of(&parsed, AnswerPath::Fast);
        let scope = facts.ecs.map(|e| scope.min(e.source_prefix));
        return facts.answered(out, false, scope);
    }
    out.clear();
    let facts = QueryFacts::of(&parsed, AnswerPath::Full);
    match full(snapshot, &parsed, packet, meta, rng) {
        Some((bytes, outcome)) => {
            out.extend_from_slice(&bytes);
            facts.answered(out, outcome.badvers, outcome.ecs_scope)
        }
        None => facts,
    }
}

/// Answers one DNS message by the full path. Returns `None` when the message must be
/// dropped silently (too short to have a header, or itself a response).
/// `rng` drives weighted and shuffled answers; each worker owns one.
pub fn respond(
    snapshot: &View<'_>,
    packet: &[u8],
    meta: &QueryMeta,
    rng: &mut fastrand::Rng,
) -> Option<Vec<u8>> {
    full(snapshot, &parse(packet), packet, meta, rng).map(|(bytes, _)| bytes)
}

/// What the full path's answer says beyond its header bytes.
struct FullOutcome {
    /// The RCODE is BADVERS (extended: the header's bits are 0).
    badvers: bool,
    /// The scope of the echoed ECS option, if one was echoed.
    ecs_scope: Option<u8>,
}

impl FullOutcome {
    /// An answer with neither BADVERS nor an ECS echo.
    const PLAIN: FullOutcome = FullOutcome {
        badvers: false,
        ecs_scope: None,
    };
}

/// The full path on a query already read into `parsed`: the response is
/// built from it (header, question, OPT, ECS, TSIG; see
/// [`query::Request`]) and encoded with hickory-proto; the incoming message
/// is never decoded again.
fn full(
    snapshot: &View<'_>,
    parsed: &Parsed,
    packet: &[u8],
    meta: &QueryMeta,
    rng: &mut fastrand::Rng,
) -> Option<(Vec<u8>, FullOutcome)> {
    if !parsed.header || parsed.is_response() {
        return None;
    }
    let Some(request) = Request::read(parsed, packet) else {
        return Some((bare_formerr(packet), FullOutcome::PLAIN));
    };
    let op_code = OpCode::from_u8(parsed.op_code());
    let mut response = Message::new(
        u16::from_be_bytes([packet[0], packet[1]]),
        MessageType::Response,
        op_code,
    );
    response.metadata.recursion_desired = parsed.flags[0] & 0x01 != 0;
    response.metadata.checking_disabled = parsed.flags[1] & 0x10 != 0;
    response.add_queries(request.queries.iter().cloned());
    let limit = size_limit(
        parsed.edns.map(|o| o.payload),
        meta.transport,
        snapshot.edns_udp_payload,
    );
    let mut edns = parsed.edns.map(|asked| {
        let mut edns = Edns::new();
        edns.set_max_payload(snapshot.edns_udp_payload);
        // RFC 3225 §3: the DO bit is copied into the response.
        edns.set_dnssec_ok(asked.dnssec_ok);
        if !snapshot.nsid.is_empty()
            && asked.nsid
            && let Ok(payload) = NSIDPayload::new(&snapshot.nsid[4..])
        {
            edns.options_mut().insert(EdnsOption::NSID(payload));
        }
        edns
    });
    let plain = |bytes| Some((bytes, FullOutcome::PLAIN));
    if let Some((key, signed)) = &request.tsig {
        // RFC 8945 §5.2.2: no key is configured, so every key is unknown:
        // NOTAUTH, and an unsigned TSIG with error BADKEY (§5.3.2).
        response.metadata.response_code = ResponseCode::NotAuth;
        response.metadata.checking_disabled = false;
        let tsig = TSIG::new(
            signed.algorithm.clone(),
            signed.time,
            signed.fudge,
            Vec::new(),
            signed.oid,
            Some(TsigError::BadKey),
            Vec::new(),
        );
        response.signature = Some(Box::new(make_tsig_record(key.clone(), tsig)));
        return plain(encode_or_servfail(response, edns, limit, false));
    }
    if op_code != OpCode::Query {
        // RFC 6891 §6.1.1: a request with OPT gets OPT back, errors included.
        // RFC 1035 §4.1.1 lets only RD be copied into a NOTIMP answer.
        response.metadata.response_code = ResponseCode::NotImp;
        response.metadata.checking_disabled = false;
        return plain(encode_or_servfail(response, edns, limit, false));
    }
    if parsed.edns.is_some_and(|o| o.version > 0) {
        // RFC 6891 §6.1.3: answer BADVERS with the version we do speak (0).
        response.metadata.response_code = ResponseCode::BADVERS;
        let bytes = encode_or_servfail(response, edns, limit, false);
        // BADVERS needs the OPT record; a response that lost it says SERVFAIL.
        let badvers = bytes.get(3).is_some_and(|b| b & 0x0f == 0);
        return Some((
            bytes,
            FullOutcome {
                badvers,
                ecs_scope: None,
            },
        ));
    }
    let [query] = request.queries.as_slice() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return plain(encode_or_servfail(response, edns, limit, false));
    };
    // RFC 7871 §7.1.1: a malformed ECS option is a malformed query.
    let subnet = match parsed.edns.filter(|o| o.ecs_present) {
        Some(opt) => match opt.ecs {
            Ok(subnet) => subnet,
            Err(_) => {
                response.metadata.response_code = ResponseCode::FormErr;
                return plain(encode_or_servfail(response, edns, limit, false));
            }
        },
        None => None,
    };
    let client = client_of(meta.source.ip(), subnet);
    let qtype = query.query_type();
    let mut sections = match qtype {
        // RFC 9824 §2: NXNAME is a meta-type; asking for it is malformed.
        RecordType::OPT | crate::dnssec::denial::NXNAME => {
            response.metadata.response_code = ResponseCode::FormErr;
            return plain(encode_or_servfail(response, edns, limit, false));
        }
        // Zone transfers are not offered: refuse rather than pretend.
        RecordType::AXFR | RecordType::IXFR => Sections::refused(),
        _ if query.query_class() != DNSClass::IN && query.query_class() != DNSClass::ANY => {
            Sections::refused()
        }
        _ => lookup(snapshot, query.name(), qtype, &client, rng),
    };
    if !snapshot.dnssec.is_empty() {
        let dnssec_ok = parsed.dnssec_ok();
        crate::dnssec::apply(
            snapshot.dnssec,
            snapshot.zones,
            snapshot.plan,
            query.name(),
            qtype,
            dnssec_ok,
            crate::dnssec::Response {
                rcode: &mut sections.rcode,
                answers: &mut sections.answers,
                authority: &mut sections.authority,
            },
        );
    }
    let mut ecs_scope = None;
    if let (Some(edns), Some(subnet)) = (edns.as_mut(), subnet) {
        // Echo family, source prefix and address; the scope says how much
        // of it the answer depended on, never more than was sent.
        let scope = sections.ecs_scope.min(subnet.source_prefix);
        ecs_scope = Some(scope);
        edns.options_mut().insert(EdnsOption::Subnet(EcsOption::new(
            subnet.addr,
            subnet.source_prefix,
            scope,
        )));
    }
    Some((
        finish(response, sections, edns, limit),
        FullOutcome {
            badvers: false,
            ecs_scope,
        },
    ))
}

/// Puts `sections` into `response` and encodes it within `limit` bytes.
pub(crate) fn finish(
    mut response: Message,
    sections: Sections,
    edns: Option<Edns>,
    limit: usize,
) -> Vec<u8> {
    response.metadata.authoritative = sections.authoritative;
    response.metadata.response_code = sections.rcode;
    response.answers = sections.answers;
    response.authorities = sections.authority;
    response.additionals = sections.additional;
    encode_or_servfail(response, edns, limit, sections.glue_required)
}

/// A response carrying only the header's ID, opcode and RD with RCODE
/// FORMERR, for queries too broken to echo (RFC 1035 §4.1.1), written from
/// the header bytes (at least 12: the caller checked).
fn bare_formerr(packet: &[u8]) -> Vec<u8> {
    // QR, the query's OPCODE and RD; RCODE 1; every count 0.
    let flags = 0x80 | (packet[2] & 0x78) | (packet[2] & 0x01);
    let mut out = Vec::with_capacity(12);
    out.extend_from_slice(&packet[..2]);
    out.extend_from_slice(&[flags, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
    out
}

/// Encodes `response` within `limit` bytes: first whole; then without the
/// optional additional section; then truncated to the question with TC set,
/// so the client retries over TCP (RFC 7766 §5).
fn encode_or_servfail(
    mut response: Message,
    edns: Option<Edns>,
    limit: usize,
    glue_required: bool,
) -> Vec<u8> {
    if let Some(edns) = edns {
        response.set_edns(edns);
    }
    if let Ok(bytes) = response.to_vec()
        && bytes.len() <= limit
    {
        return bytes;
    }
    if !glue_required && !response.additionals.is_empty() {
        response.additionals.clear();
        if let Ok(bytes) = response.to_vec()
            && bytes.len() <= limit
        {
            return bytes;
        }
    }
    response.answers.clear();
    response.authorities.clear();
    response.additionals.clear();
    response.metadata.truncation = true;
    response.to_vec().unwrap_or_else(|_| {
        // Only a question we could decode but not re-encode gets here.
        response.queries.clear();
        response.metadata.truncation = false;
        response.metadata.response_code = ResponseCode::ServFail;
        response.to_vec().unwrap_or_default()
    })
}
