//! Side by side with node_exporter: boot time, memory total and every
//! interface's byte counters agree with what the agent reports.

use schoolwatch_protocol::{Inventory, Sample};
use schoolwatch_tests::{ChildGuard, agent, free_port, http_get, metric, require};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

#[test]
fn agent_agrees_with_node_exporter() {
    let exporter = require("prometheus-node-exporter", "prometheus-node-exporter");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut ne = ChildGuard::spawn(
        "node_exporter",
        Command::new(exporter).args([
            &format!("--web.listen-address={addr}"),
            "--collector.disable-defaults",
            "--collector.meminfo",
            "--collector.stat",
            "--collector.netdev",
            // Debian's build leaves out `lo` by default; compare every device.
            "--collector.netdev.device-exclude=^$",
        ]),
    );
    ne.wait_for_port(addr, Duration::from_secs(20));

    let before = http_get(addr, "/metrics");
    let sample: Sample = serde_json::from_str(
        agent(&["sample", "--interval", "200ms", "--count", "1", "--json"]).trim(),
    )
    .unwrap();
    let after = http_get(addr, "/metrics");
    let inv: Inventory = serde_json::from_str(&agent(&["inventory", "--json"])).unwrap();

    let boot = metric(&before, "node_boot_time_seconds", &[]).expect("node_boot_time_seconds");
    assert!(
        (inv.boot_time_seconds as f64 - boot).abs() <= 1.0,
        "agent {}, node_exporter {boot}",
        inv.boot_time_seconds
    );
    let mem = metric(&before, "node_memory_MemTotal_bytes", &[]).expect("MemTotal");
    assert_eq!(inv.memory_total_bytes as f64, mem);

    assert!(!sample.interfaces.is_empty());
    for i in &sample.interfaces {
        for (series, ours) in [
            ("node_network_receive_bytes_total", i.rx_bytes),
            ("node_network_transmit_bytes_total", i.tx_bytes),
            ("node_network_receive_packets_total", i.rx_packets),
            ("node_network_transmit_packets_total", i.tx_packets),
            ("node_network_receive_drop_total", i.rx_dropped),
        ] {
            let labels = [("device", i.name.as_str())];
            let lo = metric(&before, series, &labels)
                .unwrap_or_else(|| panic!("{series} for {}", i.name));
            let hi = metric(&after, series, &labels).unwrap();
            // Counters only grow: the agent read between the two scrapes.
            assert!(
                lo <= ours as f64 && ours as f64 <= hi,
                "{series}{{device={}}}: node_exporter {lo}..{hi}, agent {ours}",
                i.name
            );
        }
    }
}
