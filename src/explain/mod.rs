//! `explain`: why a client gets the answer it gets.
//!
//! An explanation is produced by the query path itself, so it cannot
//! disagree with it: the question (with the client's subnet as an EDNS
//! Client Subnet option, or the client as the source address) is encoded
//! as a real query and answered by [`crate::answer::respond`] on the
//! current snapshot; the policy's [`decide`] is run again with the same
//! random seed, which reproduces the decision the answer was built from.
//! Around those two results, `candidates` describes every region the
//! policy considered: its health, weight, overrides, and why it was or was
//! not chosen.
//!
//! The answer is the one a TCP query gets (UDP may truncate a large one).
//! The snapshot copy it runs on records no metrics.

mod candidates;

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet as EcsOption, EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, Record, RecordType};
use ipnet::IpNet;

use crate::answer::{QueryMeta, Transport, respond};
use crate::contract::{
    self, AnswerSections, ClientSource, ExplainAnswer, ExplainClient, ExplainLocation,
    ExplainQuestion, ExplainService, Explanation,
};
use crate::geo::{LocationSource, code_str};
use crate::metrics::query::rcode_name;
use crate::snapshot::Snapshot;
use crate::traffic::Client;
use crate::traffic::policy::{Family, decide};

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSpec {
    /// A resolver's source address, without ECS.
    Address(IpAddr),
    /// An EDNS Client Subnet (host bits beyond the prefix cleared).
    Subnet {
        /// The network address.
        addr: IpAddr,
        /// Its prefix length (the ECS source prefix).
        prefix: u8,
    },
}

impl ClientSpec {
    /// Parses `192.0.2.7` (an address) or `192.0.2.0/24` (a client subnet,
    /// as in ECS; `/32` for one host).
    pub fn parse(text: &str) -> Result<ClientSpec, String> {
        if let Ok(addr) = text.parse::<IpAddr>() {
            return Ok(ClientSpec::Address(addr));
        }
        let net: IpNet = text.parse().map_err(|_| {
            format!("{text:?} is not an address or a subnet (e.g. 81.2.69.7 or 81.2.69.0/24)")
        })?;
        Ok(ClientSpec::Subnet {
            addr: net.trunc().addr(),
            prefix: net.prefix_len(),
        })
    }

    /// What policies see: the subnet's address, or the source address.
    pub fn client(&self) -> Client {
        match *self {
            ClientSpec::Address(addr) => Client {
                addr,
                ecs_source_prefix: None,
            },
            ClientSpec::Subnet { addr, prefix } => Client {
                addr,
                ecs_source_prefix: Some(prefix),
            },
        }
    }
}

/// A question to explain.
#[derive(Debug, Clone)]
pub struct Question {
    /// The name asked (any case; with or without the trailing dot).
    pub name: Name,
    /// The type asked.
    pub qtype: RecordType,
    /// Who asks.
    pub client: ClientSpec,
}

/// Why `question` gets its answer from `snapshot`. `seed` drives the
/// random source of weighted and multivalue policies (the same seed gives
/// the same draw); the explanation carries it so a draw can be repeated.
pub(crate) fn explain(snapshot: &Snapshot, question: &Question, seed: u64) -> Explanation {
    let quiet = snapshot.without_metrics();
    let response = answer(&quiet, question, seed);
    let client = question.client.client();
    let lower = question.name.to_lowercase();
    let service = quiet.plan.by_name.get(&lower).map(|&index| {
        let svc = &quiet.plan.services[index];
        let mut view = ExplainService {
            name: svc.name.to_string(),
            policy: (&svc.policy).into(),
            ttl: svc.ttl,
            rule: None,
            candidates: Vec::new(),
            decision: None,
            note: None,
        };
        let family = match question.qtype {
            RecordType::A => Family::V4,
            RecordType::AAAA => Family::V6,
            RecordType::CNAME | RecordType::ANY => Family::Any,
            other => {
                view.note = Some(format!(
                    "{other} at a managed name is answered from the zone file, not by the policy"
                ));
                return view;
            }
        };
        // Same seed, same first draw: this is the decision the answer
        // above was built from.
        let mut rng = fastrand::Rng::with_seed(seed);
        let decision = decide(
            &quiet.plan,
            &quiet.state,
            svc,
            &client,
            family,
            &quiet.geo,
            &mut rng,
        );
        let detail = candidates::describe(&quiet, svc, &client, &decision);
        view.rule = Some(detail.rule);
        view.candidates = detail.candidates;
        view.decision = Some(detail.decision);
        view
    });
    Explanation {
        generation: snapshot.generation,
        seed,
        question: ExplainQuestion {
            name: question.name.to_string(),
            qtype: question.qtype.to_string(),
        },
        client: client_view(&quiet, &question.client),
        service,
        answer: response,
    }
}

/// The client as Switchyard resolves it: where its address came from, and
/// where the location sources place it.
fn client_view(snapshot: &Snapshot, spec: &ClientSpec) -> ExplainClient {
    let (client, mapped_bits) = spec.client().effective();
    let (source, subnet) = match spec {
        ClientSpec::Address(_) => (ClientSource::Address, None),
        ClientSpec::Subnet { addr, prefix } => {
            (ClientSource::Ecs, Some(format!("{addr}/{prefix}")))
        }
    };
    let located = snapshot.geo.locate(client.addr);
    let network = located
        .prefix
        .and_then(|p| IpNet::new(client.addr, p).ok())
        .map(|n| n.trunc().to_string());
    let database = match located.source {
        LocationSource::Database(i) => snapshot
            .geo
            .database_path(i)
            .map(|p| p.display().to_string()),
        _ => None,
    };
    ExplainClient {
        address: client.addr.to_string(),
        ipv4_mapped: mapped_bits > 0,
        source,
        subnet,
        location: ExplainLocation {
            source: located.source.as_str().to_string(),
            database,
            network,
            prefix: located.prefix,
            depth: located.depth,
            country: located
                .location
                .country
                .as_ref()
                .map(|c| code_str(c).to_string()),
            continent: located
                .location
                .continent
                .as_ref()
                .map(|c| code_str(c).to_string()),
            coordinates: located
                .location
                .coordinates
                .map(|(lat, lon)| vec![lat, lon]),
        },
    }
}

/// Runs the query path on the question and describes its response.
fn answer(snapshot: &Snapshot, question: &Question, seed: u64) -> ExplainAnswer {
    let failed = |error: &str| ExplainAnswer::Failed {
        error: error.to_string(),
    };
    let mut query = Message::new(0, MessageType::Query, OpCode::Query);
    query.add_query(Query::query(question.name.clone(), question.qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(snapshot.edns_udp_payload);
    let source = match question.client {
        ClientSpec::Address(addr) => addr,
        ClientSpec::Subnet { addr, prefix } => {
            edns.options_mut()
                .insert(EdnsOption::Subnet(EcsOption::new(addr, prefix, 0)));
            // The source does not matter once ECS is present.
            IpAddr::from([127, 0, 0, 1])
        }
    };
    query.set_edns(edns);
    let Ok(packet) = query.to_vec() else {
        return failed("the question cannot be encoded");
    };
    let meta = QueryMeta {
        source: SocketAddr::new(source, 0),
        transport: Transport::Tcp,
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    let Some(bytes) = respond(&snapshot.view(), &packet, &meta, &mut rng) else {
        return failed("the query was dropped");
    };
    let Ok(response) = Message::from_vec(&bytes) else {
        return failed("the response cannot be decoded");
    };
    let scope = response
        .edns
        .as_ref()
        .and_then(|e| match e.option(EdnsCode::Subnet) {
            Some(EdnsOption::Subnet(s)) => Some(s.scope_prefix()),
            _ => None,
        });
    ExplainAnswer::Answered(AnswerSections {
        rcode: rcode_name(u16::from(response.metadata.response_code)),
        authoritative: response.metadata.authoritative,
        records: records(&response.answers),
        authority: records(&response.authorities),
        ttl: response.answers.iter().map(|r| r.ttl).min(),
        ecs_scope: scope,
    })
}

/// Records as `{name, type, ttl, data}`.
fn records(records: &[Record]) -> Vec<contract::Record> {
    records
        .iter()
        .map(|r| contract::Record {
            name: r.name.to_string(),
            rtype: r.record_type().to_string(),
            ttl: r.ttl,
            data: r.data.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
