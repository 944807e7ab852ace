//! Host identity: lab PCs cloned from one disk image (same hostname, same
//! /etc/machine-id) stay distinct hosts, and the same machine enrolled again
//! keeps its host.
//!
//! Two "machines" are two network namespaces with their own network cards
//! (veth pairs, distinct MACs) but this one machine's hostname and
//! machine-id, which is exactly what a cloned disk image gives. The
//! collector runs in a third namespace, so nothing leaves the test's own
//! hosts.

use schoolwatch_tests::{Netns, TestCollector, agent_args, bin, stdout_of};
use std::path::Path;

fn enroll_in(ns: &Netns, c: &TestCollector, url: &str, state: &Path) -> String {
    stdout_of(
        ns.command(bin("schoolwatch-agent").to_str().unwrap())
            .args(agent_args(&[]))
            .arg("--state")
            .arg(state)
            .args([
                "enroll",
                "--collector",
                url,
                "--token",
                &c.token("t-a"),
                "--ca",
            ])
            .arg(c.ca_path()),
    )
}

fn agent_id(state: &Path) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("credential.json")).unwrap()).unwrap();
    v["agent_id"].as_str().unwrap().to_owned()
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
        agent_id(&s1),
        agent_id(&s2),
        "clones must be distinct hosts"
    );

    // Same machine, agent reinstalled with a fresh state directory.
    let again = dir.path().join("pc1-again");
    let out = enroll_in(&pc1, &c, &format!("https://10.211.1.1:{port}"), &again);
    assert!(out.contains("keeps its host"), "{out}");
    assert_eq!(agent_id(&again), agent_id(&s1));

    let list: Vec<serde_json::Value> =
        serde_json::from_str(&c.cli(&["agents", "list", "--json"])).unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let hostname = stdout_of(&mut std::process::Command::new("hostname"));
    for a in &list {
        assert_eq!(
            a["hostname"],
            hostname.trim(),
            "both clones carry the same hostname label"
        );
    }
}
