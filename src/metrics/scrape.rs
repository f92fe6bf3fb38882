//! `/metrics` rendering that never stalls the control plane.
//!
//! Rendering is CPU work proportional to the series count (seconds with
//! hundreds of thousands of series). Done on an async worker it would hold
//! that thread, and with two cores the API, the publisher and health
//! probes behind it. So [`exposition`] renders on tokio's blocking pool,
//! at most one render at a time, and a scrape that arrives while a render
//! runs waits for it (without holding a runtime thread) and gets its text:
//! back-to-back scrapers cost one render at a time, on one blocking
//! thread. A render that finished before a scrape arrived is never served
//! to it, so a scrape always sees what happened before the previous one
//! returned (tests compare scrapes taken milliseconds apart).
//!
//! The lock guarding the last result is moved into the blocking task, so
//! a scraper that disconnects mid-render cannot let a second render start
//! beside the first.

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use axum::body::Bytes;
use tokio::sync::Mutex;

/// The last render: when it finished, and its text.
#[derive(Debug)]
struct Rendered {
    finished: Instant,
    text: Bytes,
}

/// The last render, behind the lock that also means "a render is running".
static LAST: LazyLock<Arc<Mutex<Option<Rendered>>>> = LazyLock::new(|| Arc::new(Mutex::new(None)));

/// The Prometheus text, rendered off the async runtime (see the module
/// docs).
pub async fn exposition() -> Bytes {
    let arrived = Instant::now();
    let mut last = LAST.clone().lock_owned().await;
    if let Some(done) = last.as_ref()
        && done.finished >= arrived
    {
        return done.text.clone();
    }
    let render = tokio::task::spawn_blocking(move || {
        let text = Bytes::from(super::render());
        RENDERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *last = Some(Rendered {
            finished: Instant::now(),
            text: text.clone(),
        });
        text
    });
    // The render only fails by panicking (a bug); an empty exposition
    // then, and the next scrape renders again.
    render.await.unwrap_or_default()
}

/// Renders run since start (for tests: back-to-back scrapes share them).
static RENDERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many renders [`exposition`] has run in this process.
pub fn renders() -> u64 {
    RENDERS.load(std::sync::atomic::Ordering::Relaxed)
}
