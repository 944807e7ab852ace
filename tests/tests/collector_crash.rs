//! kill -9 the collector 50 times while reports pour in: every report it
//! acknowledged is in its database afterwards (it acknowledges only after
//! the commit, with synchronous = FULL).

use schoolwatch_protocol::Report;
use schoolwatch_tests::collector::{batch_body, https_client};
use schoolwatch_tests::{Rng, TestCollector};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn acknowledged_reports_survive_fifty_kill_9() {
    let mut c = TestCollector::start("[ingest]\nrequests_per_minute = 1000000\n");
    let (id, credential) = c.enroll_as("t-a", "poster", "poster");
    let agent_id = id.clone();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let poster = {
        let (acked, stop, url, ca) = (acked.clone(), stop.clone(), c.url.clone(), c.ca_pem.clone());
        std::thread::spawn(move || {
            let rt = schoolwatch_tests::rt();
            let mut next = 1u64;
            let mut answered = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // A new client each time: connections die with the server.
                let client = https_client(&ca);
                let reports: Vec<Report> = (next..next + 10)
                    .map(|s| Report::new(id.clone(), s, s * 1000))
                    .collect();
                let ack = rt.block_on(async {
                    let r = client
                        .post(format!("{url}/api/v1/reports"))
                        .bearer_auth(&credential)
                        .header("content-type", "application/json")
                        .body(batch_body(reports))
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await
                        .ok()?;
                    if !r.status().is_success() {
                        return None;
                    }
                    r.json::<schoolwatch_protocol::api::Ack>().await.ok()
                });
                match ack {
                    Some(ack) => {
                        answered += 1;
                        acked.lock().unwrap().extend(ack.acknowledged);
                        next += 10;
                    }
                    // Unanswered: send the same batch again, as an agent would.
                    None => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            answered
        })
    };
    let mut rng = Rng::from_env("acknowledged_reports_survive_fifty_kill_9");
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(rng.range(30, 250)));
        c.restart(); // SIGKILL the running one, start a new one
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let answered = poster.join().unwrap();
    c.stop();
    let acked = acked.lock().unwrap().clone();
    assert!(
        answered > 50,
        "only {answered} batches acknowledged; the test proved little"
    );
    let stored: BTreeSet<u64> = c.stored_sequences(&agent_id).into_iter().collect();
    let missing: Vec<u64> = acked.difference(&stored).copied().collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged reports lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
}
