//! Coverage from the real collector equals a hand count of a small fleet.
//!
//! Registry (tests/src/collector.rs): t-a Pleiku fibre 20 lab PCs, t-b
//! Pleiku 4G 25, t-c Chư Păh fibre 40, t-d Chư Păh 4G 0. Fleet:
//! - t-a: a good lab PC (8 GiB, 4 cores, 250 GiB) and an old one (2 GiB);
//! - t-b: a good server (16 GiB, 8 cores, 500 GiB);
//! - t-c: one agent enrolled that never reported;
//! - t-d: nothing.
//!
//! By hand, with the default targets (4 GiB, 2 cores, 100 GiB; fibre):
//! province: 4 registered, 2 reporting (t-a, t-b), 2 without a reporting
//! agent (t-c, t-d), 2 online, 3 machines of which 2 meet the minimum, 2 lab
//! PCs reporting of 85 expected, 2 schools on a fibre link.
//! Pleiku: 2, 2, 0, 2, 3, 2, 2/45, 1. Chư Păh: 2, 0, 2, 0, 0, 0, 0/40, 1.

use schoolwatch_protocol::{Inventory, ProbeKind, ProbeResult, Report, Role};
use schoolwatch_tests::collector::batch_body;
use schoolwatch_tests::{TestCollector, agent};

fn inventory(role: Role, gib: u64, cores: u32, disk_gib: u64) -> Inventory {
    let mut inv: Inventory = serde_json::from_str(&agent(&["inventory", "--json"])).unwrap();
    inv.role = role;
    inv.memory_total_bytes = gib << 30;
    inv.cpu_logical_cores = cores;
    inv.disks.truncate(1);
    inv.disks[0].total_bytes = disk_gib << 30;
    inv.disks[0].available_bytes = 1 << 30;
    inv
}

fn report_from(c: &TestCollector, school: &str, name: &str, inv: Inventory) {
    report_with_probes(c, school, name, inv, Vec::new());
}

fn report_with_probes(
    c: &TestCollector,
    school: &str,
    name: &str,
    inv: Inventory,
    probes: Vec<ProbeResult>,
) {
    let (id, cred) = c.enroll_as(school, name, name);
    let mut r = Report::new(id, 1, now_ms());
    r.inventory = Some(inv);
    r.probes = probes;
    let a = c.post(Some(&cred), &[], batch_body(vec![r]));
    assert_eq!(a.status, 200, "{}", a.body);
}

/// A probe round of 10 requests: `received` replies, median `rtt` seconds.
fn probe(kind: ProbeKind, target: &str, received: u32, rtt: f64) -> ProbeResult {
    let got = (received > 0).then_some(rtt);
    ProbeResult {
        target: target.into(),
        kind,
        sent: 10,
        received,
        loss_ratio: f64::from(10 - received) / 10.0,
        rtt_min_seconds: got,
        rtt_median_seconds: got,
        rtt_avg_seconds: got,
        rtt_max_seconds: got,
        jitter_seconds: None,
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn coverage_equals_hand_count() {
    let c = TestCollector::start("");
    report_from(&c, "t-a", "a1", inventory(Role::Lab, 8, 4, 250));
    report_from(&c, "t-a", "a2", inventory(Role::Lab, 2, 2, 250));
    report_from(&c, "t-b", "b1", inventory(Role::Server, 16, 8, 500));
    c.enroll_as("t-c", "c1", "c1");

    let v: serde_json::Value =
        serde_json::from_str(&c.cli(&["coverage", "--format", "json"])).unwrap();
    let check = |s: &serde_json::Value, expect: [u64; 9]| {
        let got = [
            "schools_registered",
            "schools_reporting",
            "schools_without_agent",
            "schools_online",
            "machines_reporting",
            "machines_meeting_min",
            "lab_pcs_reporting",
            "lab_pcs_expected",
            "schools_link_on_target",
        ]
        .map(|k| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}")));
        assert_eq!(got, expect, "{}", s["scope"]);
    };
    check(&v["province"], [4, 2, 2, 2, 3, 2, 2, 85, 2]);
    let districts = v["districts"].as_array().unwrap();
    let d = |name: &str| districts.iter().find(|d| d["scope"] == name).unwrap();
    check(d("Pleiku"), [2, 2, 0, 2, 3, 2, 2, 45, 1]);
    check(d("Chư Păh"), [2, 0, 2, 0, 0, 0, 0, 40, 1]);
    // Both reporting schools reported in their only bucket so far.
    assert_eq!(v["province"]["availability_24h"], 1.0);

    // The same numbers on /metrics, and per school from the district view.
    let text = c.metrics();
    let m = |name: &str, labels: &[(&str, &str)]| {
        schoolwatch_tests::metric(&text, name, labels).unwrap()
    };
    assert_eq!(m("schoolwatch_province_machines_meeting_minimum", &[]), 2.0);
    assert_eq!(
        m(
            "schoolwatch_district_schools_without_agent",
            &[("district", "Chư Păh")]
        ),
        2.0
    );
    assert_eq!(m("schoolwatch_school_agents", &[("school", "t-c")]), 1.0);
    // By contracted link kind: fibre is t-a (reporting) and t-c (not); 4G
    // is t-b (reporting) and t-d (not); one of each per district.
    for (kind, registered, reporting, online) in [("fibre", 2.0, 1.0, 1.0), ("4g", 2.0, 1.0, 1.0)] {
        let l = [("link_kind", kind)];
        assert_eq!(
            m("schoolwatch_province_link_kind_schools_registered", &l),
            registered
        );
        assert_eq!(
            m("schoolwatch_province_link_kind_schools_reporting", &l),
            reporting
        );
        assert_eq!(
            m("schoolwatch_province_link_kind_schools_online", &l),
            online
        );
    }
    for (district, kind, reporting) in [
        ("Pleiku", "fibre", 1.0),
        ("Pleiku", "4g", 1.0),
        ("Chư Păh", "fibre", 0.0),
        ("Chư Păh", "4g", 0.0),
    ] {
        let l = [("district", district), ("link_kind", kind)];
        assert_eq!(
            m("schoolwatch_district_link_kind_schools_registered", &l),
            1.0
        );
        assert_eq!(
            m("schoolwatch_district_link_kind_schools_reporting", &l),
            reporting,
            "{district} {kind}"
        );
    }
    let csv = c.cli(&["coverage", "--district", "Pleiku", "--format", "csv"]);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(
        rows[1].starts_with("t-a,") && rows[1].contains(",2,true,"),
        "{csv}"
    );
}

#[test]
fn path_to_the_collector_per_school_and_a_dark_gateway() {
    let c = TestCollector::start("");
    // t-a: two PCs, 2 and 4 of 10 echo requests to the collector lost,
    // medians 10 and 30 ms: the school's path is 30 % loss, 20 ms.
    report_with_probes(
        &c,
        "t-a",
        "a1",
        inventory(Role::Lab, 8, 4, 250),
        vec![probe(ProbeKind::Collector, "collector.test", 8, 0.010)],
    );
    report_with_probes(
        &c,
        "t-a",
        "a2",
        inventory(Role::Lab, 8, 4, 250),
        vec![
            probe(ProbeKind::Collector, "collector.test", 6, 0.030),
            probe(ProbeKind::Gateway, "192.0.2.1", 10, 0.001),
        ],
    );
    // t-b: its report arrived, but its gateway answered none of 10: the
    // school is counted offline, though the host itself reported.
    report_with_probes(
        &c,
        "t-b",
        "b1",
        inventory(Role::Server, 16, 8, 500),
        vec![probe(ProbeKind::Gateway, "192.0.2.1", 0, 0.0)],
    );
    let text = c.metrics();
    let m =
        |name: &str, school: &str| schoolwatch_tests::metric(&text, name, &[("school", school)]);
    let loss = m("schoolwatch_school_collector_loss_ratio", "t-a").unwrap();
    let rtt = m("schoolwatch_school_collector_rtt_median_seconds", "t-a").unwrap();
    assert!((loss - 0.3).abs() < 1e-9, "{loss}");
    assert!((rtt - 0.020).abs() < 1e-9, "{rtt}");
    // No collector probe at t-b: no series rather than a made-up 0.
    assert_eq!(m("schoolwatch_school_collector_loss_ratio", "t-b"), None);
    assert_eq!(m("schoolwatch_school_online", "t-a"), Some(1.0));
    assert_eq!(m("schoolwatch_school_online", "t-b"), Some(0.0));
    assert_eq!(m("schoolwatch_host_up", "t-b"), Some(1.0));
    let v: serde_json::Value =
        serde_json::from_str(&c.cli(&["coverage", "--district", "Pleiku", "--format", "json"]))
            .unwrap();
    let a = &v["schools"][0];
    assert_eq!(a["id"], "t-a");
    assert!((a["collector_path"]["loss_ratio"].as_f64().unwrap() - 0.3).abs() < 1e-9);
}
