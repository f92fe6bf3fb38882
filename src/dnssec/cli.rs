//! `switchyard dnssec keygen|ds|status`: key management on the command
//! line. Reads only the config file (never the zones), so it works before
//! the first `check`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use hickory_proto::rr::Name;

use super::keys::{self, KeyRole};
use crate::config::{Config, KeyAlgorithm};

/// `switchyard dnssec …`.
#[derive(Debug, Args)]
pub struct DnssecArgs {
    #[command(subcommand)]
    command: DnssecCommand,
}

/// Where the keys are: `--key-dir`, else the config's `[dnssec] key_dir`.
#[derive(Debug, Args)]
struct Location {
    /// Key directory (default: `[dnssec] key_dir` of `--config`, itself
    /// `<state_dir>/keys` by default).
    #[arg(long)]
    key_dir: Option<PathBuf>,
    /// The config file whose `[dnssec]` names the key directory.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum DnssecCommand {
    /// Make a new key for ZONE, published and active (or only published,
    /// for a rollover, with --published-only): a combined signing key (CSK)
    /// unless --role says otherwise.
    Keygen {
        /// The zone, e.g. example.com.
        zone: String,
        /// csk (default: signs everything), ksk (signs DNSKEY/CDS/CDNSKEY;
        /// the parent's DS names it) or zsk (signs the rest).
        #[arg(long, default_value = "csk")]
        role: KeyRole,
        /// ecdsap256sha256 (default, or the zone's `algorithm` in config) or ed25519.
        #[arg(long)]
        algorithm: Option<KeyAlgorithm>,
        /// Pre-publish: in the DNSKEY RRset but not signing yet.
        #[arg(long)]
        published_only: bool,
        #[command(flatten)]
        location: Location,
    },
    /// Print the DS records (SHA-256) of ZONE's published KSKs and CSKs (a
    /// ZSK never gets a DS), one per line, in zone-file format, for the
    /// parent zone.
    Ds {
        /// The zone, e.g. example.com.
        zone: String,
        #[command(flatten)]
        location: Location,
    },
    /// List every key in the key directory: zone, tag, role, algorithm,
    /// state, and whether config signs the zone.
    Status {
        #[command(flatten)]
        location: Location,
    },
}

/// Runs a `dnssec` subcommand.
pub fn run(args: DnssecArgs) -> ExitCode {
    match execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn execute(args: DnssecArgs) -> Result<(), String> {
    match args.command {
        DnssecCommand::Keygen {
            zone,
            role,
            algorithm,
            published_only,
            location,
        } => {
            let (dir, config) = location.resolve()?;
            let origin = zone_name(&zone)?;
            let algorithm = algorithm
                .or_else(|| {
                    config.as_ref().and_then(|c| {
                        c.dnssec
                            .zones
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case(&origin.to_string()))
                            .map(|(_, z)| z.get_ref().algorithm)
                    })
                })
                .unwrap_or_default();
            let key = keys::generate_with_role(&dir, &origin, algorithm, role, published_only)
                .map_err(|e| e.to_string())?;
            println!(
                "{}: key {} ({}, {}, {}) in {}",
                origin,
                key.tag,
                role,
                algorithm.name(),
                if key.state.active {
                    "published, active"
                } else {
                    "published only"
                },
                dir.display()
            );
            if key.role.signs_keys()
                && let Some(line) = key.ds_line()
            {
                println!("{line}");
            }
            Ok(())
        }
        DnssecCommand::Ds { zone, location } => {
            let (dir, _) = location.resolve()?;
            let origin = zone_name(&zone)?;
            let keys = keys::load_zone(&dir, &origin).map_err(|e| e.to_string())?;
            let lines: Vec<String> = keys
                .iter()
                .filter(|k| k.state.published && k.role.signs_keys())
                .filter_map(|k| k.ds_line())
                .collect();
            if lines.is_empty() {
                return Err(format!(
                    "no published ksk or csk for {origin} in {}: run `switchyard dnssec keygen {origin}` (a csk) or `--role ksk`",
                    dir.display()
                ));
            }
            for line in lines {
                println!("{line}");
            }
            Ok(())
        }
        DnssecCommand::Status { location } => {
            let (dir, config) = location.resolve()?;
            status(&dir, config.as_ref())
        }
    }
}

impl Location {
    fn resolve(self) -> Result<(PathBuf, Option<Config>), String> {
        let config = match &self.config {
            Some(path) => Some(Config::load(path).map_err(|e| e.to_string())?),
            None => None,
        };
        let dir = match (self.key_dir, &config) {
            (Some(dir), _) => dir,
            (None, Some(config)) => config.dnssec.key_dir(),
            (None, None) => return Err("give --key-dir DIR or --config FILE".into()),
        };
        Ok((dir, config))
    }
}

fn zone_name(zone: &str) -> Result<Name, String> {
    let mut name: Name = zone
        .parse()
        .map_err(|e| format!("{zone:?} is not a domain name: {e}"))?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

fn status(dir: &Path, config: Option<&Config>) -> Result<(), String> {
    let mut zones: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| n.starts_with('K') && n.ends_with(".private"))
            .filter_map(|n| n[1..].split('+').next().map(str::to_string))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    if let Some(config) = config {
        zones.extend(config.dnssec.zones.keys().map(|z| z.to_ascii_lowercase()));
    }
    zones.sort();
    zones.dedup();
    println!("key directory: {}", dir.display());
    if zones.is_empty() {
        println!("no keys");
    }
    for zone in zones {
        let origin = zone_name(&zone)?;
        let keys = match keys::load_zone(dir, &origin) {
            Ok(keys) => keys,
            Err(e) => {
                // One broken key set must not hide the others.
                println!("{origin}  BROKEN: {e}");
                continue;
            }
        };
        let problems = super::chain::check_keys(&origin, &keys, dir);
        let enabled = config.map(|c| {
            c.dnssec
                .enabled_zones()
                .any(|(n, _)| n == origin.to_string())
        });
        let signed = match enabled {
            Some(true) if problems.is_empty() => "signed".to_string(),
            Some(true) => format!("BROKEN: {}", problems.join("; ")),
            Some(false) => "not signed (not enabled in config)".into(),
            None => "config not given".into(),
        };
        println!("{origin}  {signed}");
        for key in &keys {
            println!(
                "  key {:05}  {}  algorithm {}  {}{}  {}",
                key.tag,
                key.role,
                u8::from(key.algorithm()),
                if key.state.published {
                    "published"
                } else {
                    "retired"
                },
                if key.state.active { ", active" } else { "" },
                keys::file(&key.base, "private").display()
            );
        }
    }
    Ok(())
}
