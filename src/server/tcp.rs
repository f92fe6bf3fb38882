//! The TCP listener: length-prefixed messages (RFC 1035 §4.2.2), pipelined
//! queries answered in order, idle connections closed (RFC 7766 §6.2.3).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::timeout;

use crate::answer::{QueryMeta, Transport, respond_into};
use crate::metrics::names;
use crate::metrics::query::{Observer, QueryRecorder};
use crate::snapshot::SnapshotHandle;

/// Accepts connections while a slot is free and serves each in its own task.
pub async fn serve(
    listener: TcpListener,
    snapshot: SnapshotHandle,
    slots: Arc<Semaphore>,
    idle: Duration,
    observer: Observer,
) {
    let open = metrics::gauge!(names::TCP_OPEN);
    let accepted = metrics::counter!(names::TCP_CONNECTIONS, "result" => "accepted");
    let refused = metrics::counter!(names::TCP_CONNECTIONS, "result" => "refused");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Over the limit: close at once rather than queue unbounded.
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refused.increment(1);
            continue;
        };
        accepted.increment(1);
        open.increment(1.0);
        let snapshot = snapshot.clone();
        let recorder = observer.recorder(Transport::Tcp);
        let open = open.clone();
        tokio::spawn(async move {
            let _ = connection(stream, snapshot, idle, recorder).await;
            open.decrement(1.0);
            drop(permit);
        });
    }
}

/// Most bytes read from a connection in one go: a window of pipelined queries.
const READ_CHUNK: usize = 16 * 1024;

/// Serves one connection until the client closes it, it idles out, or it
/// sends something that is not DNS over TCP.
///
/// Reads take whatever the client has sent, answer every complete message
/// in it, and write all the answers with one call: pipelined queries cost
/// one read and one write per batch instead of per query.
async fn connection(
    mut stream: TcpStream,
    snapshot: SnapshotHandle,
    idle: Duration,
    mut recorder: QueryRecorder,
) -> std::io::Result<()> {
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
    loop {
        // An idle connection, or one stuck mid-message, is closed after `idle`.
        let read = match timeout(idle, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Ok(()),
            Ok(Ok(n)) => n,
        };
        input.extend_from_slice(&chunk[..read]);
        let started = recorder.batch_start();
        let snapshot = snapshot.load();
        let mut answered = 0;
        let mut consumed = 0;
        out.clear();
        while let Some(prefix) = input.get(consumed..consumed + 2) {
            let len = u16::from_be_bytes([prefix[0], prefix[1]]) as usize;
            let Some(query) = input.get(consumed + 2..consumed + 2 + len) else {
                break;
            };
            let ok = respond_into(&snapshot, query, &meta, &mut rng, &mut response);
            if ok {
                out.extend_from_slice(&(response.len() as u16).to_be_bytes());
                out.extend_from_slice(&response);
                answered += 1;
            }
            recorder.query(query, ok.then_some(&response[..]), source, started);
            consumed += 2 + len;
        }
        input.drain(..consumed);
        if !out.is_empty() {
            stream.write_all(&out).await?;
        }
        recorder.batch_end(started, answered);
    }
}
