//! The pages against a small hand-made fleet: three schools in two
//! districts, one of them offline, one silent.
//!
//! | school | district | link  | host  | state                         |
//! |--------|----------|-------|-------|-------------------------------|
//! | p1     | Pleiku   | fibre | h-p1  | online, good lab PC           |
//! | p2     | Pleiku   | 4g    | h-p2  | offline since `now - 1 h`     |
//! | c1     | Chư Păh  | fibre | h-c1  | online                        |
//! | c2     | Chư Păh  | fibre | -     | no agent                      |

use super::*;
use crate::calendar::Calendar;
use crate::coverage::{PROVINCE, SchoolFacts};
use crate::outage::{Evidence, Outage};
use crate::registry::{Level, LinkKind, School};
use schoolwatch_protocol::Role;

const NOW: i64 = 1_750_000_000_000;
const HOUR: i64 = 3_600_000;
const GIB: u64 = 1 << 30;

fn registered(id: &str, district: &str, link_kind: LinkKind) -> School {
    School {
        id: id.into(),
        name: format!("Trường {id}"),
        district: district.into(),
        level: Level::Primary,
        expected_lab_pcs: 2,
        link_kind,
        contracted_mbps: 50.0,
        expected_devices: 0,
    }
}

fn machine(id: &str, school: &str, last_seen_ms: i64) -> HostState {
    HostState {
        agent_id: id.into(),
        school_id: school.into(),
        hostname: format!("<b>{id}</b>"),
        role: Role::Lab,
        os: "Debian 12".into(),
        cpu_model: "x".into(),
        logical_cores: 4,
        memory_total_bytes: 8 * GIB,
        disk_total_bytes: 250 * GIB,
        disks: Vec::new(),
        boot_time_seconds: 1,
        last_seen_ms,
        reports_total: 10,
        last_sequence: 10,
        has_inventory: true,
        last_sample: None,
        health: None,
        checks: Vec::new(),
        probes: Vec::new(),
        throughput: None,
    }
}

fn fleet() -> (Fleet, Targets) {
    let targets = Targets::default();
    let schools = vec![
        registered("p1", "Pleiku", LinkKind::Fibre),
        registered("p2", "Pleiku", LinkKind::FourG),
        registered("c1", "Chư Păh", LinkKind::Fibre),
        registered("c2", "Chư Păh", LinkKind::Fibre),
    ];
    let hosts = vec![
        machine("h-p1", "p1", NOW - 1000),
        machine("h-p2", "p2", NOW - HOUR),
        machine("h-c1", "c1", NOW - 1000),
    ];
    let good = HostFacts {
        role: Role::Lab,
        memory_total_bytes: 8 * GIB,
        logical_cores: 4,
        disk_total_bytes: 250 * GIB,
        security_baseline_met: None,
    };
    let facts = |s: &School, online: bool, hosts: Vec<HostFacts>, outages: Vec<Outage>| {
        coverage::school(
            &SchoolFacts {
                school: s,
                agents: u32::try_from(hosts.len()).unwrap(),
                reporting_hosts: hosts,
                online,
                availability_24h: online.then_some(1.0),
                availability_7d: None,
                measured_download_mbps: None,
                collector_path: None,
                outages,
                devices_known: 0,
            },
            &targets,
        )
    };
    let ongoing = Outage::new(
        NOW - HOUR,
        None,
        NOW,
        Evidence::default(),
        &Calendar::default(),
    );
    let coverage = vec![
        facts(&schools[0], true, vec![good], Vec::new()),
        facts(&schools[1], false, vec![good], vec![ongoing]),
        facts(&schools[2], true, vec![good], Vec::new()),
        facts(&schools[3], false, Vec::new(), Vec::new()),
    ];
    let fleet = Fleet {
        now_ms: NOW,
        districts: coverage::by_district(&coverage),
        province: coverage::summarize(PROVINCE, &coverage),
        by_link_kind: coverage::by_link_kind(&coverage),
        regressions: Vec::new(),
        regression_counts: Vec::new(),
        schools,
        hosts,
        coverage,
        school_devices: Default::default(),
        devices: vec![
            device("p1", "aa:bb:cc:00:00:02", false, None),
            device("p2", "10.0.0.9", true, None),
            device(
                "p2",
                "aa:bb:cc:00:00:01",
                false,
                Some(schoolwatch_protocol::UpsStatus {
                    on_battery: true,
                    battery_status: 2,
                    ..Default::default()
                }),
            ),
        ],
    };
    (fleet, targets)
}

fn device(
    school: &str,
    key: &str,
    missing: bool,
    ups: Option<schoolwatch_protocol::UpsStatus>,
) -> crate::store::DeviceRow {
    crate::store::DeviceRow {
        school_id: school.into(),
        key: key.into(),
        address: "10.0.0.9".into(),
        mac: key.contains(':').then(|| key.to_owned()),
        vendor: Some("Cisco Systems".into()),
        kind: schoolwatch_protocol::DeviceKind::Switch,
        configured: false,
        icmp_up: true,
        snmp: Some(schoolwatch_protocol::SnmpData {
            ups,
            ..Default::default()
        }),
        error: None,
        reporter: "h-p2".into(),
        first_seen_ms: NOW - 2 * HOUR,
        last_seen_ms: NOW - HOUR,
        missing,
    }
}

fn who(district: Option<&str>) -> Who {
    Who {
        name: "x".into(),
        district: district.map(str::to_owned),
    }
}

fn table<'p>(page: &'p Page, id: &str) -> &'p Table {
    page.tables.iter().find(|t| t.id == id).unwrap()
}

fn keys(t: &Table) -> Vec<&str> {
    t.rows.iter().map(|r| r.key.as_str()).collect()
}

#[test]
fn district_staff_see_only_their_district() {
    let (f, targets) = fleet();
    let pk = who(Some("Pleiku"));
    let v = View::new(&f, &targets, 300_000, Lang::En, None, &pk);
    assert!(overview(&v).is_err());
    assert!(district(&v, "Chư Păh").is_err());
    assert!(school(&v, "c1").is_err());
    assert!(host(&v, "h-c1").is_err());
    assert!(district(&v, "Nowhere").is_err());
    let d = district(&v, "Pleiku").unwrap();
    assert_eq!(keys(table(&d, "schools")), ["p2", "p1"]);
    assert!(school(&v, "p1").is_ok());
    assert!(host(&v, "h-p2").is_ok());
    assert_eq!(keys(table(&schools(&v), "schools")), ["p2", "p1"]);
}

#[test]
fn worst_first_offline_then_no_agent_then_by_score() {
    let (f, targets) = fleet();
    let so = who(None);
    let v = View::new(&f, &targets, 300_000, Lang::En, None, &so);
    let all = schools(&v);
    // p2 offline; c2 without agent; p1 (fibre) and c1 (fibre) online with
    // the same score, so by id.
    assert_eq!(keys(table(&all, "schools")), ["p2", "c2", "c1", "p1"]);
}

#[test]
fn overview_shows_the_province_and_the_offline_school() {
    let (f, targets) = fleet();
    let so = who(None);
    let v = View::new(&f, &targets, 300_000, Lang::Vi, Some(Lang::Vi), &so);
    let p = overview(&v).unwrap();
    let targets_t = table(&p, "targets");
    let online = targets_t
        .rows
        .iter()
        .find(|r| r.key == "schools_online")
        .unwrap();
    assert_eq!(online.cells[1], Cell::Int(2));
    assert_eq!(online.cells[2], Cell::Int(4));
    let districts = table(&p, "districts");
    assert_eq!(keys(districts), ["Chư Păh", "Pleiku", "province"]);
    let kinds = table(&p, "link_kinds");
    assert_eq!(keys(kinds), ["fibre", "4g"]);
    assert_eq!(kinds.rows[0].cells[1], Cell::Int(3));
    assert_eq!(kinds.rows[0].cells[3], Cell::Frac { num: 2, den: 3 });
    let offline = table(&p, "offline");
    assert_eq!(keys(offline), ["p2"]);
    let row = &offline.rows[0];
    assert_eq!(row.cells[2], Cell::coded(VI_UNKNOWN, "unknown"));
    assert_eq!(row.cells[3], Cell::Time(Some(NOW - HOUR)));
    assert_eq!(row.cells[4], Cell::Span(HOUR));
    // Links keep the chosen language and encode the district.
    let Cell::Link { href, .. } = &row.cells[1] else {
        panic!("a link")
    };
    assert_eq!(href, "/status/district/Pleiku?lang=vi");
}

const VI_UNKNOWN: &str = "Chưa rõ";

#[test]
fn school_and_host_pages_have_their_tables() {
    let (f, targets) = fleet();
    let so = who(None);
    let v = View::new(&f, &targets, 300_000, Lang::En, None, &so);
    let s = school(&v, "p2").unwrap();
    let ids: Vec<&str> = s.tables.iter().map(|t| t.id).collect();
    assert_eq!(
        ids,
        [
            "school",
            "targets",
            "hosts",
            "devices",
            "probes",
            "outages",
            "checks",
            "regressions"
        ]
    );
    assert_eq!(keys(table(&s, "hosts")), ["h-p2"]);
    // p2's devices, the missing one first; p1's switch is not on p2's page.
    assert_eq!(
        keys(table(&s, "devices")),
        ["10.0.0.9", "aa:bb:cc:00:00:01"]
    );
    let csv = String::from_utf8(crate::status::csv::render(table(&s, "devices"), "total").unwrap())
        .unwrap();
    assert!(
        csv.contains("aa:bb:cc:00:00:01,Cisco Systems,switch,,") && csv.contains(",battery,"),
        "{csv}"
    );
    assert_eq!(s.crumbs.len(), 2);
    let h = host(&v, "h-p1").unwrap();
    assert_eq!(h.title, "<b>h-p1</b>");
    assert_eq!(h.crumbs.len(), 3);
}
