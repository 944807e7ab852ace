//! Store behaviour: enrollment identity, de-duplication, revocation,
//! availability arithmetic.

use super::db::Exec;
use super::testdb::TestDb;
use super::*;
use crate::registry::{Level, LinkKind, School};
use schoolwatch_protocol::Report;

fn school(id: &str, district: &str) -> School {
    School {
        id: id.into(),
        name: format!("Sample Primary School, {district}"),
        district: district.into(),
        level: Level::Primary,
        expected_lab_pcs: 20,
        link_kind: LinkKind::Fibre,
        contracted_mbps: 50.0,
        expected_devices: 0,
    }
}

fn store() -> (TestDb, Store) {
    let dir = TestDb::new();
    let s = dir.open();
    s.import_schools(&[school("a", "Pleiku"), school("b", "Kbang")])
        .unwrap();
    (dir, s)
}

fn enroll(s: &Store, school: &str, fp: &str) -> Enrolled {
    let token = s.create_token(school, 0, 1_000).unwrap().unwrap();
    s.enroll(&token, fp, "lab-pc", 10).unwrap().unwrap()
}

#[test]
fn reimport_updates_in_place() {
    let (_d, s) = store();
    let mut changed = school("a", "Chư Păh");
    changed.expected_lab_pcs = 40;
    assert_eq!(
        s.import_schools(&[changed.clone(), school("c", "Ia Pa")])
            .unwrap(),
        (1, 1)
    );
    let all = s.schools().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], changed);
}

#[test]
fn token_for_unknown_school_is_none() {
    let (_d, s) = store();
    assert!(s.create_token("zzz", 0, 1_000).unwrap().is_none());
}

#[test]
fn expired_or_unknown_token_is_refused() {
    let (_d, s) = store();
    let token = s.create_token("a", 0, 100).unwrap().unwrap();
    assert_eq!(
        s.enroll(&token, "fp", "h", 100).unwrap().unwrap_err(),
        EnrollError::BadToken
    );
    assert_eq!(
        s.enroll("swt_nope", "fp", "h", 1).unwrap().unwrap_err(),
        EnrollError::BadToken
    );
}

#[test]
fn same_machine_keeps_its_host_and_old_credential_dies() {
    let (_d, s) = store();
    let first = enroll(&s, "a", "fp-1");
    let again = enroll(&s, "a", "fp-1");
    assert!(!first.reenrolled);
    assert!(again.reenrolled);
    assert_eq!(first.agent_id, again.agent_id);
    assert!(s.authenticate(&first.credential).unwrap().is_none());
    assert_eq!(
        s.authenticate(&again.credential).unwrap().unwrap().agent_id,
        first.agent_id
    );
    assert_eq!(s.agents().unwrap().len(), 1);
}

#[test]
fn cloned_machines_are_distinct_hosts() {
    let (_d, s) = store();
    // Same hostname, different hardware fingerprint.
    let one = enroll(&s, "a", "fp-1");
    let two = enroll(&s, "a", "fp-2");
    assert_ne!(one.agent_id, two.agent_id);
    assert_eq!(s.agents().unwrap().len(), 2);
}

#[test]
fn only_hashes_are_stored() {
    let (dir, s) = store();
    let e = enroll(&s, "a", "fp");
    let hays: Vec<Vec<u8>> = if dir.postgres_url().is_some() {
        // Every row of the tables that hold secrets, as text.
        let mut conn = lock(&s.reader);
        ["agents", "tokens"]
            .iter()
            .map(|t| {
                let sql: &'static str = match *t {
                    "agents" => "SELECT CAST(row_to_json(t) AS TEXT) FROM agents t",
                    _ => "SELECT CAST(row_to_json(t) AS TEXT) FROM tokens t",
                };
                conn.query(sql, db::args![])
                    .unwrap()
                    .iter()
                    .flat_map(|r| r.get::<String>(0).unwrap().into_bytes())
                    .collect()
            })
            .collect()
    } else {
        drop(s);
        vec![
            std::fs::read(dir.path().join(DB_FILE)).unwrap(),
            std::fs::read(dir.path().join(format!("{DB_FILE}-wal"))).unwrap_or_default(),
        ]
    };
    for hay in &hays {
        assert!(
            !hay.windows(e.credential.len())
                .any(|w| w == e.credential.as_bytes())
        );
    }
}

#[test]
fn replays_count_once() {
    let (_d, s) = store();
    let e = enroll(&s, "a", "fp");
    let who = s.authenticate(&e.credential).unwrap().unwrap();
    let batch: Vec<Report> = (1..=3)
        .map(|i| Report::new(e.agent_id.clone(), i, 1_000 * i))
        .collect();
    assert_eq!(
        s.ingest(&who, &batch, 5).unwrap(),
        IngestOutcome {
            accepted: 3,
            duplicates: 0,
            fresh: vec![0, 1, 2],
        }
    );
    for _ in 0..10 {
        assert_eq!(
            s.ingest(&who, &batch, 6).unwrap(),
            IngestOutcome {
                accepted: 0,
                duplicates: 3,
                fresh: vec![],
            }
        );
    }
    let h = &s.hosts().unwrap()[0];
    assert_eq!(h.reports_total, 3);
    assert_eq!(h.last_sequence, 3);
}

#[test]
fn revoked_agent_and_school_are_refused() {
    let (_d, s) = store();
    let a = enroll(&s, "a", "fp");
    let b = enroll(&s, "b", "fp");
    assert!(s.revoke_agent(&a.agent_id, 1).unwrap());
    assert!(s.authenticate(&a.credential).unwrap().is_none());
    assert!(s.authenticate(&b.credential).unwrap().is_some());
    assert!(s.revoke_school("b", 1).unwrap());
    assert!(s.authenticate(&b.credential).unwrap().is_none());
    assert!(s.hosts().unwrap().is_empty());
}

fn gateway_probe(received: u32) -> schoolwatch_protocol::ProbeResult {
    let mut p = schoolwatch_protocol::ProbeResult {
        target: "192.0.2.1".into(),
        kind: schoolwatch_protocol::ProbeKind::Gateway,
        sent: 3,
        received,
        loss_ratio: f64::from(3 - received) / 3.0,
        rtt_min_seconds: None,
        rtt_median_seconds: None,
        rtt_avg_seconds: None,
        rtt_max_seconds: None,
        jitter_seconds: None,
    };
    if received > 0 {
        p.rtt_median_seconds = Some(0.001);
    }
    p
}

#[test]
fn a_silence_longer_than_the_window_is_recorded_as_an_outage() {
    let (_d, s) = store();
    s.set_online_window(std::time::Duration::from_millis(100));
    let e = enroll(&s, "a", "fp");
    let who = s.authenticate(&e.credential).unwrap().unwrap();
    let report = |seq: u64, at: u64| Report::new(String::new(), seq, at);
    // Received at 1000 and 1090 (gap 90: not an outage), then 1400 (gap
    // 310: an outage from 1090 to 1400).
    s.ingest(&who, &[report(1, 1_000)], 1_000).unwrap();
    s.ingest(&who, &[report(2, 1_090)], 1_090).unwrap();
    s.ingest(&who, &[report(5, 1_400)], 1_400).unwrap();
    // Back-filled reports arrive after the outage ended: no new outage.
    s.ingest(&who, &[report(3, 1_200), report(4, 1_300)], 1_410)
        .unwrap();
    // A duplicate after a long silence is not a sign of life either way.
    let outages = s.outages(0).unwrap();
    assert_eq!(
        outages,
        vec![(
            "a".to_owned(),
            OutageRow {
                start_ms: 1_090,
                end_ms: 1_400
            }
        )]
    );
    // Only outages ending at or after `since` are listed.
    assert!(s.outages(1_401).unwrap().is_empty());
    assert_eq!(s.first_seen().unwrap(), vec![("a".to_owned(), 1_000)]);
}

#[test]
fn backfilled_reports_keep_their_sampling_time_as_outage_evidence() {
    // See: issue 4 (history of back-filled reports) and issue 5 (outage
    // kinds): reports made during an outage count where they were sampled.
    let (_d, s) = store();
    let e = enroll(&s, "a", "fp");
    let who = s.authenticate(&e.credential).unwrap().unwrap();
    let with_gateway = |seq: u64, at: u64, received: Option<u32>| {
        let mut r = Report::new(String::new(), seq, at);
        r.probes = received.map(gateway_probe).into_iter().collect();
        r
    };
    // Sampled in the outage (1000, 2000): two with the gateway answering,
    // one with it silent, one without a gateway probe; one outside.
    let batch = [
        with_gateway(1, 1_100, Some(3)),
        with_gateway(2, 1_200, Some(1)),
        with_gateway(3, 1_300, Some(0)),
        with_gateway(4, 1_400, None),
        with_gateway(5, 2_000, Some(0)),
    ];
    s.ingest(&who, &batch, 9_999).unwrap();
    assert_eq!(
        s.outage_evidence("a", 1_000, 2_000).unwrap(),
        crate::outage::Evidence {
            reports: 4,
            gateway_up: 2,
            gateway_down: 1
        }
    );
    assert_eq!(
        s.outage_evidence("b", 1_000, 2_000).unwrap(),
        crate::outage::Evidence::default()
    );
}

#[test]
fn the_collectors_own_downtime_is_not_a_school_outage() {
    let dir = TestDb::new();
    let now = crate::fleet::now_ms();
    let whos = {
        let s = dir.open();
        s.import_schools(&[school("a", "Pleiku"), school("b", "Kbang")])
            .unwrap();
        let (a, b) = (enroll(&s, "a", "fa"), enroll(&s, "b", "fb"));
        let (a, b) = (
            s.authenticate(&a.credential).unwrap().unwrap(),
            s.authenticate(&b.credential).unwrap().unwrap(),
        );
        // Both report an hour ago, then the collector stops.
        s.ingest(&a, &[Report::new(String::new(), 1, 0)], now - 3_600_000)
            .unwrap();
        s.ingest(&b, &[Report::new(String::new(), 1, 0)], now - 3_600_000)
            .unwrap();
        (a, b)
    };
    // It starts again now, with a 10 s window.
    let s = dir.open();
    s.set_online_window(std::time::Duration::from_secs(10));
    // School a is back 5 s after the start: no outage of its own.
    s.ingest(
        &whos.0,
        &[Report::new(String::new(), 2, 0)],
        s.opened_ms + 5_000,
    )
    .unwrap();
    // School b only after 60 s: an outage, counted from the start.
    s.ingest(
        &whos.1,
        &[Report::new(String::new(), 2, 0)],
        s.opened_ms + 60_000,
    )
    .unwrap();
    assert_eq!(
        s.outages(0).unwrap(),
        vec![(
            "b".to_owned(),
            OutageRow {
                start_ms: s.opened_ms,
                end_ms: s.opened_ms + 60_000
            }
        )]
    );
}

#[test]
fn pruning_keeps_replays_known_and_newer_reports() {
    let (_d, s) = store();
    let e = enroll(&s, "a", "fp");
    let who = s.authenticate(&e.credential).unwrap().unwrap();
    let other = enroll(&s, "b", "fp2");
    let other = s.authenticate(&other.credential).unwrap().unwrap();
    // Sequences 1..=10 sampled at 100, 200, ... 1000.
    let batch: Vec<Report> = (1..=10)
        .map(|i| Report::new(String::new(), i, i * 100))
        .collect();
    s.ingest(&who, &batch, 400).unwrap();
    s.ingest(&other, &batch[..3], 400).unwrap();
    // Received after the horizon: kept, whenever they were sampled.
    assert_eq!(s.prune(300).unwrap(), 0);
    // Everything sampled before 450: 1..=4 of a, 1..=3 of b.
    assert_eq!(s.prune(450).unwrap(), 7);
    assert_eq!(sequences(&s, &who.agent_id), (5..=10).collect::<Vec<u64>>());
    // A replay of a pruned report is still a duplicate; a new one is new.
    let out = s
        .ingest(
            &who,
            &[
                Report::new(String::new(), 2, 200),
                Report::new(String::new(), 11, 1_100),
            ],
            2_100,
        )
        .unwrap();
    assert_eq!((out.accepted, out.duplicates), (1, 1));
    // Pruning again changes nothing.
    assert_eq!(s.prune(450).unwrap(), 0);
}

fn sequences(s: &Store, agent_id: &str) -> Vec<u64> {
    lock(&s.reader)
        .query(
            "SELECT sequence FROM reports WHERE agent_id = ?1 ORDER BY sequence",
            db::args![agent_id],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<u64>(0).unwrap())
        .collect()
}

fn device(
    mac: Option<&str>,
    address: &str,
    kind: schoolwatch_protocol::DeviceKind,
) -> schoolwatch_protocol::Device {
    schoolwatch_protocol::Device {
        address: address.into(),
        mac: mac.map(str::to_owned),
        vendor: None,
        kind,
        configured: false,
        icmp_up: true,
        snmp: None,
        error: None,
    }
}

fn devices_report(seq: u64, at: u64, devices: Vec<schoolwatch_protocol::Device>) -> Report {
    let mut r = Report::new(String::new(), seq, at);
    r.devices = Some(schoolwatch_protocol::Devices {
        subnets: vec!["10.0.0.0/24".into()],
        devices,
    });
    r
}

#[test]
fn devices_are_kept_per_school_newest_round_wins_and_missing_is_known() {
    use schoolwatch_protocol::DeviceKind::{Printer, Switch, Unknown};
    let (_d, s) = store();
    let a = enroll(&s, "a", "fp-a");
    let b = enroll(&s, "b", "fp-b");
    let who_a = s.authenticate(&a.credential).unwrap().unwrap();
    let who_b = s.authenticate(&b.credential).unwrap().unwrap();
    // Round 1 at 1000: a switch (by MAC) and a printer by address only.
    s.ingest(
        &who_a,
        &[devices_report(
            1,
            1000,
            vec![
                device(Some("00:00:0c:00:00:01"), "10.0.0.2", Switch),
                device(None, "10.0.0.9", Printer),
            ],
        )],
        1000,
    )
    .unwrap();
    // Round 2 at 2000: the switch moved address, the printer is gone.
    s.ingest(
        &who_a,
        &[devices_report(
            2,
            2000,
            vec![device(Some("00:00:0c:00:00:01"), "10.0.0.3", Switch)],
        )],
        2000,
    )
    .unwrap();
    // A back-filled round sampled at 500 arrives late: it adds a device
    // not known and moves the switch's first sighting, nothing else.
    let mut stale = device(Some("00:00:0c:00:00:01"), "10.0.0.77", Unknown);
    stale.icmp_up = false;
    s.ingest(
        &who_a,
        &[devices_report(
            3,
            500,
            vec![
                stale,
                device(Some("aa:00:00:00:00:05"), "10.0.0.5", Unknown),
            ],
        )],
        2100,
    )
    .unwrap();
    // The same MAC at another school is another school's device.
    s.ingest(
        &who_b,
        &[devices_report(
            1,
            1500,
            vec![device(Some("00:00:0c:00:00:01"), "10.9.0.2", Switch)],
        )],
        1500,
    )
    .unwrap();

    let got: Vec<_> = s
        .devices()
        .unwrap()
        .into_iter()
        .map(|d| {
            (
                d.school_id,
                d.key,
                d.address,
                d.kind,
                d.first_seen_ms,
                d.last_seen_ms,
                d.missing,
            )
        })
        .collect();
    let row = |school: &str, key: &str, addr: &str, kind, first, last, missing| {
        (
            school.to_owned(),
            key.to_owned(),
            addr.to_owned(),
            kind,
            first,
            last,
            missing,
        )
    };
    assert_eq!(
        got,
        [
            row(
                "a",
                "00:00:0c:00:00:01",
                "10.0.0.3",
                Switch,
                500,
                2000,
                false
            ),
            row("a", "10.0.0.9", "10.0.0.9", Printer, 1000, 1000, true),
            row(
                "a",
                "aa:00:00:00:00:05",
                "10.0.0.5",
                Unknown,
                500,
                500,
                true
            ),
            row(
                "b",
                "00:00:0c:00:00:01",
                "10.9.0.2",
                Switch,
                1500,
                1500,
                false
            ),
        ]
    );
    // Devices not seen since the horizon are forgotten.
    assert_eq!(s.prune_devices(1001).unwrap(), 2);
    assert_eq!(s.devices().unwrap().len(), 2);
    // A revoked school's devices are not listed.
    s.revoke_school("b", 3000).unwrap();
    assert_eq!(s.devices().unwrap().len(), 1);
}

#[test]
fn a_swept_machine_with_an_agent_is_a_host_and_kinds_survive_a_silent_round() {
    use schoolwatch_protocol::DeviceKind::{Pc, Switch, Unknown};
    let (_d, s) = store();
    let srv = enroll(&s, "a", "fp-srv");
    let lab = enroll(&s, "a", "fp-lab");
    let who_srv = s.authenticate(&srv.credential).unwrap().unwrap();
    let who_lab = s.authenticate(&lab.credential).unwrap().unwrap();
    // The lab PC reports its inventory: one interface with its MAC.
    let mut inv = Report::new(String::new(), 1, 100);
    inv.inventory = Some(schoolwatch_protocol::Inventory {
        hostname: "lab-1".into(),
        os_name: "Debian".into(),
        os_version: "12".into(),
        kernel_version: "6.1".into(),
        architecture: "x86_64".into(),
        cpu_model: "x".into(),
        cpu_physical_cores: None,
        cpu_logical_cores: 2,
        memory_total_bytes: 1,
        swap_total_bytes: 0,
        boot_time_seconds: 1,
        disks: Vec::new(),
        interfaces: vec![schoolwatch_protocol::InterfaceInfo {
            name: "eth0".into(),
            mac: Some("52:54:00:AA:BB:01".into()),
            addresses: vec!["10.0.0.50/24".into()],
            speed_mbps: None,
            up: true,
        }],
        dmi: Default::default(),
        agent_version: "0".into(),
        role: Role::Lab,
    });
    s.ingest(&who_lab, &[inv], 100).unwrap();
    // The server's sweep finds the lab PC and a switch; then a round in
    // which the switch did not answer SNMP (kind unknown, no vendor).
    let mut switch = device(Some("00:00:0c:00:00:01"), "10.0.0.2", Switch);
    switch.vendor = Some("Cisco Systems, Inc".into());
    s.ingest(
        &who_srv,
        &[devices_report(
            1,
            1000,
            vec![switch, device(Some("52:54:00:aa:bb:01"), "10.0.0.50", Pc)],
        )],
        1000,
    )
    .unwrap();
    let mut silent = device(Some("00:00:0c:00:00:01"), "10.0.0.2", Unknown);
    silent.icmp_up = false;
    s.ingest(&who_srv, &[devices_report(2, 2000, vec![silent])], 2000)
        .unwrap();
    let got: Vec<_> = s
        .devices()
        .unwrap()
        .into_iter()
        .map(|d| (d.key, d.kind, d.vendor, d.icmp_up, d.last_seen_ms))
        .collect();
    assert_eq!(
        got,
        [(
            "00:00:0c:00:00:01".to_owned(),
            Switch,
            Some("Cisco Systems, Inc".to_owned()),
            false,
            2000
        )],
        "the lab PC is left out; the switch keeps its kind and vendor"
    );
    // Once the lab PC's agent is revoked, the sweep's find is a device.
    s.revoke_agent(&lab.agent_id, 3000).unwrap();
    assert_eq!(s.devices().unwrap().len(), 2);
}
