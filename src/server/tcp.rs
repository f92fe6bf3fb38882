//! The TCP listener: length-prefixed messages (RFC 1035 §4.2.2), pipelined
//! queries answered in order, idle connections closed (RFC 7766 §6.2.3).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::timeout;

use crate::answer::{QueryMeta, Transport, respond_into};
use crate::snapshot::SnapshotHandle;

/// Accepts connections while a slot is free and serves each in its own task.
pub async fn serve(
    listener: TcpListener,
    snapshot: SnapshotHandle,
    slots: Arc<Semaphore>,
    idle: Duration,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Over the limit: close at once rather than queue unbounded.
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let snapshot = snapshot.clone();
        tokio::spawn(async move {
            let _ = connection(stream, snapshot, idle).await;
            drop(permit);
        });
    }
}

/// Serves one connection until the client closes it, it idles out, or it
/// sends something that is not DNS over TCP.
async fn connection(
    mut stream: TcpStream,
    snapshot: SnapshotHandle,
    idle: Duration,
) -> std::io::Result<()> {
    let source = stream.peer_addr()?;
    let _ = stream.set_nodelay(true);
    let meta = QueryMeta {
        source,
        transport: Transport::Tcp,
    };
    let mut query = Vec::with_capacity(512);
    let mut rng = fastrand::Rng::new();
    let mut out = Vec::with_capacity(512);
    let mut response = Vec::with_capacity(512);
    loop {
        let mut prefix = [0u8; 2];
        match timeout(idle, stream.read_exact(&mut prefix)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        let len = u16::from_be_bytes(prefix) as usize;
        query.resize(len, 0);
        // The rest of a message must follow promptly, too.
        match timeout(idle, stream.read_exact(&mut query)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        if !respond_into(&snapshot.load(), &query, &meta, &mut rng, &mut response) {
            continue;
        }
        out.clear();
        out.extend_from_slice(&(response.len() as u16).to_be_bytes());
        out.extend_from_slice(&response);
        stream.write_all(&out).await?;
    }
}
