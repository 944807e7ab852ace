//! A real Prometheus (Debian package `prometheus`) started by a test on a
//! loopback port, scraping the test's collector over TLS, and queried
//! through its HTTP API.

use crate::{ChildGuard, free_port, http_get, require};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A running Prometheus with its own storage in a temp dir.
pub struct Prometheus {
    /// Where its API listens.
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
    _child: ChildGuard,
}

impl Prometheus {
    /// Scrapes `target` (host:port) over HTTPS, trusting `ca_file`, every
    /// second.
    pub fn scraping(target: SocketAddr, ca_file: &Path) -> Self {
        let prometheus = require("prometheus", "prometheus");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: schoolwatch\n    scheme: https\n    tls_config:\n      ca_file: {}\n    static_configs:\n      - targets: ['{target}']\n",
                ca_file.display()
            ),
        )
        .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = ChildGuard::spawn(
            "prometheus",
            Command::new(prometheus)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}")),
        );
        child.wait_for_port(addr, Duration::from_secs(60));
        Self {
            addr,
            _dir: dir,
            _child: child,
        }
    }

    /// Runs an instant query; returns the result vector.
    pub fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let q: String = url::form_urlencoded::byte_serialize(promql.as_bytes()).collect();
        let body = http_get(self.addr, &format!("/api/v1/query?query={q}"));
        let v: serde_json::Value = serde_json::from_str(&body).expect("Prometheus answers JSON");
        assert_eq!(v["status"], "success", "{promql}: {body}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `promql` until it returns at least one series (or fails after
    /// `timeout`, showing the last answer).
    pub fn wait_for(&self, promql: &str, timeout: Duration) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let r = self.query(promql);
            if !r.is_empty() {
                return r;
            }
            assert!(
                start.elapsed() < timeout,
                "{promql} returned nothing after {timeout:?}; targets: {}",
                http_get(self.addr, "/api/v1/targets")
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// The numeric value of one query result.
pub fn value(series: &serde_json::Value) -> f64 {
    series["value"][1]
        .as_str()
        .expect("a sample value")
        .parse()
        .expect("a number")
}
