//! LAN discovery: the devices without an agent on the school's subnets
//! (switches, printers, UPS units, projectors, ...), found by an ICMP sweep
//! and described from the neighbour table, an SNMP probe and the IEEE
//! registry of MAC prefixes.
//!
//! One round of [`discover`]:
//! 1. [`sweep`]: an echo request to every host address of each configured
//!    [`Subnet`] (not the agent's own addresses), one retry for the silent
//!    ones, at `rate_pps`.
//! 2. [`neighbour`]: the kernel's ARP table, read after the sweep, gives
//!    the MAC of each responder on the agent's own segment (a responder
//!    behind a router has none).
//! 3. [`snmp_probe`]: the system group of each responder, v2c, a short
//!    timeout, a few at a time.
//! 4. [`oui`]: the vendor from the MAC's prefix; [`kind`]: a guess of
//!    the equipment kind from both.
//!
//! Only hosts that answered an echo request are listed. A device that
//! drops ICMP but answers ARP may sit in the neighbour table, but
//! `/proc/net/arp` does not tell a fresh entry from one left by a device
//! that went away hours ago, and a list that flickers would show in the
//! collector as devices appearing and disappearing. Entries are merged by
//! MAC (a router answering for several addresses is one device), keeping
//! the one that answered SNMP, else the lowest address.
//!
//! Nothing is swept unless a subnet is configured (`[discovery] subnets`)
//! or given on the command line.

pub mod kind;
pub mod neighbour;
pub mod oui;
pub mod snmp_probe;
mod subnet;
pub mod sweep;

pub use subnet::{MIN_PREFIX_LEN, Subnet, SubnetError};

use crate::collect::icmp::ProbeError;
use neighbour::Mac;
use schoolwatch_protocol::{Device, Devices, Limits, Role, SnmpData};
use serde::Deserialize;
use snmp_probe::{Answer, SnmpProbe};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use sweep::{SweepOptions, Sweeper};
use thiserror::Error;

/// Why no sweep could run at all.
#[derive(Debug, Error)]
pub enum DiscoveryError {
    /// No ICMP socket may be opened (the message says how to allow it).
    #[error(transparent)]
    Icmp(#[from] ProbeError),
}

/// How one round runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryOptions {
    /// Pace and retries of the ICMP sweep.
    pub sweep: SweepOptions,
    /// The SNMP probe of responders; `None` probes nothing.
    pub snmp: Option<SnmpProbe>,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        Self {
            sweep: SweepOptions::default(),
            snmp: Some(SnmpProbe {
                community: default_community(),
                timeout: Duration::from_secs(1),
                retries: 1,
                concurrency: 8,
            }),
        }
    }
}

/// Sweeps `subnets` one after the other and describes every host that
/// answered. Fails only when ICMP is not permitted at all.
pub async fn discover(
    subnets: &[Subnet],
    options: &DiscoveryOptions,
) -> Result<Devices, DiscoveryError> {
    let sweeper = Sweeper::new()?;
    let own = own_addresses();
    let mut responders = BTreeSet::new();
    for subnet in subnets {
        let targets = targets(subnet, &own);
        tracing::debug!(%subnet, targets = targets.len(), "Sweeping.");
        responders.extend(sweeper.sweep(subnet, &targets, &options.sweep).await);
    }
    let neighbours = neighbour::read();
    let answers = match &options.snmp {
        Some(probe) => probe_all(probe, &responders).await,
        None => HashMap::new(),
    };
    // The first call parses about 4 MB of CSV: off the async threads.
    let db = tokio::task::spawn_blocking(oui::OuiDb::system)
        .await
        .unwrap_or(None);
    let devices = assemble(&responders, &neighbours, &answers, |mac| {
        db.and_then(|db| db.vendor(mac)).map(str::to_owned)
    });
    tracing::debug!(
        responders = responders.len(),
        devices = devices.len(),
        "Discovery round done."
    );
    Ok(Devices {
        subnets: subnets.iter().map(Subnet::to_string).collect(),
        devices,
    })
}

/// The addresses swept in `subnet`: its hosts, less the agent's own
/// addresses (the agent reports itself).
pub fn targets(subnet: &Subnet, own: &HashSet<Ipv4Addr>) -> Vec<Ipv4Addr> {
    subnet.hosts().filter(|a| !own.contains(a)).collect()
}

/// The IPv4 addresses of this machine's interfaces (none, with a debug
/// log, when they cannot be listed: the agent then pings itself too).
fn own_addresses() -> HashSet<Ipv4Addr> {
    let networks = match sysinfo::Networks::new_with_refreshed_list() {
        Ok(n) => n,
        Err(e) => {
            tracing::debug!(error = %e, "Cannot list this machine's addresses.");
            return HashSet::new();
        }
    };
    networks
        .values()
        .flat_map(|data| data.ip_networks())
        .filter_map(|n| match n.addr {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        })
        .collect()
}

/// Asks each responder for its system group, `probe.concurrency` at once.
async fn probe_all(
    probe: &SnmpProbe,
    responders: &BTreeSet<Ipv4Addr>,
) -> HashMap<Ipv4Addr, Answer> {
    use futures_util::StreamExt;
    futures_util::stream::iter(responders.iter().copied())
        .map(|addr| async move { (addr, probe.system(addr).await) })
        .buffer_unordered(probe.concurrency.max(1))
        .collect()
        .await
}

/// One [`Device`] per responder, merged by MAC, in address order.
/// `vendor` names the maker of a MAC.
pub fn assemble(
    responders: &BTreeSet<Ipv4Addr>,
    neighbours: &neighbour::Table,
    answers: &HashMap<Ipv4Addr, Answer>,
    vendor: impl Fn(Mac) -> Option<String>,
) -> Vec<Device> {
    let max = Limits::DEFAULT.max_string_bytes;
    let mut devices: Vec<Device> = Vec::with_capacity(responders.len());
    let mut by_mac: HashMap<Mac, usize> = HashMap::new();
    for &addr in responders {
        let mac = neighbours.get(&addr).copied();
        let vendor = mac.and_then(&vendor).map(|v| clamp(v, max));
        let (snmp, error) = match answers.get(&addr) {
            Some(Answer::Data(d)) => {
                let mut d = SnmpData::clone(d);
                for s in [
                    &mut d.sys_descr,
                    &mut d.sys_object_id,
                    &mut d.sys_name,
                    &mut d.sys_location,
                ] {
                    *s = clamp(std::mem::take(s), max);
                }
                (Some(d), None)
            }
            Some(Answer::Failed(e)) => (None, Some(clamp(e.clone(), max))),
            Some(Answer::Silent) | None => (None, None),
        };
        let device = Device {
            address: addr.to_string(),
            mac: mac.map(|m| m.to_string()),
            kind: kind::guess(snmp.as_ref(), vendor.as_deref()),
            vendor,
            configured: false,
            icmp_up: true,
            snmp,
            error,
        };
        match mac.and_then(|m| by_mac.get(&m)) {
            // Seen at a lower address: keep that one unless only this one
            // answered SNMP.
            Some(&i) => {
                if devices[i].snmp.is_none() && device.snmp.is_some() {
                    devices[i] = device;
                }
            }
            None => {
                if let Some(m) = mac {
                    by_mac.insert(m, devices.len());
                }
                devices.push(device);
            }
        }
    }
    devices
}

/// `s` cut to at most `max` bytes on a character boundary (the collector
/// refuses longer strings).
fn clamp(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// A table for people: address, MAC, vendor, kind, ICMP, SNMP.
pub fn table(devices: &Devices) -> String {
    let mut t = crate::table::Table::new(["address", "mac", "vendor", "kind", "icmp", "snmp"]);
    for d in &devices.devices {
        let snmp = match (&d.snmp, &d.error) {
            (Some(s), _) => {
                let descr = s.sys_descr.lines().next().unwrap_or_default();
                let descr: String = descr.chars().take(60).collect();
                format!("{}: {descr}", s.sys_name)
            }
            (None, Some(e)) => format!("error: {e}"),
            (None, None) => "-".to_owned(),
        };
        t.row([
            d.address.clone(),
            d.mac.clone().unwrap_or_else(|| "-".to_owned()),
            d.vendor.clone().unwrap_or_else(|| "-".to_owned()),
            d.kind.to_string(),
            if d.icmp_up { "up" } else { "down" }.to_owned(),
            snmp,
        ]);
    }
    t.render()
}

// === config ===

/// The validated `[discovery]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Subnets swept every round; empty (the default) sweeps nothing.
    pub subnets: Vec<Subnet>,
    /// Echo requests per second during a sweep.
    pub rate_pps: u32,
    /// SNMPv2c community of the probe.
    pub snmp_community: String,
    /// Time between rounds.
    pub every: Duration,
}

impl DiscoveryConfig {
    /// Whether a sweep was asked for.
    pub fn enabled(&self) -> bool {
        !self.subnets.is_empty()
    }

    /// The options of one round.
    pub fn options(&self) -> DiscoveryOptions {
        let mut o = DiscoveryOptions::default();
        o.sweep.rate_pps = self.rate_pps;
        if let Some(p) = &mut o.snmp {
            p.community.clone_from(&self.snmp_community);
        }
        o
    }
}

/// `[discovery]` as written in `agent.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiscovery {
    #[serde(default)]
    subnets: Vec<String>,
    #[serde(default = "default_rate_pps")]
    rate_pps: u32,
    #[serde(default = "default_community")]
    snmp_community: String,
    #[serde(default = "default_every_minutes")]
    every_minutes: u64,
}

impl Default for RawDiscovery {
    fn default() -> Self {
        Self {
            subnets: Vec::new(),
            rate_pps: default_rate_pps(),
            snmp_community: default_community(),
            every_minutes: default_every_minutes(),
        }
    }
}

/// 50 echo requests a second, about 32 kbit/s: a /24 in about 10 s with
/// its retries, unnoticeable on a school LAN.
const fn default_rate_pps() -> u32 {
    50
}
fn default_community() -> String {
    "public".to_owned()
}
/// Hourly: equipment comes and goes slowly.
const fn default_every_minutes() -> u64 {
    60
}

impl RawDiscovery {
    /// Validates the section, adding each problem (naming its key) to
    /// `problems`. `role` is the agent's: only the school server sweeps.
    pub fn build(self, role: Role, problems: &mut Vec<String>) -> DiscoveryConfig {
        let mut subnets: Vec<Subnet> = Vec::new();
        for (i, text) in self.subnets.iter().enumerate() {
            match text.parse::<Subnet>() {
                Ok(s) => {
                    if let Some(j) = subnets.iter().position(|o| overlap(o, &s)) {
                        problems.push(format!(
                            "key `discovery.subnets[{i}]`: {s} overlaps {} (`discovery.subnets[{j}]`); list each range once",
                            subnets[j]
                        ));
                    }
                    subnets.push(s);
                }
                Err(e) => problems.push(format!("key `discovery.subnets[{i}]`: {e}")),
            }
        }
        let max_subnets = Limits::DEFAULT.max_subnets;
        if self.subnets.len() > max_subnets {
            problems.push(format!(
                "key `discovery.subnets`: {} subnets, at most {max_subnets} (a report carries at most {max_subnets}); list the school's LAN segments only",
                self.subnets.len()
            ));
        }
        if !self.subnets.is_empty() && role != Role::Server {
            problems.push(format!(
                "key `discovery.subnets`: only the school server sweeps the LAN; set `agent.role = \"server\"` on that machine, or remove `[discovery] subnets` here (role is \"{}\")",
                role.as_str()
            ));
        }
        if !(1..=1000).contains(&self.rate_pps) {
            problems.push(format!(
                "key `discovery.rate_pps`: {} is out of range; use 1 to 1000 echo requests per second (default 50)",
                self.rate_pps
            ));
        }
        if self.snmp_community.is_empty() {
            problems.push("key `discovery.snmp_community`: empty; write the school's read-only SNMPv2c community (default \"public\")".to_owned());
        }
        if !(10..=7 * 24 * 60).contains(&self.every_minutes) {
            problems.push(format!(
                "key `discovery.every_minutes`: {} is out of range; use 10 to 10080 minutes (default 60)",
                self.every_minutes
            ));
        }
        DiscoveryConfig {
            subnets,
            rate_pps: self.rate_pps,
            snmp_community: self.snmp_community,
            every: Duration::from_secs(self.every_minutes * 60),
        }
    }
}

fn overlap(a: &Subnet, b: &Subnet) -> bool {
    a.contains(b.network()) || b.contains(a.network())
}

#[cfg(test)]
mod tests;
