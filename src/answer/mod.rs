//! The query path: bytes in, bytes out, from one [`View`] of a snapshot's tables.
//!
//! [`respond`] decodes a query, validates it (FORMERR, NOTIMP, BADVERS),
//! looks the name up, and encodes the response within the transport's size
//! limit, setting TC when the answer does not fit. It never panics and never
//! blocks: any failure to encode becomes SERVFAIL.

mod ecs;
mod fast;
#[cfg(test)]
mod fast_tests;
mod lookup;
mod managed;
pub mod nsid;
mod query;
mod view;

pub use ecs::{ClientSubnet, read_client_subnet};
pub use fast::{Fast, FastTable};
pub use lookup::{Sections, lookup};
pub use view::View;

use std::net::SocketAddr;

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet as EcsOption, EdnsCode, EdnsOption, NSIDPayload};
use hickory_proto::rr::rdata::tsig::{TSIG, TsigError, make_tsig_record};
use hickory_proto::rr::{DNSClass, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::traffic::Client;

/// The transport a query arrived on; it decides the response size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: 512 bytes, or the EDNS size both sides agree on.
    Udp,
    /// TCP: up to 65535 bytes.
    Tcp,
}

/// Who asked and how: the per-query facts that are not in the packet.
#[derive(Debug, Clone, Copy)]
pub struct QueryMeta {
    /// The source address of the query.
    pub source: SocketAddr,
    /// The transport it came over.
    pub transport: Transport,
}

/// The size every DNS client accepts over UDP without EDNS (RFC 1035 §4.2.1).
const CLASSIC_UDP_LIMIT: usize = 512;

/// Answers one DNS message into `out` (cleared first), by the fast path
/// when it covers the query, else the full path. Returns false when the
/// message must be dropped silently.
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
) -> bool {
    let answer = std::panic::AssertUnwindSafe(|| answer_into(snapshot, packet, meta, rng, out));
    match std::panic::catch_unwind(answer) {
        Ok(answered) => answered,
        Err(_) => {
            out.clear();
            static PANICS: crate::logging::Throttle = crate::logging::Throttle::new("query_panic");
            if PANICS.allow() {
                tracing::error!(
                    len = packet.len(),
                    "bug: the query path panicked; query dropped"
                );
            }
            false
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
) -> bool {
    if fast::answer(snapshot, packet, meta, rng, out) == Fast::Answered {
        return true;
    }
    out.clear();
    match respond(snapshot, packet, meta, rng) {
        Some(bytes) => {
            out.extend_from_slice(&bytes);
            true
        }
        None => false,
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
    let header = Header::read(&mut BinDecoder::new(packet)).ok()?;
    if header.metadata.message_type == MessageType::Response {
        return None;
    }
    let request = match Message::from_vec(packet) {
        Ok(request) => request,
        Err(_) => return Some(bare_error(&header, ResponseCode::FormErr)),
    };
    let mut response = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.checking_disabled = request.metadata.checking_disabled;
    response.add_queries(request.queries.iter().cloned());
    let limit = match (&request.edns, meta.transport) {
        (_, Transport::Tcp) => u16::MAX as usize,
        (Some(edns), Transport::Udp) => {
            (edns.max_payload().min(snapshot.edns_udp_payload) as usize).max(CLASSIC_UDP_LIMIT)
        }
        (None, Transport::Udp) => CLASSIC_UDP_LIMIT,
    };
    let mut edns = request.edns.as_ref().map(|request| {
        let mut edns = Edns::new();
        edns.set_max_payload(snapshot.edns_udp_payload);
        if !snapshot.nsid.is_empty()
            && let Some(EdnsOption::NSID(asked)) = request.option(EdnsCode::NSID)
            && asked.as_ref().is_empty()
            && let Ok(payload) = NSIDPayload::new(&snapshot.nsid[4..])
        {
            edns.options_mut().insert(EdnsOption::NSID(payload));
        }
        edns
    });
    // Without DNSSEC support hickory leaves the TSIG record (always last,
    // RFC 8945 §5.1) among the additionals.
    let tsig = request.additionals.last().and_then(|r| match &r.data {
        RData::TSIG(tsig) => Some((&r.name, tsig)),
        _ => None,
    });
    if let Some((key, signed)) = tsig {
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
        return Some(encode_or_servfail(response, edns, limit, false));
    }
    if request.metadata.op_code != OpCode::Query {
        // RFC 6891 §6.1.1: a request with OPT gets OPT back, errors included.
        // RFC 1035 §4.1.1 lets only RD be copied into a NOTIMP answer.
        response.metadata.response_code = ResponseCode::NotImp;
        response.metadata.checking_disabled = false;
        return Some(encode_or_servfail(response, edns, limit, false));
    }
    if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
        // RFC 6891 §6.1.3: answer BADVERS with the version we do speak (0).
        response.metadata.response_code = ResponseCode::BADVERS;
        return Some(encode_or_servfail(response, edns, limit, false));
    }
    let [query] = request.queries.as_slice() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return Some(encode_or_servfail(response, edns, limit, false));
    };
    // RFC 7871 §7.1.1: a malformed ECS option is a malformed query.
    let has_ecs = request
        .edns
        .as_ref()
        .is_some_and(|e| e.option(EdnsCode::Subnet).is_some());
    let subnet = match has_ecs.then(|| read_client_subnet(packet)) {
        Some(Ok(subnet)) => subnet,
        Some(Err(_)) => {
            response.metadata.response_code = ResponseCode::FormErr;
            return Some(encode_or_servfail(response, edns, limit, false));
        }
        None => None,
    };
    let client = Client {
        addr: subnet.map_or(meta.source.ip(), |s| s.addr),
        ecs_source_prefix: subnet.map(|s| s.source_prefix),
    };
    let qtype = query.query_type();
    let sections = match qtype {
        RecordType::OPT => {
            response.metadata.response_code = ResponseCode::FormErr;
            return Some(encode_or_servfail(response, edns, limit, false));
        }
        // Zone transfers are not offered: refuse rather than pretend.
        RecordType::AXFR | RecordType::IXFR => Sections::refused(),
        _ if query.query_class() != DNSClass::IN && query.query_class() != DNSClass::ANY => {
            Sections::refused()
        }
        _ => lookup(snapshot, query.name(), qtype, &client, rng),
    };
    if let (Some(edns), Some(subnet)) = (edns.as_mut(), subnet) {
        // Echo family, source prefix and address; the scope says how much
        // of it the answer depended on, never more than was sent.
        let scope = sections.ecs_scope.min(subnet.source_prefix);
        edns.options_mut().insert(EdnsOption::Subnet(EcsOption::new(
            subnet.addr,
            subnet.source_prefix,
            scope,
        )));
    }
    Some(finish(response, sections, edns, limit))
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

/// A response carrying only the header's ID and opcode, for queries too
/// broken to echo (RFC 1035 §4.1.1 FORMERR).
fn bare_error(header: &Header, rcode: ResponseCode) -> Vec<u8> {
    let mut response = Message::new(
        header.metadata.id,
        MessageType::Response,
        header.metadata.op_code,
    );
    response.metadata.response_code = rcode;
    // RFC 1035 §4.1.1: RD is copied into the response.
    response.metadata.recursion_desired = header.metadata.recursion_desired;
    encode_or_servfail(response, None, CLASSIC_UDP_LIMIT, false)
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
