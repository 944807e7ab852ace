//! A school's link is cut (veth down between the school's namespace and
//! the collector's): the school goes offline in /metrics within the online
//! window, its reports wait in the agent's queue, and when the link returns
//! the school is online again and nothing is missing.

use schoolwatch_tests::agent::agent_command;
use schoolwatch_tests::{ChildGuard, Netns, TestCollector, metric, run};
use std::time::{Duration, Instant};

fn metrics_from(ns: &Netns, c: &TestCollector, url: &str) -> String {
    let out = run(ns
        .command("curl")
        .args(["-sf", "--cacert"])
        .arg(c.ca_path())
        .arg(format!("{url}/metrics")));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_online(ns: &Netns, c: &TestCollector, url: &str, want: f64, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let text = metrics_from(ns, c, url);
        if metric(&text, "schoolwatch_school_online", &[("school", "t-c")]) == Some(want) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "school_online never became {want} within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn cut_link_goes_offline_within_the_window_and_comes_back() {
    let school = Netns::new("lc-s");
    let server = Netns::new("lc-c");
    school.veth("swlca", "10.209.0.1/30", &server, "swlcb", "10.209.0.2/30");
    // An observer on the collector's side, to read /metrics while the
    // school's link is down.
    let observer = Netns::new("lc-o");
    server.veth(
        "swlcc",
        "10.209.1.1/30",
        &observer,
        "swlcd",
        "10.209.1.2/30",
    );
    let c = TestCollector::start_in(
        Some(&server),
        "0.0.0.0",
        &["10.209.0.2", "10.209.1.1"],
        "[fleet]\nonline_window_secs = 10\n",
    );
    let port = c.addr.port();
    let url = format!("https://10.209.0.2:{port}");
    let observe = format!("https://10.209.1.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("agent");
    let (ok, _, err) = schoolwatch_tests::agent::enroll(
        Some(&school),
        None,
        &url,
        &c.token("t-c"),
        &state,
        &c.ca_path(),
    );
    assert!(ok, "{err}");
    let mut agent = ChildGuard::spawn(
        "agent run",
        agent_command(Some(&school), None, &state).args(["run", "--interval", "1s"]),
    );
    wait_online(&observer, &c, &observe, 1.0, Duration::from_secs(30));

    school.ip(&["link", "set", "swlca", "down"]);
    let offline_after = wait_online(&observer, &c, &observe, 0.0, Duration::from_secs(30));
    // The window is 10 s (plus a report interval and the scrape); never
    // sooner than the window allows.
    assert!(
        offline_after <= Duration::from_secs(15),
        "offline only after {offline_after:?}"
    );
    agent.assert_running();
    std::thread::sleep(Duration::from_secs(3));

    school.ip(&["link", "set", "swlca", "up"]);
    // Back within the backoff (at most a few seconds this early) plus a report.
    wait_online(&observer, &c, &observe, 1.0, Duration::from_secs(60));
    // The reports made while cut arrived: no sequence is missing.
    let start = Instant::now();
    loop {
        let text = metrics_from(&observer, &c, &observe);
        let total = metric(
            &text,
            "schoolwatch_host_reports_total",
            &[("school", "t-c")],
        )
        .unwrap_or(0.0);
        let last = metric(
            &text,
            "schoolwatch_host_last_sequence",
            &[("school", "t-c")],
        )
        .unwrap_or(-1.0);
        let queued = metric(
            &text,
            "schoolwatch_host_queue_reports",
            &[("school", "t-c")],
        )
        .unwrap_or(1.0);
        if total == last && queued == 0.0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "backlog not drained: {total} of {last}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(agent.terminate().success());
}
