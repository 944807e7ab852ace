//! Two collectors sharing one PostgreSQL database behind a round-robin
//! TCP split, as several collectors behind one address scale out past a
//! province (issue #10).
//!
//! 50 agents enroll and report through the split; the requests alternate
//! between the two collectors, so each agent's consecutive batches land on
//! different collectors and every replayed batch reaches the collector
//! that did not store it. Every report must be counted exactly once
//! (stored sequences, acknowledgements, `/metrics`), each instance counts
//! only what it accepted itself, one elected instance exposes the fleet
//! series, and an agent revoked through one collector's CLI is refused by
//! the other on its very next request.
//!
//! Runs on the PostgreSQL pass only (`scripts/with-postgres.sh`, which
//! scripts/test.sh runs): on SQLite a store belongs to one collector.

use schoolwatch_protocol::Report;
use schoolwatch_protocol::api::{Ack, EnrollRequest, EnrollResponse};
use schoolwatch_tests::collector::{batch_body, https_client};
use schoolwatch_tests::roundrobin::RoundRobin;
use schoolwatch_tests::{TestCollector, metric, postgres};
use std::time::{Duration, Instant};

const AGENTS: usize = 50;
/// Reports per batch; each agent sends four batches (sequences 1..=8).
const PER_BATCH: u64 = 2;
const SCHOOLS: [&str; 4] = ["t-a", "t-b", "t-c", "t-d"];

/// What a request through the split did, and which collector (index in
/// the split's upstreams) took it.
struct Sent {
    upstream: usize,
    status: u16,
    body: String,
}

/// The split in front of the collectors: one fresh connection per request
/// (a new client each time), so the split's turn order says which
/// collector answered: request `i` goes to upstream `i % 2`.
struct Front {
    url: String,
    ca_pem: String,
    requests: usize,
}

impl Front {
    fn send(&mut self, path: &str, credential: Option<&str>, body: Vec<u8>) -> Sent {
        let upstream = self.requests % 2;
        self.requests += 1;
        let (status, body) = schoolwatch_tests::rt().block_on(async {
            let mut req = https_client(&self.ca_pem)
                .post(format!("{}{path}", self.url))
                .header("content-type", "application/json")
                .body(body);
            if let Some(c) = credential {
                req = req.bearer_auth(c);
            }
            let r = req
                .send()
                .await
                .expect("a collector answers through the split");
            (r.status().as_u16(), r.text().await.expect("a text body"))
        });
        Sent {
            upstream,
            status,
            body,
        }
    }

    fn enroll(&mut self, token: &str, name: &str) -> (EnrollResponse, usize) {
        let req = EnrollRequest {
            token: token.to_owned(),
            fingerprint: name.to_owned(),
            hostname: name.to_owned(),
        };
        let sent = self.send("/api/v1/enroll", None, serde_json::to_vec(&req).unwrap());
        assert_eq!(sent.status, 200, "enroll {name}: {}", sent.body);
        (serde_json::from_str(&sent.body).unwrap(), sent.upstream)
    }

    /// Posts batch `j` (0-based) of `agent`: sequences `j*PER_BATCH+1..`.
    fn batch(&mut self, agent: &EnrollResponse, j: u64) -> (Ack, usize) {
        let reports = (1..=PER_BATCH)
            .map(|k| {
                let seq = j * PER_BATCH + k;
                Report::new(
                    agent.agent_id.clone(),
                    seq,
                    1_700_000_000_000 + seq * 60_000,
                )
            })
            .collect();
        let sent = self.send(
            "/api/v1/reports",
            Some(&agent.credential),
            batch_body(reports),
        );
        assert_eq!(sent.status, 200, "{}", sent.body);
        (serde_json::from_str(&sent.body).unwrap(), sent.upstream)
    }
}

/// `/metrics` of each collector until `done` holds for them, or 60 s.
fn metrics_until(cs: [&TestCollector; 2], done: impl Fn(&[String; 2]) -> bool) -> [String; 2] {
    let start = Instant::now();
    loop {
        let m = cs.map(TestCollector::metrics);
        if done(&m) || start.elapsed() > Duration::from_secs(60) {
            return m;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn has_series(text: &str, name: &str) -> bool {
    text.lines().any(|l| {
        l.strip_prefix(name)
            .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
    })
}

#[test]
fn two_collectors_on_one_database_count_every_report_once() {
    if postgres::server().is_none() {
        eprintln!(
            "skipped: {} is not set; several collectors share a PostgreSQL store \
             (scripts/test.sh runs this on its PostgreSQL pass)",
            postgres::ENV
        );
        return;
    }
    // Both instances: the same database, certificate and config; rate
    // limits out of the way (all 50 "schools" come from 127.0.0.1).
    let a = TestCollector::start("[ingest]\nrequests_per_minute = 100000\n");
    let b = a.sibling();
    let cs = [&a, &b];
    let split = RoundRobin::start(&[a.addr, b.addr]);
    let mut front = Front {
        url: format!("https://{}", split.addr()),
        ca_pem: a.ca_pem.clone(),
        requests: 0,
    };

    // Tokens from A's CLI; enrollment through the split (half of the
    // agents enroll at B with a token A made).
    let tokens: Vec<String> = SCHOOLS.iter().map(|s| a.token(s)).collect();
    let mut agents = Vec::new();
    let mut enrolled_at = [0; 2];
    for i in 0..AGENTS {
        let (agent, upstream) = front.enroll(&tokens[i % SCHOOLS.len()], &format!("pc-{i:02}"));
        assert_eq!(agent.school_id, SCHOOLS[i % SCHOOLS.len()]);
        enrolled_at[upstream] += 1;
        agents.push(agent);
    }
    assert_eq!(enrolled_at, [AGENTS / 2, AGENTS / 2]);

    // Per agent, eight requests in a row (first one on A, since 50 is
    // even): new batches b1 b2 b3 b4 alternate collectors, each replay rN
    // lands on the collector that did not store bN, and r1 comes after b2.
    //   A:b1  B:b2  A:r2  B:r1  A:b3  B:b4  A:r4  B:r3
    let mut accepted = [0u64; 2];
    let mut duplicates = [0u64; 2];
    let mut new_on = Vec::new();
    for agent in &agents {
        let mut on = [0usize; 4];
        let mut replay = |front: &mut Front, j: u64, stored_on: usize| {
            let (ack, at) = front.batch(agent, j);
            assert_ne!(at, stored_on, "a replay reaches the other collector");
            assert_eq!(
                ack.accepted, 0,
                "batch {j} of {} counted twice",
                agent.agent_id
            );
            assert_eq!(u64::from(ack.duplicates), PER_BATCH);
            assert_eq!(
                ack.acknowledged,
                (j * PER_BATCH + 1..=(j + 1) * PER_BATCH).collect::<Vec<_>>()
            );
            duplicates[at] += PER_BATCH;
        };
        for (j, then_replay) in [(0, None), (1, Some(1)), (2, None), (3, Some(3))] {
            let (ack, at) = front.batch(agent, j);
            assert_eq!(
                u64::from(ack.accepted),
                PER_BATCH,
                "batch {j}: {:?}",
                ack.acknowledged
            );
            assert_eq!(ack.duplicates, 0);
            accepted[at] += PER_BATCH;
            on[j as usize] = at;
            if let Some(r) = then_replay {
                replay(&mut front, r, on[r as usize]);
                replay(&mut front, r - 1, on[r as usize - 1]);
            }
        }
        new_on.push(on);
    }
    assert!(
        new_on.iter().all(|on| on.windows(2).all(|w| w[0] != w[1])),
        "consecutive batches of an agent alternate collectors: {new_on:?}"
    );
    let sent_reports = AGENTS as u64 * 4 * PER_BATCH;
    assert_eq!(accepted, [sent_reports / 2, sent_reports / 2]);
    assert_eq!(duplicates.iter().sum::<u64>(), sent_reports);

    // The split handed out every connection in turn; none failed.
    let total = front.requests as u64;
    assert_eq!(split.connections(), [total / 2, total / 2]);
    assert_eq!(split.failed(), [0, 0]);

    // Stored once: every agent's sequences, from the shared database.
    let want: Vec<u64> = (1..=4 * PER_BATCH).collect();
    for agent in &agents {
        assert_eq!(
            a.stored_sequences(&agent.agent_id),
            want,
            "{}",
            agent.agent_id
        );
    }

    // /metrics: exactly one elected instance exposes the fleet series
    // (per school, district, province, host), with every agent's reports
    // counted once; each instance counts only the reports it accepted.
    let fleet = "schoolwatch_province_schools_registered";
    let m = metrics_until(cs, |m| {
        let elected: Vec<_> = m.iter().filter(|t| has_series(t, fleet)).collect();
        elected.len() == 1
            && agents.iter().all(|ag| {
                metric(
                    elected[0],
                    "schoolwatch_host_reports_total",
                    &[("agent_id", &ag.agent_id)],
                ) == Some(want.len() as f64)
            })
    });
    let elected: Vec<usize> = (0..2).filter(|&i| has_series(&m[i], fleet)).collect();
    assert_eq!(
        elected.len(),
        1,
        "exactly one instance exposes {fleet}:\n--- A\n{}\n--- B\n{}",
        m[0],
        m[1]
    );
    let (fleet_text, other) = (&m[elected[0]], &m[1 - elected[0]]);
    assert_eq!(metric(fleet_text, fleet, &[]), Some(SCHOOLS.len() as f64));
    let mut host_sum = 0.0;
    for agent in &agents {
        let n = metric(
            fleet_text,
            "schoolwatch_host_reports_total",
            &[("agent_id", &agent.agent_id)],
        );
        assert_eq!(n, Some(want.len() as f64), "{}", agent.agent_id);
        host_sum += n.unwrap_or(0.0);
    }
    assert_eq!(host_sum, sent_reports as f64);
    assert!(
        !has_series(other, "schoolwatch_host_reports_total"),
        "the instance not elected exposes no host series:\n{other}"
    );
    for (i, text) in m.iter().enumerate() {
        let own = |name| metric(text, name, &[]).unwrap_or_else(|| panic!("{name} on {i}"));
        assert_eq!(
            own("schoolwatch_ingest_reports_total"),
            accepted[i] as f64,
            "instance {i}"
        );
        assert_eq!(
            own("schoolwatch_ingest_duplicate_reports_total"),
            duplicates[i] as f64,
            "instance {i}"
        );
    }

    // Revoked through A's CLI: B refuses the agent's next request at once
    // (no wait), and so does A; another agent of the school goes on.
    let revoked = &agents[0];
    let other_agent = &agents[SCHOOLS.len()];
    assert_eq!(revoked.school_id, other_agent.school_id);
    a.cli(&["agents", "revoke", &revoked.agent_id]);
    let next = |agent: &EnrollResponse| batch_body(vec![Report::new(agent.agent_id.clone(), 9, 1)]);
    let r = b.post(Some(&revoked.credential), &[], next(revoked));
    assert_eq!(r.status, 401, "B after revocation through A: {}", r.body);
    let r = a.post(Some(&revoked.credential), &[], next(revoked));
    assert_eq!(r.status, 401, "A after its own revocation: {}", r.body);
    let r = b.post(Some(&other_agent.credential), &[], next(other_agent));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(a.stored_sequences(&revoked.agent_id), want);
}
