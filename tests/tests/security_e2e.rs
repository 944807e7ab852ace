//! Security status at the collector: per-host check results, the share of
//! machines meeting the baseline per school, district and province, and a
//! regression (a check that passed and now fails) as an event with its
//! time, on /metrics and in the coverage output.

use schoolwatch_protocol::{Check, CheckStatus, Report, Security, Severity};
use schoolwatch_tests::collector::batch_body;
use schoolwatch_tests::{TestCollector, metric};

/// The default baseline's checks, all passing except `failing`.
fn security(failing: &[&str]) -> Security {
    let ids = [
        "firewall_active",
        "endpoint_protection_running",
        "security_updates_pending",
        "automatic_updates_enabled",
        "empty_password_accounts",
        "extra_uid0_accounts",
        "ssh_root_login",
    ];
    Security {
        checks: ids
            .iter()
            .map(|id| Check {
                id: (*id).to_owned(),
                status: if failing.contains(id) {
                    CheckStatus::Fail
                } else {
                    CheckStatus::Pass
                },
                severity: Severity::High,
                evidence: "test".into(),
                reason: None,
            })
            .collect(),
        listening: Vec::new(),
    }
}

fn send(c: &TestCollector, cred: &str, seq: u64, at_ms: u64, sec: Security) {
    let mut r = Report::new(String::new(), seq, at_ms);
    // Like a real agent's reports, which carry the inventory when it
    // changed (coverage counts machines with an inventory).
    r.inventory =
        Some(serde_json::from_str(&schoolwatch_tests::agent(&["inventory", "--json"])).unwrap());
    r.security = Some(sec);
    let a = c.post(Some(cred), &[], batch_body(vec![r]));
    assert_eq!(a.status, 200, "{}", a.body);
}

#[test]
fn regression_is_an_event_and_compliance_follows() {
    let c = TestCollector::start("");
    let (h1, c1) = c.enroll_as("t-a", "pc-1", "pc-1");
    let (h2, c2) = c.enroll_as("t-a", "pc-2", "pc-2");
    let (h3, c3) = c.enroll_as("t-c", "pc-3", "pc-3");
    send(&c, &c1, 1, 1_700_000_000_000, security(&[]));
    send(
        &c,
        &c2,
        1,
        1_700_000_000_000,
        security(&["endpoint_protection_running"]),
    );
    // A check outside the baseline failing does not matter for it.
    send(&c, &c3, 1, 1_700_000_000_000, security(&["ssh_root_login"]));

    let text = c.metrics();
    let m = |name: &str, labels: &[(&str, &str)]| metric(&text, name, labels);
    assert_eq!(
        m(
            "schoolwatch_host_check_passed",
            &[("agent_id", &h1), ("check", "firewall_active")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m(
            "schoolwatch_host_check_passed",
            &[("agent_id", &h2), ("check", "endpoint_protection_running")]
        ),
        Some(0.0)
    );
    assert_eq!(
        m(
            "schoolwatch_host_security_baseline_met",
            &[("agent_id", &h1)]
        ),
        Some(1.0)
    );
    assert_eq!(
        m(
            "schoolwatch_host_security_baseline_met",
            &[("agent_id", &h2)]
        ),
        Some(0.0)
    );
    assert_eq!(
        m(
            "schoolwatch_host_security_baseline_met",
            &[("agent_id", &h3)]
        ),
        Some(1.0)
    );
    // By hand: Pleiku 2 reporting, 1 met; province 3 reporting, 2 met.
    assert_eq!(
        m(
            "schoolwatch_district_machines_security_baseline_met",
            &[("district", "Pleiku")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m(
            "schoolwatch_district_machines_security_reporting",
            &[("district", "Pleiku")]
        ),
        Some(2.0)
    );
    assert_eq!(
        m("schoolwatch_province_machines_security_baseline_met", &[]),
        Some(2.0)
    );
    assert_eq!(
        m(
            "schoolwatch_security_regressions_total",
            &[("school", "t-a")]
        ),
        None
    );

    // pc-1's firewall goes off: a regression at the report's sampling time.
    let at = 1_700_000_600_000;
    send(&c, &c1, 2, at, security(&["firewall_active"]));
    let text = c.metrics();
    let m = |name: &str, labels: &[(&str, &str)]| metric(&text, name, labels);
    assert_eq!(
        m(
            "schoolwatch_security_regressions_total",
            &[("school", "t-a"), ("check", "firewall_active")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m(
            "schoolwatch_host_check_regression_timestamp_seconds",
            &[("agent_id", &h1), ("check", "firewall_active")]
        ),
        None,
        "older than 7 days: counted, but not a recent event"
    );
    assert_eq!(
        m(
            "schoolwatch_district_machines_security_baseline_met",
            &[("district", "Pleiku")]
        ),
        Some(0.0)
    );
    assert_eq!(
        m("schoolwatch_province_machines_security_baseline_met", &[]),
        Some(1.0)
    );

    // A recent regression shows as an event with its time, in /metrics and
    // in the coverage output.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    send(&c, &c3, 2, now - 60_000, security(&["ssh_root_login"]));
    send(
        &c,
        &c3,
        3,
        now,
        security(&["ssh_root_login", "extra_uid0_accounts"]),
    );
    let text = c.metrics();
    assert_eq!(
        metric(
            &text,
            "schoolwatch_host_check_regression_timestamp_seconds",
            &[("agent_id", &h3), ("check", "extra_uid0_accounts")]
        ),
        Some(now as f64 / 1000.0)
    );
    let cov: serde_json::Value =
        serde_json::from_str(&c.cli(&["coverage", "--format", "json"])).unwrap();
    let events = cov["regressions"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["agent_id"], h3.as_str());
    assert_eq!(events[0]["check_id"], "extra_uid0_accounts");
    assert_eq!(events[0]["at_ms"], now);
    assert_eq!(cov["province"]["machines_security_baseline_met"], 0);

    // A late (back-filled) older report does not overwrite newer results
    // nor invent events.
    send(&c, &c3, 1_000, now + 1, security(&[]));
    send(&c, &c3, 500, now - 1, security(&["firewall_active"]));
    let text = c.metrics();
    assert_eq!(
        metric(
            &text,
            "schoolwatch_host_check_passed",
            &[("agent_id", &h3), ("check", "firewall_active")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "schoolwatch_security_regressions_total",
            &[("school", "t-c"), ("check", "firewall_active")]
        ),
        None
    );
}
