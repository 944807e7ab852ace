//! The interval sample section: what the machine did.

use serde::{Deserialize, Serialize};

/// Measurements over one sampling interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// Length of the interval the rates are computed over, milliseconds.
    pub interval_ms: u64,
    /// Share of CPU time busy over the interval, 0.0 to 1.0.
    pub cpu_usage_ratio: f64,
    /// Memory in use (total minus available), bytes.
    pub memory_used_bytes: u64,
    /// Memory available for new work without swapping, bytes.
    pub memory_available_bytes: u64,
    /// Swap in use, bytes.
    pub swap_used_bytes: u64,
    /// Load averages over 1, 5 and 15 minutes (zero where the OS has none).
    pub load: [f64; 3],
    /// Per-interface counters and rates.
    pub interfaces: Vec<InterfaceSample>,
}

/// Cumulative counters of one interface at the end of the interval, and the
/// rates derived from the change since the previous sample.
///
/// Counters are sent as totals (not deltas) so that the collector can derive
/// rates across lost or late reports, like Prometheus does with `rate()`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceSample {
    /// Interface name.
    pub name: String,
    /// Bytes received since the interface appeared.
    pub rx_bytes: u64,
    /// Bytes sent since the interface appeared.
    pub tx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Transmit packets dropped.
    pub tx_dropped: u64,
    /// Receive rate over the interval, bits per second.
    pub rx_bits_per_second: f64,
    /// Transmit rate over the interval, bits per second.
    pub tx_bits_per_second: f64,
}
