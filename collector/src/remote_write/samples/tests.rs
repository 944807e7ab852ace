//! A report's remote-written series against what `/metrics` shows for the
//! same report: same names, same labels, same values.

use super::*;
use crate::remote_write::hosts::HostBook;
use crate::store::testdb::TestDb;
use crate::store::{Identity, IngestOutcome, Store};
use serde_json::json;
use std::collections::BTreeMap;

const T: u64 = 1_700_000_000_123;

/// Series name and sorted labels (without `__name__`).
type Key = (String, Vec<(String, String)>);

fn key_of(s: &TimeSeries) -> Key {
    let name = s.label("__name__").unwrap().to_owned();
    let labels = s
        .labels
        .iter()
        .filter(|l| l.name != "__name__")
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    (name, labels)
}

/// The Prometheus text exposition as a map (values without escapes).
fn parse_exposition(text: &str) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}').unwrap()),
            None => (series, ""),
        };
        let mut l: Vec<(String, String)> = labels
            .split("\",")
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once("=\"").unwrap();
                (k.to_owned(), v.trim_end_matches('"').to_owned())
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        l.sort();
        out.insert((name.to_owned(), l), value.parse::<f64>().unwrap());
    }
    out
}

fn setup() -> (TestDb, Store, Identity) {
    let dir = TestDb::new();
    let store = dir.open();
    let schools = crate::registry::parse_csv(
        "id,name,district,level,expected_lab_pcs,link_kind,contracted_mbps\n\
         t-a,\"Trường Tiểu học A\",Pleiku,primary,20,fibre,50\n",
    )
    .unwrap();
    store.import_schools(&schools).unwrap();
    let token = store.create_token("t-a", 0, i64::MAX).unwrap().unwrap();
    let e = store
        .enroll(&token, "fp", "enrolled-name", 10)
        .unwrap()
        .unwrap();
    let who = store.authenticate(&e.credential).unwrap().unwrap();
    (dir, store, who)
}

fn rich_report(agent_id: &str, seq: u64, at: u64) -> Report {
    let mut r = Report::new(agent_id.to_owned(), seq, at);
    r.inventory = Some(
        serde_json::from_value(json!({
            "hostname": "lab-pc-07", "os_name": "Debian GNU/Linux", "os_version": "12",
            "kernel_version": "6.1.0", "architecture": "x86_64",
            "cpu_model": "Intel(R) Core(TM) i3-2100 CPU @ 3.10GHz",
            "cpu_physical_cores": 2, "cpu_logical_cores": 4,
            "memory_total_bytes": 4_294_967_296u64, "swap_total_bytes": 0,
            "boot_time_seconds": 1_699_990_000,
            "disks": [
                {"mount_point": "/", "device": "/dev/sda1", "filesystem": "ext4",
                 "total_bytes": 500_000_000_000u64, "available_bytes": 100_000_000_000u64,
                 "kind": "hdd", "removable": false},
                {"mount_point": "/home", "device": "/dev/sda2", "filesystem": "ext4",
                 "total_bytes": 20_000_000_000u64, "available_bytes": 5_000_000_000u64,
                 "kind": "ssd", "removable": false}
            ],
            "interfaces": [{"name": "eth0", "mac": "52:54:00:12:34:56",
                            "addresses": ["192.0.2.7/24"], "speed_mbps": 100, "up": true}],
            "dmi": {"vendor": null, "product": null, "serial": null,
                    "bios_version": null, "bios_date": null},
            "agent_version": "0.1.0", "role": "server"
        }))
        .unwrap(),
    );
    r.sample = Some(
        serde_json::from_value(json!({
            "interval_ms": 60_000, "cpu_usage_ratio": 0.25,
            "memory_used_bytes": 1_073_741_824u64, "memory_available_bytes": 3_221_225_472u64,
            "swap_used_bytes": 0, "load": [0.5, 0.4, 0.3],
            "interfaces": [
                {"name": "eth0", "rx_bytes": 1000, "tx_bytes": 2000, "rx_packets": 1, "tx_packets": 2,
                 "rx_errors": 0, "tx_errors": 0, "rx_dropped": 0, "tx_dropped": 0,
                 "rx_bits_per_second": 8000.0, "tx_bits_per_second": 16000.0},
                {"name": "wlan0", "rx_bytes": 5, "tx_bytes": 6, "rx_packets": 1, "tx_packets": 1,
                 "rx_errors": 0, "tx_errors": 0, "rx_dropped": 0, "tx_dropped": 0,
                 "rx_bits_per_second": 80.0, "tx_bits_per_second": 96.0}
            ]
        }))
        .unwrap(),
    );
    r.probes = serde_json::from_value(json!([
        {"target": "10.0.0.1", "kind": "gateway", "sent": 10, "received": 9, "loss_ratio": 0.1,
         "rtt_min_seconds": 0.001, "rtt_median_seconds": 0.002, "rtt_avg_seconds": 0.0025,
         "rtt_max_seconds": 0.004, "jitter_seconds": 0.0005},
        {"target": "collector.example", "kind": "collector", "sent": 10, "received": 0,
         "loss_ratio": 1.0, "rtt_min_seconds": null, "rtt_median_seconds": null,
         "rtt_avg_seconds": null, "rtt_max_seconds": null, "jitter_seconds": null}
    ]))
    .unwrap();
    r.throughput = Some(
        serde_json::from_value(json!({
            "measured_at_ms": at - 5_000, "download_bytes": 30_000_000,
            "download_bytes_per_second": 3_000_000.0, "upload_bytes": 10_000_000,
            "upload_bytes_per_second": 1_000_000.0
        }))
        .unwrap(),
    );
    r.health = Some(
        serde_json::from_value(json!({
            "queue_reports": 3, "queue_bytes": 4096, "queue_oldest_age_seconds": 120,
            "dropped_queue_full": 1, "dropped_disk_full": 2, "dropped_corrupt": 3,
            "dropped_rejected": 4, "send_failures": 5
        }))
        .unwrap(),
    );
    r.security = Some(
        serde_json::from_value(json!({
            "checks": [
                {"id": "firewall_active", "status": "pass", "severity": "high", "evidence": "3 rules", "reason": null},
                {"id": "updates_recent", "status": "fail", "severity": "medium", "evidence": "40 days", "reason": null},
                {"id": "disk_encryption", "status": "unknown", "severity": "low", "evidence": "", "reason": "no access"}
            ],
            "listening": []
        }))
        .unwrap(),
    );
    r
}

/// Ingests `reports` the way the writer thread does: series are made
/// inside the transaction, from the host book, for the fresh reports.
fn ingest(
    store: &Store,
    book: &mut HostBook,
    who: &Identity,
    reports: &[Report],
) -> (IngestOutcome, Vec<TimeSeries>) {
    let mut series = Vec::new();
    book.begin_group();
    let out = store
        .ingest_group_then(&[(who, reports)], T as i64 + 1_000, |outcomes| {
            for &i in &outcomes[0].fresh {
                let host = book.host_for(&who.agent_id, &reports[i]).unwrap().unwrap();
                series.extend(for_report(&host, &reports[i]));
            }
        })
        .unwrap();
    (out.into_iter().next().unwrap(), series)
}

fn exposition(store: &Store) -> BTreeMap<Key, f64> {
    let targets = crate::targets::Targets::default();
    let fleet = crate::fleet::Fleet::load(
        store,
        &targets,
        std::time::Duration::from_secs(300),
        T as i64 + 2_000,
    )
    .unwrap();
    let (_, text) = crate::metrics::Metrics::new().encode(
        std::sync::Arc::new(fleet),
        300_000,
        &targets,
        &crate::metrics::Selection::default(),
        false,
    );
    parse_exposition(&text)
}

/// /metrics series of this host and school that describe the moment of a
/// scrape, not of a report: not remote-written.
const NOT_WRITTEN: [&str; 4] = [
    "schoolwatch_host_last_seen_timestamp_seconds",
    "schoolwatch_host_reports_total",
    "schoolwatch_host_security_baseline_met",
    "schoolwatch_host_check_regression_timestamp_seconds",
];

/// Written but not (yet) on /metrics.
const ONLY_WRITTEN: [&str; 3] = [
    "schoolwatch_host_load1",
    "schoolwatch_host_load5",
    "schoolwatch_host_load15",
];

#[test]
fn series_match_metrics_names_labels_and_values() {
    let (_d, store, who) = setup();
    let mut book = HostBook::new(_d.path(), _d.postgres_url());
    let report = rich_report(&who.agent_id, 1, T);
    let (outcome, series) = ingest(&store, &mut book, &who, std::slice::from_ref(&report));
    assert_eq!(outcome.fresh, [0]);
    let metrics = exposition(&store);

    let mut written = BTreeMap::new();
    for s in &series {
        assert_eq!(s.samples.len(), 1);
        let key = key_of(s);
        assert!(
            written.insert(key.clone(), s.samples[0].clone()).is_none(),
            "{key:?} written twice"
        );
        let want_ts = if key.0.starts_with("schoolwatch_school_measured") {
            T as i64 - 5_000
        } else {
            T as i64
        };
        assert_eq!(s.samples[0].timestamp, want_ts, "{key:?}");
        if ONLY_WRITTEN.contains(&key.0.as_str()) {
            continue;
        }
        let v = metrics
            .get(&key)
            .unwrap_or_else(|| panic!("{key:?} is not on /metrics"));
        assert_eq!(s.samples[0].value, *v, "{key:?}");
    }
    // And every /metrics series of this host (or its school's throughput)
    // is written, but those of the moment.
    for (key, _) in metrics.iter().filter(|(k, _)| {
        k.1.iter()
            .any(|(n, v)| n == "agent_id" && *v == who.agent_id)
            || k.0.starts_with("schoolwatch_school_measured")
    }) {
        if NOT_WRITTEN.contains(&key.0.as_str()) {
            continue;
        }
        assert!(
            written.contains_key(key),
            "{key:?} on /metrics but not written"
        );
    }
    // Spot checks against the report itself.
    let host_labels = vec![
        ("agent_id".to_owned(), who.agent_id.clone()),
        ("district".to_owned(), "Pleiku".to_owned()),
        ("host".to_owned(), "lab-pc-07".to_owned()),
        ("role".to_owned(), "server".to_owned()),
        ("school".to_owned(), "t-a".to_owned()),
    ];
    let get = |name: &str, extra: &[(&str, &str)]| {
        let mut l = host_labels.clone();
        l.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        l.sort();
        written[&(name.to_owned(), l)].value
    };
    assert_eq!(get("schoolwatch_host_up", &[]), 1.0);
    assert_eq!(get("schoolwatch_host_load5", &[]), 0.4);
    assert_eq!(
        get(
            "schoolwatch_host_network_transmit_bytes_per_second",
            &[("interface", "eth0")]
        ),
        2000.0
    );
    assert_eq!(
        get(
            "schoolwatch_probe_loss_ratio",
            &[("target", "collector.example")]
        ),
        1.0
    );
    assert_eq!(
        get(
            "schoolwatch_host_check_passed",
            &[("check", "updates_recent")]
        ),
        0.0
    );
    assert_eq!(
        get(
            "schoolwatch_host_queue_dropped_reports_total",
            &[("reason", "disk_full")]
        ),
        2.0
    );
    assert_eq!(
        get(
            "schoolwatch_host_disk_available_bytes",
            &[("mount", "/home")]
        ),
        5e9
    );
}

#[test]
fn later_reports_carry_the_stored_host_and_replays_nothing() {
    let (_d, store, who) = setup();
    let mut book = HostBook::new(_d.path(), _d.postgres_url());
    let first = rich_report(&who.agent_id, 1, T);
    ingest(&store, &mut book, &who, std::slice::from_ref(&first));
    // A bare report a minute later: labels, inventory and check results
    // come from what the store holds.
    let mut bare = Report::new(who.agent_id.clone(), 2, T + 60_000);
    bare.sample = first.sample.clone();
    let (outcome, series) = ingest(&store, &mut book, &who, &[first.clone(), bare]);
    assert_eq!(outcome.fresh, [1], "the first report is a replay");
    assert!(
        series
            .iter()
            .all(|s| s.samples[0].timestamp == (T + 60_000) as i64)
    );
    let names: Vec<&str> = series
        .iter()
        .map(|s| s.label("__name__").unwrap())
        .collect();
    for n in [
        "schoolwatch_host_info",
        "schoolwatch_host_memory_total_bytes",
        "schoolwatch_host_check_passed",
        "schoolwatch_host_cpu_usage_ratio",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(series.iter().all(|s| s.label("host") == Some("lab-pc-07")));
    assert!(
        !names.contains(&"schoolwatch_probe_loss_ratio"),
        "no probes in it"
    );
    // A pure replay makes nothing.
    let (outcome, series) = ingest(&store, &mut book, &who, &[first]);
    assert!(outcome.fresh.is_empty() && series.is_empty());
}

#[test]
fn before_the_first_inventory_the_enrolled_name_labels_the_host() {
    let (_d, store, who) = setup();
    let mut book = HostBook::new(_d.path(), _d.postgres_url());
    let (_, series) = ingest(
        &store,
        &mut book,
        &who,
        &[Report::new(who.agent_id.clone(), 1, T)],
    );
    let names: Vec<&str> = series
        .iter()
        .map(|s| s.label("__name__").unwrap())
        .collect();
    assert_eq!(
        names,
        ["schoolwatch_host_up", "schoolwatch_host_last_sequence"]
    );
    assert_eq!(series[0].label("host"), Some("enrolled-name"));
    assert_eq!(series[0].label("role"), Some("lab"));
}

#[test]
fn a_change_earlier_in_the_group_holds_for_the_later_reports() {
    let (_d, store, who) = setup();
    let mut book = HostBook::new(_d.path(), _d.postgres_url());
    ingest(&store, &mut book, &who, &[rich_report(&who.agent_id, 1, T)]);
    // One batch: the firewall check fails in the first report, and the
    // store cannot show it before the batch commits.
    let mut failing = Report::new(who.agent_id.clone(), 2, T + 60_000);
    failing.security = Some(
        serde_json::from_value(json!({"checks": [
            {"id": "firewall_active", "status": "fail", "severity": "high", "evidence": "0 rules", "reason": null}
        ], "listening": []}))
        .unwrap(),
    );
    let bare = Report::new(who.agent_id.clone(), 3, T + 120_000);
    let (_, series) = ingest(&store, &mut book, &who, &[failing, bare]);
    let firewall: Vec<(i64, f64)> = series
        .iter()
        .filter(|s| s.label("check") == Some("firewall_active"))
        .map(|s| (s.samples[0].timestamp, s.samples[0].value))
        .collect();
    assert_eq!(
        firewall,
        [(T as i64 + 60_000, 0.0), (T as i64 + 120_000, 0.0)]
    );
    // The next group reads the store, which now agrees.
    let (_, series) = ingest(
        &store,
        &mut book,
        &who,
        &[Report::new(who.agent_id.clone(), 4, T + 180_000)],
    );
    assert!(
        series
            .iter()
            .any(|s| s.label("check") == Some("firewall_active") && s.samples[0].value == 0.0)
    );
    assert!(
        !series
            .iter()
            .any(|s| s.label("check") == Some("updates_recent")),
        "the store keeps the newest report's checks only"
    );
}
