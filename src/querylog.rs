//! The sampled query log: one JSON line per sampled query (time, client,
//! ECS, name, type, rcode, answer, latency), written by a background
//! thread so the query path never waits on a disk.
//!
//! A worker's [`Sampler`] counts queries down and, on every `sample`-th,
//! copies the query and response bytes into a fixed-size [`Entry`] and
//! offers it to a bounded channel with `try_send`. When the writer has
//! fallen behind and the channel is full, the entry is dropped and counted
//! (`switchyard_query_log_dropped_total`): a slow disk costs log lines,
//! never queries. Unsampled queries cost one decrement and a compare.
//!
//! What the answer path learned (qtype, rcode, ECS) travels in the entry
//! as its [`QueryFacts`]; the writer, off the query path, only turns the
//! question name and the answer records into text.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::{Duration, SystemTime};

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use metrics::Counter;
use serde_json::{Value, json};

use crate::answer::{QueryFacts, Transport};
use crate::config::QueryLogConfig;
use crate::metrics::names;
use crate::metrics::query::rcode_name;

/// Bytes of a query or response kept per entry; longer messages are cut
/// (the writer then logs what it can decode).
const MAX_BYTES: usize = 512;

/// How long the writer sleeps when it has nothing to write. It polls
/// rather than blocks so that senders never have to wake it: a blocked
/// receiver would make `try_send` take the channel's wake-up lock.
const IDLE_POLL: Duration = Duration::from_millis(5);

/// One sampled query, as copied on the query path.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// When it was answered.
    pub at: SystemTime,
    /// How it came.
    pub transport: Transport,
    /// Who sent it.
    pub source: SocketAddr,
    /// From the batch's receipt to the answer being ready.
    pub latency: Duration,
    /// What answering it returned.
    pub facts: QueryFacts,
    query: [u8; MAX_BYTES],
    query_len: u16,
    response: [u8; MAX_BYTES],
    /// `None` when the query was dropped unanswered.
    response_len: Option<u16>,
}

impl Entry {
    /// Copies (up to 512 bytes of) a query and its response, with the
    /// facts answering it returned.
    pub(crate) fn new(
        transport: Transport,
        source: SocketAddr,
        query: &[u8],
        response: Option<&[u8]>,
        facts: &QueryFacts,
        latency: Duration,
    ) -> Entry {
        let mut entry = Entry {
            at: crate::clock::now(),
            transport,
            source,
            latency,
            facts: *facts,
            query: [0; MAX_BYTES],
            query_len: 0,
            response: [0; MAX_BYTES],
            response_len: None,
        };
        let q = query.len().min(MAX_BYTES);
        entry.query[..q].copy_from_slice(&query[..q]);
        entry.query_len = q as u16;
        if let Some(response) = response {
            let r = response.len().min(MAX_BYTES);
            entry.response[..r].copy_from_slice(&response[..r]);
            entry.response_len = Some(r as u16);
        }
        entry
    }

    /// The JSON line for this entry (decoded here, in the writer).
    pub(crate) fn to_json(&self) -> Value {
        let facts = &self.facts;
        // The question name as sent (the facts carry its type, not its text).
        let mut question = BinDecoder::new(&self.query[..self.query_len as usize]);
        let qname = facts
            .qtype
            .and_then(|_| question.read_slice(12).ok())
            .and_then(|_| Name::read(&mut question).ok());
        let ecs = facts.ecs.map(|s| format!("{}/{}", s.addr, s.source_prefix));
        let response = self
            .response_len
            .and_then(|len| Message::from_vec(&self.response[..len as usize]).ok());
        let rcode = match self.response_len {
            None => Value::Null,
            Some(_) => json!(rcode_name(facts.rcode)),
        };
        let answer = match &response {
            None => Value::Null,
            Some(r) => r
                .answers
                .iter()
                .map(|rr| json!(format!("{} {}", rr.record_type(), rr.data)))
                .collect(),
        };
        json!({
            "time": crate::overrides::time::format(self.at),
            "transport": self.transport.label(),
            "client": self.source.ip().to_string(),
            "ecs": ecs,
            "qname": qname.map(|n| n.to_string()),
            "qtype": facts.qtype.map(|t| RecordType::from(t).to_string()),
            "rcode": rcode,
            "answer": answer,
            "latency_us": (self.latency.as_secs_f64() * 1e7).round() / 10.0,
        })
    }
}

/// The query log shared by every worker; see the module docs.
#[derive(Debug)]
pub struct QueryLog {
    sample: u32,
    tx: SyncSender<Entry>,
    dropped: AtomicU64,
    dropped_metric: Counter,
    written: Arc<AtomicU64>,
}

impl QueryLog {
    /// Opens `config.path` for appending (or stdout for `-`) and starts the
    /// writer thread.
    pub fn start(config: &QueryLogConfig) -> io::Result<Arc<QueryLog>> {
        let out: Box<dyn Write + Send> = if config.path == Path::new("-") {
            Box::new(io::stdout())
        } else {
            Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&config.path)?,
            )
        };
        QueryLog::with_writer(config.sample, config.queue, out)
    }

    /// Starts the writer thread on any output (tests use a slow one).
    pub fn with_writer(
        sample: u32,
        queue: usize,
        out: Box<dyn Write + Send>,
    ) -> io::Result<Arc<QueryLog>> {
        let (tx, rx) = sync_channel(queue.max(1));
        let written = Arc::new(AtomicU64::new(0));
        let counter = written.clone();
        std::thread::Builder::new()
            .name("query-log".into())
            .spawn(move || write_loop(rx, BufWriter::new(out), &counter))?;
        Ok(Arc::new(QueryLog {
            sample: sample.max(1),
            tx,
            dropped: AtomicU64::new(0),
            dropped_metric: metrics::counter!(names::QUERY_LOG_DROPPED),
            written,
        }))
    }

    /// Offers an entry to the writer; drops and counts it when the queue is full.
    pub(crate) fn offer(&self, entry: Entry) {
        match self.tx.try_send(entry) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.dropped_metric.increment(1);
            }
        }
    }

    /// Entries dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

/// Writes entries until every sender is gone, flushing whenever the queue
/// runs dry so lines appear promptly.
fn write_loop(rx: Receiver<Entry>, mut out: BufWriter<Box<dyn Write + Send>>, written: &AtomicU64) {
    let metric = metrics::counter!(names::QUERY_LOG_WRITTEN);
    loop {
        match rx.try_recv() {
            Ok(entry) => {
                let line = entry.to_json().to_string();
                if writeln!(out, "{line}").is_ok() {
                    written.fetch_add(1, Ordering::Relaxed);
                    metric.increment(1);
                }
            }
            Err(TryRecvError::Empty) => {
                let _ = out.flush();
                std::thread::sleep(IDLE_POLL);
            }
            Err(TryRecvError::Disconnected) => {
                let _ = out.flush();
                return;
            }
        }
    }
}

/// A worker's 1-in-N sampler over the shared log.
#[derive(Debug)]
pub(crate) struct Sampler {
    log: Arc<QueryLog>,
    countdown: u32,
}

impl Sampler {
    /// Samples the first query, then one in `log.sample`.
    pub(crate) fn new(log: Arc<QueryLog>) -> Sampler {
        Sampler { log, countdown: 1 }
    }

    /// Counts one query; true when it is to be logged.
    #[inline]
    pub(crate) fn tick(&mut self) -> bool {
        self.countdown -= 1;
        if self.countdown == 0 {
            self.countdown = self.log.sample;
            true
        } else {
            false
        }
    }

    /// Logs a sampled query (non-blocking).
    pub(crate) fn log(
        &self,
        transport: Transport,
        source: SocketAddr,
        query: &[u8],
        response: Option<&[u8]>,
        facts: &QueryFacts,
        latency: Duration,
    ) {
        self.log.offer(Entry::new(
            transport, source, query, response, facts, latency,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};

    /// Whether the gate is open, and what was written through it.
    type GateState = Mutex<(bool, Vec<u8>)>;

    /// An output that blocks every write until released.
    #[derive(Clone, Default)]
    struct Gate {
        state: Arc<(GateState, Condvar)>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, open) = &*self.state;
            let mut state = open
                .wait_while(lock.lock().unwrap(), |(released, _)| !*released)
                .unwrap();
            state.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn query() -> Vec<u8> {
        let mut q = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(&[3, b'w', b'w', b'w', 0, 0, 1, 0, 1]);
        q
    }

    #[test]
    fn a_stuck_writer_costs_lines_not_waiting() {
        let gate = Gate::default();
        let log = QueryLog::with_writer(1, 2, Box::new(gate.clone())).unwrap();
        let mut sampler = Sampler::new(log.clone());
        let source: SocketAddr = "127.0.0.1:5353".parse().unwrap();
        // Lines are small and BufWriter holds 8 KiB, so the writer only
        // blocks on its first flush; push enough to fill everything.
        let started = std::time::Instant::now();
        let total = 2_000;
        for _ in 0..total {
            assert!(sampler.tick());
            sampler.log(
                Transport::Udp,
                source,
                &query(),
                None,
                &QueryFacts::default(),
                Duration::ZERO,
            );
        }
        assert!(started.elapsed() < Duration::from_secs(2), "offers blocked");
        assert!(log.dropped() > 0, "nothing dropped");
        // Release the writer: everything not dropped gets written.
        {
            let (lock, open) = &*gate.state;
            lock.lock().unwrap().0 = true;
            open.notify_all();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while log.written() + log.dropped() < total && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(log.written() + log.dropped(), total);
    }

    #[test]
    fn samples_one_in_n() {
        let log = QueryLog::with_writer(3, 16, Box::new(io::sink())).unwrap();
        let mut sampler = Sampler::new(log);
        let picked: Vec<bool> = (0..7).map(|_| sampler.tick()).collect();
        assert_eq!(picked, [true, false, false, true, false, false, true]);
    }

    #[test]
    fn entries_decode_to_json() {
        let source: SocketAddr = "192.0.2.7:4242".parse().unwrap();
        let line = Entry::new(
            Transport::Tcp,
            source,
            &query(),
            None,
            &QueryFacts {
                qtype: Some(1),
                ..QueryFacts::default()
            },
            Duration::from_micros(15),
        )
        .to_json();
        assert_eq!(line["qname"], "www.");
        assert_eq!(line["qtype"], "A");
        assert_eq!(line["client"], "192.0.2.7");
        assert_eq!(line["transport"], "tcp");
        assert_eq!(line["rcode"], Value::Null);
        assert_eq!(line["latency_us"], 15.0);
    }
}
