//! The wire contract shared by the schoolwatch agent and collector.
//!
//! A [`Report`] is what one agent sends for one sampling interval: who sent it
//! (agent id and a per-agent sequence number), when it was sampled, and its
//! sections (the host [`Inventory`] and the interval [`Sample`]). Reports are
//! JSON on the wire; [`decode_report`] is the only way the collector turns
//! untrusted bytes into a `Report`, and it enforces the [`Limits`] so that a
//! hostile or broken agent cannot make the collector store unbounded data.
//!
//! No I/O lives here: the crate is pure types, encoding and validation.
//!
//! ```
//! use schoolwatch_protocol::{Report, decode_report, SCHEMA_VERSION};
//!
//! let report = Report::new("agent-1".into(), 7, 1_700_000_000_000);
//! let bytes = serde_json::to_vec(&report).unwrap();
//! let back = decode_report(&bytes).unwrap();
//! assert_eq!(back, report);
//! assert_eq!(back.version, SCHEMA_VERSION);
//! ```
#![deny(missing_docs)]

pub mod api;
mod decode;
mod device;
mod inventory;
mod limits;
mod link;
mod probe;
mod sample;
mod security;
mod throughput;

pub use decode::{Batch, DecodeError, decode_batch, decode_report, decode_report_with};
pub use device::{
    Device, DeviceInterface, DeviceKind, Devices, PrinterSupply, SnmpData, UpsStatus,
};
pub use inventory::{DiskInfo, DiskKind, Dmi, InterfaceInfo, Inventory, Role};
pub use limits::{LimitError, Limits};
pub use link::{EnrollLink, LinkError};
pub use probe::{ProbeKind, ProbeResult};
pub use sample::{InterfaceSample, Sample};
pub use security::{Check, CheckStatus, ListeningSocket, Security, Severity, SocketProtocol};
pub use throughput::Throughput;

use serde::{Deserialize, Serialize};

/// The report schema this build writes and the newest one it can read.
///
/// Bump it whenever a field is added, removed or changes meaning: decoding is
/// strict (unknown fields are refused), so an older collector refuses a newer
/// agent's report with [`DecodeError::UnsupportedVersion`] instead of
/// silently misreading it.
pub const SCHEMA_VERSION: u32 = 1;

/// One agent's report for one sampling interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Schema version of this report; see [`SCHEMA_VERSION`].
    pub version: u32,
    /// The agent id issued at enrollment (empty before enrollment).
    pub agent_id: String,
    /// Per-agent sequence number, strictly increasing from 1; the collector
    /// de-duplicates on (agent id, sequence).
    pub sequence: u64,
    /// When the sample was taken, milliseconds since the Unix epoch.
    pub sampled_at_ms: u64,
    /// The host picture, sent whole when it changed (or on first report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Inventory>,
    /// The interval measurements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<Sample>,
    /// ICMP probes of the interval (gateway, DNS servers, the collector,
    /// configured targets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeResult>,
    /// A throughput test, when one ran since the previous report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<Throughput>,
    /// The agent's own health: its queue and what it had to drop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<AgentHealth>,
    /// Posture checks and listening sockets, on the agent's slow schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    /// Network devices found and polled on the school's LAN (server role,
    /// slow schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Devices>,
    /// Sources that failed this interval; the other sections still ship.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<SourceError>,
}

impl Report {
    /// An empty report of the current schema version.
    pub fn new(agent_id: String, sequence: u64, sampled_at_ms: u64) -> Self {
        Self {
            version: SCHEMA_VERSION,
            agent_id,
            sequence,
            sampled_at_ms,
            inventory: None,
            sample: None,
            probes: Vec::new(),
            throughput: None,
            health: None,
            security: None,
            devices: None,
            errors: Vec::new(),
        }
    }
}

/// The agent's own health when it made a report. Counters are totals since
/// the agent's queue was created, so the collector can tell, for every
/// host, that accepted reports + dropped reports = the last sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentHealth {
    /// Reports waiting in the queue for acknowledgement.
    pub queue_reports: u64,
    /// Bytes of the queue's files.
    pub queue_bytes: u64,
    /// Age of the oldest waiting report, seconds.
    pub queue_oldest_age_seconds: u64,
    /// Reports dropped because the queue reached its size bound.
    pub dropped_queue_full: u64,
    /// Reports that could not be written to disk (disk full or failing).
    pub dropped_disk_full: u64,
    /// Reports lost to damage in the queue files.
    pub dropped_corrupt: u64,
    /// Reports the collector refused for good.
    pub dropped_rejected: u64,
    /// Sends that failed and were retried.
    pub send_failures: u64,
}

impl AgentHealth {
    /// All dropped reports, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_disk_full
            + self.dropped_corrupt
            + self.dropped_rejected
    }
}

/// A source (collector module) that failed during one interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceError {
    /// Which source failed, e.g. `system` or `net`.
    pub source: String,
    /// What went wrong, for people.
    pub message: String,
}
