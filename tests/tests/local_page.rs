//! The agent's local page in a real headless Chromium: a real agent
//! (`run`, a report every 2 s, probing the collector) with `[local_page]
//! listen` on loopback, reporting to a real collector.
//!
//! The page must show the machine's host name (as `hostname` prints it),
//! the last sample and queue exactly as its JSON has them at the same
//! report, and the collector reachable. Then the collector stops (the WAN
//! is down, as far as the school can tell): the page keeps working, says
//! the collector is unreachable with the error, and its queue count is the
//! real one: reports made (the page's last sequence) minus those the
//! collector's database holds. The collector comes back: the queue drains
//! and every report arrives. Screenshots go to
//! target/test-artifacts/local_page/.

use schoolwatch_tests::agent::agent_command;
use schoolwatch_tests::browser::{Browser, artifacts_dir};
use schoolwatch_tests::{ChildGuard, TestCollector, free_port, http_get, stdout_of};
use serde_json::Value;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

fn json(addr: SocketAddr) -> Value {
    serde_json::from_str(&http_get(addr, "/status.json")).expect("the page's JSON")
}

/// Waits until `ok` holds for the page's JSON; returns that JSON.
fn wait_json(
    addr: SocketAddr,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let j = json(addr);
        if ok(&j) {
            return j;
        }
        assert!(
            start.elapsed() < timeout,
            "{what}: not within {timeout:?}: {j}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Loads the page and the JSON until both show the same report, so their
/// figures can be compared exactly; returns the JSON.
fn same_report(b: &Browser, addr: SocketAddr) -> Value {
    for _ in 0..20 {
        let before = json(addr)["last_report"]["sequence"].clone();
        b.goto(&format!("http://{addr}/?lang=en"));
        let shown = b.attr("#last-report", "data-value");
        let j = json(addr);
        let after = j["last_report"]["sequence"].clone();
        if before == after && shown.as_deref() == after.as_u64().map(|s| s.to_string()).as_deref() {
            return j;
        }
    }
    panic!("the page and its JSON never showed the same report");
}

/// The page's figures equal the JSON's at the same report.
fn check_page(b: &Browser, j: &Value) {
    let attr = |css: &str| b.attr(css, "data-value").unwrap_or_else(|| panic!("{css}"));
    assert_eq!(
        attr("#queue-reports"),
        j["queue"]["queue_reports"].to_string()
    );
    assert_eq!(attr("#dropped"), "0");
    assert_eq!(
        attr("#memory-used"),
        j["sample"]["memory_used_bytes"].to_string()
    );
    assert_eq!(
        attr("#memory-total"),
        j["inventory"]["memory_total_bytes"].to_string()
    );
    // serde_json reads floats to within one unit in the last place.
    let cpu: f64 = attr("#cpu-usage").parse().unwrap();
    let json_cpu = j["sample"]["cpu_usage_ratio"].as_f64().unwrap();
    assert!((cpu - json_cpu).abs() < 1e-12, "{cpu} vs {json_cpu}");
    let reachable = match j["collector_link"]["reachable"].as_bool() {
        Some(r) => r.to_string(),
        None => String::new(),
    };
    assert_eq!(attr("#reachable"), reachable);
    // One row per sampled interface, loopback among them.
    let interfaces = j["sample"]["interfaces"].as_array().unwrap();
    assert_eq!(b.count("#interfaces tr[data-key]"), interfaces.len());
    assert_eq!(b.count("#interfaces tr[data-key=\"lo\"]"), 1);
}

#[test]
fn local_page_in_chromium_with_the_collector_up_and_down() {
    let shots = artifacts_dir("local_page");
    let mut c = TestCollector::start("");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let agent_id = c.enroll_agent("t-a", &state);
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[local_page]\nlisten = \"{addr}\"\n\
             [probe]\ncollector = true\ninterval_secs = 2\ncount = 2\nspacing_ms = 50\ntimeout_ms = 500\n"
        ),
    )
    .unwrap();
    let mut agent = ChildGuard::spawn(
        "schoolwatch-agent run",
        agent_command(None, Some(&config), &state).args([
            "--log-level",
            "warn",
            "run",
            "--interval",
            "2s",
        ]),
    );
    agent.wait_for_port(addr, Duration::from_secs(30));

    // Vietnamese unless asked otherwise.
    let html = http_get(addr, "/");
    assert!(
        html.contains("lang=\"vi\"") && html.contains("Hàng đợi báo cáo"),
        "{html}"
    );

    // Up: reports delivered, a probe round of the collector shown.
    wait_json(
        addr,
        "collector reachable with a probe round",
        Duration::from_secs(60),
        |j| j["collector_link"]["reachable"] == true && !j["probes"].as_array().unwrap().is_empty(),
    );
    let b = Browser::start();
    let j = same_report(&b, addr);
    check_page(&b, &j);
    assert_eq!(b.attr("#reachable", "data-value").as_deref(), Some("true"));
    let hostname = stdout_of(&mut Command::new("hostname")).trim().to_owned();
    assert_eq!(b.text("#hostname"), Some(hostname));
    assert!(
        b.text("#probes").unwrap().contains("127.0.0.1"),
        "the collector's probe round"
    );
    b.screenshot(&shots.join("01-collector-up.png"));

    // Down: the page still answers, with the error and the growing queue.
    assert!(c.stop().is_some_and(|s| s.success()));
    wait_json(
        addr,
        "collector unreachable, 3 reports waiting",
        Duration::from_secs(60),
        |j| {
            j["collector_link"]["reachable"] == false
                && j["queue"]["queue_reports"].as_u64() >= Some(3)
        },
    );
    let j = same_report(&b, addr);
    check_page(&b, &j);
    assert_eq!(b.attr("#reachable", "data-value").as_deref(), Some("false"));
    assert!(!b.text("#last-error").unwrap_or_default().is_empty());
    // The real queue: made minus what the collector holds (sequences
    // 1..=k, all acknowledged before it stopped).
    let made = j["last_report"]["sequence"].as_u64().unwrap();
    let stored = c.stored_sequences(&agent_id);
    assert_eq!(stored, (1..=stored.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        j["queue"]["queue_reports"].as_u64().unwrap(),
        made - stored.len() as u64,
        "queued = made ({made}) - stored ({})",
        stored.len()
    );
    b.goto(&format!("http://{addr}/?lang=vi"));
    assert_eq!(b.text("#reachable").as_deref(), Some("Không kết nối được"));
    b.screenshot(&shots.join("02-collector-down-vi.png"));

    // Back: the queue drains, every report arrives once.
    c.restart();
    let j = wait_json(addr, "queue drained", Duration::from_secs(120), |j| {
        j["collector_link"]["reachable"] == true && j["queue"]["queue_reports"] == 0
    });
    let made = j["last_report"]["sequence"].as_u64().unwrap();
    let stored = c.stored_sequences(&agent_id);
    assert!(
        stored.len() as u64 >= made && stored == (1..=stored.len() as u64).collect::<Vec<_>>(),
        "made {made}, stored {stored:?}"
    );
    b.goto(&format!("http://{addr}/?lang=en"));
    assert_eq!(b.attr("#reachable", "data-value").as_deref(), Some("true"));
    b.screenshot(&shots.join("03-collector-back.png"));
    drop(b);

    // The page stops with the agent, promptly and cleanly.
    let start = Instant::now();
    let status = agent.terminate();
    assert!(status.success(), "{status}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening"
    );
}
