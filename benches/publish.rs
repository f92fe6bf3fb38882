//! What one override or health change costs the publisher at 1k, 10k and
//! 100k services, incremental (the default) against full rebuilds (what
//! every publish did before issue 15), in the same run.
//!
//! Config: 20 regions of one endpoint each; N weighted services over 3
//! regions each (so a region serves 15% of them). Cases, each alternating
//! between two states so every step is a real change:
//!
//! - `weight`: `r0` weight 50 <-> 60 (no region changes availability),
//! - `drain`:  `r0` drained <-> weight 70 (r0 stops and starts serving: the
//!   safety rule must look at the 15% of services that use it),
//! - `force`:  `r0` forced down <-> force cleared,
//! - `health`: an `r0` endpoint down <-> up (no safety rule, no disk).
//!
//! Override cases run `Publisher::change_overrides` end to end: safety
//! rule, saving `overrides.json` and the audit line (write, fsync, rename),
//! rebuild, swap. The state dir is on tmpfs (`/dev/shm`, where fsync is
//! nearly free) unless `PUBLISH_BENCH_STATE` names another dir, so the
//! table shows the publisher's own cost; run once with
//! `PUBLISH_BENCH_STATE=/var/tmp` to see what the disk adds.
//!
//! `cargo bench --bench publish` (all sizes), or
//! `cargo bench --bench publish -- 1000 10000` for some. Prints
//! microseconds per change (median and 90th percentile of `ROUNDS`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use switchyard::load::Inputs;
use switchyard::overrides::{Action, ForceState, Request, RequestKind};
use switchyard::publisher::{PublishMode, Publisher};
use switchyard::traffic::HealthInputs;

const REGIONS: usize = 20;
const ROUNDS: usize = 200;

fn write_config(dir: &Path, services: usize) -> PathBuf {
    std::fs::create_dir_all(dir.join("zones")).unwrap();
    std::fs::write(
        dir.join("zones/big.test.zone"),
        "$ORIGIN big.test.\n@ 300 SOA ns1 host 1 7200 900 1209600 60\n@ 300 NS ns1\nns1 300 A 127.0.0.53\n",
    )
    .unwrap();
    let mut config = String::from(
        "version = 1\n[server]\ndns_listen = [\"127.0.0.1:0\"]\napi_listen = \"127.0.0.1:0\"\nzones_dir = \"zones\"\nstate_dir = \"state\"\n[metrics]\nquery_metrics = false\n",
    );
    for r in 0..REGIONS {
        config += &format!(
            "[regions.r{r}]\nweight = 50\nendpoints = [{{ address = \"192.0.2.{}\" }}]\n",
            r + 1
        );
    }
    for s in 0..services {
        config += &format!(
            "[services.\"s{s}.big.test\"]\npolicy = \"weighted\"\nregions = [\"r{}\", \"r{}\", \"r{}\"]\n",
            s % REGIONS,
            (s + 7) % REGIONS,
            (s + 13) % REGIONS
        );
    }
    let path = dir.join("switchyard.toml");
    std::fs::write(&path, config).unwrap();
    path
}

fn request(kind: RequestKind) -> Request {
    Request {
        kind,
        who: "bench".into(),
        why: "publish bench".into(),
        force: true,
        expires_in_secs: None,
    }
}

fn set(action: Action) -> RequestKind {
    RequestKind::Set {
        region: "r0".into(),
        action,
    }
}

/// Median and 90th percentile, in microseconds.
fn summary(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.9))
}

/// Times `ROUNDS` steps of `step(p, i)`.
fn time(p: &mut Publisher, mut step: impl FnMut(&mut Publisher, usize)) -> (f64, f64) {
    for i in 0..10 {
        step(p, i); // warm-up
    }
    let samples = (0..ROUNDS)
        .map(|i| {
            let started = Instant::now();
            step(p, i);
            started.elapsed()
        })
        .collect();
    summary(samples)
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 100_000]
    } else {
        sizes
    };
    let state_root = std::env::var_os("PUBLISH_BENCH_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/shm"));
    println!("state dir under {}", state_root.display());
    println!(
        "{:>8} {:>8} {:<12} {:>12} {:>12}",
        "services", "case", "mode", "median µs", "p90 µs"
    );
    for &services in &sizes {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), services);
        let started = Instant::now();
        let inputs = Inputs::load(&config).unwrap();
        eprintln!("{services} services: loaded in {:?}", started.elapsed());
        for mode in [PublishMode::Incremental, PublishMode::Full] {
            let state = tempfile::tempdir_in(&state_root).unwrap();
            let durable =
                switchyard::overrides::store::restore(state.path(), false, SystemTime::now())
                    .unwrap();
            let mut p =
                Publisher::new(config.clone(), inputs.clone(), HealthInputs::new(), durable);
            p.set_publish_mode(mode);
            let now = SystemTime::now();
            let cases: [(&str, (f64, f64)); 4] = [
                (
                    "weight",
                    time(&mut p, |p, i| {
                        let weight = if i % 2 == 0 { 50 } else { 60 };
                        p.change_overrides(request(set(Action::Weight { weight })), now)
                            .unwrap();
                    }),
                ),
                (
                    "drain",
                    time(&mut p, |p, i| {
                        let action = if i % 2 == 0 {
                            Action::Drain
                        } else {
                            Action::Weight { weight: 70 }
                        };
                        p.change_overrides(request(set(action)), now).unwrap();
                    }),
                ),
                (
                    "force",
                    time(&mut p, |p, i| {
                        let kind = if i % 2 == 0 {
                            set(Action::Force {
                                state: ForceState::Down,
                            })
                        } else {
                            RequestKind::ClearForce {
                                region: "r0".into(),
                            }
                        };
                        p.change_overrides(request(kind), now).unwrap();
                    }),
                ),
                (
                    "health",
                    time(&mut p, |p, i| {
                        p.set_health("r0".into(), "192.0.2.1".into(), i % 2 == 1);
                    }),
                ),
            ];
            for (case, (median, p90)) in cases {
                println!(
                    "{services:>8} {case:>8} {:<12} {median:>12.1} {p90:>12.1}",
                    format!("{mode:?}").to_lowercase()
                );
            }
        }
    }
}
