//! DNS listeners: per listen address, UDP worker sockets and one TCP
//! acceptor, all answering through [`crate::answer::respond`] from the
//! snapshot loaded once per query.

pub mod budget;
mod recorder;
pub mod rrl;
mod tcp;
mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use recorder::{Observer, QueryRecorder};

use crate::config::{RrlConfig, ServerConfig};
use crate::snapshot::SnapshotHandle;

/// Running DNS listeners. Dropping it (or calling [`DnsServer::shutdown`])
/// stops them.
#[derive(Debug)]
pub struct DnsServer {
    /// The addresses actually bound (port 0 resolved), each serving UDP and TCP.
    pub local_addrs: Vec<SocketAddr>,
    tasks: JoinSet<()>,
    /// Tells the UDP worker threads to finish.
    stop: Arc<AtomicBool>,
}

/// Every `server.dns_listen` address bound for UDP (one socket per worker)
/// and TCP, not yet answering: the start-up binds while it may still be
/// root (port 53), gives up root, and only then serves.
#[derive(Debug)]
pub struct DnsSockets {
    /// Per listen address: the UDP worker sockets, the TCP listener, and
    /// the address actually bound (port 0 resolved).
    bound: Vec<(Vec<std::net::UdpSocket>, std::net::TcpListener, SocketAddr)>,
}

impl DnsSockets {
    /// Binds every `server.dns_listen` address, `server.udp_workers` UDP
    /// sockets each (0: one per core).
    pub fn bind(config: &ServerConfig) -> io::Result<DnsSockets> {
        let workers = match config.udp_workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let bound = config
            .dns_listen
            .iter()
            .map(|&addr| bind_pair(addr, workers))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(DnsSockets { bound })
    }

    /// The addresses bound (port 0 resolved), in `dns_listen` order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.bound.iter().map(|(_, _, local)| *local).collect()
    }

    /// Starts answering on these sockets from `snapshot`, UDP answers
    /// rate-limited by `rrl` and at most `tcp_max` TCP connections open
    /// (from the descriptor budget); `observer` says what to record about
    /// queries (metrics, query log). Must run inside a tokio runtime.
    pub fn serve(
        self,
        config: &ServerConfig,
        rrl: &RrlConfig,
        tcp_max: usize,
        snapshot: SnapshotHandle,
        observer: Observer,
    ) -> io::Result<DnsServer> {
        let rrl = rrl::Rrl::from_config(rrl).map(Arc::new);
        let tcp_slots = Arc::new(Semaphore::new(tcp_max.max(1)));
        let limits = tcp::TcpLimits {
            timeout: config.tcp_idle_timeout(),
            per_source: config.tcp_max_per_source,
            max: tcp_max.max(1),
        };
        let mut tasks = JoinSet::new();
        let stop = Arc::new(AtomicBool::new(false));
        let local_addrs = self.local_addrs();
        for (udp_sockets, tcp_listener, _) in self.bound {
            for (i, socket) in udp_sockets.into_iter().enumerate() {
                let (snapshot, stop, rrl) = (snapshot.clone(), stop.clone(), rrl.clone());
                let recorder = observer.recorder(crate::answer::Transport::Udp);
                std::thread::Builder::new()
                    .name(format!("dns-udp-{i}"))
                    .spawn(move || udp::serve(socket, snapshot, stop, recorder, rrl))?;
            }
            tasks.spawn(tcp::serve(
                tokio::net::TcpListener::from_std(tcp_listener)?,
                snapshot.clone(),
                tcp_slots.clone(),
                limits,
                observer.clone(),
            ));
        }
        Ok(DnsServer {
            local_addrs,
            tasks,
            stop,
        })
    }
}

impl DnsServer {
    /// Stops every listener (UDP threads within their poll interval).
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.tasks.abort_all();
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Binds `workers` UDP sockets sharing one port (`SO_REUSEPORT`, so the
/// kernel spreads queries across them) and a TCP listener on the same port.
/// With port 0 the first UDP socket picks the port and the rest follow it.
fn bind_pair(
    addr: SocketAddr,
    workers: usize,
) -> io::Result<(Vec<std::net::UdpSocket>, std::net::TcpListener, SocketAddr)> {
    // An ephemeral UDP port may be taken over TCP by someone else: retry.
    let attempts = if addr.port() == 0 { 8 } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let first = udp_socket(addr)?;
        let local = first.local_addr()?.as_socket().unwrap_or(addr);
        let tcp = match tcp_listener(local) {
            Ok(tcp) => tcp,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        let mut sockets = vec![first];
        for _ in 1..workers {
            sockets.push(udp_socket(local)?);
        }
        let udp = sockets
            .into_iter()
            .map(|s| {
                s.set_nonblocking(false)?;
                Ok(s.into())
            })
            .collect::<io::Result<Vec<_>>>()?;
        return Ok((udp, tcp.into(), local));
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("could not bind")))
}

fn udp_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    // A deep receive buffer absorbs bursts instead of dropping them.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.bind(&addr.into())?;
    Ok(socket)
}

fn tcp_listener(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket)
}
