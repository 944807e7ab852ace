//! A school behind its own router, in namespaces the test makes:
//!
//! ```text
//! school (agent) 10.211.0.2 ── 10.211.0.1 router 10.211.1.1 ── 10.211.1.2 centre (collector)
//! ```
//!
//! Three outages, each longer than the collector's online window, and each
//! classified once the link returns from what the back-filled reports say:
//! the router stops forwarding but still answers (WAN), the router stops
//! answering on the school's side (LAN/gateway), and the agent is stopped
//! (power). Each outage's start and end are checked against when the test
//! cut and restored, and the same recorded outages read with a calendar
//! that has no school hours now are all "scheduled" and cost nothing.

use schoolwatch_tests::agent::agent_command;
use schoolwatch_tests::{ChildGuard, Netns, TestCollector, metric, run};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const WINDOW_SECS: u64 = 10;
/// Each cut lasts this long: the window plus a margin for a report.
const CUT: Duration = Duration::from_secs(WINDOW_SECS + 5);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

struct Site {
    school: Netns,
    router: Netns,
    centre: Netns,
    collector: TestCollector,
    url: String,
}

impl Site {
    fn metrics(&self) -> String {
        let out = run(self
            .centre
            .command("curl")
            .args(["-sf", "--cacert"])
            .arg(self.collector.ca_path())
            .arg(format!("{}/metrics", self.url)));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, what: &str, limit: Duration, mut ok: impl FnMut(&str) -> bool) {
        let start = Instant::now();
        loop {
            if ok(&self.metrics()) {
                return;
            }
            assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn online(&self) -> Option<f64> {
        metric(
            &self.metrics(),
            "schoolwatch_school_online",
            &[("school", "t-a")],
        )
    }

    fn outages(&self, kind: &str) -> f64 {
        metric(
            &self.metrics(),
            "schoolwatch_school_outages_7d",
            &[("school", "t-a"), ("kind", kind)],
        )
        .unwrap_or(0.0)
    }

    /// Waits until the school is online and its agent's queue is empty (the
    /// back-fill has arrived, so the outage can be classified).
    fn wait_drained(&self) {
        self.wait_for("back online and drained", Duration::from_secs(60), |m| {
            metric(m, "schoolwatch_school_online", &[("school", "t-a")]) == Some(1.0)
                && metric(m, "schoolwatch_host_queue_reports", &[("school", "t-a")]) == Some(0.0)
        });
    }

    /// Drops forwarded traffic in the router (`chain` forward: the WAN is
    /// cut, the router still answers) or everything arriving from the
    /// school (`chain` input and forward: the gateway is dark).
    fn cut(&self, chains: &[&str]) {
        let mut script = String::from("table inet cut {\n");
        for chain in chains {
            script.push_str(&format!(
                "chain {chain} {{ type filter hook {chain} priority 0; policy accept; iifname \"swokr\" drop; }}\n"
            ));
        }
        script.push_str("}\n");
        let file = self.collector.dir.path().join("cut.nft");
        std::fs::write(&file, script).unwrap();
        run(self.router.command("nft").arg("-f").arg(&file));
    }

    fn restore(&self) {
        run(self
            .router
            .command("nft")
            .args(["delete", "table", "inet", "cut"]));
    }
}

fn site() -> Site {
    schoolwatch_tests::require("nft", "nftables");
    let school = Netns::new("ok-s");
    let router = Netns::new("ok-r");
    let centre = Netns::new("ok-c");
    school.veth("swoks", "10.211.0.2/24", &router, "swokr", "10.211.0.1/24");
    router.veth("swokw", "10.211.1.1/24", &centre, "swokc", "10.211.1.2/24");
    school.ip(&["route", "add", "default", "via", "10.211.0.1"]);
    centre.ip(&["route", "add", "10.211.0.0/24", "via", "10.211.1.1"]);
    run(router
        .command("sysctl")
        .args(["-qw", "net.ipv4.ip_forward=1"]));
    let collector = TestCollector::start_in(
        Some(&centre),
        "10.211.1.2",
        &[],
        &format!("[fleet]\nonline_window_secs = {WINDOW_SECS}\n"),
    );
    let url = format!("https://10.211.1.2:{}", collector.addr.port());
    Site {
        school,
        router,
        centre,
        collector,
        url,
    }
}

/// Cuts (or stops the agent), waits out `CUT`, restores; returns the
/// moments of the cut and of the restore, ms.
fn outage(site: &Site, act: impl FnOnce(), undo: impl FnOnce()) -> (i64, i64) {
    let cut_at = now_ms();
    act();
    site.wait_for("offline", Duration::from_secs(30), |m| {
        metric(m, "schoolwatch_school_online", &[("school", "t-a")]) == Some(0.0)
    });
    let left = CUT.saturating_sub(Duration::from_millis((now_ms() - cut_at) as u64));
    std::thread::sleep(left);
    let restored_at = now_ms();
    undo();
    site.wait_drained();
    (cut_at, restored_at)
}

#[test]
fn outages_are_classified_wan_lan_and_power_from_the_backfill() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("agent");
    let config = dir.path().join("agent.toml");
    // The gateway is read from the school's routing table; probes every
    // second so each report of the outage carries a round.
    std::fs::write(
        &config,
        "[probe]\ngateway = true\ninterval_secs = 1\ncount = 3\nspacing_ms = 50\ntimeout_ms = 300\n",
    )
    .unwrap();
    let (ok, _, err) = schoolwatch_tests::agent::enroll(
        Some(&site.school),
        Some(&config),
        &site.url,
        &site.collector.token("t-a"),
        &state,
        &site.collector.ca_path(),
    );
    assert!(ok, "{err}");
    let start_agent = || {
        ChildGuard::spawn(
            "agent run",
            agent_command(Some(&site.school), Some(&config), &state).args([
                "run",
                "--interval",
                "1s",
            ]),
        )
    };
    let agent = std::cell::RefCell::new(Some(start_agent()));
    site.wait_for("online", Duration::from_secs(30), |m| {
        metric(m, "schoolwatch_school_online", &[("school", "t-a")]) == Some(1.0)
            && metric(
                m,
                "schoolwatch_probe_loss_ratio",
                &[("school", "t-a"), ("target", "10.211.0.1")],
            ) == Some(0.0)
    });
    let first_seen = now_ms();

    let wan = outage(&site, || site.cut(&["forward"]), || site.restore());
    assert_eq!(site.outages("wan"), 1.0, "{}", site.metrics());
    let lan = outage(&site, || site.cut(&["input", "forward"]), || site.restore());
    assert_eq!(
        site.outages("lan"),
        1.0,
        "{}",
        site.collector
            .cli(&["coverage", "--outages", "--format", "json"])
    );
    let power = outage(
        &site,
        || assert!(agent.take().unwrap().terminate().success()),
        || *agent.borrow_mut() = Some(start_agent()),
    );
    assert_eq!(
        site.outages("power"),
        1.0,
        "{}",
        site.collector
            .cli(&["coverage", "--outages", "--format", "json"])
    );
    assert_eq!(site.outages("unknown"), 0.0);
    assert_eq!(site.online(), Some(1.0));

    // The list, as the department reads it.
    let list: serde_json::Value =
        serde_json::from_str(
            &site
                .collector
                .cli(&["coverage", "--outages", "--format", "json"]),
        )
        .unwrap();
    let list = list.as_array().unwrap();
    let kinds: Vec<&str> = list.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["wan", "lan", "power"]);
    let parse = |v: &serde_json::Value| {
        humantime::parse_rfc3339(v.as_str().unwrap())
            .unwrap()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let mut lost_ms = 0;
    for (o, (cut_at, restored_at)) in list.iter().zip([wan, lan, power]) {
        // It began with the last report before the cut (reports every
        // second; the timestamps are whole seconds) and ended with the
        // first report after the restore (within the agent's backoff).
        let (start, end) = (parse(&o["start"]), parse(&o["end"]));
        assert!(
            (cut_at - 3_000..=cut_at).contains(&start),
            "{o} began at {start}, cut at {cut_at}"
        );
        assert!(
            (restored_at - 1_000..=restored_at + 40_000).contains(&end),
            "{o} ended at {end}, restored at {restored_at}"
        );
        lost_ms += end - start;
        // Every hour counts without a calendar.
        assert_eq!(o["counted_seconds"], o["duration_seconds"]);
    }
    // WAN: the agent ran and its gateway answered; LAN: it ran and its
    // gateway was dark; power: nothing was made.
    assert!(list[0]["reports_during"].as_u64().unwrap() >= WINDOW_SECS / 2 - 1);
    assert!(list[0]["gateway_answered"].as_u64() > list[0]["gateway_silent"].as_u64());
    assert!(list[1]["gateway_silent"].as_u64() > list[1]["gateway_answered"].as_u64());
    assert_eq!(list[2]["reports_during"], 0);

    // Availability: the school hours lost out of those since it first
    // reported (the whole day is school hours here).
    let m = site.metrics();
    let got = metric(
        &m,
        "schoolwatch_school_availability_24h_ratio",
        &[("school", "t-a")],
    )
    .unwrap();
    let span = now_ms() - first_seen;
    let want = 1.0 - lost_ms as f64 / span as f64;
    assert!(
        (got - want).abs() < 0.05,
        "availability {got}, by the test's own clock {want}"
    );
    assert!(got < 0.8, "three outages of {CUT:?} must show: {got}");

    // The same outages under a calendar with no school hours today: all
    // scheduled, and availability unknown (no school hours to count).
    let off = site.collector.dir.path().join("no-school.toml");
    std::fs::write(&off, "[calendar]\nschool_days = []\n").unwrap();
    let config = std::fs::read_to_string(&site.collector.config).unwrap();
    let other = site.collector.dir.path().join("holiday.toml");
    std::fs::write(
        &other,
        format!("{config}\n[targets]\nfile = \"{}\"\n", off.display()),
    )
    .unwrap();
    let out = schoolwatch_tests::stdout_of(
        std::process::Command::new(schoolwatch_tests::bin("schoolwatch-collector"))
            .arg("--config")
            .arg(&other)
            .args(["coverage", "--outages", "--format", "json"]),
    );
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert!(
        list.iter()
            .all(|o| o["kind"] == "scheduled" && o["counted_seconds"] == 0),
        "{list:?}"
    );
    drop(agent);
}
