//! The security section: the machine's posture checks and what listens on
//! its network ports.
//!
//! Every check has a stable snake_case id (`firewall_active`,
//! `ssh_root_login`, ...), a [`CheckStatus`], a [`Severity`] for ranking
//! failures, and a short piece of evidence for people. Evidence never holds
//! secrets: account names, never password hashes; file names, never keys.

use serde::{Deserialize, Serialize};

/// The posture of one machine when the checks last ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    /// One result per check, each id at most once.
    pub checks: Vec<Check>,
    /// Sockets listening for connections (TCP) or datagrams (UDP).
    #[serde(default)]
    pub listening: Vec<ListeningSocket>,
}

/// The result of one posture check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Stable id in snake_case, e.g. `firewall_active`.
    pub id: String,
    /// Whether the machine meets the check.
    pub status: CheckStatus,
    /// How much a failure matters.
    pub severity: Severity,
    /// What was seen, short and for people; never a secret.
    pub evidence: String,
    /// Why the status is [`CheckStatus::Unknown`], e.g. a file that could
    /// not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// The machine meets the check.
    Pass,
    /// The machine does not meet the check.
    Fail,
    /// The check could not tell; [`Check::reason`] says why.
    Unknown,
}

/// How much a failed check matters, most serious first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Anyone can get in now (e.g. an account without a password).
    Critical,
    /// A main line of defence is missing (firewall, antivirus).
    High,
    /// Weakens the machine over time (updates, password logins).
    Medium,
    /// Worth fixing when convenient.
    Low,
    /// Information, not a weakness by itself.
    Info,
}

/// A socket waiting for traffic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListeningSocket {
    /// TCP or UDP.
    pub protocol: SocketProtocol,
    /// Local address, e.g. `0.0.0.0`, `127.0.0.1` or `::`.
    pub address: String,
    /// Local port.
    pub port: u16,
    /// Name of the process that owns the socket, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
}

/// Transport protocol of a [`ListeningSocket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketProtocol {
    /// TCP, in the LISTEN state.
    Tcp,
    /// UDP, bound and not connected.
    Udp,
}

impl std::fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "fail",
            CheckStatus::Unknown => "unknown",
        })
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        })
    }
}

impl std::fmt::Display for SocketProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SocketProtocol::Tcp => "tcp",
            SocketProtocol::Udp => "udp",
        })
    }
}
