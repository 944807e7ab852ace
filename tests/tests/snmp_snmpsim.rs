//! The SNMP poller against recorded real devices, served by `snmpsimd`
//! from the recordings the Debian package ships (a Cisco Catalyst 3750
//! stack, a Linux host running net-snmp): the system group, every
//! interface's name, alias, status, speed and counters, and the chassis
//! model and serial equal what the recording holds, read by parsing the
//! `.snmprec` file here. The package ships no UPS or printer, so two small
//! recordings written below (a UPS on battery, a laser printer) check the
//! UPS-MIB and Printer-MIB readings through the same real responder.

use schoolwatch_protocol::{
    Device, DeviceInterface, DeviceKind, Devices, Limits, PrinterSupply, Report, SnmpData,
    UpsStatus,
};
use schoolwatch_tests::snmp::{
    PRINTER, RecValue, Snmpsim, UPS, example_recording, oid, parse_snmprec,
};
use schoolwatch_tests::{agent_args, bin};
use std::collections::BTreeMap;
use std::process::Command;

/// A parsed recording.
struct Rec(BTreeMap<Vec<u64>, RecValue>);

impl Rec {
    fn get(&self, dotted: &str) -> Option<&RecValue> {
        self.0.get(&oid(dotted))
    }

    /// A string object as the agent reports it: lossy UTF-8, trailing NULs
    /// dropped, at most 256 bytes.
    fn text(&self, dotted: &str) -> Option<String> {
        match self.get(dotted)? {
            RecValue::Bytes(b) => {
                let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
                let mut s = String::from_utf8_lossy(&b[..end]).into_owned();
                let mut cut = s.len().min(256);
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
                Some(s)
            }
            v => panic!("{dotted} is not a string: {v:?}"),
        }
    }

    fn number(&self, dotted: &str) -> Option<i128> {
        match self.get(dotted)? {
            RecValue::Number(n) => Some(*n),
            v => panic!("{dotted} is not a number: {v:?}"),
        }
    }

    /// The rows of a column: index suffix → value.
    fn column(&self, dotted: &str) -> Vec<(Vec<u64>, &RecValue)> {
        let c = oid(dotted);
        self.0
            .range(c.clone()..)
            .take_while(|(o, _)| o.starts_with(&c))
            .map(|(o, v)| (o[c.len()..].to_vec(), v))
            .collect()
    }
}

/// Everything a poll of the recorded device must report, from the
/// recording alone (rules as documented in the protocol's `SnmpData`).
fn expected(rec: &Rec, uplink: Option<&str>) -> SnmpData {
    let sys = |n: u64| format!("1.3.6.1.2.1.1.{n}.0");
    let mut d = SnmpData {
        sys_descr: rec.text(&sys(1)).unwrap_or_default(),
        sys_object_id: match rec.get(&sys(2)) {
            Some(RecValue::Oid(o)) => o.clone(),
            _ => String::new(),
        },
        uptime_seconds: rec.number(&sys(3)).map_or(0.0, |t| t as f64 / 100.0),
        sys_name: rec.text(&sys(5)).unwrap_or_default(),
        sys_location: rec.text(&sys(6)).unwrap_or_default(),
        ..SnmpData::default()
    };

    // Interfaces: every ifIndex in ifTable or ifXTable.
    let mut indexes: Vec<u64> = ["1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.31.1.1.1"]
        .iter()
        .flat_map(|t| rec.column(t))
        .filter(|(suffix, _)| suffix.len() == 2)
        .map(|(suffix, _)| suffix[1])
        .collect();
    indexes.sort_unstable();
    indexes.dedup();
    for i in indexes {
        let if_ = |col: u64| format!("1.3.6.1.2.1.2.2.1.{col}.{i}");
        let ifx = |col: u64| format!("1.3.6.1.2.1.31.1.1.1.{col}.{i}");
        let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let name = nonempty(rec.text(&ifx(1)))
            .or_else(|| nonempty(rec.text(&if_(2))))
            .unwrap_or_else(|| format!("if{i}"));
        let if_speed = rec.number(&if_(5));
        // ifHighSpeed × 10⁶, but the exact ifSpeed when it agrees within
        // ifHighSpeed's rounding; ifSpeed alone without ifHighSpeed.
        let speed = match (if_speed, rec.number(&ifx(15))) {
            (s, Some(h)) if h > 0 => match s {
                Some(s) if s < i128::from(u32::MAX) && (s - h * 1_000_000).abs() < 1_000_000 => s,
                _ => h * 1_000_000,
            },
            (Some(s), _) => s,
            (None, _) => 0,
        };
        let octets = |hc: u64, c32: u64| {
            rec.number(&ifx(hc))
                .or_else(|| rec.number(&if_(c32)))
                .unwrap_or(0) as u64
        };
        let alias = rec.text(&ifx(18)).unwrap_or_default();
        let is_uplink = uplink
            .is_some_and(|u| name == u || rec.text(&if_(2)).as_deref() == Some(u) || alias == u);
        d.interfaces.push(DeviceInterface {
            index: u32::try_from(i).unwrap(),
            name,
            alias,
            oper_up: rec.number(&if_(8)) == Some(1),
            speed_bps: speed as u64,
            in_octets: octets(6, 10),
            out_octets: octets(10, 16),
            in_bps: None,
            out_bps: None,
            uplink: is_uplink,
        });
    }

    // ENTITY-MIB: the first chassis (class 3) in table order.
    if let Some((index, _)) = rec
        .column("1.3.6.1.2.1.47.1.1.1.1.5")
        .into_iter()
        .find(|(_, v)| **v == RecValue::Number(3))
    {
        let dotted: Vec<String> = index.iter().map(u64::to_string).collect();
        let at = |col: u64| {
            rec.text(&format!(
                "1.3.6.1.2.1.47.1.1.1.1.{col}.{}",
                dotted.join(".")
            ))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
        };
        d.model = at(13);
        d.serial = at(11);
    }

    // UPS-MIB scalars, when the device has any.
    let ups = |o: &str| rec.number(&format!("1.3.6.1.2.1.33.1.{o}.0"));
    let (source, battery, minutes, charge) = (ups("4.1"), ups("2.1"), ups("2.3"), ups("2.4"));
    if source.or(battery).or(minutes).or(charge).is_some() {
        d.ups = Some(UpsStatus {
            on_battery: source == Some(5),
            battery_status: battery.filter(|b| (1..=4).contains(b)).unwrap_or(1) as u8,
            charge_percent: charge.filter(|c| (0..=100).contains(c)).map(|c| c as f64),
            runtime_seconds: minutes.filter(|m| *m >= 0).map(|m| m as f64 * 60.0),
        });
    }

    // Printer-MIB supplies.
    for (index, v) in rec.column("1.3.6.1.2.1.43.11.1.1.6").into_iter().take(16) {
        let RecValue::Bytes(b) = v else { continue };
        let dotted: Vec<String> = index.iter().map(u64::to_string).collect();
        let n = |col: u64| rec.number(&format!("1.3.6.1.2.1.43.11.1.1.{col}.{}", dotted.join(".")));
        d.supplies.push(PrinterSupply {
            description: String::from_utf8_lossy(b).into_owned(),
            level_ratio: match (n(8), n(9)) {
                (Some(max), Some(level)) if max > 0 && level >= 0 => {
                    Some((level as f64 / max as f64).min(1.0))
                }
                _ => None,
            },
        });
    }
    d
}

/// `schoolwatch-agent snmp --json` against the simulator's `community`.
fn poll(sim: &Snmpsim, community: &str, extra: &[&str]) -> SnmpData {
    let target = format!("127.0.0.1:{}", sim.port);
    let mut args = vec![
        "snmp",
        "--json",
        "--target",
        &target,
        "--community",
        community,
    ];
    args.extend_from_slice(extra);
    let out = Command::new(bin("schoolwatch-agent"))
        .args(agent_args(&args))
        .output()
        .expect("run schoolwatch-agent");
    assert!(
        out.status.success(),
        "schoolwatch-agent snmp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the agent prints SnmpData as JSON")
}

/// The poll fits in a report the collector accepts.
fn assert_within_limits(d: &SnmpData) {
    let mut r = Report::new("agent-1".into(), 1, 1);
    r.devices = Some(Devices {
        subnets: Vec::new(),
        devices: vec![Device {
            address: "127.0.0.1".into(),
            mac: None,
            vendor: None,
            kind: DeviceKind::Unknown,
            configured: true,
            icmp_up: false,
            snmp: Some(d.clone()),
            error: None,
        }],
    });
    Limits::DEFAULT
        .check(&r)
        .expect("within the protocol's limits");
}

#[test]
fn cisco_switch_recording_is_polled_exactly() {
    let text = example_recording("cisco_16_switch.snmprec.gz");
    let sim = Snmpsim::start(&[("cisco_16_switch", text.clone())]);
    let rec = Rec(parse_snmprec(&text));
    // The uplink marked by its ifDescr (its ifName is Fa3/0/43).
    let uplink = "FastEthernet3/0/43";
    let polled = poll(&sim, "cisco_16_switch", &["--uplink", uplink]);
    let want = expected(&rec, Some(uplink));
    // Spot values from the recording, so that a parser bug shared by the
    // test and the agent would still show.
    assert_eq!(want.sys_name, "Profiler3750");
    assert_eq!(want.sys_object_id, "1.3.6.1.4.1.9.1.516");
    assert_eq!(want.uptime_seconds, 6_972_022.57);
    assert_eq!(want.model.as_deref(), Some("WS-C3750-48PS-S"));
    assert_eq!(want.serial.as_deref(), Some("CAT0952N20R"));
    assert_eq!(want.interfaces.len(), 59);
    let up: Vec<&DeviceInterface> = want.interfaces.iter().filter(|i| i.uplink).collect();
    assert_eq!(up.len(), 1);
    assert_eq!((up[0].index, up[0].name.as_str()), (11043, "Fa3/0/43"));
    assert_eq!(up[0].alias, "connected to ruckus wlc ");
    // Null0 has only ifSpeed's ceiling and ifHighSpeed 10000; the stack
    // ports have no 64-bit counters.
    let nu0 = want.interfaces.iter().find(|i| i.name == "Nu0").unwrap();
    assert_eq!(nu0.speed_bps, 10_000_000_000);

    assert_eq!(polled, want);
    assert_within_limits(&polled);
    assert!(sim.pid() > 0);
}

#[test]
fn device_with_small_answers_is_still_polled_exactly() {
    // At most 8 varbinds per answer (snmpsim says genErr beyond): the
    // poller asks for fewer rows, then fewer columns at a time.
    let text = example_recording("cisco_16_switch.snmprec.gz");
    let sim = Snmpsim::start_with(&[("cisco_16_switch", text.clone())], &["--max-varbinds=8"]);
    let polled = poll(&sim, "cisco_16_switch", &[]);
    assert_eq!(polled, expected(&Rec(parse_snmprec(&text)), None));
}

#[test]
fn linux_host_recording_is_polled_exactly() {
    let text = example_recording("recorded/linux-full-walk.snmprec.gz");
    let sim = Snmpsim::start(&[("linux-full-walk", text.clone())]);
    let rec = Rec(parse_snmprec(&text));
    let polled = poll(&sim, "linux-full-walk", &[]);
    let want = expected(&rec, None);
    assert_eq!(want.sys_name, "tt");
    assert_eq!(
        want.interfaces
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>(),
        ["lo", "eth0"]
    );
    assert_eq!(want.interfaces[1].speed_bps, 100_000_000);
    assert_eq!(polled, want);
    assert_within_limits(&polled);
}

#[test]
fn ups_and_printer_recordings_are_polled_exactly() {
    let sim = Snmpsim::start(&[("ups", UPS.to_owned()), ("printer", PRINTER.to_owned())]);

    let ups = poll(&sim, "ups", &[]);
    let want = expected(&Rec(parse_snmprec(UPS)), None);
    assert_eq!(want.sys_location, "Thư viện");
    assert_eq!(
        want.ups,
        Some(UpsStatus {
            on_battery: true,
            battery_status: 3,
            charge_percent: Some(40.0),
            runtime_seconds: Some(720.0),
        })
    );
    assert_eq!(
        (want.interfaces[0].in_octets, want.interfaces[0].out_octets),
        (123_456, 654_321)
    );
    assert_eq!(ups, want);
    assert_within_limits(&ups);

    let printer = poll(&sim, "printer", &[]);
    let want = expected(&Rec(parse_snmprec(PRINTER)), None);
    assert_eq!(
        want.supplies,
        [
            PrinterSupply {
                description: "Black Cartridge HP CF226A".into(),
                level_ratio: Some(0.25),
            },
            PrinterSupply {
                description: "Imaging Drum".into(),
                level_ratio: None,
            },
            PrinterSupply {
                description: "Waste Toner Box".into(),
                level_ratio: None,
            },
        ]
    );
    assert_eq!(want.ups, None);
    assert_eq!(printer, want);
    assert_within_limits(&printer);
}
