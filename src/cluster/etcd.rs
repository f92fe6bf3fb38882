//! An etcd v3 client over etcd's JSON gRPC gateway (`POST /v3/...`).
//!
//! Why the gateway and not gRPC: the `etcd-client` crate's build script
//! needs `protoc`, and Switchyard must build on a machine with only Rust and
//! a C compiler. The gateway is part of every etcd 3.4+ server, speaks JSON
//! over the HTTP client Switchyard already links (reqwest with rustls), and
//! carries the same API: keys and values are base64 strings, int64 fields
//! are JSON strings, and streaming calls (watch, lease keep-alive) answer
//! with one `{"result": ...}` object per message.
//!
//! Failover: requests go to the endpoint that last answered (sticky), then
//! to the others in order, each within `request_timeout`. A request that
//! may have reached etcd is only sent again when repeating it is harmless
//! (reads, keep-alives, revokes, opening a watch); a write is retried on
//! another endpoint only when it provably never ran there (the connection
//! was refused, or the member rejected it because it has no leader).
//!
//! Every request carries the `hasleader` gRPC metadata, as etcd's own Go
//! client does for watches: a member cut off from the quorum then refuses
//! at once (and closes watch streams) instead of stalling until a timeout,
//! so the client moves on to a member that can answer.

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::ClusterConfig;

/// How to reach etcd: endpoints, credentials, TLS and the per-request timeout.
#[derive(Clone)]
pub struct EtcdSettings {
    /// Client URLs (`http://127.0.0.1:2379`); tried in turn, sticky to the
    /// last one that answered.
    pub endpoints: Vec<String>,
    /// etcd user when auth is enabled (with `password`).
    pub username: Option<String>,
    /// The user's password.
    pub password: Option<String>,
    /// PEM CA bundle that signs the members' server certificates (https).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (with `key_file`) for client-cert auth.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Time one request may take at one endpoint (default 2 s).
    pub request_timeout: Duration,
}

impl EtcdSettings {
    /// Plain-HTTP settings for `endpoints` with no auth and the default timeout.
    pub fn new(endpoints: Vec<String>) -> EtcdSettings {
        EtcdSettings {
            endpoints,
            username: None,
            password: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            request_timeout: Duration::from_secs(2),
        }
    }

    /// The settings a validated `[cluster]` table describes.
    pub fn from_config(cluster: &ClusterConfig) -> EtcdSettings {
        EtcdSettings {
            endpoints: cluster.endpoints.clone(),
            username: cluster.username.clone(),
            password: cluster.password.clone(),
            ca_file: cluster.ca_file.clone(),
            cert_file: cluster.cert_file.clone(),
            key_file: cluster.key_file.clone(),
            request_timeout: cluster.request_timeout,
        }
    }
}

impl fmt::Debug for EtcdSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password never reaches a log line.
        f.debug_struct("EtcdSettings")
            .field("endpoints", &self.endpoints)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// A key with its value and etcd's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// Revision of the change that created the key (since its last delete).
    pub create_revision: i64,
    /// Revision of the last change to the key.
    pub mod_revision: i64,
    /// Number of changes since the key was created (1 after the first put).
    pub version: i64,
    /// Lease the key is attached to, 0 for none.
    pub lease: i64,
}

/// What a [`Compare`] looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompareTarget {
    /// The key's version (0 when it does not exist).
    Version(i64),
    /// The key's create revision (0 when it does not exist).
    CreateRevision(i64),
    /// The key's mod revision (0 when it does not exist).
    ModRevision(i64),
    /// The key's value.
    Value(Vec<u8>),
}

/// How a [`Compare`] relates the key's current state to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// current == target
    Equal,
    /// current != target
    NotEqual,
    /// current > target
    Greater,
    /// current < target
    Less,
}

/// One condition of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    /// The key compared.
    pub key: Vec<u8>,
    /// The relation that must hold.
    pub op: CompareOp,
    /// What is compared, and against which value.
    pub target: CompareTarget,
}

/// One operation of a transaction branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    /// Write `value` at `key`, attached to `lease` if given.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// The lease the key lives and dies with.
        lease: Option<i64>,
    },
    /// Delete one key.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
    /// Delete every key starting with `prefix`.
    DeletePrefix {
        /// The prefix.
        prefix: Vec<u8>,
    },
    /// Read one key (its result lands in [`TxnResponse::gets`]).
    Get {
        /// The key.
        key: Vec<u8>,
    },
    /// Read every key starting with `prefix`, in key order.
    GetPrefix {
        /// The prefix.
        prefix: Vec<u8>,
    },
}

/// What a transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnResponse {
    /// True when every comparison held and the success branch ran.
    pub succeeded: bool,
    /// The store's revision after the transaction.
    pub revision: i64,
    /// One entry per `Get`/`GetPrefix` of the branch that ran, in order.
    pub gets: Vec<Vec<KeyValue>>,
}

/// Why an etcd call failed.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint answered in time (or none could serve: no quorum).
    #[error("etcd unavailable: {0}")]
    Unavailable(String),
    /// The requested revision is older than etcd's compaction point; the
    /// caller must re-read the state and watch from a newer revision.
    #[error("etcd revision compacted (oldest available after {compact_revision})")]
    Compacted {
        /// The revision etcd has compacted up to.
        compact_revision: i64,
    },
    /// Credentials were refused (wrong user or password, no permission, or
    /// unusable TLS certificate or key files).
    #[error("etcd authentication failed: {0}")]
    Auth(String),
    /// etcd answered with an error.
    #[error("etcd rejected the request: {0}")]
    Rejected(String),
    /// The answer could not be understood.
    #[error("unexpected answer from etcd: {0}")]
    Protocol(String),
}

/// One change seen by a [`Watch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// A key was written (created or updated).
    Put(KeyValue),
    /// A key was deleted (by a delete or because its lease ended).
    Delete {
        /// The key.
        key: Vec<u8>,
        /// The revision of the delete.
        mod_revision: i64,
    },
}

/// The changes one watch message carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchBatch {
    /// Every change under the prefix up to and including this revision has
    /// now been delivered: resume with `start_revision = revision + 1`.
    pub revision: i64,
    /// The changes, in revision order (empty for a progress notification).
    pub events: Vec<WatchEvent>,
}

/// A stream of changes under a prefix (one streaming `/v3/watch` call).
pub struct Watch {
    response: reqwest::Response,
    endpoint: String,
    buf: Vec<u8>,
    /// Batches parsed but not yet returned.
    ready: VecDeque<WatchBatch>,
    /// Set once the stream has failed; every later `next` repeats it.
    closed: Option<String>,
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("endpoint", &self.endpoint)
            .field("closed", &self.closed)
            .finish()
    }
}

impl Watch {
    /// The next batch of changes. `Err(Compacted)` when the start revision
    /// was compacted away; `Err(Unavailable)` when the stream breaks (the
    /// member died or lost its leader). After an error the watch is done:
    /// open a new one from the last revision seen plus one.
    ///
    /// Cancel-safe: dropping the future (say, in `tokio::select!`) loses
    /// no event; the next call picks up where it stopped.
    pub async fn next(&mut self) -> Result<WatchBatch, EtcdError> {
        loop {
            if let Some(batch) = self.ready.pop_front() {
                return Ok(batch);
            }
            if let Some(reason) = &self.closed {
                return Err(EtcdError::Unavailable(reason.clone()));
            }
            while let Some(message) = take_json(&mut self.buf).map_err(|e| self.fail(e))? {
                match watch_message(message) {
                    Ok(WatchMessage::Created) => {}
                    Ok(WatchMessage::Batch(batch)) => self.ready.push_back(batch),
                    Err(Failure::Final(e)) => return Err(self.fail(e)),
                    Err(other) => {
                        return Err(self.fail(EtcdError::Unavailable(format!(
                            "{}: watch: {}",
                            self.endpoint,
                            other.describe()
                        ))));
                    }
                }
            }
            if !self.ready.is_empty() {
                continue;
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buf.extend_from_slice(&bytes),
                Ok(None) => {
                    let reason = format!("{}: watch stream ended", self.endpoint);
                    return Err(self.fail(EtcdError::Unavailable(reason)));
                }
                Err(e) => {
                    let reason = format!("{}: watch stream broke: {}", self.endpoint, chain(&e));
                    return Err(self.fail(EtcdError::Unavailable(reason)));
                }
            }
        }
    }

    /// Marks the watch closed and hands `error` back.
    fn fail(&mut self, error: EtcdError) -> EtcdError {
        self.closed = Some(format!("watch closed after: {error}"));
        error
    }
}

/// A client for one etcd cluster. Cheap to clone (shares one connection pool).
#[derive(Clone)]
pub struct Etcd {
    inner: Arc<Inner>,
}

struct Inner {
    endpoints: Vec<String>,
    http: reqwest::Client,
    timeout: Duration,
    /// Index into `endpoints` of the last member that answered.
    sticky: AtomicUsize,
    credentials: Option<(String, String)>,
    /// The auth token (when `credentials` is set) from the last
    /// `/v3/auth/authenticate`.
    token: Mutex<Option<String>>,
}

impl fmt::Debug for Etcd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoints", &self.inner.endpoints)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

/// Whether a request may be sent again after a failure whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Reads and other calls that are harmless to repeat.
    Idempotent,
    /// Writes: only repeated where they provably did not run.
    Once,
}

/// How one attempt at one endpoint failed.
#[derive(Debug)]
enum Failure {
    /// The request never ran (connection refused, no leader): try elsewhere.
    NotSent(String),
    /// It may or may not have run (timeout, connection lost mid-request).
    MaybeSent(String),
    /// The auth token is missing, expired or unknown to this member.
    Token(String),
    /// A definite answer that another endpoint would repeat.
    Final(EtcdError),
}

impl Failure {
    fn describe(&self) -> String {
        match self {
            Failure::NotSent(m) | Failure::MaybeSent(m) | Failure::Token(m) => m.clone(),
            Failure::Final(e) => e.to_string(),
        }
    }
}

/// The gRPC metadata that makes a member without a leader refuse requests
/// (and end watches) instead of blocking; forwarded by the gateway.
const REQUIRE_LEADER: (&str, &str) = ("Grpc-Metadata-hasleader", "true");

impl Etcd {
    /// A client for `settings` (no connection is made yet). Fails with
    /// `Auth` when a TLS file cannot be read or parsed, `Unavailable` when
    /// there is no endpoint.
    pub fn new(settings: EtcdSettings) -> Result<Etcd, EtcdError> {
        if settings.endpoints.is_empty() {
            return Err(EtcdError::Unavailable(
                "no etcd endpoints configured".into(),
            ));
        }
        // reqwest is built without a default rustls provider; install ring
        // (as the health checker does). Err means one is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let read = |path: &PathBuf, what: &str| {
            std::fs::read(path)
                .map_err(|e| EtcdError::Auth(format!("cannot read {what} {}: {e}", path.display())))
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(settings.request_timeout)
            // Watches sit idle for long stretches; keep-alive probes notice a
            // peer that vanished without closing the connection.
            .tcp_keepalive(Duration::from_secs(5))
            .tcp_keepalive_interval(Duration::from_secs(2))
            .tcp_keepalive_retries(3u32)
            .no_proxy()
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &settings.ca_file {
            let certs = reqwest::Certificate::from_pem_bundle(&read(ca, "ca_file")?)
                .map_err(|e| EtcdError::Auth(format!("ca_file {}: {}", ca.display(), chain(&e))))?;
            if certs.is_empty() {
                return Err(EtcdError::Auth(format!(
                    "ca_file {} holds no PEM certificate",
                    ca.display()
                )));
            }
            // A private CA signs etcd's certificates: trust it, and only it.
            builder = builder.tls_certs_only(certs);
        }
        match (&settings.cert_file, &settings.key_file) {
            (Some(cert), Some(key)) => {
                let mut pem = read(cert, "cert_file")?;
                pem.push(b'\n');
                pem.extend(read(key, "key_file")?);
                let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                    EtcdError::Auth(format!(
                        "client certificate {} / key {}: {}",
                        cert.display(),
                        key.display(),
                        chain(&e)
                    ))
                })?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(EtcdError::Auth("cert_file and key_file go together".into()));
            }
        }
        let http = builder
            .build()
            .map_err(|e| EtcdError::Protocol(format!("cannot build HTTP client: {}", chain(&e))))?;
        let credentials = match (settings.username, settings.password) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            _ => {
                return Err(EtcdError::Auth("username and password go together".into()));
            }
        };
        Ok(Etcd {
            inner: Arc::new(Inner {
                endpoints: settings
                    .endpoints
                    .iter()
                    .map(|e| e.trim_end_matches('/').to_string())
                    .collect(),
                http,
                timeout: settings.request_timeout,
                sticky: AtomicUsize::new(0),
                credentials,
                token: Mutex::new(None),
            }),
        })
    }

    /// The endpoints, in configured order.
    pub fn endpoints(&self) -> &[String] {
        &self.inner.endpoints
    }

    /// The value at `key` (if any) and the store's revision.
    pub async fn get(&self, key: &[u8]) -> Result<(Option<KeyValue>, i64), EtcdError> {
        let body = json!({ "key": B64.encode(key) });
        let r: RangeResponse = self.call("kv/range", &body, Retry::Idempotent).await?;
        let kv = r.kvs.into_iter().next().map(KeyValue::from);
        Ok((kv, r.header.revision))
    }

    /// Every key starting with `prefix`, in key order, and the store's revision.
    pub async fn get_prefix(&self, prefix: &[u8]) -> Result<(Vec<KeyValue>, i64), EtcdError> {
        let body =
            json!({ "key": B64.encode(prefix), "range_end": B64.encode(prefix_end(prefix)) });
        let r: RangeResponse = self.call("kv/range", &body, Retry::Idempotent).await?;
        Ok((
            r.kvs.into_iter().map(KeyValue::from).collect(),
            r.header.revision,
        ))
    }

    /// Writes `value` at `key` (attached to `lease` if given); returns the
    /// revision of the write.
    pub async fn put(
        &self,
        key: &[u8],
        value: &[u8],
        lease: Option<i64>,
    ) -> Result<i64, EtcdError> {
        let body = put_request(key, value, lease);
        let r: HeaderOnly = self.call("kv/put", &body, Retry::Once).await?;
        Ok(r.header.revision)
    }

    /// Deletes `key` (no error if it does not exist); returns the store's
    /// revision afterwards.
    pub async fn delete(&self, key: &[u8]) -> Result<i64, EtcdError> {
        let body = json!({ "key": B64.encode(key) });
        let r: HeaderOnly = self.call("kv/deleterange", &body, Retry::Once).await?;
        Ok(r.header.revision)
    }

    /// Deletes every key starting with `prefix`; returns the store's
    /// revision afterwards.
    pub async fn delete_prefix(&self, prefix: &[u8]) -> Result<i64, EtcdError> {
        let body =
            json!({ "key": B64.encode(prefix), "range_end": B64.encode(prefix_end(prefix)) });
        let r: HeaderOnly = self.call("kv/deleterange", &body, Retry::Once).await?;
        Ok(r.header.revision)
    }

    /// Runs `success` if every comparison in `compare` holds, else `failure`,
    /// atomically.
    pub async fn txn(
        &self,
        compare: Vec<Compare>,
        success: Vec<TxnOp>,
        failure: Vec<TxnOp>,
    ) -> Result<TxnResponse, EtcdError> {
        let body = json!({
            "compare": compare.iter().map(compare_json).collect::<Vec<_>>(),
            "success": success.iter().map(op_json).collect::<Vec<_>>(),
            "failure": failure.iter().map(op_json).collect::<Vec<_>>(),
        });
        let r: WireTxnResponse = self.call("kv/txn", &body, Retry::Once).await?;
        let ran = if r.succeeded { &success } else { &failure };
        if r.responses.len() != ran.len() {
            return Err(EtcdError::Protocol(format!(
                "transaction ran {} operations but {} results came back",
                ran.len(),
                r.responses.len()
            )));
        }
        let mut gets = Vec::new();
        for (op, response) in ran.iter().zip(r.responses) {
            if matches!(op, TxnOp::Get { .. } | TxnOp::GetPrefix { .. }) {
                let range = response.response_range.ok_or_else(|| {
                    EtcdError::Protocol("a transaction read has no range result".into())
                })?;
                gets.push(range.kvs.into_iter().map(KeyValue::from).collect());
            }
        }
        Ok(TxnResponse {
            succeeded: r.succeeded,
            revision: r.header.revision,
            gets,
        })
    }

    /// Grants a lease of `ttl` (rounded up to whole seconds; etcd may raise
    /// very short TTLs to its minimum); returns its id.
    pub async fn lease_grant(&self, ttl: Duration) -> Result<i64, EtcdError> {
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        let body = json!({ "TTL": secs.max(1).to_string(), "ID": "0" });
        let r: LeaseGrantResponse = self.call("lease/grant", &body, Retry::Once).await?;
        if !r.error.is_empty() {
            return Err(EtcdError::Rejected(r.error));
        }
        if r.id == 0 {
            return Err(EtcdError::Protocol(
                "lease grant returned no lease id".into(),
            ));
        }
        Ok(r.id)
    }

    /// Renews lease `id`; returns the TTL it now has left.
    /// `Duration::ZERO` means the lease is gone (expired or revoked).
    pub async fn lease_keepalive(&self, id: i64) -> Result<Duration, EtcdError> {
        let body = json!({ "ID": id.to_string() });
        // A streaming call: one `{"result": ...}` per request sent.
        let r: StreamResult<LeaseKeepAliveResponse> = self
            .call("lease/keepalive", &body, Retry::Idempotent)
            .await?;
        let result = r
            .result
            .ok_or_else(|| EtcdError::Protocol("keep-alive answered without a result".into()))?;
        Ok(Duration::from_secs(result.ttl.max(0) as u64))
    }

    /// Revokes lease `id`, deleting every key attached to it. A lease that
    /// is already gone counts as revoked.
    pub async fn lease_revoke(&self, id: i64) -> Result<(), EtcdError> {
        let body = json!({ "ID": id.to_string() });
        match self
            .call::<HeaderOnly>("lease/revoke", &body, Retry::Idempotent)
            .await
        {
            Ok(_) => Ok(()),
            Err(EtcdError::Rejected(m)) if m.contains("lease not found") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Compacts the key-value history up to `revision`: older revisions can
    /// no longer be read or watched from. Mostly for operators and tests.
    pub async fn compact(&self, revision: i64) -> Result<(), EtcdError> {
        let body = json!({ "revision": revision.to_string(), "physical": true });
        self.call::<HeaderOnly>("kv/compaction", &body, Retry::Idempotent)
            .await
            .map(|_| ())
    }

    /// Watches every key starting with `prefix`, from `start_revision`
    /// (events with revision >= it; 0 or less means "from now on"). Returns
    /// once etcd has confirmed the watch.
    pub async fn watch_prefix(
        &self,
        prefix: &[u8],
        start_revision: i64,
    ) -> Result<Watch, EtcdError> {
        let mut create = json!({
            "key": B64.encode(prefix),
            "range_end": B64.encode(prefix_end(prefix)),
        });
        if start_revision > 0 {
            create["start_revision"] = Value::String(start_revision.to_string());
        }
        let body = json!({ "create_request": create });
        let inner = &self.inner;
        let n = inner.endpoints.len();
        let start = inner.sticky.load(Ordering::Relaxed) % n;
        let mut errors = Vec::new();
        for i in 0..n {
            let index = (start + i) % n;
            let mut reauthenticated = false;
            loop {
                match self.open_watch(index, &body).await {
                    Ok(watch) => {
                        inner.sticky.store(index, Ordering::Relaxed);
                        return Ok(watch);
                    }
                    Err(Failure::Token(m)) if !reauthenticated && inner.credentials.is_some() => {
                        reauthenticated = true;
                        *inner.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        tracing::debug!(endpoint = %inner.endpoints[index], "etcd token refused ({m}); authenticating again");
                    }
                    Err(Failure::Token(m)) => return Err(EtcdError::Auth(m)),
                    Err(Failure::Final(e)) => return Err(e),
                    Err(Failure::NotSent(m) | Failure::MaybeSent(m)) => {
                        errors.push(m);
                        break;
                    }
                }
            }
        }
        Err(EtcdError::Unavailable(errors.join("; ")))
    }

    /// Opens a watch at endpoint `index` and waits for etcd's "created".
    async fn open_watch(&self, index: usize, body: &Value) -> Result<Watch, Failure> {
        let inner = &self.inner;
        let endpoint = &inner.endpoints[index];
        let token = self.token(index).await?;
        let mut request = inner
            .http
            .post(format!("{endpoint}/v3/watch"))
            .header(REQUIRE_LEADER.0, REQUIRE_LEADER.1)
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        // No timeout on the request itself (the stream lives on); only on
        // getting it created.
        let opened = tokio::time::timeout(inner.timeout, async {
            let response = request.send().await.map_err(|e| transport(endpoint, &e))?;
            if !response.status().is_success() {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                return Err(error_body(endpoint, status, text.as_bytes()));
            }
            let mut watch = Watch {
                response,
                endpoint: endpoint.clone(),
                buf: Vec::new(),
                ready: VecDeque::new(),
                closed: None,
            };
            loop {
                if let Some(message) = take_json(&mut watch.buf).map_err(Failure::Final)? {
                    return match watch_message(message)? {
                        WatchMessage::Created => Ok(watch),
                        WatchMessage::Batch(b) => {
                            Err(Failure::Final(EtcdError::Protocol(format!(
                                "watch sent events at revision {} before confirming it",
                                b.revision
                            ))))
                        }
                    };
                }
                match watch.response.chunk().await {
                    Ok(Some(bytes)) => watch.buf.extend_from_slice(&bytes),
                    Ok(None) => {
                        return Err(Failure::MaybeSent(format!(
                            "{endpoint}: watch ended before it was created"
                        )));
                    }
                    Err(e) => return Err(transport(endpoint, &e)),
                }
            }
        })
        .await;
        opened.unwrap_or_else(|_| {
            Err(Failure::MaybeSent(format!(
                "{endpoint}: watch not created within {:?}",
                inner.timeout
            )))
        })
    }

    /// Sends `body` to `/v3/{path}` with failover, re-authenticating once
    /// per endpoint when the token is refused.
    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        body: &Value,
        retry: Retry,
    ) -> Result<T, EtcdError> {
        let inner = &self.inner;
        let n = inner.endpoints.len();
        let start = inner.sticky.load(Ordering::Relaxed) % n;
        let body = body.to_string();
        let mut errors = Vec::new();
        for i in 0..n {
            let index = (start + i) % n;
            let mut reauthenticated = false;
            loop {
                match self.attempt(index, path, &body).await {
                    Ok(bytes) => {
                        inner.sticky.store(index, Ordering::Relaxed);
                        return serde_json::from_slice(&bytes).map_err(|e| {
                            EtcdError::Protocol(format!(
                                "{}: /v3/{path}: {e}: {}",
                                inner.endpoints[index],
                                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                            ))
                        });
                    }
                    Err(Failure::Token(m)) if !reauthenticated && inner.credentials.is_some() => {
                        reauthenticated = true;
                        *inner.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        tracing::debug!(endpoint = %inner.endpoints[index], "etcd token refused ({m}); authenticating again");
                    }
                    Err(Failure::Token(m)) => return Err(EtcdError::Auth(m)),
                    Err(Failure::Final(e)) => return Err(e),
                    Err(Failure::NotSent(m)) => {
                        errors.push(m);
                        break;
                    }
                    Err(Failure::MaybeSent(m)) => {
                        errors.push(m);
                        if retry == Retry::Once {
                            // The write may have been applied: sending it
                            // again could apply it twice.
                            return Err(EtcdError::Unavailable(format!(
                                "{} (the write may or may not have been applied)",
                                errors.join("; ")
                            )));
                        }
                        break;
                    }
                }
            }
        }
        Err(EtcdError::Unavailable(errors.join("; ")))
    }

    /// One POST to one endpoint; the body of a successful answer.
    async fn attempt(&self, index: usize, path: &str, body: &str) -> Result<Vec<u8>, Failure> {
        let inner = &self.inner;
        let endpoint = &inner.endpoints[index];
        let token = self.token(index).await?;
        post(inner, endpoint, path, body.to_string(), token.as_deref()).await
    }

    /// The auth token to send to endpoint `index`, authenticating there
    /// first if there is none yet. `None` without credentials.
    async fn token(&self, index: usize) -> Result<Option<String>, Failure> {
        let inner = &self.inner;
        let Some((user, password)) = &inner.credentials else {
            return Ok(None);
        };
        if let Some(token) = inner
            .token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(Some(token));
        }
        let endpoint = &inner.endpoints[index];
        let body = json!({ "name": user, "password": password }).to_string();
        let bytes = post(inner, endpoint, "auth/authenticate", body, None)
            .await
            .map_err(|failure| match failure {
                // Authenticating again cannot fix a refused password.
                Failure::Token(m) => Failure::Final(EtcdError::Auth(m)),
                // Asking the next member is harmless: authenticate is a read.
                Failure::MaybeSent(m) => Failure::NotSent(m),
                other => other,
            })?;
        let r: AuthenticateResponse = serde_json::from_slice(&bytes).map_err(|e| {
            Failure::Final(EtcdError::Protocol(format!(
                "{endpoint}: authenticate: {e}"
            )))
        })?;
        if r.token.is_empty() {
            return Err(Failure::Final(EtcdError::Auth(format!(
                "{endpoint}: authentication is not enabled on etcd, but a username is configured"
            ))));
        }
        *inner.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(r.token.clone());
        Ok(Some(r.token))
    }
}

/// One POST of `body` to `endpoint`'s `/v3/{path}`, with `token` if
/// authenticated; the body of a successful answer.
async fn post(
    inner: &Inner,
    endpoint: &str,
    path: &str,
    body: String,
    token: Option<&str>,
) -> Result<Vec<u8>, Failure> {
    let mut request = inner
        .http
        .post(format!("{endpoint}/v3/{path}"))
        .timeout(inner.timeout)
        .header(REQUIRE_LEADER.0, REQUIRE_LEADER.1)
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    let response = request.send().await.map_err(|e| transport(endpoint, &e))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| transport(endpoint, &e))?;
    // Streaming calls answer 200 and put errors in the body, unary ones
    // use the HTTP status; check the body either way.
    if !status.is_success() || looks_like_error(&bytes) {
        return Err(error_body(endpoint, status, &bytes));
    }
    Ok(bytes.to_vec())
}

/// The end of the key range holding every key that starts with `prefix`:
/// the prefix with its last byte below 0xff incremented (etcd's convention;
/// `\0` means "to the end of the key space").
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn put_request(key: &[u8], value: &[u8], lease: Option<i64>) -> Value {
    let mut put = json!({ "key": B64.encode(key), "value": B64.encode(value) });
    if let Some(lease) = lease {
        put["lease"] = Value::String(lease.to_string());
    }
    put
}

fn compare_json(c: &Compare) -> Value {
    let result = match c.op {
        CompareOp::Equal => "EQUAL",
        CompareOp::NotEqual => "NOT_EQUAL",
        CompareOp::Greater => "GREATER",
        CompareOp::Less => "LESS",
    };
    let mut out = json!({ "key": B64.encode(&c.key), "result": result });
    let (target, field, value) = match &c.target {
        CompareTarget::Version(v) => ("VERSION", "version", Value::String(v.to_string())),
        CompareTarget::CreateRevision(v) => {
            ("CREATE", "create_revision", Value::String(v.to_string()))
        }
        CompareTarget::ModRevision(v) => ("MOD", "mod_revision", Value::String(v.to_string())),
        CompareTarget::Value(v) => ("VALUE", "value", Value::String(B64.encode(v))),
    };
    out["target"] = Value::String(target.into());
    out[field] = value;
    out
}

fn op_json(op: &TxnOp) -> Value {
    match op {
        TxnOp::Put { key, value, lease } => {
            json!({ "request_put": put_request(key, value, *lease) })
        }
        TxnOp::Delete { key } => json!({ "request_delete_range": { "key": B64.encode(key) } }),
        TxnOp::DeletePrefix { prefix } => json!({ "request_delete_range": {
            "key": B64.encode(prefix), "range_end": B64.encode(prefix_end(prefix)) } }),
        TxnOp::Get { key } => json!({ "request_range": { "key": B64.encode(key) } }),
        TxnOp::GetPrefix { prefix } => json!({ "request_range": {
            "key": B64.encode(prefix), "range_end": B64.encode(prefix_end(prefix)) } }),
    }
}

/// Classifies a transport error: a connection never made means the request
/// never ran anywhere.
fn transport(endpoint: &str, e: &reqwest::Error) -> Failure {
    if e.is_connect() {
        Failure::NotSent(format!("{endpoint}: cannot connect: {}", chain(e)))
    } else if e.is_timeout() {
        Failure::MaybeSent(format!("{endpoint}: timed out"))
    } else {
        Failure::MaybeSent(format!("{endpoint}: {}", chain(e)))
    }
}

/// An error and its causes on one line (reqwest's own message is terse).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// True when a 200 body is the gateway's error object (streaming calls
/// report errors in-band): `{"error": ...}` with no `result`/`header`.
fn looks_like_error(bytes: &[u8]) -> bool {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    start.is_some_and(|s| bytes[s..].starts_with(b"{\"error\""))
}

/// Turns the gateway's error answer into a [`Failure`]. Unary errors look
/// like `{"error": "...", "message": "...", "code": 14}`; streaming ones like
/// `{"error": {"grpc_code": 14, "http_code": 503, "message": "..."}}`.
fn error_body(endpoint: &str, status: reqwest::StatusCode, bytes: &[u8]) -> Failure {
    let value: Option<Value> = serde_json::Deserializer::from_slice(bytes)
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok);
    let error = value.as_ref().map(|v| match v.get("error") {
        Some(Value::Object(inner)) => (
            inner.get("grpc_code").and_then(Value::as_i64).unwrap_or(-1),
            inner
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
        _ => (
            v.get("code").and_then(Value::as_i64).unwrap_or(-1),
            v.get("message")
                .or_else(|| v.get("error"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
    });
    match error {
        Some((code, message)) if !message.is_empty() => grpc_failure(endpoint, code, &message),
        _ => Failure::Final(EtcdError::Protocol(format!(
            "{endpoint}: HTTP {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        ))),
    }
}

/// gRPC status codes the gateway reports (google.golang.org/grpc/codes).
mod code {
    pub(super) const INVALID_ARGUMENT: i64 = 3;
    pub(super) const NOT_FOUND: i64 = 5;
    pub(super) const PERMISSION_DENIED: i64 = 7;
    pub(super) const RESOURCE_EXHAUSTED: i64 = 8;
    pub(super) const FAILED_PRECONDITION: i64 = 9;
    pub(super) const OUT_OF_RANGE: i64 = 11;
    pub(super) const UNAVAILABLE: i64 = 14;
    pub(super) const UNAUTHENTICATED: i64 = 16;
}

/// Classifies an etcd error by its gRPC code and message (etcd's messages
/// are stable: they are its client API, `rpctypes`).
fn grpc_failure(endpoint: &str, code: i64, message: &str) -> Failure {
    let m = format!("{endpoint}: {message}");
    if message.contains("invalid auth token")
        || message.contains("user name is empty")
        || message.contains("revision of auth store is old")
    {
        return Failure::Token(m);
    }
    if message.contains("no leader") || message.contains("too many requests") {
        // Refused before anything was proposed.
        return Failure::NotSent(m);
    }
    if message.contains("authentication failed") || message.contains("permission denied") {
        return Failure::Final(EtcdError::Auth(m));
    }
    match code {
        code::UNAUTHENTICATED | code::PERMISSION_DENIED => Failure::Final(EtcdError::Auth(m)),
        code::RESOURCE_EXHAUSTED => Failure::NotSent(m),
        code::UNAVAILABLE => Failure::MaybeSent(m),
        code::INVALID_ARGUMENT
        | code::NOT_FOUND
        | code::FAILED_PRECONDITION
        | code::OUT_OF_RANGE => Failure::Final(EtcdError::Rejected(m)),
        _ => Failure::Final(EtcdError::Rejected(m)),
    }
}

/// Takes the first complete JSON value off the front of `buf`, if there is
/// one; the gateway writes streamed messages back to back, one per line.
fn take_json(buf: &mut Vec<u8>) -> Result<Option<Value>, EtcdError> {
    let mut stream = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
    match stream.next() {
        None => {
            buf.clear(); // only whitespace
            Ok(None)
        }
        Some(Ok(value)) => {
            let used = stream.byte_offset();
            buf.drain(..used);
            Ok(Some(value))
        }
        Some(Err(e)) if e.is_eof() => Ok(None),
        Some(Err(e)) => Err(EtcdError::Protocol(format!(
            "watch stream: {e}: {}",
            String::from_utf8_lossy(&buf[..buf.len().min(200)])
        ))),
    }
}

enum WatchMessage {
    Created,
    Batch(WatchBatch),
}

/// Interprets one message of a watch stream.
fn watch_message(message: Value) -> Result<WatchMessage, Failure> {
    if message.get("error").is_some() {
        let text = message.to_string();
        return Err(
            match error_body("watch", reqwest::StatusCode::OK, text.as_bytes()) {
                // A refused token ends the stream like any other break.
                Failure::Token(m) => Failure::Token(m),
                other => other,
            },
        );
    }
    let m: StreamResult<WireWatchResponse> = serde_json::from_value(message)
        .map_err(|e| Failure::Final(EtcdError::Protocol(format!("watch message: {e}"))))?;
    let r = m.result.ok_or_else(|| {
        Failure::Final(EtcdError::Protocol("watch message without result".into()))
    })?;
    if r.compact_revision != 0 {
        return Err(Failure::Final(EtcdError::Compacted {
            compact_revision: r.compact_revision,
        }));
    }
    if r.canceled {
        let reason = if r.cancel_reason.is_empty() {
            "watch canceled by etcd".to_string()
        } else {
            r.cancel_reason
        };
        return Err(grpc_failure("watch", -1, &reason));
    }
    if r.created {
        return Ok(WatchMessage::Created);
    }
    let mut revision = r.header.revision;
    let mut events = Vec::with_capacity(r.events.len());
    if !r.events.is_empty() {
        // While catching up, the header carries the store's current revision,
        // which may be ahead of this batch: the last event is the safe mark.
        revision = r
            .events
            .iter()
            .map(|e| e.kv.mod_revision)
            .max()
            .unwrap_or(0);
    }
    for event in r.events {
        events.push(match event.kind.as_str() {
            "" | "PUT" => WatchEvent::Put(KeyValue::from(event.kv)),
            "DELETE" => WatchEvent::Delete {
                key: event.kv.key,
                mod_revision: event.kv.mod_revision,
            },
            other => {
                return Err(Failure::Final(EtcdError::Protocol(format!(
                    "unknown watch event type {other:?}"
                ))));
            }
        });
    }
    Ok(WatchMessage::Batch(WatchBatch { revision, events }))
}

// ---- The gateway's JSON shapes (proto3 JSON: zero values are omitted). ----

/// An int64, which proto3 JSON writes as a string.
fn int64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Text(String),
        Number(i64),
    }
    match Int::deserialize(d)? {
        Int::Number(n) => Ok(n),
        Int::Text(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

/// Bytes, which proto3 JSON writes as base64.
fn bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    B64.decode(s.as_bytes()).map_err(serde::de::Error::custom)
}

#[derive(Debug, Default, Deserialize)]
struct Header {
    #[serde(default, deserialize_with = "int64")]
    revision: i64,
}

#[derive(Debug, Default, Deserialize)]
struct WireKeyValue {
    #[serde(default, deserialize_with = "bytes")]
    key: Vec<u8>,
    #[serde(default, deserialize_with = "bytes")]
    value: Vec<u8>,
    #[serde(default, deserialize_with = "int64")]
    create_revision: i64,
    #[serde(default, deserialize_with = "int64")]
    mod_revision: i64,
    #[serde(default, deserialize_with = "int64")]
    version: i64,
    #[serde(default, deserialize_with = "int64")]
    lease: i64,
}

impl From<WireKeyValue> for KeyValue {
    fn from(w: WireKeyValue) -> KeyValue {
        KeyValue {
            key: w.key,
            value: w.value,
            create_revision: w.create_revision,
            mod_revision: w.mod_revision,
            version: w.version,
            lease: w.lease,
        }
    }
}

#[derive(Debug, Deserialize)]
struct HeaderOnly {
    #[serde(default)]
    header: Header,
}

#[derive(Debug, Deserialize)]
struct RangeResponse {
    #[serde(default)]
    header: Header,
    #[serde(default)]
    kvs: Vec<WireKeyValue>,
}

#[derive(Debug, Deserialize)]
struct WireTxnResponse {
    #[serde(default)]
    header: Header,
    #[serde(default)]
    succeeded: bool,
    #[serde(default)]
    responses: Vec<WireOpResponse>,
}

#[derive(Debug, Deserialize)]
struct WireOpResponse {
    #[serde(default)]
    response_range: Option<RangeResponse>,
}

#[derive(Debug, Deserialize)]
struct LeaseGrantResponse {
    #[serde(rename = "ID", default, deserialize_with = "int64")]
    id: i64,
    #[serde(default)]
    error: String,
}

#[derive(Debug, Deserialize)]
struct LeaseKeepAliveResponse {
    #[serde(rename = "TTL", default, deserialize_with = "int64")]
    ttl: i64,
}

#[derive(Debug, Deserialize)]
struct StreamResult<T> {
    result: Option<T>,
}

#[derive(Debug, Deserialize)]
struct AuthenticateResponse {
    #[serde(default)]
    token: String,
}

#[derive(Debug, Deserialize)]
struct WireWatchResponse {
    #[serde(default)]
    header: Header,
    #[serde(default)]
    created: bool,
    #[serde(default)]
    canceled: bool,
    #[serde(default, deserialize_with = "int64")]
    compact_revision: i64,
    #[serde(default)]
    cancel_reason: String,
    #[serde(default)]
    events: Vec<WireEvent>,
}

#[derive(Debug, Deserialize)]
struct WireEvent {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    kv: WireKeyValue,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"/a/"), b"/a0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"\0");
        assert_eq!(prefix_end(b""), b"\0");
    }

    #[test]
    fn take_json_splits_a_stream_and_waits_for_partial_messages() {
        let mut buf = b"{\"result\":{\"created\":true}}\n{\"result\":{\"hea".to_vec();
        assert!(take_json(&mut buf).unwrap().is_some());
        assert!(take_json(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"der\":{}}}\n");
        assert!(take_json(&mut buf).unwrap().is_some());
        assert!(take_json(&mut buf).unwrap().is_none());
        assert!(buf.is_empty());
        let mut bad = b"{\"a\":]".to_vec();
        assert!(matches!(take_json(&mut bad), Err(EtcdError::Protocol(_))));
    }

    #[test]
    fn watch_messages_map_to_batches_and_errors() {
        let created = json!({"result": {"header": {"revision": "3"}, "created": true}});
        assert!(matches!(watch_message(created), Ok(WatchMessage::Created)));
        let events = json!({"result": {"header": {"revision": "9"}, "events": [
            {"kv": {"key": "L2E=", "value": "aGk=", "mod_revision": "4", "create_revision": "4", "version": "1"}},
            {"type": "DELETE", "kv": {"key": "L2E=", "mod_revision": "5"}}]}});
        let Ok(WatchMessage::Batch(batch)) = watch_message(events) else {
            panic!("not a batch")
        };
        assert_eq!(batch.revision, 5);
        assert_eq!(
            batch.events[1],
            WatchEvent::Delete {
                key: b"/a".to_vec(),
                mod_revision: 5
            }
        );
        let WatchEvent::Put(kv) = &batch.events[0] else {
            panic!("not a put")
        };
        assert_eq!((kv.value.as_slice(), kv.version), (&b"hi"[..], 1));
        let compacted =
            json!({"result": {"header": {}, "canceled": true, "compact_revision": "3"}});
        assert!(matches!(
            watch_message(compacted),
            Err(Failure::Final(EtcdError::Compacted {
                compact_revision: 3
            }))
        ));
        let no_leader = json!({"error": {"grpc_code": 14, "http_code": 503, "message": "etcdserver: no leader"}});
        assert!(matches!(watch_message(no_leader), Err(Failure::NotSent(_))));
    }

    #[test]
    fn gateway_errors_are_classified() {
        type Expect = fn(&Failure) -> bool;
        let cases: [(&str, Expect); 5] = [
            (
                r#"{"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16}"#,
                |f| matches!(f, Failure::Token(_)),
            ),
            (
                r#"{"error":"x","message":"etcdserver: authentication failed, invalid user ID or password","code":3}"#,
                |f| matches!(f, Failure::Final(EtcdError::Auth(_))),
            ),
            (
                r#"{"error":"x","message":"etcdserver: no leader","code":14}"#,
                |f| matches!(f, Failure::NotSent(_)),
            ),
            (
                r#"{"error":"x","message":"etcdserver: request timed out","code":14}"#,
                |f| matches!(f, Failure::MaybeSent(_)),
            ),
            (r#"<html>bad gateway</html>"#, |f| {
                matches!(f, Failure::Final(EtcdError::Protocol(_)))
            }),
        ];
        for (body, expected) in cases {
            let failure = error_body("e", reqwest::StatusCode::BAD_REQUEST, body.as_bytes());
            assert!(expected(&failure), "{body}: {failure:?}");
        }
    }

    #[test]
    fn compares_and_ops_use_the_gateway_field_names() {
        let c = compare_json(&Compare {
            key: b"k".to_vec(),
            op: CompareOp::NotEqual,
            target: CompareTarget::ModRevision(7),
        });
        assert_eq!(
            c,
            json!({"key": "aw==", "result": "NOT_EQUAL", "target": "MOD", "mod_revision": "7"})
        );
        let op = op_json(&TxnOp::Put {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            lease: Some(5),
        });
        assert_eq!(
            op,
            json!({"request_put": {"key": "aw==", "value": "dg==", "lease": "5"}})
        );
    }
}
