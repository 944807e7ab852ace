//! The agent's sources, one module per source; each fills its section of a
//! report.
//!
//! - [`system`]: host inventory (OS, CPU, memory, disks, firmware) and the
//!   CPU/memory/load part of a sample.
//! - [`net`]: network interfaces and their counters, turned into rates.
//! - `sysfs`: the Linux files sysinfo does not read (DMI, link speed, drops).
//! - [`security`]: posture checks (firewall, antivirus, updates, SSH, ...)
//!   and listening sockets, on a slow schedule.
//! - [`snmp`]: SNMP polling of switches, routers, UPS units and printers
//!   (system group, interfaces and their rates, chassis, battery, supplies).
//! - [`discovery`]: devices without an agent on the school's subnets (ICMP
//!   sweep, neighbour table, SNMP probe, vendor, kind).
//! - [`devices`]: both on their own schedule, one picture per round for
//!   the report's devices section.

pub mod devices;
pub mod discovery;
pub mod icmp;
pub mod net;
pub mod security;
pub mod snmp;
mod sysfs;
pub mod system;
pub mod throughput;

use crate::config::Config;
use schoolwatch_protocol::{Inventory, Sample, SourceError};

/// The stateful sources: rates need the previous counters, and sysinfo
/// keeps its buffers between refreshes so sampling stays cheap.
pub struct Sources {
    system: system::SystemSource,
    net: net::NetSource,
    config: Config,
}

impl Sources {
    /// Prepares the sources and takes the baseline for the first rates.
    pub fn new(config: Config) -> Result<Self, sysinfo::Error> {
        Ok(Self {
            system: system::SystemSource::new()?,
            net: net::NetSource::new(config.exclude_interfaces.clone())?,
            config,
        })
    }

    /// The host picture now, and what could not be read.
    pub fn inventory(&mut self) -> (Inventory, Vec<SourceError>) {
        let mut errors = Vec::new();
        let mut inv = self.system.inventory(self.config.role, &mut errors);
        inv.interfaces = self.net.inventory();
        (inv, errors)
    }

    /// Measurements since the previous call (or since [`Sources::new`]).
    pub fn sample(&mut self) -> Sample {
        let (interval_ms, interfaces) = self.net.sample();
        self.system.sample(interval_ms, interfaces)
    }
}
