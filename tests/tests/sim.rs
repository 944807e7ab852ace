//! The fleet simulator against a real collector, twice, each against the
//! simulator's ground truth (`--truth`).
//!
//! At scale, compressed: 20 schools of the shipped registry (15 spread
//! over its districts, 5 on 4G) with 5 machines each enroll through the
//! real endpoint with tokens from `token create --all-schools`, and report
//! 12 hours of fleet time compressed 1800 times (24 s). Some PCs are old,
//! some fail posture checks, some schools go dark (for at least 8 fleet
//! hours, 16 s of wall time, longer than the collector's 10 s online
//! window). Then `coverage --format json`, school by school, must equal the
//! truth: machines reporting, meeting the minimum configuration, lab PCs,
//! posture checks and baseline, bandwidth against target, agents, online
//! exactly for the schools that are not dark, and the path to the collector
//! (mean loss and median round trip over the online hosts' newest collector
//! probes) exactly as the simulator's reports carried it. Each school's
//! server also reports its network devices, and the registry expects a
//! number of them at two schools in three: per school, the devices on
//! record and by kind and vendor, the missing ones, the UPS units on
//! battery and the uplink's rates on `/metrics`, and the equipment with a
//! digital record in coverage and per district, must equal the truth.
//!
//! In real time: the collector tells an outage's kind from the reports
//! SAMPLED in the middle half of a silence measured by ARRIVAL, and the two
//! clocks agree only at `--speed 1` (see `schoolwatch-sim --help`), so the
//! kinds are checked in a second run of 40 s at speed 1: 20 schools of 3
//! machines reporting every second, every school dark once for 15 to 20 s
//! (WAN, LAN or power in equal shares). `coverage --outages` must list, per
//! school, exactly the outages of the truth that the collector could see
//! (the school had reported before), at the times the truth gives within an
//! interval, those that ended with the truth's kind and those still going
//! on as `unknown`.
//!
//! The two runs have a collector each and run side by side.

use schoolwatch_collector::registry::{self, LinkKind, School};
use schoolwatch_tests::{TestCollector, bin, workspace_root};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// The collector's online window in these tests, seconds.
const ONLINE_WINDOW_SECS: f64 = 10.0;

/// A collector with the shipped registry and a token for every school.
struct Province {
    /// The collector; dropping it stops it and removes its directory.
    c: TestCollector,
    /// `school_id,token` for every school.
    tokens: PathBuf,
    /// The shipped registry with expected devices, as a file and parsed.
    registry: PathBuf,
    schools: Vec<School>,
}

/// The shipped registry with an `expected_devices` column: empty for every
/// third school, 4 to 12 for the others.
fn registry_with_devices() -> String {
    let shipped = std::fs::read_to_string(workspace_root().join("config/schools.csv")).unwrap();
    let mut lines = shipped.lines();
    let mut out = format!("{},expected_devices\n", lines.next().unwrap());
    for (i, line) in lines.filter(|l| !l.trim().is_empty()).enumerate() {
        let n = if i % 3 == 0 {
            String::new()
        } else {
            (4 + i % 9).to_string()
        };
        out.push_str(&format!("{line},{n}\n"));
    }
    out
}

impl Province {
    fn start() -> Self {
        let c = TestCollector::start(&format!(
            "[fleet]\nonline_window_secs = {ONLINE_WINDOW_SECS}\n\
             [ingest]\nrequests_per_minute = 6000\n"
        ));
        let registry = c.dir.path().join("schools-with-devices.csv");
        std::fs::write(&registry, registry_with_devices()).unwrap();
        c.cli(&["schools", "import", registry.to_str().unwrap()]);
        let tokens = c.dir.path().join("tokens.csv");
        c.cli(&[
            "token",
            "create",
            "--all-schools",
            "--out",
            tokens.to_str().unwrap(),
        ]);
        let schools = registry::parse_csv(&std::fs::read_to_string(&registry).unwrap()).unwrap();
        Self {
            c,
            tokens,
            registry,
            schools,
        }
    }

    /// `fixed` schools spread over the registry's non-4G ones, then the
    /// first `four_g` on 4G.
    fn pick(&self, fixed: usize, four_g: usize) -> Vec<String> {
        let others: Vec<&School> = self
            .schools
            .iter()
            .filter(|s| s.link_kind != LinkKind::FourG)
            .collect();
        let mut picked: Vec<String> = (0..fixed)
            .map(|i| others[i * others.len() / fixed].id.clone())
            .collect();
        picked.extend(
            self.schools
                .iter()
                .filter(|s| s.link_kind == LinkKind::FourG)
                .take(four_g)
                .map(|s| s.id.clone()),
        );
        picked
    }

    /// Runs the simulator for `schools` with `args`; returns its truth.
    fn simulate(&self, schools: &[String], args: &[&str]) -> Value {
        let truth_path = self.c.dir.path().join("truth.json");
        let mut sim = Command::new(bin("schoolwatch-sim"));
        sim.args(["--collector", &self.c.url, "--ca"])
            .arg(self.c.ca_path())
            .arg("--tokens")
            .arg(&self.tokens)
            .arg("--registry")
            .arg(&self.registry)
            .args(schools.iter().flat_map(|id| ["--school", id]))
            .args(args)
            .args(["--quiet", "--truth"])
            .arg(&truth_path);
        let out = schoolwatch_tests::run(&mut sim);
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        serde_json::from_slice(&std::fs::read(&truth_path).unwrap()).unwrap()
    }
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

/// The samples of family `name` in an exposition: labels and value.
fn samples(text: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let prefix = format!("{name}{{");
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let mut labels = BTreeMap::new();
            let mut chars = rest.chars();
            loop {
                let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                assert_eq!(chars.next(), Some('"'), "{line}");
                let mut value = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.push(match chars.next() {
                            Some('n') => '\n',
                            Some(c) => c,
                            None => panic!("{line}"),
                        }),
                        '"' => break,
                        c => value.push(c),
                    }
                }
                labels.insert(key.trim_start_matches(',').to_owned(), value);
                let rest = chars.as_str();
                if let Some(value) = rest.strip_prefix('}') {
                    let v = value.split_whitespace().next().unwrap().parse().unwrap();
                    return Some((labels, v));
                }
            }
        })
        .collect()
}

/// The value of family `name` for school `id`, if it has one.
fn school_value(text: &str, name: &str, id: &str) -> Option<f64> {
    let got: Vec<f64> = samples(text, name)
        .into_iter()
        .filter(|(l, _)| l["school"] == id)
        .map(|(_, v)| v)
        .collect();
    assert!(got.len() <= 1, "{name} {id}: {got:?}");
    got.first().copied()
}

/// Whether two measured means agree (the collector and the truth sum the
/// same numbers in another order).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn simulated_fleet_matches_coverage() {
    let p = Province::start();
    let c = &p.c;
    let picked = p.pick(15, 5);
    let truth = p.simulate(
        &picked,
        &[
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
        ],
    );

    // Coverage right away: the schools that are not dark reported within
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
    for t in sims {
        let id = t["id"].as_str().unwrap();
        let got = &coverage[id];
        // The run was set up so that online and offline are clear-cut. A
        // school dark from before its first report has no silence to
        // measure (nothing was acknowledged).
        let silent = t["silent_secs"].as_f64();
        if t["in_outage_at_end"].as_bool().unwrap() {
            assert!(
                silent.is_none_or(|s| s > ONLINE_WINDOW_SECS + 2.0),
                "{id}: silent only {silent:?} s; the simulator fell behind"
            );
        } else {
            let silent = silent.unwrap_or_else(|| panic!("{id}: nothing acknowledged: {t}"));
            assert!(
                silent < ONLINE_WINDOW_SECS / 2.0,
                "{id}: silent {silent} s while not dark"
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
        // The path to the collector: the online hosts' newest collector
        // probes, as the simulator made them.
        let (got_path, want_path) = (&got["collector_path"], &t["collector_path"]);
        assert_eq!(
            got_path.is_null(),
            want_path.is_null(),
            "{id}: coverage {got_path}\ntruth {want_path}"
        );
        if !want_path.is_null() {
            let f = |v: &Value, k: &str| v[k].as_f64();
            assert!(
                close(
                    f(got_path, "loss_ratio").unwrap(),
                    f(want_path, "loss_ratio").unwrap()
                ),
                "{id} loss: coverage {got_path}\ntruth {want_path}"
            );
            let (a, b) = (
                f(got_path, "rtt_median_seconds"),
                f(want_path, "rtt_median_seconds"),
            );
            assert!(
                a.zip(b)
                    .map_or(a.is_none() && b.is_none(), |(a, b)| close(a, b)),
                "{id} RTT: coverage {got_path}\ntruth {want_path}"
            );
        }
    }

    // Network devices, school by school: what the servers' acknowledged
    // pictures held, as the collector keeps them.
    let metrics = c.metrics();
    for t in sims {
        let id = t["id"].as_str().unwrap();
        let got = &coverage[id];
        let d = &t["devices"];
        assert!(d.is_object(), "{id}: every school has a server: {t}");
        for (cov, want) in [
            ("devices_known", &d["known"]),
            ("devices_expected", &t["devices_expected"]),
            ("equipment_expected", &t["equipment_expected"]),
            ("equipment_recorded", &t["equipment_recorded"]),
        ] {
            assert_eq!(&got[cov], want, "{id} {cov}: coverage {got}\ntruth {t}");
        }
        let by_kind_vendor: BTreeMap<(String, String), f64> =
            samples(&metrics, "schoolwatch_school_devices")
                .into_iter()
                .filter(|(l, _)| l["school"] == id)
                .map(|(l, v)| ((l["kind"].clone(), l["vendor"].clone()), v))
                .collect();
        let want: BTreeMap<(String, String), f64> = d["by_kind_vendor"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap().to_owned();
                ((s("kind"), s("vendor")), u(e, "count") as f64)
            })
            .collect();
        assert_eq!(by_kind_vendor, want, "{id}: truth {d}");
        let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
        for ((kind, _), n) in &by_kind_vendor {
            *by_kind.entry(kind.clone()).or_default() += *n as u64;
        }
        let want: BTreeMap<String, u64> = d["by_kind"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(by_kind, want, "{id}: truth {d}");
        // A school with no device on record has no series.
        for (name, want) in [
            ("schoolwatch_school_devices_missing", u(d, "missing")),
            ("schoolwatch_school_ups_on_battery", u(d, "ups_on_battery")),
        ] {
            let got = school_value(&metrics, name, id);
            assert_eq!(got.unwrap_or(0.0), want as f64, "{id} {name}: truth {d}");
        }
        let uplink = &d["uplink"];
        for (name, key) in [
            (
                "schoolwatch_school_uplink_receive_bits_per_second",
                "receive_bps",
            ),
            (
                "schoolwatch_school_uplink_transmit_bits_per_second",
                "transmit_bps",
            ),
        ] {
            let got = school_value(&metrics, name, id);
            let want = uplink[key].as_f64();
            assert!(
                got.zip(want)
                    .map_or(got.is_none() && want.is_none(), |(a, b)| close(a, b)),
                "{id} {name}: got {got:?}, truth {uplink}"
            );
        }
    }
    // Per district: the simulated schools' equipment with a record, out of
    // what the registry expects of all of the district's schools (the
    // registry kept `expected_devices`; the test collector's own schools
    // are there too).
    for district in &districts {
        let value = |name: &str| {
            samples(&metrics, name)
                .into_iter()
                .find(|(l, _)| l["district"] == *district)
                .map(|(_, v)| v as u64)
                .unwrap_or_else(|| panic!("{name} of {district}"))
        };
        let in_district = || sims.iter().filter(|s| s["district"] == *district);
        let recorded: u64 = in_district().map(|s| u(s, "equipment_recorded")).sum();
        let mut expected = 0;
        for s in coverage.values().filter(|s| s["district"] == *district) {
            let id = s["id"].as_str().unwrap();
            if let Some(r) = p.schools.iter().find(|r| r.id == id) {
                assert_eq!(
                    (u(s, "lab_pcs_expected"), u(s, "devices_expected")),
                    (u64::from(r.expected_lab_pcs), u64::from(r.expected_devices)),
                    "{id}"
                );
            }
            assert_eq!(
                u(s, "equipment_expected"),
                u(s, "lab_pcs_expected") + u(s, "devices_expected"),
                "{id}"
            );
            expected += u(s, "equipment_expected");
        }
        assert_eq!(
            value("schoolwatch_district_equipment_recorded"),
            recorded,
            "{district}"
        );
        assert_eq!(
            value("schoolwatch_district_equipment_expected"),
            expected,
            "{district}"
        );
    }

    // The fleet has what the run is meant to check: old PCs, posture
    // failures, 4G below the bandwidth target, schools that went dark and
    // came back, schools still dark, and loss on the way to the collector;
    // devices missing, a UPS on battery, uplinks with rates, schools with
    // fewer devices than expected and equipment without a record.
    let sum = |k: &str| sims.iter().map(|s| u(s, k)).sum::<u64>();
    assert!(sum("machines_meeting_min") < sum("hosts_reporting"));
    assert!(sum("machines_security_baseline_met") < sum("machines_security_reporting"));
    assert!(
        sims.iter()
            .any(|s| s["link_kind"] == "4g" && s["bandwidth_on_target"] == false)
    );
    assert!(sims.iter().any(|s| s["in_outage_at_end"] == true));
    assert!(sims.iter().any(|s| {
        s["outages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| !o["end_ms"].is_null())
    }));
    assert!(
        sims.iter()
            .any(|s| s["collector_path"]["loss_ratio"].as_f64() > Some(0.0))
    );
    let devices = || sims.iter().map(|s| &s["devices"]);
    assert!(devices().any(|d| u(d, "missing") > 0));
    assert!(devices().any(|d| u(d, "ups_on_battery") > 0));
    assert!(devices().any(|d| d["uplink"]["receive_bps"].as_f64() > Some(0.0)));
    assert!(sims.iter().any(|s| {
        let expected = u(s, "devices_expected");
        expected > 0 && u(&s["devices"], "installed") < expected
    }));
    assert!(
        sims.iter()
            .any(|s| u(s, "equipment_recorded") < u(s, "equipment_expected"))
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

/// An outage as `coverage --outages --format json` lists it.
#[derive(Debug, serde::Deserialize)]
struct Listed {
    school: String,
    kind: String,
    start: String,
    end: Option<String>,
    reports_during: u64,
    gateway_answered: u64,
    gateway_silent: u64,
}

/// Ms since the epoch of an RFC 3339 time the collector printed.
fn ms(rfc3339: &str) -> i64 {
    let t = humantime::parse_rfc3339(rfc3339).unwrap_or_else(|e| panic!("{rfc3339}: {e}"));
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn outage_kinds_match_truth_in_real_time() {
    let p = Province::start();
    let picked = p.pick(15, 5);
    let truth = p.simulate(
        &picked,
        &[
            "--hosts-per-school",
            "3",
            "--interval",
            "1s",
            "--duration",
            "40s",
            "--speed",
            "1",
            "--seed",
            "7",
            "--outage-share",
            "1",
            "--outage-kinds",
            "wan=1,lan=1,power=1",
            "--outage-min",
            "15s",
            "--outage-max",
            "20s",
            "--drain",
            "10s",
        ],
    );
    let listed: Vec<Listed> =
        serde_json::from_str(&p.c.cli(&["coverage", "--outages", "--format", "json"])).unwrap();
    let interval_ms = (truth["interval_secs"].as_f64().unwrap() * 1000.0) as i64;
    // Arrival lags sampling by a request; the collector prints seconds.
    let slack_ms = 2000;

    let mut checked: BTreeMap<String, u32> = BTreeMap::new();
    for t in truth["schools"].as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        let got: Vec<&Listed> = listed.iter().filter(|l| l.school == id).collect();
        // What the collector can know: a silence after the school's first
        // report. The run was set up so that each is clearly longer than
        // the online window.
        let want: Vec<&Value> = t["outages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["after_first_report"] == true)
            .collect();
        assert_eq!(got.len(), want.len(), "{id}: listed {got:?}\ntruth {t}");
        for (g, w) in got.iter().zip(&want) {
            let wall = w["wall_secs"].as_f64().unwrap();
            assert!(
                wall > ONLINE_WINDOW_SECS + 3.0,
                "{id}: an outage of {wall} s is too close to the online window: {w}"
            );
            // The collector's outage runs from the last report before to
            // the first after: within an interval of the truth's.
            let start = w["start_ms"].as_i64().unwrap();
            let got_start = ms(&g.start);
            assert!(
                got_start >= start - interval_ms - slack_ms && got_start <= start + slack_ms,
                "{id} start: listed {g:?}\ntruth {w}"
            );
            let kind = w["kind"].as_str().unwrap();
            // The collector sees an end when a report comes after it: a
            // WAN or LAN outage's backlog goes out at the end of the run
            // at the latest, a power cut needs a report made after it.
            let end = w["end_ms"]
                .as_i64()
                .filter(|_| kind != "power" || w["reported_after"] == true);
            match (end, &g.end) {
                (Some(end), Some(got_end)) => {
                    let got_end = ms(got_end);
                    assert!(
                        got_end >= end - slack_ms && got_end <= end + interval_ms + slack_ms,
                        "{id} end: listed {g:?}\ntruth {w}"
                    );
                    assert_eq!(g.kind, kind, "{id}: listed {g:?}\ntruth {w}");
                    // And for the right reason.
                    match kind {
                        "wan" => assert!(g.gateway_answered > 0 && g.gateway_silent == 0, "{g:?}"),
                        "lan" => assert!(g.gateway_silent > 0 && g.gateway_answered == 0, "{g:?}"),
                        _ => assert_eq!(g.reports_during, 0, "{g:?}"),
                    }
                    *checked.entry(kind.to_owned()).or_default() += 1;
                }
                (None, None) => {
                    // Still going on: nothing has come back to tell.
                    assert_eq!(g.kind, "unknown", "{id}: listed {g:?}\ntruth {w}");
                    *checked.entry("ongoing".to_owned()).or_default() += 1;
                }
                _ => panic!("{id}: ended in one and not the other: listed {g:?}\ntruth {w}"),
            }
        }
    }
    // The run has what it is meant to check: every kind ended at least
    // once, and one still going on.
    for kind in ["wan", "lan", "power", "ongoing"] {
        assert!(
            checked.get(kind).is_some_and(|n| *n > 0),
            "no {kind} outage to check: {checked:?}"
        );
    }
    eprintln!("Outages checked against the truth: {checked:?}");
}
