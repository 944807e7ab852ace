//! A school's network devices without an agent, as the agent on its server
//! reports them (issue 6): the devices it polls over SNMP every round (the
//! core switch with its uplink port marked, the UPS, often a printer),
//! and what its LAN sweep found (the router, printers, projectors and
//! smart boards, access points, PCs without an agent, things nobody can
//! name). Every device has a real maker's MAC prefix and, when it speaks
//! SNMP, what that maker's equipment answers, so the agent's own OUI
//! lookup and kind guess give its vendor and kind.
//!
//! What happens to them is decided with the fleet, from the seed:
//! - the uplink port carries the school's traffic: the school day of
//!   [`crate::traffic`] at its hosts' summed peak (so under the link's
//!   capacity), into the school on the port's receive side; nothing flows
//!   while the operator's link or the school's LAN is down. The other
//!   ports that are up share it, the server's port most. Every counter
//!   starts again from 0 when the power comes back after a cut (the
//!   switch rebooted);
//! - some UPS units run on battery for a stretch while the mains is flaky
//!   (charge and runtime fall, then recharge), some still at the end;
//! - printers' supplies go down with the school day's printing;
//! - some schools have fewer devices than the registry expects, and some
//!   swept devices go away during the run: the next sweep no longer finds
//!   them, so the collector calls them missing.
//!
//! A picture is, like a report, a pure function of the fleet, the host and
//! its tick. The rounds follow the agent's: one every `--devices-interval`
//! of fleet time, the newest riding the next report (here: the report of
//! the tick after which an interval boundary fell, and the first report
//! after the agent starts), polled at the report's sampling time; the
//! first poll after the agent starts has no rates; the LAN is swept when
//! the agent starts and every [`SWEEP_EVERY_MS`] after, and a picture
//! holds what the newest sweep found. In a LAN outage every poll times
//! out and a sweep finds nothing. A power cut outlasts any UPS: nothing
//! is reported, and every device has rebooted when it is back.

use crate::fleet::{Outage, OutageKind, SimHost, SimSchool, stream};
use crate::report::Builder;
use crate::traffic;
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use schoolwatch_agent::collect::devices::merge;
use schoolwatch_agent::collect::discovery::kind;
use schoolwatch_agent::collect::snmp::{Credentials, SnmpDevice, SnmpError, Target};
use schoolwatch_collector::registry::{Level, School};
use schoolwatch_protocol::{
    Device, DeviceInterface, DeviceKind, Devices, PrinterSupply, Role, SnmpData, UpsStatus,
};
use std::net::Ipv4Addr;
use std::ops::Range;
use std::sync::LazyLock;

/// Most devices simulated in one school (which of them a picture holds is
/// a 64-bit mask); a registry expecting more gets this many.
pub const MAX_DEVICES: usize = 64;

/// Fleet time between LAN sweeps: the agent's default (`[discovery]
/// every_minutes`), taken from its own configuration defaults.
pub static SWEEP_EVERY_MS: LazyLock<u64> = LazyLock::new(|| {
    let every = schoolwatch_agent::config::Config::default().discovery.every;
    u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1)
});

/// Requests a poll sends before it times out: the agent's default.
static POLL_TRIES: LazyLock<u32> =
    LazyLock::new(|| schoolwatch_agent::config::Config::default().snmp.retries + 1);

/// Share of schools whose registry expectation is not met: some of what
/// the list names was never bought, or sits in a cupboard.
const SHORT_SHARE: f64 = 0.35;
/// Share of swept devices that go away during the run.
const GONE_SHARE: f64 = 0.12;
/// Share of UPS units whose mains is flaky during the run.
const FLAKY_SHARE: f64 = 0.5;
/// Share of schools whose IT teacher added a printer to the agent's polled
/// devices (so its supplies are read).
const POLLED_PRINTER_SHARE: f64 = 0.6;
/// Time a UPS takes to recharge from empty to full, fleet ms.
const RECHARGE_MS: f64 = 4.0 * 3_600_000.0;
/// Peak-seconds of [`traffic::rate_share`] in one day: a full school day
/// of printing.
const PEAK_SECONDS_PER_DAY: f64 =
    traffic::NIGHT_FLOOR * 86_400.0 + (1.0 - traffic::NIGHT_FLOOR) * 5.0 * 3600.0;

/// A school's devices and what happens to them.
#[derive(Debug, Clone)]
pub struct DeviceSet {
    /// What the registry expects (`expected_devices`; 0 when it does not
    /// say).
    pub expected: u32,
    /// The devices the school has: the polled ones first, in the order of
    /// the agent's config, then the others in address order.
    pub devices: Vec<SimDevice>,
    /// The subnet the agent sweeps (where the devices are), CIDR.
    pub subnet: String,
}

/// One device of a school.
#[derive(Debug, Clone)]
pub struct SimDevice {
    /// What it is, as the agent should guess it.
    pub kind: DeviceKind,
    /// Its address on the school's LAN.
    pub address: Ipv4Addr,
    /// Its MAC, which the sweep reads from the neighbour table.
    pub mac: String,
    /// The IEEE registry's name for its MAC prefix; `None` for a locally
    /// administered (random) MAC.
    pub vendor: Option<&'static str>,
    /// Polled every round (in the agent's `[[snmp.device]]` list), so it
    /// reports under its address with full SNMP data.
    pub configured: bool,
    /// sysDescr and sysObjectID it answers with; `None` when it does not
    /// answer SNMP with the agent's community.
    pub snmp: Option<(&'static str, &'static str)>,
    /// ENTITY-MIB chassis model and serial, for the polled ones that have
    /// them.
    pub chassis: Option<(&'static str, String)>,
    /// Its sysName.
    pub sys_name: String,
    /// Seconds it had been up when the run started.
    pub uptime_at_start_secs: u64,
    /// From when sweeps no longer find it (taken away, broken), fleet ms;
    /// only devices the agent does not poll go away.
    pub gone_ms: Option<u64>,
    /// What its SNMP data carries besides the system group.
    pub detail: Detail,
}

/// The kind-specific part of a device's SNMP data.
#[derive(Debug, Clone)]
pub enum Detail {
    /// A switch's ports (IF-MIB).
    Switch(Vec<Port>),
    /// A UPS's battery (UPS-MIB).
    Ups(Ups),
    /// A printer's supplies (Printer-MIB).
    Printer(Vec<Supply>),
    /// Nothing more.
    Plain,
}

/// One switch port.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// ifIndex.
    pub index: u32,
    /// ifName.
    pub name: String,
    /// ifAlias.
    pub alias: String,
    /// Speed, bits/s.
    pub speed_bps: u64,
    /// Something is plugged in (ifOperStatus up).
    pub up: bool,
    /// The school's uplink (the agent's config marks it).
    pub uplink: bool,
    /// Receive rate at the school day's peak, bytes/s.
    pub in_peak: f64,
    /// Transmit rate at the peak, bytes/s.
    pub out_peak: f64,
    /// Octets received before the run started (0 after a reboot).
    pub base_in: u64,
    /// Octets sent before the run started.
    pub base_out: u64,
}

/// A UPS's battery and the stretch its mains is out.
#[derive(Debug, Clone, PartialEq)]
pub struct Ups {
    /// Runtime on a full battery at the school's load, seconds.
    pub full_runtime_secs: f64,
    /// When it runs on battery, fleet ms; never longer than 80 % of its
    /// full runtime, so it never runs flat.
    pub on_battery: Option<Range<u64>>,
}

/// One printer supply.
#[derive(Debug, Clone, PartialEq)]
pub struct Supply {
    /// prtMarkerSuppliesDescription.
    pub description: &'static str,
    /// Its level when the run starts, 0 to 1.
    pub start_level: f64,
    /// Share of it used per second of printing at the school day's peak.
    pub per_peak_second: f64,
}

// === makes and models ===

/// A maker's equipment as the network sees it.
#[derive(Debug, Clone, Copy)]
struct Make {
    kind: DeviceKind,
    /// The IEEE registry's name for `oui`; `None`: a random MAC.
    vendor: Option<&'static str>,
    oui: [u8; 3],
    /// sysDescr and sysObjectID, when it answers SNMP.
    snmp: Option<(&'static str, &'static str)>,
}

const CISCO: &str = "Cisco Systems, Inc";
const TP_LINK: &str = "TP-LINK TECHNOLOGIES CO.,LTD.";
const MIKROTIK: &str = "Routerboard.com";

/// A switch model and its ports.
struct SwitchModel {
    make: Make,
    model: &'static str,
    /// Access ports: name prefix, count, speed.
    access: (&'static str, u32, u64),
    /// The ports after them (SFP or uplink): name prefix, number of the
    /// first, count, speed; the first is the uplink.
    trunk: (&'static str, u32, u32, u64),
    /// An 8-port switch for a small school.
    small: bool,
}

const M100: u64 = 100_000_000;
const G1: u64 = 1_000_000_000;
const G10: u64 = 10_000_000_000;

const SWITCHES: [SwitchModel; 6] = [
    SwitchModel {
        make: Make {
            kind: DeviceKind::Switch,
            vendor: Some(CISCO),
            oui: [0xf4, 0xbd, 0x9e],
            snmp: Some((
                "Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 15.0(2)SE11, RELEASE SOFTWARE (fc3)",
                "1.3.6.1.4.1.9.1.716",
            )),
        },
        model: "WS-C2960-24TT-L",
        access: ("Fa0/", 24, M100),
        trunk: ("Gi0/", 1, 2, G1),
        small: false,
    },
    SwitchModel {
        make: Make {
            kind: DeviceKind::Switch,
            vendor: Some(TP_LINK),
            oui: [0x50, 0xc7, 0xbf],
            snmp: Some((
                "JetStream 24-Port Gigabit L2 Managed Switch with 4 SFP Slots",
                "1.3.6.1.4.1.11863.5.27",
            )),
        },
        model: "T1600G-28TS",
        access: ("gigabitEthernet 1/0/", 24, G1),
        trunk: ("gigabitEthernet 1/0/", 25, 4, G1),
        small: false,
    },
    SwitchModel {
        make: Make {
            kind: DeviceKind::Switch,
            vendor: Some("Hewlett Packard Enterprise"),
            oui: [0x4c, 0xae, 0xa3],
            snmp: Some((
                "HPE OfficeConnect Switch 1920S 24G 2SFP JL381A, PD.02.05, Linux 3.6.5-ac96795c, U-Boot 2012.10-00116-g3ab515c (Jul 30 2014 - 10:31:41)",
                "1.3.6.1.4.1.11.2.3.7.11.150",
            )),
        },
        model: "JL381A",
        access: ("", 24, G1),
        trunk: ("", 25, 2, G1),
        small: false,
    },
    SwitchModel {
        make: Make {
            kind: DeviceKind::Switch,
            vendor: Some(MIKROTIK),
            oui: [0xb8, 0x69, 0xf4],
            snmp: Some(("RouterOS CRS326-24G-2S+", "1.3.6.1.4.1.14988.1")),
        },
        model: "CRS326-24G-2S+",
        access: ("ether", 24, G1),
        trunk: ("sfp-sfpplus", 1, 2, G10),
        small: false,
    },
    SwitchModel {
        make: Make {
            kind: DeviceKind::Switch,
            vendor: Some(TP_LINK),
            oui: [0xc4, 0xe9, 0x84],
            snmp: Some((
                "JetStream 8-Port Gigabit Smart PoE Switch with 2 SFP Slots",
                "1.3.6.1.4.1.11863.5.30",
            )),
        },
        model: "T1500G-10PS",
        access: ("gigabitEthernet 1/0/", 8, G1),
        trunk: ("gigabitEthernet 1/0/", 9, 2, G1),
        small: true,
    },
    SwitchModel {
        make: Make {
            kind: DeviceKind::Switch,
            vendor: Some(CISCO),
            oui: [0x00, 0x00, 0x0c],
            snmp: Some((
                "CBS250-8T-D 8-Port Gigabit Smart Switch",
                "1.3.6.1.4.1.9.6.1.94.8.4",
            )),
        },
        model: "CBS250-8T-D",
        access: ("gi", 7, G1),
        trunk: ("gi", 8, 1, G1),
        small: true,
    },
];

const ROUTERS: [Make; 4] = [
    Make {
        kind: DeviceKind::Router,
        vendor: Some(MIKROTIK),
        oui: [0xd4, 0xca, 0x6d],
        snmp: Some(("RouterOS RB4011iGS+", "1.3.6.1.4.1.14988.1")),
    },
    Make {
        kind: DeviceKind::Router,
        vendor: Some("DrayTek Corp."),
        oui: [0x14, 0x49, 0xbc],
        snmp: None,
    },
    Make {
        kind: DeviceKind::Router,
        vendor: Some(CISCO),
        oui: [0xf4, 0xbd, 0x9e],
        snmp: Some((
            "Cisco IOS Software [Bengaluru], ISR Software (X86_64_LINUX_IOSD-UNIVERSALK9-M), Version 17.6.3, RELEASE SOFTWARE (fc4)",
            "1.3.6.1.4.1.9.1.2593",
        )),
    },
    Make {
        kind: DeviceKind::Router,
        vendor: Some("Fortinet, Inc."),
        oui: [0x08, 0x5b, 0x0e],
        snmp: None,
    },
];

const UPSES: [Make; 2] = [
    Make {
        kind: DeviceKind::Ups,
        vendor: Some("AMERICAN POWER CONVERSION CORP"),
        oui: [0x00, 0xc0, 0xb7],
        snmp: Some((
            "APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.2.1 MN:AP9630 HR:05)",
            "1.3.6.1.4.1.318.1.3.27",
        )),
    },
    Make {
        kind: DeviceKind::Ups,
        vendor: Some("Eaton Corporation"),
        oui: [0x00, 0x20, 0x85],
        snmp: Some(("Eaton 5PX 1500", "1.3.6.1.4.1.534.1")),
    },
];

/// Printers and their supplies (description, use per school day as a
/// share of the cartridge).
const PRINTERS: [(Make, &[(&str, f64)]); 3] = [
    (
        Make {
            kind: DeviceKind::Printer,
            vendor: Some("Brother Industries, LTD."),
            oui: [0x3c, 0x2a, 0xf4],
            snmp: Some((
                "Brother NC-8300w, Firmware Ver.1.05  (12.01.15),MID 8C5-F04,FID 2",
                "1.3.6.1.4.1.2435.2.3.9.1",
            )),
        },
        &[("Black Toner Cartridge", 0.03), ("Drum Unit", 0.008)],
    ),
    (
        Make {
            kind: DeviceKind::Printer,
            vendor: Some("HP Inc."),
            oui: [0x04, 0x0e, 0x3c],
            snmp: Some((
                "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM JSI23900,CIDATE 02/13/2018",
                "1.3.6.1.4.1.11.2.3.9.1",
            )),
        },
        &[("Black Cartridge HP CF259A", 0.04)],
    ),
    (
        Make {
            kind: DeviceKind::Printer,
            vendor: Some("CANON INC."),
            oui: [0x84, 0xba, 0x3b],
            snmp: Some(("Canon iR-ADV C5535 /P", "1.3.6.1.4.1.1602.4.7")),
        },
        &[
            ("Canon GPR-53 Black Toner", 0.02),
            ("Canon GPR-53 Cyan Toner", 0.01),
            ("Canon GPR-53 Magenta Toner", 0.01),
            ("Canon GPR-53 Yellow Toner", 0.01),
        ],
    ),
];

const PROJECTORS: [Make; 3] = [
    Make {
        kind: DeviceKind::Projector,
        vendor: Some("Seiko Epson Corporation"),
        oui: [0x50, 0x57, 0x9c],
        snmp: Some(("EPSON Projector EB-X41", "1.3.6.1.4.1.1248.4.1")),
    },
    Make {
        kind: DeviceKind::Projector,
        vendor: Some("BenQ Corporation"),
        oui: [0x80, 0x65, 0xe9],
        snmp: None,
    },
    Make {
        kind: DeviceKind::Projector,
        vendor: Some("SMART Technologies, Inc."),
        oui: [0x00, 0x02, 0x75],
        snmp: Some((
            "SMART Board MX275-V2 interactive display",
            "1.3.6.1.4.1.8072.3.2.10",
        )),
    },
];

const ACCESS_POINTS: [Make; 3] = [
    Make {
        kind: DeviceKind::AccessPoint,
        vendor: Some("Ubiquiti Networks Inc."),
        oui: [0x74, 0x83, 0xc2],
        snmp: Some(("UAP-AC-Lite 6.5.28.14491", "1.3.6.1.4.1.10002.1")),
    },
    Make {
        kind: DeviceKind::AccessPoint,
        vendor: Some(TP_LINK),
        oui: [0xe8, 0x94, 0xf6],
        snmp: Some(("Omada EAP225(EU) v3.0 5.1.0", "1.3.6.1.4.1.11863.3.2.1")),
    },
    Make {
        kind: DeviceKind::AccessPoint,
        vendor: Some("Ruckus Wireless"),
        oui: [0x00, 0x24, 0x82],
        snmp: None,
    },
];

/// PCs without an agent: no SNMP, a PC maker's MAC.
const PCS: [Make; 4] = [
    Make {
        kind: DeviceKind::Pc,
        vendor: Some("Dell Inc."),
        oui: [0x98, 0xe7, 0x43],
        snmp: None,
    },
    Make {
        kind: DeviceKind::Pc,
        vendor: Some("Lenovo"),
        oui: [0x10, 0xc5, 0x95],
        snmp: None,
    },
    Make {
        kind: DeviceKind::Pc,
        vendor: Some("ASUSTek COMPUTER INC."),
        oui: [0x04, 0x92, 0x26],
        snmp: None,
    },
    Make {
        kind: DeviceKind::Pc,
        vendor: Some("Intel Corporate"),
        oui: [0xac, 0xed, 0x5c],
        snmp: None,
    },
];

/// What nobody can name from the network: a camera, a TV box, the
/// operator's ONT, an access point with SNMP off, a phone with a random
/// MAC.
const UNKNOWN: [Make; 5] = [
    Make {
        kind: DeviceKind::Unknown,
        vendor: Some("Hangzhou Hikvision Digital Technology Co.,Ltd."),
        oui: [0x44, 0x47, 0xcc],
        snmp: None,
    },
    Make {
        kind: DeviceKind::Unknown,
        vendor: Some("Xiaomi Communications Co Ltd"),
        oui: [0xa4, 0x45, 0x19],
        snmp: None,
    },
    Make {
        kind: DeviceKind::Unknown,
        vendor: Some("zte corporation"),
        oui: [0x08, 0x60, 0x83],
        snmp: None,
    },
    Make {
        kind: DeviceKind::Unknown,
        vendor: Some(TP_LINK),
        oui: [0x14, 0xcc, 0x20],
        snmp: None,
    },
    Make {
        kind: DeviceKind::Unknown,
        vendor: None,
        oui: [0, 0, 0],
        snmp: None,
    },
];

/// The makes of devices of a kind found by sweeps.
fn makes(kind: DeviceKind) -> &'static [Make] {
    match kind {
        DeviceKind::Router => &ROUTERS,
        DeviceKind::Projector => &PROJECTORS,
        DeviceKind::AccessPoint => &ACCESS_POINTS,
        DeviceKind::Pc => &PCS,
        _ => &UNKNOWN,
    }
}

// === impl DeviceSet ===

impl DeviceSet {
    /// The devices of `school`, whose LAN's gateway is `gateway` and whose
    /// hosts (peaks set) are `hosts`, for a run of `duration_ms`.
    pub fn build(
        seed: u64,
        school: &School,
        gateway: Ipv4Addr,
        hosts: &[SimHost],
        duration_ms: u64,
    ) -> DeviceSet {
        let mut rng = stream(seed, &["devices", &school.id]);
        let kinds = mix(school, hosts.len(), &mut rng);
        let peak_rx: f64 = hosts.iter().map(|h| h.peak_rx_bytes_per_second).sum();
        let peak_tx: f64 = hosts
            .iter()
            .map(|h| h.peak_rx_bytes_per_second * h.tx_share)
            .sum();
        let [_, net, _, _] = gateway.octets();
        let at = |last: u8| Ipv4Addr::new(10, net, 0, last);
        let mut macs: Vec<String> = Vec::new();
        let mut devices = Vec::with_capacity(kinds.len());
        let mut next_address = 10u8;
        let mut counts = std::collections::HashMap::<DeviceKind, u32>::new();
        let polled_printer = rng.random_bool(POLLED_PRINTER_SHARE);
        for kind in kinds {
            let n = counts.entry(kind).or_default();
            *n += 1;
            let n = *n;
            let name = |short: &str| {
                if n == 1 {
                    format!("{}-{short}", school.id)
                } else {
                    format!("{}-{short}{n}", school.id)
                }
            };
            let uptime_at_start_secs = rng.random_range(86_400..200 * 86_400);
            let (make, address, configured, chassis, sys_name, detail) = match kind {
                DeviceKind::Switch => {
                    let models: Vec<&SwitchModel> = SWITCHES
                        .iter()
                        .filter(|m| m.small == (hosts.len() < 8 && school.expected_lab_pcs < 8))
                        .collect();
                    let m = models[rng.random_range(0..models.len())];
                    let ports = switch_ports(m, hosts.len(), peak_rx, peak_tx, &mut rng);
                    let serial = serial(&mut rng);
                    (
                        m.make,
                        at(2),
                        true,
                        Some((m.model, serial)),
                        name("sw"),
                        Detail::Switch(ports),
                    )
                }
                DeviceKind::Ups => {
                    let make = UPSES[rng.random_range(0..UPSES.len())];
                    let full_runtime_secs = rng.random_range(20.0..60.0) * 60.0;
                    let on_battery = rng
                        .random_bool(FLAKY_SHARE)
                        .then(|| flaky(full_runtime_secs, duration_ms, &mut rng));
                    (
                        make,
                        at(3),
                        true,
                        None,
                        name("ups"),
                        Detail::Ups(Ups {
                            full_runtime_secs,
                            on_battery,
                        }),
                    )
                }
                DeviceKind::Printer => {
                    let (make, supplies) = PRINTERS[rng.random_range(0..PRINTERS.len())];
                    let supplies = supplies
                        .iter()
                        .map(|(description, per_day)| Supply {
                            description,
                            start_level: rng.random_range(0.05..1.0),
                            per_peak_second: per_day * rng.random_range(0.5..2.0)
                                / PEAK_SECONDS_PER_DAY,
                        })
                        .collect();
                    next_address += rng.random_range(1..=3);
                    (
                        make,
                        at(next_address),
                        n == 1 && polled_printer,
                        None,
                        name("printer"),
                        Detail::Printer(supplies),
                    )
                }
                DeviceKind::Router => {
                    let make = ROUTERS[rng.random_range(0..ROUTERS.len())];
                    (make, gateway, false, None, name("gw"), Detail::Plain)
                }
                other => {
                    let pool = makes(other);
                    let make = pool[rng.random_range(0..pool.len())];
                    next_address += rng.random_range(1..=3);
                    let short = match other {
                        DeviceKind::Projector => "projector",
                        DeviceKind::AccessPoint => "ap",
                        DeviceKind::Pc => "pc",
                        _ => "device",
                    };
                    (
                        make,
                        at(next_address),
                        false,
                        None,
                        name(short),
                        Detail::Plain,
                    )
                }
            };
            let mac = loop {
                let mut tail = [0u8; 3];
                rng.fill(&mut tail[..]);
                let head = match make.vendor {
                    Some(_) => make.oui,
                    // Locally administered, unicast: a phone's private
                    // address.
                    None => [(tail[0] & 0xfc) | 0x02, tail[1], tail[2]],
                };
                let mac = format!(
                    "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    head[0], head[1], head[2], tail[0], tail[1], tail[2]
                );
                if !macs.contains(&mac) {
                    break mac;
                }
            };
            macs.push(mac.clone());
            // Some devices found by the sweep go away; the router stays
            // (without it the school would be dark).
            let gone_ms = (!configured && kind != DeviceKind::Router)
                .then(|| rng.random_bool(GONE_SHARE))
                .filter(|g| *g)
                .map(|_| rng.random_range(duration_ms / 6..duration_ms.max(6)));
            devices.push(SimDevice {
                kind: make.kind,
                address,
                mac,
                vendor: make.vendor,
                configured,
                snmp: make.snmp,
                chassis,
                sys_name,
                uptime_at_start_secs,
                gone_ms,
                detail,
            });
        }
        // The agent's config lists the polled devices; the sweep's order is
        // by address.
        devices.sort_by_key(|d| (!d.configured, d.address));
        DeviceSet {
            expected: school.expected_devices,
            devices,
            subnet: format!("10.{net}.0.0/24"),
        }
    }
}

/// Which devices a school has: the registry's count when it gives one
/// (fewer at some schools), else a plausible mix for its size.
fn mix(school: &School, hosts: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<DeviceKind> {
    use DeviceKind::*;
    let mut kinds = vec![Switch];
    if school.expected_devices > 0 {
        let n = (school.expected_devices as usize).min(MAX_DEVICES);
        if n >= 2 {
            kinds.push(Router);
        }
        if n >= 3 && rng.random_bool(0.7) {
            kinds.push(Ups);
        }
        let pool = [
            (Printer, 3.0),
            (Projector, 3.0),
            (AccessPoint, 2.0),
            (Pc, 1.0),
            (Unknown, 1.0),
        ];
        let total: f64 = pool.iter().map(|(_, w)| w).sum();
        while kinds.len() < n {
            let mut x = rng.random_range(0.0..total);
            let kind = pool
                .iter()
                .find(|(_, w)| {
                    x -= w;
                    x < 0.0
                })
                .map_or(Unknown, |(k, _)| *k);
            kinds.push(kind);
        }
        if kinds.len() > 2 && rng.random_bool(SHORT_SHARE) {
            let short = rng.random_range(1..=((kinds.len() - 2) / 3).max(1));
            kinds.truncate(kinds.len() - short);
        }
    } else {
        let big = school.expected_lab_pcs >= 20
            || hosts >= 10
            || matches!(school.level, Level::LowerSecondary | Level::UpperSecondary);
        let lo = u32::from(big);
        kinds.push(Router);
        if rng.random_bool(if big { 0.7 } else { 0.4 }) {
            kinds.push(Ups);
        }
        for (kind, range) in [
            (Printer, lo..=2),
            (Projector, lo..=3),
            (AccessPoint, 0..=2),
            (Pc, 0..=1),
            (Unknown, 0..=2),
        ] {
            for _ in 0..rng.random_range(range) {
                kinds.push(kind);
            }
        }
    }
    kinds
}

/// A switch's ports: the first trunk port is the uplink (all of the
/// school's traffic), the first access port the server's (a quarter of
/// it), and the rest of what is plugged in shares the remainder.
fn switch_ports(
    m: &SwitchModel,
    hosts: usize,
    peak_rx: f64,
    peak_tx: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> Vec<Port> {
    let (prefix, count, speed) = m.access;
    let plugged = (hosts as u32 + rng.random_range(0..4)).clamp(1, count);
    let weights: Vec<f64> = (1..plugged).map(|_| rng.random_range(0.5..1.5)).collect();
    let total: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let mut ports = Vec::new();
    for i in 1..=count {
        let up = i <= plugged;
        let share = match i {
            1 => 0.25,
            _ if up => 0.75 * weights[(i - 2) as usize] / total,
            _ => 0.0,
        };
        ports.push(Port {
            index: i,
            name: format!("{prefix}{i}"),
            alias: if i == 1 {
                "server".into()
            } else {
                String::new()
            },
            speed_bps: speed,
            up,
            uplink: false,
            // The PC's upload comes in, its download goes out.
            in_peak: share * peak_tx,
            out_peak: share * peak_rx,
            base_in: rng.random_range(0..20_000_000_000),
            base_out: rng.random_range(0..50_000_000_000),
        });
    }
    let (prefix, first, trunks, speed) = m.trunk;
    for j in 0..trunks {
        let uplink = j == 0;
        ports.push(Port {
            index: count + j + 1,
            name: format!("{prefix}{}", first + j),
            alias: if uplink {
                "UPLINK-ISP".into()
            } else {
                String::new()
            },
            speed_bps: speed,
            up: uplink,
            uplink,
            in_peak: if uplink { peak_rx } else { 0.0 },
            out_peak: if uplink { peak_tx } else { 0.0 },
            base_in: rng.random_range(0..500_000_000_000),
            base_out: rng.random_range(0..100_000_000_000),
        });
    }
    ports
}

/// The stretch a UPS runs on battery: at most 80 % of its runtime, half
/// of them over before the end of the run, half still going on then.
fn flaky(full_runtime_secs: f64, duration_ms: u64, rng: &mut Xoshiro256PlusPlus) -> Range<u64> {
    let longest = (full_runtime_secs * 800.0) as u64;
    let len = rng.random_range(300_000..longest.max(300_001));
    let start = if rng.random_bool(0.5) {
        rng.random_range(0..=duration_ms.saturating_sub(len))
    } else {
        duration_ms.saturating_sub(len) + rng.random_range(0..len / 2)
    };
    start..start + len
}

/// A serial number, as makers print them.
fn serial(rng: &mut Xoshiro256PlusPlus) -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    let tail: String = (0..8)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("FOC{tail}")
}

// === what the devices say at a moment ===

impl SimDevice {
    /// Its sysUpTime at fleet time `at_ms`, seconds: from its reboot when
    /// the power came back, if it was cut before.
    fn uptime_secs(&self, outage: Option<Outage>, at_ms: u64) -> f64 {
        match power_back(outage, at_ms) {
            Some(back) => (at_ms - back) as f64 / 1000.0,
            None => self.uptime_at_start_secs as f64 + at_ms as f64 / 1000.0,
        }
    }

    /// The system group, as the sweep's SNMP probe reads it at `at_ms`
    /// (`None` when it does not answer SNMP).
    fn system(&self, school: &SimSchool, at_ms: u64) -> Option<SnmpData> {
        let (descr, oid) = self.snmp?;
        Some(SnmpData {
            sys_descr: descr.to_owned(),
            sys_object_id: oid.to_owned(),
            sys_name: self.sys_name.clone(),
            sys_location: school.school.name.clone(),
            // sysUpTime counts hundredths.
            uptime_seconds: (self.uptime_secs(school.outage, at_ms) * 100.0).floor() / 100.0,
            ..SnmpData::default()
        })
    }

    /// The kind the agent's guess gives it from a sweep: from its
    /// system group if it answers SNMP, else from its vendor.
    pub fn swept_kind(&self) -> DeviceKind {
        let snmp = self.snmp.map(|(descr, oid)| SnmpData {
            sys_descr: descr.to_owned(),
            sys_object_id: oid.to_owned(),
            ..SnmpData::default()
        });
        kind::guess(snmp.as_ref(), self.vendor)
    }

    /// The entry the sweep makes for it at `at_ms`.
    fn swept(&self, school: &SimSchool, at_ms: u64) -> Device {
        let snmp = self.system(school, at_ms);
        Device {
            address: self.address.to_string(),
            mac: Some(self.mac.clone()),
            vendor: self.vendor.map(str::to_owned),
            kind: kind::guess(snmp.as_ref(), self.vendor),
            configured: false,
            icmp_up: true,
            snmp,
            error: None,
        }
    }

    /// What a poll reads at `at_ms`, with rates since the poll at
    /// `prev_ms` when there was one since the agent started.
    fn polled(
        &self,
        school: &SimSchool,
        fleet_start_ms: u64,
        at_ms: u64,
        prev_ms: Option<u64>,
    ) -> SnmpData {
        let mut data = self.system(school, at_ms).unwrap_or_default();
        if let Some((model, serial)) = &self.chassis {
            data.model = Some((*model).to_owned());
            data.serial = Some(serial.clone());
        }
        match &self.detail {
            Detail::Switch(ports) => {
                let moved = |t| uplink_peak_seconds(school.outage, fleet_start_ms, t);
                let now = moved(at_ms);
                let before = prev_ms.map(|p| (p, moved(p)));
                let rebooted = power_back(school.outage, at_ms).is_some();
                data.interfaces = ports
                    .iter()
                    .map(|p| {
                        let (in_octets, out_octets) = p.octets(now, rebooted);
                        let rate = |now: u64, then: u64, prev: u64| {
                            (now - then) as f64 * 8.0 / ((at_ms - prev) as f64 / 1000.0)
                        };
                        let (in_bps, out_bps) = match before {
                            Some((prev, moved_then)) => {
                                let (i0, o0) = p.octets(moved_then, rebooted);
                                (
                                    Some(rate(in_octets, i0, prev)),
                                    Some(rate(out_octets, o0, prev)),
                                )
                            }
                            None => (None, None),
                        };
                        DeviceInterface {
                            index: p.index,
                            name: p.name.clone(),
                            alias: p.alias.clone(),
                            oper_up: p.up,
                            speed_bps: p.speed_bps,
                            in_octets,
                            out_octets,
                            in_bps,
                            out_bps,
                            uplink: p.uplink,
                        }
                    })
                    .collect();
            }
            Detail::Ups(ups) => data.ups = Some(ups.status(at_ms)),
            Detail::Printer(supplies) => {
                let printed = peak_seconds(fleet_start_ms, 0, at_ms);
                data.supplies = supplies
                    .iter()
                    .map(|s| PrinterSupply {
                        description: s.description.to_owned(),
                        level_ratio: Some(s.level_ratio(printed)),
                    })
                    .collect();
            }
            Detail::Plain => {}
        }
        data
    }
}

impl Port {
    /// Its counters when `moved` peak-seconds of the school's traffic have
    /// passed since they started: from 0 after a reboot.
    pub fn octets(&self, moved: f64, rebooted: bool) -> (u64, u64) {
        let (bi, bo) = if rebooted {
            (0, 0)
        } else {
            (self.base_in, self.base_out)
        };
        (
            bi + (self.in_peak * moved) as u64,
            bo + (self.out_peak * moved) as u64,
        )
    }
}

impl Ups {
    /// UPS-MIB at fleet time `at_ms`: charge falls on battery and comes
    /// back in four hours from empty; runtime follows the charge;
    /// both as the MIB's whole numbers (percent, minutes).
    pub fn status(&self, at_ms: u64) -> UpsStatus {
        let full_ms = self.full_runtime_secs * 1000.0;
        let (on_battery, charge) = match &self.on_battery {
            Some(b) if b.contains(&at_ms) => {
                (true, 100.0 - 100.0 * (at_ms - b.start) as f64 / full_ms)
            }
            Some(b) if at_ms >= b.end => {
                let low = 100.0 - 100.0 * (b.end - b.start) as f64 / full_ms;
                (
                    false,
                    (low + 100.0 * (at_ms - b.end) as f64 / RECHARGE_MS).min(100.0),
                )
            }
            _ => (false, 100.0),
        };
        let charge = charge.floor();
        UpsStatus {
            on_battery,
            battery_status: if charge < 25.0 { 3 } else { 2 },
            charge_percent: Some(charge),
            runtime_seconds: Some((self.full_runtime_secs / 60.0 * charge / 100.0).floor() * 60.0),
        }
    }
}

impl Supply {
    /// Its level after `printed` peak-seconds of printing, as the printer
    /// reports it: whole percent of the capacity, never below 0.
    pub fn level_ratio(&self, printed: f64) -> f64 {
        let level = (self.start_level - self.per_peak_second * printed).max(0.0);
        (level * 100.0).floor() / 100.0
    }
}

/// When the power came back before fleet time `at_ms`, if it was cut.
fn power_back(outage: Option<Outage>, at_ms: u64) -> Option<u64> {
    outage
        .filter(|o| o.kind == OutageKind::Power && o.end_ms <= at_ms)
        .map(|o| o.end_ms)
}

/// Peak-seconds of the school day between two fleet times.
fn peak_seconds(fleet_start_ms: u64, from_ms: u64, to_ms: u64) -> f64 {
    if to_ms <= from_ms {
        return 0.0;
    }
    let secs = |ms: u64| (fleet_start_ms + ms) as f64 / 1000.0;
    (traffic::integral(secs(to_ms)) - traffic::integral(secs(from_ms))).max(0.0)
}

/// Peak-seconds of the school's traffic through its uplink from when the
/// switch's counters started (the run's start, or the power's return) to
/// `at_ms`: nothing flows while the operator's link or the LAN is down.
/// Each stretch is summed on its own, so the result stays the same
/// through an outage and counters never step back.
pub fn uplink_peak_seconds(outage: Option<Outage>, fleet_start_ms: u64, at_ms: u64) -> f64 {
    let origin = power_back(outage, at_ms).unwrap_or(0);
    match outage.filter(|o| matches!(o.kind, OutageKind::Wan | OutageKind::Lan)) {
        Some(o) => {
            peak_seconds(fleet_start_ms, origin, at_ms.min(o.start_ms))
                + peak_seconds(fleet_start_ms, origin.max(o.end_ms), at_ms)
        }
        None => peak_seconds(fleet_start_ms, origin, at_ms),
    }
}

// === pictures in reports ===

impl Builder<'_> {
    /// The school's device set, when host `h` is the server that reports
    /// it.
    fn device_set(&self, h: usize) -> Option<&DeviceSet> {
        let host = &self.fleet.hosts[h];
        if host.role != Role::Server || self.devices_every_ms == 0 {
            return None;
        }
        self.fleet.schools[host.school].devices.as_ref()
    }

    /// Whether host `h`'s report at tick `k` carries a devices picture:
    /// the school's server's, the first after its agent starts, then the
    /// first after each `devices_every_ms` of the run.
    pub fn carries_devices(&self, h: usize, k: u64) -> bool {
        if self.device_set(h).is_none() {
            return false;
        }
        let every = self.devices_every_ms;
        let interval = self.fleet.interval_ms;
        self.fleet.starts_agent(h, k)
            || (k > 0 && (k * interval) / every > ((k - 1) * interval) / every)
    }

    /// The tick at which host `h`'s agent running at tick `k` started.
    fn agent_start_tick(&self, h: usize, k: u64) -> u64 {
        let phase = self.fleet.hosts[h].phase_ms;
        self.fleet
            .booted_ms(h, self.fleet.tick_ms(h, k))
            .map_or(0, |back| {
                back.saturating_sub(phase)
                    .div_ceil(self.fleet.interval_ms.max(1))
            })
    }

    /// Whether the school's LAN is down at `at_ms`.
    fn lan_down(&self, h: usize, at_ms: u64) -> bool {
        self.fleet
            .outage(h)
            .is_some_and(|o| o.kind == OutageKind::Lan && o.covers(at_ms))
    }

    /// When the newest sweep before host `h`'s tick `k` ran: at the
    /// agent's start and every [`SWEEP_EVERY_MS`] after.
    fn sweep_ms(&self, h: usize, k: u64) -> u64 {
        let start = self.fleet.tick_ms(h, self.agent_start_tick(h, k));
        let every = *SWEEP_EVERY_MS;
        start + (self.fleet.tick_ms(h, k) - start) / every * every
    }

    /// When the previous poll that got an answer ran, since the agent
    /// started: the rates of tick `k`'s poll are over the time since then.
    fn previous_poll_ms(&self, h: usize, k: u64) -> Option<u64> {
        let start = self.agent_start_tick(h, k);
        let phase = self.fleet.hosts[h].phase_ms;
        let mut j = k;
        while j > start {
            j -= 1;
            let at = self.fleet.tick_ms(h, j);
            if self.lan_down(h, at) {
                // Nothing answered through the outage: go back to before
                // it at once.
                let o = self.fleet.outage(h).expect("a LAN outage covers it");
                j = o
                    .start_ms
                    .saturating_sub(phase)
                    .div_ceil(self.fleet.interval_ms.max(1))
                    .max(start);
                continue;
            }
            if self.carries_devices(h, j) {
                return Some(at);
            }
        }
        None
    }

    /// Whether device `d` is in the sweep behind host `h`'s tick `k`.
    fn found(&self, h: usize, k: u64, d: &SimDevice) -> bool {
        let swept = self.sweep_ms(h, k);
        !self.lan_down(h, swept) && d.gone_ms.is_none_or(|g| swept < g)
    }

    /// Which of the school's devices host `h`'s picture at tick `k` holds,
    /// bit `i` for device `i` (the polled ones always: a failed poll is
    /// reported too); 0 when it reports none.
    pub fn devices_present(&self, h: usize, k: u64) -> u64 {
        let Some(set) = self.device_set(h) else {
            return 0;
        };
        set.devices
            .iter()
            .enumerate()
            .filter(|(_, d)| d.configured || self.found(h, k, d))
            .fold(0, |mask, (i, _)| mask | 1 << i)
    }

    /// Host `h`'s devices picture at tick `k`, as the agent makes it: this
    /// round's polls and the newest sweep, merged by the agent's own
    /// [`merge`]. `None` when it reports no devices.
    pub fn devices(&self, h: usize, k: u64) -> Option<Devices> {
        let set = self.device_set(h)?;
        let school = &self.fleet.schools[self.fleet.hosts[h].school];
        let at = self.fleet.tick_ms(h, k);
        let swept_at = self.sweep_ms(h, k);
        // The sweep lists what answered in address order.
        let mut found: Vec<&SimDevice> =
            set.devices.iter().filter(|d| self.found(h, k, d)).collect();
        found.sort_by_key(|d| d.address);
        let swept = Devices {
            subnets: vec![set.subnet.clone()],
            devices: found.iter().map(|d| d.swept(school, swept_at)).collect(),
        };
        let lan_down = self.lan_down(h, at);
        let prev = self.previous_poll_ms(h, k);
        let configured: Vec<(&SimDevice, SnmpDevice)> = set
            .devices
            .iter()
            .filter(|d| d.configured)
            .map(|d| {
                let target = Target::new(
                    d.address.to_string(),
                    Credentials::V2c {
                        community: "public".into(),
                    },
                );
                let uplink = match &d.detail {
                    Detail::Switch(ports) => {
                        ports.iter().find(|p| p.uplink).map(|p| p.name.clone())
                    }
                    _ => None,
                };
                (d, SnmpDevice { target, uplink })
            })
            .collect();
        let polled = configured
            .iter()
            .map(|(d, config)| {
                let result = if lan_down {
                    Err(SnmpError::Timeout {
                        addr: config.target.address(),
                        tries: *POLL_TRIES,
                    }
                    .to_string())
                } else {
                    Ok(d.polled(school, self.fleet_start_ms, at, prev))
                };
                (config, result)
            })
            .collect();
        Some(merge(polled, Some(&swept)))
    }
}

#[cfg(test)]
mod tests;
