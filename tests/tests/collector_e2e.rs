//! The real agent binary enrolls and reports to the real collector over
//! TLS; a real Prometheus scrapes the collector, and PromQL returns the
//! host's series with the right school and district labels and values
//! equal to the host's truth.

use schoolwatch_tests::prometheus::{Prometheus, PrometheusOptions, value};
use schoolwatch_tests::{TestCollector, stdout_of};
use std::process::Command;
use std::time::Duration;

fn proc_field(file: &str, key: &str) -> f64 {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn agent_to_collector_to_prometheus_over_tls() {
    let collector = TestCollector::start("");
    let state = collector.dir.path().join("agent");
    let agent_id = collector.enroll_agent("t-c", &state);
    collector.agent_once(&state);

    let prom = Prometheus::start(PrometheusOptions {
        target: collector.addr,
        ca_file: &collector.ca_path(),
        rules: &[],
        alertmanager: None,
    });
    let sel = format!("{{agent_id=\"{agent_id}\"}}");
    let mem = prom.wait_for(
        &format!("schoolwatch_host_memory_total_bytes{sel}"),
        1,
        Duration::from_secs(60),
    );
    assert_eq!(mem.len(), 1);
    let labels = &mem[0]["metric"];
    assert_eq!(labels["school"], "t-c");
    assert_eq!(labels["district"], "Chư Păh");
    let hostname = stdout_of(&mut Command::new("hostname"));
    assert_eq!(labels["host"], hostname.trim());
    assert_eq!(
        value(&mem[0]),
        proc_field("/proc/meminfo", "MemTotal:") * 1024.0
    );

    let boot = value(&prom.query(&format!("schoolwatch_host_boot_time_seconds{sel}"))[0]);
    assert!(
        (boot - proc_field("/proc/stat", "btime")).abs() <= 1.0,
        "{boot}"
    );

    let nproc: f64 = stdout_of(&mut Command::new("nproc"))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        value(&prom.query(&format!("schoolwatch_host_cpu_logical_cores{sel}"))[0]),
        nproc
    );
    // One report accepted, and it was sequence 1.
    assert_eq!(
        value(&prom.query(&format!("schoolwatch_host_reports_total{sel}"))[0]),
        1.0
    );
    assert_eq!(
        value(&prom.query(&format!("schoolwatch_host_last_sequence{sel}"))[0]),
        1.0
    );
    // The school is online and the registry's labels arrived intact.
    let online = prom.query("schoolwatch_school_online{school=\"t-c\"}");
    assert_eq!(value(&online[0]), 1.0);
    let info = prom.query("schoolwatch_school_info{school=\"t-c\"}");
    assert_eq!(info[0]["metric"]["name"], "Trường THPT C, Chư Păh");
    assert_eq!(info[0]["metric"]["link_kind"], "fibre");
    // Other schools are registered but offline.
    assert_eq!(
        value(&prom.query("schoolwatch_school_online{school=\"t-a\"}")[0]),
        0.0
    );
    assert_eq!(
        value(&prom.query("schoolwatch_province_schools_reporting")[0]),
        1.0
    );
    assert_eq!(
        value(&prom.query("schoolwatch_province_schools_registered")[0]),
        4.0
    );

    // A second report from the same agent: the counter moves on.
    collector.agent_once(&state);
    let start = std::time::Instant::now();
    while value(&prom.query(&format!("schoolwatch_host_reports_total{sel}"))[0]) < 2.0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "second report never scraped"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        value(&prom.query(&format!("schoolwatch_host_last_sequence{sel}"))[0]),
        2.0
    );
}

#[test]
fn collector_and_agent_stop_cleanly_on_sigterm() {
    let mut collector = TestCollector::start("");
    let state = collector.dir.path().join("agent");
    collector.enroll_agent("t-a", &state);
    let mut agent = schoolwatch_tests::ChildGuard::spawn(
        "schoolwatch-agent run",
        Command::new(schoolwatch_tests::bin("schoolwatch-agent"))
            .args(schoolwatch_tests::agent_args(&[]))
            .arg("--state")
            .arg(&state)
            .args(["run", "--interval", "200ms"]),
    );
    // Wait until it has reported, so the stop happens mid-run.
    let start = std::time::Instant::now();
    while schoolwatch_tests::metric(
        &collector.metrics(),
        "schoolwatch_ingest_reports_total",
        &[],
    )
    .unwrap_or(0.0)
        < 2.0
    {
        agent.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the agent never reported"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(agent.terminate().success());
    assert!(collector.stop().expect("it was running").success());
}
