//! The TCP listener: length-prefixed messages (RFC 1035 §4.2.2), pipelined
//! queries answered in order.
//!
//! Every wait has a deadline, as in NSD: the next message must start
//! within the idle timeout (RFC 7766 §6.2.3), a message must arrive whole
//! within that timeout of its first byte (one byte every few seconds does
//! not keep a connection), and answers must be taken by the client within
//! it too (a client that never reads is closed, not kept). Connections are
//! capped in total (from the descriptor budget) and per client address.
//! No snapshot is held across an await.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::{Instant, timeout, timeout_at};

use crate::answer::{QueryMeta, Transport, respond_into};
use crate::metrics::names;
use crate::metrics::query::{Observer, QueryRecorder};
use crate::snapshot::SnapshotHandle;

/// Limits on connections and on how long each may wait.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    /// Deadline for the next message to start, for a message to arrive
    /// whole once started, and for a batch of answers to be written.
    pub timeout: Duration,
    /// Most connections from one client address (0: unlimited).
    pub per_source: usize,
    /// Most connections open at once (the size of the slot semaphore).
    pub max: usize,
}

/// The deadline while more than half the slots are taken (NSD does the
/// same): a busy server keeps only clients that send and read promptly,
/// so slow ones cannot hold the slots legitimate clients need.
const BUSY_TIMEOUT: Duration = Duration::from_millis(200);

/// How long a new connection waits for a slot when all are taken: more
/// than [`BUSY_TIMEOUT`], so the wait outlasts the idle connections it
/// waits for.
const ACCEPT_WAIT: Duration = Duration::from_millis(500);

/// The smallest message worth answering: a DNS header. Anything shorter
/// (zero-length messages included, which would otherwise keep a
/// connection alive two bytes at a time) is not DNS, and closes it.
const MIN_MESSAGE: usize = 12;

/// Open connections per client address.
#[derive(Debug, Default)]
struct PerSource {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; uncounted when dropped.
struct SourceSlot {
    table: Arc<PerSource>,
    addr: IpAddr,
}

impl PerSource {
    /// Counts a connection from `addr`, unless it already has `max`.
    fn enter(table: &Arc<PerSource>, addr: IpAddr, max: usize) -> Option<SourceSlot> {
        // Held only to bump a counter; a poisoned lock still has valid counts.
        let mut open = table.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(addr).or_insert(0);
        if max > 0 && *count >= max {
            return None;
        }
        *count += 1;
        Some(SourceSlot {
            table: table.clone(),
            addr,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.addr) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.addr);
            }
        }
    }
}

/// Accepts connections while a slot is free and serves each in its own task.
pub async fn serve(
    listener: TcpListener,
    snapshot: SnapshotHandle,
    slots: Arc<Semaphore>,
    limits: TcpLimits,
    observer: Observer,
) {
    let open = metrics::gauge!(names::TCP_OPEN);
    let accepted = metrics::counter!(names::TCP_CONNECTIONS, "result" => "accepted");
    let refused = metrics::counter!(names::TCP_CONNECTIONS, "result" => "refused");
    let per_source = Arc::new(PerSource::default());
    // Wakes waiting connections when the server turns busy, so ones that
    // started waiting with the long timeout apply the short one too.
    let busy = Arc::new(Notify::new());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                static ACCEPT: crate::logging::Throttle =
                    crate::logging::Throttle::new("tcp_accept");
                if ACCEPT.allow() {
                    tracing::warn!(%error, "cannot accept a DNS-over-TCP connection");
                }
                // Out of descriptors or similar: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Over the per-source limit: close at once.
        let Some(source_slot) = PerSource::enter(&per_source, peer.ip(), limits.per_source) else {
            refused.increment(1);
            continue;
        };
        // All slots taken: wait for one (a busy server cuts idle ones within
        // BUSY_TIMEOUT of their last activity, so one frees by then unless
        // every slot is in active use), then close. Meanwhile new
        // connections wait in the kernel's accept queue.
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                busy.notify_waiters();
                match timeout(ACCEPT_WAIT, slots.clone().acquire_owned()).await {
                    Ok(Ok(permit)) => permit,
                    _ => {
                        refused.increment(1);
                        continue;
                    }
                }
            }
        };
        if slots.available_permits() < limits.max / 2 {
            busy.notify_waiters();
        }
        accepted.increment(1);
        open.increment(1.0);
        let snapshot = snapshot.clone();
        let recorder = observer.recorder(Transport::Tcp);
        let open = open.clone();
        let (slots, busy) = (slots.clone(), busy.clone());
        tokio::spawn(async move {
            let _ = connection(stream, snapshot, (&slots, &busy), limits, recorder).await;
            open.decrement(1.0);
            drop((permit, source_slot));
        });
    }
}

/// Most bytes read from a connection in one go: a window of pipelined queries.
const READ_CHUNK: usize = 16 * 1024;

/// Serves one connection until the client closes it, a deadline passes,
/// or it sends something that is not DNS over TCP.
///
/// Reads take whatever the client has sent, answer every complete message
/// in it, and write all the answers with one call: pipelined queries cost
/// one read and one write per batch instead of per query.
async fn connection(
    mut stream: TcpStream,
    snapshot: SnapshotHandle,
    (slots, busy): (&Semaphore, &Notify),
    limits: TcpLimits,
    mut recorder: QueryRecorder,
) -> std::io::Result<()> {
    let limit = || {
        if slots.available_permits() < limits.max / 2 {
            limits.timeout.min(BUSY_TIMEOUT)
        } else {
            limits.timeout
        }
    };
    let source = stream.peer_addr()?;
    let _ = stream.set_nodelay(true);
    let meta = QueryMeta {
        source,
        transport: Transport::Tcp,
    };
    let mut rng = fastrand::Rng::new();
    let mut input: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut out = Vec::with_capacity(READ_CHUNK);
    let mut response = Vec::with_capacity(512);
    let mut chunk = vec![0u8; READ_CHUNK];
    // When the first byte of the message still incomplete in `input` came.
    let mut message_started: Option<Instant> = None;
    // When the connection last finished a batch (or opened).
    let mut idle_since = Instant::now();
    loop {
        let deadline = message_started.unwrap_or(idle_since) + limit();
        let read = tokio::select! {
            read = timeout_at(deadline, stream.read(&mut chunk)) => read,
            // Turned busy: wait again with the short deadline (reading is
            // cancel-safe: nothing was consumed).
            _ = busy.notified() => continue,
        };
        let read = match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Ok(()),
            Ok(Ok(n)) => n,
        };
        input.extend_from_slice(&chunk[..read]);
        let started = recorder.batch_start();
        let mut answered = 0;
        let mut consumed = 0;
        out.clear();
        {
            // Scoped so the snapshot is released before the write awaits.
            let snapshot = snapshot.load();
            let view = snapshot.view();
            while let Some(prefix) = input.get(consumed..consumed + 2) {
                let len = u16::from_be_bytes([prefix[0], prefix[1]]) as usize;
                if len < MIN_MESSAGE {
                    return Ok(());
                }
                let Some(query) = input.get(consumed + 2..consumed + 2 + len) else {
                    break;
                };
                let ok = respond_into(&view, query, &meta, &mut rng, &mut response);
                if ok {
                    out.extend_from_slice(&(response.len() as u16).to_be_bytes());
                    out.extend_from_slice(&response);
                    answered += 1;
                }
                recorder.query(query, ok.then_some(&response[..]), source, started);
                consumed += 2 + len;
            }
        }
        input.drain(..consumed);
        message_started = match (input.is_empty(), consumed > 0) {
            (true, _) => None,
            // What is left began in this read.
            (false, true) => Some(Instant::now()),
            (false, false) => message_started.or_else(|| Some(Instant::now())),
        };
        if !out.is_empty() {
            match timeout(limit(), stream.write_all(&out)).await {
                Ok(result) => result?,
                Err(_) => return Ok(()),
            }
        }
        recorder.batch_end(started, answered);
        idle_since = Instant::now();
    }
}
