//! The collector's status page in a real headless Chromium.
//!
//! A real collector (online window 10 s) with two staff accounts made by
//! `schoolwatch-collector status hash-password`: `so` (the department,
//! whole province) and `pleiku` (the Pleiku district office). A small
//! fleet keeps reporting over HTTPS (registry in tests/src/collector.rs):
//!
//! | school | district | link  | machines                                        |
//! |--------|----------|-------|-------------------------------------------------|
//! | t-a    | Pleiku   | fibre | a1 lab 8 GiB (baseline met), a2 lab 2 GiB (fails, hostile host name) |
//! | t-b    | Pleiku   | 4g    | b1 server 16 GiB, probes to collector and gateway |
//! | t-c    | Chư Păh  | fibre | c1 lab 8 GiB                                    |
//! | t-d    | Chư Păh  | 4g    | -                                               |
//!
//! The pages must show what `coverage --format json` and `/metrics` say;
//! then t-a stops reporting and the page must show it offline with its
//! outage (kind and start as `coverage --outages` has them); the district
//! account must see Pleiku only, and get 404 for anything of Chư Păh, CSV
//! included. Screenshots go to target/test-artifacts/status_page/.

use schoolwatch_protocol::{
    Check, CheckStatus, Inventory, ProbeKind, ProbeResult, Report, Role, Security, Severity,
};
use schoolwatch_tests::browser::{Browser, artifacts_dir};
use schoolwatch_tests::collector::{batch_body, https_client, https_client_no_redirect};
use schoolwatch_tests::{TestCollector, agent, bin, metric};
use serde_json::Value;
use std::collections::HashSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SO_PASSWORD: &str = "sở giáo dục và đào tạo 2025";
const PK_PASSWORD: &str = "phòng giáo dục Pleiku";
/// a2's host name: markup that would change the page title if it ran.
const EVIL: &str = "<img src=x onerror=\"document.title='pwned'\">a2";
/// c1's host name, which the Pleiku account must never see.
const C1_HOST: &str = "chupah-lab-01";

/// `schoolwatch-collector status hash-password` with `password` on stdin:
/// (exit success, stdout, stderr).
fn hash_password(password: &str) -> (bool, String, String) {
    let mut child = Command::new(bin("schoolwatch-collector"))
        .args(["status", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start schoolwatch-collector");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write the password");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// One simulated machine, reporting over HTTPS like an agent.
struct Machine {
    school: &'static str,
    id: String,
    credential: String,
    inventory: Inventory,
    probes: Vec<ProbeResult>,
    security: Option<Security>,
}

fn inventory(host: &str, role: Role, gib: u64) -> Inventory {
    let mut inv: Inventory = serde_json::from_str(&agent(&["inventory", "--json"])).unwrap();
    inv.hostname = host.to_owned();
    inv.role = role;
    inv.memory_total_bytes = gib << 30;
    inv.cpu_logical_cores = 4;
    inv.disks.truncate(1);
    inv.disks[0].total_bytes = 250 << 30;
    inv
}

fn baseline(status: CheckStatus) -> Security {
    let baseline = schoolwatch_collector::targets::Targets::default()
        .security
        .baseline;
    Security {
        checks: baseline
            .iter()
            .map(|id| Check {
                id: id.clone(),
                status,
                severity: Severity::High,
                evidence: "test".into(),
                reason: None,
            })
            .collect(),
        listening: Vec::new(),
    }
}

fn probe(kind: ProbeKind, target: &str) -> ProbeResult {
    ProbeResult {
        target: target.into(),
        kind,
        sent: 5,
        received: 5,
        loss_ratio: 0.0,
        rtt_min_seconds: Some(0.010),
        rtt_median_seconds: Some(0.012),
        rtt_avg_seconds: Some(0.012),
        rtt_max_seconds: Some(0.020),
        jitter_seconds: Some(0.001),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Posts report `seq` of every machine whose school is not in `stopped`.
fn report_round(url: &str, ca: &str, machines: &[Machine], seq: u64, stopped: &HashSet<&str>) {
    let client = https_client(ca);
    schoolwatch_tests::rt().block_on(async {
        for m in machines.iter().filter(|m| !stopped.contains(m.school)) {
            let mut r = Report::new(m.id.clone(), seq, now_ms());
            r.inventory = Some(m.inventory.clone());
            r.probes = m.probes.clone();
            r.security = m.security.clone();
            let resp = client
                .post(format!("{url}/api/v1/reports"))
                .bearer_auth(&m.credential)
                .header("content-type", "application/json")
                .body(batch_body(vec![r]))
                .send()
                .await
                .expect("the collector answers");
            assert_eq!(resp.status().as_u16(), 200, "report of {}", m.id);
        }
    });
}

/// Logs in through the form (the page the browser was sent to) and waits
/// for the page the form leads to.
fn log_in(b: &Browser, name: &str, password: &str) {
    b.wait_for(
        "document.querySelector('#login') !== null",
        Duration::from_secs(10),
    );
    b.type_into("#name", name);
    b.type_into("#password", password);
    // A mark on this document: the next one will not have it.
    b.script("window.__schoolwatchOld = true;", serde_json::json!([]));
    b.click("#login");
    b.wait_for(
        "window.__schoolwatchOld === undefined && document.readyState === 'complete'",
        Duration::from_secs(60),
    );
}

/// The `data-value` of a cell: `#table-TABLE tr[data-key=ROW] td[data-col=COL]`.
fn cell(b: &Browser, table: &str, row: &str, col: &str, attr: &str) -> Option<String> {
    b.attr(
        &format!("#table-{table} tr[data-key=\"{row}\"] td[data-col=\"{col}\"]"),
        attr,
    )
}

fn num(v: &Value) -> String {
    v.as_u64()
        .map(|n| n.to_string())
        .unwrap_or_else(|| panic!("a count: {v}"))
}

/// The targets table shows the summary's counts, and an availability
/// between the one of `earlier` and that of `summary` (availability moves
/// with the clock while a school is dark; pass the same summary twice
/// when nothing is dark).
fn check_targets(b: &Browser, earlier: &Value, summary: &Value) {
    for (row, achieved, of) in [
        (
            "schools_reporting",
            "schools_reporting",
            "schools_registered",
        ),
        ("schools_online", "schools_online", "schools_registered"),
        (
            "schools_link_on_target",
            "schools_link_on_target",
            "schools_registered",
        ),
        (
            "schools_bandwidth_measured",
            "schools_bandwidth_measured",
            "schools_registered",
        ),
        (
            "machines_meeting_min",
            "machines_meeting_min",
            "machines_reporting",
        ),
        ("lab_pcs", "lab_pcs_reporting", "lab_pcs_expected"),
        (
            "machines_security_baseline",
            "machines_security_baseline_met",
            "machines_security_reporting",
        ),
    ] {
        assert_eq!(
            cell(b, "targets", row, "achieved", "data-value"),
            Some(num(&summary[achieved])),
            "targets/{row}/achieved"
        );
        assert_eq!(
            cell(b, "targets", row, "of", "data-value"),
            Some(num(&summary[of])),
            "targets/{row}/of"
        );
    }
    let shown = cell(b, "targets", "availability_24h", "share", "data-value").unwrap();
    match (
        earlier["availability_24h"].as_f64(),
        summary["availability_24h"].as_f64(),
    ) {
        (Some(a), Some(z)) => {
            let v: f64 = shown.parse().unwrap();
            let (lo, hi) = (a.min(z) - 1e-9, a.max(z) + 1e-9);
            assert!(lo <= v && v <= hi, "availability {v} not in [{lo}, {hi}]");
        }
        _ => assert_eq!(shown, ""),
    }
}

/// The districts table shows each district's (and the province's) counts.
fn check_districts(b: &Browser, cov: &Value) {
    let mut scopes: Vec<&Value> = cov["districts"].as_array().unwrap().iter().collect();
    scopes.push(&cov["province"]);
    for s in scopes {
        let key = s["scope"].as_str().unwrap();
        for (col, n, d) in [
            (
                "schools_reporting",
                "schools_reporting",
                "schools_registered",
            ),
            ("schools_online", "schools_online", "schools_registered"),
            (
                "machines_meeting_min",
                "machines_meeting_min",
                "machines_reporting",
            ),
            ("lab_pcs", "lab_pcs_reporting", "lab_pcs_expected"),
            (
                "machines_security_baseline",
                "machines_security_baseline_met",
                "machines_security_reporting",
            ),
        ] {
            assert_eq!(
                cell(b, "districts", key, col, "data-num"),
                Some(num(&s[n])),
                "{key}/{col}"
            );
            assert_eq!(
                cell(b, "districts", key, col, "data-den"),
                Some(num(&s[d])),
                "{key}/{col}"
            );
        }
    }
}

/// A GET with the session cookie and no redirect following: (status,
/// Location, body).
fn get(c: &TestCollector, cookie: Option<&str>, path: &str) -> (u16, String, String) {
    let client = https_client_no_redirect(&c.ca_pem);
    schoolwatch_tests::rt().block_on(async {
        let mut req = client.get(format!("{}{path}", c.url));
        if let Some(v) = cookie {
            req = req.header("cookie", format!("__Host-schoolwatch_status={v}"));
        }
        let r = req.send().await.expect("the collector answers");
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let status = r.status().as_u16();
        // The raw bytes: a text decoder could drop the CSV's BOM.
        let body = String::from_utf8(r.bytes().await.unwrap().to_vec()).expect("UTF-8");
        (status, location, body)
    })
}

/// The status cookie's value as the browser holds it, with its attributes
/// checked.
fn session_cookie(b: &Browser) -> String {
    let cookies = b.cookies();
    let c = cookies
        .iter()
        .find(|c| c["name"] == "__Host-schoolwatch_status")
        .unwrap_or_else(|| panic!("no session cookie in {cookies:?}"));
    assert_eq!(c["httpOnly"], true, "{c}");
    assert_eq!(c["secure"], true, "{c}");
    assert_eq!(c["sameSite"], "Strict", "{c}");
    assert_eq!(c["path"], "/", "{c}");
    c["value"].as_str().unwrap().to_owned()
}

/// The CSV rows (BOM stripped) of a download.
fn csv_rows(body: &str) -> Vec<Vec<String>> {
    let body = body
        .strip_prefix('\u{feff}')
        .expect("a UTF-8 BOM for Excel");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn status_page_in_chromium() {
    let shots = artifacts_dir("status_page");
    // Hashes from the real CLI; a short password is refused.
    let (ok, _, err) = hash_password("short");
    assert!(!ok && err.contains("10 characters"), "{err}");
    let (ok, so_hash, err) = hash_password(SO_PASSWORD);
    assert!(ok && so_hash.starts_with("$argon2id$"), "{err}");
    let (ok, pk_hash, err) = hash_password(PK_PASSWORD);
    assert!(ok, "{err}");
    let mut c = TestCollector::start(&format!(
        "[fleet]\nonline_window_secs = 10\n\
         [[status.users]]\nname = \"so\"\npassword_hash = \"{}\"\n\
         [[status.users]]\nname = \"pleiku\"\npassword_hash = \"{}\"\ndistrict = \"Pleiku\"\n",
        so_hash.trim(),
        pk_hash.trim()
    ));

    // The fleet, and a thread that keeps it reporting every 2 s.
    let enroll = |school: &'static str, name: &str, inv: Inventory, probes, security| {
        let (id, credential) = c.enroll_as(school, name, name);
        Machine {
            school,
            id,
            credential,
            inventory: inv,
            probes,
            security,
        }
    };
    let machines = vec![
        enroll(
            "t-a",
            "a1",
            inventory("a1", Role::Lab, 8),
            Vec::new(),
            Some(baseline(CheckStatus::Pass)),
        ),
        enroll(
            "t-a",
            "a2",
            inventory(EVIL, Role::Lab, 2),
            Vec::new(),
            Some(baseline(CheckStatus::Fail)),
        ),
        enroll(
            "t-b",
            "b1",
            inventory("b1", Role::Server, 16),
            vec![
                probe(ProbeKind::Collector, "127.0.0.1"),
                probe(ProbeKind::Gateway, "192.0.2.1"),
            ],
            None,
        ),
        enroll(
            "t-c",
            "c1",
            inventory(C1_HOST, Role::Lab, 8),
            Vec::new(),
            None,
        ),
    ];
    let c1_id = machines[3].id.clone();
    let a2_id = machines[1].id.clone();
    report_round(&c.url, &c.ca_pem, &machines, 1, &HashSet::new());
    let stopped: Arc<Mutex<HashSet<&'static str>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let keeper = {
        let (url, ca) = (c.url.clone(), c.ca_pem.clone());
        let (stopped, done) = (stopped.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seq = 1;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(2));
                seq += 1;
                let now_stopped = stopped.lock().unwrap().clone();
                report_round(&url, &ca, &machines, seq, &now_stopped);
            }
        })
    };

    // Without a session: to the login form; a foreign POST is refused.
    let (status, location, _) = get(&c, None, "/status/school/t-a");
    assert_eq!(status, 303);
    assert_eq!(location, "/status/login?next=%2Fstatus%2Fschool%2Ft-a");
    let forged = schoolwatch_tests::rt().block_on(async {
        https_client_no_redirect(&c.ca_pem)
            .post(format!("{}/status/login", c.url))
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("name=so&password={SO_PASSWORD}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(forged, 403);

    let b = Browser::start();
    b.goto(&format!("{}/status?lang=en", c.url));
    assert!(b.url().contains("/status/login"), "{}", b.url());
    b.screenshot(&shots.join("01-login.png"));
    log_in(&b, "so", "wrong password, twice");
    assert_eq!(
        b.count("#login-error"),
        1,
        "a wrong password is refused: {} {:?}",
        b.url(),
        b.text("body")
    );
    log_in(&b, "so", SO_PASSWORD);
    assert!(b.url().ends_with("/status?lang=en"), "{}", b.url());
    let so_cookie = session_cookie(&b);

    // The overview against `coverage --format json` and /metrics.
    let cov: Value = serde_json::from_str(&c.cli(&["coverage", "--format", "json"])).unwrap();
    // By hand (see the table at the top): 4 schools, 3 reporting and
    // online, 4 machines of which 3 meet the minimum, 3 lab PCs of 85,
    // 1 of 2 machines with checks meets the baseline.
    let p = &cov["province"];
    for (k, v) in [
        ("schools_registered", 4),
        ("schools_reporting", 3),
        ("schools_online", 3),
        ("machines_reporting", 4),
        ("machines_meeting_min", 3),
        ("lab_pcs_reporting", 3),
        ("lab_pcs_expected", 85),
        ("machines_security_reporting", 2),
        ("machines_security_baseline_met", 1),
    ] {
        assert_eq!(p[k], v, "coverage province {k}");
    }
    check_targets(&b, p, p);
    check_districts(&b, &cov);
    let text = c.metrics();
    for (name, row) in [
        ("schoolwatch_province_schools_online", "schools_online"),
        (
            "schoolwatch_province_machines_meeting_minimum",
            "machines_meeting_min",
        ),
    ] {
        let m = metric(&text, name, &[]).unwrap_or_else(|| panic!("{name} on /metrics"));
        assert_eq!(
            cell(&b, "targets", row, "achieved", "data-value"),
            Some(format!("{m}")),
            "{name}"
        );
    }
    // Worst first: t-d has no agent; the others are online.
    assert_eq!(
        b.row_keys("table-worst").first().map(String::as_str),
        Some("t-d")
    );
    assert_eq!(b.count("#table-offline"), 0, "nobody is offline yet");
    assert_eq!(b.count("meter"), b.count("meter[value]"));
    assert!(b.count("meter") >= 20, "progress bars on the overview");
    b.screenshot(&shots.join("02-overview-en.png"));

    // Vietnamese by default (no ?lang, no Accept-Language from reqwest),
    // English by Accept-Language.
    let (status, _, body) = get(&c, Some(&so_cookie), "/status");
    assert_eq!(status, 200);
    assert!(body.contains("lang=\"vi\"") && body.contains("Tổng quan toàn tỉnh"));
    b.goto(&format!("{}/status", c.url));
    assert_eq!(
        b.attr("html", "lang").as_deref(),
        Some("en"),
        "Chromium asks for en-US"
    );
    b.goto(&format!("{}/status?lang=vi", c.url));
    assert_eq!(b.text("h1").as_deref(), Some("Tổng quan toàn tỉnh"));
    b.screenshot(&shots.join("03-overview-vi.png"));

    // Drill down: district, school, host. The hostile host name is text.
    b.goto(&format!("{}/status/district/Pleiku?lang=en", c.url));
    let mut keys = b.row_keys("table-schools");
    keys.sort();
    assert_eq!(keys, ["t-a", "t-b"]);
    b.screenshot(&shots.join("04-district-pleiku.png"));
    b.goto(&format!("{}/status/school/t-a?lang=en", c.url));
    assert_eq!(b.row_keys("table-hosts").len(), 2);
    assert_eq!(
        b.count("#table-hosts img"),
        0,
        "markup from a host name ran"
    );
    assert!(b.text("#table-hosts").unwrap().contains(EVIL));
    assert_ne!(
        b.script("return document.title;", serde_json::json!([])),
        "pwned"
    );
    assert_eq!(
        cell(&b, "hosts", &a2_id, "meets_minimum", "data-value").as_deref(),
        Some("false")
    );
    assert_eq!(
        cell(&b, "hosts", &a2_id, "security_baseline", "data-value").as_deref(),
        Some("false")
    );
    b.screenshot(&shots.join("05-school-t-a.png"));
    b.goto(&format!("{}/status/school/t-b?lang=en", c.url));
    assert_eq!(b.row_keys("table-probes").len(), 2, "b1's probes");
    b.goto(&format!("{}/status/host/{a2_id}?lang=en", c.url));
    assert_eq!(b.text("h1").as_deref(), Some(EVIL));
    b.screenshot(&shots.join("06-host-a2.png"));

    // CSV of a table, as the department would download it.
    let (status, _, body) = get(
        &c,
        Some(&so_cookie),
        "/status?format=csv&table=districts&lang=en",
    );
    assert_eq!(status, 200);
    let rows = csv_rows(&body);
    assert_eq!(rows[0][0], "District");
    let province = rows
        .iter()
        .find(|r| r[0] == "Province")
        .expect("a province row");
    let online = rows[0].iter().position(|h| h == "Online").unwrap();
    assert_eq!(
        (province[online].as_str(), province[online + 1].as_str()),
        ("3", "4")
    );
    let (status, _, body) = get(&c, Some(&so_cookie), "/status?format=csv&table=nope");
    assert_eq!(status, 400, "{body}");

    // t-a goes dark.
    stopped.lock().unwrap().insert("t-a");
    let start = Instant::now();
    loop {
        let v: Value =
            serde_json::from_str(&c.cli(&["coverage", "--district", "Pleiku", "--format", "json"]))
                .unwrap();
        let a = v["schools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == "t-a")
            .unwrap();
        if a["online"] == false {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "t-a never went offline"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let outages: Value =
        serde_json::from_str(&c.cli(&["coverage", "--outages", "--format", "json"])).unwrap();
    let ongoing = outages
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["school"] == "t-a" && o["end"].is_null())
        .unwrap_or_else(|| panic!("no ongoing outage of t-a in {outages}"));
    let earlier: Value = serde_json::from_str(&c.cli(&["coverage", "--format", "json"])).unwrap();
    b.goto(&format!("{}/status?lang=en", c.url));
    assert_eq!(b.row_keys("table-offline"), ["t-a"]);
    assert_eq!(
        cell(&b, "offline", "t-a", "since", "data-value").as_deref(),
        ongoing["start"].as_str()
    );
    assert_eq!(
        cell(&b, "offline", "t-a", "outage_kind", "data-value").as_deref(),
        ongoing["kind"].as_str()
    );
    assert_eq!(
        b.row_keys("table-worst").first().map(String::as_str),
        Some("t-a")
    );
    let cov: Value = serde_json::from_str(&c.cli(&["coverage", "--format", "json"])).unwrap();
    assert_eq!(cov["province"]["schools_online"], 2);
    check_targets(&b, &earlier["province"], &cov["province"]);
    check_districts(&b, &cov);
    b.screenshot(&shots.join("07-overview-t-a-offline.png"));
    b.goto(&format!("{}/status/school/t-a?lang=vi", c.url));
    assert_eq!(
        b.text("#table-school tr[data-key=\"state\"] td[data-col=\"value\"]")
            .as_deref(),
        Some("Mất kết nối")
    );
    assert_eq!(b.row_keys("table-outages").len(), 1);
    b.screenshot(&shots.join("08-school-t-a-offline-vi.png"));

    // The district account: Pleiku only.
    b.click("#logout");
    b.wait_for(
        "location.pathname === '/status/login'",
        Duration::from_secs(10),
    );
    assert_eq!(get(&c, Some(&so_cookie), "/status").0, 303, "logged out");
    b.goto(&format!("{}/status?lang=en", c.url));
    log_in(&b, "pleiku", PK_PASSWORD);
    assert!(
        b.url().contains("/status/district/Pleiku"),
        "district staff start at their district: {}",
        b.url()
    );
    assert_eq!(b.text("#who").as_deref(), Some("pleiku"));
    let mut keys = b.row_keys("table-schools");
    keys.sort();
    assert_eq!(keys, ["t-a", "t-b"]);
    b.goto(&format!("{}/status/schools?lang=en", c.url));
    let mut keys = b.row_keys("table-schools");
    keys.sort();
    assert_eq!(keys, ["t-a", "t-b"]);
    b.screenshot(&shots.join("09-district-login.png"));
    b.goto(&format!(
        "{}/status/district/Ch%C6%B0%20P%C4%83h?lang=en",
        c.url
    ));
    assert_eq!(b.text("#message").as_deref(), Some("Not found"));
    b.screenshot(&shots.join("10-district-login-other-district.png"));
    let pk_cookie = session_cookie(&b);
    for path in [
        "/status/district/Ch%C6%B0%20P%C4%83h".to_owned(),
        "/status/district/Ch%C6%B0%20P%C4%83h?format=csv".to_owned(),
        "/status/school/t-c".to_owned(),
        "/status/school/t-c?format=csv&table=hosts".to_owned(),
        format!("/status/host/{c1_id}"),
        format!("/status/host/{c1_id}?format=csv"),
    ] {
        let (status, _, body) = get(&c, Some(&pk_cookie), &path);
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            !body.contains(C1_HOST) && !body.contains("Chư Păh") && !body.contains("THPT C"),
            "{path}: {body}"
        );
    }
    assert_eq!(get(&c, Some(&pk_cookie), "/status/school/t-a").0, 200);
    let (status, location, _) = get(&c, Some(&pk_cookie), "/status?format=csv&table=districts");
    assert_eq!(status, 303);
    assert_eq!(
        location,
        "/status/district/Pleiku?format=csv&table=districts"
    );
    let (status, _, body) = get(&c, Some(&pk_cookie), &location);
    assert_eq!(
        status, 400,
        "a district page has no districts table: {body}"
    );
    let (status, _, body) = get(&c, Some(&pk_cookie), "/status/schools?format=csv");
    assert_eq!(status, 200);
    let ids: Vec<String> = csv_rows(&body)[1..].iter().map(|r| r[1].clone()).collect();
    assert_eq!(ids.len(), 2, "{body}");
    assert!(ids.iter().all(|id| id == "t-a" || id == "t-b"), "{body}");

    done.store(true, Ordering::Relaxed);
    keeper.join().expect("the reporting thread");
    drop(b);
    assert!(c.stop().is_some_and(|s| s.success()));
}

#[test]
fn status_page_is_off_without_users() {
    let c = TestCollector::start("");
    for path in [
        "/status",
        "/status/login",
        "/status/style.css",
        "/status/school/t-a",
    ] {
        assert_eq!(c.get(path).0, 404, "{path}");
    }
}
