//! Drill reports on disk: `state_dir/drills/<id>.json`, each written whole
//! by write-temp, fsync, rename, fsync-dir (DESIGN §3.3), so a crash leaves
//! the previous version or the new one. Running drills are restored from
//! these files after a restart.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::report::DrillReport;
use super::shared::MirrorOp;

/// The sub-directory of the state dir holding reports.
pub use crate::statedir::DRILLS_DIR;

/// Reads and writes reports in one directory.
#[derive(Debug, Clone)]
pub(crate) struct DrillStore {
    dir: PathBuf,
    /// With a cluster store, every saved report is also sent here.
    mirror: Option<tokio::sync::mpsc::UnboundedSender<MirrorOp>>,
}

impl DrillStore {
    /// Uses `state_dir/drills`, creating it if missing.
    pub(crate) fn open(state_dir: &Path) -> io::Result<DrillStore> {
        let dir = state_dir.join(DRILLS_DIR);
        fs::create_dir_all(&dir)?;
        Ok(DrillStore { dir, mirror: None })
    }

    /// Also sends every saved (or forgotten) report to `mirror`.
    pub(crate) fn with_mirror(
        mut self,
        mirror: tokio::sync::mpsc::UnboundedSender<MirrorOp>,
    ) -> DrillStore {
        self.mirror = Some(mirror);
        self
    }

    /// Removes the report of a drill that never started (locally and, with
    /// a cluster store, there too).
    pub(crate) fn forget(&self, id: &str) {
        let _ = fs::remove_file(self.path(id));
        if let Some(mirror) = &self.mirror {
            let _ = mirror.send(MirrorOp::Forget(id.to_string()));
        }
    }

    /// The report file of drill `id`.
    pub(crate) fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Saves `report` durably, replacing its previous version.
    pub(crate) fn save(&self, report: &DrillReport) -> io::Result<()> {
        let mut text = serde_json::to_vec_pretty(report).map_err(io::Error::other)?;
        text.push(b'\n');
        let tmp = self.dir.join(format!("{}.json.tmp", report.id));
        {
            let mut file = File::create(&tmp)?;
            file.write_all(&text)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, self.path(&report.id))?;
        File::open(&self.dir)?.sync_all()?;
        if let Some(mirror) = &self.mirror {
            let _ = mirror.send(MirrorOp::Save(Box::new(report.clone())));
        }
        Ok(())
    }

    /// Every readable report, oldest first. Unreadable files are logged and
    /// skipped: a damaged report must not stop the server from starting
    /// (the overrides it created are in `overrides.json`, and expire anyway).
    pub(crate) fn load_all(&self) -> Vec<DrillReport> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut reports: Vec<DrillReport> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter_map(|path| {
                let parsed = fs::read(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()));
                match parsed {
                    Ok(report) => Some(report),
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "skipping unreadable drill report");
                        None
                    }
                }
            })
            .collect();
        reports.sort_by(|a: &DrillReport, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        reports
    }
}
