//! The agent's configuration file (`agent.toml`).
//!
//! Parse, then build: [`RawConfig`] is the serde shape of the file, strict
//! about unknown keys; [`Config`] is what the rest of the agent sees, with
//! validated types. A missing file means all defaults, because a lab PC should
//! run with no config at all; a broken file is an error that names the file,
//! the key and what is allowed, and the binary exits 2 on it.

use schoolwatch_protocol::Role;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Where the agent looks for its config when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/schoolwatch/agent.toml";

/// A config file that cannot be used, with enough context to fix it.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("{path}: cannot read the config file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key or value is wrong.
    #[error("{path}: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Which key, what is wrong and what is allowed.
        problem: String,
    },
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The host's role at its school.
    pub role: Role,
    /// How often `run` samples (and the default for `sample --interval`).
    pub sample_interval: Duration,
    /// Interfaces left out of samples and inventory.
    pub exclude_interfaces: Vec<InterfacePattern>,
    /// The on-disk report queue.
    pub queue: crate::ship::queue::QueueConfig,
    /// How the agent talks TLS to the collector.
    pub tls: TlsOptions,
    /// The posture checks.
    pub security: SecurityConfig,
    /// ICMP probes made with every report.
    pub probe: ProbeConfig,
    /// The throughput test.
    pub throughput: crate::collect::throughput::ThroughputConfig,
    /// Where `run` serves the local page for the school's IT person
    /// (`[local_page] listen`); `None` (the default) serves nothing.
    pub local_page: Option<std::net::SocketAddr>,
    /// LAN discovery (`[discovery]`); no subnets (the default) sweeps
    /// nothing.
    pub discovery: crate::collect::discovery::DiscoveryConfig,
    /// SNMP defaults and the devices polled (`[snmp]`); no devices by
    /// default.
    pub snmp: crate::collect::snmp::SnmpConfig,
}

/// Settings of the ICMP probes (`[probe]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Probe the collector's host.
    pub collector: bool,
    /// Probe the default gateway (read from the routing table).
    pub gateway: bool,
    /// Probe the DNS servers in /etc/resolv.conf.
    pub dns: bool,
    /// More targets (addresses or names).
    pub targets: Vec<String>,
    /// How often the targets are probed (each result set goes into the
    /// next report).
    pub interval: Duration,
    /// Echo requests per target per report.
    pub count: u32,
    /// Time between requests to one target.
    pub spacing: Duration,
    /// How long to wait for a reply.
    pub timeout: Duration,
}

/// Settings of the posture checks (`[security]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityConfig {
    /// How often `run` adds the security section to a report.
    pub interval: Duration,
    /// Process names counted as endpoint protection, beyond the built-in
    /// list (Kaspersky, ClamAV, ...).
    pub endpoint_processes: Vec<String>,
}

/// TLS settings for the connection to the collector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Client certificate and key (PEM files), for collectors that require
    /// mutual TLS; relative names are relative to the config file.
    pub client_identity: Option<(PathBuf, PathBuf)>,
    /// Allow `http://` to a collector that is not on loopback. Off: reports
    /// would cross the network in clear.
    pub allow_plain_http: bool,
}

impl Default for Config {
    fn default() -> Self {
        // The raw defaults are the single source of truth for defaults.
        Config::try_from(RawConfig::default()).expect("defaults are valid")
    }
}

/// An interface name, or a prefix when it ends in `*` (e.g. `veth*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfacePattern(String);

impl InterfacePattern {
    /// Whether `name` matches this pattern.
    pub fn matches(&self, name: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == self.0,
        }
    }
}

/// Whether any pattern in `patterns` matches `name`.
pub fn excluded(patterns: &[InterfacePattern], name: &str) -> bool {
    patterns.iter().any(|p| p.matches(name))
}

// === raw file shape ===

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    agent: RawAgent,
    #[serde(default)]
    sample: RawSample,
    #[serde(default)]
    net: RawNet,
    #[serde(default)]
    queue: RawQueue,
    #[serde(default)]
    tls: RawTls,
    #[serde(default)]
    security: RawSecurity,
    #[serde(default)]
    probe: RawProbe,
    #[serde(default)]
    throughput: RawThroughput,
    #[serde(default)]
    local_page: RawLocalPage,
    #[serde(default)]
    discovery: crate::collect::discovery::RawDiscovery,
    #[serde(default)]
    snmp: crate::collect::snmp::config::RawSnmp,
}

/// Off unless a listen address is given: the page is for the school LAN.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocalPage {
    listen: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThroughput {
    #[serde(default)]
    enabled: bool,
    #[serde(default = "default_every_hours")]
    interval_hours: u64,
    #[serde(default = "default_window_start")]
    window_start_hour: u8,
    #[serde(default = "default_window_end")]
    window_end_hour: u8,
    #[serde(default = "default_utc_offset")]
    utc_offset_hours: i8,
    #[serde(default = "default_download_bytes")]
    download_bytes: u64,
    #[serde(default = "default_upload_bytes")]
    upload_bytes: u64,
    #[serde(default = "default_monthly_cap")]
    monthly_cap_bytes: u64,
}

impl Default for RawThroughput {
    fn default() -> Self {
        let d = crate::collect::throughput::ThroughputConfig::default();
        Self {
            enabled: d.enabled,
            interval_hours: d.every.as_secs() / 3600,
            window_start_hour: d.window.0,
            window_end_hour: d.window.1,
            utc_offset_hours: d.utc_offset_hours,
            download_bytes: d.download_bytes,
            upload_bytes: d.upload_bytes,
            monthly_cap_bytes: d.monthly_cap_bytes,
        }
    }
}

fn default_every_hours() -> u64 {
    RawThroughput::default().interval_hours
}
fn default_window_start() -> u8 {
    RawThroughput::default().window_start_hour
}
fn default_window_end() -> u8 {
    RawThroughput::default().window_end_hour
}
fn default_utc_offset() -> i8 {
    RawThroughput::default().utc_offset_hours
}
fn default_download_bytes() -> u64 {
    RawThroughput::default().download_bytes
}
fn default_upload_bytes() -> u64 {
    RawThroughput::default().upload_bytes
}
fn default_monthly_cap() -> u64 {
    RawThroughput::default().monthly_cap_bytes
}

/// Off by default except the collector: nothing is probed that nobody asked
/// for (the example production config turns gateway and DNS on).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    #[serde(default = "default_true")]
    collector: bool,
    #[serde(default)]
    gateway: bool,
    #[serde(default)]
    dns: bool,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default = "default_interval_secs")]
    interval_secs: u64,
    #[serde(default = "default_probe_count")]
    count: u32,
    #[serde(default = "default_probe_spacing_ms")]
    spacing_ms: u64,
    #[serde(default = "default_probe_timeout_ms")]
    timeout_ms: u64,
}

impl Default for RawProbe {
    fn default() -> Self {
        Self {
            collector: true,
            gateway: false,
            dns: false,
            targets: Vec::new(),
            interval_secs: default_interval_secs(),
            count: default_probe_count(),
            spacing_ms: default_probe_spacing_ms(),
            timeout_ms: default_probe_timeout_ms(),
        }
    }
}

const fn default_true() -> bool {
    true
}
/// Five echoes a minute per target: enough for loss in steps of 20 %
/// per report and far more over an hour, a few hundred bytes on 4G.
const fn default_probe_count() -> u32 {
    5
}
const fn default_probe_spacing_ms() -> u64 {
    200
}
const fn default_probe_timeout_ms() -> u64 {
    2000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurity {
    #[serde(default = "default_security_interval_secs")]
    interval_secs: u64,
    #[serde(default)]
    endpoint_processes: Vec<String>,
}

impl Default for RawSecurity {
    fn default() -> Self {
        Self {
            interval_secs: default_security_interval_secs(),
            endpoint_processes: Vec::new(),
        }
    }
}

/// Hourly: posture changes slowly, and some checks read every package list.
const fn default_security_interval_secs() -> u64 {
    3600
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    #[serde(default)]
    allow_plain_http: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    #[serde(default = "default_queue_max")]
    max_size_bytes: u64,
    #[serde(default)]
    fsync: crate::ship::queue::Fsync,
}

impl Default for RawQueue {
    fn default() -> Self {
        Self {
            max_size_bytes: default_queue_max(),
            fsync: crate::ship::queue::Fsync::default(),
        }
    }
}

fn default_queue_max() -> u64 {
    crate::ship::queue::QueueConfig::default().max_bytes
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    #[serde(default)]
    role: Role,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSample {
    #[serde(default = "default_interval_secs")]
    interval_secs: u64,
}

impl Default for RawSample {
    fn default() -> Self {
        Self {
            interval_secs: default_interval_secs(),
        }
    }
}

/// One report a minute: fine-grained enough to see an outage within the
/// collector's online window, cheap enough for a metered 4G link.
const fn default_interval_secs() -> u64 {
    60
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNet {
    #[serde(default)]
    exclude_interfaces: Vec<String>,
}

impl TryFrom<RawConfig> for Config {
    /// Every problem found, each naming its key.
    type Error = Vec<String>;

    fn try_from(raw: RawConfig) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        if !(1..=86_400).contains(&raw.sample.interval_secs) {
            problems.push(format!(
                "key `sample.interval_secs`: {} is out of range; use 1 to 86400 seconds",
                raw.sample.interval_secs
            ));
        }
        for (i, p) in raw.net.exclude_interfaces.iter().enumerate() {
            let body = p.strip_suffix('*').unwrap_or(p);
            if body.is_empty() || body.contains('*') {
                problems.push(format!(
                    "key `net.exclude_interfaces[{i}]`: {p:?} is not an interface name; use a name like \"docker0\" or a prefix ending in one `*` like \"veth*\""
                ));
            }
        }
        if raw.queue.max_size_bytes < 64 * 1024 {
            problems.push(format!(
                "key `queue.max_size_bytes`: {} is too small; use at least 65536 (the default, 67108864, holds more than 7 days of reports)",
                raw.queue.max_size_bytes
            ));
        }
        if !(60..=7 * 86_400).contains(&raw.security.interval_secs) {
            problems.push(format!(
                "key `security.interval_secs`: {} is out of range; use 60 to 604800 seconds (default 3600)",
                raw.security.interval_secs
            ));
        }
        for (i, p) in raw.security.endpoint_processes.iter().enumerate() {
            if p.is_empty() || p.len() > 64 || p.contains('/') || p.contains(char::is_whitespace) {
                problems.push(format!(
                    "key `security.endpoint_processes[{i}]`: {p:?} is not a process name; use the name as `ps -e` shows it, e.g. \"kesl\""
                ));
            }
        }
        let client_identity = match (raw.tls.client_cert, raw.tls.client_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                problems.push("keys `tls.client_cert` and `tls.client_key`: set both (PEM files of the agent's client certificate and key) or neither".to_owned());
                None
            }
        };
        let t = &raw.throughput;
        if t.window_start_hour > 23 || t.window_end_hour > 24 {
            problems.push("keys `throughput.window_start_hour`/`window_end_hour`: hours are 0 to 23 (end may be 24)".to_owned());
        }
        if !(-12..=14).contains(&t.utc_offset_hours) {
            problems.push(format!("key `throughput.utc_offset_hours`: {} is not a time zone; use -12 to 14 (Vietnam is 7)", t.utc_offset_hours));
        }
        let max = schoolwatch_protocol::api::SPEEDTEST_MAX_BYTES;
        if !(1..=max).contains(&t.download_bytes) || !(1..=max).contains(&t.upload_bytes) {
            problems.push(format!(
                "keys `throughput.download_bytes`/`upload_bytes`: use 1 to {max} bytes"
            ));
        }
        if t.interval_hours == 0 {
            problems.push("key `throughput.interval_hours`: must be at least 1".to_owned());
        }
        if !(1..=100).contains(&raw.probe.count) {
            problems.push(format!(
                "key `probe.count`: {} is out of range; use 1 to 100 echo requests per target",
                raw.probe.count
            ));
        }
        if raw.probe.targets.len() > 63 {
            problems.push(
                "key `probe.targets`: more than 63 targets (a report carries at most 64 probe results); a school link is small".to_owned(),
            );
        }
        let discovery = raw.discovery.build(raw.agent.role, &mut problems);
        let snmp = crate::collect::snmp::SnmpConfig::try_from(raw.snmp).unwrap_or_else(|p| {
            problems.extend(p);
            crate::collect::snmp::SnmpConfig::default()
        });
        let local_page = match raw
            .local_page
            .listen
            .as_deref()
            .map(str::parse::<std::net::SocketAddr>)
        {
            None => None,
            Some(Ok(addr)) => Some(addr),
            Some(Err(_)) => {
                problems.push(format!(
                    "key `local_page.listen`: {:?} is not an address; write the school LAN address and a port, e.g. \"192.168.1.10:8080\"",
                    raw.local_page.listen.clone().unwrap_or_default()
                ));
                None
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let defaults = crate::ship::queue::QueueConfig::default();
        Ok(Config {
            local_page,
            discovery,
            snmp,
            tls: TlsOptions {
                client_identity,
                allow_plain_http: raw.tls.allow_plain_http,
            },
            queue: crate::ship::queue::QueueConfig {
                max_bytes: raw.queue.max_size_bytes,
                // Segments of at most 1 MiB, and at least 8 per queue, so
                // dropping the oldest one never throws away much.
                segment_bytes: defaults.segment_bytes.min(raw.queue.max_size_bytes / 8),
                fsync: raw.queue.fsync,
            },
            role: raw.agent.role,
            throughput: crate::collect::throughput::ThroughputConfig {
                enabled: raw.throughput.enabled,
                every: Duration::from_secs(raw.throughput.interval_hours * 3600),
                window: (
                    raw.throughput.window_start_hour,
                    raw.throughput.window_end_hour,
                ),
                utc_offset_hours: raw.throughput.utc_offset_hours,
                download_bytes: raw.throughput.download_bytes,
                upload_bytes: raw.throughput.upload_bytes,
                monthly_cap_bytes: raw.throughput.monthly_cap_bytes,
            },
            probe: ProbeConfig {
                collector: raw.probe.collector,
                gateway: raw.probe.gateway,
                dns: raw.probe.dns,
                targets: raw.probe.targets,
                interval: Duration::from_secs(raw.probe.interval_secs.max(1)),
                count: raw.probe.count,
                spacing: Duration::from_millis(raw.probe.spacing_ms.max(10)),
                timeout: Duration::from_millis(raw.probe.timeout_ms.max(10)),
            },
            security: SecurityConfig {
                interval: Duration::from_secs(raw.security.interval_secs),
                endpoint_processes: raw.security.endpoint_processes,
            },
            sample_interval: Duration::from_secs(raw.sample.interval_secs),
            exclude_interfaces: raw
                .net
                .exclude_interfaces
                .into_iter()
                .map(InterfacePattern)
                .collect(),
        })
    }
}

impl Config {
    /// Parses and validates config text; `path` only names the file in errors.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let invalid = |problem: String| ConfigError::Invalid {
            path: path.to_owned(),
            problem,
        };
        let raw: RawConfig = parse_toml(text).map_err(invalid)?;
        let mut config = Config::try_from(raw).map_err(|problems| invalid(problems.join("; ")))?;
        // Relative file names are relative to the config file's directory.
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some((cert, key)) = &mut config.tls.client_identity {
            *cert = base.join(&*cert);
            *key = base.join(&*key);
        }
        Ok(config)
    }

    /// Reads `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_toml_str(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }
}

/// Deserializes TOML into `T`, describing a failure on one line as
/// "key `a.b`: what is wrong (line L, column C)".
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let de = toml::Deserializer::parse(text).map_err(|e| one_line(text, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = one_line(text, &inner);
        if path.is_empty() || path == "." {
            what
        } else {
            format!("key `{path}`: {what}")
        }
    })
}

/// toml's errors span several lines with a source excerpt; keep the message
/// and turn the span into a line and column.
fn one_line(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{msg} (line {line}, column {column})")
        }
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::from_toml_str(text, Path::new("/etc/schoolwatch/agent.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn empty_file_is_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.role, Role::Lab);
        assert_eq!(c.sample_interval, Duration::from_secs(60));
    }

    #[test]
    fn full_file_parses() {
        let c = parse(
            "[agent]\nrole = \"server\"\n[sample]\ninterval_secs = 30\n[net]\nexclude_interfaces = [\"lo\", \"veth*\"]\n",
        )
        .unwrap();
        assert_eq!(c.role, Role::Server);
        assert_eq!(c.sample_interval, Duration::from_secs(30));
        assert!(excluded(&c.exclude_interfaces, "lo"));
        assert!(excluded(&c.exclude_interfaces, "veth12ab"));
        assert!(!excluded(&c.exclude_interfaces, "eth0"));
        assert!(!excluded(&c.exclude_interfaces, "lo0"));
    }

    #[test]
    fn unknown_key_names_file_key_and_choices() {
        let e = parse("[agent]\nrol = \"lab\"\n").unwrap_err();
        assert!(e.starts_with("/etc/schoolwatch/agent.toml: "), "{e}");
        assert!(e.contains("agent"), "{e}");
        assert!(e.contains("`rol`"), "{e}");
        assert!(e.contains("`role`"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn bad_enum_value_lists_what_is_allowed() {
        let e = parse("[agent]\nrole = \"teacher\"\n").unwrap_err();
        assert!(e.contains("key `agent.role`"), "{e}");
        for allowed in ["server", "lab", "office"] {
            assert!(e.contains(allowed), "{e}");
        }
    }

    #[test]
    fn wrong_type_names_key() {
        let e = parse("[sample]\ninterval_secs = \"60s\"\n").unwrap_err();
        assert!(e.contains("key `sample.interval_secs`"), "{e}");
    }

    #[test]
    fn out_of_range_and_bad_patterns_are_all_reported() {
        let e =
            parse("[sample]\ninterval_secs = 0\n[net]\nexclude_interfaces = [\"*\", \"a*b*\"]\n")
                .unwrap_err();
        assert!(e.contains("key `sample.interval_secs`"), "{e}");
        assert!(e.contains("net.exclude_interfaces[0]"), "{e}");
        assert!(e.contains("net.exclude_interfaces[1]"), "{e}");
    }

    #[test]
    fn security_section_parses_and_is_checked() {
        let c = parse("").unwrap();
        assert_eq!(c.security.interval, Duration::from_secs(3600));
        assert!(c.security.endpoint_processes.is_empty());
        let c =
            parse("[security]\ninterval_secs = 600\nendpoint_processes = [\"bdsecd\"]\n").unwrap();
        assert_eq!(c.security.interval, Duration::from_secs(600));
        assert_eq!(c.security.endpoint_processes, ["bdsecd"]);
        let e =
            parse("[security]\ninterval_secs = 5\nendpoint_processes = [\"\", \"/usr/bin/x\"]\n")
                .unwrap_err();
        assert!(e.contains("key `security.interval_secs`"), "{e}");
        assert!(e.contains("security.endpoint_processes[0]"), "{e}");
        assert!(e.contains("security.endpoint_processes[1]"), "{e}");
        let e = parse("[security]\nintervall_secs = 600\n").unwrap_err();
        assert!(e.contains("key `security.intervall_secs`"), "{e}");
    }

    #[test]
    fn local_page_is_off_unless_an_address_is_given() {
        assert_eq!(parse("").unwrap().local_page, None);
        let c = parse("[local_page]\nlisten = \"192.168.1.10:8080\"\n").unwrap();
        assert_eq!(c.local_page, Some("192.168.1.10:8080".parse().unwrap()));
        let e = parse("[local_page]\nlisten = \"school-lan\"\n").unwrap_err();
        assert!(e.contains("key `local_page.listen`"), "{e}");
        assert!(e.contains("192.168.1.10:8080"), "{e}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = parse("[agent\nrole = 1\n").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn missing_file_is_defaults_but_unreadable_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Config::load(&dir.path().join("nope.toml")).unwrap(),
            Config::default()
        );
        // A directory where the file should be cannot be read.
        let e = Config::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("cannot read"), "{e}");
    }
}
