//! The wall clock every module reads (`clock::now()`), and the only place
//! that calls `SystemTime::now` (`clippy.toml` bans it everywhere else).
//!
//! Wall time here follows the tokio runtime's clock: it is the system clock
//! shifted by however far the runtime's `Instant` has moved from the real
//! one. In production the two are the same reading, so this is the system
//! clock. On a runtime with paused time (`#[tokio::test(start_paused =
//! true)]`, `tokio::time::pause`) the runtime's clock stands still until
//! timers advance it, and so does this one: an override that expires in an
//! hour, a drill that ends in a minute or a schedule that fires every week
//! run in milliseconds, and the wall times they compare against (expiry,
//! `ends_at`, audit and report times) move with the timers that fire them.
//! Reading both from one source is what keeps a timer and the deadline it
//! checks from disagreeing.
//!
//! Pure cores take `now: SystemTime` as an argument (snapshot building,
//! expiry, policy); only the shells that start them call [`now`].

use std::time::{Duration, SystemTime};

/// The current wall time, as seen by the tokio runtime this is called on
/// (the plain system clock outside a runtime or with time running).
pub fn now() -> SystemTime {
    // Read the runtime's clock first: if time is paused it stands still,
    // and the real clocks read after it only add the few nanoseconds
    // between the calls.
    let runtime = tokio::time::Instant::now().into_std();
    let real = std::time::Instant::now();
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the system clock
    let wall = SystemTime::now();
    shift(wall, runtime, real)
}

/// `wall` moved by `runtime - real`, which may be negative (paused time
/// that has advanced less than real time has passed).
fn shift(wall: SystemTime, runtime: std::time::Instant, real: std::time::Instant) -> SystemTime {
    match runtime.checked_duration_since(real) {
        Some(ahead) if ahead > Duration::ZERO => wall + ahead,
        _ => {
            let behind = real.saturating_duration_since(runtime);
            wall.checked_sub(behind).unwrap_or(wall)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_runtime_it_is_the_system_clock() {
        #[allow(clippy::disallowed_methods)] // the reference it is compared with
        let before = SystemTime::now();
        let t = now();
        #[allow(clippy::disallowed_methods)]
        let after = SystemTime::now();
        assert!(before <= t && t <= after, "{before:?} {t:?} {after:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn on_paused_time_it_moves_with_the_runtime_and_only_then() {
        let t0 = now();
        // Real time passes; the paused clock does not.
        std::thread::sleep(Duration::from_millis(30));
        let still = now().duration_since(t0).unwrap_or_default();
        assert!(
            still < Duration::from_millis(5),
            "moved {still:?} while paused"
        );
        // An hour of timers passes in no real time, and the wall clock with
        // it (give or take the microseconds between the three readings).
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let moved = now().duration_since(t0).unwrap();
        let hour = Duration::from_secs(3600);
        assert!(moved.abs_diff(hour) < Duration::from_millis(5), "{moved:?}");
    }

    #[test]
    fn a_runtime_behind_real_time_moves_wall_time_back() {
        let real = std::time::Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let behind = real.checked_sub(Duration::from_secs(10)).unwrap();
        assert_eq!(
            shift(wall, behind, real),
            SystemTime::UNIX_EPOCH + Duration::from_secs(990)
        );
        let ahead = real + Duration::from_secs(10);
        assert_eq!(
            shift(wall, ahead, real),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1010)
        );
    }
}
