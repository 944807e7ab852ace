//! Vendor names from the IEEE registry of MAC prefixes, as Debian's
//! `ieee-data` package ships it in `/usr/share/ieee-data`: `oui.csv`
//! (MA-L, 24-bit prefixes), `mam.csv` (MA-M, 28-bit), `oui36.csv` (MA-S,
//! 36-bit) and `iab.csv` (the older 36-bit blocks). The longest matching
//! prefix wins, so a small maker inside an IEEE-owned block is named.
//!
//! The files (about 4 MB of CSV) become three sorted arrays and one string
//! of distinct names, about 1.5 MB, loaded once per process on first use.
//! Without the files discovery still works and every vendor is absent.

use super::neighbour::Mac;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use thiserror::Error;

/// Where Debian's `ieee-data` puts the registry.
pub const DEFAULT_DIR: &str = "/usr/share/ieee-data";

/// The registry cannot be loaded.
#[derive(Debug, Error)]
pub enum OuiError {
    /// `oui.csv` is missing or unreadable.
    #[error(
        "cannot read the IEEE OUI registry {path}: {source}; install it with `apt-get install ieee-data`"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: csv::Error,
    },
}

/// Where a name lies in [`OuiDb::names`].
#[derive(Debug, Clone, Copy)]
struct Name {
    start: u32,
    len: u32,
}

/// MAC prefix → vendor name, for the three prefix lengths.
#[derive(Debug, Default)]
pub struct OuiDb {
    /// Every distinct vendor name, one after the other.
    names: String,
    /// 24-bit prefixes (MA-L), sorted.
    l: Vec<(u32, Name)>,
    /// 28-bit prefixes (MA-M), sorted.
    m: Vec<(u32, Name)>,
    /// 36-bit prefixes (MA-S and IAB), sorted.
    s: Vec<(u64, Name)>,
}

impl OuiDb {
    /// The system's registry ([`DEFAULT_DIR`]), read on the first call;
    /// `None` (said once in a debug log) when it is not installed.
    pub fn system() -> Option<&'static OuiDb> {
        static DB: OnceLock<Option<OuiDb>> = OnceLock::new();
        DB.get_or_init(|| match OuiDb::load(Path::new(DEFAULT_DIR)) {
            Ok(db) => Some(db),
            Err(e) => {
                tracing::debug!("Devices get no vendor names: {e}.");
                None
            }
        })
        .as_ref()
    }

    /// Reads the registry files in `dir`. `oui.csv` must be there; the
    /// longer-prefix files are used when present.
    pub fn load(dir: &Path) -> Result<Self, OuiError> {
        let mut b = Builder::default();
        let path = dir.join("oui.csv");
        b.add_file(&path)
            .map_err(|source| OuiError::Read { path, source })?;
        for file in ["mam.csv", "oui36.csv", "iab.csv"] {
            if let Err(e) = b.add_file(&dir.join(file)) {
                tracing::debug!(file, error = %e, "Longer MAC prefixes not loaded.");
            }
        }
        Ok(b.finish())
    }

    /// The vendor of `mac`, if its prefix is registered to one. A locally
    /// administered address has none.
    pub fn vendor(&self, mac: Mac) -> Option<&str> {
        if mac.is_locally_administered() {
            return None;
        }
        let m = u64::from_be_bytes([
            0, 0, mac.0[0], mac.0[1], mac.0[2], mac.0[3], mac.0[4], mac.0[5],
        ]);
        let name = find(&self.s, m >> 12)
            .or_else(|| find(&self.m, (m >> 20) as u32))
            .or_else(|| find(&self.l, (m >> 24) as u32))?;
        let start = name.start as usize;
        self.names.get(start..start + name.len as usize)
    }

    /// Prefixes loaded (all lengths).
    pub fn len(&self) -> usize {
        self.l.len() + self.m.len() + self.s.len()
    }

    /// No prefix loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn find<K: Ord + Copy>(table: &[(K, Name)], key: K) -> Option<Name> {
    table
        .binary_search_by_key(&key, |(k, _)| *k)
        .ok()
        .map(|i| table[i].1)
}

// === building ===

#[derive(Default)]
struct Builder {
    db: OuiDb,
    /// Name → its place in `db.names`, so each name is stored once.
    seen: HashMap<String, Name>,
}

impl Builder {
    /// Adds the rows of one registry CSV (`Registry,Assignment,Organization
    /// Name,Organization Address`). Rows that are not a hex prefix of 6, 7
    /// or 9 digits, or name no vendor ("Private", the IEEE's own blocks),
    /// are skipped.
    fn add_file(&mut self, path: &Path) -> Result<(), csv::Error> {
        let mut rdr = csv::ReaderBuilder::new().flexible(true).from_path(path)?;
        let mut record = csv::StringRecord::new();
        while rdr.read_record(&mut record)? {
            let (Some(assignment), Some(org)) = (record.get(1), record.get(2)) else {
                continue;
            };
            let org = org.trim();
            if org.is_empty()
                || org.eq_ignore_ascii_case("private")
                || org.eq_ignore_ascii_case("IEEE Registration Authority")
            {
                continue;
            }
            let Ok(prefix) = u64::from_str_radix(assignment.trim(), 16) else {
                continue;
            };
            let digits = assignment.trim().len();
            if !matches!(digits, 6 | 7 | 9) {
                continue;
            }
            let name = self.name(org);
            match digits {
                6 => self.db.l.push((prefix as u32, name)),
                7 => self.db.m.push((prefix as u32, name)),
                _ => self.db.s.push((prefix, name)),
            }
        }
        Ok(())
    }

    fn name(&mut self, org: &str) -> Name {
        if let Some(n) = self.seen.get(org) {
            return *n;
        }
        let n = Name {
            start: self.db.names.len() as u32,
            len: org.len() as u32,
        };
        self.db.names.push_str(org);
        self.seen.insert(org.to_owned(), n);
        n
    }

    fn finish(mut self) -> OuiDb {
        // A prefix listed twice keeps its first name.
        self.db.l.sort_by_key(|(k, _)| *k);
        self.db.l.dedup_by_key(|(k, _)| *k);
        self.db.m.sort_by_key(|(k, _)| *k);
        self.db.m.dedup_by_key(|(k, _)| *k);
        self.db.s.sort_by_key(|(k, _)| *k);
        self.db.s.dedup_by_key(|(k, _)| *k);
        self.db.names.shrink_to_fit();
        self.db.l.shrink_to_fit();
        self.db.m.shrink_to_fit();
        self.db.s.shrink_to_fit();
        self.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Registry,Assignment,Organization Name,Organization Address\n";

    fn dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, rows) in files {
            std::fs::write(d.path().join(name), format!("{HEADER}{rows}")).unwrap();
        }
        d
    }

    fn mac(s: &str) -> Mac {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let d = dir(&[
            (
                "oui.csv",
                "MA-L,3C2AF4,\"Brother Industries, LTD.\",\"15-1, Naeshirocho\"\n\
                 MA-L,70B3D5,IEEE Registration Authority,445 Hoes Lane\n\
                 MA-L,001018,Broadcom,IRVINE\n\
                 MA-L,00000C,\"Cisco Systems, Inc\",SAN JOSE\n",
            ),
            (
                "mam.csv",
                "MA-M,0010181,Small Maker,Somewhere\nMA-M,741AE09,Private,\n",
            ),
            (
                "oui36.csv",
                "MA-S,70B3D5F2F,TELEPLATFORMS,\"Polbina st., 3/1 Moscow\"\n",
            ),
        ]);
        let db = OuiDb::load(d.path()).unwrap();
        assert_eq!(db.len(), 5);
        assert_eq!(
            db.vendor(mac("3c:2a:f4:12:34:56")),
            Some("Brother Industries, LTD.")
        );
        assert_eq!(
            db.vendor(mac("00:00:0c:9f:f0:01")),
            Some("Cisco Systems, Inc")
        );
        // 00:10:18:1x:… is the MA-M block; the rest of 00:10:18 is Broadcom.
        assert_eq!(db.vendor(mac("00:10:18:1a:bc:de")), Some("Small Maker"));
        assert_eq!(db.vendor(mac("00:10:18:2a:bc:de")), Some("Broadcom"));
        assert_eq!(db.vendor(mac("70:b3:d5:f2:f0:01")), Some("TELEPLATFORMS"));
        // The IEEE's own block and "Private" name nobody.
        assert_eq!(db.vendor(mac("70:b3:d5:00:00:01")), None);
        assert_eq!(db.vendor(mac("74:1a:e0:90:00:01")), None);
        assert_eq!(db.vendor(mac("ac:de:48:00:11:22")), None);
    }

    #[test]
    fn locally_administered_has_no_vendor() {
        let d = dir(&[(
            "oui.csv",
            "MA-L,020000,Someone,Here\nMA-L,3E2AF4,Someone Else,There\n",
        )]);
        let db = OuiDb::load(d.path()).unwrap();
        assert_eq!(db.vendor(mac("02:00:00:00:00:01")), None);
        assert_eq!(db.vendor(mac("3e:2a:f4:00:00:01")), None);
    }

    #[test]
    fn missing_registry_says_what_to_install() {
        let d = tempfile::tempdir().unwrap();
        let e = OuiDb::load(d.path()).unwrap_err().to_string();
        assert!(e.contains("apt-get install ieee-data"), "{e}");
        // Without the longer-prefix files the 24-bit ones still work.
        let d = dir(&[("oui.csv", "MA-L,00C0B7,AMERICAN POWER CONVERSION CORP,RI\n")]);
        let db = OuiDb::load(d.path()).unwrap();
        assert_eq!(
            db.vendor(mac("00:c0:b7:01:02:03")),
            Some("AMERICAN POWER CONVERSION CORP")
        );
    }

    #[test]
    fn names_are_stored_once() {
        let d = dir(&[(
            "oui.csv",
            "MA-L,000001,Same Corp,A\nMA-L,000002,Same Corp,B\n",
        )]);
        let db = OuiDb::load(d.path()).unwrap();
        assert_eq!(db.names, "Same Corp");
        assert_eq!(db.vendor(mac("00:00:02:00:00:00")), Some("Same Corp"));
    }
}
