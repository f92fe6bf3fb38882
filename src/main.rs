//! The `switchyard` binary: a thin CLI over the library.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchyard::app::{App, StartOptions};
use switchyard::ctl::CtlArgs;
use switchyard::load::Inputs;
use switchyard::snapshot::Snapshot;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The process allocator: mimalloc, because glibc malloc kept the memory a
/// zone reload frees and RSS grew with every reload (see Cargo.toml and
/// ARCHITECTURE.md, "Zone store"). Tests keep the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (not exported as a constant by
/// libmimalloc-sys: it is the option just before `mi_option_use_numa_nodes`
/// in mimalloc 3's `mi_option_e`, which the pinned version vendors).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t =
    libmimalloc_sys::mi_option_use_numa_nodes - 1;

/// Makes mimalloc give freed memory back to the OS at once. Its default
/// (a 1 s delay) only purges when some thread allocates again later, and
/// after a reload nothing does (the query path never allocates), so the
/// old zone's memory stayed resident: measured on a 1M-record zone, RSS
/// stayed at the reload peak (~2x) with the default and fell back to the
/// steady level with 0.
#[allow(unsafe_code)]
fn release_freed_memory_promptly() {
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option
    // table; the option index is valid for the vendored mimalloc (see the
    // constant), and this runs first in `main`, before other threads exist.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

/// Switchyard: an authoritative DNS server that steers traffic to healthy regions.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load config and zones, then serve DNS until interrupted (SIGHUP reloads).
    Serve {
        /// Path to the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// If the saved overrides file is corrupt or unreadable, move it aside
        /// (as overrides.json.corrupt-<RFC 3339 time>-<n>) and start with no overrides.
        #[arg(long)]
        start_clean: bool,
        /// Refuse to start while the API accepts the example token from
        /// config/tokens.example (always refused when the API listens beyond
        /// loopback).
        #[arg(long, env = "SWITCHYARD_REFUSE_EXAMPLE_TOKEN", value_parser = clap::builder::BoolishValueParser::new())]
        refuse_example_token: bool,
    },
    /// Validate config and zones exactly as `serve` would, without binding anything.
    Check {
        /// Path to the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Talk to a running server's control API (status, weights, drains, forced states).
    Ctl(CtlArgs),
    /// A self-contained local demo: three loopback backends, a demo config,
    /// Switchyard on free ports, and what to try (`--drill` runs a drill).
    Demo(switchyard::demo::DemoArgs),
    /// Cluster tools: `import` copies a local state dir into an empty etcd prefix.
    Cluster(switchyard::cluster::import::ClusterArgs),
    /// DNSSEC keys: `keygen ZONE`, `ds ZONE` (records for the parent), `status`.
    Dnssec(switchyard::dnssec::cli::DnssecArgs),
}

fn main() -> ExitCode {
    release_freed_memory_promptly();
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Serve {
            config,
            start_clean,
            refuse_example_token,
        } => serve(
            config,
            StartOptions {
                start_clean,
                refuse_example_token,
                ..StartOptions::default()
            },
        ),
        Command::Ctl(args) => switchyard::ctl::run(args),
        Command::Demo(args) => switchyard::demo::run(args),
        Command::Cluster(args) => switchyard::cluster::import::run(args),
        Command::Dnssec(args) => switchyard::dnssec::cli::run(args),
    }
}

fn check(config: &std::path::Path) -> ExitCode {
    match Inputs::load(config) {
        Ok(inputs) => {
            for warning in inputs.geo.warnings() {
                eprintln!("warning: {warning}");
            }
            for warning in inputs.dnssec.warnings() {
                eprintln!("warning: {warning}");
            }
            if let Some(warning) = inputs.tokens.example_token_warning() {
                eprintln!("{warning}");
            }
            if !inputs.config.api.protect_reads {
                eprintln!(
                    "note: [api] protect_reads = false: anyone who reaches {} can read probe addresses, operator names and reasons",
                    inputs.config.server.api_listen
                );
            }
            // Build the first snapshot too, exactly as `serve` would.
            let snapshot =
                Snapshot::build(&inputs, &Default::default(), 1, switchyard::clock::now());
            let records: usize = snapshot.zones.iter().map(|z| z.record_count()).sum();
            println!(
                "ok: {} valid; {} zone(s), {records} records, {} region(s), {} service(s)",
                config.display(),
                snapshot.zones.len(),
                snapshot.plan.regions.len(),
                snapshot.plan.services.len()
            );
            if let Some(summary) = inputs.dnssec.summary() {
                println!("{summary}");
            }
            // The process ends here: freeing millions of records one by one
            // would only make `check` slower on large zones.
            std::mem::forget((snapshot, inputs));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            eprintln!("check failed: {}", config.display());
            ExitCode::FAILURE
        }
    }
}

fn serve(config: PathBuf, options: StartOptions) -> ExitCode {
    // `[log]` decides the format and level, so it is read before anything logs.
    // Kept to the end: dropping it flushes the log (briefly, never blocking).
    let _log = switchyard::logging::init_from(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // Handlers go in before the listeners: once we answer, a SIGHUP must
        // reload, never hit the default action (terminate the process).
        let signals = (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
        );
        let app = match App::start_with(&config, options) {
            Ok(app) => app,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        for addr in &app.dns.local_addrs {
            tracing::info!(%addr, "serving DNS over UDP and TCP");
        }
        tracing::info!(addr = %app.api_addr, "serving the control API over HTTP");
        if let Some(metrics) = &app.metrics {
            tracing::info!(addr = %metrics.local_addr, "serving Prometheus metrics at /metrics");
        }
        wait_for_signals(&app, signals).await;
        tracing::info!("shutting down");
        if let Some(cluster) = &app.cluster_health {
            // Our votes and membership record go now, not at lease expiry.
            cluster.membership.leave().await;
        }
        ExitCode::SUCCESS
    })
}

/// Reloads on SIGHUP; returns on SIGINT or SIGTERM.
async fn wait_for_signals(app: &App, signals: (io::Result<Signal>, io::Result<Signal>)) {
    let (Ok(mut hup), Ok(mut term)) = signals else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading config and zones");
                // The publisher logs the outcome; a failure keeps serving.
                let _ = app.publisher.reload().await;
            }
            _ = term.recv() => return,
            _ = tokio::signal::ctrl_c() => return,
        }
    }
}
