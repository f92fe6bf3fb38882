//! Query-path metrics: queries by transport, qtype and rcode, ECS queries,
//! truncations, unanswered messages, and per-query latency.
//!
//! Nothing here allocates or locks per query. Counter handles are
//! registered once per process for every (transport, qtype bucket, rcode
//! bucket) cell; a worker's [`Tally`] counts into a local array as it
//! answers and adds the counts to those handles once per batch, so
//! workers on different cores do not bounce a shared counter's cache line
//! on every query. Latency is measured once per batch (two clock reads)
//! and recorded for every query of the batch: they arrived together and
//! their answers leave together.
//!
//! A tally is told what to count (qtype, rcode, ECS, TC) by its caller:
//! the listeners pass on the facts the answer path returns
//! (`answer::QueryFacts`), so no packet is read here. Transports are named
//! by their label (`udp`, `tcp`), so this module knows no other.

use std::fmt::Write;
use std::sync::OnceLock;

use metrics::Counter;

use super::histogram::Histogram;
use super::names;

/// The transport labels, in the order of the per-transport tables.
pub const TRANSPORTS: [&str; 2] = ["udp", "tcp"];

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
    fn register(t: &'static str) -> Counters {
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

/// The index of a transport label in [`TRANSPORTS`] (unknown labels count
/// as the first).
fn index(transport: &str) -> usize {
    TRANSPORTS.iter().position(|t| *t == transport).unwrap_or(0)
}

/// What one answered query is counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answered {
    /// QTYPE, when the query had one readable question (else `other`).
    pub qtype: Option<u16>,
    /// The response code, extended (BADVERS is 16).
    pub rcode: u16,
    /// The query carried an ECS option.
    pub ecs: bool,
    /// The response was truncated (TC).
    pub truncated: bool,
}

/// One worker's counts since its last flush; see the module docs.
#[derive(Debug)]
pub struct Tally {
    transport: usize,
    counters: &'static Counters,
    pending: [u32; CELLS],
    ecs: u32,
    truncated: u32,
    dropped: u32,
    dirty: bool,
}

impl Tally {
    /// A tally for one worker of `transport` (a [`TRANSPORTS`] label).
    /// Registers the transport's handles the first time; never on the
    /// query path.
    pub fn new(transport: &'static str) -> Tally {
        let i = index(transport);
        Tally {
            transport: i,
            counters: COUNTERS[i].get_or_init(|| Counters::register(TRANSPORTS[i])),
            pending: [0; CELLS],
            ecs: 0,
            truncated: 0,
            dropped: 0,
            dirty: false,
        }
    }

    /// Counts one answered query.
    #[inline]
    pub fn answered(&mut self, query: Answered) {
        self.dirty = true;
        let qtype = query
            .qtype
            .and_then(|q| QTYPES.iter().position(|(code, _)| *code == q))
            .unwrap_or(OTHER_QTYPE);
        let rcode = match query.rcode {
            code @ 0..=5 => code as usize,
            16 => BADVERS,
            _ => OTHER_RCODE,
        };
        self.pending[qtype * RCODES.len() + rcode] += 1;
        self.ecs += u32::from(query.ecs);
        self.truncated += u32::from(query.truncated);
    }

    /// Counts one message dropped unanswered.
    #[inline]
    pub fn dropped(&mut self) {
        self.dirty = true;
        self.dropped += 1;
    }

    /// Records a batch's latency (`ns`, when measured) for each of its
    /// `answered` queries and adds the counts since the last flush to the
    /// shared counters.
    pub fn flush(&mut self, ns: Option<u64>, answered: usize) {
        if let Some(ns) = ns {
            LATENCY[self.transport].observe(ns, answered as u64);
        }
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let counters = self.counters;
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

impl Drop for Tally {
    /// A TCP connection's last counts are not lost when it closes.
    fn drop(&mut self) {
        self.flush(None, 0);
    }
}

/// Appends the query latency histograms (with their `# HELP` and `# TYPE`).
pub(super) fn render_latency(out: &mut String) {
    let name = names::QUERY_DURATION;
    let _ = writeln!(out, "# HELP {name} {}", names::QUERY_DURATION_HELP);
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (i, transport) in TRANSPORTS.iter().enumerate() {
        let labels = format!("transport=\"{transport}\"");
        LATENCY[i].render(out, name, &labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_type_and_rcode() {
        let mut tally = Tally::new("udp");
        let cell = |qtype: &str, rcode: &str| {
            QTYPES.iter().position(|(_, q)| *q == qtype).unwrap() * RCODES.len()
                + RCODES.iter().position(|r| *r == rcode).unwrap()
        };
        let count = |tally: &Tally, qtype, rcode| tally.pending[cell(qtype, rcode)];
        let answered = |qtype, rcode| Answered {
            qtype,
            rcode,
            ecs: false,
            truncated: false,
        };
        tally.answered(answered(Some(28), 0));
        tally.answered(answered(Some(99), 3));
        tally.answered(answered(None, 9));
        tally.answered(Answered {
            ecs: true,
            truncated: true,
            ..answered(Some(1), 16)
        });
        assert_eq!(count(&tally, "AAAA", "NOERROR"), 1);
        assert_eq!(count(&tally, "other", "NXDOMAIN"), 1);
        assert_eq!(count(&tally, "other", "other"), 1);
        assert_eq!(count(&tally, "A", "BADVERS"), 1);
        assert_eq!((tally.ecs, tally.truncated), (1, 1));
        tally.dropped();
        assert_eq!(tally.dropped, 1);
        tally.flush(None, 0);
        assert_eq!(
            (tally.ecs, tally.dropped, count(&tally, "A", "BADVERS")),
            (0, 0, 0)
        );
    }
}
