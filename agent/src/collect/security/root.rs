//! [`Root`]: the directory the checks read the machine's files from.
//!
//! Every file a check reads goes through a `Root`, so that `check --root DIR`
//! evaluates a prepared tree (a test fixture, or a mounted disk image) the
//! way it evaluates `/`. In a tree other than `/`, symbolic links are
//! followed as if the tree were the machine's root (an absolute link such as
//! `var/run -> /run` stays inside the tree), so nothing outside it is read.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// Most bytes read from one file with [`Root::read`]; configuration and
/// account files are far smaller.
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// Links followed for one path before giving up (the kernel's own bound).
const MAX_LINKS: usize = 40;

/// The file system the checks look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    dir: PathBuf,
    live: bool,
}

impl Root {
    /// The running machine's own `/`.
    pub fn live() -> Self {
        Self {
            dir: PathBuf::from("/"),
            live: true,
        }
    }

    /// A tree at `dir`; `/` (or a path that resolves to it) is the live
    /// machine.
    pub fn new(dir: &Path) -> io::Result<Self> {
        let dir = dir.canonicalize()?;
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", dir.display()),
            ));
        }
        let live = dir == Path::new("/");
        Ok(Self { dir, live })
    }

    /// Whether this is the running machine: only then may checks ask the
    /// kernel through commands (`nft`, `iptables-save`).
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// The tree's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `rel` (e.g. `etc/ssh/sshd_config` or `/etc/ssh/sshd_config`)
    /// is on this machine, with links resolved inside the tree.
    pub fn path(&self, rel: &str) -> PathBuf {
        let rel = rel.trim_start_matches('/');
        if self.live {
            return self.dir.join(rel);
        }
        let mut out = self.dir.clone();
        let mut pending: Vec<PathBuf> = Path::new(rel)
            .components()
            .rev()
            .map(|c| PathBuf::from(c.as_os_str()))
            .collect();
        let mut links = 0;
        while let Some(part) = pending.pop() {
            match Path::new(&part).components().next() {
                Some(Component::Normal(name)) => {
                    let candidate = out.join(name);
                    let target = match std::fs::symlink_metadata(&candidate) {
                        Ok(m) if m.file_type().is_symlink() && links < MAX_LINKS => {
                            std::fs::read_link(&candidate).ok()
                        }
                        _ => None,
                    };
                    match target {
                        Some(target) => {
                            links += 1;
                            if target.is_absolute() {
                                out = self.dir.clone();
                            }
                            pending.extend(
                                target
                                    .components()
                                    .rev()
                                    .map(|c| PathBuf::from(c.as_os_str())),
                            );
                        }
                        None => out = candidate,
                    }
                }
                Some(Component::ParentDir) if out != self.dir => {
                    out.pop();
                }
                _ => {}
            }
        }
        out
    }

    /// How people know the file: its path on the machine being checked.
    pub fn display(rel: &str) -> String {
        format!("/{}", rel.trim_start_matches('/'))
    }

    /// Opens `rel` for reading.
    pub fn open(&self, rel: &str) -> io::Result<File> {
        File::open(self.path(rel))
    }

    /// The text of `rel` (at most `MAX_FILE_BYTES`; invalid UTF-8 is
    /// replaced, not refused).
    pub fn read(&self, rel: &str) -> io::Result<String> {
        let mut bytes = Vec::new();
        self.open(rel)?
            .take(MAX_FILE_BYTES)
            .read_to_end(&mut bytes)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// Metadata of `rel`, links followed.
    pub fn metadata(&self, rel: &str) -> io::Result<Metadata> {
        std::fs::metadata(self.path(rel))
    }

    /// Whether `rel` exists (links followed).
    pub fn exists(&self, rel: &str) -> bool {
        self.metadata(rel).is_ok()
    }

    /// Names in directory `rel`, sorted bytewise (as `glob` and apt sort).
    pub fn read_dir(&self, rel: &str) -> io::Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(rel))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The target of link `rel` itself (not followed), e.g. a process's
    /// `fd/3 -> socket:[1234]`.
    pub fn read_link(&self, rel: &str) -> io::Result<PathBuf> {
        let rel = rel.trim_start_matches('/');
        let (parent, name) = match rel.rsplit_once('/') {
            Some((p, n)) => (self.path(p), n),
            None => (self.dir.clone(), rel),
        };
        std::fs::read_link(parent.join(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn links_stay_inside_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        assert!(!root.is_live());
        std::fs::create_dir_all(dir.path().join("run")).unwrap();
        std::fs::write(dir.path().join("run/flag"), "inside").unwrap();
        std::fs::create_dir_all(dir.path().join("var")).unwrap();
        std::os::unix::fs::symlink("/run", dir.path().join("var/run")).unwrap();
        assert_eq!(root.read("var/run/flag").unwrap(), "inside");
        // An absolute link to a file of the live machine is read in the tree.
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("host")).unwrap();
        assert!(root.read("host").is_err());
        // `..` never climbs out of the tree.
        std::os::unix::fs::symlink("../../../../etc/passwd", dir.path().join("run/up")).unwrap();
        assert!(root.path("run/up").starts_with(root.dir()));
        assert!(root.path("/../../etc/passwd").starts_with(root.dir()));
        // Relative links resolve against their own directory.
        std::os::unix::fs::symlink("flag", dir.path().join("run/alias")).unwrap();
        assert_eq!(root.read("/run/alias").unwrap(), "inside");
        // A link loop ends.
        std::os::unix::fs::symlink("loop", dir.path().join("loop")).unwrap();
        assert!(root.read("loop").is_err());
    }

    #[test]
    fn slash_is_live() {
        assert!(Root::new(Path::new("/")).unwrap().is_live());
        assert!(Root::live().is_live());
        assert_eq!(Root::display("etc/shadow"), "/etc/shadow");
    }
}
