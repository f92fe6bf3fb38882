//! Token guessing has a price: each client address (IPv6: each /64) may
//! fail authentication `max_auth_failures` times in `auth_window_secs`;
//! after that it gets 429 with `Retry-After` until the window ends, even
//! with the right token (checking it would tell a guesser when it hit).
//! Other addresses are not affected, and a success clears the address.
//!
//! Rejected attempts are recorded in the bounded [`RejectedLog`], each
//! with its client address: every failure up to the limit, then one
//! `rate_limited` line for the lockout, then nothing until the window ends.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::ApiConfig;
use crate::overrides::audit::{Rejected, RejectedLog};

/// Most addresses tracked at once; beyond that (after dropping expired
/// windows) new addresses share one bucket, so memory stays bounded and
/// guessing from many addresses is still limited.
const MAX_TRACKED: usize = 16_384;

/// The bucket addresses share when the table is full.
const OVERFLOW: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// Failures of one address in its current window.
#[derive(Debug, Clone, Copy)]
struct Failures {
    /// When the window began (its first failure).
    since: Instant,
    count: u32,
}

/// The failed-authentication limiter and the rejected-attempt log.
#[derive(Debug)]
pub struct AuthGuard {
    limit: u32,
    window: Duration,
    table: Mutex<HashMap<IpAddr, Failures>>,
    log: RejectedLog,
}

impl AuthGuard {
    /// A guard with `[api]`'s limits, logging to `log`.
    pub fn new(api: &ApiConfig, log: RejectedLog) -> AuthGuard {
        AuthGuard {
            limit: api.max_auth_failures.max(1),
            window: api.auth_window(),
            table: Mutex::new(HashMap::new()),
            log,
        }
    }

    /// `Err(seconds to wait)` while `client` is locked out.
    pub(crate) fn admit(&self, client: Option<IpAddr>, now: Instant) -> Result<(), u64> {
        let key = self.key(client);
        let table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        match table.get(&key) {
            Some(f) if f.count >= self.limit => {
                let end = f.since + self.window;
                if now < end {
                    // Rounded up: retrying at the advertised second works.
                    Err((end - now).as_secs_f64().ceil().max(1.0) as u64)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication by `client` for `what` and logs it
    /// (within the per-address and global bounds).
    pub fn failed(&self, client: Option<IpAddr>, what: &str, detail: &str, now: Instant) {
        let key = self.key(client);
        let count = {
            let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
            if !table.contains_key(&key) && table.len() >= MAX_TRACKED {
                table.retain(|_, f| now < f.since + self.window);
            }
            let key = if table.contains_key(&key) || table.len() < MAX_TRACKED {
                key
            } else {
                OVERFLOW
            };
            let entry = table.entry(key).or_insert(Failures {
                since: now,
                count: 0,
            });
            if now >= entry.since + self.window {
                *entry = Failures {
                    since: now,
                    count: 0,
                };
            }
            entry.count += 1;
            entry.count
        };
        metrics::counter!(super::listener::AUTH_FAILURES).increment(1);
        let client = client.map_or_else(|| "-".to_string(), |ip| ip.to_string());
        if count < self.limit {
            self.log.record(&Rejected {
                time: crate::clock::now(),
                client,
                what: what.to_string(),
                result: "unauthorized".into(),
                detail: detail.to_string(),
            });
        } else if count == self.limit {
            metrics::counter!(super::listener::AUTH_LOCKOUTS).increment(1);
            tracing::warn!(%client, failures = count, window_secs = self.window.as_secs(), "control API: too many failed authentications; answering 429 until the window ends");
            self.log.record(&Rejected {
                time: crate::clock::now(),
                client,
                what: what.to_string(),
                result: "rate_limited".into(),
                detail: format!(
                    "{detail}; {count} failures: further attempts from this address get 429 for up to {} s and are not logged",
                    self.window.as_secs()
                ),
            });
        }
    }

    /// A request that presented no token at all: logged (within the global
    /// bound) but not counted towards a lockout, because it guesses nothing.
    /// A browser opening the status page before its operator has typed a
    /// token, or a script that forgot its header, must not lock the address
    /// out for the operator's next, correct attempt.
    pub fn missing(&self, client: Option<IpAddr>, what: &str, detail: &str) {
        metrics::counter!(super::listener::AUTH_FAILURES).increment(1);
        self.log.record(&Rejected {
            time: crate::clock::now(),
            client: client.map_or_else(|| "-".to_string(), |ip| ip.to_string()),
            what: what.to_string(),
            result: "unauthorized".into(),
            detail: detail.to_string(),
        });
    }

    /// A valid token from `client`: its failures are forgotten.
    pub fn succeeded(&self, client: Option<IpAddr>) {
        let key = self.key(client);
        if key == OVERFLOW {
            return;
        }
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table.remove(&key);
    }

    /// The bucket of `client`: IPv4 as is, IPv6 by /64 (one subscriber's
    /// allocation), IPv4-mapped IPv6 as IPv4.
    fn key(&self, client: Option<IpAddr>) -> IpAddr {
        match client {
            None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            Some(IpAddr::V4(v4)) => IpAddr::V4(v4),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    IpAddr::V6(Ipv6Addr::from(bits))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(limit: u32, window_secs: u64) -> AuthGuard {
        let api = ApiConfig {
            max_auth_failures: limit,
            auth_window_secs: window_secs,
            ..ApiConfig::default()
        };
        AuthGuard::new(&api, RejectedLog::disabled())
    }

    #[test]
    fn an_address_is_locked_out_after_the_limit_until_its_window_ends() {
        let g = guard(3, 60);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(g.admit(Some(a), t0), Ok(()));
            g.failed(Some(a), "POST /x", "invalid bearer token", t0);
        }
        assert_eq!(g.admit(Some(a), t0 + Duration::from_millis(500)), Err(60));
        assert_eq!(g.admit(Some(a), t0 + Duration::from_secs(59)), Err(1));
        assert_eq!(g.admit(Some(b), t0), Ok(()), "other addresses unaffected");
        assert_eq!(g.admit(Some(a), t0 + Duration::from_secs(60)), Ok(()));
        // A new window starts with the next failure.
        g.failed(Some(a), "POST /x", "invalid", t0 + Duration::from_secs(61));
        assert_eq!(g.admit(Some(a), t0 + Duration::from_secs(61)), Ok(()));
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let g = guard(2, 60);
        let t0 = Instant::now();
        g.failed(Some("2001:db8::1".parse().unwrap()), "x", "x", t0);
        g.failed(Some("2001:db8::2".parse().unwrap()), "x", "x", t0);
        assert!(
            g.admit(Some("2001:db8::ffff".parse().unwrap()), t0)
                .is_err()
        );
        assert!(
            g.admit(Some("2001:db8:0:1::1".parse().unwrap()), t0)
                .is_ok()
        );
    }

    #[test]
    fn success_clears_an_address() {
        let g = guard(2, 60);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        g.failed(Some(a), "x", "x", t0);
        g.succeeded(Some(a));
        g.failed(Some(a), "x", "x", t0);
        assert_eq!(g.admit(Some(a), t0), Ok(()));
    }
}
