//! The agent's state directory: the credential (mode 0600), the collector's
//! address and CA, and the next sequence number.
//!
//! Files are written atomically (temporary file, fsync, rename). When root
//! writes into a directory owned by someone else, as `sudo schoolwatch-agent
//! enroll` does into the packaged service's `/var/lib/schoolwatch/agent`
//! (owned by the `schoolwatch` user), the new files get the directory's
//! owner, so the service can read the credential it is meant to use. The
//! temporary file is created fresh (`O_EXCL`, never through a symlink left
//! in that directory) and handed over with `fchown`, so root never writes
//! or chowns through a link the directory's owner planted.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the agent keeps its state when `--state` is not given: the
/// packaged service's `StateDirectory=schoolwatch/agent`.
pub const DEFAULT_DIR: &str = "/var/lib/schoolwatch/agent";

/// What enrollment gave us.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    /// Collector base URL.
    pub collector: String,
    /// The host's agent id.
    pub agent_id: String,
    /// The school.
    pub school_id: String,
    /// The secret sent with every request.
    pub credential: String,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// Uses `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn credential_path(&self) -> PathBuf {
        self.dir.join("credential.json")
    }

    /// Path of the pinned CA certificate, if enrollment stored one.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Writes the enrollment, readable by the owner only.
    pub fn save(&self, e: &Enrollment, ca_pem: Option<&[u8]>) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                "; run the command as root (e.g. with sudo)"
            } else {
                ""
            };
            anyhow::anyhow!(
                "creating the state directory {}: {e}{hint}",
                self.dir.display()
            )
        })?;
        if let Some(ca) = ca_pem {
            write_atomic(&self.ca_path(), ca, 0o644)?;
        } else {
            let _ = std::fs::remove_file(self.ca_path());
        }
        write_atomic(
            &self.credential_path(),
            &serde_json::to_vec_pretty(e)?,
            0o600,
        )
    }

    /// The enrollment, or a message saying how to enroll.
    pub fn load(&self) -> anyhow::Result<Enrollment> {
        let path = self.credential_path();
        let text = std::fs::read(&path).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e}; enroll first with the line `schoolwatch-collector enroll-line` prints (`schoolwatch-agent enroll 'URL'`) or `schoolwatch-agent enroll --collector URL --token TOKEN`",
                path.display()
            )
        })?;
        serde_json::from_slice(&text)
            .map_err(|e| anyhow::anyhow!("{}: corrupt ({e}); enroll again", path.display()))
    }

    /// The pinned CA, if any.
    pub fn ca(&self) -> Option<Vec<u8>> {
        std::fs::read(self.ca_path()).ok()
    }

    /// The last sequence number used (0 before the first report).
    pub fn last_sequence(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("sequence"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Records the last sequence used, before the report is sent, so a
    /// restart never reuses a number.
    pub fn set_last_sequence(&self, seq: u64) -> anyhow::Result<()> {
        write_atomic(
            &self.dir.join("sequence"),
            seq.to_string().as_bytes(),
            0o644,
        )
    }
}

/// Refuses to let root work in `dir` when another user owns it: that is a
/// packaged service's directory (`/var/lib/schoolwatch/...`, user
/// `schoolwatch`), and files root would create there (a report queue, a
/// database and its journal) would lock the service out. `command` is what
/// to run instead, as that user. Anyone else, or a directory that does not
/// exist yet, passes.
pub fn refuse_root_in_foreign_dir(dir: &Path, command: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // /proc/self belongs to the process's effective user.
        let (Ok(me), Ok(d)) = (std::fs::metadata("/proc/self"), std::fs::metadata(dir)) else {
            return Ok(());
        };
        if me.uid() == 0 && d.uid() != 0 {
            let user = user_name(d.uid());
            anyhow::bail!(
                "{} belongs to {user}, a service's user, and files root creates there would lock the service out; run this as {user}: `sudo -u {user} {command}`",
                dir.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, command);
    Ok(())
}

/// A user's name from /etc/passwd, else its number.
#[cfg(unix)]
fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

/// Write to a temporary file, fsync, rename: the file is either old or new.
/// The file gets the directory's owner (see the module doc).
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    // A leftover from a crash; created anew below, never opened through.
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    give_to_dir_owner(&f, path);
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Hands a new file to the owner of the directory it is in, when that is
/// someone else and we may (root); otherwise leaves it alone.
#[cfg(unix)]
fn give_to_dir_owner(file: &std::fs::File, path: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Some(dir) = path.parent() else { return };
    let (Ok(d), Ok(f)) = (std::fs::metadata(dir), file.metadata()) else {
        return;
    };
    if (d.uid(), d.gid()) != (f.uid(), f.gid()) {
        // Only root may give a file away; anyone else keeps owning it, which
        // is right for an agent running as the directory's owner.
        let _ = std::os::unix::fs::fchown(file, Some(d.uid()), Some(d.gid()));
    }
}

#[cfg(not(unix))]
fn give_to_dir_owner(_file: &std::fs::File, _path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_is_owner_only_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::new(dir.path().join("state"));
        assert!(s.load().unwrap_err().to_string().contains("enroll first"));
        let e = Enrollment {
            collector: "https://c".into(),
            agent_id: "a".into(),
            school_id: "s".into(),
            credential: "swc_x".into(),
        };
        s.save(&e, Some(b"PEM")).unwrap();
        assert_eq!(s.load().unwrap().credential, "swc_x");
        assert_eq!(s.ca().unwrap(), b"PEM");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(s.path().join("credential.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        s.set_last_sequence(41).unwrap();
        assert_eq!(s.last_sequence(), 41);
    }

    /// `sudo schoolwatch-agent enroll` writes into the packaged service's
    /// directory: the files must become the service user's, and a symlink
    /// that user planted must not make root write anywhere else.
    #[cfg(unix)]
    #[test]
    fn root_writes_go_to_the_directory_owner_never_through_links() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        assert_eq!(
            std::fs::metadata(&state).unwrap().uid(),
            0,
            "this test gives files away, which needs root (scripts/test.sh runs as root)"
        );
        std::os::unix::fs::chown(&state, Some(4242), Some(4243)).unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, state.join("credential.tmp")).unwrap();
        let s = StateDir::new(&state);
        let e = Enrollment {
            collector: "https://c".into(),
            agent_id: "a".into(),
            school_id: "s".into(),
            credential: "swc_x".into(),
        };
        s.save(&e, Some(b"PEM")).unwrap();
        s.set_last_sequence(7).unwrap();
        for f in ["credential.json", "ca.pem", "sequence"] {
            let m = std::fs::metadata(state.join(f)).unwrap();
            assert_eq!((m.uid(), m.gid()), (4242, 4243), "{f}");
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::metadata(&victim).unwrap().uid(), 0);
        assert_eq!(s.load().unwrap().credential, "swc_x");

        let e = refuse_root_in_foreign_dir(&state, "schoolwatch-agent run")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sudo -u 4242 schoolwatch-agent run"), "{e}");
        assert!(refuse_root_in_foreign_dir(dir.path(), "x").is_ok());
        assert!(refuse_root_in_foreign_dir(&dir.path().join("absent"), "x").is_ok());
    }
}
