//! Real SNMP peers for tests: net-snmp's `snmpd` with a config the test
//! writes, `snmpsimd` serving recorded devices, and `snmpget`/`snmpwalk`
//! as ground truth with their numeric output parsed.
//!
//! Everything listens on 127.0.0.1 and is killed (by PID) when dropped.
//! Debian ships no MIB files, so the tools run with `MIBS=` (load none) and
//! numeric OIDs only.

use crate::{ChildGuard, require};
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A loopback UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback UDP port")
}

/// An OID as numbers, from `.1.3.6` or `1.3.6`.
pub fn oid(s: &str) -> Vec<u64> {
    s.trim_start_matches('.')
        .split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("not a numeric OID: {s}"))
        })
        .collect()
}

/// One value as the net-snmp tools print it with `-Oq -Ot -Ox -On`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An octet string (printed in hex).
    Bytes(Vec<u8>),
    /// An OBJECT IDENTIFIER, dotted without the leading dot.
    Oid(String),
    /// Any integer, counter, gauge or timeticks.
    Number(i128),
}

impl Value {
    /// The string as text (lossy UTF-8).
    pub fn text(&self) -> String {
        match self {
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            v => panic!("not a string: {v:?}"),
        }
    }

    /// The number.
    pub fn number(&self) -> i128 {
        match self {
            Value::Number(n) => *n,
            v => panic!("not a number: {v:?}"),
        }
    }
}

/// Parses `snmpget`/`snmpwalk` output in `-On -Oq -Ot -Ox` form: one
/// `.OID value` per varbind, hex strings possibly spread over lines.
/// "No Such Object/Instance" lines are left out.
pub fn parse_output(text: &str) -> BTreeMap<Vec<u64>, Value> {
    let mut items: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('.')
            && let Some((o, v)) = rest.split_once(' ')
            && o.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        {
            items.push((o.to_owned(), v.to_owned()));
        } else if let Some(last) = items.last_mut() {
            last.1.push(' ');
            last.1.push_str(line);
        }
    }
    items
        .into_iter()
        .filter_map(|(o, v)| {
            let v = v.trim();
            let value = if let Some(hex) = v.strip_prefix('"') {
                let hex = hex.trim_end_matches('"');
                Value::Bytes(
                    hex.split_whitespace()
                        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
                        .collect(),
                )
            } else if let Some(o) = v.strip_prefix('.') {
                Value::Oid(o.to_owned())
            } else if let Ok(n) = v.parse() {
                Value::Number(n)
            } else {
                return None; // No Such Object/Instance, End of MIB
            };
            Some((oid(&o), value))
        })
        .collect()
}

/// `snmpget`/`snmpwalk` against one agent with fixed credentials.
pub struct NetSnmpTools {
    /// `-v2c -c COMMUNITY` or the v3 flags.
    auth: Vec<String>,
    /// `127.0.0.1:PORT`.
    target: String,
    /// The tools' own persistent directory (they write engine ids there),
    /// not the machine's /var/lib/snmp.
    persistent: tempfile::TempDir,
}

impl NetSnmpTools {
    /// Tools asking `127.0.0.1:port` with credential flags `auth` (e.g.
    /// `["-v2c", "-c", "public"]`).
    pub fn new(port: u16, auth: &[&str]) -> Self {
        require("snmpget", "snmp");
        Self {
            auth: auth.iter().map(|s| (*s).to_owned()).collect(),
            target: format!("127.0.0.1:{port}"),
            persistent: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn command(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        c.env("MIBS", "")
            .env("SNMP_PERSISTENT_DIR", self.persistent.path())
            .args(&self.auth)
            .args(["-On", "-Oq", "-Ot", "-Ox", "-t", "2", "-r", "2"])
            .arg(&self.target);
        c
    }

    /// `snmpget` of `oids`; fails the test if the tool fails.
    pub fn get(&self, oids: &[&str]) -> BTreeMap<Vec<u64>, Value> {
        parse_output(&crate::stdout_of(self.command("snmpget").args(oids)))
    }

    /// `snmpwalk` (GETBULK for v2c/v3) of the subtree at `root`.
    pub fn walk(&self, root: &str) -> BTreeMap<Vec<u64>, Value> {
        let mut c = self.command(if self.auth.iter().any(|a| a == "-v1") {
            "snmpwalk"
        } else {
            "snmpbulkwalk"
        });
        parse_output(&crate::stdout_of(c.arg(root)))
    }

    /// Whether one quick GET of sysUpTime is answered.
    pub fn answers(&self) -> bool {
        let mut c = Command::new("snmpget");
        c.env("MIBS", "")
            .env("SNMP_PERSISTENT_DIR", self.persistent.path())
            .args(&self.auth)
            .args(["-t", "0.3", "-r", "0", &self.target, ".1.3.6.1.2.1.1.3.0"]);
        c.output().is_ok_and(|o| o.status.success())
    }
}

/// Waits until `tools` get answers from the agent `child` runs, failing at
/// once if it exits.
fn wait_answering(child: &mut ChildGuard, tools: &NetSnmpTools, what: &str, log: &Path) {
    let start = Instant::now();
    while !tools.answers() {
        child.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} does not answer SNMP after 60 s; its log: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// net-snmp's `snmpd` on 127.0.0.1 with a config the test wrote.
pub struct Snmpd {
    /// Killed by PID when dropped (before the directory goes).
    child: ChildGuard,
    /// UDP port it listens on.
    pub port: u16,
    /// Config, persistent state (v3 users) and log.
    dir: tempfile::TempDir,
}

impl Snmpd {
    /// Starts `snmpd -f` with `conf` as its only config (`-C -c`), its
    /// persistent directory (where `createUser` lines become users) and log
    /// in a fresh directory; returns once `ready` (tools with credentials
    /// the config accepts) get answers.
    pub fn start(conf: &str, ready: &[&str]) -> Self {
        let snmpd = require("snmpd", "snmpd");
        let dir = tempfile::tempdir().expect("tempdir");
        let conf_path = dir.path().join("snmpd.conf");
        std::fs::write(&conf_path, conf).expect("write snmpd.conf");
        let persistent = dir.path().join("persistent");
        std::fs::create_dir(&persistent).expect("persistent dir");
        let log = dir.path().join("snmpd.log");
        let port = free_udp_port();
        let mut child = ChildGuard::spawn(
            "snmpd",
            Command::new(snmpd)
                .env("MIBS", "")
                .arg("-f")
                .arg("-Lf")
                .arg(&log)
                .arg("-C")
                .arg("-c")
                .arg(&conf_path)
                .arg(format!("--persistentDir={}", persistent.display()))
                .arg("-p")
                .arg(dir.path().join("snmpd.pid"))
                .arg(format!("udp:127.0.0.1:{port}")),
        );
        let tools = NetSnmpTools::new(port, ready);
        wait_answering(&mut child, &tools, "snmpd", &log);
        Self { child, port, dir }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Its log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("snmpd.log")).unwrap_or_default()
    }
}

/// `snmpsimd` serving `.snmprec` recordings on 127.0.0.1; each recording's
/// community is its file name without `.snmprec`.
pub struct Snmpsim {
    /// Killed by PID when dropped (before the directory goes).
    child: ChildGuard,
    /// UDP port it listens on.
    pub port: u16,
    /// Data, cache and log; readable by the unprivileged user it runs as.
    dir: tempfile::TempDir,
}

impl Snmpsim {
    /// The Debian package's bundled example recordings.
    pub const EXAMPLES: &str = "/usr/share/doc/snmpsim/examples/data";

    /// Serves `recordings` (community, `.snmprec` text) as user `nobody`;
    /// returns once the first one answers (indexing a large recording takes
    /// a few seconds).
    pub fn start(recordings: &[(&str, String)]) -> Self {
        Self::start_with(recordings, &[])
    }

    /// [`Snmpsim::start`] with more `snmpsimd` flags, e.g.
    /// `--max-varbinds=8`.
    pub fn start_with(recordings: &[(&str, String)], flags: &[&str]) -> Self {
        Self::start_at(free_udp_port(), recordings, flags)
    }

    /// [`Snmpsim::start_with`] on `port` of 127.0.0.1 (more endpoints,
    /// e.g. other loopback addresses, go in `flags`).
    pub fn start_at(port: u16, recordings: &[(&str, String)], flags: &[&str]) -> Self {
        let snmpsimd = require("snmpsimd", "snmpsim");
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let cache = dir.path().join("cache");
        std::fs::create_dir(&data).expect("data dir");
        std::fs::create_dir(&cache).expect("cache dir");
        for (community, text) in recordings {
            let file = data.join(format!("{community}.snmprec"));
            std::fs::write(&file, text).expect("write recording");
            set_mode(&file, 0o644);
        }
        // snmpsimd drops to nobody: it must read the data and write the
        // index cache and the log.
        set_mode(dir.path(), 0o755);
        set_mode(&data, 0o755);
        set_mode(&cache, 0o777);
        let log = dir.path().join("snmpsim.log");
        std::fs::write(&log, "").expect("log file");
        set_mode(&log, 0o666);
        let mut child = ChildGuard::spawn(
            "snmpsimd",
            Command::new(snmpsimd)
                .arg(format!("--data-dir={}", data.display()))
                .arg(format!("--cache-dir={}", cache.display()))
                .arg(format!("--agent-udpv4-endpoint=127.0.0.1:{port}"))
                .arg("--process-user=nobody")
                .arg("--process-group=nogroup")
                .arg(format!("--logging-method=file:{}", log.display()))
                .args(flags),
        );
        let community = recordings.first().expect("at least one recording").0;
        let tools = NetSnmpTools::new(port, &["-v2c", "-c", community]);
        wait_answering(&mut child, &tools, "snmpsimd", &log);
        Self { child, port, dir }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Where its data lives.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Reads a bundled recording, gunzipping `.gz` ones.
pub fn example_recording(relative: &str) -> String {
    let path = Path::new(Snmpsim::EXAMPLES).join(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; install it with `apt-get install snmpsim` (scripts/test.sh does)",
            path.display()
        )
    });
    if relative.ends_with(".gz") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .expect("gunzip recording");
        text
    } else {
        String::from_utf8(bytes).expect("UTF-8 recording")
    }
}

/// One `.snmprec` line's value, decoded by its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecValue {
    /// Tag 4 (`4x`: hex), 64 (IpAddress).
    Bytes(Vec<u8>),
    /// Tag 6.
    Oid(String),
    /// Tags 2, 65 (Counter32), 66 (Gauge32), 67 (TimeTicks), 70
    /// (Counter64).
    Number(i128),
}

/// Parses a `.snmprec` recording (`OID|TAG|VALUE` per line, tag suffix `x`
/// for hex values) into OID order. Lines with variation modules
/// (`TAG:module`) are refused: their value is computed, not recorded.
pub fn parse_snmprec(text: &str) -> BTreeMap<Vec<u64>, RecValue> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.splitn(3, '|');
        let (Some(o), Some(tag), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            panic!("not a snmprec line: {line:?}");
        };
        assert!(!tag.contains(':'), "variation module in {line:?}");
        let (tag, hex) = match tag.strip_suffix('x') {
            Some(t) => (t, true),
            None => (tag, false),
        };
        let bytes = || -> Vec<u8> {
            if hex {
                (0..value.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&value[i..i + 2], 16).expect("hex"))
                    .collect()
            } else {
                value.as_bytes().to_vec()
            }
        };
        let v = match tag {
            "4" | "64" => RecValue::Bytes(bytes()),
            "6" => RecValue::Oid(value.trim_start_matches('.').to_owned()),
            "2" | "65" | "66" | "67" | "70" => RecValue::Number(
                value
                    .parse()
                    .unwrap_or_else(|_| panic!("number in {line:?}")),
            ),
            _ => continue, // types a poll never reads (Opaque, NULL, ...)
        };
        out.insert(oid(o), v);
    }
    out
}

/// A UPS on battery (APC-like), written for this test: UPS-MIB scalars
/// and one management interface.
pub const UPS: &str = "\
1.3.6.1.2.1.1.1.0|4|Smart-UPS 1500 RM (written for schoolwatch tests)
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.318.1.3.27
1.3.6.1.2.1.1.3.0|67|4321000
1.3.6.1.2.1.1.5.0|4|ups-thu-vien
1.3.6.1.2.1.1.6.0|4x|5468c6b0207669e1bb876e
1.3.6.1.2.1.2.2.1.2.1|4|eth0
1.3.6.1.2.1.2.2.1.5.1|66|100000000
1.3.6.1.2.1.2.2.1.8.1|2|1
1.3.6.1.2.1.2.2.1.10.1|65|123456
1.3.6.1.2.1.2.2.1.16.1|65|654321
1.3.6.1.2.1.33.1.2.1.0|2|3
1.3.6.1.2.1.33.1.2.3.0|2|12
1.3.6.1.2.1.33.1.2.4.0|2|40
1.3.6.1.2.1.33.1.4.1.0|2|5
";

/// A laser printer, written for this test: three supplies, one of which
/// reports only "some left" (-3) and one an unknown capacity (-2).
pub const PRINTER: &str = "\
1.3.6.1.2.1.1.1.0|4|HP LaserJet Pro M402dn (written for schoolwatch tests)
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.11.2.3.9.1
1.3.6.1.2.1.1.3.0|67|98765
1.3.6.1.2.1.1.5.0|4|may-in-phong-gv
1.3.6.1.2.1.1.6.0|4|
1.3.6.1.2.1.43.11.1.1.6.1.1|4|Black Cartridge HP CF226A
1.3.6.1.2.1.43.11.1.1.6.1.2|4|Imaging Drum
1.3.6.1.2.1.43.11.1.1.6.1.3|4|Waste Toner Box
1.3.6.1.2.1.43.11.1.1.8.1.1|2|9000
1.3.6.1.2.1.43.11.1.1.8.1.2|2|-2
1.3.6.1.2.1.43.11.1.1.8.1.3|2|100
1.3.6.1.2.1.43.11.1.1.9.1.1|2|2250
1.3.6.1.2.1.43.11.1.1.9.1.2|2|60
1.3.6.1.2.1.43.11.1.1.9.1.3|2|-3
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_output_parses_hex_strings_over_lines() {
        let out = ".1.3.6.1.2.1.1.1.0 \"4C 69 6E 75 78 20 \n76 6D \"\n.1.3.6.1.2.1.1.2.0 .1.3.6.1.4.1.8072.3.2.10\n.1.3.6.1.2.1.1.3.0 9240\n.1.3.6.1.2.1.31.1.1.1.18.1 \"\"\n.1.3.6.1.2.1.47 No Such Object available on this agent at this OID\n";
        let m = parse_output(out);
        assert_eq!(m[&oid("1.3.6.1.2.1.1.1.0")].text(), "Linux vm");
        assert_eq!(
            m[&oid("1.3.6.1.2.1.1.2.0")],
            Value::Oid("1.3.6.1.4.1.8072.3.2.10".into())
        );
        assert_eq!(m[&oid("1.3.6.1.2.1.1.3.0")].number(), 9240);
        assert_eq!(m[&oid("1.3.6.1.2.1.31.1.1.1.18.1")], Value::Bytes(vec![]));
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn snmprec_lines_decode_by_tag() {
        let m = parse_snmprec(
            "1.3.6.1.2.1.1.1.0|4x|4c696e75780d0a\n1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.9.1.516\n1.3.6.1.2.1.1.3.0|67|697202257\n1.3.6.1.2.1.1.4.0|4|\n1.3.6.1.2.1.31.1.1.1.6.1|70|18446744073709551615\n",
        );
        assert_eq!(
            m[&oid("1.3.6.1.2.1.1.1.0")],
            RecValue::Bytes(b"Linux\r\n".to_vec())
        );
        assert_eq!(
            m[&oid("1.3.6.1.2.1.1.2.0")],
            RecValue::Oid("1.3.6.1.4.1.9.1.516".into())
        );
        assert_eq!(m[&oid("1.3.6.1.2.1.1.3.0")], RecValue::Number(697_202_257));
        assert_eq!(m[&oid("1.3.6.1.2.1.1.4.0")], RecValue::Bytes(vec![]));
        assert_eq!(
            m[&oid("1.3.6.1.2.1.31.1.1.1.6.1")],
            RecValue::Number(u64::MAX.into())
        );
    }
}
