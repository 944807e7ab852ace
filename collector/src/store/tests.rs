//! Store behaviour: enrollment identity, de-duplication, revocation,
//! availability arithmetic.

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
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
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
    drop(s);
    let bytes = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    let wal = std::fs::read(dir.path().join(format!("{DB_FILE}-wal"))).unwrap_or_default();
    for hay in [&bytes, &wal] {
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
            duplicates: 0
        }
    );
    for _ in 0..10 {
        assert_eq!(
            s.ingest(&who, &batch, 6).unwrap(),
            IngestOutcome {
                accepted: 0,
                duplicates: 3
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
    let dir = tempfile::tempdir().unwrap();
    let now = crate::fleet::now_ms();
    let whos = {
        let s = Store::open(dir.path()).unwrap();
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
    let s = Store::open(dir.path()).unwrap();
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
    let conn = lock(&s.reader);
    let mut stmt = conn
        .prepare("SELECT sequence FROM reports WHERE agent_id = ?1 ORDER BY sequence")
        .unwrap();
    stmt.query_map([agent_id], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|r| r.unwrap() as u64)
        .collect()
}
