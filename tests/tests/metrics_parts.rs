//! `/metrics` in parts, for large fleets: `?part=fleet` (the collector's
//! counters and the series per school, district and province) and
//! `?part=hosts&district=D` (one district's hosts). Together the parts are
//! exactly the whole exposition; a bad query is a clear 400.

use schoolwatch_protocol::{Inventory, Report, Role};
use schoolwatch_tests::collector::batch_body;
use schoolwatch_tests::{TestCollector, agent};
use std::collections::BTreeSet;

/// The series (name and labels) of an exposition, without values.
fn series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.rsplit_once(' ').map_or(l, |(k, _)| k).to_owned())
        .collect()
}

fn report(c: &TestCollector, school: &str, name: &str) {
    let mut inv: Inventory = serde_json::from_str(&agent(&["inventory", "--json"])).unwrap();
    inv.role = Role::Lab;
    inv.hostname = name.into();
    let (id, cred) = c.enroll_as(school, name, name);
    let mut r = Report::new(id, 1, 1);
    r.inventory = Some(inv);
    let a = c.post(Some(&cred), &[], batch_body(vec![r]));
    assert_eq!(a.status, 200, "{}", a.body);
}

#[test]
fn parts_add_up_to_the_whole() {
    let c = TestCollector::start("");
    // Pleiku: t-a, t-b; Chư Păh: t-c.
    report(&c, "t-a", "pc-a1");
    report(&c, "t-b", "pc-b1");
    report(&c, "t-c", "pc-c1");
    let get = |path: &str| {
        let (status, body) = c.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    let whole = series(&get("/metrics"));
    let fleet = series(&get("/metrics?part=fleet"));
    let pleiku = series(&get("/metrics?part=hosts&district=Pleiku"));
    let chu_pah = series(&get("/metrics?part=hosts&district=Ch%C6%B0%20P%C4%83h"));
    let hosts = series(&get("/metrics?part=hosts"));

    assert!(
        fleet
            .iter()
            .any(|s| s.starts_with("schoolwatch_school_online{"))
    );
    assert!(
        fleet
            .iter()
            .any(|s| s.starts_with("schoolwatch_ingest_reports_total"))
    );
    assert!(
        fleet.iter().all(|s| !s.starts_with("schoolwatch_host_")),
        "{fleet:?}"
    );
    for (district, part, hosts_there) in [
        ("Pleiku", &pleiku, ["pc-a1", "pc-b1"].as_slice()),
        ("Chư Păh", &chu_pah, ["pc-c1"].as_slice()),
    ] {
        assert!(!part.is_empty());
        for s in part.iter() {
            assert!(s.starts_with("schoolwatch_host_"), "{s}");
            assert!(s.contains(&format!("district=\"{district}\"")), "{s}");
        }
        for h in hosts_there {
            assert!(
                part.iter().any(|s| s.starts_with("schoolwatch_host_info{")
                    && s.contains(&format!("host=\"{h}\""))),
                "{h} missing from {district}"
            );
        }
    }
    // Nothing lost, nothing twice.
    assert!(pleiku.is_disjoint(&chu_pah) && fleet.is_disjoint(&hosts));
    let districts: BTreeSet<String> = pleiku.union(&chu_pah).cloned().collect();
    assert_eq!(districts, hosts);
    let parts: BTreeSet<String> = fleet.union(&hosts).cloned().collect();
    assert_eq!(parts, whole);

    for bad in [
        "/metrics?part=everything",
        "/metrics?part=fleet&district=Pleiku",
        "/metrics?hosts=none",
    ] {
        let (status, body) = c.get(bad);
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("part"), "{bad}: {body}");
    }
}
