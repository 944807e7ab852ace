//! The collector's configuration file (`collector.toml`).
//!
//! Strict like the agent's: unknown keys are refused, every problem is
//! reported at once naming its key, and plain HTTP is allowed only when the
//! file says so *and* the listen address is loopback.

use crate::targets::Targets;
use schoolwatch_agent::config::parse_toml;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `serve` looks for its config when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/schoolwatch/collector.toml";

/// How the collector listens.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    /// HTTPS with these PEM files.
    Tls {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
        /// When set, agents must present a client certificate signed by
        /// this CA (mutual TLS).
        client_ca: Option<PathBuf>,
    },
    /// Plain HTTP (loopback only).
    Plain,
}

/// Bounds on what one request may carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IngestLimits {
    /// Largest request body as sent (compressed), bytes.
    pub max_body_bytes: usize,
    /// Largest body after decompression, bytes.
    pub max_decompressed_bytes: usize,
    /// Most reports in one batch.
    pub max_reports_per_batch: usize,
    /// Requests per minute per credential (a token bucket).
    pub requests_per_minute: u32,
    /// How long a client may take to send its body.
    pub body_timeout: Duration,
    /// How long a client may take to send its request headers.
    pub header_timeout: Duration,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_decompressed_bytes: 16 << 20,
            max_reports_per_batch: 1000,
            requests_per_minute: 120,
            body_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(15),
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// HTTPS or (loopback) HTTP.
    pub transport: Transport,
    /// Where the database (SQLite), TLS files and outbound queues live.
    pub data_dir: PathBuf,
    /// `[store] backend = "postgres"`: the shared database's URL; `None`
    /// for the embedded SQLite file in `data_dir`.
    pub postgres_url: Option<String>,
    /// A school is online when one of its agents reported within this.
    pub online_window: Duration,
    /// Request bounds.
    pub limits: IngestLimits,
    /// The plan's targets.
    pub targets: Targets,
    /// Reports (their sequence numbers and outage evidence) older than
    /// this are pruned; the host's state and coverage are not.
    pub retention: Duration,
    /// Staff accounts of the status page (`[status]`); none: no page.
    pub status: crate::status::StatusConfig,
    /// Where samples are sent with their original timestamps
    /// (`[[remote_write]]`); none by default.
    pub remote_write: Vec<crate::remote_write::EndpointConfig>,
}

impl Config {
    /// Defaults for a collector on loopback over plain HTTP with its data in
    /// `data_dir` (the demo and tests start from this).
    pub fn local(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8088)),
            transport: Transport::Plain,
            data_dir,
            postgres_url: None,
            online_window: Duration::from_secs(default_online_window_secs()),
            limits: IngestLimits::default(),
            targets: Targets::default(),
            retention: Duration::from_secs(default_retention_days() * 86_400),
            status: crate::status::StatusConfig::default(),
            remote_write: Vec::new(),
        }
    }

    /// Reads and validates `path`. Unlike the agent, a missing file is an
    /// error: a collector without TLS settings should not start by accident.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot read the config file: {e}; start from config/collector.toml",
                path.display()
            )
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Parses config text; `path` names the file in errors and anchors
    /// relative paths (targets file, TLS files).
    pub fn from_toml_str(text: &str, path: &Path) -> anyhow::Result<Self> {
        let fail = |problem: String| anyhow::anyhow!("{}: {problem}", path.display());
        let raw: RawConfig = parse_toml(text).map_err(fail)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut problems = Vec::new();
        let listen: Option<SocketAddr> = match raw.server.listen.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                problems.push(format!(
                    "key `server.listen`: {:?} is not an address; write it as \"0.0.0.0:8443\" or \"[::]:8443\"",
                    raw.server.listen
                ));
                None
            }
        };
        let transport = match (
            raw.server.plain_http,
            raw.server.tls_cert,
            raw.server.tls_key,
        ) {
            (true, _, _) => {
                if listen.is_some_and(|a| !a.ip().is_loopback()) {
                    problems.push("key `server.plain_http`: plain HTTP is only allowed on a loopback listen address (127.0.0.1 or ::1); set tls_cert and tls_key for anything else".to_owned());
                }
                Transport::Plain
            }
            (false, Some(cert), Some(key)) => Transport::Tls {
                cert: base.join(cert),
                key: base.join(key),
                client_ca: raw.server.client_ca.map(|c| base.join(c)),
            },
            (false, _, _) => {
                problems.push("keys `server.tls_cert` and `server.tls_key`: both are needed for HTTPS (or set `server.plain_http = true` on a loopback address)".to_owned());
                Transport::Plain
            }
        };
        if !(10..=86_400).contains(&raw.fleet.online_window_secs) {
            problems.push(format!(
                "key `fleet.online_window_secs`: {} is out of range; use 10 to 86400",
                raw.fleet.online_window_secs
            ));
        }
        let targets = match &raw.targets.file {
            None => Targets::default(),
            Some(f) => {
                let file = base.join(f);
                match std::fs::read_to_string(&file) {
                    Ok(t) => match Targets::from_toml_str(&t) {
                        Ok(t) => t,
                        Err(e) => {
                            problems.push(format!("{}: {e}", file.display()));
                            Targets::default()
                        }
                    },
                    Err(e) => {
                        problems.push(format!(
                            "key `targets.file`: cannot read {}: {e}",
                            file.display()
                        ));
                        Targets::default()
                    }
                }
            }
        };
        let l = raw.ingest;
        for (key, v) in [
            ("ingest.max_body_bytes", l.max_body_bytes),
            ("ingest.max_decompressed_bytes", l.max_decompressed_bytes),
            ("ingest.max_reports_per_batch", l.max_reports_per_batch),
            ("ingest.requests_per_minute", l.requests_per_minute as usize),
        ] {
            if v == 0 {
                problems.push(format!("key `{key}`: must be more than 0"));
            }
        }
        let postgres_url = match (raw.store.backend.as_str(), raw.store.url.clone()) {
            ("sqlite", None) => None,
            ("sqlite", Some(_)) => {
                problems.push(
                    "key `store.url`: only used with backend = \"postgres\"; remove it, or set `store.backend = \"postgres\"`".to_owned(),
                );
                None
            }
            ("postgres", Some(url))
                if url.starts_with("postgres://") || url.starts_with("postgresql://") =>
            {
                Some(url)
            }
            ("postgres", Some(url)) => {
                problems.push(format!(
                    "key `store.url`: `{url}` is not a PostgreSQL URL; write it as postgresql://USER@HOST:PORT/DATABASE (a password can go in it, postgresql://USER:PASSWORD@HOST/DATABASE)"
                ));
                None
            }
            ("postgres", None) => {
                problems.push(
                    "key `store.url`: missing; backend = \"postgres\" needs the database's URL, e.g. url = \"postgresql://schoolwatch@db.example:5432/schoolwatch\"".to_owned(),
                );
                None
            }
            (other, _) => {
                problems.push(format!(
                    "key `store.backend`: `{other}` is not a store; allowed: \"sqlite\" (the default, one collector) or \"postgres\" (several collectors sharing a database)"
                ));
                None
            }
        };
        if !(8..=3650).contains(&raw.store.retention_days) {
            problems.push(format!(
                "key `store.retention_days`: {} is out of range; use 8 to 3650 (7-day availability and outage kinds need a week of reports)",
                raw.store.retention_days
            ));
        }
        let status = match crate::status::StatusConfig::from_raw(raw.status) {
            Ok(s) => s,
            Err(p) => {
                problems.extend(p);
                crate::status::StatusConfig::default()
            }
        };
        let remote_write = crate::remote_write::config::from_raw(raw.remote_write, base)
            .unwrap_or_else(|p| {
                problems.extend(p);
                Vec::new()
            });
        if !problems.is_empty() {
            return Err(fail(problems.join("; ")));
        }
        Ok(Config {
            status,
            remote_write,
            retention: Duration::from_secs(raw.store.retention_days * 86_400),
            listen: listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            transport,
            data_dir: base.join(raw.store.data_dir),
            postgres_url,
            online_window: Duration::from_secs(raw.fleet.online_window_secs),
            limits: IngestLimits {
                max_body_bytes: l.max_body_bytes,
                max_decompressed_bytes: l.max_decompressed_bytes,
                max_reports_per_batch: l.max_reports_per_batch,
                requests_per_minute: l.requests_per_minute,
                body_timeout: Duration::from_secs(l.body_timeout_secs.max(1)),
                header_timeout: Duration::from_secs(l.header_timeout_secs.max(1)),
            },
            targets,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    fleet: RawFleet,
    #[serde(default)]
    ingest: RawIngest,
    #[serde(default)]
    targets: RawTargets,
    #[serde(default)]
    status: crate::status::RawStatus,
    #[serde(default)]
    remote_write: Vec<crate::remote_write::RawEndpoint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default)]
    plain_http: bool,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            plain_http: false,
            tls_cert: None,
            tls_key: None,
            client_ca: None,
        }
    }
}

fn default_listen() -> String {
    "0.0.0.0:8443".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    #[serde(default = "default_backend")]
    backend: String,
    url: Option<String>,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(default = "default_retention_days")]
    retention_days: u64,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            backend: default_backend(),
            url: None,
            data_dir: default_data_dir(),
            retention_days: default_retention_days(),
        }
    }
}

fn default_backend() -> String {
    "sqlite".to_owned()
}

const fn default_retention_days() -> u64 {
    14
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/schoolwatch")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    #[serde(default = "default_online_window_secs")]
    online_window_secs: u64,
}

impl Default for RawFleet {
    fn default() -> Self {
        Self {
            online_window_secs: default_online_window_secs(),
        }
    }
}

/// Five minutes: five missed one-minute reports before a school is called
/// offline, so one lost 4G packet burst does not page anyone.
const fn default_online_window_secs() -> u64 {
    300
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIngest {
    #[serde(default = "d_body")]
    max_body_bytes: usize,
    #[serde(default = "d_decompressed")]
    max_decompressed_bytes: usize,
    #[serde(default = "d_batch")]
    max_reports_per_batch: usize,
    #[serde(default = "d_rpm")]
    requests_per_minute: u32,
    #[serde(default = "d_body_timeout")]
    body_timeout_secs: u64,
    #[serde(default = "d_header_timeout")]
    header_timeout_secs: u64,
}

impl Default for RawIngest {
    fn default() -> Self {
        Self {
            max_body_bytes: d_body(),
            max_decompressed_bytes: d_decompressed(),
            max_reports_per_batch: d_batch(),
            requests_per_minute: d_rpm(),
            body_timeout_secs: d_body_timeout(),
            header_timeout_secs: d_header_timeout(),
        }
    }
}

fn d_body() -> usize {
    IngestLimits::default().max_body_bytes
}
fn d_decompressed() -> usize {
    IngestLimits::default().max_decompressed_bytes
}
fn d_batch() -> usize {
    IngestLimits::default().max_reports_per_batch
}
fn d_rpm() -> u32 {
    IngestLimits::default().requests_per_minute
}
fn d_body_timeout() -> u64 {
    IngestLimits::default().body_timeout.as_secs()
}
fn d_header_timeout() -> u64 {
    IngestLimits::default().header_timeout.as_secs()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargets {
    file: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::from_toml_str(text, Path::new("/etc/schoolwatch/collector.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn shipped_example_parses() {
        let text = include_str!("../../config/collector.toml");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/collector.toml");
        let c = Config::from_toml_str(text, &dir).unwrap();
        assert!(matches!(c.transport, Transport::Tls { .. }));
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let c = parse("[server]\nlisten = \"127.0.0.1:8088\"\nplain_http = true\n").unwrap();
        assert_eq!(c.transport, Transport::Plain);
        let e = parse("[server]\nlisten = \"0.0.0.0:8088\"\nplain_http = true\n").unwrap_err();
        assert!(e.contains("key `server.plain_http`"), "{e}");
    }

    #[test]
    fn tls_needs_both_files() {
        let e = parse("[server]\ntls_cert = \"c.pem\"\n").unwrap_err();
        assert!(e.contains("server.tls_key"), "{e}");
    }

    #[test]
    fn retention_is_at_least_a_week_and_a_day() {
        let base = "[server]\nlisten = \"127.0.0.1:8088\"\nplain_http = true\n[store]\n";
        let c = parse(&format!("{base}retention_days = 8\n")).unwrap();
        assert_eq!(c.retention, Duration::from_secs(8 * 86_400));
        let e = parse(&format!("{base}retention_days = 7\n")).unwrap_err();
        assert!(
            e.contains("key `store.retention_days`") && e.contains("8 to 3650"),
            "{e}"
        );
    }

    #[test]
    fn status_page_is_off_without_users_and_checks_hashes() {
        let base = "[server]\nlisten = \"127.0.0.1:8088\"\nplain_http = true\n";
        assert!(!parse(base).unwrap().status.is_on());
        let e = parse(&format!(
            "{base}[[status.users]]\nname = \"so\"\npassword_hash = \"hunter2\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("key `status.users[0].password_hash`"), "{e}");
        let e = parse(&format!("{base}[status]\nuser = []\n")).unwrap_err();
        assert!(e.contains("key `status.user`"), "{e}");
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let e = parse("[fleet]\nonline_window = 5\n").unwrap_err();
        assert!(
            e.starts_with("/etc/schoolwatch/collector.toml: key `fleet.online_window`"),
            "{e}"
        );
    }
}
