//! Host identity: lab PCs cloned from one disk image (same hostname, same
//! /etc/machine-id) stay distinct hosts, and the same machine enrolled again
//! keeps its host.
//!
//! Two "machines" are two network namespaces with their own network cards
//! (veth pairs, distinct MACs) but this one machine's hostname and
//! machine-id, which is exactly what a cloned disk image gives. The
//! collector runs in a third namespace, so nothing leaves the test's own
//! hosts.

use schoolwatch_tests::{Netns, TestCollector, agent, stdout_of};
use std::path::Path;

/// Enrolls the agent running inside `ns` at `url` into t-a, with state in
/// `state`; returns its stdout.
fn enroll_in(ns: &Netns, c: &TestCollector, url: &str, state: &Path) -> String {
    let (ok, out, err) = agent::enroll(Some(ns), None, url, &c.token("t-a"), state, &c.ca_path());
    assert!(ok, "enroll in {} failed: {err}", ns.name());
    out
}

#[test]
fn clones_are_distinct_and_reenrollment_keeps_the_host() {
    let server = Netns::new("id-c");
    let pc1 = Netns::new("id-1");
    let pc2 = Netns::new("id-2");
    server.veth("swidc1", "10.211.1.1/30", &pc1, "swida1", "10.211.1.2/30");
    server.veth("swidc2", "10.211.2.1/30", &pc2, "swida2", "10.211.2.2/30");
    let c = TestCollector::start_in(Some(&server), "0.0.0.0", &["10.211.1.1", "10.211.2.1"], "");
    let port = c.addr.port();

    let dir = tempfile::tempdir().unwrap();
    let s1 = dir.path().join("pc1");
    let s2 = dir.path().join("pc2");
    enroll_in(&pc1, &c, &format!("https://10.211.1.1:{port}"), &s1);
    enroll_in(&pc2, &c, &format!("https://10.211.2.1:{port}"), &s2);
    assert_ne!(
        TestCollector::agent_id(&s1),
        TestCollector::agent_id(&s2),
        "clones must be distinct hosts"
    );

    // pc1 reports twice (sequences 1 and 2).
    let once = |state: &Path| {
        let out = agent::agent_command(Some(&pc1), None, state)
            .args(["run", "--once", "--interval", "1s"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    once(&s1);
    once(&s1);

    // Same machine, agent reinstalled with a fresh state directory.
    let again = dir.path().join("pc1-again");
    let out = enroll_in(&pc1, &c, &format!("https://10.211.1.1:{port}"), &again);
    assert!(out.contains("keeps its host"), "{out}");
    assert_eq!(
        TestCollector::agent_id(&again),
        TestCollector::agent_id(&s1)
    );

    // Its next report goes on after the two the collector holds: stored,
    // not taken for a duplicate of sequence 1.
    once(&again);
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&c.cli(&["agents", "list", "--json"])).unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let pc1_row = list
        .iter()
        .find(|a| a["agent_id"] == TestCollector::agent_id(&s1).as_str())
        .unwrap();
    assert_eq!(pc1_row["reports_total"], 3, "{pc1_row}");
    let hostname = stdout_of(&mut std::process::Command::new("hostname"));
    for a in &list {
        assert_eq!(
            a["hostname"],
            hostname.trim(),
            "both clones carry the same hostname label"
        );
    }
}
