//! A coarse clock for the fast path's signature-freshness checks: seconds
//! since the epoch in an atomic, kept current by one background thread
//! (started on first use), so a signed answer costs an atomic load rather
//! than a clock read (a system call where the vDSO clock is unavailable).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, UNIX_EPOCH};

static NOW: AtomicU32 = AtomicU32::new(0);
static STARTED: OnceLock<()> = OnceLock::new();

fn read() -> u32 {
    crate::clock::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// Seconds since the epoch, at most about a second old.
pub fn now() -> u32 {
    STARTED.get_or_init(|| {
        NOW.store(read(), Ordering::Relaxed);
        // If the thread cannot start, `now` reads the clock itself below.
        let _ = std::thread::Builder::new()
            .name("dnssec-clock".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_millis(500));
                    NOW.store(read(), Ordering::Relaxed);
                }
            });
    });
    match NOW.load(Ordering::Relaxed) {
        0 => read(),
        now => now,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tracks_the_system_clock() {
        let coarse = super::now();
        let exact = super::read();
        assert!(exact.abs_diff(coarse) <= 2, "{coarse} vs {exact}");
    }
}
