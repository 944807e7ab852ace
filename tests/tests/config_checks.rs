//! The shipped monitoring files pass their own tools and hold together:
//! `promtool check config`, `promtool check rules`, `promtool test rules`
//! (with a firing and a non-firing case for every alert), `amtool
//! check-config` and the routing of every district in the sample registry
//! to its own office, and the Grafana dashboards' structure (schema
//! version, unique panel ids, only the provisioned datasource, links that
//! lead to dashboards and variables that exist).
//!
//! That every dashboard query returns data against a real fleet is
//! checked in `alerts_e2e.rs`.

use schoolwatch_tests::{require, workspace_root};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a tool; fails the test with its whole output if it exits non-zero.
fn check(cmd: &mut Command) -> String {
    let out = cmd
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Files in `dir` (relative to the workspace) ending with `ext`, sorted.
fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(workspace_root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no *{ext} in {dir}");
    v
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn promtool_checks_the_prometheus_config() {
    let promtool = require("promtool", "prometheus");
    for file in ["config/prometheus.yml", "config/prometheus-large.yml"] {
        let out = check(Command::new(&promtool).args(["check", "config", file]));
        assert!(out.contains("SUCCESS"), "{file}: {out}");
    }
}

#[test]
fn promtool_checks_the_rules() {
    let promtool = require("promtool", "prometheus");
    let out = check(
        Command::new(promtool)
            .args(["check", "rules"])
            .args(files("config/rules", ".yml")),
    );
    assert!(!out.contains("FAILED"), "{out}");
}

#[test]
fn promtool_unit_tests_pass() {
    let promtool = require("promtool", "prometheus");
    let out = check(
        Command::new(promtool)
            .args(["test", "rules"])
            .args(files("config/rules/tests", ".yml")),
    );
    assert!(!out.contains("FAILED"), "{out}");
}

/// Alert names in the shipped rule files.
fn alert_names() -> BTreeSet<String> {
    files("config/rules", ".yml")
        .iter()
        .flat_map(|p| {
            read(p)
                .lines()
                .filter_map(|l| {
                    l.trim()
                        .strip_prefix("- alert:")
                        .map(|n| n.trim().to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every alert has, in the unit tests, at least one `alert_rule_test`
/// case where it fires (`exp_alerts:` with a list) and one where it must
/// not (`exp_alerts: []`).
#[test]
fn every_alert_has_a_firing_and_a_silent_unit_test() {
    let names = alert_names();
    assert!(names.len() >= 10, "{names:?}");
    let mut firing = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for p in files("config/rules/tests", ".yml") {
        let text = read(&p);
        let mut current = None::<String>;
        for line in text.lines().map(str::trim) {
            if let Some(n) = line.strip_prefix("alertname:") {
                current = Some(n.trim().to_owned());
            } else if line.starts_with("- eval_time:") {
                current = None;
            } else if let Some(rest) = line.strip_prefix("exp_alerts:") {
                let name = current
                    .clone()
                    .unwrap_or_else(|| panic!("{}: exp_alerts without an alertname", p.display()));
                if rest.trim() == "[]" {
                    silent.insert(name);
                } else {
                    firing.insert(name);
                }
            }
        }
    }
    let no_firing: Vec<_> = names.difference(&firing).collect();
    let no_silent: Vec<_> = names.difference(&silent).collect();
    assert!(
        no_firing.is_empty() && no_silent.is_empty(),
        "alerts without a firing case: {no_firing:?}; without a non-firing case: {no_silent:?}"
    );
}

#[test]
fn amtool_checks_the_alertmanager_config() {
    let amtool = require("amtool", "prometheus-alertmanager");
    let out = check(Command::new(amtool).args(["check-config", "config/alertmanager.yml"]));
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Where Alertmanager would send an alert with these labels.
fn receivers(labels: &[String]) -> Vec<String> {
    let amtool = require("amtool", "prometheus-alertmanager");
    let out = Command::new(amtool)
        .current_dir(workspace_root())
        .args([
            "config",
            "routes",
            "test",
            "--config.file=config/alertmanager.yml",
        ])
        .args(labels)
        .output()
        .expect("run amtool");
    assert!(
        out.status.success(),
        "amtool config routes test {labels:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// Each district of the sample registry reaches the department and its
/// own office, and no office is shared: 17 districts, 17 receivers. An
/// alert with no district (the collector's own) reaches the department
/// only.
#[test]
fn every_district_routes_to_its_own_office_and_the_department() {
    let csv = read(&workspace_root().join("config/schools.csv"));
    let schools = schoolwatch_collector::registry::parse_csv(&csv).expect("sample registry");
    let districts: BTreeSet<String> = schools.into_iter().map(|s| s.district).collect();
    assert_eq!(districts.len(), 17, "{districts:?}");
    let mut office_of = BTreeMap::new();
    for d in &districts {
        let got = receivers(&[
            format!("district={d}"),
            "school=x-1".into(),
            "alertname=SchoolOffline".into(),
            "severity=critical".into(),
        ]);
        assert_eq!(got.len(), 2, "{d}: {got:?}");
        assert_eq!(got[0], "department", "{d}: {got:?}");
        assert!(got[1].starts_with("district-"), "{d}: {got:?}");
        office_of.insert(d.clone(), got[1].clone());
    }
    let offices: BTreeSet<&String> = office_of.values().collect();
    assert_eq!(
        offices.len(),
        districts.len(),
        "shared offices: {office_of:?}"
    );
    assert_eq!(
        receivers(&["alertname=CollectorDown".into(), "severity=critical".into()]),
        ["department"]
    );
    assert_eq!(
        receivers(&["alertname=SchoolOffline".into(), "district=Nowhere".into()]),
        ["department"]
    );
}

// === dashboards ===

/// The datasource uids that dashboards/provisioning/datasources/*.yml
/// provision.
fn provisioned_uids() -> BTreeSet<String> {
    files("dashboards/provisioning/datasources", ".yml")
        .iter()
        .flat_map(|p| {
            read(p)
                .lines()
                .filter_map(|l| l.trim().strip_prefix("uid:").map(|u| u.trim().to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every panel, rows' nested panels included.
fn panels(dash: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().into_iter().flatten() {
        out.push(p);
        for q in p["panels"].as_array().into_iter().flatten() {
            out.push(q);
        }
    }
    out
}

/// Every `datasource` object anywhere in `v`.
fn datasources<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if k == "datasource" {
                    out.push(x);
                }
                datasources(x, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| datasources(x, out)),
        _ => {}
    }
}

/// Every string in `v` (for links).
fn strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn dashboards() -> Vec<(String, serde_json::Value)> {
    files("dashboards", ".json")
        .iter()
        .map(|p| {
            let v: serde_json::Value = serde_json::from_str(&read(p))
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect()
}

fn variables(dash: &serde_json::Value) -> BTreeSet<String> {
    dash["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Valid JSON of a current Grafana schema, unique panel ids, a title,
/// type and grid position on every panel, queries on every non-row panel,
/// and no datasource other than the provisioned one.
#[test]
fn dashboards_are_current_grafana_json_on_the_provisioned_datasource() {
    let uids = provisioned_uids();
    assert_eq!(uids.len(), 1, "{uids:?}");
    let mut dashboard_uids = BTreeSet::new();
    let wanted = [
        "schoolwatch-province",
        "schoolwatch-district",
        "schoolwatch-school",
        "schoolwatch-host",
        "schoolwatch-equipment",
        "schoolwatch-security",
    ];
    for (file, d) in dashboards() {
        let schema = d["schemaVersion"].as_u64().unwrap_or(0);
        assert!(schema >= 39, "{file}: schemaVersion {schema}");
        let uid = d["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: no uid"));
        assert!(
            dashboard_uids.insert(uid.to_owned()),
            "{file}: uid {uid} twice"
        );
        assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()), "{file}");
        assert_eq!(
            d["id"],
            serde_json::Value::Null,
            "{file}: provisioned dashboards carry no id"
        );

        let mut ids = BTreeSet::new();
        for p in panels(&d) {
            let id = p["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{file}: a panel without id: {p}"));
            assert!(ids.insert(id), "{file}: panel id {id} twice");
            let title = p["title"].as_str().unwrap_or("");
            assert!(!title.is_empty(), "{file}: panel {id} has no title");
            assert!(p["type"].is_string(), "{file}: {title}: no type");
            for k in ["h", "w", "x", "y"] {
                assert!(p["gridPos"][k].is_u64(), "{file}: {title}: gridPos.{k}");
            }
            if p["type"] != "row" {
                let targets = p["targets"].as_array().map_or(0, Vec::len);
                assert!(targets > 0, "{file}: {title}: no query");
                for t in p["targets"].as_array().unwrap() {
                    assert!(
                        t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                        "{file}: {title}: a target without expr"
                    );
                }
            }
        }

        let mut ds = Vec::new();
        datasources(&d, &mut ds);
        assert!(!ds.is_empty(), "{file}: no datasource at all");
        for x in ds {
            // Grafana's own annotation source is built in, not provisioned.
            if x["type"] == "grafana" {
                continue;
            }
            assert_eq!(x["type"], "prometheus", "{file}: {x}");
            let uid = x["uid"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: datasource without uid: {x}"));
            assert!(
                uids.contains(uid),
                "{file}: datasource {uid} is not provisioned ({uids:?})"
            );
        }
    }
    for w in wanted {
        assert!(
            dashboard_uids.contains(w),
            "no dashboard {w}: {dashboard_uids:?}"
        );
    }
}

/// Every `/d/<uid>` link leads to a dashboard here and sets only variables
/// that dashboard has; every `$variable` a query uses is defined; the
/// drill-down chain province → district → school → host exists, and so do
/// the links to and from the security dashboard.
#[test]
fn dashboard_links_and_variables_hold_together() {
    let all = dashboards();
    let vars_of: BTreeMap<String, BTreeSet<String>> = all
        .iter()
        .map(|(_, d)| (d["uid"].as_str().unwrap().to_owned(), variables(d)))
        .collect();
    let mut edges = BTreeSet::new();
    for (file, d) in &all {
        let from = d["uid"].as_str().unwrap();
        let own = &vars_of[from];
        let mut texts = Vec::new();
        strings(d, &mut texts);
        for s in texts {
            let Some(rest) = s.split_once("/d/").map(|(_, r)| r) else {
                continue;
            };
            let to: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let Some(target_vars) = vars_of.get(&to) else {
                panic!("{file}: link to unknown dashboard {to}: {s}");
            };
            for part in s.split(['?', '&']).filter_map(|p| p.strip_prefix("var-")) {
                let name = part.split('=').next().unwrap();
                assert!(
                    target_vars.contains(name),
                    "{file}: link sets var-{name} that {to} lacks: {s}"
                );
            }
            edges.insert((from.to_owned(), to));
        }
        // Variables used by queries and variable queries are defined.
        let mut queries: Vec<String> = panels(d)
            .iter()
            .flat_map(|p| p["targets"].as_array().into_iter().flatten())
            .map(|t| t["expr"].as_str().unwrap().to_owned())
            .collect();
        queries.extend(
            d["templating"]["list"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| v["query"].as_str().unwrap().to_owned()),
        );
        for q in queries {
            for (i, _) in q.match_indices('$') {
                let name: String = q[i + 1..]
                    .trim_start_matches('{')
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name.starts_with("__") {
                    continue; // Grafana's own: $__rate_interval, ...
                }
                assert!(
                    own.contains(&name),
                    "{file}: ${name} is not a variable: {q}"
                );
            }
        }
    }
    for (a, b) in [
        ("schoolwatch-province", "schoolwatch-district"),
        ("schoolwatch-district", "schoolwatch-school"),
        ("schoolwatch-school", "schoolwatch-host"),
        // Security compliance is reached from every level and leads back
        // down to the district, the school and the machine.
        ("schoolwatch-province", "schoolwatch-security"),
        ("schoolwatch-district", "schoolwatch-security"),
        ("schoolwatch-school", "schoolwatch-security"),
        ("schoolwatch-host", "schoolwatch-security"),
        ("schoolwatch-security", "schoolwatch-district"),
        ("schoolwatch-security", "schoolwatch-school"),
        ("schoolwatch-security", "schoolwatch-host"),
    ] {
        assert!(
            edges.contains(&(a.to_owned(), b.to_owned())),
            "no link from {a} to {b}: {edges:?}"
        );
    }
}

/// What a query shows, as far as its unit goes: a point in time in
/// milliseconds (a `_timestamp_seconds` metric times 1000, Grafana's unit
/// for dates) or a share from 0 to 1 (a division, or a `ratio` metric or
/// recording rule). What follows ` and ` only picks series, so
/// `count and on (school) bottomk(50, x_ratio)` is a count.
fn shown_kind(expr: &str) -> Option<&'static str> {
    let shown = expr.split(" and ").next().unwrap_or(expr);
    if shown.contains("_timestamp_seconds") && shown.contains("* 1000") {
        Some("time")
    } else if shown.contains(" / ") || shown.contains("_ratio") || shown.contains(":ratio") {
        Some("share")
    } else {
        None
    }
}

/// Whether `unit` (a Grafana unit id) shows values of `kind`.
fn unit_fits(kind: &str, unit: &str) -> bool {
    match kind {
        "time" => unit.starts_with("dateTime"),
        "share" => unit == "percentunit",
        _ => true,
    }
}

/// Shares are shown as percentages of 1 (`percentunit`, and 0 to 1 on
/// bar gauges and graphs), points in time as dates, both on whole panels
/// and on table columns (the column a query's value becomes after the
/// table's `organize` renaming).
#[test]
fn dashboard_units_fit_what_the_queries_show() {
    let mut checked = 0;
    for (file, d) in dashboards() {
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or("");
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            if p["type"] == "table" {
                let organize = p["transformations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|t| t["id"] == "organize")
                    .map(|t| t["options"].clone())
                    .unwrap_or_default();
                for t in &targets {
                    let Some(kind) = shown_kind(t["expr"].as_str().unwrap()) else {
                        continue;
                    };
                    let field = if targets.len() == 1 {
                        "Value".to_owned()
                    } else {
                        format!("Value #{}", t["refId"].as_str().unwrap())
                    };
                    if organize["excludeByName"][&field] == true {
                        continue;
                    }
                    let column = organize["renameByName"][&field]
                        .as_str()
                        .unwrap_or(&field)
                        .to_owned();
                    let unit = p["fieldConfig"]["overrides"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|o| o["matcher"]["options"] == column.as_str())
                        .flat_map(|o| o["properties"].as_array().cloned().unwrap_or_default())
                        .find(|prop| prop["id"] == "unit")
                        .and_then(|prop| prop["value"].as_str().map(str::to_owned))
                        .unwrap_or_default();
                    assert!(
                        unit_fits(kind, &unit),
                        "{file}: {title}: column {column} shows a {kind} with unit {unit:?}"
                    );
                    checked += 1;
                }
            } else {
                let defaults = &p["fieldConfig"]["defaults"];
                let unit = defaults["unit"].as_str().unwrap_or("");
                for t in &targets {
                    let Some(kind) = shown_kind(t["expr"].as_str().unwrap()) else {
                        continue;
                    };
                    assert!(
                        unit_fits(kind, unit),
                        "{file}: {title}: shows a {kind} with unit {unit:?}"
                    );
                    if kind == "share" && (p["type"] == "bargauge" || p["type"] == "timeseries") {
                        assert!(
                            defaults["min"] == 0 && defaults["max"] == 1,
                            "{file}: {title}: a share from 0 to 1 on a {} needs min 0 and max 1",
                            p["type"]
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 30, "only {checked} shares and dates found");
}
