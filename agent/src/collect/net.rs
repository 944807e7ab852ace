//! Network interfaces: what they are (inventory) and what they carry
//! (counters, turned into bits per second).
//!
//! Counters come from sysinfo, drops from sysfs (sysinfo has none). Rates
//! are the change in the kernel's cumulative counters divided by the
//! monotonic time between two reads, so a slow or late tick does not distort
//! them. A counter that goes backwards means the interface was re-created
//! (or a 32-bit counter wrapped): the new value is then the whole delta.

use super::sysfs;
use crate::config::{InterfacePattern, excluded};
use schoolwatch_protocol::{InterfaceInfo, InterfaceSample};
use std::collections::HashMap;
use std::time::Instant;
use sysinfo::Networks;

/// Keeps sysinfo's interface list and the previous counters.
pub struct NetSource {
    networks: Networks,
    exclude: Vec<InterfacePattern>,
    /// Counters at the previous read, by interface name, for the deltas.
    previous: HashMap<String, Counters>,
    /// When the previous read happened; rates are over the time since.
    previous_at: Instant,
}

/// One read of an interface's cumulative counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
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
}

impl NetSource {
    /// Reads the interfaces once, as the baseline for the first rates.
    pub fn new(exclude: Vec<InterfacePattern>) -> Result<Self, sysinfo::Error> {
        let mut s = Self {
            networks: Networks::new_with_refreshed_list()?,
            exclude,
            previous: HashMap::new(),
            previous_at: Instant::now(),
        };
        s.previous = s.read();
        Ok(s)
    }

    /// Interfaces with their addresses, MAC, speed and state, by name.
    pub fn inventory(&mut self) -> Vec<InterfaceInfo> {
        self.networks.refresh(true);
        let mut out: Vec<InterfaceInfo> = self
            .networks
            .iter()
            .filter_map(|(name, data)| Some((name.to_str()?, data)))
            .filter(|(name, _)| !excluded(&self.exclude, name))
            .map(|(name, data)| {
                let mac = data.mac_address();
                let mut addresses: Vec<String> = data
                    .ip_networks()
                    .iter()
                    .map(|n| format!("{}/{}", n.addr, n.prefix))
                    .collect();
                addresses.sort();
                InterfaceInfo {
                    name: name.to_owned(),
                    // sysinfo reports 00:00:00:00:00:00 for "no address".
                    mac: (mac.0 != [0; 6]).then(|| mac.to_string()),
                    addresses,
                    speed_mbps: sysfs::link_speed_mbps(name),
                    up: sysfs::is_up(name),
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Counters now and the rates since the previous call; returns the
    /// interval in milliseconds and one entry per interface.
    pub fn sample(&mut self) -> (u64, Vec<InterfaceSample>) {
        let now_counters = self.read();
        let now = Instant::now();
        let elapsed = now.duration_since(self.previous_at);
        let secs = elapsed.as_secs_f64();
        let mut out: Vec<InterfaceSample> = now_counters
            .iter()
            .map(|(name, c)| {
                let prev = self.previous.get(name).copied();
                let rate = |now: u64, before: Option<u64>| -> f64 {
                    match before {
                        // No baseline for a new interface: no rate yet.
                        None => 0.0,
                        Some(_) if secs <= 0.0 => 0.0,
                        Some(b) => delta(b, now) as f64 * 8.0 / secs,
                    }
                };
                InterfaceSample {
                    name: name.clone(),
                    rx_bytes: c.rx_bytes,
                    tx_bytes: c.tx_bytes,
                    rx_packets: c.rx_packets,
                    tx_packets: c.tx_packets,
                    rx_errors: c.rx_errors,
                    tx_errors: c.tx_errors,
                    rx_dropped: c.rx_dropped,
                    tx_dropped: c.tx_dropped,
                    rx_bits_per_second: rate(c.rx_bytes, prev.map(|p| p.rx_bytes)),
                    tx_bits_per_second: rate(c.tx_bytes, prev.map(|p| p.tx_bytes)),
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        self.previous = now_counters;
        self.previous_at = now;
        (u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX), out)
    }

    fn read(&mut self) -> HashMap<String, Counters> {
        // `true`: forget interfaces that disappeared (USB modems come and go).
        self.networks.refresh(true);
        self.networks
            .iter()
            // Linux interface names are ASCII; a non-UTF-8 one is skipped.
            .filter_map(|(name, data)| Some((name.to_str()?, data)))
            .filter(|(name, _)| !excluded(&self.exclude, name))
            .map(|(name, d)| {
                let c = Counters {
                    rx_bytes: d.total_received(),
                    tx_bytes: d.total_transmitted(),
                    rx_packets: d.total_packets_received(),
                    tx_packets: d.total_packets_transmitted(),
                    rx_errors: d.total_errors_on_received(),
                    tx_errors: d.total_errors_on_transmitted(),
                    rx_dropped: sysfs::counter(name, "rx_dropped").unwrap_or(0),
                    tx_dropped: sysfs::counter(name, "tx_dropped").unwrap_or(0),
                };
                (name.to_owned(), c)
            })
            .collect()
    }
}

/// The increase of a cumulative counter; a decrease means it restarted from
/// zero (interface re-created, driver reset), so the new value is the delta.
pub fn delta(before: u64, now: u64) -> u64 {
    if now >= before { now - before } else { now }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_is_plain_difference_when_counter_grows() {
        assert_eq!(delta(100, 350), 250);
        assert_eq!(delta(7, 7), 0);
    }

    #[test]
    fn delta_after_reset_counts_from_zero() {
        assert_eq!(delta(1_000_000, 500), 500);
    }
}
