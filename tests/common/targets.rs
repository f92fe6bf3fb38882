//! Tiny health-check targets on loopback: HTTP/1.1 servers (optionally
//! over TLS with a self-signed certificate) whose behaviour the test sets,
//! and which can be killed (listener and every open connection) and
//! brought back on the same port. Shared by `tests/health.rs` and
//! `benches/health_scale.rs`.
#![allow(dead_code)] // each user needs a different part
#![allow(unreachable_pub)] // a private module of each test (or bench) crate that includes it

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

/// The body healthy targets answer with.
pub const HEALTHY_BODY: &str = "status: healthy\n";

/// How a target answers each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behavior {
    /// 200 with [`HEALTHY_BODY`].
    Healthy,
    /// This status, with a short body.
    Status(u16),
    /// 200 with this body instead of the healthy one.
    Body(String),
    /// Read the request and never answer.
    Hang,
    /// Answer 200 after this delay.
    Slow(Duration),
    /// Read the request and close the connection without answering.
    Close,
}

/// A running target; see the module docs.
pub struct Target {
    /// Where it listens.
    pub addr: SocketAddr,
    behavior: Arc<Mutex<Behavior>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Sending `true` stops the listener and every connection of this life.
    stop: Option<watch::Sender<bool>>,
    runtime: tokio::runtime::Handle,
}

impl Target {
    /// Starts a plain HTTP target on 127.0.0.1:0 on `runtime`.
    pub fn http(runtime: &tokio::runtime::Handle, behavior: Behavior) -> Target {
        Target::start(runtime, behavior, None)
    }

    /// Starts an HTTPS target whose certificate is self-signed for
    /// `localhost` and 127.0.0.1.
    pub fn https(runtime: &tokio::runtime::Handle, behavior: Behavior) -> Target {
        Target::start(runtime, behavior, Some(self_signed_acceptor()))
    }

    fn start(
        runtime: &tokio::runtime::Handle,
        behavior: Behavior,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Target {
        let listener = runtime
            .block_on(async { TcpListener::bind("127.0.0.1:0").await })
            .expect("bind target");
        let mut target = Target {
            addr: listener.local_addr().unwrap(),
            behavior: Arc::new(Mutex::new(behavior)),
            tls,
            stop: None,
            runtime: runtime.clone(),
        };
        target.serve(listener);
        target
    }

    /// Changes how later requests are answered (open connections too).
    pub fn set(&self, behavior: Behavior) {
        *self.behavior.lock().unwrap() = behavior;
    }

    /// Closes the listener and every open connection, as a crash would.
    pub fn kill(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }

    /// Listens again on the same port after [`Target::kill`].
    pub fn revive(&mut self) {
        let addr = self.addr;
        let listener = self
            .runtime
            .block_on(async move {
                let socket = TcpSocket::new_v4()?;
                socket.set_reuseaddr(true)?;
                socket.bind(addr)?;
                socket.listen(1024)
            })
            .expect("rebind target on its old port");
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop, stopped) = watch::channel(false);
        self.stop = Some(stop);
        let behavior = self.behavior.clone();
        let tls = self.tls.clone();
        self.runtime.spawn(async move {
            let mut accept_stopped = stopped.clone();
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                    _ = accept_stopped.changed() => return,
                };
                let _ = stream.set_nodelay(true);
                let behavior = behavior.clone();
                let tls = tls.clone();
                let mut conn_stopped = stopped.clone();
                tokio::spawn(async move {
                    let serve = async {
                        match tls {
                            Some(tls) => {
                                if let Ok(stream) = tls.accept(stream).await {
                                    serve_connection(stream, &behavior).await;
                                }
                            }
                            None => serve_connection(stream, &behavior).await,
                        }
                    };
                    tokio::select! {
                        _ = serve => {}
                        _ = conn_stopped.changed() => {}
                    }
                });
            }
        });
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Serves keep-alive requests on one connection until the peer closes it.
async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    behavior: &Mutex<Behavior>,
) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        // Read one request head (health probes send no body).
        let end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if buf.len() > 64 * 1024 {
                return;
            }
        };
        buf.drain(..end);
        let current = behavior.lock().unwrap().clone();
        let (status, body) = match current {
            Behavior::Healthy => (200, HEALTHY_BODY.to_string()),
            Behavior::Status(code) => (code, format!("status {code}\n")),
            Behavior::Body(body) => (200, body),
            Behavior::Hang => {
                std::future::pending::<()>().await;
                return;
            }
            Behavior::Slow(delay) => {
                tokio::time::sleep(delay).await;
                (200, HEALTHY_BODY.to_string())
            }
            Behavior::Close => return,
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A TLS acceptor with a fresh self-signed certificate for `localhost`
/// and 127.0.0.1, using the ring provider (no OpenSSL, no aws-lc).
pub fn self_signed_acceptor() -> tokio_rustls::TlsAcceptor {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("self-signed certificate");
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .expect("server certificate");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// A loopback port with nothing listening: bound, then released.
pub fn refused_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A runtime for targets, apart from the server's.
pub fn target_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("target runtime")
}
