//! The fuzz targets' bodies, shared by `fuzz/` (cargo-fuzz, run by
//! `bench/fuzz.sh`) and the regression test that replays every corpus
//! entry and crash found (`tests/tests/fuzz_regressions.rs`).

use schoolwatch_collector::coverage::{self, SchoolFacts};
use schoolwatch_collector::fleet::Fleet;
use schoolwatch_collector::metrics::Metrics;
use schoolwatch_collector::registry::{Level, LinkKind, School};
use schoolwatch_collector::store::HostState;
use schoolwatch_collector::targets::Targets;
use schoolwatch_protocol::{Limits, Role, decode_batch};
use std::sync::Arc;

/// The collector's ingest decoding, as the server runs it: content decoding
/// (gzip when the first byte is odd) within the decompressed bound, then
/// the batch decoder with the protocol's limits. It must never panic, and
/// whatever it accepts must respect every limit.
pub fn decode_body(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let encoding = if selector & 1 == 1 {
        Some("gzip")
    } else {
        None
    };
    let Ok(bytes) = schoolwatch_collector::body::decode(encoding, body, 1 << 20) else {
        return;
    };
    assert!(bytes.len() <= 1 << 20);
    if let Ok(reports) = decode_batch(&bytes, &Limits::DEFAULT, 100) {
        assert!(reports.len() <= 100);
        for r in &reports {
            Limits::DEFAULT
                .check(r)
                .expect("accepted reports are within limits");
        }
    }
}

/// The exposition writer's escaping: any hostname, CPU model or school name
/// (agent- or registry-supplied) must come out as valid Prometheus text
/// whose label values unescape to exactly the input.
pub fn exposition_escaping(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{0}');
    let hostname = parts.next().unwrap_or("").to_owned();
    let cpu = parts.next().unwrap_or("").to_owned();
    let name = parts.next().unwrap_or("").to_owned();
    let school = School {
        id: "s1".into(),
        name: name.clone(),
        district: name.clone(),
        level: Level::Primary,
        expected_lab_pcs: 1,
        link_kind: LinkKind::Fibre,
        contracted_mbps: 10.0,
        expected_devices: 0,
    };
    let host = HostState {
        agent_id: "a1".into(),
        school_id: "s1".into(),
        hostname: hostname.clone(),
        role: Role::Lab,
        os: cpu.clone(),
        cpu_model: cpu.clone(),
        logical_cores: 2,
        memory_total_bytes: 1,
        disk_total_bytes: 1,
        disks: vec![schoolwatch_collector::store::DiskState {
            mount: name.clone(),
            size_bytes: 2,
            available_bytes: 1,
        }],
        boot_time_seconds: 1,
        last_seen_ms: 1,
        reports_total: 1,
        last_sequence: 1,
        has_inventory: true,
        last_sample: None,
        health: None,
        checks: vec![(name.clone(), schoolwatch_protocol::CheckStatus::Fail)],
        probes: vec![schoolwatch_protocol::ProbeResult {
            target: hostname.clone(),
            kind: schoolwatch_protocol::ProbeKind::Collector,
            sent: 1,
            received: 1,
            loss_ratio: 0.0,
            rtt_min_seconds: Some(0.001),
            rtt_median_seconds: Some(0.001),
            rtt_avg_seconds: Some(0.001),
            rtt_max_seconds: Some(0.001),
            jitter_seconds: None,
        }],
        throughput: None,
    };
    // A device whose agent-supplied strings are the same hostile text.
    let device = schoolwatch_collector::store::DeviceRow {
        school_id: "s1".into(),
        key: hostname.clone(),
        address: hostname.clone(),
        mac: None,
        vendor: Some(cpu.clone()),
        kind: schoolwatch_protocol::DeviceKind::Switch,
        configured: true,
        icmp_up: true,
        snmp: Some(schoolwatch_protocol::SnmpData {
            sys_name: name.clone(),
            interfaces: vec![schoolwatch_protocol::DeviceInterface {
                name: cpu.clone(),
                alias: name.clone(),
                in_bps: Some(1.0),
                out_bps: Some(1.0),
                speed_bps: 10,
                uplink: true,
                ..Default::default()
            }],
            supplies: vec![schoolwatch_protocol::PrinterSupply {
                description: name.clone(),
                level_ratio: Some(0.5),
            }],
            ..Default::default()
        }),
        error: Some(name.clone()),
        reporter: "a1".into(),
        first_seen_ms: 1,
        last_seen_ms: 1,
        missing: false,
    };
    let targets = Targets::default();
    let cov = vec![coverage::school(
        &SchoolFacts {
            school: &school,
            agents: 1,
            reporting_hosts: vec![],
            online: true,
            availability_24h: None,
            availability_7d: None,
            measured_download_mbps: None,
            collector_path: None,
            devices_known: 1,
            outages: vec![schoolwatch_collector::outage::Outage::new(
                1,
                None,
                2,
                Default::default(),
                &Default::default(),
            )],
        },
        &targets,
    )];
    let fleet = Fleet {
        now_ms: 2,
        districts: coverage::by_district(&cov),
        province: coverage::summarize("province", &cov),
        by_link_kind: coverage::by_link_kind(&cov),
        coverage: cov,
        schools: vec![school],
        hosts: vec![host],
        regressions: Vec::new(),
        regression_counts: vec![("s1".into(), name.clone(), 1)],
        school_devices: [(
            "s1".to_owned(),
            schoolwatch_collector::devices::summarize([&device], 2),
        )]
        .into(),
        devices: vec![device],
    };
    let (_, out) = Metrics::new().encode(
        Arc::new(fleet),
        1000,
        &targets,
        &schoolwatch_collector::metrics::Selection::default(),
        false,
    );
    let (mut seen_host, mut seen_device) = (false, false);
    for line in out.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let labels = parse_sample(line).unwrap_or_else(|| panic!("invalid sample line: {line:?}"));
        for (k, v) in labels {
            if k == "host" {
                assert_eq!(v, hostname);
                seen_host = true;
            }
            if k == "device" {
                assert_eq!(v, hostname);
                seen_device = true;
            }
            if k == "vendor" || k == "interface" {
                assert_eq!(v, cpu);
            }
            if k == "alias" || k == "supply" {
                assert_eq!(v, name);
            }
            if k == "cpu_model" {
                assert_eq!(v, cpu);
            }
            if k == "name" {
                assert_eq!(v, name);
            }
        }
    }
    assert!(seen_host && seen_device);
}

/// Parses `name{k="v",...} value`, unescaping label values; `None` when the
/// line is not valid Prometheus text.
pub fn parse_sample(line: &str) -> Option<Vec<(String, String)>> {
    let mut chars = line.chars().peekable();
    let mut name = String::new();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            name.push(c);
            chars.next();
        } else {
            break;
        }
    }
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut labels = Vec::new();
    if chars.peek() == Some(&'{') {
        chars.next();
        loop {
            if chars.peek() == Some(&'}') {
                chars.next();
                break;
            }
            let mut key = String::new();
            while let Some(&c) = chars.peek() {
                if c == '=' {
                    break;
                }
                if !(c.is_ascii_alphanumeric() || c == '_') {
                    return None;
                }
                key.push(c);
                chars.next();
            }
            if chars.next() != Some('=') || chars.next() != Some('"') {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        _ => return None,
                    },
                    c => value.push(c),
                }
            }
            labels.push((key, value));
            match chars.next()? {
                ',' => {}
                '}' => break,
                _ => return None,
            }
        }
    }
    if chars.next() != Some(' ') {
        return None;
    }
    let value: String = chars.collect();
    value.trim().parse::<f64>().ok()?;
    Some(labels)
}
