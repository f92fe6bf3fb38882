//! The API's accept loop: every wait a client can cause has a deadline and
//! the number of open connections has a cap, so clients without a token can
//! neither hold the listener open nor use up the process's descriptors.
//!
//! - headers: hyper's header-read timeout, armed when the connection opens
//!   and again after every response, so it also closes idle keep-alive
//!   connections (and a half-sent request line or header block);
//! - body: [`read_body`] reads the whole body within the body timeout and
//!   the size limit before any handler runs (408 / 413);
//! - writes: a response the client does not take (its socket buffer stays
//!   full) for the header timeout closes the connection ([`WriteDeadline`]),
//!   as NSD does for TCP: a client that pipelines requests and never reads
//!   cannot hold a connection;
//! - connections: at most `max_connections` open at once; one more is
//!   accepted and closed at once (its descriptor is freed, the client sees
//!   the connection end), and counted in a metric.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use super::errors::{ApiError, ErrorCode};
use crate::config::ApiConfig;

/// Gauge: open control API connections.
pub(crate) const CONNECTIONS_OPEN: &str = "switchyard_api_connections_open";
/// Counter: control API connections closed at once over the cap.
pub(crate) const CONNECTIONS_REFUSED: &str = "switchyard_api_connections_refused_total";
/// Counter: failed authentications (401).
pub(crate) const AUTH_FAILURES: &str = "switchyard_api_auth_failures_total";
/// Counter: client addresses locked out (429) after too many failures.
pub(crate) const AUTH_LOCKOUTS: &str = "switchyard_api_auth_lockouts_total";
/// Counter: rejected attempts not written to `audit-rejected.log` (over its
/// rate). Defined by the audit log that counts it.
pub use crate::overrides::audit::REJECTED_AUDIT_DROPPED;

/// Gives the API's metrics their `# HELP` text and their first samples
/// (this component owns them; `metrics::names` holds the query path's).
fn describe_metrics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use metrics::{describe_counter, describe_gauge};
        describe_gauge!(CONNECTIONS_OPEN, "Open control API connections");
        describe_counter!(
            CONNECTIONS_REFUSED,
            "Control API connections closed at once because [api] max_connections were open"
        );
        describe_counter!(AUTH_FAILURES, "Control API requests refused for a missing or wrong token (401)");
        describe_counter!(
            AUTH_LOCKOUTS,
            "Control API client addresses locked out (429) after too many failed authentications"
        );
        describe_counter!(
            REJECTED_AUDIT_DROPPED,
            "Rejected control API attempts not logged because audit-rejected.log was at its rate limit"
        );
        for counter in [CONNECTIONS_REFUSED, AUTH_FAILURES, AUTH_LOCKOUTS, REJECTED_AUDIT_DROPPED] {
            metrics::counter!(counter).increment(0);
        }
    });
}

/// The listener's limits (from `[api]`, possibly lowered by the descriptor
/// budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time to send a request's headers, from connection start or the end
    /// of the previous response (so also the idle keep-alive timeout).
    pub header_timeout: Duration,
    /// Time to send a request's body once the headers are in.
    pub body_timeout: Duration,
    /// Largest body accepted.
    pub body_limit: usize,
}

impl ListenerLimits {
    /// The limits `[api]` configures.
    pub fn from_config(api: &ApiConfig) -> ListenerLimits {
        ListenerLimits {
            max_connections: api.max_connections,
            header_timeout: api.header_timeout(),
            body_timeout: api.body_timeout(),
            body_limit: super::BODY_LIMIT,
        }
    }

    /// Caps the connection count at `budget` (the descriptors set aside
    /// for this listener), never below one.
    pub(crate) fn within_budget(mut self, budget: usize) -> ListenerLimits {
        self.max_connections = self.max_connections.min(budget).max(1);
        self
    }
}

impl Default for ListenerLimits {
    fn default() -> ListenerLimits {
        ListenerLimits::from_config(&ApiConfig::default())
    }
}

/// Serves `app` on `listener` under `limits` until `stop` changes (then
/// stops accepting and asks open connections to finish their request and
/// close). Every request carries its client's address as
/// [`ConnectInfo<SocketAddr>`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ListenerLimits,
    mut stop: watch::Receiver<bool>,
) {
    let app = app.layer(axum::middleware::from_fn_with_state(limits, read_body));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    describe_metrics();
    let gauge = metrics::gauge!(CONNECTIONS_OPEN);
    let refused = metrics::counter!(CONNECTIONS_REFUSED);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning; the
                // descriptors come back as connections close.
                tracing::warn!(error = %e, "control API cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refused.increment(1);
            tracing::debug!(%peer, "control API connection cap reached; closing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let http = http.clone();
        let mut stop = stop.clone();
        let gauge = gauge.clone();
        tokio::spawn(async move {
            gauge.increment(1.0);
            let service =
                hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    app.clone().oneshot(request.map(Body::new))
                });
            let io = WriteDeadline::new(stream, limits.header_timeout);
            let connection = http.serve_connection(TokioIo::new(io), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_end(peer, result),
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    log_end(peer, connection.await);
                }
            }
            gauge.decrement(1.0);
            drop(permit);
        });
    }
}

fn log_end(peer: SocketAddr, result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        // Timeouts and resets by clients are routine on an exposed port.
        tracing::debug!(%peer, error = %e, "control API connection ended");
    }
}

/// Reads the whole request body within the body timeout and size limit
/// before the handler runs: 413 when too large (from `Content-Length` at
/// once, or as the bytes arrive), 408 when too slow.
async fn read_body(State(limits): State<ListenerLimits>, request: Request, next: Next) -> Response {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTooLarge,
            format!("request body is larger than {} bytes", limits.body_limit),
        )
        .into_response()
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_limit as u64) {
        return close(too_large());
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(
        limits.body_timeout,
        axum::body::to_bytes(body, limits.body_limit),
    )
    .await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        // `http_body_util::LengthLimitError`, which axum does not re-export.
        Ok(Err(e)) if e.to_string().contains("length limit") => return close(too_large()),
        Ok(Err(e)) => {
            return close(
                ApiError::bad_request(
                    ErrorCode::BadBody,
                    format!("cannot read the request body: {e}"),
                )
                .into_response(),
            );
        }
        Err(_) => {
            return close(
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    ErrorCode::BodyTimeout,
                    format!(
                        "request body not received within {} s",
                        limits.body_timeout.as_secs()
                    ),
                )
                .into_response(),
            );
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Marks `response` as the connection's last: the unread rest of the body
/// must not be taken for the next request.
fn close(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

/// A stream whose writes fail with `TimedOut` once the peer has taken no
/// bytes for `limit` (a write stays pending that long). Reads pass through:
/// their deadlines are hyper's header timeout and [`read_body`].
#[derive(Debug)]
pub(crate) struct WriteDeadline<S> {
    inner: S,
    limit: Duration,
    /// Armed while a write is pending; cleared by any progress.
    stalled: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteDeadline<S> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: S, limit: Duration) -> WriteDeadline<S> {
        WriteDeadline {
            inner,
            limit,
            stalled: None,
        }
    }

    /// After a pending write or flush: fail once the stall lasts `limit`.
    fn pending<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<T>> {
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => std::task::Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client took no response bytes within the deadline",
            ))),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match std::pin::Pin::new(&mut self.inner).poll_write(cx, buf) {
            std::task::Poll::Pending => self.pending(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match std::pin::Pin::new(&mut self.inner).poll_flush(cx) {
            std::task::Poll::Pending => self.pending(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
