//! Network devices without an agent: what a school server's agent found on
//! the LAN (discovery) and read from them over SNMP (polling).

use serde::{Deserialize, Serialize};

/// The devices section of a report, on the agent's slow schedule. Only an
/// agent with role `server` sends it; the list is the agent's whole current
/// picture (a device absent from it was not seen this round).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Devices {
    /// The subnets swept this round, in CIDR form (empty: no sweep, only
    /// configured devices were polled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    /// Every device found or polled.
    pub devices: Vec<Device>,
}

/// What kind of equipment a device is, guessed from SNMP and the vendor.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A switch (bridge MIB, many ports, switch vendor).
    Switch,
    /// A router or firewall (forwards IP).
    Router,
    /// A printer (Printer MIB).
    Printer,
    /// A UPS (UPS MIB).
    Ups,
    /// A projector or smart board / display.
    Projector,
    /// A wireless access point.
    AccessPoint,
    /// A PC, laptop or server (without an agent, or with one).
    Pc,
    /// Not known.
    #[default]
    Unknown,
}

impl DeviceKind {
    /// Every kind, in label order.
    pub const ALL: [DeviceKind; 8] = [
        Self::Switch,
        Self::Router,
        Self::Printer,
        Self::Ups,
        Self::Projector,
        Self::AccessPoint,
        Self::Pc,
        Self::Unknown,
    ];

    /// The name used in labels and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Switch => "switch",
            Self::Router => "router",
            Self::Printer => "printer",
            Self::Ups => "ups",
            Self::Projector => "projector",
            Self::AccessPoint => "access_point",
            Self::Pc => "pc",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One device on the school's LAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// IP address the agent reached it at.
    pub address: String,
    /// Hardware address `aa:bb:cc:dd:ee:ff`, from the neighbour table
    /// (absent for devices behind a router, or polled by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Vendor from the MAC's OUI (IEEE registry), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// The kind guessed from what it answered.
    pub kind: DeviceKind,
    /// Configured in the agent's `[[snmp.device]]` list (polled every
    /// round) rather than found by a sweep.
    #[serde(default)]
    pub configured: bool,
    /// Answered an ICMP echo this round.
    #[serde(default)]
    pub icmp_up: bool,
    /// SNMP answers, when the device speaks SNMP with the agent's
    /// credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snmp: Option<SnmpData>,
    /// Why SNMP polling failed (timeout, wrong credentials), when it was
    /// tried and failed; the rest of the device still reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a device answered over SNMP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpData {
    /// SNMPv2-MIB::sysDescr.0.
    #[serde(default)]
    pub sys_descr: String,
    /// SNMPv2-MIB::sysObjectID.0, numeric (`1.3.6.1.4.1.9.1.1208`).
    #[serde(default)]
    pub sys_object_id: String,
    /// SNMPv2-MIB::sysName.0.
    #[serde(default)]
    pub sys_name: String,
    /// SNMPv2-MIB::sysLocation.0.
    #[serde(default)]
    pub sys_location: String,
    /// SNMPv2-MIB::sysUpTime.0 in seconds (hundredths / 100).
    #[serde(default)]
    pub uptime_seconds: f64,
    /// ENTITY-MIB entPhysicalModelName of the chassis, where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// ENTITY-MIB entPhysicalSerialNum of the chassis, where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// IF-MIB interfaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<DeviceInterface>,
    /// UPS-MIB (RFC 1628) battery and input, for a UPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ups: Option<UpsStatus>,
    /// Printer-MIB supplies (toner, ink, drums), for a printer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supplies: Vec<PrinterSupply>,
}

/// One interface of a polled device (IF-MIB ifTable + ifXTable).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceInterface {
    /// ifIndex.
    pub index: u32,
    /// ifName (ifXTable), else ifDescr.
    pub name: String,
    /// ifAlias: the label an administrator gave the port.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alias: String,
    /// ifOperStatus is up(1).
    pub oper_up: bool,
    /// ifHighSpeed × 10⁶ (or ifSpeed when that is absent), bits/s; 0 when
    /// the device does not say.
    pub speed_bps: u64,
    /// ifHCInOctets (or ifInOctets on devices without 64-bit counters).
    pub in_octets: u64,
    /// ifHCOutOctets (or ifOutOctets).
    pub out_octets: u64,
    /// Receive rate since the previous poll, bits/s; absent on the first
    /// poll and after the device rebooted or the counter went backwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_bps: Option<f64>,
    /// Transmit rate since the previous poll, bits/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_bps: Option<f64>,
    /// This port is the school's uplink (marked in the agent's config), so
    /// its load is the school's real bandwidth use.
    #[serde(default)]
    pub uplink: bool,
}

/// A UPS's state from the UPS-MIB (RFC 1628, 1.3.6.1.2.1.33).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsStatus {
    /// upsOutputSource is battery(5): the mains is out.
    pub on_battery: bool,
    /// upsBatteryStatus: 1 unknown, 2 normal, 3 low, 4 depleted.
    pub battery_status: u8,
    /// upsEstimatedChargeRemaining, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_percent: Option<f64>,
    /// upsEstimatedMinutesRemaining × 60, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_seconds: Option<f64>,
}

/// One printer supply (Printer-MIB prtMarkerSuppliesTable).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterSupply {
    /// prtMarkerSuppliesDescription, e.g. `Black Toner Cartridge`.
    pub description: String,
    /// prtMarkerSuppliesLevel / prtMarkerSuppliesMaxCapacity, 0.0–1.0;
    /// absent when the printer reports only "some left" (-3) or unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_ratio: Option<f64>,
}
