//! `switchyard cluster import`: copies a local state dir's overrides and
//! drill reports into an empty etcd prefix, so a single instance can move
//! to the shared store without losing what operators set. It refuses a
//! prefix that already holds shared state (it never merges or overwrites):
//! the check and the copy are one transaction on the override document.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::doc::{SharedDrill, encode_drill, encode_overrides};
use super::etcd::{Compare, CompareOp, CompareTarget, Etcd, EtcdSettings, TxnOp};
use super::keys::{Key, Keys};
use crate::config::Config;
use crate::drills::store::DrillStore;
use crate::overrides::audit::{Entry, Outcome};
use crate::overrides::store::OverrideStore;

/// `switchyard cluster ...`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Copy a local state dir's overrides and drills into an empty etcd prefix.
    Import {
        /// The config whose `[cluster]` table names the etcd endpoints and prefix.
        #[arg(long, short)]
        config: PathBuf,
        /// The state dir to copy (default: the config's `server.state_dir`).
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
}

/// Runs `switchyard cluster ...`.
pub fn run(args: ClusterArgs) -> std::process::ExitCode {
    let ClusterCommand::Import { config, state_dir } = args.command;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(import(&config, state_dir.as_deref())) {
        Ok(message) => {
            println!("{message}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("import failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Does the import; returns what it copied.
pub async fn import(config_path: &Path, state_dir: Option<&Path>) -> Result<String, String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let cluster = &config.cluster;
    if !cluster.is_etcd() {
        return Err(format!(
            "{}: [cluster] store is not \"etcd\": there is nowhere to import to",
            config_path.display()
        ));
    }
    let dir = state_dir.map_or_else(|| config.server.state_dir.clone(), Path::to_path_buf);
    if !dir.is_dir() {
        return Err(format!("state dir {} does not exist", dir.display()));
    }
    let now = crate::clock::now();
    let saved = OverrideStore::open(&dir)
        .and_then(|store| store.load())
        .map_err(|e| e.to_string())?;
    let (overrides, expired) = saved.expire(now);
    let reports = DrillStore::open(&dir)
        .map_err(|e| format!("state dir {}: {e}", dir.display()))?
        .load_all();
    let etcd = Etcd::new(EtcdSettings::from_config(cluster)).map_err(|e| e.to_string())?;
    let keys = Keys::new(&cluster.prefix);
    let (present, _) = etcd
        .get_prefix(keys.prefix().as_bytes())
        .await
        .map_err(|e| format!("cannot read the etcd prefix {}: {e}", keys.prefix()))?;
    // Membership and votes are lease-bound facts of running instances,
    // not shared state: they do not make the prefix "not empty".
    let state: Vec<String> = present
        .iter()
        .filter(|kv| {
            matches!(
                keys.classify(&kv.key),
                Some(Key::Overrides | Key::Drill(_) | Key::Audit)
            )
        })
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect();
    if !state.is_empty() {
        return Err(format!(
            "the etcd prefix {} already holds shared state ({} key(s), e.g. {}): refusing to overwrite it; import only into an empty prefix",
            keys.prefix(),
            state.len(),
            state[0]
        ));
    }
    let instance = "import";
    let audit = Entry {
        time: now,
        who: "import".into(),
        what: format!("import {}", dir.display()),
        why: "switchyard cluster import".into(),
        result: Outcome::Ok,
        detail: Some(format!(
            "{} override(s), {} drill report(s); {} expired override(s) left out",
            overrides.len(),
            reports.len(),
            expired.len()
        )),
    };
    let mut ops = vec![
        TxnOp::Put {
            key: keys.overrides(),
            value: encode_overrides(&overrides),
            lease: None,
        },
        TxnOp::Put {
            key: keys.audit(now, instance),
            value: serde_json::to_vec(&audit).unwrap_or_default(),
            lease: None,
        },
    ];
    for report in &reports {
        // No instance verifies an imported drill: if it is still running,
        // the cluster rolls it back at its deadline and finishes its report.
        ops.push(TxnOp::Put {
            key: keys.drill(&report.id),
            value: encode_drill(&SharedDrill {
                verifier: instance.into(),
                report: report.clone(),
            }),
            lease: None,
        });
    }
    let compare = vec![Compare {
        key: keys.overrides(),
        op: CompareOp::Equal,
        target: CompareTarget::CreateRevision(0),
    }];
    let response = etcd
        .txn(compare, ops, Vec::new())
        .await
        .map_err(|e| format!("cannot write to etcd: {e}"))?;
    if !response.succeeded {
        return Err(format!(
            "{} appeared while importing: refusing to overwrite it",
            String::from_utf8_lossy(&keys.overrides())
        ));
    }
    Ok(format!(
        "imported {} override(s) and {} drill report(s) from {} into etcd prefix {} (revision {}){}",
        overrides.len(),
        reports.len(),
        dir.display(),
        keys.prefix(),
        response.revision,
        if expired.is_empty() {
            String::new()
        } else {
            format!("; {} expired override(s) left out", expired.len())
        }
    ))
}
