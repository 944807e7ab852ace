//! Bandwidth truth: while a known volume crosses a veth pair between two
//! namespaces made by the test, the agent's bits per second times its
//! interval equals the kernel counters' difference, within ±10 %.

use schoolwatch_protocol::Sample;
use schoolwatch_tests::{ChildGuard, Netns, agent_args, bin, require};
use std::io::{BufRead, BufReader};
use std::time::Duration;

const VOLUME: &str = "200M";

#[test]
fn sample_rate_matches_kernel_counters_over_a_veth_pair() {
    let iperf3 = require("iperf3", "iperf3");
    let school = Netns::new("bw-a");
    let upstream = Netns::new("bw-b");
    school.veth(
        "swbwa",
        "10.203.0.1/30",
        &upstream,
        "swbwb",
        "10.203.0.2/30",
    );

    let _server = ChildGuard::spawn(
        "iperf3 server",
        upstream
            .command(iperf3.to_str().unwrap())
            .args(["-s", "-B", "10.203.0.2", "-p", "5201"]),
    );
    std::thread::sleep(Duration::from_millis(500));

    // Two windows of 5 s: the push happens entirely inside the second.
    let mut sampler = ChildGuard::spawn_piped(
        "agent sample",
        school
            .command(bin("schoolwatch-agent").to_str().unwrap())
            .args(agent_args(&[
                "sample",
                "--interval",
                "5s",
                "--count",
                "2",
                "--json",
            ])),
    );
    let mut lines = BufReader::new(sampler.take_stdout()).lines();
    let first = lines.next().expect("first sample").unwrap();
    let _: Sample = serde_json::from_str(&first).unwrap();

    let tx = |ns: &Netns| -> u64 {
        ns.read("/sys/class/net/swbwa/statistics/tx_bytes")
            .trim()
            .parse()
            .unwrap()
    };
    let before = tx(&school);
    let push = std::time::Instant::now();
    schoolwatch_tests::run(school.command(iperf3.to_str().unwrap()).args([
        "-c",
        "10.203.0.2",
        "-p",
        "5201",
        "-n",
        VOLUME,
        "-B",
        "10.203.0.1",
    ]));
    let pushed_in = push.elapsed();
    let after = tx(&school);

    let second: Sample =
        serde_json::from_str(&lines.next().expect("second sample").unwrap()).unwrap();
    assert!(sampler.wait().success());
    assert!(
        pushed_in < Duration::from_secs(4),
        "the push took {pushed_in:?}, longer than the window; the machine is too loaded for this measurement"
    );

    let kernel = (after - before) as f64;
    assert!(kernel >= 200e6, "iperf3 pushed only {kernel} bytes");
    let iface = second
        .interfaces
        .iter()
        .find(|i| i.name == "swbwa")
        .expect("the veth end is sampled");
    let agent_bytes = iface.tx_bits_per_second * second.interval_ms as f64 / 1000.0 / 8.0;
    let ratio = agent_bytes / kernel;
    assert!(
        (0.9..=1.1).contains(&ratio),
        "agent saw {agent_bytes:.0} bytes over its window ({} bit/s × {} ms), kernel counted {kernel:.0}: ratio {ratio:.3}",
        iface.tx_bits_per_second,
        second.interval_ms
    );
    // The agent's cumulative counter was read after the push ended.
    assert!(iface.tx_bytes >= after, "{} < {after}", iface.tx_bytes);
    // And the interval is what was asked for.
    assert!(
        (4500..=5500).contains(&second.interval_ms),
        "{}",
        second.interval_ms
    );
}
