//! A measured throughput test against the collector.

use serde::{Deserialize, Serialize};

/// One download and upload measurement between the agent and the
/// collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throughput {
    /// When the test ran, milliseconds since the Unix epoch.
    pub measured_at_ms: u64,
    /// Bytes downloaded.
    pub download_bytes: u64,
    /// Download rate, bytes per second.
    pub download_bytes_per_second: f64,
    /// Bytes uploaded.
    pub upload_bytes: u64,
    /// Upload rate, bytes per second.
    pub upload_bytes_per_second: f64,
}
