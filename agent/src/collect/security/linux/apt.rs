//! The Debian/Ubuntu package system as files: dpkg's database of installed
//! packages, apt's package lists, its history log and its configuration.
//!
//! Pending updates are computed the way apt would see them without pins:
//! an installed package is upgradable when some package list (as last
//! downloaded by `apt update`) offers it, for the same architecture, in a
//! newer version by dpkg's ordering; it is a security update when that list
//! belongs to a `*-security` suite. No command runs, so a prepared tree is
//! evaluated exactly like the live machine.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::io::BufRead;

// === versions ===

/// dpkg's ordering of the characters of a non-digit run: `~` before
/// everything (even the end), letters before other characters.
fn order(c: Option<&u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_alphabetic() => i32::from(*c),
        Some(c) => i32::from(*c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit and digit runs.
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i)), order(b.get(j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// Splits `[epoch:]upstream[-revision]`.
fn split_version(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if e.bytes().all(|b| b.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((up, rev)) => (epoch, up, rev),
        None => (epoch, rest, ""),
    }
}

/// Orders two Debian versions as `dpkg --compare-versions` does.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_version(a.trim());
    let (eb, ub, rb) = split_version(b.trim());
    ea.cmp(&eb)
        .then_with(|| compare_part(ua, ub))
        .then_with(|| compare_part(ra, rb))
}

// === control files ===

/// Calls `f` with the values of `fields` (in that order) for every
/// paragraph of a Debian control file (dpkg status, apt Packages list),
/// reading line by line so that a 50 MB list costs no more memory than a
/// line.
pub fn paragraphs<R: BufRead>(
    mut reader: R,
    fields: &[&str],
    mut f: impl FnMut(&[Option<String>]),
) -> std::io::Result<()> {
    let mut values: Vec<Option<String>> = vec![None; fields.len()];
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        let text = line.trim_end();
        if n == 0 || text.is_empty() {
            if values.iter().any(Option::is_some) {
                f(&values);
                values.iter_mut().for_each(|v| *v = None);
            }
            if n == 0 {
                return Ok(());
            }
            continue;
        }
        if text.starts_with([' ', '\t']) {
            continue;
        }
        if let Some((name, value)) = text.split_once(':')
            && let Some(k) = fields.iter().position(|f| f.eq_ignore_ascii_case(name))
        {
            values[k] = Some(value.trim().to_owned());
        }
    }
}

/// Installed packages: (name, architecture) → version.
pub type Installed = HashMap<(String, String), String>;

/// The installed packages in dpkg's status file.
pub fn installed<R: BufRead>(status: R) -> std::io::Result<Installed> {
    let mut out = HashMap::new();
    paragraphs(
        status,
        &["Package", "Status", "Architecture", "Version"],
        |v| {
            if let [Some(name), Some(status), Some(arch), Some(version)] = v
                && status.ends_with(" installed")
            {
                out.insert((name.clone(), arch.clone()), version.clone());
            }
        },
    )?;
    Ok(out)
}

/// Whether a package of that name is installed (any architecture).
pub fn is_installed(installed: &Installed, name: &str) -> bool {
    installed.keys().any(|(n, _)| n == name)
}

/// Packages with a newer version in the lists.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Every upgradable package.
    pub all: BTreeSet<String>,
    /// Those whose newer version comes from a security suite.
    pub security: BTreeSet<String>,
}

impl Pending {
    /// Adds what one Packages list offers beyond `installed`.
    pub fn add_list<R: BufRead>(
        &mut self,
        installed: &Installed,
        list: R,
        security: bool,
    ) -> std::io::Result<()> {
        paragraphs(list, &["Package", "Architecture", "Version"], |v| {
            if let [Some(name), Some(arch), Some(version)] = v
                && let Some(have) = installed.get(&(name.clone(), arch.clone()))
                && compare_versions(version, have) == Ordering::Greater
            {
                self.all.insert(name.clone());
                if security {
                    self.security.insert(name.clone());
                }
            }
        })
    }
}

/// Whether an apt list file belongs to a security suite, e.g.
/// `deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages`
/// or `security.ubuntu.com_ubuntu_dists_jammy-security_main_...`.
pub fn is_security_list(name: &str) -> bool {
    name.contains("security")
}

/// The counts in Ubuntu's `/var/lib/update-notifier/updates-available`:
/// "12 updates can be applied immediately.\n5 of these updates are
/// standard security updates." (or the older "12 packages can be updated.
/// 5 updates are security updates.").
pub fn parse_updates_available(text: &str) -> Option<(u64, u64)> {
    let first_number = |l: &str| l.split_whitespace().next()?.parse::<u64>().ok();
    let mut all = None;
    let mut security = 0;
    for line in text.lines().map(str::trim) {
        if line.contains("can be") {
            all = all.or(first_number(line));
        } else if line.contains("security update") {
            security = first_number(line).unwrap_or(0);
        }
    }
    if text.contains("No updates") || text.contains("0 updates") {
        all = all.or(Some(0));
    }
    all.map(|a| (a, security))
}

// === history ===

/// Seconds since the epoch of `YYYY-MM-DD  HH:MM:SS`, read as UTC (the log
/// is in local time; a few hours do not matter for counting days).
pub fn parse_log_time(s: &str) -> Option<u64> {
    let mut parts = s.split_whitespace();
    let date = parts.next()?;
    let time = parts.next().unwrap_or("00:00:00");
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let ([y, m, day], [hh, mm, ss]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    if !(1..=12).contains(m) || !(1..=31).contains(day) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if *m <= 2 { y - 1 } else { *y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// When the last run that upgraded packages started, from apt's
/// `history.log`: the newest entry with an `Upgrade:` line.
pub fn last_upgrade(history: &str) -> Option<u64> {
    let mut start = None;
    let mut last = None;
    for line in history.lines() {
        if let Some(t) = line.strip_prefix("Start-Date:") {
            start = parse_log_time(t.trim());
        } else if line.starts_with("Upgrade:") {
            last = last.max(start);
        }
    }
    last
}

// === configuration ===

/// Reads apt configuration text (both `A::B::C "v";` and the scoped
/// `A { B { C "v"; }; };` forms, with `//`, `/* */` and `#` comments) into
/// `out`, lower-cased keys, later values overriding earlier ones as apt
/// does across its files.
pub fn parse_apt_conf(text: &str, out: &mut HashMap<String, String>) {
    // Tokens: words, quoted strings, `{`, `}`, `;`.
    let mut toks: Vec<String> = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += 1;
                }
                toks.push(format!("\"{}", &text[start..i.min(b.len())]));
                i += 1;
            }
            b'{' | b'}' | b';' => {
                toks.push((b[i] as char).to_string());
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                let start = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && !b"{};\"".contains(&b[i]) {
                    i += 1;
                }
                toks.push(text[start..i].to_owned());
            }
        }
    }
    let mut scope: Vec<String> = Vec::new();
    let mut stmt: Vec<String> = Vec::new();
    for t in toks {
        match t.as_str() {
            "{" => {
                scope.push(stmt.first().cloned().unwrap_or_default());
                stmt.clear();
            }
            "}" => {
                scope.pop();
                stmt.clear();
            }
            ";" => {
                if let [name, value, ..] = stmt.as_slice()
                    && !name.starts_with('"')
                {
                    let mut key = scope.clone();
                    key.push(name.clone());
                    let value = value.strip_prefix('"').unwrap_or(value);
                    out.insert(key.join("::").to_ascii_lowercase(), value.to_owned());
                }
                stmt.clear();
            }
            _ => stmt.push(t),
        }
    }
}

/// Whether apt reads a file of `apt.conf.d` (it skips backups and package
/// leftovers: names other than letters, digits, `_`, `-` and `.`, and
/// names ending in `.disabled`, `.dpkg-old` and the like).
pub fn is_apt_conf_part(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        && ![
            ".disabled",
            ".dpkg-old",
            ".dpkg-dist",
            ".dpkg-new",
            ".dpkg-tmp",
            ".ucf-old",
            ".ucf-dist",
            ".ucf-new",
            ".bak",
            ".save",
        ]
        .iter()
        .any(|s| name.ends_with(s))
}

/// An `APT::Periodic` interval ("1", "7", "1d", "0"): whether it is on.
pub fn periodic_on(value: &str) -> bool {
    let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<u64>().is_ok_and(|n| n > 0) || value.eq_ignore_ascii_case("always")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_like_dpkg() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0-1", "1.0-2", Less),
            ("1.10", "1.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0", "1.0+deb12u1", Less),
            ("1:0.9", "2.0", Greater),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("1.2.3a", "1.2.3", Greater),
            ("1.0-1ubuntu0.1", "1.0-1", Greater),
            ("0.0~git20200101", "0.0", Less),
            ("1.01", "1.1", Equal),
        ] {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    const STATUS: &str = "Package: bash\nStatus: install ok installed\nPriority: required\nArchitecture: amd64\nVersion: 5.2.15-2+b2\nDescription: GNU shell\n multi-line\n\nPackage: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.11-1~deb12u2\n\nPackage: removed\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0\n\nPackage: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n";

    #[test]
    fn pending_from_lists() {
        let inst = installed(STATUS.as_bytes()).unwrap();
        assert_eq!(inst.len(), 3);
        assert!(is_installed(&inst, "bash"));
        assert!(!is_installed(&inst, "removed"));
        let mut p = Pending::default();
        let main = "Package: bash\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n\nPackage: tzdata\nArchitecture: all\nVersion: 2024b-0+deb12u1\n\nPackage: removed\nArchitecture: amd64\nVersion: 9.0\n\nPackage: openssl\nArchitecture: i386\nVersion: 9.9\n";
        p.add_list(&inst, main.as_bytes(), false).unwrap();
        let sec = "Package: openssl\nArchitecture: amd64\nVersion: 3.0.15-1~deb12u1\n";
        p.add_list(&inst, sec.as_bytes(), true).unwrap();
        assert_eq!(
            p.all.iter().map(String::as_str).collect::<Vec<_>>(),
            ["openssl", "tzdata"]
        );
        assert_eq!(
            p.security.iter().map(String::as_str).collect::<Vec<_>>(),
            ["openssl"]
        );
        assert!(is_security_list(
            "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages"
        ));
        assert!(!is_security_list(
            "deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages"
        ));
    }

    #[test]
    fn updates_available_both_wordings() {
        assert_eq!(
            parse_updates_available(
                "\n12 updates can be applied immediately.\n5 of these updates are standard security updates.\nTo see these additional updates run: apt list --upgradable\n"
            ),
            Some((12, 5))
        );
        assert_eq!(
            parse_updates_available(
                "3 packages can be updated.\n0 updates are security updates.\n"
            ),
            Some((3, 0))
        );
        assert_eq!(
            parse_updates_available("0 updates can be applied immediately.\n"),
            Some((0, 0))
        );
        assert_eq!(parse_updates_available("garbage"), None);
    }

    #[test]
    fn history_finds_the_last_upgrade() {
        let h = "\nStart-Date: 2024-01-02  10:00:00\nCommandline: apt upgrade\nUpgrade: bash:amd64 (5.2.15-2, 5.2.15-2+b2)\nEnd-Date: 2024-01-02  10:01:00\n\nStart-Date: 2024-03-01  09:00:00\nInstall: vim:amd64 (2:9.0)\nEnd-Date: 2024-03-01  09:00:10\n";
        assert_eq!(last_upgrade(h), parse_log_time("2024-01-02 10:00:00"));
        assert_eq!(parse_log_time("1970-01-02  00:00:01"), Some(86_401));
        assert_eq!(parse_log_time("2024-03-01  00:00:00"), Some(1_709_251_200));
        assert_eq!(parse_log_time("2024-13-01 00:00:00"), None);
        assert_eq!(
            last_upgrade("Start-Date: 2024-03-01  09:00:00\nInstall: x\n"),
            None
        );
    }

    #[test]
    fn apt_conf_both_forms_and_comments() {
        let mut c = HashMap::new();
        parse_apt_conf(
            "APT::Periodic::Update-Package-Lists \"1\";\n// APT::Periodic::Unattended-Upgrade \"0\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
            &mut c,
        );
        assert_eq!(c["apt::periodic::unattended-upgrade"], "1");
        parse_apt_conf(
            "/* off */ APT { Periodic { Unattended-Upgrade \"0\"; Enable \"1\"; }; };\nUnattended-Upgrade::Origins-Pattern { \"origin=Debian\"; };\n# comment\n",
            &mut c,
        );
        assert_eq!(c["apt::periodic::unattended-upgrade"], "0");
        assert_eq!(c["apt::periodic::enable"], "1");
        assert!(periodic_on("1") && periodic_on("7d") && !periodic_on("0") && !periodic_on(""));
        assert!(is_apt_conf_part("20auto-upgrades"));
        assert!(!is_apt_conf_part("20auto-upgrades.dpkg-old"));
        assert!(!is_apt_conf_part("20auto-upgrades~"));
    }
}
