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

use schoolwatch_protocol::{Inventory, Report, Role};
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
    let (id, cred) = c.enroll_as(school, name, name);
    let mut r = Report::new(id, 1, now_ms());
    r.inventory = Some(inv);
    let a = c.post(Some(&cred), &[], batch_body(vec![r]));
    assert_eq!(a.status, 200, "{}", a.body);
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
    let csv = c.cli(&["coverage", "--district", "Pleiku", "--format", "csv"]);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(
        rows[1].starts_with("t-a,") && rows[1].contains(",2,true,"),
        "{csv}"
    );
}
