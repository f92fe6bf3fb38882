//! The UDP worker: one OS thread per `SO_REUSEPORT` socket, blocking
//! receive and send, no task per packet and no allocation per query.
//!
//! A dedicated thread beats an async task here: a UDP socket never has
//! anything to wait for but the next datagram, and the kernel spreads
//! datagrams across the sockets of one port, so N threads use N cores with
//! no shared state but the snapshot pointer.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::answer::{QueryMeta, Transport, respond_into};
use crate::snapshot::SnapshotHandle;

/// Largest datagram we accept; anything longer is not a DNS query we answer.
const MAX_QUERY: usize = 4096;

/// How often an idle worker looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);

/// Runs the receive-answer loop on `socket` until `stop` is set.
pub fn serve(socket: UdpSocket, snapshot: SnapshotHandle, stop: Arc<AtomicBool>) {
    let _ = socket.set_read_timeout(Some(STOP_POLL));
    let mut buf = vec![0u8; MAX_QUERY];
    let mut out = Vec::with_capacity(MAX_QUERY);
    let mut rng = fastrand::Rng::new();
    while !stop.load(Ordering::Relaxed) {
        let (len, source) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            // Timeouts (to look at `stop`), and ICMP errors from earlier
            // sends, which concern one client and never the listener.
            Err(_) => continue,
        };
        let meta = QueryMeta {
            source,
            transport: Transport::Udp,
        };
        if respond_into(&snapshot.load(), &buf[..len], &meta, &mut rng, &mut out) {
            let _ = socket.send_to(&out, source);
        }
    }
}
