//! Bounds on what one report may carry.
//!
//! Everything an agent sends is untrusted. These limits keep one broken or
//! hostile agent from filling the collector's store or exploding the
//! cardinality of `/metrics`; they are far above what a real school machine
//! has (a lab PC has a handful of interfaces and disks).

use crate::{Devices, InterfaceSample, Inventory, Report, Sample, Security};
use thiserror::Error;

/// Limits enforced by [`crate::decode_report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded report, bytes.
    pub max_report_bytes: usize,
    /// Longest string field, bytes of UTF-8.
    pub max_string_bytes: usize,
    /// Most interfaces in the inventory or in a sample.
    pub max_interfaces: usize,
    /// Most addresses on one interface.
    pub max_addresses_per_interface: usize,
    /// Most disks in the inventory.
    pub max_disks: usize,
    /// Most source errors in one report.
    pub max_errors: usize,
    /// Most posture checks in the security section.
    pub max_checks: usize,
    /// Most listening sockets in the security section.
    pub max_listening: usize,
    /// Most probe targets in one report.
    pub max_probes: usize,
    /// Most network devices in the devices section (a /24 holds 254).
    pub max_devices: usize,
    /// Most interfaces of one polled device (a 48-port switch with its
    /// VLAN and stack interfaces stays well under it).
    pub max_device_interfaces: usize,
    /// Most printer supplies of one device.
    pub max_supplies: usize,
    /// Most swept subnets in the devices section.
    pub max_subnets: usize,
}

impl Limits {
    /// The limits the collector enforces by default.
    pub const DEFAULT: Limits = Limits {
        max_report_bytes: 256 * 1024,
        max_string_bytes: 256,
        max_interfaces: 64,
        max_addresses_per_interface: 32,
        max_disks: 64,
        max_errors: 32,
        max_checks: 64,
        max_listening: 512,
        max_probes: 64,
        max_devices: 512,
        max_device_interfaces: 128,
        max_supplies: 16,
        max_subnets: 16,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A report that decoded but breaks a limit or an invariant.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LimitError {
    /// A list is longer than allowed.
    #[error("{field} has {len} entries, the limit is {max}")]
    TooMany {
        /// Path of the list, e.g. `inventory.interfaces`.
        field: String,
        /// Entries found.
        len: usize,
        /// Entries allowed.
        max: usize,
    },
    /// A string is longer than allowed.
    #[error("{field} is {len} bytes long, the limit is {max}")]
    TooLong {
        /// Path of the string, e.g. `inventory.hostname`.
        field: String,
        /// Bytes found.
        len: usize,
        /// Bytes allowed.
        max: usize,
    },
    /// A value is outside its meaningful range.
    #[error("{field} is invalid: {reason}")]
    Invalid {
        /// Path of the value.
        field: String,
        /// Why it was refused.
        reason: &'static str,
    },
}

impl Limits {
    /// Checks every bound on a decoded report.
    pub fn check(&self, r: &Report) -> Result<(), LimitError> {
        self.string("agent_id", &r.agent_id)?;
        if r.sequence == 0 {
            return Err(invalid("sequence", "sequences start at 1"));
        }
        self.count("errors", r.errors.len(), self.max_errors)?;
        for (i, e) in r.errors.iter().enumerate() {
            self.string(&format!("errors[{i}].source"), &e.source)?;
            self.string(&format!("errors[{i}].message"), &e.message)?;
        }
        if let Some(inv) = &r.inventory {
            self.inventory(inv)?;
        }
        if let Some(s) = &r.sample {
            self.sample(s)?;
        }
        if let Some(s) = &r.security {
            self.security(s)?;
        }
        if let Some(t) = &r.throughput {
            for (name, v) in [
                ("download_bytes_per_second", t.download_bytes_per_second),
                ("upload_bytes_per_second", t.upload_bytes_per_second),
            ] {
                if !v.is_finite() || v < 0.0 {
                    return Err(invalid(
                        &format!("throughput.{name}"),
                        "must be finite and not negative",
                    ));
                }
            }
        }
        self.count("probes", r.probes.len(), self.max_probes)?;
        for (i, p) in r.probes.iter().enumerate() {
            self.probe(i, p)?;
        }
        if let Some(d) = &r.devices {
            self.devices(d)?;
        }
        Ok(())
    }

    fn devices(&self, d: &Devices) -> Result<(), LimitError> {
        self.count("devices.subnets", d.subnets.len(), self.max_subnets)?;
        for (i, s) in d.subnets.iter().enumerate() {
            self.string(&format!("devices.subnets[{i}]"), s)?;
        }
        self.count("devices.devices", d.devices.len(), self.max_devices)?;
        for (i, dev) in d.devices.iter().enumerate() {
            let at = format!("devices.devices[{i}]");
            self.string(&format!("{at}.address"), &dev.address)?;
            if dev.address.is_empty() {
                return Err(invalid(&format!("{at}.address"), "must not be empty"));
            }
            // The collector keys a school's devices by MAC, else address:
            // two entries with the same key would overwrite each other.
            let key = dev.mac.as_deref().unwrap_or(&dev.address);
            if d.devices[..i]
                .iter()
                .any(|o| o.mac.as_deref().unwrap_or(&o.address) == key)
            {
                return Err(invalid(
                    &format!("{at}.mac"),
                    "the same device (MAC, else address) appears twice",
                ));
            }
            for (name, v) in [
                ("mac", &dev.mac),
                ("vendor", &dev.vendor),
                ("error", &dev.error),
            ] {
                if let Some(v) = v {
                    self.string(&format!("{at}.{name}"), v)?;
                }
            }
            if let Some(s) = &dev.snmp {
                self.snmp(&at, s)?;
            }
        }
        Ok(())
    }

    fn snmp(&self, at: &str, s: &crate::SnmpData) -> Result<(), LimitError> {
        for (name, v) in [
            ("sys_descr", &s.sys_descr),
            ("sys_object_id", &s.sys_object_id),
            ("sys_name", &s.sys_name),
            ("sys_location", &s.sys_location),
        ] {
            self.string(&format!("{at}.snmp.{name}"), v)?;
        }
        for (name, v) in [("model", &s.model), ("serial", &s.serial)] {
            if let Some(v) = v {
                self.string(&format!("{at}.snmp.{name}"), v)?;
            }
        }
        finite_not_negative(&format!("{at}.snmp.uptime_seconds"), Some(s.uptime_seconds))?;
        self.count(
            &format!("{at}.snmp.interfaces"),
            s.interfaces.len(),
            self.max_device_interfaces,
        )?;
        for (j, n) in s.interfaces.iter().enumerate() {
            let f = format!("{at}.snmp.interfaces[{j}]");
            self.string(&format!("{f}.name"), &n.name)?;
            self.string(&format!("{f}.alias"), &n.alias)?;
            if s.interfaces[..j].iter().any(|o| o.index == n.index) {
                return Err(invalid(
                    &format!("{f}.index"),
                    "the same ifIndex appears twice",
                ));
            }
            finite_not_negative(&format!("{f}.in_bps"), n.in_bps)?;
            finite_not_negative(&format!("{f}.out_bps"), n.out_bps)?;
        }
        if let Some(u) = &s.ups {
            if !(1..=4).contains(&u.battery_status) {
                return Err(invalid(
                    &format!("{at}.snmp.ups.battery_status"),
                    "must be 1 to 4 (unknown, normal, low, depleted)",
                ));
            }
            finite_not_negative(&format!("{at}.snmp.ups.charge_percent"), u.charge_percent)?;
            if u.charge_percent.is_some_and(|c| c > 100.0) {
                return Err(invalid(
                    &format!("{at}.snmp.ups.charge_percent"),
                    "must be 0 to 100",
                ));
            }
            finite_not_negative(&format!("{at}.snmp.ups.runtime_seconds"), u.runtime_seconds)?;
        }
        self.count(
            &format!("{at}.snmp.supplies"),
            s.supplies.len(),
            self.max_supplies,
        )?;
        for (j, p) in s.supplies.iter().enumerate() {
            let f = format!("{at}.snmp.supplies[{j}]");
            self.string(&format!("{f}.description"), &p.description)?;
            if p.level_ratio
                .is_some_and(|v| !v.is_finite() || !(0.0..=1.0).contains(&v))
            {
                return Err(invalid(
                    &format!("{f}.level_ratio"),
                    "must be between 0 and 1",
                ));
            }
        }
        Ok(())
    }

    fn probe(&self, i: usize, p: &crate::ProbeResult) -> Result<(), LimitError> {
        self.string(&format!("probes[{i}].target"), &p.target)?;
        if p.received > p.sent {
            return Err(invalid(
                &format!("probes[{i}].received"),
                "more replies than requests",
            ));
        }
        if !(0.0..=1.0).contains(&p.loss_ratio) {
            return Err(invalid(
                &format!("probes[{i}].loss_ratio"),
                "must be between 0 and 1",
            ));
        }
        for (name, v) in [
            ("rtt_min_seconds", p.rtt_min_seconds),
            ("rtt_median_seconds", p.rtt_median_seconds),
            ("rtt_avg_seconds", p.rtt_avg_seconds),
            ("rtt_max_seconds", p.rtt_max_seconds),
            ("jitter_seconds", p.jitter_seconds),
        ] {
            if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(invalid(
                    &format!("probes[{i}].{name}"),
                    "must be finite and not negative",
                ));
            }
        }
        Ok(())
    }

    fn security(&self, s: &Security) -> Result<(), LimitError> {
        self.count("security.checks", s.checks.len(), self.max_checks)?;
        for (i, c) in s.checks.iter().enumerate() {
            self.string(&format!("security.checks[{i}].id"), &c.id)?;
            // Ids become label values and keys in the collector's store.
            if c.id.is_empty()
                || !c
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(invalid(
                    &format!("security.checks[{i}].id"),
                    "must be snake_case: a-z, 0-9 and _",
                ));
            }
            if s.checks[..i].iter().any(|o| o.id == c.id) {
                return Err(invalid(
                    &format!("security.checks[{i}].id"),
                    "the same check id appears twice",
                ));
            }
            self.string(&format!("security.checks[{i}].evidence"), &c.evidence)?;
            if let Some(reason) = &c.reason {
                self.string(&format!("security.checks[{i}].reason"), reason)?;
            }
        }
        self.count("security.listening", s.listening.len(), self.max_listening)?;
        for (i, l) in s.listening.iter().enumerate() {
            self.string(&format!("security.listening[{i}].address"), &l.address)?;
            if let Some(p) = &l.process {
                self.string(&format!("security.listening[{i}].process"), p)?;
            }
        }
        Ok(())
    }

    fn inventory(&self, inv: &Inventory) -> Result<(), LimitError> {
        for (name, value) in [
            ("hostname", &inv.hostname),
            ("os_name", &inv.os_name),
            ("os_version", &inv.os_version),
            ("kernel_version", &inv.kernel_version),
            ("architecture", &inv.architecture),
            ("cpu_model", &inv.cpu_model),
            ("agent_version", &inv.agent_version),
        ] {
            self.string(&format!("inventory.{name}"), value)?;
        }
        for (name, value) in [
            ("vendor", &inv.dmi.vendor),
            ("product", &inv.dmi.product),
            ("serial", &inv.dmi.serial),
            ("bios_version", &inv.dmi.bios_version),
            ("bios_date", &inv.dmi.bios_date),
        ] {
            if let Some(v) = value {
                self.string(&format!("inventory.dmi.{name}"), v)?;
            }
        }
        self.count("inventory.disks", inv.disks.len(), self.max_disks)?;
        for (i, d) in inv.disks.iter().enumerate() {
            self.string(&format!("inventory.disks[{i}].mount_point"), &d.mount_point)?;
            self.string(&format!("inventory.disks[{i}].device"), &d.device)?;
            self.string(&format!("inventory.disks[{i}].filesystem"), &d.filesystem)?;
            if d.available_bytes > d.total_bytes {
                return Err(invalid(
                    &format!("inventory.disks[{i}].available_bytes"),
                    "more space available than the disk holds",
                ));
            }
        }
        self.count(
            "inventory.interfaces",
            inv.interfaces.len(),
            self.max_interfaces,
        )?;
        for (i, n) in inv.interfaces.iter().enumerate() {
            self.string(&format!("inventory.interfaces[{i}].name"), &n.name)?;
            if let Some(mac) = &n.mac {
                self.string(&format!("inventory.interfaces[{i}].mac"), mac)?;
            }
            self.count(
                &format!("inventory.interfaces[{i}].addresses"),
                n.addresses.len(),
                self.max_addresses_per_interface,
            )?;
            for (j, a) in n.addresses.iter().enumerate() {
                self.string(&format!("inventory.interfaces[{i}].addresses[{j}]"), a)?;
            }
        }
        if inv.cpu_logical_cores == 0 {
            return Err(invalid(
                "inventory.cpu_logical_cores",
                "a host has at least one core",
            ));
        }
        Ok(())
    }

    fn sample(&self, s: &Sample) -> Result<(), LimitError> {
        if !(0.0..=1.0).contains(&s.cpu_usage_ratio) {
            return Err(invalid("sample.cpu_usage_ratio", "must be between 0 and 1"));
        }
        if s.load.iter().any(|l| !l.is_finite() || *l < 0.0) {
            return Err(invalid("sample.load", "must be finite and not negative"));
        }
        self.count("sample.interfaces", s.interfaces.len(), self.max_interfaces)?;
        for (i, n) in s.interfaces.iter().enumerate() {
            self.interface_sample(i, n)?;
        }
        Ok(())
    }

    fn interface_sample(&self, i: usize, n: &InterfaceSample) -> Result<(), LimitError> {
        self.string(&format!("sample.interfaces[{i}].name"), &n.name)?;
        for (name, v) in [
            ("rx_bits_per_second", n.rx_bits_per_second),
            ("tx_bits_per_second", n.tx_bits_per_second),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(invalid(
                    &format!("sample.interfaces[{i}].{name}"),
                    "must be finite and not negative",
                ));
            }
        }
        Ok(())
    }

    fn string(&self, field: &str, value: &str) -> Result<(), LimitError> {
        if value.len() > self.max_string_bytes {
            return Err(LimitError::TooLong {
                field: field.to_owned(),
                len: value.len(),
                max: self.max_string_bytes,
            });
        }
        Ok(())
    }

    fn count(&self, field: &str, len: usize, max: usize) -> Result<(), LimitError> {
        if len > max {
            return Err(LimitError::TooMany {
                field: field.to_owned(),
                len,
                max,
            });
        }
        Ok(())
    }
}

fn finite_not_negative(field: &str, v: Option<f64>) -> Result<(), LimitError> {
    if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
        return Err(invalid(field, "must be finite and not negative"));
    }
    Ok(())
}

fn invalid(field: &str, reason: &'static str) -> LimitError {
    LimitError::Invalid {
        field: field.to_owned(),
        reason,
    }
}
