//! The throughput test over a link shaped to 25 Mbit/s with `tc tbf`
//! (a 4G school's contract) between namespaces the test creates: the
//! agent's download and upload agree with the shaping and with iperf3 on
//! the same path, and the school's figure reaches /metrics and coverage.

use schoolwatch_tests::agent::{agent_command, enroll};
use schoolwatch_tests::{ChildGuard, Netns, TestCollector, metric, require, run};
use std::time::Duration;

const MBIT: f64 = 1e6;

/// iperf3's received rate in bits/s, from `-J` output.
fn iperf3_rate(ns: &Netns, reverse: bool) -> f64 {
    let iperf3 = require("iperf3", "iperf3");
    let mut cmd = ns.command(iperf3.to_str().unwrap());
    cmd.args(["-c", "10.208.0.2", "-p", "5208", "-t", "4", "-J"]);
    if reverse {
        cmd.arg("-R");
    }
    let out = run(&mut cmd);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap()
}

#[test]
fn measured_rates_match_tbf_and_iperf3() {
    let school = Netns::new("tp-s");
    let server = Netns::new("tp-c");
    school.veth("swtpa", "10.208.0.1/30", &server, "swtpb", "10.208.0.2/30");
    for (ns, dev) in [(&school, "swtpa"), (&server, "swtpb")] {
        run(ns.command("tc").args([
            "qdisc", "add", "dev", dev, "root", "tbf", "rate", "25mbit", "burst", "32kb",
            "latency", "100ms",
        ]));
    }
    let c = TestCollector::start_in(Some(&server), "0.0.0.0", &["10.208.0.2"], "");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("agent");
    let url = format!("https://10.208.0.2:{}", c.addr.port());
    let (ok, _, err) = enroll(
        Some(&school),
        None,
        &url,
        &c.token("t-b"),
        &state,
        &c.ca_path(),
    );
    assert!(ok, "{err}");

    let out = run(agent_command(Some(&school), None, &state).args([
        "speedtest",
        "--json",
        "--download-bytes",
        "8000000",
        "--upload-bytes",
        "8000000",
    ]));
    let t: schoolwatch_protocol::Throughput = serde_json::from_slice(&out.stdout).unwrap();
    let (down, up) = (
        t.download_bytes_per_second * 8.0,
        t.upload_bytes_per_second * 8.0,
    );
    assert_eq!((t.download_bytes, t.upload_bytes), (8_000_000, 8_000_000));

    let iperf3 = require("iperf3", "iperf3");
    let _iperf_server = ChildGuard::spawn(
        "iperf3 server",
        server
            .command(iperf3.to_str().unwrap())
            .args(["-s", "-B", "10.208.0.2", "-p", "5208"]),
    );
    std::thread::sleep(Duration::from_millis(300));
    let iperf_down = iperf3_rate(&school, true);
    let iperf_up = iperf3_rate(&school, false);
    for (what, agent, iperf) in [("download", down, iperf_down), ("upload", up, iperf_up)] {
        assert!(
            (agent / (25.0 * MBIT) - 1.0).abs() <= 0.10,
            "{what}: agent {:.2} Mbit/s vs the 25 Mbit/s shaping",
            agent / MBIT
        );
        assert!(
            (agent / iperf - 1.0).abs() <= 0.10,
            "{what}: agent {:.2} vs iperf3 {:.2} Mbit/s",
            agent / MBIT,
            iperf / MBIT
        );
    }

    // The scheduled test in `run`: the school's newest figure reaches
    // /metrics and the coverage against the plan's 30 Mbit/s target.
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        "[throughput]\nenabled = true\nwindow_start_hour = 0\nwindow_end_hour = 24\nutc_offset_hours = 0\ndownload_bytes = 4000000\nupload_bytes = 1000000\n",
    )
    .unwrap();
    let mut agent = ChildGuard::spawn(
        "agent run",
        agent_command(Some(&school), Some(&config), &state).args(["run", "--interval", "500ms"]),
    );
    let start = std::time::Instant::now();
    let text = loop {
        agent.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no throughput figure reached the collector"
        );
        std::thread::sleep(Duration::from_millis(300));
        let out = school
            .command("curl")
            .args(["-s", "--cacert"])
            .arg(c.ca_path())
            .arg(format!("{url}/metrics"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if metric(
            &text,
            "schoolwatch_school_measured_download_bytes_per_second",
            &[("school", "t-b")],
        )
        .is_some()
        {
            break text;
        }
    };
    let down = metric(
        &text,
        "schoolwatch_school_measured_download_bytes_per_second",
        &[("school", "t-b")],
    )
    .unwrap()
        * 8.0;
    assert!(
        (down / (25.0 * MBIT) - 1.0).abs() <= 0.10,
        "scheduled download {:.2} Mbit/s",
        down / MBIT
    );
    let cov: serde_json::Value =
        serde_json::from_str(&c.cli(&["coverage", "--district", "Pleiku", "--format", "json"]))
            .unwrap();
    assert_eq!(cov["district"]["schools_bandwidth_measured"], 1);
    // 25 Mbit/s is under the plan's 30 Mbit/s.
    assert_eq!(cov["district"]["schools_bandwidth_on_target"], 0);
    let tb = cov["schools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "t-b")
        .unwrap();
    assert_eq!(tb["bandwidth_on_target"], false);
    assert!(agent.terminate().success());
}
