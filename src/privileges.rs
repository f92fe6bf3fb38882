//! `[server] user` / `group`: started as root to bind port 53, Switchyard
//! gives root up once its sockets are bound, as NSD does: supplementary
//! groups cleared, then the group, then the user (in that order: after
//! `setuid` the others are no longer allowed). Leaving root also clears
//! every capability. If any step fails, or root could be regained, start-up
//! fails: serving on as root when the operator asked otherwise is never
//! the fallback.
//!
//! The state dir is written after the drop (overrides, health, drill
//! reports, audit rotation), so before dropping, the state dir, the files
//! in it and its `drills/` directory are handed to the target user.

use std::io;
use std::path::Path;

use nix::unistd::{
    Gid, Group, Uid, User, getegid, geteuid, getgid, getuid, setgid, setgroups, setuid,
};

/// Why privileges could not be dropped.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// No such user in the user database.
    #[error("server.user: no user named {0:?}")]
    NoUser(String),
    /// No such group in the group database.
    #[error("server.group: no group named {0:?}")]
    NoGroup(String),
    /// A lookup or a set*id call failed.
    #[error("cannot switch to user {user}: {step}: {source}")]
    Failed {
        /// The target user.
        user: String,
        /// Which step failed.
        step: &'static str,
        /// Why.
        source: io::Error,
    },
    /// Not root and not already the configured user.
    #[error(
        "server.user is {user:?} but switchyard runs as uid {uid}, not root: start it as root (it drops to {user:?} after binding) or as {user:?} itself"
    )]
    NotRoot {
        /// The target user.
        user: String,
        /// The current uid.
        uid: u32,
    },
}

/// Who the process runs as after [`drop_to`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Real and effective user id.
    pub uid: u32,
    /// Real and effective group id.
    pub gid: u32,
}

/// Switches the whole process (every thread: glibc's set*id calls apply to
/// all of them) to `user` and `group` (default: the user's primary group),
/// handing `state_dir` to them first. A no-op when already running as that
/// user without root.
pub(crate) fn drop_to(
    user: &str,
    group: Option<&str>,
    state_dir: &Path,
) -> Result<Identity, PrivilegeError> {
    let failed = |step: &'static str| {
        move |e: nix::Error| PrivilegeError::Failed {
            user: user.to_string(),
            step,
            source: io::Error::from(e),
        }
    };
    let account = User::from_name(user)
        .map_err(failed("looking up the user"))?
        .ok_or_else(|| PrivilegeError::NoUser(user.to_string()))?;
    let gid = match group {
        Some(name) => {
            Group::from_name(name)
                .map_err(failed("looking up the group"))?
                .ok_or_else(|| PrivilegeError::NoGroup(name.to_string()))?
                .gid
        }
        None => account.gid,
    };
    let uid = account.uid;
    if !geteuid().is_root() {
        if getuid() == uid && geteuid() == uid && getgid() == gid && getegid() == gid {
            return Ok(Identity {
                uid: uid.as_raw(),
                gid: gid.as_raw(),
            });
        }
        return Err(PrivilegeError::NotRoot {
            user: user.to_string(),
            uid: geteuid().as_raw(),
        });
    }
    hand_over(state_dir, uid, gid).map_err(|source| PrivilegeError::Failed {
        user: user.to_string(),
        step: "handing the state dir to the user",
        source,
    })?;
    setgroups(&[]).map_err(failed("clearing supplementary groups"))?;
    setgid(gid).map_err(failed("setgid"))?;
    setuid(uid).map_err(failed("setuid"))?;
    // Trust but verify: every id is the target's, and root cannot come back.
    let regained = setuid(Uid::from_raw(0)).is_ok();
    if regained || getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid {
        return Err(PrivilegeError::Failed {
            user: user.to_string(),
            step: "verifying the switch",
            source: io::Error::other("the process still holds root or the old ids"),
        });
    }
    Ok(Identity {
        uid: uid.as_raw(),
        gid: gid.as_raw(),
    })
}

/// Makes `dir`, the entries directly in it and those of `dir/drills`
/// owned by `uid:gid` (not following symlinks), so the dropped process can
/// keep writing its state.
fn hand_over(dir: &Path, uid: Uid, gid: Gid) -> io::Result<()> {
    let chown =
        |path: &Path| std::os::unix::fs::lchown(path, Some(uid.as_raw()), Some(gid.as_raw()));
    chown(dir)?;
    for sub in [dir.to_path_buf(), dir.join(crate::statedir::DRILLS_DIR)] {
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        for entry in entries {
            chown(&entry?.path())?;
        }
    }
    Ok(())
}
