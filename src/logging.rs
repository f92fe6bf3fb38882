//! The process log: `tracing` events written as text or JSON lines, as
//! `[log]` says. Health transitions, override changes, reloads and
//! snapshot publishes are events with structured fields (region, endpoint,
//! generation, who, why...), so a JSON log can be queried by field.
//!
//! The log can neither stall nor flood answering:
//!
//! - lines go to stdout from a writer thread behind a bounded queue
//!   (`tracing-appender`'s non-blocking writer in lossy mode): when stdout
//!   is slow or stalled (a pipe nobody reads), lines are dropped and
//!   counted (`switchyard_log_lines_dropped_total`), and no thread that
//!   logs ever waits for stdout;
//! - warnings that can repeat per packet or per connection go through a
//!   [`Throttle`]: a few per second are logged, the rest are counted
//!   (`switchyard_log_warnings_suppressed_total{what}`);
//! - the wire library's per-packet warnings are filtered out
//!   (`hickory_proto=error` unless the level names `hickory_proto`).

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogConfig, LogFormat};
use crate::metrics::names;

/// Lines the log queue holds before it drops new ones.
const QUEUE_LINES: usize = 8192;

/// The default filter for the wire library: its decoder warns once per
/// malformed packet, which a hostile client can send 100,000 times a second.
const WIRE_LIBRARY: &str = "hickory_proto=error";

/// How long shutting down waits for queued lines to reach stdout.
const FLUSH_WAIT: Duration = Duration::from_millis(1500);

/// Counts the lines the writer dropped.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Keeps the log writer running; dropping it flushes queued lines for at
/// most a moment (never blocking shutdown on a stalled stdout).
#[derive(Debug, Default)]
pub struct LogGuard(Option<WorkerGuard>);

impl Drop for LogGuard {
    fn drop(&mut self) {
        let Some(guard) = self.0.take() else {
            return;
        };
        // The writer's own shutdown may wait on stdout: let another thread
        // do the waiting, and give up on it after FLUSH_WAIT.
        let (done, wait) = std::sync::mpsc::channel();
        let flushing = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || {
                drop(guard);
                let _ = done.send(());
            });
        if flushing.is_ok() {
            let _ = wait.recv_timeout(FLUSH_WAIT);
        }
    }
}

/// The filter: `RUST_LOG` when set, else `level`; the wire library at
/// `error` unless the filter names it.
pub fn filter(level: &str) -> EnvFilter {
    let text = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| EnvFilter::try_new(v).is_ok())
        .unwrap_or_else(|| level.to_string());
    let filter = EnvFilter::try_new(&text).unwrap_or_else(|_| EnvFilter::new("info"));
    if text.contains("hickory_proto") {
        return filter;
    }
    match WIRE_LIBRARY.parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// Installs the global `tracing` subscriber for `config`, writing through
/// the non-blocking writer. `RUST_LOG`, when set, overrides `config.level`.
/// Does nothing if a subscriber is already installed (tests). Keep the
/// returned guard until exit.
pub(crate) fn init(config: &LogConfig) -> LogGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name("log-writer")
        .finish(std::io::stdout());
    let counter = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(&config.level))
        .with_writer(writer);
    let installed = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    if installed.is_err() {
        return LogGuard(None);
    }
    if DROPPED.set(counter).is_ok() {
        // Copied into the recorder when `/metrics` is scraped.
        crate::metrics::before_render(|| {
            metrics::counter!(names::LOG_DROPPED).absolute(dropped_lines());
        });
    }
    // A panic's default report is a synchronous write to stderr; through
    // the log it is queued like any line, and throttled.
    std::panic::set_hook(Box::new(|info| {
        static PANICS: Throttle = Throttle::new("panic");
        if PANICS.allow() {
            tracing::error!(%info, "panic");
        }
    }));
    LogGuard(Some(guard))
}

/// Installs the subscriber from the `[log]` table of the config at `path`;
/// defaults when the file cannot be read (starting up reports that error
/// properly a moment later).
pub fn init_from(path: &Path) -> LogGuard {
    let log = Config::load(path).map(|c| c.log).unwrap_or_default();
    let guard = init(&log);
    if let Err(e) = EnvFilter::try_new(&log.level) {
        tracing::warn!(level = log.level, error = %e, "log.level is not a valid filter; using info");
    }
    guard
}

/// Log lines dropped so far because the writer was behind.
pub(crate) fn dropped_lines() -> u64 {
    DROPPED.get().map_or(0, |c| c.dropped_lines() as u64)
}

/// A rate limit for one warning that can repeat per packet or connection:
/// at most [`Throttle::PER_SECOND`] lines a second; the rest are counted in
/// `switchyard_log_warnings_suppressed_total{what}`. A `static` per call
/// site; [`Throttle::allow`] is two atomic operations and never blocks.
#[derive(Debug)]
pub(crate) struct Throttle {
    /// The `what` label of the suppressed counter.
    what: &'static str,
    /// The second (since [`start`]) the count is for, and the count.
    second: AtomicU64,
    count: AtomicU32,
    /// The suppressed counter's handle, registered on first use.
    suppressed: OnceLock<metrics::Counter>,
}

/// The process's time origin for throttles.
fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

impl Throttle {
    /// Lines a throttle lets through per second.
    pub(crate) const PER_SECOND: u32 = 5;

    /// A throttle whose suppressed lines are counted under `what`.
    pub(crate) const fn new(what: &'static str) -> Throttle {
        Throttle {
            what,
            second: AtomicU64::new(u64::MAX),
            count: AtomicU32::new(0),
            suppressed: OnceLock::new(),
        }
    }

    /// True when this occurrence may be logged; false (and counted) when
    /// the warning was logged often enough this second.
    pub(crate) fn allow(&self) -> bool {
        let now = start().elapsed().as_secs();
        if self.second.swap(now, Ordering::Relaxed) != now {
            self.count.store(0, Ordering::Relaxed);
        }
        if self.count.fetch_add(1, Ordering::Relaxed) < Self::PER_SECOND {
            return true;
        }
        self.suppressed
            .get_or_init(|| metrics::counter!(names::LOG_SUPPRESSED, "what" => self.what))
            .increment(1);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_lets_a_few_through_per_second() {
        static T: Throttle = Throttle::new("test");
        let allowed = (0..100).filter(|_| T.allow()).count();
        // The loop may straddle a second boundary: at most two seconds' worth.
        assert!(
            (Throttle::PER_SECOND as usize..=2 * Throttle::PER_SECOND as usize).contains(&allowed),
            "{allowed}"
        );
    }

    #[test]
    fn the_wire_library_is_quiet_unless_asked_for() {
        let text = filter("debug").to_string();
        assert!(text.contains("hickory_proto=error"), "{text}");
        let text = filter("info,hickory_proto=debug").to_string();
        assert!(!text.contains("hickory_proto=error"), "{text}");
    }
}
