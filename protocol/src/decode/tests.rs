//! Every limit and every refusal path of the decoder, one test each.

use super::*;
use crate::{
    Check, CheckStatus, DiskInfo, DiskKind, Dmi, InterfaceInfo, InterfaceSample, Inventory,
    ListeningSocket, Role, Sample, Security, Severity, SocketProtocol, SourceError,
};

fn full_report() -> Report {
    let mut r = Report::new("a1b2".into(), 3, 1_700_000_000_123);
    r.inventory = Some(Inventory {
        hostname: "lab-pc-07".into(),
        os_name: "Debian GNU/Linux".into(),
        os_version: "12".into(),
        kernel_version: "6.1.0".into(),
        architecture: "x86_64".into(),
        cpu_model: "Intel(R) Core(TM) i3-2100 CPU @ 3.10GHz".into(),
        cpu_physical_cores: Some(2),
        cpu_logical_cores: 4,
        memory_total_bytes: 4 << 30,
        swap_total_bytes: 1 << 30,
        boot_time_seconds: 1_699_990_000,
        disks: vec![DiskInfo {
            mount_point: "/".into(),
            device: "/dev/sda1".into(),
            filesystem: "ext4".into(),
            total_bytes: 500 << 30,
            available_bytes: 100 << 30,
            kind: DiskKind::Hdd,
            removable: false,
        }],
        interfaces: vec![InterfaceInfo {
            name: "eth0".into(),
            mac: Some("52:54:00:12:34:56".into()),
            addresses: vec!["192.0.2.7/24".into(), "fe80::1/64".into()],
            speed_mbps: Some(100),
            up: true,
        }],
        dmi: Dmi {
            vendor: Some("Dell Inc.".into()),
            product: Some("OptiPlex 390".into()),
            serial: None,
            bios_version: Some("A11".into()),
            bios_date: Some("12/04/2012".into()),
        },
        agent_version: "0.1.0".into(),
        role: Role::Lab,
    });
    r.sample = Some(Sample {
        interval_ms: 60_000,
        cpu_usage_ratio: 0.25,
        memory_used_bytes: 1 << 30,
        memory_available_bytes: 3 << 30,
        swap_used_bytes: 0,
        load: [0.5, 0.4, 0.3],
        interfaces: vec![InterfaceSample {
            name: "eth0".into(),
            rx_bytes: 1000,
            tx_bytes: 2000,
            rx_bits_per_second: 8000.0,
            ..Default::default()
        }],
    });
    r.health = Some(crate::AgentHealth {
        queue_reports: 3,
        dropped_corrupt: 1,
        ..Default::default()
    });
    r.errors = vec![SourceError {
        source: "net".into(),
        message: "x".into(),
    }];
    r.security = Some(Security {
        checks: vec![
            Check {
                id: "firewall_active".into(),
                status: CheckStatus::Pass,
                severity: Severity::High,
                evidence: "nftables: 3 input rules".into(),
                reason: None,
            },
            Check {
                id: "disk_encryption".into(),
                status: CheckStatus::Unknown,
                severity: Severity::Medium,
                evidence: String::new(),
                reason: Some("sys/block not readable".into()),
            },
        ],
        listening: vec![ListeningSocket {
            protocol: SocketProtocol::Tcp,
            address: "0.0.0.0".into(),
            port: 22,
            process: Some("sshd".into()),
        }],
    });
    r
}

fn encode(r: &Report) -> Vec<u8> {
    serde_json::to_vec(r).unwrap()
}

fn value(r: &Report) -> serde_json::Value {
    serde_json::to_value(r).unwrap()
}

fn limit_err(bytes: &[u8]) -> LimitError {
    match decode_report(bytes) {
        Err(DecodeError::Limit(e)) => e,
        other => panic!("expected a limit error, got {other:?}"),
    }
}

#[test]
fn full_report_round_trips() {
    let r = full_report();
    assert_eq!(decode_report(&encode(&r)).unwrap(), r);
}

#[test]
fn oversized_bytes_are_refused_before_parsing() {
    let limits = Limits {
        max_report_bytes: 100,
        ..Limits::DEFAULT
    };
    let bytes = encode(&full_report());
    match decode_report_with(&bytes, &limits) {
        Err(DecodeError::TooLarge { len, max: 100 }) => assert_eq!(len, bytes.len()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_is_malformed() {
    for bad in [
        &b"not json"[..],
        b"",
        b"[1,2]",
        b"{\"version\":1",
        b"\xff\xfe",
    ] {
        assert!(
            matches!(decode_report(bad), Err(DecodeError::Malformed(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn wrong_shape_is_malformed() {
    let mut v = value(&full_report());
    v["sequence"] = serde_json::json!("seven");
    let bytes = serde_json::to_vec(&v).unwrap();
    assert!(matches!(
        decode_report(&bytes),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn unknown_fields_are_refused() {
    let mut v = value(&full_report());
    v["school"] = serde_json::json!("someone-else");
    let bytes = serde_json::to_vec(&v).unwrap();
    assert!(matches!(
        decode_report(&bytes),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn newer_version_is_refused_by_number() {
    let mut v = value(&full_report());
    v["version"] = serde_json::json!(SCHEMA_VERSION + 1);
    // A newer schema may well add fields; it must be refused for its version,
    // not reported as a confusing "unknown field".
    v["brand_new_section"] = serde_json::json!({"x": 1});
    let bytes = serde_json::to_vec(&v).unwrap();
    match decode_report(&bytes) {
        Err(DecodeError::UnsupportedVersion { got, max }) => {
            assert_eq!(got, u64::from(SCHEMA_VERSION) + 1);
            assert_eq!(max, SCHEMA_VERSION);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_or_zero_version_is_refused() {
    let mut v = value(&full_report());
    v.as_object_mut().unwrap().remove("version");
    let bytes = serde_json::to_vec(&v).unwrap();
    assert!(matches!(
        decode_report(&bytes),
        Err(DecodeError::UnsupportedVersion { got: 0, .. })
    ));
    v["version"] = serde_json::json!(0);
    let bytes = serde_json::to_vec(&v).unwrap();
    assert!(matches!(
        decode_report(&bytes),
        Err(DecodeError::UnsupportedVersion { got: 0, .. })
    ));
}

#[test]
fn zero_sequence_is_refused() {
    let mut r = full_report();
    r.sequence = 0;
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::Invalid { field, .. } if field == "sequence")
    );
}

#[test]
fn long_strings_are_refused_with_their_path() {
    let long = "x".repeat(Limits::DEFAULT.max_string_bytes + 1);
    type Mutation<'a> = Box<dyn Fn(&mut Report) + 'a>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("agent_id", Box::new(|r| r.agent_id = long.clone())),
        (
            "inventory.hostname",
            Box::new(|r| r.inventory.as_mut().unwrap().hostname = long.clone()),
        ),
        (
            "inventory.cpu_model",
            Box::new(|r| r.inventory.as_mut().unwrap().cpu_model = long.clone()),
        ),
        (
            "inventory.dmi.serial",
            Box::new(|r| r.inventory.as_mut().unwrap().dmi.serial = Some(long.clone())),
        ),
        (
            "inventory.disks[0].mount_point",
            Box::new(|r| r.inventory.as_mut().unwrap().disks[0].mount_point = long.clone()),
        ),
        (
            "inventory.interfaces[0].name",
            Box::new(|r| r.inventory.as_mut().unwrap().interfaces[0].name = long.clone()),
        ),
        (
            "inventory.interfaces[0].mac",
            Box::new(|r| r.inventory.as_mut().unwrap().interfaces[0].mac = Some(long.clone())),
        ),
        (
            "inventory.interfaces[0].addresses[1]",
            Box::new(|r| r.inventory.as_mut().unwrap().interfaces[0].addresses[1] = long.clone()),
        ),
        (
            "sample.interfaces[0].name",
            Box::new(|r| r.sample.as_mut().unwrap().interfaces[0].name = long.clone()),
        ),
        (
            "errors[0].message",
            Box::new(|r| r.errors[0].message = long.clone()),
        ),
        (
            "security.checks[1].evidence",
            Box::new(|r| r.security.as_mut().unwrap().checks[1].evidence = long.clone()),
        ),
        (
            "security.checks[1].reason",
            Box::new(|r| r.security.as_mut().unwrap().checks[1].reason = Some(long.clone())),
        ),
        (
            "security.listening[0].address",
            Box::new(|r| r.security.as_mut().unwrap().listening[0].address = long.clone()),
        ),
        (
            "security.listening[0].process",
            Box::new(|r| r.security.as_mut().unwrap().listening[0].process = Some(long.clone())),
        ),
    ];
    for (path, mutate) in cases {
        let mut r = full_report();
        mutate(&mut r);
        match limit_err(&encode(&r)) {
            LimitError::TooLong { field, len, max } => {
                assert_eq!(field, path);
                assert_eq!(len, long.len());
                assert_eq!(max, Limits::DEFAULT.max_string_bytes);
            }
            other => panic!("{path}: {other:?}"),
        }
    }
}

#[test]
fn string_at_the_limit_is_accepted() {
    let mut r = full_report();
    r.inventory.as_mut().unwrap().hostname = "h".repeat(Limits::DEFAULT.max_string_bytes);
    decode_report(&encode(&r)).unwrap();
}

#[test]
fn long_lists_are_refused_with_their_path() {
    let l = Limits::DEFAULT;
    let mut r = full_report();
    let inv = r.inventory.as_mut().unwrap();
    inv.interfaces = vec![inv.interfaces[0].clone(); l.max_interfaces + 1];
    assert_eq!(
        limit_err(&encode(&r)),
        LimitError::TooMany {
            field: "inventory.interfaces".into(),
            len: l.max_interfaces + 1,
            max: l.max_interfaces
        }
    );

    let mut r = full_report();
    let inv = r.inventory.as_mut().unwrap();
    inv.disks = vec![inv.disks[0].clone(); l.max_disks + 1];
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::TooMany { field, .. } if field == "inventory.disks")
    );

    let mut r = full_report();
    r.inventory.as_mut().unwrap().interfaces[0].addresses =
        vec!["10.0.0.1/8".into(); l.max_addresses_per_interface + 1];
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::TooMany { field, .. } if field == "inventory.interfaces[0].addresses")
    );

    let mut r = full_report();
    let s = r.sample.as_mut().unwrap();
    s.interfaces = vec![s.interfaces[0].clone(); l.max_interfaces + 1];
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::TooMany { field, .. } if field == "sample.interfaces")
    );

    let mut r = full_report();
    r.errors = vec![r.errors[0].clone(); l.max_errors + 1];
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::TooMany { field, .. } if field == "errors")
    );
}

#[test]
fn impossible_values_are_refused() {
    let mut r = full_report();
    r.sample.as_mut().unwrap().cpu_usage_ratio = 1.5;
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::Invalid { field, .. } if field == "sample.cpu_usage_ratio")
    );

    let mut r = full_report();
    r.sample.as_mut().unwrap().load[1] = -1.0;
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::Invalid { field, .. } if field == "sample.load")
    );

    let mut r = full_report();
    r.sample.as_mut().unwrap().interfaces[0].tx_bits_per_second = -5.0;
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::Invalid { field, .. } if field == "sample.interfaces[0].tx_bits_per_second")
    );

    let mut r = full_report();
    let d = &mut r.inventory.as_mut().unwrap().disks[0];
    d.available_bytes = d.total_bytes + 1;
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::Invalid { field, .. } if field == "inventory.disks[0].available_bytes")
    );

    let mut r = full_report();
    r.inventory.as_mut().unwrap().cpu_logical_cores = 0;
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::Invalid { field, .. } if field == "inventory.cpu_logical_cores")
    );
}

#[test]
fn role_parses_snake_case_only() {
    let mut v = value(&full_report());
    v["inventory"]["role"] = serde_json::json!("Server");
    assert!(matches!(
        decode_report(&serde_json::to_vec(&v).unwrap()),
        Err(DecodeError::Malformed(_))
    ));
    v["inventory"]["role"] = serde_json::json!("server");
    let r = decode_report(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(r.inventory.unwrap().role, Role::Server);
}

#[test]
fn batch_round_trips_and_refuses_whole_on_one_bad_report() {
    let good = full_report();
    let batch = crate::Batch {
        reports: vec![good.clone(), good.clone()],
    };
    let bytes = serde_json::to_vec(&batch).unwrap();
    assert_eq!(
        decode_batch(&bytes, &Limits::DEFAULT, 10).unwrap(),
        batch.reports
    );

    let mut bad = good.clone();
    bad.sequence = 0;
    let bytes = serde_json::to_vec(&crate::Batch {
        reports: vec![good.clone(), bad],
    })
    .unwrap();
    assert!(matches!(
        decode_batch(&bytes, &Limits::DEFAULT, 10),
        Err(DecodeError::Limit(_))
    ));
}

#[test]
fn batch_over_the_report_count_is_refused() {
    let bytes = serde_json::to_vec(&crate::Batch {
        reports: vec![full_report(); 3],
    })
    .unwrap();
    match decode_batch(&bytes, &Limits::DEFAULT, 2) {
        Err(DecodeError::Limit(LimitError::TooMany {
            field,
            len: 3,
            max: 2,
        })) => {
            assert_eq!(field, "reports")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn batch_with_foreign_fields_is_malformed() {
    for bad in [
        &br#"{"reports":[],"school":"b"}"#[..],
        b"[]",
        b"{}",
        b"garbage",
    ] {
        assert!(
            matches!(
                decode_batch(bad, &Limits::DEFAULT, 10),
                Err(DecodeError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn too_many_checks_are_refused() {
    let max = Limits::DEFAULT.max_checks;
    let mut r = full_report();
    r.security.as_mut().unwrap().checks = (0..=max)
        .map(|i| Check {
            id: format!("check_{i}"),
            status: CheckStatus::Fail,
            severity: Severity::Low,
            evidence: "x".into(),
            reason: None,
        })
        .collect();
    assert_eq!(
        limit_err(&encode(&r)),
        LimitError::TooMany {
            field: "security.checks".into(),
            len: max + 1,
            max
        }
    );
    // At the limit it is accepted.
    r.security.as_mut().unwrap().checks.pop();
    decode_report(&encode(&r)).unwrap();
}

#[test]
fn too_many_listening_sockets_are_refused() {
    let max = Limits::DEFAULT.max_listening;
    let mut r = full_report();
    let s = r.security.as_mut().unwrap();
    s.listening = vec![s.listening[0].clone(); max + 1];
    assert_eq!(
        limit_err(&encode(&r)),
        LimitError::TooMany {
            field: "security.listening".into(),
            len: max + 1,
            max
        }
    );
    r.security.as_mut().unwrap().listening.pop();
    decode_report(&encode(&r)).unwrap();
}

#[test]
fn check_ids_must_be_snake_case() {
    for bad in ["", "Firewall", "fire-wall", "a b", "x{y=\"1\"}"] {
        let mut r = full_report();
        r.security.as_mut().unwrap().checks[0].id = bad.into();
        assert!(
            matches!(limit_err(&encode(&r)), LimitError::Invalid { field, .. } if field == "security.checks[0].id"),
            "{bad:?}"
        );
    }
    let mut r = full_report();
    r.security.as_mut().unwrap().checks[0].id = "ssh_root_login2".into();
    decode_report(&encode(&r)).unwrap();
}

#[test]
fn check_id_long_is_refused_by_length() {
    let mut r = full_report();
    r.security.as_mut().unwrap().checks[0].id = "a".repeat(Limits::DEFAULT.max_string_bytes + 1);
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::TooLong { field, .. } if field == "security.checks[0].id")
    );
}

#[test]
fn duplicate_check_ids_are_refused() {
    let mut r = full_report();
    let s = r.security.as_mut().unwrap();
    s.checks[1].id = s.checks[0].id.clone();
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::Invalid { field, reason } if field == "security.checks[1].id" && reason.contains("twice"))
    );
}

#[test]
fn security_enums_are_snake_case_on_the_wire() {
    let v = value(&full_report());
    assert_eq!(v["security"]["checks"][0]["status"], "pass");
    assert_eq!(v["security"]["checks"][0]["severity"], "high");
    assert_eq!(v["security"]["checks"][1]["status"], "unknown");
    assert_eq!(v["security"]["listening"][0]["protocol"], "tcp");
    // No reason key when there is no reason.
    assert!(v["security"]["checks"][0].get("reason").is_none());
    let mut v = v;
    v["security"]["checks"][0]["status"] = serde_json::json!("Pass");
    assert!(matches!(
        decode_report(&serde_json::to_vec(&v).unwrap()),
        Err(DecodeError::Malformed(_))
    ));
    v["security"]["checks"][0]["status"] = serde_json::json!("fail");
    v["security"]["checks"][0]["severity"] = serde_json::json!("critical");
    let r = decode_report(&serde_json::to_vec(&v).unwrap()).unwrap();
    let c = &r.security.unwrap().checks[0];
    assert_eq!(
        (c.status, c.severity),
        (CheckStatus::Fail, Severity::Critical)
    );
}

#[test]
fn report_without_security_has_no_security_key() {
    let mut r = full_report();
    r.security = None;
    assert!(value(&r).get("security").is_none());
    assert_eq!(decode_report(&encode(&r)).unwrap(), r);
}

fn probe(target: &str) -> crate::ProbeResult {
    crate::ProbeResult {
        target: target.into(),
        kind: crate::ProbeKind::Gateway,
        sent: 5,
        received: 4,
        loss_ratio: 0.2,
        rtt_min_seconds: Some(0.01),
        rtt_median_seconds: Some(0.02),
        rtt_avg_seconds: Some(0.02),
        rtt_max_seconds: Some(0.03),
        jitter_seconds: Some(0.005),
    }
}

#[test]
fn probes_round_trip_and_respect_limits() {
    let mut r = full_report();
    r.probes = vec![probe("192.0.2.1"), probe("collector.example")];
    assert_eq!(decode_report(&encode(&r)).unwrap(), r);

    let mut r = full_report();
    r.probes = vec![probe("x"); Limits::DEFAULT.max_probes + 1];
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::TooMany { field, .. } if field == "probes")
    );

    let mut r = full_report();
    let mut p = probe("x");
    p.received = 6;
    r.probes = vec![p];
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::Invalid { field, .. } if field == "probes[0].received")
    );

    let mut r = full_report();
    let mut p = probe("x");
    p.loss_ratio = 1.5;
    r.probes = vec![p];
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::Invalid { field, .. } if field == "probes[0].loss_ratio")
    );

    let mut r = full_report();
    let mut p = probe("x");
    p.jitter_seconds = Some(-1.0);
    r.probes = vec![p];
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::Invalid { field, .. } if field == "probes[0].jitter_seconds")
    );

    let mut r = full_report();
    r.probes = vec![probe(&"t".repeat(Limits::DEFAULT.max_string_bytes + 1))];
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::TooLong { field, .. } if field == "probes[0].target")
    );
}

#[test]
fn throughput_round_trips_and_refuses_impossible_rates() {
    let mut r = full_report();
    r.throughput = Some(crate::Throughput {
        measured_at_ms: 1,
        download_bytes: 10_000_000,
        download_bytes_per_second: 3_125_000.0,
        upload_bytes: 2_000_000,
        upload_bytes_per_second: 1_000_000.0,
    });
    assert_eq!(decode_report(&encode(&r)).unwrap(), r);
    r.throughput.as_mut().unwrap().upload_bytes_per_second = -1.0;
    assert!(
        matches!(limit_err(&encode(&r)), LimitError::Invalid { field, .. } if field == "throughput.upload_bytes_per_second")
    );
}

fn with_devices() -> Report {
    let mut r = full_report();
    r.devices = Some(crate::Devices {
        subnets: vec!["10.1.2.0/24".into()],
        devices: vec![
            crate::Device {
                address: "10.1.2.2".into(),
                mac: Some("00:00:0c:01:02:03".into()),
                vendor: Some("Cisco Systems, Inc".into()),
                kind: crate::DeviceKind::Switch,
                configured: true,
                icmp_up: true,
                snmp: Some(crate::SnmpData {
                    sys_descr: "Cisco IOS".into(),
                    sys_object_id: "1.3.6.1.4.1.9.1.694".into(),
                    uptime_seconds: 10.0,
                    interfaces: vec![crate::DeviceInterface {
                        index: 1,
                        name: "Gi0/1".into(),
                        oper_up: true,
                        speed_bps: 1_000_000_000,
                        in_octets: 5,
                        out_octets: 6,
                        in_bps: Some(1.0),
                        out_bps: None,
                        uplink: true,
                        ..Default::default()
                    }],
                    ups: Some(crate::UpsStatus {
                        on_battery: true,
                        battery_status: 2,
                        charge_percent: Some(90.0),
                        runtime_seconds: Some(600.0),
                    }),
                    supplies: vec![crate::PrinterSupply {
                        description: "Black".into(),
                        level_ratio: Some(0.5),
                    }],
                    ..Default::default()
                }),
                error: None,
            },
            crate::Device {
                address: "10.1.2.9".into(),
                mac: None,
                vendor: None,
                kind: crate::DeviceKind::Unknown,
                configured: false,
                icmp_up: true,
                snmp: None,
                error: Some("no SNMP answer".into()),
            },
        ],
    });
    r
}

#[test]
fn devices_round_trip_and_kinds_are_snake_case() {
    let r = with_devices();
    assert_eq!(decode_report(&encode(&r)).unwrap(), r);
    let v = value(&r);
    assert_eq!(v["devices"]["devices"][0]["kind"], "switch");
    let mut ap = r.clone();
    ap.devices.as_mut().unwrap().devices[1].kind = crate::DeviceKind::AccessPoint;
    assert_eq!(value(&ap)["devices"]["devices"][1]["kind"], "access_point");
    // A report without devices carries no devices key (older collectors).
    assert!(value(&full_report()).get("devices").is_none());
}

#[test]
fn hostile_devices_are_refused_with_their_path() {
    let field_of = |r: &Report| match limit_err(&encode(r)) {
        LimitError::Invalid { field, .. }
        | LimitError::TooMany { field, .. }
        | LimitError::TooLong { field, .. } => field,
    };
    let edit = |f: &dyn Fn(&mut crate::Devices)| {
        let mut r = with_devices();
        f(r.devices.as_mut().unwrap());
        field_of(&r)
    };
    let cases: Vec<(String, &str)> = vec![
        (
            edit(&|d| d.devices[1].mac = d.devices[0].mac.clone()),
            "devices.devices[1].mac",
        ),
        (
            edit(&|d| d.devices[1].address = String::new()),
            "devices.devices[1].address",
        ),
        (
            edit(&|d| {
                let i = d.devices[0].snmp.as_mut().unwrap();
                i.interfaces.push(i.interfaces[0].clone());
            }),
            "devices.devices[0].snmp.interfaces[1].index",
        ),
        (
            edit(&|d| d.devices[0].snmp.as_mut().unwrap().interfaces[0].in_bps = Some(-1.0)),
            "devices.devices[0].snmp.interfaces[0].in_bps",
        ),
        (
            edit(&|d| {
                d.devices[0]
                    .snmp
                    .as_mut()
                    .unwrap()
                    .ups
                    .as_mut()
                    .unwrap()
                    .battery_status = 9
            }),
            "devices.devices[0].snmp.ups.battery_status",
        ),
        (
            edit(&|d| {
                d.devices[0]
                    .snmp
                    .as_mut()
                    .unwrap()
                    .ups
                    .as_mut()
                    .unwrap()
                    .charge_percent = Some(150.0)
            }),
            "devices.devices[0].snmp.ups.charge_percent",
        ),
        (
            edit(&|d| d.devices[0].snmp.as_mut().unwrap().supplies[0].level_ratio = Some(1.5)),
            "devices.devices[0].snmp.supplies[0].level_ratio",
        ),
        (
            edit(&|d| d.devices[0].snmp.as_mut().unwrap().sys_descr = "x".repeat(257)),
            "devices.devices[0].snmp.sys_descr",
        ),
        (
            edit(&|d| {
                let one = d.devices[1].clone();
                d.devices = (0..513)
                    .map(|i| crate::Device {
                        address: format!("10.0.{}.{}", i / 256, i % 256),
                        ..one.clone()
                    })
                    .collect();
            }),
            "devices.devices",
        ),
        (
            edit(&|d| {
                let i = d.devices[0].snmp.as_mut().unwrap();
                i.interfaces = (0..129)
                    .map(|n| crate::DeviceInterface {
                        index: n,
                        ..i.interfaces[0].clone()
                    })
                    .collect();
            }),
            "devices.devices[0].snmp.interfaces",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}
