//! Dashboards and alerts, end to end, against real processes on loopback.
//!
//! The story: a collector (online window 10 s) with the test registry
//! (t-a, t-b in Pleiku; t-c, t-d in Chư Păh). Four machines report every
//! second through the real HTTPS ingest: a server and a lab PC at t-a, a
//! server at t-b, a server at t-c; t-d has no agent. A real Prometheus
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
//!    that merge several queries get series without `__name__`.
//! 3. t-c stops reporting. SchoolOffline reaches the webhook for the
//!    Chư Păh office and the department, and for nobody else, within two
//!    minutes. AgentDown fires for t-c's server too, and Alertmanager holds
//!    it back (inhibited by SchoolOffline).
//! 4. t-c reports again: the resolved SchoolOffline arrives. No AgentDown
//!    ever reached a webhook, firing or resolved, and Pleiku's office heard
//!    nothing.

use schoolwatch_protocol::{Inventory, Report, Role, Sample};
use schoolwatch_tests::alertmanager::{
    Alertmanager, Notification, Webhook, alertmanager_config_for_test, describe, shorten_for,
};
use schoolwatch_tests::collector::batch_body;
use schoolwatch_tests::prometheus::{Prometheus, PrometheusOptions};
use schoolwatch_tests::{TestCollector, agent, workspace_root};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The school that goes dark, its district's receiver, and a receiver that
/// must hear nothing.
const DARK_SCHOOL: &str = "t-c";
const DARK_OFFICE: &str = "district-chu-pah";
const OTHER_OFFICE: &str = "district-pleiku";

/// One simulated machine posting through the real ingest path.
struct Machine {
    school: &'static str,
    hostname: &'static str,
    agent_id: String,
    credential: String,
    inventory: Inventory,
    sequence: Mutex<u64>,
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
    /// Posts the next report: the inventory on the first, then samples
    /// whose interface counters grow by 125,000 bytes received and 12,500
    /// sent per report.
    fn post(&self, c: &TestCollector, sample: &Sample) -> Result<(), String> {
        let mut seq = self.sequence.lock().unwrap();
        *seq += 1;
        let mut r = Report::new(self.agent_id.clone(), *seq, now_ms());
        if *seq == 1 {
            r.inventory = Some(self.inventory.clone());
        }
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
        ("t-a", "a-srv", Role::Server, 8),
        ("t-a", "a-lab1", Role::Lab, 2),
        ("t-b", "b-srv", Role::Server, 16),
        ("t-c", "c-srv", Role::Server, 8),
    ]
    .into_iter()
    .map(|(school, hostname, role, gib)| {
        let (agent_id, credential) = collector.enroll_as(school, hostname, hostname);
        Machine {
            school,
            hostname,
            agent_id,
            credential,
            inventory: inventory(&base, hostname, role, gib),
            sequence: Mutex::new(0),
        }
    })
    .collect();

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

        // Nothing fires while every school reports.
        assert!(
            webhook.notifications().is_empty(),
            "notifications before any outage: {}",
            describe(&webhook.notifications())
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

        // Routing and inhibition over the whole run.
        let all = webhook.notifications();
        eprintln!("notifications:{}", describe(&all));
        for n in &all {
            assert_eq!(
                n.path,
                format!("/{}", n.receiver()),
                "each receiver has its own webhook"
            );
            assert!(
                n.receiver() == "department" || n.receiver() == DARK_OFFICE,
                "{} heard about something: {}",
                n.receiver(),
                describe(std::slice::from_ref(n))
            );
            for a in n.alerts() {
                assert_eq!(a["labels"]["school"], DARK_SCHOOL, "{a}");
                assert_ne!(
                    a["labels"]["alertname"],
                    "AgentDown",
                    "an inhibited AgentDown went out: {}",
                    describe(std::slice::from_ref(n))
                );
            }
        }
        assert!(!all.iter().any(|n| n.receiver() == OTHER_OFFICE));
    });
    eprintln!("test took {:?}", test_start.elapsed());
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
    assert!(files.len() >= 5, "{files:?}");
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
