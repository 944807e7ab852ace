//! The alerting path for end-to-end tests: a real Alertmanager (Debian
//! package `prometheus-alertmanager`) that the test's Prometheus
//! ([`crate::prometheus`], started with the shipped rule files) sends
//! alerts to, and a webhook receiver that records what Alertmanager
//! delivers. All on loopback, all stopped on drop.
//!
//! The shipped files stay as they are; the test runs copies made by
//! [`shorten_for`] (rule waits in seconds instead of minutes) and
//! [`alertmanager_config_for_test`] (receivers pointed at the webhook,
//! grouping waits in seconds).

use crate::{ChildGuard, free_port, http_get_status, require};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// === impl Webhook ===

/// One POST that reached the webhook receiver.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The request path (the test gives each receiver its own).
    pub path: String,
    /// When it arrived.
    pub at: Instant,
    /// The JSON body Alertmanager sent.
    pub body: serde_json::Value,
}

impl Notification {
    /// The `receiver` field of the payload.
    pub fn receiver(&self) -> &str {
        self.body["receiver"].as_str().unwrap_or("")
    }

    /// The alerts of the payload.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        self.body["alerts"].as_array().cloned().unwrap_or_default()
    }

    /// Whether it carries an alert named `alertname` for `school` with
    /// `status` (`firing` or `resolved`).
    pub fn has(&self, alertname: &str, school: &str, status: &str) -> bool {
        self.alerts().iter().any(|a| {
            a["labels"]["alertname"] == alertname
                && a["labels"]["school"] == school
                && a["status"] == status
        })
    }
}

/// A tiny HTTP server on 127.0.0.1 that answers 200 to every POST and
/// records its body; it stands for the district offices' webhooks.
pub struct Webhook {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Notification>>>,
    /// Set on drop so that the accept loop ends.
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Webhook {
    /// Starts listening on an ephemeral loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook");
        let addr = listener.local_addr().expect("webhook address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let received = Arc::clone(&received);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let received = Arc::clone(&received);
                    std::thread::spawn(move || {
                        if let Some(n) = read_post(conn) {
                            received.lock().unwrap().push(n);
                        }
                    });
                }
            })
        };
        Self {
            addr,
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// Everything received so far, oldest first.
    pub fn notifications(&self) -> Vec<Notification> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until a notification satisfies `pred`, failing after
    /// `timeout` with everything received so far.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Notification) -> bool,
    ) -> Notification {
        let start = Instant::now();
        loop {
            if let Some(n) = self.notifications().into_iter().find(|n| pred(n)) {
                return n;
            }
            assert!(
                start.elapsed() < timeout,
                "no notification {what} after {timeout:?}; received: {}",
                describe(&self.notifications())
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so that the loop sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One line per notification: receiver, then each alert's name, school
/// and status; for failure messages.
pub fn describe(ns: &[Notification]) -> String {
    let mut out = String::new();
    for n in ns {
        out.push_str(&format!("\n  {} ({}):", n.receiver(), n.path));
        for a in n.alerts() {
            out.push_str(&format!(
                " {}{{school={}}} {};",
                a["labels"]["alertname"].as_str().unwrap_or("?"),
                a["labels"]["school"].as_str().unwrap_or(""),
                a["status"].as_str().unwrap_or("?")
            ));
        }
    }
    if out.is_empty() {
        out.push_str("nothing");
    }
    out
}

/// Reads one HTTP/1.1 request with a Content-Length body and answers 200.
fn read_post(conn: TcpStream) -> Option<Notification> {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut r = BufReader::new(conn);
    let mut request_line = String::new();
    r.read_line(&mut request_line).ok()?;
    let path = request_line.split_whitespace().nth(1)?.to_owned();
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).ok()?;
    let mut conn = r.into_inner();
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    Some(Notification {
        path,
        at: Instant::now(),
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    })
}

// === impl Alertmanager ===

/// A running Alertmanager on a loopback port, without clustering.
pub struct Alertmanager {
    /// Where its API listens.
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
    _child: ChildGuard,
}

impl Alertmanager {
    /// Starts Alertmanager with `config` (YAML text).
    pub fn start(config: &str) -> Self {
        let binary = require("prometheus-alertmanager", "prometheus-alertmanager");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alertmanager.yml");
        std::fs::write(&path, config).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = ChildGuard::spawn(
            "prometheus-alertmanager",
            Command::new(binary)
                .arg(format!("--config.file={}", path.display()))
                .arg(format!(
                    "--storage.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                // No gossip: it would listen on every interface.
                .arg("--cluster.listen-address=")
                // Its stderr is a pipe nobody reads; keep it short.
                .arg("--log.level=warn"),
        );
        child.wait_for_port(addr, Duration::from_secs(60));
        Self {
            addr,
            _dir: dir,
            _child: child,
        }
    }

    /// `GET /api/v2/alerts?<query>`: the alerts Alertmanager holds, each
    /// with `labels` and `status` (`state`, `inhibitedBy`, `silencedBy`).
    pub fn alerts(&self, query: &str) -> Vec<serde_json::Value> {
        let (code, body) = http_get_status(self.addr, &format!("/api/v2/alerts?{query}"));
        assert_eq!(code, 200, "Alertmanager /api/v2/alerts: {body}");
        serde_json::from_str(&body).expect("Alertmanager answers JSON")
    }
}

/// The shipped `alertmanager.yml` made fit for a test: every webhook `url:`
/// points at `webhook` with the receiver's name as the path, and the
/// grouping waits are `group_wait` and `group_interval`. Fails if the file
/// no longer has the lines it rewrites, so a change of shape is noticed.
pub fn alertmanager_config_for_test(
    shipped: &str,
    webhook: &Webhook,
    group_wait: &str,
    group_interval: &str,
) -> String {
    let mut out = String::new();
    let mut receiver = None::<String>;
    let (mut urls, mut waits, mut intervals) = (0, 0, 0);
    for line in shipped.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if let Some(name) = trimmed.strip_prefix("- name:") {
            receiver = Some(name.trim().trim_matches('"').to_owned());
        }
        if trimmed.starts_with("- url:") {
            let name = receiver.as_deref().expect("a url: inside a receiver");
            out.push_str(&format!("{indent}- url: \"{}\"\n", webhook.url(name)));
            urls += 1;
        } else if trimmed.starts_with("group_wait:") {
            out.push_str(&format!("{indent}group_wait: {group_wait}\n"));
            waits += 1;
        } else if trimmed.starts_with("group_interval:") {
            out.push_str(&format!("{indent}group_interval: {group_interval}\n"));
            intervals += 1;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(
        urls > 0,
        "no `- url:` line in alertmanager.yml to point at the webhook"
    );
    assert!(
        waits > 0 && intervals > 0,
        "alertmanager.yml has no group_wait/group_interval to shorten"
    );
    out
}

/// A rule file with every `for:` wait turned from minutes into seconds
/// (`for: 10m` becomes `for: 10s`, `for: 1h` becomes `for: 60s`), so the
/// order of the waits is kept and a test runs in seconds.
pub fn shorten_for(rules: &str) -> String {
    rules
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let Some(value) = trimmed.strip_prefix("for:") else {
                return format!("{line}\n");
            };
            let indent = &line[..line.len() - trimmed.len()];
            let secs = parse_duration(value.trim())
                .unwrap_or_else(|| panic!("cannot read the wait in {line:?}"));
            format!("{indent}for: {}s\n", (secs / 60).max(1))
        })
        .collect()
}

/// Seconds in a Prometheus duration such as `90s`, `10m`, `1h30m`.
fn parse_duration(s: &str) -> Option<u64> {
    let mut total = 0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                return None; // milliseconds: not used in our rules
            }
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        total += n * unit;
    }
    num.is_empty().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_become_seconds_in_order() {
        let rules = "      - alert: A\n        for: 10m\n      - alert: B\n        for: 1h\n        expr: rate(x[10m])\n      - alert: C\n        for: 30s\n";
        assert_eq!(
            shorten_for(rules),
            "      - alert: A\n        for: 10s\n      - alert: B\n        for: 60s\n        expr: rate(x[10m])\n      - alert: C\n        for: 1s\n"
        );
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("10"), None);
    }
}
