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

#[test]
fn availability_counts_buckets_from_first_report() {
    let (_d, s) = store();
    let e = enroll(&s, "a", "fp");
    let who = s.authenticate(&e.credential).unwrap().unwrap();
    // Buckets of 100 ms. Reports in buckets 10, 11, 11 and 14; window
    // [0, 1500) but the school first reported at 1000, so buckets 10..=14
    // count: 5 in all, 3 with a report.
    let batch: Vec<Report> = [1_000, 1_150, 1_199, 1_420]
        .iter()
        .enumerate()
        .map(|(i, t)| Report::new(String::new(), i as u64 + 1, *t))
        .collect();
    s.ingest(&who, &batch, 2_000).unwrap();
    let av = s.availability(0, 1_500, 100).unwrap();
    assert_eq!(av, vec![("a".to_owned(), Availability { up: 3, total: 5 })]);
    assert_eq!(av[0].1.share(), Some(0.6));
}

#[test]
fn backfilled_reports_keep_their_sampling_time_in_history() {
    // See: issue 4 (history of back-filled reports).
    let (_d, s) = store();
    let e = enroll(&s, "a", "fp");
    let who = s.authenticate(&e.credential).unwrap().unwrap();
    // Live: buckets 10 and 11 arrive on time.
    let live: Vec<Report> = [1_000, 1_100]
        .iter()
        .enumerate()
        .map(|(i, t)| Report::new(String::new(), i as u64 + 1, *t))
        .collect();
    s.ingest(&who, &live, 1_150).unwrap();
    // The link drops for buckets 12 and 13; the agent was off in 12 and
    // produced a report in 13 that arrives only later, with bucket 14.
    let late: Vec<Report> = [1_320, 1_450]
        .iter()
        .enumerate()
        .map(|(i, t)| Report::new(String::new(), i as u64 + 3, *t))
        .collect();
    s.ingest(&who, &late, 9_999).unwrap();
    // Counted by when they were sampled, not received: 12 stays a hole.
    assert_eq!(
        s.availability(0, 1_500, 100).unwrap(),
        vec![("a".to_owned(), Availability { up: 4, total: 5 })]
    );
}
