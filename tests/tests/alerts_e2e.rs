//! Dashboards and alerts, end to end, against real processes on loopback.
//!
//! The story: a collector (online window 10 s) with the test registry
//! (t-a, t-b in Pleiku; t-c, t-d in Chư Păh). Four machines report every
//! second through the real HTTPS ingest: a server and a lab PC at t-a, a
//! server at t-b, a server at t-c; t-d has no agent. Every report carries
//! a security section: t-a's server passes every check in its first two
//! reports, then its firewall is off (a regression, and it misses the
//! baseline); t-b's server has security updates pending all along (misses
//! the baseline, no regression); t-c's server fails a check outside the
//! baseline (meets it); t-a's lab PC passes everything; every machine has
//! one check it cannot answer (unknown). A real Prometheus
//! scrapes the collector every second and evaluates the shipped recording
//! and alert rules (copies with every `for:` wait turned from minutes into
//! seconds) every second; it sends alerts to a real Alertmanager running a
//! copy of the shipped `alertmanager.yml` whose receivers all point at a
//! webhook inside this test, with grouping waits of 1 s and 2 s.
//!
//! 1. Prometheus loaded every shipped rule, each evaluates without error,
//!    and every alert has a severity, a summary and a description.
//! 2. Every PromQL expression of every dashboard panel, and every template
//!    variable query, with the variables set to real values of this fleet,
//!    parses and returns data; legends name labels the series have; tables
//!    that merge several queries get series without `__name__`. The
//!    security figures the dashboards read are the hand count above:
//!    compliance per school, district and province, failing machines per
//!    check, the unknown check counted nowhere, one regression.
//! 3. t-c stops reporting. SchoolOffline reaches the webhook for the
//!    Chư Păh office and the department, and for nobody else, within two
//!    minutes. AgentDown fires for t-c's server too, and Alertmanager holds
//!    it back (inhibited by SchoolOffline).
//! 4. t-c reports again: the resolved SchoolOffline arrives. No AgentDown
//!    ever reached a webhook, firing or resolved.
//! 5. FirewallDisabled for t-a's server reached the Pleiku office and the
//!    department, and nobody else; it is all the Pleiku office heard.

use schoolwatch_protocol::{
    Check, CheckStatus, Inventory, Report, Role, Sample, Security, Severity,
};
use schoolwatch_tests::alertmanager::{
    Alertmanager, Notification, Webhook, alertmanager_config_for_test, describe, shorten_for,
};
use schoolwatch_tests::collector::batch_body;
use schoolwatch_tests::prometheus::{Prometheus, PrometheusOptions, value};
use schoolwatch_tests::{TestCollector, agent, workspace_root};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The school that goes dark and its district's receiver.
const DARK_SCHOOL: &str = "t-c";
const DARK_OFFICE: &str = "district-chu-pah";
/// The machine whose firewall goes off, its school, and its district's
/// receiver, which must hear about that and nothing else.
const FIREWALL_OFF_HOST: &str = "a-srv";
const FIREWALL_OFF_SCHOOL: &str = "t-a";
const OTHER_OFFICE: &str = "district-pleiku";

/// The checks every machine reports: the baseline of config/targets.toml
/// and two outside it. `disk_encryption` comes as unknown from everyone.
const CHECKS: [&str; 8] = [
    "firewall_active",
    "endpoint_protection_running",
    "security_updates_pending",
    "automatic_updates_enabled",
    "empty_password_accounts",
    "extra_uid0_accounts",
    "ssh_root_login",
    "ssh_password_authentication",
];

/// One simulated machine posting through the real ingest path.
struct Machine {
    school: &'static str,
    hostname: &'static str,
    agent_id: String,
    credential: String,
    inventory: Inventory,
    sequence: Mutex<u64>,
    /// Checks that fail from the report with this sequence number on
    /// (they pass before it).
    failing: &'static [&'static str],
    failing_from: u64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// This machine's inventory made into a school machine of `role`, with
/// one disk 40 % free (so no disk alert fires).
fn inventory(base: &Inventory, hostname: &str, role: Role, gib: u64) -> Inventory {
    let mut inv = base.clone();
    inv.hostname = hostname.to_owned();
    inv.role = role;
    inv.memory_total_bytes = gib << 30;
    inv.disks.truncate(1);
    inv.disks[0].total_bytes = 250 << 30;
    inv.disks[0].available_bytes = 100 << 30;
    inv
}

impl Machine {
    /// The security section of report `seq`: every check of [`CHECKS`]
    /// passes except `failing` from `failing_from` on; disk encryption is
    /// unknown.
    fn security(&self, seq: u64) -> Security {
        let failing = if seq >= self.failing_from {
            self.failing
        } else {
            &[]
        };
        let mut checks: Vec<Check> = CHECKS
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
            .collect();
        checks.push(Check {
            id: "disk_encryption".into(),
            status: CheckStatus::Unknown,
            severity: Severity::Medium,
            evidence: String::new(),
            reason: Some("test: cannot tell".into()),
        });
        Security {
            checks,
            listening: Vec::new(),
        }
    }

    /// Posts the next report: the inventory on the first, then samples
    /// whose interface counters grow by 125,000 bytes received and 12,500
    /// sent per report; a security section in every report (a real agent
    /// sends one an hour; the collector keeps the newest).
    fn post(&self, c: &TestCollector, sample: &Sample) -> Result<(), String> {
        let mut seq = self.sequence.lock().unwrap();
        *seq += 1;
        let mut r = Report::new(self.agent_id.clone(), *seq, now_ms());
        if *seq == 1 {
            r.inventory = Some(self.inventory.clone());
        }
        r.security = Some(self.security(*seq));
        let mut s = sample.clone();
        for i in &mut s.interfaces {
            i.rx_bytes += *seq * 125_000;
            i.tx_bytes += *seq * 12_500;
            i.rx_bits_per_second = 1_000_000.0;
            i.tx_bits_per_second = 100_000.0;
        }
        r.sample = Some(s);
        let a = c.post(Some(&self.credential), &[], batch_body(vec![r]));
        if a.status == 200 {
            Ok(())
        } else {
            Err(format!(
                "{} report {}: {} {}",
                self.hostname, *seq, a.status, a.body
            ))
        }
    }
}

/// Sets `flag` when dropped, also while a failing test unwinds, so the
/// posting thread stops and the scope can end.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn dashboards_return_data_and_school_offline_alert_is_routed_and_inhibits() {
    let test_start = Instant::now();
    let collector = TestCollector::start("[fleet]\nonline_window_secs = 10\n");
    let base: Inventory = serde_json::from_str(&agent(&["inventory", "--json"])).unwrap();
    let sample: Sample = serde_json::from_str(
        agent(&["sample", "--interval", "200ms", "--count", "1", "--json"])
            .lines()
            .next()
            .expect("one sample"),
    )
    .unwrap();
    let machines: Vec<Machine> = [
        (
            "t-a",
            "a-srv",
            Role::Server,
            8,
            &["firewall_active"] as &[&str],
            3,
        ),
        ("t-a", "a-lab1", Role::Lab, 2, &[], 1),
        (
            "t-b",
            "b-srv",
            Role::Server,
            16,
            &["security_updates_pending"],
            1,
        ),
        (
            "t-c",
            "c-srv",
            Role::Server,
            8,
            &["ssh_password_authentication"],
            1,
        ),
    ]
    .into_iter()
    .map(|(school, hostname, role, gib, failing, failing_from)| {
        let (agent_id, credential) = collector.enroll_as(school, hostname, hostname);
        Machine {
            school,
            hostname,
            agent_id,
            credential,
            inventory: inventory(&base, hostname, role, gib),
            sequence: Mutex::new(0),
            failing,
            failing_from,
        }
    })
    .collect();
    assert_eq!(machines[0].hostname, FIREWALL_OFF_HOST);
    assert_eq!(machines[0].school, FIREWALL_OFF_SCHOOL);
    let wall_start = now_ms() as f64 / 1000.0;

    // The alerting path, with test copies of the shipped files.
    let root = workspace_root();
    let webhook = Webhook::start();
    let shipped_am = std::fs::read_to_string(root.join("config/alertmanager.yml")).unwrap();
    let am = Alertmanager::start(&alertmanager_config_for_test(
        &shipped_am,
        &webhook,
        "1s",
        "2s",
    ));
    let mut rules = Vec::new();
    let mut shipped_alerts = BTreeSet::new();
    let mut shipped_records = BTreeSet::new();
    for entry in std::fs::read_dir(root.join("config/rules")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml") {
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines().map(str::trim) {
                if let Some(n) = line.strip_prefix("- alert:") {
                    shipped_alerts.insert(n.trim().to_owned());
                }
                if let Some(n) = line.strip_prefix("- record:") {
                    shipped_records.insert(n.trim().to_owned());
                }
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            rules.push((name, shorten_for(&text)));
        }
    }
    assert!(shipped_alerts.len() >= 10, "{shipped_alerts:?}");
    let prom = Prometheus::start(PrometheusOptions {
        target: collector.addr,
        ca_file: &collector.ca_path(),
        rules: &rules,
        alertmanager: Some(am.addr),
    });

    let stop = AtomicBool::new(false);
    let dark = AtomicBool::new(false);
    let post_errors = Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        let _stop = SetOnDrop(&stop);
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                let tick = Instant::now();
                for m in &machines {
                    if m.school == DARK_SCHOOL && dark.load(Ordering::SeqCst) {
                        continue;
                    }
                    if let Err(e) = m.post(&collector, &sample) {
                        post_errors.lock().unwrap().push(e);
                    }
                }
                std::thread::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed()));
            }
        });
        let no_post_errors = || {
            let e = post_errors.lock().unwrap();
            assert!(e.is_empty(), "the collector refused reports: {e:?}");
        };

        // === the fleet is in Prometheus ===
        let online = prom.wait_for("schoolwatch_school_online == 1", 3, Duration::from_secs(60));
        let online: BTreeSet<&str> = online
            .iter()
            .map(|s| s["metric"]["school"].as_str().unwrap())
            .collect();
        assert_eq!(online, BTreeSet::from(["t-a", "t-b", "t-c"]));
        no_post_errors();
        eprintln!(
            "fleet online in Prometheus after {:?}",
            test_start.elapsed()
        );

        // === 1. every shipped rule loaded and healthy ===
        check_rules(&prom, &shipped_alerts, &shipped_records);

        // === 2. every dashboard query returns data ===
        let host = &machines[0];
        assert_eq!(host.hostname, "a-srv");
        let values = BTreeMap::from([
            ("district", "Pleiku".to_owned()),
            ("school", "t-a".to_owned()),
            ("host", host.agent_id.clone()),
            ("__rate_interval", "1m".to_owned()),
            ("__interval", "15s".to_owned()),
            ("__range", "1h".to_owned()),
        ]);
        check_dashboards(&prom, &values);
        eprintln!("dashboards checked after {:?}", test_start.elapsed());
        check_security_figures(&prom, &machines[0].agent_id, wall_start);

        // Nothing fires while every school reports, but the firewall.
        let early: Vec<Notification> = webhook
            .notifications()
            .into_iter()
            .filter(|n| !n.alerts().iter().all(is_firewall_off))
            .collect();
        assert!(
            early.is_empty(),
            "notifications before any outage: {}",
            describe(&early)
        );

        // === 3. t-c goes dark ===
        dark.store(true, Ordering::SeqCst);
        let dark_at = Instant::now();
        let is_offline = |status: &'static str| {
            move |n: &Notification| n.has("SchoolOffline", DARK_SCHOOL, status)
        };
        let office = webhook.wait_for(
            "SchoolOffline for t-c at the Chư Păh office",
            Duration::from_secs(120),
            |n| n.receiver() == DARK_OFFICE && is_offline("firing")(n),
        );
        let took = office.at.duration_since(dark_at);
        eprintln!("SchoolOffline reached {DARK_OFFICE} {took:?} after t-c went dark");
        assert!(took < Duration::from_secs(120), "{took:?}");
        let alert = office
            .alerts()
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "SchoolOffline")
            .unwrap();
        assert_eq!(alert["labels"]["district"], "Chư Păh");
        assert_eq!(alert["labels"]["severity"], "critical");
        assert_eq!(alert["labels"]["name"], "Trường THPT C, Chư Păh");
        assert!(
            alert["annotations"]["description"]
                .as_str()
                .unwrap()
                .contains("Trường THPT C, Chư Păh"),
            "{alert}"
        );
        webhook.wait_for(
            "SchoolOffline for t-c at the department",
            Duration::from_secs(30),
            |n| n.receiver() == "department" && is_offline("firing")(n),
        );

        // AgentDown fires in Prometheus for t-c's server ...
        prom.wait_for(
            "ALERTS{alertname=\"AgentDown\", school=\"t-c\", alertstate=\"firing\"}",
            1,
            Duration::from_secs(60),
        );
        // ... and Alertmanager holds it back, inhibited by SchoolOffline.
        let start = Instant::now();
        let (held, source) = loop {
            let alerts = am.alerts("active=true&silenced=false&inhibited=true");
            let find = |name: &str| {
                alerts
                    .iter()
                    .find(|a| {
                        a["labels"]["alertname"] == name && a["labels"]["school"] == DARK_SCHOOL
                    })
                    .cloned()
            };
            if let (Some(down), Some(offline)) = (find("AgentDown"), find("SchoolOffline")) {
                break (down, offline);
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "AgentDown for t-c never reached Alertmanager: {alerts:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        };
        assert_eq!(held["status"]["state"], "suppressed", "{held}");
        assert_eq!(
            held["status"]["inhibitedBy"],
            serde_json::json!([source["fingerprint"]]),
            "AgentDown is inhibited by SchoolOffline: {held}\n{source}"
        );
        assert_eq!(source["status"]["state"], "active", "{source}");
        // Two group intervals: a wrongly released AgentDown would go out now.
        std::thread::sleep(Duration::from_secs(5));
        eprintln!("AgentDown inhibited; t-c dark for {:?}", dark_at.elapsed());

        // === 4. t-c is back ===
        dark.store(false, Ordering::SeqCst);
        let back_at = Instant::now();
        let resolved = webhook.wait_for(
            "resolved SchoolOffline for t-c at the Chư Păh office",
            Duration::from_secs(60),
            |n| n.receiver() == DARK_OFFICE && is_offline("resolved")(n),
        );
        eprintln!(
            "resolved SchoolOffline reached {DARK_OFFICE} {:?} after t-c came back",
            resolved.at.duration_since(back_at)
        );
        webhook.wait_for(
            "resolved SchoolOffline for t-c at the department",
            Duration::from_secs(30),
            |n| n.receiver() == "department" && is_offline("resolved")(n),
        );
        no_post_errors();

        // === 5. the firewall that went off, at its district office ===
        // Its wait is 30 s in the test copy of the rules; the outage above
        // took longer, so this is normally there already.
        let firewall = |receiver: &'static str| {
            move |n: &Notification| {
                n.receiver() == receiver && n.alerts().iter().any(is_firewall_off)
            }
        };
        let office = webhook.wait_for(
            "FirewallDisabled for a-srv at the Pleiku office",
            Duration::from_secs(90),
            firewall(OTHER_OFFICE),
        );
        webhook.wait_for(
            "FirewallDisabled for a-srv at the department",
            Duration::from_secs(30),
            firewall("department"),
        );
        let alert = office.alerts().into_iter().find(is_firewall_off).unwrap();
        assert_eq!(alert["labels"]["district"], "Pleiku", "{alert}");
        assert_eq!(alert["labels"]["severity"], "warning", "{alert}");
        assert_eq!(alert["labels"]["role"], "server", "{alert}");
        assert_eq!(
            alert["labels"]["name"], "Trường Tiểu học A, Pleiku",
            "{alert}"
        );
        assert!(
            alert["annotations"]["summary"]
                .as_str()
                .is_some_and(|t| t.contains(FIREWALL_OFF_HOST)),
            "{alert}"
        );

        // Routing and inhibition over the whole run: SchoolOffline for the
        // dark school at its office and the department, FirewallDisabled
        // for the one machine at its office and the department, nothing
        // else (no AgentDown, which was inhibited; no alert about a check
        // that is not failing or not alerted on).
        let all = webhook.notifications();
        eprintln!("notifications:{}", describe(&all));
        for n in &all {
            assert_eq!(
                n.path,
                format!("/{}", n.receiver()),
                "each receiver has its own webhook"
            );
            for a in n.alerts() {
                let (school, office) = match a["labels"]["alertname"].as_str() {
                    Some("SchoolOffline") => (DARK_SCHOOL, DARK_OFFICE),
                    Some("FirewallDisabled") if is_firewall_off(&a) => {
                        (FIREWALL_OFF_SCHOOL, OTHER_OFFICE)
                    }
                    _ => panic!(
                        "an unexpected alert went out (an inhibited AgentDown?): {a}\n{}",
                        describe(std::slice::from_ref(n))
                    ),
                };
                assert_eq!(a["labels"]["school"], school, "{a}");
                assert!(
                    n.receiver() == "department" || n.receiver() == office,
                    "{} heard about something: {}",
                    n.receiver(),
                    describe(std::slice::from_ref(n))
                );
            }
        }
    });
    eprintln!("test took {:?}", test_start.elapsed());
}

/// Whether `alert` (as a webhook carries it) is FirewallDisabled for the
/// machine whose firewall the test switched off.
fn is_firewall_off(alert: &serde_json::Value) -> bool {
    alert["labels"]["alertname"] == "FirewallDisabled"
        && alert["labels"]["host"] == FIREWALL_OFF_HOST
        && alert["labels"]["school"] == FIREWALL_OFF_SCHOOL
}

/// The series of `expr` as (the value of `label`, value), sorted.
fn by_label(prom: &Prometheus, expr: &str, label: &str) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = prom
        .query(expr)
        .iter()
        .map(|s| {
            (
                s["metric"][label].as_str().unwrap_or("").to_owned(),
                value(s),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// A query, the label that tells its series apart, and the (label value,
/// value) pairs it must return.
type Figure<'a> = (&'a str, &'a str, &'a [(&'a str, f64)]);

/// The security figures the dashboards read, against the hand count of
/// the fleet (see the top of this file): they settle within 30 s of the
/// firewall going off, and stay.
fn check_security_figures(prom: &Prometheus, firewall_agent: &str, wall_start: f64) {
    let every_check: Vec<(&str, f64)> = CHECKS.iter().map(|c| (*c, 1.0)).collect();
    let expected: [Figure; 8] = [
        // Meeting the baseline: t-a 1 of 2 (the lab PC), t-b 0 of 1,
        // t-c 1 of 1 (a failing check outside the baseline does not count).
        (
            "school:schoolwatch_host_security_baseline_met:ratio",
            "school",
            &[("t-a", 0.5), ("t-b", 0.0), ("t-c", 1.0)],
        ),
        (
            "schoolwatch_district_machines_security_baseline_met / schoolwatch_district_machines_security_reporting",
            "district",
            &[("Chư Păh", 1.0), ("Pleiku", 1.0 / 3.0)],
        ),
        (
            "schoolwatch_province_machines_security_baseline_met / schoolwatch_province_machines_security_reporting",
            "district",
            &[("", 0.5)],
        ),
        // Failing machines per check, and machines with a result (the
        // unknown disk_encryption has none).
        (
            "check:schoolwatch_host_check_failed:sum > 0",
            "check",
            &[
                ("firewall_active", 1.0),
                ("security_updates_pending", 1.0),
                ("ssh_password_authentication", 1.0),
            ],
        ),
        (
            "district_check:schoolwatch_host_check_failed:sum{check=\"firewall_active\"}",
            "district",
            &[("Chư Păh", 0.0), ("Pleiku", 1.0)],
        ),
        (
            "count by (check) (check:schoolwatch_host_check_passed:count == 4)",
            "check",
            &every_check,
        ),
        (
            "count(schoolwatch_host_check_passed{check=\"disk_encryption\"}) or vector(0)",
            "check",
            &[("", 0.0)],
        ),
        // One regression: a-srv's firewall, not b-srv's updates (they never
        // passed).
        (
            "count by (host, check) (schoolwatch_host_check_regression_timestamp_seconds)",
            "check",
            &[("firewall_active", 1.0)],
        ),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    for (expr, label, want) in expected {
        let mut want = want.to_vec();
        want.sort_by(|a, b| a.0.cmp(b.0));
        loop {
            let got = by_label(prom, expr, label);
            let same = got.len() == want.len()
                && got
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| g.0 == w.0 && (g.1 - w.1).abs() < 1e-9);
            if same {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{expr}: got {got:?}, want {want:?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let at = prom.query(&format!(
        "schoolwatch_host_check_regression_timestamp_seconds{{agent_id=\"{firewall_agent}\", check=\"firewall_active\", host=\"{FIREWALL_OFF_HOST}\"}}"
    ));
    assert_eq!(at.len(), 1, "{at:?}");
    let at = value(&at[0]);
    let now = now_ms() as f64 / 1000.0;
    assert!(
        wall_start <= at && at <= now,
        "the regression at {at} is not between the test's start {wall_start} and now {now}"
    );
    eprintln!("security figures match the hand count");
}

/// Every shipped rule is loaded and has been evaluated without error;
/// every alert carries a known severity, a summary and a description.
fn check_rules(prom: &Prometheus, alerts: &BTreeSet<String>, records: &BTreeSet<String>) {
    let start = Instant::now();
    loop {
        let groups = prom.rule_groups();
        let rules: Vec<&serde_json::Value> = groups
            .iter()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        let names = |kind: &str| -> BTreeSet<String> {
            rules
                .iter()
                .filter(|r| r["type"] == kind)
                .map(|r| r["name"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(&names("alerting"), alerts, "alert rules loaded");
        assert_eq!(&names("recording"), records, "recording rules loaded");
        for r in &rules {
            assert_ne!(
                r["health"], "err",
                "rule {} fails: {}",
                r["name"], r["lastError"]
            );
            if r["type"] == "alerting" {
                let sev = r["labels"]["severity"].as_str().unwrap_or("");
                assert!(
                    ["critical", "warning", "info"].contains(&sev),
                    "{}: severity {sev:?}",
                    r["name"]
                );
                for k in ["summary", "description"] {
                    assert!(
                        r["annotations"][k].as_str().is_some_and(|t| t.len() > 10),
                        "{}: no {k}",
                        r["name"]
                    );
                }
            }
        }
        if rules.iter().all(|r| r["health"] == "ok") {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "rules not evaluated: {rules:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `text` with `$name` and `${name}` replaced by `values[name]`.
fn substitute(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = text.to_owned();
    // Longest names first, so `$__rate_interval` is not cut by a shorter one.
    let mut names: Vec<&&str> = values.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        out = out
            .replace(&format!("${{{name}}}"), &values[*name])
            .replace(&format!("${name}"), &values[*name]);
    }
    assert!(!out.contains('$'), "a variable left in {out}");
    out
}

/// Labels named by `{{label}}` in a legend format.
fn legend_labels(legend: &str) -> Vec<String> {
    legend
        .split("{{")
        .skip(1)
        .filter_map(|p| p.split_once("}}").map(|(l, _)| l.trim().to_owned()))
        .collect()
}

/// Polls `expr` until it returns data; fails at once on an error and after
/// `deadline` on no data.
fn data_for(
    prom: &Prometheus,
    what: &str,
    expr: &str,
    deadline: Instant,
) -> Vec<serde_json::Value> {
    loop {
        let r = prom
            .try_query(expr)
            .unwrap_or_else(|e| panic!("{what}: {expr}: {e}"));
        if !r.is_empty() {
            return r;
        }
        assert!(Instant::now() < deadline, "{what}: no data for {expr}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Every panel query and every template variable of every dashboard,
/// with `values` for the variables, returns data from `prom`.
fn check_dashboards(prom: &Prometheus, values: &BTreeMap<&str, String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let dir = workspace_root().join("dashboards");
    let mut checked = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    assert!(
        files.iter().any(|p| p.ends_with("security.json")),
        "{files:?}"
    );
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();

        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            let name = v["name"].as_str().unwrap();
            let query = substitute(v["query"].as_str().unwrap(), values);
            let what = format!("{file}: variable {name}");
            let (expr, value_label) = if let Some(inner) = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
            {
                let (sel, label) = inner
                    .rsplit_once(',')
                    .expect("label_values(selector, label)");
                (sel.trim().to_owned(), label.trim().to_owned())
            } else if let Some(inner) = query
                .strip_prefix("query_result(")
                .and_then(|q| q.strip_suffix(')'))
            {
                // The regex picks the value (and text) from the series as
                // Grafana prints it: labels sorted by name.
                let regex = v["regex"].as_str().unwrap();
                let captured: Vec<&str> = ["(?<value>", "(?<text>"]
                    .iter()
                    .filter_map(|g| {
                        let at = regex.find(g)?;
                        let before = regex[..at].strip_suffix("=\"")?;
                        Some(
                            before
                                .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                                .next()
                                .unwrap(),
                        )
                    })
                    .collect();
                assert_eq!(captured.len(), 2, "{what}: regex {regex}");
                let order: Vec<usize> = captured
                    .iter()
                    .map(|l| regex.find(&format!("{l}=\"")).unwrap())
                    .collect();
                let sorted_labels = {
                    let mut c = captured.clone();
                    c.sort();
                    c
                };
                let in_regex_order = {
                    let mut c: Vec<(usize, &str)> = order
                        .iter()
                        .copied()
                        .zip(captured.iter().copied())
                        .collect();
                    c.sort();
                    c.into_iter().map(|(_, l)| l).collect::<Vec<_>>()
                };
                assert_eq!(
                    in_regex_order, sorted_labels,
                    "{what}: the regex must name labels in Prometheus's (sorted) order"
                );
                (inner.to_owned(), captured[0].to_owned())
            } else {
                panic!("{what}: unknown variable query {query}");
            };
            let r = data_for(prom, &what, &expr, deadline);
            let got: BTreeSet<&str> = r
                .iter()
                .map(|s| {
                    s["metric"][&value_label]
                        .as_str()
                        .unwrap_or_else(|| panic!("{what}: no {value_label} in {s}"))
                })
                .collect();
            assert!(
                got.contains(values[name].as_str()),
                "{what}: {} is not among {got:?}",
                values[name]
            );
            checked += 1;
        }

        let panels = d["panels"].as_array().unwrap();
        for p in panels {
            let title = p["title"].as_str().unwrap();
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            for t in &targets {
                let expr = substitute(t["expr"].as_str().unwrap(), values);
                let what = format!("{file}: {title} ({})", t["refId"]);
                let r = data_for(prom, &what, &expr, deadline);
                for label in legend_labels(t["legendFormat"].as_str().unwrap_or("")) {
                    assert!(
                        r.iter().all(|s| s["metric"][&label].is_string()),
                        "{what}: the legend names {label}, which {expr} lacks: {r:?}"
                    );
                }
                if p["type"] == "table" && targets.len() > 1 {
                    assert!(
                        r.iter().all(|s| s["metric"]["__name__"].is_null()),
                        "{what}: merged tables need series without __name__: {expr}"
                    );
                }
                checked += 1;
            }
        }
    }
    eprintln!("{checked} dashboard queries returned data");
}
