//! The UDP worker: one loop per socket, no task per packet.

use tokio::net::UdpSocket;

use crate::answer::{QueryMeta, Transport, respond};
use crate::snapshot::SnapshotHandle;

/// Largest datagram we accept; anything longer is not a DNS query we answer.
const MAX_QUERY: usize = 4096;

/// Receives queries on `socket` and answers each from the current snapshot.
pub async fn serve(socket: UdpSocket, snapshot: SnapshotHandle) {
    let mut buf = vec![0u8; MAX_QUERY];
    let mut rng = fastrand::Rng::new();
    loop {
        let (len, source) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            // ICMP errors from earlier sends surface here on some systems;
            // they concern one client, never the listener.
            Err(_) => continue,
        };
        let meta = QueryMeta {
            source,
            transport: Transport::Udp,
        };
        let response = respond(&snapshot.load(), &buf[..len], &meta, &mut rng);
        if let Some(response) = response {
            let _ = socket.send_to(&response, source).await;
        }
    }
}
