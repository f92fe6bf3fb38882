//! The probes: HTTP(S) requests through shared `reqwest` clients, and TCP
//! connects; and the reasons a probe fails.
//!
//! Timeouts are not applied here: the scheduler wraps every probe in one,
//! so a probe that hangs anywhere (connect, TLS, headers, body) is cut off
//! the same way.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::config::CheckKind;
use crate::health::plan::{CheckedEndpoint, HttpSpec, MAX_BODY_READ};

/// Why a probe failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FailureReason {
    /// The response status is not in `expect_status`.
    Status {
        /// The status received.
        code: u16,
    },
    /// No verdict within the check's timeout.
    Timeout,
    /// Nothing listens at the target.
    ConnectionRefused,
    /// The TLS handshake failed (certificate rejected, protocol mismatch...).
    Tls {
        /// What the TLS layer said.
        detail: String,
    },
    /// The body's first 64 KiB lack `body_contains`.
    BodyMismatch,
    /// Any other network or protocol error (reset, closed early, bad HTTP...).
    Io {
        /// What went wrong.
        detail: String,
    },
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::Status { code } => write!(f, "unexpected status {code}"),
            FailureReason::Timeout => write!(f, "timed out"),
            FailureReason::ConnectionRefused => write!(f, "connection refused"),
            FailureReason::Tls { detail } => write!(f, "tls error: {detail}"),
            FailureReason::BodyMismatch => write!(f, "body does not contain the expected text"),
            FailureReason::Io { detail } => write!(f, "i/o error: {detail}"),
        }
    }
}

/// Something the scheduler can probe. The real probes are
/// [`PreparedProbe`]s; tests substitute their own.
pub trait Probe: Send + Sync + 'static {
    /// Probes once. The caller applies the timeout.
    fn probe(&self) -> impl Future<Output = Result<(), FailureReason>> + Send;
}

/// The outcome of one probe, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// Success, or why not.
    pub outcome: Result<(), FailureReason>,
    /// From the probe's start to its verdict (the timeout, if it hung).
    pub latency: Duration,
}

/// Builds probes, sharing HTTP clients (and their connection pools) across
/// endpoints.
///
/// Clients are keyed by whether they verify certificates and, when a check
/// names a host for SNI, by the `(name, address)` pair the client resolves
/// that name to: `resolve` is a client-wide setting in reqwest. Checks
/// without a name connect by IP and share one client per verification mode.
#[derive(Debug)]
pub(crate) struct Prober {
    /// `[health] source_address`: probes to targets of its family are sent
    /// from it.
    source: Option<IpAddr>,
    verified: Result<reqwest::Client, String>,
    unverified: Result<reqwest::Client, String>,
    named: Mutex<HashMap<NamedClientKey, ClientOrError>>,
}

/// `(verify certificates, name, address the name resolves to)`.
type NamedClientKey = (bool, String, SocketAddr);

/// A built client, or why it could not be built (probes then fail with it).
type ClientOrError = Result<reqwest::Client, String>;

impl Default for Prober {
    fn default() -> Self {
        Prober::new()
    }
}

impl Prober {
    /// Creates the shared clients. Installs rustls' ring provider as the
    /// process default if none is installed yet.
    pub(crate) fn new() -> Prober {
        Prober::from_source(None)
    }

    /// Like [`Prober::new`], sending probes from `source` (to targets of
    /// the same address family; others go from the default address).
    pub(crate) fn from_source(source: Option<IpAddr>) -> Prober {
        // Err means another provider is already installed: fine either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Prober {
            source,
            verified: build_client(true, None, source),
            unverified: build_client(false, None, source),
            named: Mutex::new(HashMap::new()),
        }
    }

    /// The probe for one checked endpoint.
    pub(crate) fn prepare(&self, endpoint: &CheckedEndpoint) -> PreparedProbe {
        let check = &endpoint.check;
        let target = endpoint.target;
        let http = match (check.kind, &check.http) {
            (CheckKind::Tcp, _) | (_, None) => {
                let source = self.source.filter(|s| s.is_ipv4() == target.is_ipv4());
                return PreparedProbe::Tcp { target, source };
            }
            (kind, Some(http)) => (kind == CheckKind::Https, http),
        };
        let (tls, spec) = http;
        // The name in the URL is what rustls verifies and sends as SNI.
        let name = if tls {
            spec.sni
                .clone()
                .or_else(|| spec.host.as_deref().and_then(tls_name))
        } else {
            None
        };
        let verify = !tls || spec.tls_verify;
        let client = match &name {
            None if verify => self.verified.clone(),
            None => self.unverified.clone(),
            Some(name) => {
                let mut named = self.named.lock().unwrap_or_else(|e| e.into_inner());
                named
                    .entry((verify, name.clone(), target))
                    .or_insert_with(|| build_client(verify, Some((name, target)), self.source))
                    .clone()
            }
        };
        let scheme = if tls { "https" } else { "http" };
        let authority = match &name {
            Some(name) => format!("{name}:{}", target.port()),
            None => target.to_string(),
        };
        let url = format!("{scheme}://{authority}{}", spec.path);
        let request = reqwest::Url::parse(&url)
            .map_err(|e| format!("cannot build probe URL {url:?}: {e}"))
            .and_then(|url| {
                let client = client?;
                let mut builder = client.request(spec.method.clone(), url);
                if let Some(host) = &spec.host {
                    builder = builder.header(reqwest::header::HOST, host);
                }
                builder
                    .build()
                    .map_err(|e| e.to_string())
                    .map(|r| (client, r))
            });
        PreparedProbe::Http {
            request: request.map(|(client, request)| {
                Box::new(HttpRequest {
                    client,
                    request,
                    spec: spec.clone(),
                })
            }),
        }
    }
}

/// The host part of a `Host` header, if it is a DNS name usable for SNI.
fn tls_name(host: &str) -> Option<String> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(
        rustls::pki_types::ServerName::try_from(name),
        Ok(rustls::pki_types::ServerName::DnsName(_))
    )
    .then(|| name.to_string())
}

fn build_client(
    verify: bool,
    resolve: Option<(&str, SocketAddr)>,
    source: Option<IpAddr>,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("switchyard-health/", env!("CARGO_PKG_VERSION")))
        // A redirect says the target is alive; following it would probe
        // something else.
        .redirect(reqwest::redirect::Policy::none())
        // Probes go straight to the target, whatever the environment says.
        .no_proxy()
        .pool_idle_timeout(Duration::from_secs(30))
        .danger_accept_invalid_certs(!verify)
        // Binds only connections to targets of the same address family.
        .local_address(source);
    if let Some((name, addr)) = resolve {
        builder = builder.resolve(name, addr);
    }
    builder
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))
}

/// An HTTP probe, ready to send.
#[derive(Debug)]
pub(crate) struct HttpRequest {
    client: reqwest::Client,
    request: reqwest::Request,
    spec: HttpSpec,
}

/// A probe for one endpoint, built once and run every interval.
#[derive(Debug)]
pub(crate) enum PreparedProbe {
    /// Connect and close.
    Tcp {
        /// Where to connect.
        target: SocketAddr,
        /// The local address to connect from (same family as `target`).
        source: Option<IpAddr>,
    },
    /// Send a request and judge the response; `Err` when the request could
    /// not be built (every probe then fails with that reason).
    Http {
        /// The request and how to judge its response.
        request: Result<Box<HttpRequest>, String>,
    },
}

impl Probe for PreparedProbe {
    async fn probe(&self) -> Result<(), FailureReason> {
        match self {
            PreparedProbe::Tcp { target, source } => match connect(*target, *source).await {
                Ok(_) => Ok(()),
                Err(e) => Err(classify_io(&e)),
            },
            PreparedProbe::Http { request: Err(e) } => Err(FailureReason::Io { detail: e.clone() }),
            PreparedProbe::Http { request: Ok(http) } => http.send().await,
        }
    }
}

/// A TCP connection to `target`, from `source` when given.
async fn connect(target: SocketAddr, source: Option<IpAddr>) -> io::Result<tokio::net::TcpStream> {
    let Some(source) = source else {
        return tokio::net::TcpStream::connect(target).await;
    };
    let socket = if target.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(target).await
}

impl HttpRequest {
    async fn send(&self) -> Result<(), FailureReason> {
        let request = self.request.try_clone().ok_or_else(|| FailureReason::Io {
            detail: "request cannot be repeated".into(),
        })?;
        let mut response = self
            .client
            .execute(request)
            .await
            .map_err(|e| classify(&e))?;
        let code = response.status().as_u16();
        if !self.spec.expect_status.contains(code) {
            return Err(FailureReason::Status { code });
        }
        let needle = self.spec.body_contains.as_deref().map(str::as_bytes);
        // Read (at most 64 KiB) even without a needle: a fully read body
        // lets the connection go back to the pool.
        let mut body = Vec::new();
        let mut read = 0;
        while read < MAX_BODY_READ {
            let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? else {
                break;
            };
            read += chunk.len();
            if let Some(needle) = needle {
                let keep = chunk
                    .len()
                    .min(MAX_BODY_READ - body.len().min(MAX_BODY_READ));
                let searched_from = body.len().saturating_sub(needle.len() - 1);
                body.extend_from_slice(&chunk[..keep]);
                if contains(&body[searched_from..], needle) {
                    return Ok(());
                }
            }
        }
        match needle {
            Some(_) => Err(FailureReason::BodyMismatch),
            None => Ok(()),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Names the failure behind a reqwest error by walking its sources.
fn classify(error: &reqwest::Error) -> FailureReason {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut innermost = error.to_string();
    while let Some(e) = source {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return FailureReason::Tls {
                detail: tls.to_string(),
            };
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if matches!(
                io.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::TimedOut
            ) {
                return classify_io(io);
            }
            // `io::Error::source` skips the wrapped error itself, and TLS
            // errors arrive wrapped (twice) in io::Errors: descend by hand.
            if let Some(inner) = io.get_ref() {
                innermost = inner.to_string();
                source = Some(inner);
                continue;
            }
        }
        innermost = e.to_string();
        source = e.source();
    }
    if error.is_timeout() {
        return FailureReason::Timeout;
    }
    FailureReason::Io {
        detail: truncate(innermost),
    }
}

fn classify_io(error: &io::Error) -> FailureReason {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => FailureReason::ConnectionRefused,
        io::ErrorKind::TimedOut => FailureReason::Timeout,
        _ => FailureReason::Io {
            detail: truncate(error.to_string()),
        },
    }
}

/// Keeps failure details short enough for logs and the API.
fn truncate(mut text: String) -> String {
    const MAX: usize = 200;
    if text.len() > MAX {
        let mut cut = MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_needle_across_the_searched_window() {
        assert!(contains(b"hello world", b"o w"));
        assert!(!contains(b"hello", b"world"));
    }

    #[test]
    fn tls_name_strips_a_port_and_ignores_addresses() {
        assert_eq!(
            tls_name("app.example.com:8443").as_deref(),
            Some("app.example.com")
        );
        assert_eq!(
            tls_name("app.example.com").as_deref(),
            Some("app.example.com")
        );
        assert_eq!(tls_name("127.0.0.1:80"), None);
    }

    #[tokio::test]
    async fn tcp_probes_leave_from_the_source_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = listener.local_addr().unwrap();
        let source: IpAddr = "127.0.0.7".parse().unwrap();
        let _stream = connect(target, Some(source)).await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(peer.ip(), source);
        // No source: the default (127.0.0.1 for a loopback target).
        let _stream = connect(target, None).await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(peer.ip(), "127.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn failure_reasons_serialize_with_a_kind() {
        let json = serde_json::to_string(&FailureReason::Status { code: 503 }).unwrap();
        assert_eq!(json, r#"{"kind":"status","code":503}"#);
        let json = serde_json::to_string(&FailureReason::Timeout).unwrap();
        assert_eq!(json, r#"{"kind":"timeout"}"#);
    }
}
