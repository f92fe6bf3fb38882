//! The UDP worker: one OS thread per `SO_REUSEPORT` socket, receiving and
//! sending in batches (`recvmmsg`/`sendmmsg`), no task per packet and no
//! allocation per query.
//!
//! A dedicated thread beats an async task here: a UDP socket never has
//! anything to wait for but the next datagram, and the kernel spreads
//! datagrams across the sockets of one port, so N threads use N cores with
//! no shared state but the snapshot pointer. Batching matters because on
//! loopback the system calls, not the answers, are most of a query's cost.

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};

use crate::answer::{QueryMeta, Transport, respond_into};
use crate::metrics::names;
use crate::metrics::query::QueryRecorder;
use crate::server::rrl::{self, Rrl, Verdict};
use crate::snapshot::SnapshotHandle;

/// Largest datagram we read: any UDP payload (RFC 1035 allows queries of
/// any size, and EDNS clients send large ones). The batch's buffers are one
/// zeroed allocation, so the kernel maps only the pages datagrams touch:
/// 32 × 64 KiB of address space, a few pages of memory for normal queries.
const MAX_QUERY: usize = 65_535;

/// Answers start with this much room; a larger one grows its buffer once.
const ANSWER_CAPACITY: usize = 4096;

/// Datagrams per system call. Under load the socket buffer holds many; the
/// kernel returns as many as are queued, up to this.
const BATCH: usize = 32;

/// How often an idle worker looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);

/// Runs the receive-answer loop on `socket` until `stop` is set, telling
/// `recorder` about every query and batch; answers pass through `rrl`
/// (response rate limiting) when it is on.
pub fn serve(
    socket: UdpSocket,
    snapshot: SnapshotHandle,
    stop: Arc<AtomicBool>,
    mut recorder: QueryRecorder,
    rrl: Option<Arc<Rrl>>,
) {
    let _ = socket.set_read_timeout(Some(STOP_POLL));
    let fd = socket.as_raw_fd();
    let mut buffer = vec![0u8; MAX_QUERY * BATCH];
    let mut queries: [&mut [u8]; BATCH] = {
        let mut chunks = buffer.chunks_exact_mut(MAX_QUERY);
        std::array::from_fn(|_| chunks.next().unwrap_or_default())
    };
    let mut answers: Vec<Vec<u8>> = (0..BATCH)
        .map(|_| Vec::with_capacity(ANSWER_CAPACITY))
        .collect();
    // Registered once per worker; bumped once per batch.
    let limited_total = metrics::counter!(names::RRL_LIMITED);
    let slipped_total = metrics::counter!(names::RRL_SLIPPED);
    let mut slips = 0u32;
    let mut received: [(usize, Option<SocketAddr>); BATCH] = [(0, None); BATCH];
    let mut recv_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut send_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut rng = fastrand::Rng::new();
    while !stop.load(Ordering::Relaxed) {
        // Block for the first datagram, then take whatever else is queued.
        let count = {
            let mut slices = queries.each_mut().map(|q| [IoSliceMut::new(q)]);
            match recvmmsg(
                fd,
                &mut recv_headers,
                slices.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            ) {
                Ok(results) => {
                    let mut n = 0;
                    for (slot, message) in received.iter_mut().zip(results) {
                        *slot = (message.bytes, message.address.and_then(socket_addr));
                        n += 1;
                    }
                    n
                }
                // Timeouts (to look at `stop`), interruptions, and ICMP
                // errors from earlier sends, which concern one client and
                // never the listener.
                Err(_) => continue,
            }
        };
        let started = recorder.batch_start();
        // One snapshot for the batch: queries in a batch arrived together.
        let snapshot = snapshot.load();
        let view = snapshot.view();
        let mut replies = 0;
        let mut order = [0usize; BATCH];
        let now = rrl.as_ref().map_or(0, |r| r.now());
        let (mut limited, mut slipped) = (0, 0);
        for i in 0..count {
            let (len, Some(source)) = received[i] else {
                continue;
            };
            let meta = QueryMeta {
                source,
                transport: Transport::Udp,
            };
            let query = &queries[i][..len];
            let mut answered = respond_into(&view, query, &meta, &mut rng, &mut answers[i]);
            // Metrics count the query by its answer, sent or rate-limited.
            recorder.query(query, answered.then(|| &answers[i][..]), source, started);
            if answered && let Some(rrl) = &rrl {
                match rrl.check(source.ip(), &answers[i], now, &mut slips) {
                    Verdict::Send => {}
                    Verdict::Drop => {
                        limited += 1;
                        answered = false;
                    }
                    Verdict::Slip => {
                        limited += 1;
                        slipped += 1;
                        rrl::slip(&mut answers[i]);
                    }
                }
            }
            if answered {
                order[replies] = i;
                replies += 1;
            }
        }
        if limited > 0 {
            limited_total.increment(limited);
            slipped_total.increment(slipped);
        }
        send_all(
            fd,
            &mut send_headers,
            &answers,
            &received,
            &order[..replies],
        );
        recorder.batch_end(started, replies);
    }
}

/// Sends the answers at `order` to their sources, in as few calls as the
/// kernel allows; a datagram that cannot be sent is dropped, as UDP may.
fn send_all(
    fd: i32,
    headers: &mut MultiHeaders<SockaddrStorage>,
    answers: &[Vec<u8>],
    received: &[(usize, Option<SocketAddr>); BATCH],
    order: &[usize],
) {
    let mut addresses: [Option<SockaddrStorage>; BATCH] = [None; BATCH];
    for (slot, &i) in addresses.iter_mut().zip(order) {
        *slot = received[i].1.map(SockaddrStorage::from);
    }
    let mut start = 0;
    while start < order.len() {
        let slices: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|k| {
            [IoSlice::new(
                order.get(start + k).map_or(&[][..], |&i| &answers[i][..]),
            )]
        });
        let pending = order.len() - start;
        let sent = match sendmmsg(
            fd,
            headers,
            slices[..pending].iter(),
            &addresses[start..order.len()],
            [],
            MsgFlags::empty(),
        ) {
            Ok(results) => results.count(),
            Err(_) => 0,
        };
        // Skip a datagram the kernel refused outright instead of retrying it forever.
        start += sent.max(1);
    }
}

/// The source address of a received datagram.
fn socket_addr(address: SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    address.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}
