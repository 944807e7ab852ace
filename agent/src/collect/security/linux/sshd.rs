//! The SSH server's effective global settings, read from `sshd_config` the
//! way sshd reads it: keywords are case-insensitive, the first value of a
//! keyword wins, `Include` pulls files in where it stands (globs sorted,
//! relative names under `/etc/ssh`), and what follows a `Match` line is
//! conditional, so it does not count for the global value (until the end
//! of that file).

use super::super::Root;
use std::collections::HashMap;

/// Where `sshd` reads its configuration.
pub const CONFIG: &str = "etc/ssh/sshd_config";

/// Includes nested deeper than this are ignored (sshd's own bound is 16).
const MAX_DEPTH: usize = 16;

/// A setting and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Lower-cased value, e.g. `prohibit-password`.
    pub value: String,
    /// The file, as the machine knows it (`/etc/ssh/sshd_config.d/x.conf`).
    pub file: String,
}

/// The global value of each keyword in `wanted` (lower-case) that the
/// configuration sets. Errors name the main file when it cannot be read.
pub fn effective(root: &Root, wanted: &[&str]) -> Result<HashMap<String, Setting>, String> {
    let text = root
        .read(CONFIG)
        .map_err(|e| format!("cannot read {}: {e}", Root::display(CONFIG)))?;
    let mut out = HashMap::new();
    read_file(root, CONFIG, &text, wanted, &mut out, 0);
    Ok(out)
}

fn read_file(
    root: &Root,
    rel: &str,
    text: &str,
    wanted: &[&str],
    out: &mut HashMap<String, Setting>,
    depth: usize,
) {
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // `Keyword value`, `Keyword=value` or `Keyword = value`.
        let (key, rest) = match line.find(|c: char| c.is_whitespace() || c == '=') {
            Some(i) => (
                &line[..i],
                line[i..].trim_start_matches(|c: char| c.is_whitespace() || c == '='),
            ),
            None => (line, ""),
        };
        let key = key.to_ascii_lowercase();
        match key.as_str() {
            "match" => return,
            "include" => {
                if depth >= MAX_DEPTH {
                    continue;
                }
                for pattern in rest.split_whitespace() {
                    let pattern = pattern.trim_matches('"');
                    for file in expand(root, pattern) {
                        if let Ok(t) = root.read(&file) {
                            read_file(root, &file, &t, wanted, out, depth + 1);
                        }
                    }
                }
            }
            k if wanted.contains(&k) => {
                let value = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .trim_matches('"')
                    .to_ascii_lowercase();
                out.entry(key).or_insert_with(|| Setting {
                    value,
                    file: Root::display(rel),
                });
            }
            _ => {}
        }
    }
}

/// The files an `Include` pattern names, sorted; wildcards (`*`, `?`) are
/// honoured in the last path component.
fn expand(root: &Root, pattern: &str) -> Vec<String> {
    let full = if pattern.starts_with('/') {
        pattern.trim_start_matches('/').to_owned()
    } else {
        format!("etc/ssh/{pattern}")
    };
    let (dir, name) = full.rsplit_once('/').unwrap_or(("", &full));
    if !name.contains(['*', '?']) {
        return vec![full];
    }
    root.read_dir(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| !n.starts_with('.') && wildcard(name.as_bytes(), n.as_bytes()))
        .map(|n| format!("{dir}/{n}"))
        .collect()
}

/// `*` and `?` matching, as glob(3) does within one path component.
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let root = Root::new(dir.path()).unwrap();
        (dir, root)
    }

    const WANTED: &[&str] = &["permitrootlogin", "passwordauthentication"];

    #[test]
    fn include_comes_first_and_first_value_wins() {
        // Debian's layout: the Include line is at the top of sshd_config.
        let (_d, root) = tree(&[
            (
                "etc/ssh/sshd_config",
                "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nPasswordAuthentication yes\n",
            ),
            (
                "etc/ssh/sshd_config.d/50-cloud.conf",
                "passwordauthentication no\n",
            ),
            (
                "etc/ssh/sshd_config.d/10-a.conf",
                "PasswordAuthentication=yes\n",
            ),
            ("etc/ssh/sshd_config.d/99-root.conf", "PermitRootLogin no\n"),
            (
                "etc/ssh/sshd_config.d/readme.txt",
                "PermitRootLogin without-password\n",
            ),
        ]);
        let s = effective(&root, WANTED).unwrap();
        assert_eq!(s["passwordauthentication"].value, "yes");
        assert_eq!(
            s["passwordauthentication"].file,
            "/etc/ssh/sshd_config.d/10-a.conf"
        );
        assert_eq!(s["permitrootlogin"].value, "no");
    }

    #[test]
    fn match_blocks_are_not_global() {
        let (_d, root) = tree(&[(
            "etc/ssh/sshd_config",
            "# PermitRootLogin yes\nMatch User backup\n  PermitRootLogin yes\n",
        )]);
        let s = effective(&root, WANTED).unwrap();
        assert!(s.is_empty(), "{s:?}");
    }

    #[test]
    fn relative_include_and_missing_file() {
        let (_d, root) = tree(&[
            ("etc/ssh/sshd_config", "Include extra.conf\n"),
            ("etc/ssh/extra.conf", "PermitRootLogin \"Yes\"\n"),
        ]);
        assert_eq!(
            effective(&root, WANTED).unwrap()["permitrootlogin"].value,
            "yes"
        );
        let (_d, empty) = tree(&[]);
        assert!(
            effective(&empty, WANTED)
                .unwrap_err()
                .contains("/etc/ssh/sshd_config")
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard(b"*.conf", b"a.conf"));
        assert!(!wildcard(b"*.conf", b"a.conf.bak"));
        assert!(wildcard(b"a?c", b"abc"));
        assert!(wildcard(b"*", b""));
    }
}
