//! The agent's state directory: the credential (mode 0600), the collector's
//! address and CA, and the next sequence number.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the agent keeps its state when `--state` is not given.
pub const DEFAULT_DIR: &str = "/var/lib/schoolwatch-agent";

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
        use anyhow::Context;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating the state directory {}", self.dir.display()))?;
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
                "{}: {e}; enroll first with `schoolwatch-agent enroll --collector URL --token TOKEN`",
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

/// Write to a temporary file, fsync, rename: the file is either old or new.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
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
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

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
}
