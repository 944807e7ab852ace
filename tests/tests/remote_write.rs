//! remote_write end to end: a real collector sends to a real
//! VictoriaMetrics and a real Prometheus (remote-write receiver with an
//! out-of-order window). Agents that were offline for three days drain
//! their reports; both TSDBs then hold every sample at its original
//! millisecond, once. A TSDB that is down for a while loses nothing and
//! does not hold ingest up; the queue stays within its bound.

use schoolwatch_protocol::Report;
use schoolwatch_tests::collector::batch_body;
use schoolwatch_tests::tsdb::{PrometheusReceiver, RawSeries, VictoriaMetrics};
use schoolwatch_tests::{TestCollector, free_port, metric};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A report with a sample, a probe round and the agent's health; values
/// vary with `seq`, so a sample sent twice with another value would show.
fn report(agent: &str, seq: u64, at_ms: i64) -> Report {
    let mut r = Report::new(agent.to_owned(), seq, at_ms as u64);
    r.sample = Some(
        serde_json::from_value(serde_json::json!({
            "interval_ms": 60_000, "cpu_usage_ratio": (seq % 100) as f64 / 100.0,
            "memory_used_bytes": 1_000_000 + seq, "memory_available_bytes": 5_000_000,
            "swap_used_bytes": 0, "load": [0.5, 0.25, 0.125],
            "interfaces": [{"name": "eth0", "rx_bytes": seq * 1_000, "tx_bytes": seq * 500,
                "rx_packets": seq, "tx_packets": seq, "rx_errors": 0, "tx_errors": 0,
                "rx_dropped": 0, "tx_dropped": 0,
                "rx_bits_per_second": 8_000.0 + seq as f64, "tx_bits_per_second": 4_000.0}]
        }))
        .unwrap(),
    );
    r.probes = serde_json::from_value(serde_json::json!([
        {"target": "gateway", "kind": "gateway", "sent": 10, "received": 10, "loss_ratio": 0.0,
         "rtt_min_seconds": 0.001, "rtt_median_seconds": 0.002, "rtt_avg_seconds": 0.002,
         "rtt_max_seconds": 0.003, "jitter_seconds": 0.0005}
    ]))
    .unwrap();
    r.health = Some(
        serde_json::from_value(serde_json::json!({
            "queue_reports": seq, "queue_bytes": 1_000, "queue_oldest_age_seconds": 60,
            "dropped_queue_full": 0, "dropped_disk_full": 0, "dropped_corrupt": 0,
            "dropped_rejected": 0, "send_failures": 0
        }))
        .unwrap(),
    );
    r
}

/// Series one such report makes (up, last_sequence, 8 health, 9 sample,
/// 5 probe).
const SERIES_PER_REPORT: usize = 24;

/// POSTs `reports` in batches of 50; every batch must be acknowledged.
/// Returns the slowest acknowledgement.
fn post_all(c: &TestCollector, credential: &str, reports: &[Report]) -> Duration {
    let mut slowest = Duration::ZERO;
    for chunk in reports.chunks(50) {
        let start = Instant::now();
        let a = c.post(Some(credential), &[], batch_body(chunk.to_vec()));
        slowest = slowest.max(start.elapsed());
        assert_eq!(a.status, 200, "{}", a.body);
    }
    slowest
}

fn rw(c: &TestCollector, name: &str, endpoint: &str, labels: &[(&str, &str)]) -> f64 {
    let mut l = vec![("endpoint", endpoint)];
    l.extend_from_slice(labels);
    metric(&c.metrics(), name, &l)
        .unwrap_or_else(|| panic!("{name}{{endpoint={endpoint}}} not on /metrics"))
}

fn pending(c: &TestCollector, endpoint: &str) -> f64 {
    rw(c, "schoolwatch_remote_write_pending_samples", endpoint, &[])
}

/// Waits until `endpoint` has nothing pending.
fn wait_drained(c: &TestCollector, endpoint: &str, timeout: Duration) {
    let start = Instant::now();
    while pending(c, endpoint) > 0.0 {
        assert!(
            start.elapsed() < timeout,
            "{endpoint}: still {} samples pending after {timeout:?}; /metrics:\n{}",
            pending(c, endpoint),
            c.metrics()
                .lines()
                .filter(|l| l.contains("remote_write"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Polls `read` until it holds at least `n` samples in all, then returns
/// it (a TSDB makes received samples searchable within a second or so).
fn wait_samples(what: &str, n: usize, read: impl Fn() -> Vec<RawSeries>) -> Vec<RawSeries> {
    let start = Instant::now();
    loop {
        let r = read();
        let got: usize = r.iter().map(|s| s.samples.len()).sum();
        if got >= n {
            return r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: {got} samples after 60 s, wanted {n}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Every series holds exactly the expected timestamps, once each.
fn assert_exact(what: &str, series: &[RawSeries], want: &BTreeSet<i64>) {
    for s in series {
        let got: Vec<i64> = s.samples.iter().map(|(t, _)| *t).collect();
        let set: BTreeSet<i64> = got.iter().copied().collect();
        assert_eq!(got.len(), set.len(), "{what}: duplicates in {:?}", s.labels);
        assert_eq!(&set, want, "{what}: timestamps of {:?}", s.labels);
    }
}

#[test]
fn offline_days_are_back_filled_at_their_original_timestamps_once() {
    let vm = VictoriaMetrics::start();
    let prom = PrometheusReceiver::start("7d");
    let c = TestCollector::start(&format!(
        "[[remote_write]]\nname = \"vm\"\nurl = \"{}\"\nbatch_wait_ms = 200\nmax_backoff_secs = 1\n\
         [[remote_write]]\nname = \"prometheus\"\nurl = \"{}\"\nbatch_wait_ms = 200\nmax_backoff_secs = 1\n",
        vm.write_url(),
        prom.write_url()
    ));
    // Three agents offline for three days, one report every 20 minutes,
    // all sent once the link is back.
    let now = now_ms();
    let gap_start = now - 3 * DAY;
    let times: Vec<i64> = (0..216)
        .map(|i| gap_start + i * 20 * MINUTE + 123)
        .collect();
    let want: BTreeSet<i64> = times.iter().copied().collect();
    let mut agents = Vec::new();
    for (i, school) in ["t-a", "t-b", "t-c"].into_iter().enumerate() {
        let (id, cred) = c.enroll_as(school, &format!("fp-offline-{i}"), &format!("pc-{i}"));
        let reports: Vec<Report> = times
            .iter()
            .enumerate()
            .map(|(seq, t)| report(&id, seq as u64 + 1, *t))
            .collect();
        post_all(&c, &cred, &reports);
        agents.push((id, cred, reports));
    }
    let samples = 3 * times.len() * SERIES_PER_REPORT;
    for ep in ["vm", "prometheus"] {
        wait_drained(&c, ep, Duration::from_secs(120));
        assert_eq!(
            rw(&c, "schoolwatch_remote_write_samples_sent_total", ep, &[]),
            samples as f64,
            "{ep}: every sample sent"
        );
        assert_eq!(
            rw(
                &c,
                "schoolwatch_remote_write_samples_enqueued_total",
                ep,
                &[]
            ),
            samples as f64
        );
        for reason in ["queue_full", "rejected", "corrupt", "write_error"] {
            assert_eq!(
                rw(
                    &c,
                    "schoolwatch_remote_write_samples_dropped_total",
                    ep,
                    &[("reason", reason)]
                ),
                0.0,
                "{ep} dropped {reason}"
            );
        }
    }

    let at = now + MINUTE;
    let range_secs = 4 * 86_400;
    for (id, _, reports) in &agents {
        let selector = format!("{{__name__=~\"schoolwatch_.+\",agent_id=\"{id}\"}}");
        let n = times.len() * SERIES_PER_REPORT;
        let from_vm = wait_samples("VictoriaMetrics", n, || vm.raw(&selector, range_secs, at));
        let from_prom = wait_samples("Prometheus", n, || prom.raw(&selector, range_secs, at));
        for (what, series) in [("VictoriaMetrics", &from_vm), ("Prometheus", &from_prom)] {
            assert_eq!(series.len(), SERIES_PER_REPORT, "{what}: {series:?}");
            assert_exact(what, series, &want);
            // Values too: the CPU series is the reports' own figures.
            let cpu = series
                .iter()
                .find(|s| s.labels["__name__"] == "schoolwatch_host_cpu_usage_ratio")
                .unwrap();
            let by_time: BTreeMap<i64, f64> = reports
                .iter()
                .map(|r| {
                    (
                        r.sampled_at_ms as i64,
                        r.sample.as_ref().unwrap().cpu_usage_ratio,
                    )
                })
                .collect();
            for (t, v) in &cpu.samples {
                assert_eq!(by_time[t], *v, "{what}: cpu at {t}");
            }
            assert_eq!(cpu.labels["school"], reports_school(&c, id));
        }
        // A range query over a day inside the gap: a point every hour on
        // both (evaluated a minute after a report, within the 5-minute
        // lookback).
        let up = format!("schoolwatch_host_up{{agent_id=\"{id}\"}}");
        let (from, to) = (gap_start + DAY + MINUTE, gap_start + 2 * DAY + MINUTE);
        for (what, r) in [
            ("VictoriaMetrics", vm.range(&up, from, to, 3600)),
            ("Prometheus", prom.range(&up, from, to, 3600)),
        ] {
            assert_eq!(r.len(), 1, "{what}: {r:?}");
            assert_eq!(
                r[0].1, 25,
                "{what}: one point per hour over the day inside the gap"
            );
        }
    }

    // The agents send everything again (lost acknowledgements): the
    // collector takes nothing new, so nothing more is queued or sent.
    for (_, cred, reports) in &agents {
        post_all(&c, cred, reports);
    }
    for ep in ["vm", "prometheus"] {
        assert_eq!(
            rw(
                &c,
                "schoolwatch_remote_write_samples_enqueued_total",
                ep,
                &[]
            ),
            samples as f64,
            "{ep}: replays queue nothing"
        );
        assert_eq!(pending(&c, ep), 0.0);
    }
    let (id, _, _) = &agents[0];
    let selector = format!("{{__name__=~\"schoolwatch_.+\",agent_id=\"{id}\"}}");
    assert_exact(
        "VictoriaMetrics after replay",
        &vm.raw(&selector, range_secs, at),
        &want,
    );
    assert_exact(
        "Prometheus after replay",
        &prom.raw(&selector, range_secs, at),
        &want,
    );
}

/// The school the registry gives an agent id, as /metrics labels it.
fn reports_school(c: &TestCollector, agent: &str) -> String {
    let text = c.metrics();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("schoolwatch_host_up{") && l.contains(&format!("agent_id=\"{agent}\""))
        })
        .expect("the host is on /metrics");
    let start = line.find("school=\"").unwrap() + 8;
    line[start..start + line[start..].find('"').unwrap()].to_owned()
}

fn queue_files_bytes(c: &TestCollector, endpoint: &str) -> u64 {
    std::fs::read_dir(c.dir.path().join("data/remote_write").join(endpoint))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn a_tsdb_down_for_a_while_loses_nothing_and_the_queue_stays_bounded() {
    let mut vm = VictoriaMetrics::start();
    let closed = format!("http://127.0.0.1:{}/api/v1/write", free_port());
    let mut c = TestCollector::start(&format!(
        "[[remote_write]]\nname = \"vm\"\nurl = \"{vm}\"\nbatch_wait_ms = 100\nmax_backoff_secs = 1\n\
         [[remote_write]]\nname = \"tiny\"\nurl = \"{closed}\"\nmax_queue_bytes = 65536\nmax_backoff_secs = 1\n\
         [[remote_write]]\nname = \"wrong\"\nurl = \"http://{addr}/no/such/path\"\nbatch_wait_ms = 100\nmax_backoff_secs = 1\n",
        vm = vm.write_url(),
        addr = vm.addr,
    ));
    let (id, cred) = c.enroll_as("t-a", "fp-down", "pc-down");
    let start = now_ms() - 10 * MINUTE;
    let mut seq = 0u64;
    let mut made = |n: usize| -> Vec<Report> {
        (0..n)
            .map(|_| {
                seq += 1;
                report(&id, seq, start + seq as i64 * 1_000)
            })
            .collect()
    };
    let mut sent: Vec<Report> = Vec::new();

    // Working: a few reports go through.
    let first = made(5);
    post_all(&c, &cred, &first);
    sent.extend(first);
    wait_drained(&c, "vm", Duration::from_secs(30));

    // The TSDB goes away; ingest goes on and every batch is acknowledged.
    vm.stop();
    let batch = made(100);
    let slowest_down = post_all(&c, &cred, &batch);
    sent.extend(batch);
    let pending1 = pending(&c, "vm");
    let lag1 = rw(&c, "schoolwatch_remote_write_lag_seconds", "vm", &[]);
    assert!(pending1 >= (100 * SERIES_PER_REPORT) as f64, "{pending1}");
    std::thread::sleep(Duration::from_millis(1_500));
    let batch = made(300);
    let slowest_down = slowest_down.max(post_all(&c, &cred, &batch));
    sent.extend(batch);
    let pending2 = pending(&c, "vm");
    let lag2 = rw(&c, "schoolwatch_remote_write_lag_seconds", "vm", &[]);
    assert!(pending2 > pending1, "pending {pending1} -> {pending2}");
    assert!(lag2 > lag1 && lag2 >= 1.5, "lag {lag1} -> {lag2}");
    assert!(
        rw(
            &c,
            "schoolwatch_remote_write_samples_failed_total",
            "vm",
            &[("reason", "network")]
        ) > 0.0
    );
    eprintln!("slowest acknowledgement while the TSDB was down: {slowest_down:?}");

    // The tiny queue kept to its bound by dropping its oldest samples.
    let tiny_dropped = rw(
        &c,
        "schoolwatch_remote_write_samples_dropped_total",
        "tiny",
        &[("reason", "queue_full")],
    );
    assert!(tiny_dropped > 0.0);
    assert!(rw(&c, "schoolwatch_remote_write_queue_bytes", "tiny", &[]) <= 65_536.0);
    assert!(queue_files_bytes(&c, "tiny") <= 65_536);
    assert_eq!(
        rw(
            &c,
            "schoolwatch_remote_write_samples_enqueued_total",
            "tiny",
            &[]
        ),
        tiny_dropped + pending(&c, "tiny"),
        "tiny: enqueued = dropped + pending"
    );

    // The collector restarts meanwhile (SIGTERM): the queue survives.
    let before = pending(&c, "vm");
    let status = c.stop().unwrap();
    assert!(status.success(), "collector exit: {status}");
    c.restart();
    // Counters start again at zero; what waited is on disk.
    let wrong_waiting = pending(&c, "wrong");
    assert!(wrong_waiting > 0.0);
    assert_eq!(
        pending(&c, "vm"),
        before,
        "pending samples survive a restart"
    );

    // The TSDB comes back on the same port: everything arrives, once.
    vm.restart();
    wait_drained(&c, "vm", Duration::from_secs(120));
    let want: BTreeSet<i64> = sent.iter().map(|r| r.sampled_at_ms as i64).collect();
    let selector = format!("{{__name__=~\"schoolwatch_.+\",agent_id=\"{id}\"}}");
    let at = now_ms() + MINUTE;
    let got = wait_samples("VictoriaMetrics", want.len() * SERIES_PER_REPORT, || {
        vm.raw(&selector, 3_600, at)
    });
    assert_eq!(got.len(), SERIES_PER_REPORT);
    assert_exact("VictoriaMetrics after the outage", &got, &want);
    assert_eq!(
        rw(&c, "schoolwatch_remote_write_lag_seconds", "vm", &[]),
        0.0
    );
    assert!(
        rw(
            &c,
            "schoolwatch_remote_write_last_success_timestamp_seconds",
            "vm",
            &[]
        ) > 0.0
    );

    // An endpoint that answers 4xx for good does not wedge its queue:
    // every batch is dropped as rejected and counted.
    wait_drained(&c, "wrong", Duration::from_secs(60));
    assert_eq!(
        rw(
            &c,
            "schoolwatch_remote_write_samples_dropped_total",
            "wrong",
            &[("reason", "rejected")]
        ),
        wrong_waiting
            + rw(
                &c,
                "schoolwatch_remote_write_samples_enqueued_total",
                "wrong",
                &[]
            ),
    );
    assert_eq!(
        rw(
            &c,
            "schoolwatch_remote_write_samples_sent_total",
            "wrong",
            &[]
        ),
        0.0
    );
}
