//! ICMP probes between network namespaces the test creates: loss measured
//! by the agent agrees with the shaping and with fping on the same path;
//! without CAP_NET_RAW the agent falls back to unprivileged ping sockets,
//! and with neither it says how to fix it.

use schoolwatch_protocol::ProbeResult;
use schoolwatch_tests::{Netns, agent_args, bin, require, run};

/// Two namespaces joined by a veth pair; `upstream` drops `loss_percent`
/// of incoming echo requests (nftables `numgen random`).
fn path(tag: &str, loss_percent: u32) -> (Netns, Netns) {
    require("nft", "nftables");
    let school = Netns::new(&format!("{tag}-s"));
    let upstream = Netns::new(&format!("{tag}-u"));
    school.veth(
        &format!("sw{tag}a"),
        "10.205.0.1/30",
        &upstream,
        &format!("sw{tag}b"),
        "10.205.0.2/30",
    );
    if loss_percent > 0 {
        run(upstream
            .command("nft")
            .args(["add", "table", "inet", "shape"]));
        run(upstream.command("nft").args([
            "add",
            "chain",
            "inet",
            "shape",
            "input",
            "{ type filter hook input priority 0; }",
        ]));
        run(upstream.command("nft").args([
            "add",
            "rule",
            "inet",
            "shape",
            "input",
            "icmp",
            "type",
            "echo-request",
            "numgen",
            "random",
            "mod",
            "100",
            "<",
            &loss_percent.to_string(),
            "drop",
        ]));
    }
    (school, upstream)
}

/// `schoolwatch-agent probe` from `ns` to the far end, as root or, with
/// `unprivileged`, as uid 65534 with every capability dropped.
fn agent_probe(ns: &Netns, count: u32, unprivileged: bool) -> std::process::Output {
    agent_probe_to(ns, "10.205.0.2", count, "1s", unprivileged)
}

/// `schoolwatch-agent probe --json` from `ns` to `target` as root, which
/// must succeed; its result.
fn probe_result(ns: &Netns, target: &str, count: u32, timeout: &str) -> ProbeResult {
    let out = agent_probe_to(ns, target, count, timeout, false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn agent_probe_to(
    ns: &Netns,
    target: &str,
    count: u32,
    timeout: &str,
    unprivileged: bool,
) -> std::process::Output {
    let agent = bin("schoolwatch-agent");
    let mut cmd = if unprivileged {
        let mut c = ns.command("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(&agent);
        c
    } else {
        ns.command(agent.to_str().unwrap())
    };
    cmd.args(agent_args(&[
        "probe",
        "--json",
        "--count",
        &count.to_string(),
        "--interval",
        "10ms",
        "--timeout",
        timeout,
        target,
    ]))
    .output()
    .unwrap()
}

/// An unprivileged probe from a namespace whose `ping_group_range` is
/// `range` ("1 0" lets nobody use ping sockets).
fn unprivileged_probe(tag: &str, range: &str) -> std::process::Output {
    let (school, _upstream) = path(tag, 0);
    run(school
        .command("sysctl")
        .args(["-q", "-w", &format!("net.ipv4.ping_group_range={range}")]));
    agent_probe(&school, 5, true)
}

/// fping's summary line: (sent, received).
fn fping(ns: &Netns, count: u32) -> (u32, u32) {
    require("fping", "fping");
    let out = ns
        .command("fping")
        .args([
            "-q",
            "-c",
            &count.to_string(),
            "-p",
            "10",
            "-t",
            "1000",
            "10.205.0.2",
        ])
        .output()
        .unwrap();
    // "10.205.0.2 : xmt/rcv/%loss = 500/476/4%, min/avg/max = ..." on stderr.
    let text = String::from_utf8_lossy(&out.stderr);
    let counts = text
        .split("xmt/rcv/%loss = ")
        .nth(1)
        .expect("fping summary");
    let mut n = counts
        .split(['/', ','])
        .map(|v| v.trim().trim_end_matches('%'));
    (
        n.next().unwrap().parse().unwrap(),
        n.next().unwrap().parse().unwrap(),
    )
}

#[test]
fn loss_matches_shaping_and_fping() {
    let (school, _upstream) = path("pl", 5);
    let out = agent_probe(&school, 600, false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: ProbeResult = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r.sent, 600);
    assert!(
        (r.loss_ratio - 0.05).abs() <= 0.03,
        "agent loss {}",
        r.loss_ratio
    );
    assert!((r.loss_ratio - (r.sent - r.received) as f64 / r.sent as f64).abs() < 1e-9);
    let (sent, received) = fping(&school, 600);
    let fping_loss = (sent - received) as f64 / sent as f64;
    assert!((fping_loss - 0.05).abs() <= 0.03, "fping loss {fping_loss}");
    assert!(
        (r.loss_ratio - fping_loss).abs() <= 0.04,
        "agent {} vs fping {fping_loss}",
        r.loss_ratio
    );
    // Replies came back over a veth: fast, and ordered sensibly.
    let (min, med, max) = (
        r.rtt_min_seconds.unwrap(),
        r.rtt_median_seconds.unwrap(),
        r.rtt_max_seconds.unwrap(),
    );
    assert!(min <= med && med <= max && max < 1.0, "{r:?}");
}

#[test]
fn link_cut_is_total_loss() {
    let (school, upstream) = path("pc", 0);
    upstream.ip(&["link", "set", "swpcb", "down"]);
    let out = agent_probe(&school, 5, false);
    let r: ProbeResult = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r.sent, r.received, r.loss_ratio), (5, 0, 1.0));
    assert_eq!(r.rtt_median_seconds, None);
}

#[test]
fn host_unreachable_is_loss_not_a_reply() {
    // Nobody has 10.206.0.77 on the school's LAN: ARP fails and the
    // school's own kernel answers each request with "host unreachable"
    // (after its ARP retries, so the timeout is longer than those). That
    // error is not a reply; fping agrees.
    let (school, _upstream) = path("pu", 0);
    school.ip(&["addr", "add", "10.206.0.1/24", "dev", "swpua"]);
    let r = probe_result(&school, "10.206.0.77", 3, "6s");
    assert_eq!((r.sent, r.received, r.loss_ratio), (3, 0, 1.0), "{r:?}");
    let fping = school
        .command("fping")
        .args(["-q", "-c", "3", "-t", "6000", "10.206.0.77"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&fping.stderr);
    assert!(text.contains("3/0/100%"), "fping: {text}");
}

#[test]
fn unprivileged_ping_socket_is_used_without_cap_net_raw() {
    // Everyone may use ping sockets in this namespace.
    let out = unprivileged_probe("pu", "0 2147483647");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: ProbeResult = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r.received, 5, "{r:?}");
}

#[test]
fn no_permission_says_how_to_fix_it() {
    // Nobody may use ping sockets, and the process has no CAP_NET_RAW.
    let out = unprivileged_probe("pn", "1 0");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CAP_NET_RAW") && err.contains("ping_group_range"),
        "{err}"
    );
}

#[test]
fn run_reports_probes_of_the_collector_to_metrics() {
    use schoolwatch_tests::agent::TestAgent;
    use schoolwatch_tests::{ChildGuard, TestCollector, metric};
    use std::time::{Duration, Instant};
    let c = TestCollector::start("");
    let dir = tempfile::tempdir().unwrap();
    let a = TestAgent::enroll(
        &c,
        dir.path(),
        "t-a",
        "prober",
        "[probe]\ninterval_secs = 1\ncount = 3\nspacing_ms = 20\n",
    );
    let mut agent = ChildGuard::spawn("agent run", &mut a.command(&["run", "--interval", "300ms"]));
    let start = Instant::now();
    let text = loop {
        agent.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no probe result reached the collector"
        );
        std::thread::sleep(Duration::from_millis(200));
        let text = c.metrics();
        if metric(
            &text,
            "schoolwatch_probe_loss_ratio",
            &[("agent_id", &a.id)],
        )
        .is_some()
        {
            break text;
        }
    };
    // The collector's own host (loopback) answers every echo, fast.
    let labels = [
        ("agent_id", a.id.as_str()),
        ("target", "127.0.0.1"),
        ("school", "t-a"),
    ];
    assert_eq!(
        metric(&text, "schoolwatch_probe_loss_ratio", &labels),
        Some(0.0)
    );
    let median = metric(&text, "schoolwatch_probe_rtt_median_seconds", &labels).unwrap();
    assert!(median > 0.0 && median < 0.5, "{median}");
    assert!(agent.terminate().success());
}

/// fping's per-probe round trips to `target` (`-C`), `None` for a loss.
fn fping_each(ns: &Netns, target: &str, count: u32) -> Vec<Option<f64>> {
    require("fping", "fping");
    let out = ns
        .command("fping")
        .args([
            "-q",
            "-C",
            &count.to_string(),
            "-p",
            "10",
            "-t",
            "1000",
            target,
        ])
        .output()
        .unwrap();
    // "10.207.0.2 : 80.12 79.88 - 81.03 ..." (milliseconds) on stderr.
    let text = String::from_utf8_lossy(&out.stderr);
    let values = text.split(" : ").nth(1).expect("fping -C output");
    values
        .split_whitespace()
        .map(|v| v.parse::<f64>().ok().map(|ms| ms / 1000.0))
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[test]
fn delay_jitter_and_loss_through_a_tun_relay_match_fping() {
    use schoolwatch_tests::ChildGuard;
    use std::io::BufRead;
    let a = Netns::new("rl-a");
    let b = Netns::new("rl-b");
    let tag = std::process::id() % 100_000;
    let (ta, tb) = (format!("swra{tag}"), format!("swrb{tag}"));
    // 40 ms ± 5 ms each way: 80 ms ± 10 ms round trip; 5 % of requests lost.
    let mut relay = ChildGuard::spawn_piped(
        "tun_relay",
        std::process::Command::new(bin("tun_relay")).args([&ta, &tb, "40", "5", "5"]),
    );
    let mut ready = String::new();
    std::io::BufReader::new(relay.take_stdout())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    run(std::process::Command::new("ip").args(["link", "set", &ta, "netns", a.name()]));
    run(std::process::Command::new("ip").args(["link", "set", &tb, "netns", b.name()]));
    a.ip(&[
        "addr",
        "add",
        "10.207.0.1",
        "peer",
        "10.207.0.2",
        "dev",
        &ta,
    ]);
    a.ip(&["link", "set", &ta, "up"]);
    b.ip(&[
        "addr",
        "add",
        "10.207.0.2",
        "peer",
        "10.207.0.1",
        "dev",
        &tb,
    ]);
    b.ip(&["link", "set", &tb, "up"]);

    // First make sure the relay shapes what it claims, with fping.
    let fp = fping_each(&a, "10.207.0.2", 500);
    assert_eq!(fp.len(), 500);
    let fp_rtts: Vec<f64> = fp.iter().flatten().copied().collect();
    let fp_loss = 1.0 - fp_rtts.len() as f64 / 500.0;
    let fp_median = median(fp_rtts);
    assert!(
        (fp_median - 0.080).abs() <= 0.008,
        "fping median {fp_median}"
    );
    assert!((fp_loss - 0.05).abs() <= 0.03, "fping loss {fp_loss}");

    // Then the agent on the same path.
    let r = probe_result(&a, "10.207.0.2", 500, "1s");
    let med = r.rtt_median_seconds.unwrap();
    assert!((med - 0.080).abs() <= 0.008, "agent median {med}");
    assert!(
        (med - fp_median).abs() <= 0.1 * fp_median,
        "agent {med} vs fping {fp_median}"
    );
    assert!(
        (r.loss_ratio - 0.05).abs() <= 0.03,
        "agent loss {}",
        r.loss_ratio
    );
    // Jitter: consecutive round trips differ by the relay's spread.
    let jitter = r.jitter_seconds.unwrap();
    assert!(jitter > 0.001 && jitter < 0.010, "jitter {jitter}");
    let (min, max) = (r.rtt_min_seconds.unwrap(), r.rtt_max_seconds.unwrap());
    // 80 ms ± 10 ms, with room for a busy machine's timer delays.
    assert!(
        min >= 0.068 && max <= 0.200,
        "{min}..{max} outside 80 ms ± 10 ms"
    );
}
