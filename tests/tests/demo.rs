//! README's main command: `schoolwatch-collector demo --simulate N` starts
//! a collector over HTTPS, enrolls this machine's agent and N virtual
//! agents, and all of them report; SIGTERM stops it cleanly.

use schoolwatch_tests::{ChildGuard, bin, free_port, metric};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn demo_runs_this_machine_and_simulated_schools() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut demo = ChildGuard::spawn(
        "schoolwatch-collector demo",
        Command::new(bin("schoolwatch-collector"))
            .arg("--data")
            .arg(dir.path())
            .args([
                "demo",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--simulate",
                "3",
                "--interval",
                "500ms",
            ]),
    );
    let ca = dir.path().join("ca.pem");
    let start = Instant::now();
    let online = loop {
        demo.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the demo never had 4 schools online"
        );
        std::thread::sleep(Duration::from_millis(300));
        let Ok(pem) = std::fs::read_to_string(&ca) else {
            continue;
        };
        let client = schoolwatch_tests::collector::https_client(&pem);
        let text = schoolwatch_tests::rt().block_on(async {
            let r = client
                .get(format!("https://127.0.0.1:{port}/metrics"))
                .send()
                .await
                .ok()?;
            r.text().await.ok()
        });
        let Some(text) = text else { continue };
        let online = metric(&text, "schoolwatch_province_schools_online", &[]).unwrap_or(0.0);
        if online >= 4.0 {
            break text;
        }
    };
    // The whole sample registry, and this machine among the hosts.
    assert_eq!(
        metric(&online, "schoolwatch_province_schools_registered", &[]),
        Some(519.0)
    );
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(
        online.contains(&format!("host=\"{}\"", hostname.trim())),
        "this machine's agent is missing"
    );
    // Each virtual school's server reports a switch and a printer, the
    // first school also a UPS on battery: 7 devices on record.
    assert_eq!(
        metric(&online, "schoolwatch_province_devices_known", &[]),
        Some(7.0)
    );
    assert_eq!(
        online
            .lines()
            .filter(|l| l.starts_with("schoolwatch_school_ups_on_battery{"))
            .filter(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) == Some(1.0))
            .count(),
        1
    );
    // The data directory works with the other commands while it runs.
    let out = Command::new(bin("schoolwatch-collector"))
        .arg("--data")
        .arg(dir.path())
        .args(["agents", "list", "--json"])
        .output()
        .unwrap();
    let agents: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(agents.len(), 4);
    assert!(demo.terminate().success());
}
