//! A real Prometheus (Debian package `prometheus`) started by a test on a
//! loopback port, scraping the test's collector over TLS every second,
//! optionally evaluating rule files and alerting an Alertmanager, and
//! queried through its HTTP API.

use crate::{ChildGuard, free_port, http_get_status, require};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// What a test's Prometheus scrapes, evaluates and alerts.
pub struct PrometheusOptions<'a> {
    /// The collector (host:port), scraped over HTTPS as job
    /// `schoolwatch-collector`, the job the shipped alert rules name.
    pub target: SocketAddr,
    /// The CA that signed the collector's certificate.
    pub ca_file: &'a Path,
    /// Rule files as (file name, text), evaluated every second; none
    /// when empty.
    pub rules: &'a [(String, String)],
    /// The Alertmanager that firing rules are sent to, if any.
    pub alertmanager: Option<SocketAddr>,
}

/// A running Prometheus with its own storage in a temp dir.
pub struct Prometheus {
    /// Where its API listens.
    pub addr: SocketAddr,
    /// Holds the config, the rule files and the storage.
    _dir: tempfile::TempDir,
    /// Killed on drop.
    _child: ChildGuard,
}

impl Prometheus {
    /// Starts Prometheus with `options` and returns once it is ready (it
    /// listens before it has read its storage, and answers 503 until then).
    pub fn start(options: PrometheusOptions<'_>) -> Self {
        let prometheus = require("prometheus", "prometheus");
        let dir = tempfile::tempdir().unwrap();
        let mut config =
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                .to_owned();
        if !options.rules.is_empty() {
            let rules_dir = dir.path().join("rules");
            std::fs::create_dir(&rules_dir).unwrap();
            for (name, text) in options.rules {
                std::fs::write(rules_dir.join(name), text).unwrap();
            }
            config.push_str(&format!("rule_files:\n  - {}/*.yml\n", rules_dir.display()));
        }
        if let Some(am) = options.alertmanager {
            config.push_str(&format!(
                "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n"
            ));
        }
        config.push_str(&format!(
            "scrape_configs:\n  - job_name: schoolwatch-collector\n    scheme: https\n    tls_config:\n      ca_file: {ca}\n    static_configs:\n      - targets: ['{target}']\n",
            ca = options.ca_file.display(),
            target = options.target,
        ));
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = ChildGuard::spawn(
            "prometheus",
            Command::new(prometheus)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                // Its stderr is a pipe nobody reads; keep it short.
                .arg("--log.level=warn"),
        );
        child.wait_for_port(addr, Duration::from_secs(60));
        let start = Instant::now();
        while http_get_status(addr, "/-/ready").0 != 200 {
            child.assert_running();
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "Prometheus is not ready after 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            addr,
            _dir: dir,
            _child: child,
        }
    }

    /// An instant query: the result vector, or Prometheus's error text
    /// (a parse error, a many-to-many match, ...).
    pub fn try_query(&self, promql: &str) -> Result<Vec<serde_json::Value>, String> {
        let q: String = url::form_urlencoded::byte_serialize(promql.as_bytes()).collect();
        let (code, body) = http_get_status(self.addr, &format!("/api/v1/query?query={q}"));
        let v: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| format!("HTTP {code}, not JSON ({e}): {body}"))?;
        if v["status"] != "success" {
            return Err(format!("HTTP {code}: {} {}", v["errorType"], v["error"]));
        }
        Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// An instant query that must succeed.
    pub fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        self.try_query(promql)
            .unwrap_or_else(|e| panic!("{promql}: {e}"))
    }

    /// Polls `promql` until it returns at least `n` series (or fails after
    /// `timeout`, showing the last answer and the scrape targets).
    pub fn wait_for(&self, promql: &str, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let r = self.query(promql);
            if r.len() >= n {
                return r;
            }
            assert!(
                start.elapsed() < timeout,
                "{promql} returned {} series after {timeout:?} (wanted {n}): {r:?}; targets: {}",
                r.len(),
                http_get_status(self.addr, "/api/v1/targets").1
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `GET /api/v1/rules`: the rule groups as Prometheus loaded them,
    /// with each rule's health and last error.
    pub fn rule_groups(&self) -> Vec<serde_json::Value> {
        let (code, body) = http_get_status(self.addr, "/api/v1/rules");
        assert_eq!(code, 200, "/api/v1/rules: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        v["data"]["groups"].as_array().cloned().unwrap_or_default()
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
