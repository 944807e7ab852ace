//! Network devices end to end: a school server's agent polls three devices
//! served by a real SNMP responder (`snmpsimd`: a switch whose uplink
//! counter grows at a known rate, a UPS on battery, a printer), its reports
//! reach a real collector, and `/metrics` shows each device, the uplink's
//! load, the UPS on battery, the printer's toner, and the school's
//! equipment coverage against the registry's expectation. A device dropped
//! from the agent's config is then missing, not up, and still on record.

use schoolwatch_tests::agent::TestAgent;
use schoolwatch_tests::collector::{TEST_REGISTRY, TestCollector};
use schoolwatch_tests::snmp::{PRINTER, Snmpsim, UPS, free_udp_port};
use schoolwatch_tests::{ChildGuard, metric};
use std::time::{Duration, Instant};

/// A 3-port switch: port 3 (`Gi0/3`, alias "uplink to ISP router") is the
/// uplink, 100 Mbit/s, receiving 125,000 octets/s and sending 25,000
/// (snmpsim's `numeric` variation grows the counters with time): 1 Mbit/s
/// in, 0.2 Mbit/s out, 1 % of the port.
const SWITCH: &str = "\
1.3.6.1.2.1.1.1.0|4|Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M) (written for schoolwatch tests)
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.9.1.694
1.3.6.1.2.1.1.3.0|67:numeric|rate=100,initial=500000
1.3.6.1.2.1.1.5.0|4|sw-truong-a
1.3.6.1.2.1.1.6.0|4|Phong may
1.3.6.1.2.1.2.2.1.2.1|4|GigabitEthernet0/1
1.3.6.1.2.1.2.2.1.2.2|4|GigabitEthernet0/2
1.3.6.1.2.1.2.2.1.2.3|4|GigabitEthernet0/3
1.3.6.1.2.1.2.2.1.5.1|66|1000000000
1.3.6.1.2.1.2.2.1.5.2|66|1000000000
1.3.6.1.2.1.2.2.1.5.3|66|100000000
1.3.6.1.2.1.2.2.1.8.1|2|1
1.3.6.1.2.1.2.2.1.8.2|2|2
1.3.6.1.2.1.2.2.1.8.3|2|1
1.3.6.1.2.1.2.2.1.10.1|65|1000
1.3.6.1.2.1.2.2.1.10.2|65|0
1.3.6.1.2.1.2.2.1.10.3|65|0
1.3.6.1.2.1.2.2.1.16.1|65|2000
1.3.6.1.2.1.2.2.1.16.2|65|0
1.3.6.1.2.1.2.2.1.16.3|65|0
1.3.6.1.2.1.31.1.1.1.1.1|4|Gi0/1
1.3.6.1.2.1.31.1.1.1.1.2|4|Gi0/2
1.3.6.1.2.1.31.1.1.1.1.3|4|Gi0/3
1.3.6.1.2.1.31.1.1.1.6.1|70|1000
1.3.6.1.2.1.31.1.1.1.6.2|70|0
1.3.6.1.2.1.31.1.1.1.6.3|70:numeric|rate=125000,initial=7000000000
1.3.6.1.2.1.31.1.1.1.10.1|70|2000
1.3.6.1.2.1.31.1.1.1.10.2|70|0
1.3.6.1.2.1.31.1.1.1.10.3|70:numeric|rate=25000,initial=3000000000
1.3.6.1.2.1.31.1.1.1.15.1|66|1000
1.3.6.1.2.1.31.1.1.1.15.2|66|1000
1.3.6.1.2.1.31.1.1.1.15.3|66|100
1.3.6.1.2.1.31.1.1.1.18.1|4|
1.3.6.1.2.1.31.1.1.1.18.2|4|
1.3.6.1.2.1.31.1.1.1.18.3|4|uplink to ISP router
";

fn agent_config(port: u16, with_printer: bool) -> String {
    let mut c = format!(
        "[agent]\nrole = \"server\"\n\
         [snmp]\ninterval_secs = 1\ntimeout_ms = 1000\nretries = 1\n\
         [[snmp.device]]\naddress = \"127.0.0.1:{port}\"\ncommunity = \"switch\"\nuplink = \"Gi0/3\"\n\
         [[snmp.device]]\naddress = \"127.0.0.2:{port}\"\ncommunity = \"ups\"\n"
    );
    if with_printer {
        c.push_str(&format!(
            "[[snmp.device]]\naddress = \"127.0.0.3:{port}\"\ncommunity = \"printer\"\n"
        ));
    }
    c
}

/// Polls `/metrics` until `ready` holds for it, or fails after a minute.
fn wait_metrics(c: &TestCollector, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let text = c.metrics();
        if ready(&text) {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} never showed on /metrics:\n{}",
            text.lines()
                .filter(|l| l.starts_with("schoolwatch_device")
                    || l.starts_with("schoolwatch_school_dev"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn polled_devices_reach_metrics_and_coverage() {
    // One snmpsimd on three loopback addresses: three devices, each with
    // its own community (recording).
    let port = free_udp_port();
    let endpoints: Vec<String> = ["127.0.0.2", "127.0.0.3"]
        .iter()
        .map(|ip| format!("--agent-udpv4-endpoint={ip}:{port}"))
        .collect();
    let flags: Vec<&str> = endpoints.iter().map(String::as_str).collect();
    let _sim = Snmpsim::start_at(
        port,
        &[
            ("switch", SWITCH.to_owned()),
            ("ups", UPS.to_owned()),
            ("printer", PRINTER.to_owned()),
        ],
        &flags,
    );

    let c = TestCollector::start("");
    // The registry says t-a should have 20 lab PCs and 4 network devices.
    let registry = TEST_REGISTRY
        .replacen("contracted_mbps\n", "contracted_mbps,expected_devices\n", 1)
        .replace("fibre,50\n", "fibre,50,4\n")
        .replace("4g,25\n", "4g,25,\n")
        .replace("fibre,100\n", "fibre,100,\n");
    let csv = c.dir.path().join("schools-devices.csv");
    std::fs::write(&csv, registry).unwrap();
    c.cli(&["schools", "import", csv.to_str().unwrap()]);

    let dir = tempfile::tempdir().unwrap();
    let agent = TestAgent::enroll(&c, dir.path(), "t-a", "srv-a", &agent_config(port, true));
    let run = ChildGuard::spawn(
        "agent run",
        &mut agent.command(&["run", "--interval", "1s"]),
    );

    let sw = format!("127.0.0.1:{port}");
    let ups = format!("127.0.0.2:{port}");
    let printer = format!("127.0.0.3:{port}");
    let school = [("school", "t-a"), ("district", "Pleiku")];
    let with = |extra: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        school
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .chain(extra.iter().map(|(k, v)| (*k, (*v).to_owned())))
            .collect()
    };
    let get = |text: &str, name: &str, labels: &[(&'static str, String)]| {
        let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        metric(text, name, &l)
    };
    // Rates need two polls of the switch.
    let text = wait_metrics(&c, "the uplink's rate", |t| {
        get(
            t,
            "schoolwatch_school_uplink_receive_bits_per_second",
            &with(&[]),
        )
        .is_some()
            && get(
                t,
                "schoolwatch_device_supply_level_ratio",
                &with(&[
                    ("device", &printer),
                    ("supply", "Black Cartridge HP CF226A"),
                ]),
            )
            .is_some()
    });

    // Each device, of the kind its answers say.
    for (device, kind) in [(&sw, "switch"), (&ups, "ups"), (&printer, "printer")] {
        assert_eq!(
            get(&text, "schoolwatch_device_up", &with(&[("device", device)])),
            Some(1.0),
            "{device} up"
        );
        assert_eq!(
            get(
                &text,
                "schoolwatch_school_devices",
                &with(&[("kind", kind), ("vendor", "unknown")])
            ),
            Some(1.0),
            "one {kind}"
        );
    }
    assert_eq!(
        get(
            &text,
            "schoolwatch_device_info",
            &with(&[
                ("device", &sw),
                ("address", &sw),
                ("kind", "switch"),
                ("name", "sw-truong-a"),
                ("sys_object_id", "1.3.6.1.4.1.9.1.694"),
                ("configured", "true"),
            ])
        ),
        Some(1.0)
    );
    // The uplink: what snmpsim's counters grow by, to within the time
    // between the two polls as the agent and snmpsimd each measure it.
    let rx = get(
        &text,
        "schoolwatch_school_uplink_receive_bits_per_second",
        &with(&[]),
    )
    .unwrap();
    let tx = get(
        &text,
        "schoolwatch_school_uplink_transmit_bits_per_second",
        &with(&[]),
    )
    .unwrap();
    let use_ = get(
        &text,
        "schoolwatch_school_uplink_utilisation_ratio",
        &with(&[]),
    )
    .unwrap();
    assert!(
        (rx - 1e6).abs() < 0.1e6,
        "uplink in {rx} bit/s, want 1 Mbit/s"
    );
    assert!(
        (tx - 0.2e6).abs() < 0.02e6,
        "uplink out {tx} bit/s, want 0.2 Mbit/s"
    );
    assert!(
        (use_ - rx / 1e8).abs() < 1e-9,
        "utilisation {use_} = in / 100 Mbit/s"
    );
    assert_eq!(
        get(
            &text,
            "schoolwatch_school_uplink_speed_bits_per_second",
            &with(&[])
        ),
        Some(1e8)
    );
    assert_eq!(
        get(
            &text,
            "schoolwatch_device_interface_receive_bits_per_second",
            &with(&[("device", &sw), ("interface", "Gi0/3")])
        ),
        Some(rx),
        "the school's uplink is that port's rate"
    );
    // The other ports' counters stand still: rate 0, counters as recorded.
    for (port_name, up, rx_bytes) in [("Gi0/1", 1.0, 1000.0), ("Gi0/2", 0.0, 0.0)] {
        let l = with(&[("device", &sw), ("interface", port_name)]);
        assert_eq!(
            get(
                &text,
                "schoolwatch_device_interface_receive_bits_per_second",
                &l
            ),
            Some(0.0)
        );
        assert_eq!(get(&text, "schoolwatch_device_interface_up", &l), Some(up));
        assert_eq!(
            get(
                &text,
                "schoolwatch_device_interface_receive_bytes_total",
                &l
            ),
            Some(rx_bytes)
        );
        assert_eq!(
            get(
                &text,
                "schoolwatch_device_interface_speed_bits_per_second",
                &l
            ),
            Some(1e9)
        );
    }
    // The UPS on battery and the printer's toner, as recorded.
    let u = with(&[("device", &ups)]);
    assert_eq!(
        get(&text, "schoolwatch_device_ups_on_battery", &u),
        Some(1.0)
    );
    assert_eq!(
        get(&text, "schoolwatch_device_ups_battery_status", &u),
        Some(3.0)
    );
    assert_eq!(
        get(&text, "schoolwatch_device_ups_charge_ratio", &u),
        Some(0.4)
    );
    assert_eq!(
        get(&text, "schoolwatch_device_ups_runtime_seconds", &u),
        Some(720.0)
    );
    assert_eq!(
        get(&text, "schoolwatch_school_ups_on_battery", &with(&[])),
        Some(1.0)
    );
    assert_eq!(
        get(
            &text,
            "schoolwatch_device_supply_level_ratio",
            &with(&[
                ("device", &printer),
                ("supply", "Black Cartridge HP CF226A")
            ])
        ),
        Some(0.25)
    );
    assert_eq!(
        get(
            &text,
            "schoolwatch_device_supply_level_ratio",
            &with(&[("device", &printer), ("supply", "Waste Toner Box")])
        ),
        None,
        "\"some left\" is not a level"
    );
    // Coverage: t-a expects 20 lab PCs and 4 devices; the server and three
    // devices are on record: 4 of 24. Pleiku's t-b expects 25 PCs, none.
    let d = [("district", "Pleiku")];
    assert_eq!(
        metric(&text, "schoolwatch_district_devices_known", &d),
        Some(3.0)
    );
    assert_eq!(
        metric(&text, "schoolwatch_district_devices_expected", &d),
        Some(4.0)
    );
    assert_eq!(
        metric(&text, "schoolwatch_district_equipment_expected", &d),
        Some(49.0)
    );
    assert_eq!(
        metric(&text, "schoolwatch_district_equipment_recorded", &d),
        Some(4.0)
    );
    assert_eq!(
        metric(&text, "schoolwatch_district_equipment_record_ratio", &d),
        Some(4.0 / 49.0)
    );
    assert_eq!(
        metric(&text, "schoolwatch_province_devices_known", &[]),
        Some(3.0)
    );
    assert_eq!(
        get(&text, "schoolwatch_school_devices_new", &with(&[])),
        Some(3.0)
    );
    assert_eq!(
        get(&text, "schoolwatch_school_devices_missing", &with(&[])),
        Some(0.0)
    );

    // The printer leaves the config: after the agent's next round it is
    // missing (and down) but still on record.
    run.terminate();
    std::fs::write(&agent.config, agent_config(port, false)).unwrap();
    let _run = ChildGuard::spawn(
        "agent run",
        &mut agent.command(&["run", "--interval", "1s"]),
    );
    let text = wait_metrics(&c, "the printer missing", |t| {
        get(t, "schoolwatch_school_devices_missing", &with(&[])) == Some(1.0)
    });
    assert_eq!(
        get(
            &text,
            "schoolwatch_device_up",
            &with(&[("device", &printer)])
        ),
        Some(0.0)
    );
    assert_eq!(
        get(&text, "schoolwatch_device_up", &with(&[("device", &sw)])),
        Some(1.0)
    );
    assert_eq!(
        get(&text, "schoolwatch_school_devices_up", &with(&[])),
        Some(2.0)
    );
    assert_eq!(
        metric(&text, "schoolwatch_district_devices_known", &d),
        Some(3.0)
    );
}
