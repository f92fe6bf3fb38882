//! Paused-time harness: the real app (real DNS listener and real HTTP API
//! on loopback) on a current-thread tokio runtime whose clock is paused,
//! and an async HTTP client for its API on the same runtime.
//!
//! Wall time comes from `switchyard::clock`, which follows the runtime, so
//! drill ends, probe rounds, schedules and expiries happen when the test's
//! `tokio::time::sleep`s reach them, in milliseconds of real time.
//!
//! Why every API call holds the clock still: on paused time tokio moves
//! the clock to the next timer whenever the runtime parks and no task was
//! woken, so a reply that is still on its way when the runtime parks lets
//! a drill end or a probe round run in the middle of a request. With both
//! ends of a loopback connection on this runtime the reply is always there
//! already (a probe of 20 calls with 100 ms timers pending saw the clock
//! not move, hold or no hold), but that rests on how the kernel and tokio
//! happen to schedule loopback I/O. Tokio never auto-advances while a
//! blocking task runs, so each call keeps one open for its length (the
//! drill verifier's DNS queries run on blocking threads for the same
//! reason): a request takes no virtual time by construction, as a real one
//! on loopback takes almost none. DNS queries from the test are blocking
//! calls made between awaits, so the clock cannot move during them either.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use switchyard::app::App;

/// Real time after which a held call lets the clock run again, so that a
/// request that never completes ends in the client's (virtual) timeout and
/// a failure instead of a hang.
const HOLD_LIMIT: Duration = Duration::from_secs(30);

/// The client's timeout, in virtual time (reached only past [`HOLD_LIMIT`]).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A current-thread runtime with its clock paused from the start.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
}

/// Runs `work` with the paused clock held still (see the module comment).
pub async fn holding_time<F: Future>(work: F) -> F::Output {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let hold = tokio::task::spawn_blocking(move || {
        let _ = released.recv_timeout(HOLD_LIMIT);
    });
    let out = work.await;
    drop(release);
    let _ = hold.await;
    out
}

/// The app, started inside a paused runtime, and a client for its API.
/// Stopped on drop (which must happen inside the runtime, as it does at the
/// end of the `block_on` that started it).
pub struct Running {
    /// The app.
    pub app: App,
    client: reqwest::Client,
    base: String,
}

impl Running {
    /// Starts the app on `config`; call inside the paused runtime.
    pub fn start(config: &Path) -> Running {
        let app = App::start(config).unwrap_or_else(|e| panic!("server failed to start: {e}"));
        // reqwest is built without a crypto provider (the binary installs
        // ring); plain HTTP needs none, but building a client asks for one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(CLIENT_TIMEOUT)
            .build()
            .expect("HTTP client");
        Running {
            base: format!("http://{}", app.api_addr),
            app,
            client,
        }
    }

    /// Where the app answers DNS.
    pub fn dns(&self) -> SocketAddr {
        self.app.dns.local_addrs[0]
    }

    /// One API request; `(status, JSON body)` (`Null` for an empty body).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method_ = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method_, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let (status, bytes) = holding_time(async {
            let response = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            let status = response.status().as_u16();
            let bytes = response
                .bytes()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"));
            (status, bytes)
        })
        .await;
        (status, super::api::json_body(method, path, &bytes))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.app.dns.shutdown();
        self.app.health.shutdown();
        self.app.api.shutdown();
    }
}
