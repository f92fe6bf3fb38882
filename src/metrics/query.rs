//! Query-path metrics: queries by transport, qtype and rcode, ECS queries,
//! truncations, unanswered messages, and per-query latency.
//!
//! Nothing here allocates or locks per query. Counter handles are
//! registered once per process for every (transport, qtype bucket, rcode
//! bucket) cell; a worker's [`QueryRecorder`] counts into a local array as
//! it answers and adds the counts to those handles once per batch, so
//! workers on different cores do not bounce a shared counter's cache line
//! on every query. Latency is measured once per batch (two clock reads)
//! and recorded for every query of the batch: they arrived together and
//! their answers leave together.
//!
//! The recorder reads what it needs from the query and response bytes
//! (qtype, OPT version, ECS option; RCODE and TC), so the answer path
//! itself stays untouched.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use metrics::Counter;

use super::histogram::Histogram;
use super::names;
use crate::answer::Transport;
use crate::querylog::{QueryLog, Sampler};

/// Query type buckets: the common types by name, everything else `other`.
const QTYPES: [(u16, &str); 18] = [
    (1, "A"),
    (28, "AAAA"),
    (5, "CNAME"),
    (15, "MX"),
    (2, "NS"),
    (6, "SOA"),
    (16, "TXT"),
    (33, "SRV"),
    (12, "PTR"),
    (257, "CAA"),
    (65, "HTTPS"),
    (64, "SVCB"),
    (43, "DS"),
    (48, "DNSKEY"),
    (255, "ANY"),
    (252, "AXFR"),
    (251, "IXFR"),
    (0, "other"),
];
/// Index of the `other` qtype bucket.
const OTHER_QTYPE: usize = QTYPES.len() - 1;

/// Response code buckets (BADVERS is the extended code 16).
const RCODES: [&str; 8] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS", "other",
];
const BADVERS: usize = 6;
const OTHER_RCODE: usize = 7;

/// The conventional mnemonic of a response code (`NOERROR`, `NXDOMAIN`,
/// ...), as in metric labels, explain and the query log.
pub fn rcode_name(code: u16) -> String {
    match code {
        0..=5 => RCODES[code as usize].to_string(),
        16 => "BADVERS".to_string(),
        other => format!("RCODE{other}"),
    }
}

/// Cells in a transport's table.
const CELLS: usize = QTYPES.len() * RCODES.len();

/// The process-wide handles of one transport.
#[derive(Debug)]
struct Counters {
    /// Indexed by `qtype * RCODES.len() + rcode`.
    queries: Box<[Counter]>,
    dropped: Counter,
    ecs: Counter,
    truncated: Counter,
}

impl Counters {
    fn register(transport: Transport) -> Counters {
        let t = super::transport_label(transport);
        let queries = QTYPES
            .iter()
            .flat_map(|(_, qtype)| {
                RCODES.iter().map(move |rcode| {
                    metrics::counter!(names::QUERIES, "transport" => t, "qtype" => *qtype, "rcode" => *rcode)
                })
            })
            .collect();
        Counters {
            queries,
            dropped: metrics::counter!(names::QUERIES_DROPPED, "transport" => t),
            ecs: metrics::counter!(names::ECS_QUERIES, "transport" => t),
            truncated: metrics::counter!(names::TRUNCATED, "transport" => t),
        }
    }
}

/// Handles per transport, registered on first use (after [`super::install`]).
static COUNTERS: [OnceLock<Counters>; 2] = [OnceLock::new(), OnceLock::new()];
/// Query latency per transport.
static LATENCY: [Histogram; 2] = [Histogram::new(), Histogram::new()];

fn index(transport: Transport) -> usize {
    match transport {
        Transport::Udp => 0,
        Transport::Tcp => 1,
    }
}

/// What the listeners share: whether to record query metrics, and the
/// query log, if any. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Observer {
    query_metrics: bool,
    log: Option<Arc<QueryLog>>,
}

impl Observer {
    /// Records query metrics when `query_metrics` is set, and samples
    /// queries into `log` when given.
    pub fn new(query_metrics: bool, log: Option<Arc<QueryLog>>) -> Observer {
        Observer { query_metrics, log }
    }

    /// Records nothing.
    pub fn disabled() -> Observer {
        Observer::default()
    }

    /// A recorder for one worker (a UDP socket thread, a TCP connection).
    /// Registers the transport's handles the first time; never on the
    /// query path.
    pub fn recorder(&self, transport: Transport) -> QueryRecorder {
        let counters = self
            .query_metrics
            .then(|| COUNTERS[index(transport)].get_or_init(|| Counters::register(transport)));
        QueryRecorder {
            transport,
            counters,
            pending: [0; CELLS],
            ecs: 0,
            truncated: 0,
            dropped: 0,
            dirty: false,
            sampler: self.log.as_ref().map(|log| Sampler::new(log.clone())),
        }
    }
}

/// One worker's query recorder; see the module docs.
#[derive(Debug)]
pub struct QueryRecorder {
    transport: Transport,
    counters: Option<&'static Counters>,
    pending: [u32; CELLS],
    ecs: u32,
    truncated: u32,
    dropped: u32,
    dirty: bool,
    sampler: Option<Sampler>,
}

/// What the recorder reads from a query and its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Class {
    qtype: usize,
    rcode: usize,
    ecs: bool,
    truncated: bool,
}

impl QueryRecorder {
    /// Call when a batch has been received: the time it arrived, when
    /// anything needs it.
    #[inline]
    pub fn batch_start(&self) -> Option<Instant> {
        (self.counters.is_some() || self.sampler.is_some()).then(Instant::now)
    }

    /// Records one query and its response (`None`: dropped unanswered).
    /// `started` is [`QueryRecorder::batch_start`]'s value.
    #[inline]
    pub fn query(
        &mut self,
        query: &[u8],
        response: Option<&[u8]>,
        source: SocketAddr,
        started: Option<Instant>,
    ) {
        if self.counters.is_some() {
            self.dirty = true;
            match response {
                Some(response) => {
                    let class = classify(query, response);
                    self.pending[class.qtype * RCODES.len() + class.rcode] += 1;
                    self.ecs += u32::from(class.ecs);
                    self.truncated += u32::from(class.truncated);
                }
                None => self.dropped += 1,
            }
        }
        if let Some(sampler) = &mut self.sampler
            && sampler.tick()
        {
            let latency = started.map(|t| t.elapsed()).unwrap_or_default();
            sampler.log(self.transport, source, query, response, latency);
        }
    }

    /// Call once the batch's answers are sent: records its latency for
    /// each of its `answered` queries and adds the batch's counts to the
    /// shared counters.
    pub fn batch_end(&mut self, started: Option<Instant>, answered: usize) {
        let Some(counters) = self.counters else {
            return;
        };
        if let Some(started) = started {
            let ns = started.elapsed().as_nanos().min(u64::MAX as u128) as u64;
            LATENCY[index(self.transport)].observe(ns, answered as u64);
        }
        if !self.dirty {
            return;
        }
        self.dirty = false;
        for (pending, counter) in self.pending.iter_mut().zip(counters.queries.iter()) {
            if *pending > 0 {
                counter.increment(u64::from(*pending));
                *pending = 0;
            }
        }
        for (pending, counter) in [
            (&mut self.ecs, &counters.ecs),
            (&mut self.truncated, &counters.truncated),
            (&mut self.dropped, &counters.dropped),
        ] {
            if *pending > 0 {
                counter.increment(u64::from(*pending));
                *pending = 0;
            }
        }
    }
}

impl Drop for QueryRecorder {
    /// A TCP connection's last counts are not lost when it closes.
    fn drop(&mut self) {
        self.batch_end(None, 0);
    }
}

/// Reads qtype, ECS and OPT version from `query` and RCODE and TC from
/// `response`. Anything unparsable counts as qtype `other`.
fn classify(query: &[u8], response: &[u8]) -> Class {
    let rcode = response.get(3).map_or(OTHER_RCODE, |b| match b & 0x0f {
        code @ 0..=5 => code as usize,
        _ => OTHER_RCODE,
    });
    let truncated = response.get(2).is_some_and(|b| b & 0x02 != 0);
    let mut class = Class {
        qtype: OTHER_QTYPE,
        rcode,
        ecs: false,
        truncated,
    };
    if let Some((qtype, opt)) = question(query) {
        class.qtype = QTYPES
            .iter()
            .position(|(code, _)| *code == qtype)
            .unwrap_or(OTHER_QTYPE);
        if let Some((version, ecs)) = opt {
            class.ecs = ecs;
            // RFC 6891 §6.1.3: an unknown version is answered BADVERS,
            // whose low four bits in the header are 0.
            if version > 0 && class.rcode == 0 {
                class.rcode = BADVERS;
            }
        }
    }
    class
}

/// The question's type and, when the query ends in an OPT record, its
/// EDNS version and whether it carries an ECS option.
fn question(query: &[u8]) -> Option<(u16, Option<(u8, bool)>)> {
    let header = query.get(..12)?;
    if header[4..6] != [0, 1] {
        return None;
    }
    let mut pos = 12;
    loop {
        let len = *query.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        pos += len;
    }
    let fixed = query.get(pos..pos + 4)?;
    let qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    pos += 4;
    // Only the plain shape: no answer or authority records, one additional.
    if header[6..10] != [0, 0, 0, 0] || header[10..12] != [0, 1] {
        return Some((qtype, None));
    }
    let opt = match query.get(pos..pos + 11) {
        Some(opt) if opt[0] == 0 && opt[1..3] == [0, 41] => opt,
        _ => return Some((qtype, None)),
    };
    let version = opt[6];
    let rdlen = u16::from_be_bytes([opt[9], opt[10]]) as usize;
    let mut options = query.get(pos + 11..pos + 11 + rdlen).unwrap_or(&[]);
    let mut ecs = false;
    while let [c0, c1, l0, l1, rest @ ..] = options {
        ecs |= [*c0, *c1] == [0, 8];
        let len = (u16::from_be_bytes([*l0, *l1]) as usize).min(rest.len());
        options = &rest[len..];
    }
    Some((qtype, Some((version, ecs))))
}

/// Appends the query latency histograms (with their `# HELP` and `# TYPE`).
pub(super) fn render_latency(out: &mut String) {
    let name = names::QUERY_DURATION;
    let _ = writeln!(out, "# HELP {name} {}", names::QUERY_DURATION_HELP);
    let _ = writeln!(out, "# TYPE {name} histogram");
    for transport in [Transport::Udp, Transport::Tcp] {
        let labels = format!("transport=\"{}\"", super::transport_label(transport));
        LATENCY[index(transport)].render(out, name, &labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(qtype: u16, opt: Option<&[u8]>) -> Vec<u8> {
        let mut q = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(opt.is_some())];
        q.extend_from_slice(&[3, b'w', b'w', b'w', 0]);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        if let Some(opt) = opt {
            q.extend_from_slice(opt);
        }
        q
    }

    #[test]
    fn classifies_type_rcode_ecs_and_truncation() {
        let noerror = [0, 1, 0x84, 0x00];
        let c = classify(&query(28, None), &noerror);
        assert_eq!((QTYPES[c.qtype].1, RCODES[c.rcode]), ("AAAA", "NOERROR"));
        assert!(!c.ecs && !c.truncated);

        let nx_tc = [0, 1, 0x86, 0x03];
        let c = classify(&query(99, None), &nx_tc);
        assert_eq!((QTYPES[c.qtype].1, RCODES[c.rcode]), ("other", "NXDOMAIN"));
        assert!(c.truncated);

        let ecs_opt = [0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 8, 0, 8, 0, 4, 0, 1, 0, 0];
        let c = classify(&query(1, Some(&ecs_opt)), &noerror);
        assert!(c.ecs);

        let mut v1 = ecs_opt;
        v1[6] = 1;
        let c = classify(&query(1, Some(&v1)), &noerror);
        assert_eq!(RCODES[c.rcode], "BADVERS");

        // Garbage never panics.
        let c = classify(&[0xff; 5], &[]);
        assert_eq!((c.qtype, c.rcode), (OTHER_QTYPE, OTHER_RCODE));
    }
}
