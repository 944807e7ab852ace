//! The real agent binary in tests: `enroll` and `run --once` as commands
//! whose outcome a test asserts on, and an agent for durability tests with
//! its own state and config directory, enrolled (as a distinct machine)
//! with a test collector.

use crate::{Netns, TestCollector, bin};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `schoolwatch-agent --config CONFIG --state STATE`, run inside `ns` when
/// given. Without `config` it reads no config file ([`crate::agent_args`]),
/// so a test never picks up the machine's `/etc/schoolwatch`.
pub fn agent_command(ns: Option<&Netns>, config: Option<&Path>, state: &Path) -> Command {
    let agent = bin("schoolwatch-agent");
    let mut cmd = match ns {
        None => Command::new(agent),
        Some(ns) => ns.command(agent.to_str().expect("a UTF-8 binary path")),
    };
    match config {
        Some(config) => cmd.arg("--config").arg(config),
        None => cmd.args(crate::agent_args(&[])),
    };
    cmd.arg("--state").arg(state);
    cmd
}

/// Runs `cmd` to completion: (exit success, stdout, stderr).
fn outcome(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("the agent prints UTF-8");
    (out.status.success(), text(out.stdout), text(out.stderr))
}

/// Runs `schoolwatch-agent enroll --collector URL --token TOKEN --ca CA`
/// with state in `state` (see [`agent_command`] for `ns` and `config`);
/// returns (exit success, stdout, stderr) for the test to judge.
pub fn enroll(
    ns: Option<&Netns>,
    config: Option<&Path>,
    url: &str,
    token: &str,
    state: &Path,
    ca: &Path,
) -> (bool, String, String) {
    outcome(
        agent_command(ns, config, state)
            .args(["enroll", "--collector", url, "--token", token, "--ca"])
            .arg(ca),
    )
}

/// Runs `schoolwatch-agent run --once --interval INTERVAL` for the enrolled
/// state in `state`; `Err` holds its stderr if it fails.
pub fn run_once(config: Option<&Path>, state: &Path, interval: &str) -> Result<(), String> {
    succeeds(agent_command(None, config, state).args(["run", "--once", "--interval", interval]))
}

/// Runs `cmd` to completion: `Ok` if it exits successfully, else `Err`
/// with its stderr.
fn succeeds(cmd: &mut Command) -> Result<(), String> {
    let (ok, _, stderr) = outcome(cmd);
    if ok { Ok(()) } else { Err(stderr) }
}

/// An enrolled agent's files.
pub struct TestAgent {
    /// The state directory (credential, CA, sequence, queue).
    pub state: PathBuf,
    /// The agent.toml used.
    pub config: PathBuf,
    /// The host's agent id.
    pub id: String,
}

impl TestAgent {
    /// Enrolls a distinct machine `name` into `school` and writes its state
    /// under `dir/name`, with `config` as its agent.toml.
    pub fn enroll(c: &TestCollector, dir: &Path, school: &str, name: &str, config: &str) -> Self {
        let (id, credential) = c.enroll_as(school, name, name);
        let state = dir.join(name);
        Self::write_state(c, &state, &id, school, &credential);
        let config_path = dir.join(format!("{name}.toml"));
        std::fs::write(&config_path, config).unwrap();
        Self {
            state,
            config: config_path,
            id,
        }
    }

    /// Writes the files `schoolwatch-agent enroll` would write.
    pub fn write_state(c: &TestCollector, state: &Path, id: &str, school: &str, credential: &str) {
        std::fs::create_dir_all(state).unwrap();
        std::fs::write(state.join("ca.pem"), &c.ca_pem).unwrap();
        std::fs::write(
            state.join("credential.json"),
            serde_json::json!({
                "collector": c.url, "agent_id": id, "school_id": school, "credential": credential,
            })
            .to_string(),
        )
        .unwrap();
    }

    /// `schoolwatch-agent --config CONFIG --state STATE --log-level warn
    /// ARGS...`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = agent_command(None, Some(&self.config), &self.state);
        cmd.args(["--log-level", "warn"]).args(args);
        cmd
    }

    /// Runs `run --once --interval 10ms`: one report generated and the
    /// queue sent; `Err` holds its stderr if it fails.
    pub fn run_once(&self) -> Result<(), String> {
        succeeds(&mut self.command(&["run", "--once", "--interval", "10ms"]))
    }

    /// The last sequence the agent recorded as generated.
    pub fn generated(&self) -> u64 {
        std::fs::read_to_string(self.state.join("sequence"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Bytes of the queue's segment files now.
    pub fn queue_bytes(&self) -> u64 {
        std::fs::read_dir(self.state.join("queue"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

/// What the collector says about one host's reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCounts {
    /// `schoolwatch_host_reports_total`.
    pub reports: u64,
    /// `schoolwatch_host_last_sequence`.
    pub last_sequence: u64,
    /// Sum of `schoolwatch_host_queue_dropped_reports_total` over reasons.
    pub dropped: u64,
    /// `schoolwatch_host_queue_reports` (waiting, per the newest report).
    pub queued: u64,
}

/// Reads a host's counts from `/metrics` (zeros before its first report).
pub fn host_counts(c: &TestCollector, agent_id: &str) -> HostCounts {
    let text = c.metrics();
    let one =
        |name: &str| crate::metric(&text, name, &[("agent_id", agent_id)]).unwrap_or(0.0) as u64;
    let dropped = ["queue_full", "disk_full", "corrupt", "rejected"]
        .iter()
        .map(|r| {
            crate::metric(
                &text,
                "schoolwatch_host_queue_dropped_reports_total",
                &[("agent_id", agent_id), ("reason", r)],
            )
            .unwrap_or(0.0) as u64
        })
        .sum();
    HostCounts {
        reports: one("schoolwatch_host_reports_total"),
        last_sequence: one("schoolwatch_host_last_sequence"),
        dropped,
        queued: one("schoolwatch_host_queue_reports"),
    }
}

/// One reason's dropped count from `/metrics`, once the host is there:
/// the collector keeps a fleet picture for a while in proportion to what
/// it cost to build, so a host that just reported may take a moment.
pub fn dropped(c: &TestCollector, agent_id: &str, reason: &str) -> u64 {
    let start = std::time::Instant::now();
    loop {
        let text = c.metrics();
        let here = crate::metric(
            &text,
            "schoolwatch_host_reports_total",
            &[("agent_id", agent_id)],
        )
        .is_some();
        if here || start.elapsed() > std::time::Duration::from_secs(15) {
            return crate::metric(
                &text,
                "schoolwatch_host_queue_dropped_reports_total",
                &[("agent_id", agent_id), ("reason", reason)],
            )
            .unwrap_or(0.0) as u64;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
