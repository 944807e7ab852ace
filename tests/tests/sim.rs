//! The fleet simulator against a real collector: 20 schools of the shipped
//! registry (15 spread over its districts, 5 on 4G) with 5 machines each
//! enroll through the real endpoint with tokens from `token create
//! --all-schools`, and report 12 hours of fleet time compressed 1800 times
//! (24 s). Some PCs are old, some fail posture checks, some schools lose
//! their link (for at least 8 fleet hours, 16 s of wall time, longer than
//! the collector's 10 s online window).
//!
//! Then `coverage --format json`, school by school, must equal the
//! simulator's ground truth: machines reporting, meeting the minimum
//! configuration, lab PCs, posture checks and baseline, bandwidth against
//! target, agents, and online exactly for the schools whose link is up.

use schoolwatch_collector::registry::{self, LinkKind};
use schoolwatch_tests::{TestCollector, bin, workspace_root};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

/// The collector's online window in this test, seconds.
const ONLINE_WINDOW_SECS: f64 = 10.0;

#[test]
fn simulated_fleet_matches_coverage() {
    let c = TestCollector::start(&format!(
        "[fleet]\nonline_window_secs = {ONLINE_WINDOW_SECS}\n\
         [ingest]\nrequests_per_minute = 6000\n"
    ));
    let shipped = workspace_root().join("config/schools.csv");
    c.cli(&["schools", "import", shipped.to_str().unwrap()]);
    let tokens = c.dir.path().join("tokens.csv");
    c.cli(&[
        "token",
        "create",
        "--all-schools",
        "--out",
        tokens.to_str().unwrap(),
    ]);

    // 15 schools spread over the registry, and the first 5 on 4G.
    let schools = registry::parse_csv(&std::fs::read_to_string(&shipped).unwrap()).unwrap();
    let fixed: Vec<&registry::School> = schools
        .iter()
        .filter(|s| s.link_kind != LinkKind::FourG)
        .collect();
    let mut picked: Vec<&str> = (0..15)
        .map(|i| fixed[i * fixed.len() / 15].id.as_str())
        .collect();
    picked.extend(
        schools
            .iter()
            .filter(|s| s.link_kind == LinkKind::FourG)
            .take(5)
            .map(|s| s.id.as_str()),
    );

    let truth_path = c.dir.path().join("truth.json");
    let mut sim = Command::new(bin("schoolwatch-sim"));
    sim.args(["--collector", &c.url, "--ca"])
        .arg(c.ca_path())
        .arg("--tokens")
        .arg(&tokens)
        .arg("--registry")
        .arg(&shipped)
        .args(picked.iter().flat_map(|id| ["--school", id]))
        .args([
            "--hosts-per-school",
            "5",
            "--interval",
            "20m",
            "--duration",
            "12h",
            "--speed",
            "1800",
            "--seed",
            "42",
            "--old-share",
            "0.3",
            "--posture-fail-share",
            "0.25",
            "--outage-share",
            "0.3",
            "--outage-min",
            "8h",
            "--outage-max",
            "14h",
            "--quiet",
            "--truth",
        ])
        .arg(&truth_path);
    let out = schoolwatch_tests::run(&mut sim);
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    let truth: Value = serde_json::from_slice(&std::fs::read(&truth_path).unwrap()).unwrap();

    // Coverage right away: the schools whose link is up reported within
    // the last fraction of a second.
    let mut coverage: BTreeMap<String, Value> = BTreeMap::new();
    let districts: std::collections::BTreeSet<&str> = truth["schools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["district"].as_str().unwrap())
        .collect();
    for d in &districts {
        let v: Value =
            serde_json::from_str(&c.cli(&["coverage", "--district", d, "--format", "json"]))
                .unwrap();
        for s in v["schools"].as_array().unwrap() {
            coverage.insert(s["id"].as_str().unwrap().to_owned(), s.clone());
        }
    }

    let sims = truth["schools"].as_array().unwrap();
    assert_eq!(sims.len(), 20);
    let u = |v: &Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    for t in sims {
        let id = t["id"].as_str().unwrap();
        let got = &coverage[id];
        // The run was set up so that online and offline are clear-cut.
        let silent = t["silent_secs"].as_f64().unwrap();
        if t["in_outage_at_end"].as_bool().unwrap() {
            assert!(
                silent > ONLINE_WINDOW_SECS + 2.0,
                "{id}: silent only {silent} s; the simulator fell behind"
            );
        } else {
            assert!(
                silent < ONLINE_WINDOW_SECS / 2.0,
                "{id}: silent {silent} s with its link up"
            );
            assert_eq!(u(&t["reports"], "queued"), 0, "{id}: {t}");
            assert_eq!(u(t, "hosts_reporting"), u(t, "hosts"), "{id}: {t}");
        }
        let pairs = [
            ("agents", "hosts"),
            ("reporting_hosts", "hosts_reporting"),
            ("machines_meeting_min", "machines_meeting_min"),
            ("lab_pcs_reporting", "lab_pcs_reporting"),
            ("machines_security_reporting", "machines_security_reporting"),
            (
                "machines_security_baseline_met",
                "machines_security_baseline_met",
            ),
        ];
        for (cov, sim) in pairs {
            assert_eq!(
                u(got, cov),
                u(t, sim),
                "{id} {cov}: coverage {got}\ntruth {t}"
            );
        }
        assert_eq!(
            got["bandwidth_on_target"], t["bandwidth_on_target"],
            "{id}: coverage {got}\ntruth {t}"
        );
        assert_eq!(
            got["online"].as_bool().unwrap(),
            !t["in_outage_at_end"].as_bool().unwrap(),
            "{id}: coverage {got}\ntruth {t}"
        );
    }

    // The fleet has what the run is meant to check: old PCs, posture
    // failures, 4G below the bandwidth target, schools that lost their
    // link and got it back, and schools still without one.
    let sum = |k: &str| sims.iter().map(|s| u(s, k)).sum::<u64>();
    assert!(sum("machines_meeting_min") < sum("hosts_reporting"));
    assert!(sum("machines_security_baseline_met") < sum("machines_security_reporting"));
    assert!(
        sims.iter()
            .any(|s| s["link_kind"] == "4g" && s["bandwidth_on_target"] == false)
    );
    assert!(sims.iter().any(|s| s["in_outage_at_end"] == true));
    assert!(
        sims.iter()
            .any(|s| !s["outage"].is_null() && s["in_outage_at_end"] == false)
    );
    let totals = &truth["totals"];
    assert_eq!(u(totals, "refused"), 0, "{totals}");
    assert_eq!(
        u(totals, "acked") + u(totals, "queued"),
        u(totals, "made"),
        "{totals}"
    );
    // Every report acknowledged as new was stored once.
    let stored =
        schoolwatch_tests::metric(&c.metrics(), "schoolwatch_ingest_reports_total", &[]).unwrap();
    assert_eq!(stored as u64, u(totals, "accepted"));
}
