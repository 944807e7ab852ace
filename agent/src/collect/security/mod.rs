//! Posture checks: is this machine safe? Firewall, endpoint protection,
//! updates, SSH, accounts, disk encryption, time, and what listens on the
//! network.
//!
//! The checks are read-only: they read files (through a [`Root`], so that
//! `check --root DIR` evaluates a prepared tree) and, on the live machine
//! only, ask the kernel for its firewall rules with `nft`/`iptables-save`.
//! They never change the machine, and their evidence never carries a
//! secret: account names but not password hashes, file names but not keys.
//!
//! Each check runs on its own thread with a time bound
//! ([`CHECK_TIMEOUT`]), and all of them within [`TOTAL_BUDGET`]; one that
//! overruns is reported `unknown` and the others still run. The `run`
//! command adds the section on a slow schedule ([`Schedule`]).
//!
//! The platform code lives in `linux` (Linux) and `other` (every other
//! platform, which reports each check `unknown` for now).
//!
//! | id | severity | passes when | reads |
//! |---|---|---|---|
//! | `firewall_active` | high | an input-hook filter chain has rules or a drop policy | live: `nft -j list ruleset`, `iptables-save`; tree (or live without those tools): `/etc/nftables.conf` + enabled `nftables.service`, `/etc/ufw/ufw.conf` `ENABLED=yes`, `/etc/firewalld/firewalld.conf` + enabled `firewalld.service`, `/etc/iptables/rules.v{4,6}` |
//! | `endpoint_protection_running` | high | a known antivirus process runs (and ClamAV signatures are at most 7 days old) | `/proc/*/comm`, `/var/lib/clamav/daily.c{v,l}d` mtime |
//! | `os_updates_pending` | medium | no installed package has a newer version in the apt lists | `/var/lib/dpkg/status`, `/var/lib/apt/lists/*_Packages[.gz]`; else `/var/lib/update-notifier/updates-available` |
//! | `security_updates_pending` | high | same, counting lists of `*security*` suites | same |
//! | `days_since_last_update` | medium | a package upgrade within 30 days | `/var/log/apt/history.log[.N.gz]`; else `/var/lib/dpkg/status` mtime |
//! | `reboot_required` | low | no reboot flag and the newest kernel runs | `/run/reboot-required`, `/proc/sys/kernel/osrelease`, `/boot/vmlinuz-*` |
//! | `automatic_updates_enabled` | medium | `APT::Periodic::Unattended-Upgrade` > 0 and unattended-upgrades installed | `/etc/apt/apt.conf.d/*`, `/etc/apt/apt.conf`, `/var/lib/dpkg/status` |
//! | `ssh_root_login` | high | `PermitRootLogin` is not `yes` (or no sshd) | `/etc/ssh/sshd_config` and its `Include`s |
//! | `ssh_password_authentication` | medium | `PasswordAuthentication no` (or no sshd) | same |
//! | `listening_ports` | medium | no clear-text login service (ftp, telnet, tftp, r-services) listens beyond loopback; the sockets themselves go to [`Security::listening`] | `/proc/net/{tcp,tcp6,udp,udp6}`, `/proc/*/fd` |
//! | `empty_password_accounts` | critical | no account has an empty password | `/etc/shadow`, `/etc/passwd` |
//! | `extra_uid0_accounts` | critical | only `root` has UID 0 | `/etc/passwd` |
//! | `disk_encryption` | medium | a dm-crypt volume is active or configured | `/sys/block/dm-*/dm/uuid`, `/etc/crypttab` |
//! | `time_sync_active` | low | a time daemon runs or timesyncd synchronized | `/proc/*/comm`, `/run/systemd/timesync/synchronized` |

mod root;
pub use root::Root;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as imp;
#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
use other as imp;

use schoolwatch_protocol::{
    Check, CheckStatus, ListeningSocket, Security, Severity, SocketProtocol,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

// === check ids ===

/// Host firewall filters incoming traffic.
pub const FIREWALL_ACTIVE: &str = "firewall_active";
/// An antivirus / endpoint protection process runs.
pub const ENDPOINT_PROTECTION_RUNNING: &str = "endpoint_protection_running";
/// Package updates are waiting.
pub const OS_UPDATES_PENDING: &str = "os_updates_pending";
/// Security updates are waiting.
pub const SECURITY_UPDATES_PENDING: &str = "security_updates_pending";
/// Time since packages were last upgraded.
pub const DAYS_SINCE_LAST_UPDATE: &str = "days_since_last_update";
/// An update asks for a reboot.
pub const REBOOT_REQUIRED: &str = "reboot_required";
/// Updates install themselves.
pub const AUTOMATIC_UPDATES_ENABLED: &str = "automatic_updates_enabled";
/// SSH lets root log in with a password.
pub const SSH_ROOT_LOGIN: &str = "ssh_root_login";
/// SSH accepts passwords.
pub const SSH_PASSWORD_AUTHENTICATION: &str = "ssh_password_authentication";
/// Clear-text login services listening beyond loopback (every listening
/// socket is in [`Security::listening`]).
pub const LISTENING_PORTS: &str = "listening_ports";
/// Accounts anyone can log into without a password.
pub const EMPTY_PASSWORD_ACCOUNTS: &str = "empty_password_accounts";
/// Accounts other than root with UID 0.
pub const EXTRA_UID0_ACCOUNTS: &str = "extra_uid0_accounts";
/// An encrypted volume is present.
pub const DISK_ENCRYPTION: &str = "disk_encryption";
/// The clock is kept synchronised.
pub const TIME_SYNC_ACTIVE: &str = "time_sync_active";

/// Every check in report order, with its severity.
pub const CHECKS: &[(&str, Severity)] = &[
    (FIREWALL_ACTIVE, Severity::High),
    (ENDPOINT_PROTECTION_RUNNING, Severity::High),
    (OS_UPDATES_PENDING, Severity::Medium),
    (SECURITY_UPDATES_PENDING, Severity::High),
    (DAYS_SINCE_LAST_UPDATE, Severity::Medium),
    (REBOOT_REQUIRED, Severity::Low),
    (AUTOMATIC_UPDATES_ENABLED, Severity::Medium),
    (SSH_ROOT_LOGIN, Severity::High),
    (SSH_PASSWORD_AUTHENTICATION, Severity::Medium),
    (LISTENING_PORTS, Severity::Medium),
    (EMPTY_PASSWORD_ACCOUNTS, Severity::Critical),
    (EXTRA_UID0_ACCOUNTS, Severity::Critical),
    (DISK_ENCRYPTION, Severity::Medium),
    (TIME_SYNC_ACTIVE, Severity::Low),
];

/// Longest time one check may take before it is reported `unknown`.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest time all checks together may take; checks left over are
/// reported `unknown`.
pub const TOTAL_BUDGET: Duration = Duration::from_secs(90);
/// Most listening sockets reported (the protocol's limit).
pub const MAX_LISTENING: usize = schoolwatch_protocol::Limits::DEFAULT.max_listening;
/// Longest evidence or reason, bytes: short, and well inside the
/// protocol's string limit.
const MAX_TEXT_BYTES: usize = 160;

/// What the checks need besides the files.
#[derive(Debug, Clone)]
pub struct Options {
    /// Process names counted as endpoint protection beyond the built-in ones.
    pub endpoint_processes: Vec<String>,
    /// Bound on each check.
    pub check_timeout: Duration,
    /// Bound on all checks together.
    pub total_budget: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            endpoint_processes: Vec::new(),
            check_timeout: CHECK_TIMEOUT,
            total_budget: TOTAL_BUDGET,
        }
    }
}

impl Options {
    /// The options of the agent's `[security]` config.
    pub fn from_config(config: &crate::config::SecurityConfig) -> Self {
        Self {
            endpoint_processes: config.endpoint_processes.clone(),
            ..Self::default()
        }
    }
}

/// One check's outcome before it gets its id and severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub status: CheckStatus,
    pub evidence: String,
    pub reason: Option<String>,
}

impl Finding {
    pub fn pass(evidence: impl Into<String>) -> Self {
        Self {
            status: CheckStatus::Pass,
            evidence: evidence.into(),
            reason: None,
        }
    }

    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub fn fail(evidence: impl Into<String>) -> Self {
        Self {
            status: CheckStatus::Fail,
            evidence: evidence.into(),
            reason: None,
        }
    }

    pub fn unknown(reason: impl Into<String>) -> Self {
        Self {
            status: CheckStatus::Unknown,
            evidence: String::new(),
            reason: Some(reason.into()),
        }
    }

    fn into_check(self, id: &str, severity: Severity) -> Check {
        Check {
            id: id.to_owned(),
            status: self.status,
            severity,
            evidence: short(&self.evidence),
            reason: self.reason.as_deref().map(short),
        }
    }
}

/// What the checks share: the tree, the options, and what more than one
/// check reads (the process list) computed once.
pub(crate) struct Ctx {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub root: Root,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub endpoint_processes: Vec<String>,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub cache: imp::Cache,
}

/// Runs every check against `root`.
pub fn run(root: Root, options: &Options) -> Security {
    let ctx = Arc::new(Ctx {
        root,
        endpoint_processes: options.endpoint_processes.clone(),
        cache: imp::Cache::default(),
    });
    let start = Instant::now();
    let mut checks = Vec::with_capacity(CHECKS.len());
    let mut listening = Vec::new();
    for &(id, severity) in CHECKS {
        let left = options.total_budget.saturating_sub(start.elapsed());
        let limit = options.check_timeout.min(left);
        let finding = if limit.is_zero() {
            Finding::unknown("skipped: the checks used up their time budget")
        } else if id == LISTENING_PORTS {
            let c = Arc::clone(&ctx);
            match bounded(limit, move || imp::listening(&c)) {
                Ok(Ok(mut sockets)) => {
                    let finding = listening_summary(&sockets);
                    sockets.truncate(MAX_LISTENING);
                    listening = sockets;
                    finding
                }
                Ok(Err(reason)) | Err(reason) => Finding::unknown(reason),
            }
        } else {
            let c = Arc::clone(&ctx);
            bounded(limit, move || imp::evaluate(id, &c)).unwrap_or_else(Finding::unknown)
        };
        checks.push(finding.into_check(id, severity));
    }
    Security { checks, listening }
}

/// Runs `f` on its own thread and waits at most `limit` for it. A check
/// that overruns is left to finish in the background (threads cannot be
/// stopped from outside); its result is dropped.
fn bounded<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("sw-check".to_owned())
        .spawn(move || {
            // The receiver is gone only when we stopped waiting.
            let _ = tx.send(f());
        })
        .map_err(|e| format!("could not start the check: {e}"))?;
    rx.recv_timeout(limit).map_err(|e| match e {
        std::sync::mpsc::RecvTimeoutError::Timeout => {
            format!("did not finish within {} s", limit.as_secs_f32())
        }
        std::sync::mpsc::RecvTimeoutError::Disconnected => {
            "the check failed unexpectedly".to_owned()
        }
    })
}

/// Services that send passwords in clear text: listening beyond loopback,
/// they fail `listening_ports`.
const CLEARTEXT_SERVICES: &[(SocketProtocol, u16, &str)] = &[
    (SocketProtocol::Tcp, 21, "ftp"),
    (SocketProtocol::Tcp, 23, "telnet"),
    (SocketProtocol::Udp, 69, "tftp"),
    (SocketProtocol::Tcp, 512, "rexec"),
    (SocketProtocol::Tcp, 513, "rlogin"),
    (SocketProtocol::Tcp, 514, "rsh"),
];

/// The `listening_ports` finding: clear-text services exposed fail it;
/// the evidence counts sockets and names the ports open beyond loopback
/// with their processes.
fn listening_summary(sockets: &[ListeningSocket]) -> Finding {
    let loopback = |a: &str| {
        a.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    };
    let exposed: Vec<&ListeningSocket> = sockets.iter().filter(|s| !loopback(&s.address)).collect();
    let mut cleartext: Vec<String> = exposed
        .iter()
        .filter_map(|s| {
            CLEARTEXT_SERVICES
                .iter()
                .find(|(p, port, _)| *p == s.protocol && *port == s.port)
                .map(|(_, port, name)| format!("{name} ({}/{port})", s.protocol))
        })
        .collect();
    cleartext.dedup();
    if !cleartext.is_empty() {
        return Finding::fail(format!(
            "clear-text login service listening beyond loopback: {}",
            names(&cleartext, 4)
        ));
    }
    let mut open: Vec<String> = exposed
        .iter()
        .map(|s| {
            format!(
                "{}/{}{}",
                s.protocol,
                s.port,
                s.process
                    .as_deref()
                    .map_or_else(String::new, |p| format!(" ({p})"))
            )
        })
        .collect();
    open.dedup();
    let tcp = sockets
        .iter()
        .filter(|s| s.protocol == SocketProtocol::Tcp)
        .count();
    let mut evidence = format!(
        "{} listening ({tcp} tcp, {} udp)",
        sockets.len(),
        sockets.len() - tcp
    );
    if sockets.len() > MAX_LISTENING {
        evidence.push_str(&format!(", first {MAX_LISTENING} reported"));
    }
    if open.is_empty() {
        evidence.push_str("; loopback only");
    } else {
        evidence.push_str(&format!("; beyond loopback: {}", open.join(", ")));
    }
    Finding::pass(evidence)
}

/// `text` cut to [`MAX_TEXT_BYTES`] on a character boundary, with `…`
/// when cut.
fn short(text: &str) -> String {
    if text.len() <= MAX_TEXT_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_TEXT_BYTES - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Names for evidence: `a, b, c` and `+N more` past `max`.
fn names<S: AsRef<str>>(items: &[S], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        s.push_str(&format!(" +{} more", items.len() - max));
    }
    s
}

// === impl Schedule ===

/// When `run` adds the security section: with the first report after the
/// start, then once per interval.
pub struct Schedule {
    interval: Duration,
    options: Options,
    next: Option<Instant>,
}

impl Schedule {
    /// A schedule from the agent's `[security]` config.
    pub fn new(config: &crate::config::SecurityConfig) -> Self {
        Self {
            interval: config.interval,
            options: Options::from_config(config),
            next: None,
        }
    }

    /// The security section of the live machine when it is due, else
    /// `None`.
    pub fn due(&mut self) -> Option<Security> {
        let now = Instant::now();
        if self.next.is_some_and(|next| now < next) {
            return None;
        }
        self.next = Some(now + self.interval);
        let security = run(Root::live(), &self.options);
        tracing::debug!(
            took_ms = now.elapsed().as_millis() as u64,
            failed = security
                .checks
                .iter()
                .filter(|c| c.status == CheckStatus::Fail)
                .count(),
            "Security checks ran."
        );
        Some(security)
    }
}

/// Runs the checks on their schedule on a blocking thread, so that a slow
/// check never delays a report; each completed run rides the next report.
pub struct Background {
    latest: std::sync::Arc<std::sync::Mutex<Option<Security>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Background {
    /// Starts checking now, then every `[security] interval_secs`.
    pub fn start(config: &crate::config::SecurityConfig) -> Self {
        let latest = std::sync::Arc::new(std::sync::Mutex::new(None));
        let out = latest.clone();
        let mut schedule = Schedule::new(config);
        let interval = config.interval;
        let task = tokio::spawn(async move {
            loop {
                let result = tokio::task::spawn_blocking(move || {
                    let r = schedule.due();
                    (schedule, r)
                })
                .await;
                let Ok((s, r)) = result else { return };
                schedule = s;
                if let Some(r) = r {
                    *out.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(r);
                }
                tokio::time::sleep(interval).await;
            }
        });
        Self { latest, task }
    }

    /// The newest completed run, once.
    pub fn take(&self) -> Option<Security> {
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // A run in progress finishes on its thread; its result is dropped.
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_snake_case_and_fit_the_protocol() {
        let mut seen = std::collections::HashSet::new();
        for (id, _) in CHECKS {
            assert!(seen.insert(*id), "{id} twice");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{id}"
            );
        }
        assert!(CHECKS.len() <= schoolwatch_protocol::Limits::DEFAULT.max_checks);
    }

    #[test]
    fn evidence_is_cut_on_a_character_boundary() {
        let long = "ă".repeat(200);
        let s = short(&long);
        assert!(s.len() <= MAX_TEXT_BYTES, "{}", s.len());
        assert!(s.ends_with('…'));
        assert_eq!(short("ok"), "ok");
    }

    #[test]
    fn a_check_over_its_time_is_unknown() {
        let r = bounded(Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_secs(2));
            1
        });
        assert!(r.unwrap_err().contains("did not finish"));
        assert_eq!(bounded(Duration::from_secs(5), || 7).unwrap(), 7);
    }

    #[test]
    fn every_check_reports_once_and_the_report_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let s = run(Root::new(dir.path()).unwrap(), &Options::default());
        let ids: Vec<&str> = s.checks.iter().map(|c| c.id.as_str()).collect();
        let expected: Vec<&str> = CHECKS.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, expected);
        let mut r = schoolwatch_protocol::Report::new("a".into(), 1, 1);
        r.security = Some(s);
        schoolwatch_protocol::decode_report(&serde_json::to_vec(&r).unwrap()).unwrap();
    }

    #[test]
    fn schedule_runs_first_then_waits() {
        let mut s = Schedule::new(&crate::config::SecurityConfig {
            interval: Duration::from_secs(3600),
            endpoint_processes: Vec::new(),
        });
        // Only the timing is under test; keep the live checks quick.
        s.options.check_timeout = Duration::from_secs(5);
        assert!(s.due().is_some());
        assert!(s.due().is_none());
    }

    #[test]
    fn cleartext_services_beyond_loopback_fail() {
        use SocketProtocol::{Tcp, Udp};
        let s = |protocol, address: &str, port| ListeningSocket {
            protocol,
            address: address.into(),
            port,
            process: Some("inetd".into()),
        };
        let local = listening_summary(&[s(Tcp, "127.0.0.1", 23), s(Tcp, "::1", 21)]);
        assert_eq!(local.status, CheckStatus::Pass, "{local:?}");
        assert!(local.evidence.contains("loopback only"), "{local:?}");
        let f = listening_summary(&[s(Tcp, "0.0.0.0", 23), s(Tcp, "::", 23)]);
        assert_eq!(f.status, CheckStatus::Fail);
        assert_eq!(
            f.evidence,
            "clear-text login service listening beyond loopback: telnet (tcp/23)"
        );
        assert_eq!(
            listening_summary(&[s(Udp, "0.0.0.0", 69)]).status,
            CheckStatus::Fail
        );
        let ok = listening_summary(&[s(Tcp, "0.0.0.0", 69), s(Tcp, "0.0.0.0", 22)]);
        assert_eq!(ok.status, CheckStatus::Pass);
        assert!(ok.evidence.contains("tcp/22 (inetd)"), "{ok:?}");
    }

    #[test]
    fn names_are_capped() {
        assert_eq!(names(&["a", "b", "c"], 2), "a, b +1 more");
        assert_eq!(names(&["a"], 2), "a");
    }
}
