//! Real TSDBs that receive remote_write, started by a test on loopback:
//! VictoriaMetrics single-node (Debian package `victoria-metrics`) and
//! Prometheus with its remote-write receiver and an out-of-order window
//! (Debian package `prometheus`, 2.39 or later for the window). Both are
//! read back through their Prometheus query API with raw samples (a range
//! selector at an instant), so timestamps compare to the millisecond.

use crate::{ChildGuard, free_port, http_get_status, require};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

/// One series and its raw samples, (ms, value), oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSeries {
    /// Every label, `__name__` included.
    pub labels: BTreeMap<String, String>,
    /// (timestamp ms, value).
    pub samples: Vec<(i64, f64)>,
}

fn encode(q: &str) -> String {
    url::form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

/// A Prometheus-API query on `addr` that must succeed; the `data` object.
///
/// Prometheus 2.42 (Debian 12) can fail a query that overlaps its
/// out-of-order head while that head is being compacted, with "cannot
/// populate chunk ... not found" (prometheus/prometheus#13115, fixed in
/// 2.48); back-filling days at once triggers such a compaction. That
/// answer is asked again, for up to 30 s; any other error fails the test.
fn api(addr: SocketAddr, path_and_query: &str) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let (code, body) = http_get_status(addr, path_and_query);
        let v: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{path_and_query}: HTTP {code}, not JSON ({e}): {body}"));
        let compacting = v["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot populate chunk"));
        if v["status"] != "success" && compacting && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        assert_eq!(
            v["status"], "success",
            "{path_and_query}: HTTP {code}: {body}"
        );
        return v["data"].clone();
    }
}

/// Raw samples of `selector` over the `range_secs` before `at_ms`.
fn raw(addr: SocketAddr, selector: &str, range_secs: u64, at_ms: i64) -> Vec<RawSeries> {
    let q = encode(&format!("{selector}[{range_secs}s]"));
    let at = format!("{}.{:03}", at_ms / 1000, at_ms % 1000);
    let data = api(addr, &format!("/api/v1/query?query={q}&time={at}"));
    assert_eq!(data["resultType"], "matrix", "{data}");
    data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| RawSeries {
            labels: s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect(),
            samples: s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                    (t, p[1].as_str().unwrap().parse().unwrap())
                })
                .collect(),
        })
        .collect()
}

/// `query_range` of `promql` from `start_ms` to `end_ms`: each series'
/// labels and how many points it has.
fn range(
    addr: SocketAddr,
    promql: &str,
    start_ms: i64,
    end_ms: i64,
    step_secs: u64,
) -> Vec<(BTreeMap<String, String>, usize)> {
    let data = api(
        addr,
        &format!(
            "/api/v1/query_range?query={}&start={}&end={}&step={step_secs}",
            encode(promql),
            start_ms / 1000,
            end_ms / 1000
        ),
    );
    data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect(),
                s["values"].as_array().map_or(0, Vec::len),
            )
        })
        .collect()
}

fn wait_ready(child: &mut ChildGuard, addr: SocketAddr, path: &str, what: &str) {
    child.wait_for_port(addr, Duration::from_secs(60));
    let start = Instant::now();
    while http_get_status(addr, path).0 != 200 {
        child.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} is not ready after 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A VictoriaMetrics single-node with its storage in a temp dir; it can
/// be stopped and started again on the same port and storage.
pub struct VictoriaMetrics {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its storage, kept across restarts.
    dir: tempfile::TempDir,
    /// Killed on drop.
    child: Option<ChildGuard>,
}

impl VictoriaMetrics {
    /// Starts it and waits until `/health` answers.
    pub fn start() -> Self {
        let mut vm = Self {
            addr: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        vm.restart();
        vm
    }

    /// Starts it again (after [`Self::stop`]) on the same port and storage.
    pub fn restart(&mut self) {
        let bin = require("victoria-metrics", "victoria-metrics");
        let mut child = ChildGuard::spawn(
            "victoria-metrics",
            Command::new(bin)
                .arg(format!("-httpListenAddr={}", self.addr))
                .arg(format!("-storageDataPath={}", self.dir.path().display()))
                // Back-filled samples are days old; the default keeps a month.
                .arg("-retentionPeriod=100y")
                .arg("-loggerLevel=ERROR"),
        );
        wait_ready(&mut child, self.addr, "/health", "VictoriaMetrics");
        self.child = Some(child);
    }

    /// Stops it with SIGTERM (by PID) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(c) = self.child.take() {
            c.terminate();
        }
    }

    /// Its remote-write URL.
    pub fn write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Makes what it received searchable now (it buffers about a second).
    fn flush(&self) {
        let _ = http_get_status(self.addr, "/internal/force_flush");
    }

    /// Raw samples of `selector` over the `range_secs` before `at_ms`.
    pub fn raw(&self, selector: &str, range_secs: u64, at_ms: i64) -> Vec<RawSeries> {
        self.flush();
        raw(self.addr, selector, range_secs, at_ms)
    }

    /// `query_range` points per series.
    pub fn range(
        &self,
        promql: &str,
        start_ms: i64,
        end_ms: i64,
        step_secs: u64,
    ) -> Vec<(BTreeMap<String, String>, usize)> {
        self.flush();
        range(self.addr, promql, start_ms, end_ms, step_secs)
    }
}

/// Prometheus with `--web.enable-remote-write-receiver` and an
/// out-of-order window, scraping nothing.
pub struct PrometheusReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Config and storage.
    _dir: tempfile::TempDir,
    /// Killed on drop.
    _child: ChildGuard,
}

impl PrometheusReceiver {
    /// Starts it with `storage.tsdb.out_of_order_time_window` set to
    /// `ooo_window` (e.g. `"7d"`).
    pub fn start(ooo_window: &str) -> Self {
        let bin = require("prometheus", "prometheus");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!("storage:\n  tsdb:\n    out_of_order_time_window: {ooo_window}\n"),
        )
        .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = ChildGuard::spawn(
            "prometheus",
            Command::new(bin)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--web.enable-remote-write-receiver")
                // Its stderr is a pipe nobody reads: back-filled blocks
                // overlap, and the warning listing them would fill the
                // pipe and stall compaction (and with it every query).
                .arg("--log.level=error"),
        );
        wait_ready(&mut child, addr, "/-/ready", "Prometheus");
        Self {
            addr,
            _dir: dir,
            _child: child,
        }
    }

    /// Its remote-write URL.
    pub fn write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Raw samples of `selector` over the `range_secs` before `at_ms`.
    pub fn raw(&self, selector: &str, range_secs: u64, at_ms: i64) -> Vec<RawSeries> {
        raw(self.addr, selector, range_secs, at_ms)
    }

    /// `query_range` points per series.
    pub fn range(
        &self,
        promql: &str,
        start_ms: i64,
        end_ms: i64,
        step_secs: u64,
    ) -> Vec<(BTreeMap<String, String>, usize)> {
        range(self.addr, promql, start_ms, end_ms, step_secs)
    }
}
