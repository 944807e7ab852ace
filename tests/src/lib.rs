//! Helpers for end-to-end tests: the built binaries, required system tools,
//! network namespaces and child processes that clean up after themselves,
//! and reading Prometheus text exposition.
//!
//! Tests here run real processes against ground truth (`/proc`, `ip`,
//! peer exporters). A missing tool is a failure that says what to install,
//! never a silent skip: `scripts/test.sh` installs everything first.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod agent;
pub mod alertmanager;
pub mod browser;
pub mod collector;
pub mod fuzzing;
pub mod netns;
pub mod postgres;
pub mod prometheus;
pub mod roundrobin;
pub mod snmp;
pub mod tsdb;
pub use collector::TestCollector;
pub use netns::Netns;

/// A small tokio runtime for tests that drive async clients.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The workspace root (the parent of the `tests` crate), where the
/// shipped `config/` and `dashboards/` live.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// Path of a workspace binary built by `cargo build --workspace --bins`.
///
/// Cargo builds only the current package's binaries for its integration
/// tests, so ours are found next to the test executable's `deps/` folder.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Fails with an install hint if `tool` is not on PATH.
pub fn require(tool: &str, debian_package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`{tool}` is missing: install it with `apt-get install {debian_package}` (scripts/test.sh does)")
    })
}

/// Runs a command to completion, failing the test with its stderr if it
/// exits non-zero.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command and returns its stdout as text.
pub fn stdout_of(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).expect("command printed UTF-8")
}

/// Runs `schoolwatch-agent` with no config file (defaults) and the given
/// arguments, returning its stdout.
pub fn agent(args: &[&str]) -> String {
    stdout_of(Command::new(bin("schoolwatch-agent")).args(agent_args(args)))
}

/// Arguments for the agent that point it at a config file that does not
/// exist, so that tests never read the machine's `/etc/schoolwatch`.
pub fn agent_args<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--config", "/nonexistent/schoolwatch-test/agent.toml"];
    v.extend_from_slice(args);
    v
}

/// A child process that is killed (by its PID) when dropped, so a failing
/// test never leaves a server running.
pub struct ChildGuard {
    child: Child,
    what: String,
}

impl ChildGuard {
    /// Starts `cmd` with its output discarded.
    pub fn spawn(what: &str, cmd: &mut Command) -> Self {
        Self::start(what, cmd, Stdio::null())
    }

    /// Starts `cmd` with stdout piped, for tests that read it line by line.
    pub fn spawn_piped(what: &str, cmd: &mut Command) -> Self {
        Self::start(what, cmd, Stdio::piped())
    }

    /// Starts `cmd` with no stdin, `stdout` as given and stderr piped (read
    /// by [`Self::assert_running`] when the child dies early).
    fn start(what: &str, cmd: &mut Command, stdout: Stdio) -> Self {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
        Self {
            child,
            what: what.to_owned(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdout, once.
    pub fn take_stdout(&mut self) -> std::process::ChildStdout {
        self.child.stdout.take().expect("stdout was piped")
    }

    /// Fails the test (with the child's stderr) if the child has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = self.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("{} exited early with {status}: {err}", self.what);
        }
    }

    /// Waits until the child accepts TCP connections on `addr`, failing
    /// at once (with its stderr) if it exits instead.
    pub fn wait_for_port(&mut self, addr: SocketAddr, timeout: Duration) {
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            self.assert_running();
            assert!(
                start.elapsed() < timeout,
                "{} does not listen on {addr} after {timeout:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM (by PID) and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        run(Command::new("kill").args(["-TERM", &self.child.id().to_string()]));
        self.child.wait().expect("wait for child")
    }

    /// Waits for the child to exit on its own.
    pub fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for child")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A small deterministic random source for tests that kill or corrupt at
/// random: the seed is printed, and `SCHOOLWATCH_TEST_SEED` replays it.
pub struct Rng(u64);

impl Rng {
    /// Seeded from the environment or the clock; prints the seed.
    pub fn from_env(test: &str) -> Self {
        let seed = std::env::var("SCHOOLWATCH_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("{test}: SCHOOLWATCH_TEST_SEED={seed}");
        Self(seed | 1)
    }

    /// The next value (xorshift64*).
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

/// A plain HTTP/1.0 GET on loopback; returns the body of a 200 answer and
/// fails the test on any other status.
///
/// Enough for scraping test peers on 127.0.0.1; the product's own HTTP
/// clients use reqwest.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    let (code, body) = http_get_status(addr, path);
    assert_eq!(code, 200, "GET {path}: HTTP {code}: {body}");
    body
}

/// A plain HTTP/1.0 GET on loopback: (status code, body), error answers
/// included, for callers that act on the status (a Prometheus that is
/// still loading answers 503; a PromQL error comes with a message).
pub fn http_get_status(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send request");
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).expect("status line");
    let code = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: bad status line {status:?}"));
    let mut line = String::new();
    while r.read_line(&mut line).expect("header") > 2 {
        line.clear();
    }
    let mut body = String::new();
    r.read_to_string(&mut body).expect("body");
    (code, body)
}

/// The value of the first sample of `name` whose labels contain every
/// `key="value"` pair in `labels`, in Prometheus text exposition.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (label_part, value) = if let Some(r) = rest.strip_prefix('{') {
                let end = r.rfind('}')?;
                (&r[..end], r[end + 1..].trim())
            } else if rest.starts_with(' ') {
                ("", rest.trim())
            } else {
                return None;
            };
            let all = labels
                .iter()
                .all(|(k, v)| label_part.contains(&format!("{k}=\"{v}\"")));
            if !all {
                return None;
            }
            value.split_whitespace().next()?.parse().ok()
        })
}
