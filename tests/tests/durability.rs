//! The agent never loses a report: kill -9 in a loop, days offline, a full
//! disk, and the accounting at the collector holds for every host:
//! accepted reports + dropped reports = last sequence = generated.

use schoolwatch_tests::agent::{HostCounts, TestAgent, dropped, host_counts};
use schoolwatch_tests::{ChildGuard, Rng, TestCollector, run};
use std::process::Command;
use std::time::{Duration, Instant};

const FAST_INGEST: &str = "[ingest]\nrequests_per_minute = 100000\n";

/// Runs `run --once` until the agent's newest report says nothing else is
/// waiting; returns the collector's counts.
fn drain(c: &TestCollector, a: &TestAgent) -> HostCounts {
    let start = Instant::now();
    loop {
        a.run_once()
            .unwrap_or_else(|err| panic!("run --once failed: {err}"));
        let counts = host_counts(c, &a.id);
        if counts.queued == 0 && counts.last_sequence == a.generated() {
            return counts;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the queue never drained: {counts:?}"
        );
    }
}

/// Every generated report is stored exactly once or counted as dropped.
fn assert_accounted(c: &TestCollector, a: &TestAgent, counts: HostCounts) {
    let generated = a.generated();
    let stored = c.stored_sequences(&a.id);
    assert_eq!(counts.last_sequence, generated, "{counts:?}");
    assert_eq!(counts.reports, stored.len() as u64, "{counts:?}");
    assert_eq!(counts.reports + counts.dropped, generated, "{counts:?}");
    assert!(stored.windows(2).all(|w| w[0] < w[1]), "each sequence once");
    assert!(stored.iter().all(|s| (1..=generated).contains(s)));
}

#[test]
fn kill_9_two_hundred_times_loses_nothing() {
    let c = TestCollector::start(FAST_INGEST);
    let dir = tempfile::tempdir().unwrap();
    let a = TestAgent::enroll(&c, dir.path(), "t-a", "crashy", "");
    let mut rng = Rng::from_env("kill_9_two_hundred_times_loses_nothing");
    for _ in 0..200 {
        let before = a.generated();
        let mut agent =
            ChildGuard::spawn("agent run", &mut a.command(&["run", "--interval", "5ms"]));
        // Once it is appending (however slow the machine), kill it at a
        // random moment of its work.
        let start = Instant::now();
        while a.generated() == before {
            agent.assert_running();
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the agent never appended"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(rng.range(1, 100)));
        drop(agent); // SIGKILL, mid-append or mid-send
    }
    let generated_before = a.generated();
    assert!(
        generated_before > 200,
        "the agent barely ran: {generated_before} reports"
    );
    let counts = drain(&c, &a);
    assert_accounted(&c, &a, counts);
    // kill -9 tears at most an unfinished append, which is never counted
    // as generated: nothing is lost.
    assert_eq!(counts.dropped, 0, "{counts:?}");
}

#[test]
fn three_days_offline_drain_completely_within_the_bound() {
    let mut c = TestCollector::start(FAST_INGEST);
    let dir = tempfile::tempdir().unwrap();
    // 16 MiB holds three days of this machine's reports (about 2 KiB
    // each with four interfaces); the test checks it is never exceeded.
    let bound = 16 << 20;
    let a = TestAgent::enroll(
        &c,
        dir.path(),
        "t-b",
        "offline",
        &format!("[queue]\nmax_size_bytes = {bound}\n"),
    );
    c.stop();
    // Three days at one report a minute, time-compressed to one per 5 ms.
    let three_days = 3 * 24 * 60;
    let mut agent = ChildGuard::spawn("agent run", &mut a.command(&["run", "--interval", "5ms"]));
    let mut peak = 0;
    while a.generated() < three_days {
        agent.assert_running();
        peak = peak.max(a.queue_bytes());
        std::thread::sleep(Duration::from_millis(50));
    }
    peak = peak.max(a.queue_bytes());
    assert!(peak <= bound, "queue reached {peak} bytes, bound {bound}");
    c.restart();
    let start = Instant::now();
    loop {
        let counts = host_counts(&c, &a.id);
        // Drained to the few reports behind the batch on the wire (see
        // full_disk_drops_oldest_counts_and_recovers).
        if counts.reports >= three_days && counts.queued <= 20 {
            break;
        }
        agent.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "backlog not drained: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("3-day backlog drained in {:?}", start.elapsed());
    assert!(agent.terminate().success());
    let counts = drain(&c, &a);
    assert_accounted(&c, &a, counts);
    assert_eq!(
        counts.dropped,
        0,
        "queue_full {}",
        dropped(&c, &a.id, "queue_full")
    );
    // No holes: every sequence from 1 on arrived.
    let stored = c.stored_sequences(&a.id);
    assert_eq!(stored, (1..=a.generated()).collect::<Vec<_>>());
}

/// Mounts a small tmpfs over a directory; unmounts when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at));
        Self(at.to_owned())
    }

    fn resize(&self, size: &str) {
        run(Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn full_disk_drops_oldest_counts_and_recovers() {
    let mut c = TestCollector::start(FAST_INGEST);
    let dir = tempfile::tempdir().unwrap();
    // A 1 MiB queue (128 KiB segments) on a 384 KiB disk: the disk fills
    // before the queue's own bound.
    let a = TestAgent::enroll(
        &c,
        dir.path(),
        "t-c",
        "fulldisk",
        "[queue]\nmax_size_bytes = 1048576\n",
    );
    let disk = Tmpfs::mount(&a.state.join("queue"), "384k");
    c.stop();
    let mut agent = ChildGuard::spawn("agent run", &mut a.command(&["run", "--interval", "5ms"]));
    // Run until the disk has been full for a while.
    let start = Instant::now();
    while a.generated() < 1500 {
        agent.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the agent stalled at {}",
            a.generated()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    agent.assert_running();
    assert!(a.queue_bytes() <= 384 << 10);
    // Space returns, and so does the collector.
    disk.resize("8m");
    c.restart();
    let start = Instant::now();
    // Drained: the backlog (thousands) is gone. A report every 5 ms means
    // a few always wait behind the batch on the wire when a send takes
    // longer than that (PostgreSQL's round trips), so "none" is too much.
    while host_counts(&c, &a.id).queued > 20 || host_counts(&c, &a.id).reports == 0 {
        agent.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no recovery: {:?}",
            host_counts(&c, &a.id)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(agent.terminate().success());
    let counts = drain(&c, &a);
    assert_accounted(&c, &a, counts);
    assert!(dropped(&c, &a.id, "disk_full") > 0, "{counts:?}");
    assert_eq!(
        dropped(&c, &a.id, "corrupt"),
        0,
        "no corrupt record may be delivered or lost"
    );
    assert_eq!(
        dropped(&c, &a.id, "rejected"),
        0,
        "the collector refused nothing"
    );
    // The oldest went first: what arrived is the newest stretch plus
    // whatever was sent before the disk filled.
    let stored = c.stored_sequences(&a.id);
    assert_eq!(*stored.last().unwrap(), a.generated());
    drop(disk);
}
