//! What the listeners record per query: query metrics (a per-worker
//! [`Tally`] flushed once per batch) and query log samples, both from the
//! [`QueryFacts`] the answer path returned, so neither reads the packet.
//!
//! Nothing here allocates or locks per query (`tests/no_alloc.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::answer::{QueryFacts, Transport};
use crate::metrics::query::{Answered, Tally};
use crate::querylog::{QueryLog, Sampler};

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
        QueryRecorder {
            transport,
            tally: self.query_metrics.then(|| Tally::new(transport.label())),
            sampler: self.log.as_ref().map(|log| Sampler::new(log.clone())),
        }
    }
}

/// One worker's query recorder; see the module docs.
#[derive(Debug)]
pub struct QueryRecorder {
    transport: Transport,
    tally: Option<Tally>,
    sampler: Option<Sampler>,
}

impl QueryRecorder {
    /// Call when a batch has been received: the time it arrived, when
    /// anything needs it.
    #[inline]
    pub fn batch_start(&self) -> Option<Instant> {
        (self.tally.is_some() || self.sampler.is_some()).then(Instant::now)
    }

    /// Records one query, its response (read only when `facts.answered`)
    /// and what answering it returned. `started` is
    /// [`QueryRecorder::batch_start`]'s value.
    #[inline]
    pub fn query(
        &mut self,
        query: &[u8],
        response: &[u8],
        facts: &QueryFacts,
        source: SocketAddr,
        started: Option<Instant>,
    ) {
        if let Some(tally) = &mut self.tally {
            if facts.answered {
                tally.answered(Answered {
                    qtype: facts.qtype,
                    rcode: facts.rcode,
                    ecs: facts.ecs_present,
                    truncated: facts.truncated,
                });
            } else {
                tally.dropped();
            }
        }
        if let Some(sampler) = &mut self.sampler
            && sampler.tick()
        {
            let latency = started.map(|t| t.elapsed()).unwrap_or_default();
            let response = facts.answered.then_some(response);
            sampler.log(self.transport, source, query, response, facts, latency);
        }
    }

    /// Call once the batch's answers are sent: records its latency for
    /// each of its `answered` queries and adds the batch's counts to the
    /// shared counters.
    pub fn batch_end(&mut self, started: Option<Instant>, answered: usize) {
        let Some(tally) = &mut self.tally else {
            return;
        };
        let ns = started.map(|t| t.elapsed().as_nanos().min(u64::MAX as u128) as u64);
        tally.flush(ns, answered);
    }
}
