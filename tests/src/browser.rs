//! A real headless Chromium for page tests, driven over WebDriver by
//! chromedriver (Debian `chromium` and `chromium-driver`): load a page,
//! fill and submit a form, read the DOM, read cookies, save a full-page
//! screenshot as a test artifact.
//!
//! WebDriver rather than `chromium --dump-dom`: the status page has a
//! login form and a session cookie, which a one-shot dump cannot get past.

use crate::{ChildGuard, free_port, require};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A Chromium session; the browser quits when this is dropped.
pub struct Browser {
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    /// Talks to chromedriver.
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    /// Chromium's profile, removed on drop.
    _profile: tempfile::TempDir,
    /// Dropped last: killing chromedriver after the session is deleted.
    _driver: ChildGuard,
}

/// Where a test's artifacts go: `target/test-artifacts/<test>/` (or under
/// `$CARGO_TARGET_DIR`), created empty-or-existing.
pub fn artifacts_dir(test: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"));
    let dir = target.join("test-artifacts").join(test);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A reqwest client for plain HTTP on loopback (chromedriver, the agent's
/// local page).
pub fn plain_client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("HTTP client")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium that accepts the test
    /// CA's certificates (`acceptInsecureCerts`: the test collector's CA is
    /// not in the system store).
    pub fn start() -> Self {
        let chromium = require("chromium", "chromium");
        let chromedriver = require("chromedriver", "chromium-driver");
        let port = free_port();
        let mut driver = ChildGuard::spawn(
            "chromedriver",
            Command::new(chromedriver).arg(format!("--port={port}")),
        );
        driver.wait_for_port(
            format!("127.0.0.1:{port}").parse().expect("an address"),
            Duration::from_secs(30),
        );
        let profile = tempfile::tempdir().expect("a profile directory");
        let rt = crate::rt();
        let http = plain_client();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // The tests run as root, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--window-size=1400,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let base = format!("http://127.0.0.1:{port}");
        let created = rt.block_on(async {
            http.post(format!("{base}/session"))
                .json(&caps)
                .send()
                .await
                .expect("chromedriver answers")
                .json::<Value>()
                .await
                .expect("a JSON answer")
        });
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver could not start Chromium: {created}"))
            .to_owned();
        Self {
            session: format!("{base}/session/{id}"),
            http,
            rt,
            _profile: profile,
            _driver: driver,
        }
    }

    /// One WebDriver command; returns its `value`, failing the test with
    /// the driver's error.
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let answer: Value = self.rt.block_on(async {
            let mut req = self.http.request(method.clone(), &url);
            if let Some(b) = &body {
                req = req.json(b);
            }
            req.send()
                .await
                .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
                .json()
                .await
                .unwrap_or_else(|e| panic!("WebDriver {method} {path}: not JSON: {e}"))
        });
        let value = answer.get("value").cloned().unwrap_or(Value::Null);
        if let Some(err) = value.get("error").and_then(Value::as_str) {
            panic!(
                "WebDriver {method} {path} failed: {err}: {}",
                value["message"]
            );
        }
        value
    }

    /// Loads `url` and waits for the page to finish loading.
    pub fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
        self.wait_for(
            "document.readyState === 'complete'",
            Duration::from_secs(30),
        );
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `js` (a function body; `arguments[i]` are `args`) in the page
    /// and returns what it returns.
    pub fn script(&self, js: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": js, "args": args })),
        )
    }

    /// The trimmed text of the first element matching `css`.
    pub fn text(&self, css: &str) -> Option<String> {
        self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;",
            json!([css]),
        )
        .as_str()
        .map(str::to_owned)
    }

    /// An attribute of the first element matching `css`.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;",
            json!([css, name]),
        )
        .as_str()
        .map(str::to_owned)
    }

    /// How many elements match `css`.
    pub fn count(&self, css: &str) -> usize {
        self.script(
            "return document.querySelectorAll(arguments[0]).length;",
            json!([css]),
        )
        .as_u64()
        .unwrap_or(0) as usize
    }

    /// Every `data-key` of the rows of the table with id `table`.
    pub fn row_keys(&self, table: &str) -> Vec<String> {
        self.script(
            "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr')).map(r => r.dataset.key);",
            json!([table]),
        )
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
    }

    /// Waits until the JavaScript expression `condition` is true.
    pub fn wait_for(&self, condition: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            let ok = self.script(&format!("return !!({condition});"), json!([]));
            if ok.as_bool() == Some(true) {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for `{condition}` on {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn element(&self, css: &str) -> String {
        let v = self.call(
            reqwest::Method::POST,
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    /// Types `text` into the element matching `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Clicks the element matching `css`.
    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        );
    }

    /// The cookies the browser holds for the current page (HttpOnly ones
    /// included), as WebDriver describes them.
    pub fn cookies(&self) -> Vec<Value> {
        self.call(reqwest::Method::GET, "/cookie", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Saves a screenshot of the whole page (the window is stretched to
    /// the page's height first) as a PNG at `path`.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let height = self
            .script(
                "return Math.max(document.documentElement.scrollHeight, 600);",
                json!([]),
            )
            .as_u64()
            .unwrap_or(900)
            .min(8000);
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": 1400, "height": height + 120 })),
        );
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("a base64 screenshot"))
            .expect("valid base64");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": 1400, "height": 900 })),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Quits Chromium; chromedriver itself is killed by its guard.
        let url = self.session.clone();
        let http = self.http.clone();
        let _ = self
            .rt
            .block_on(async move { http.delete(url).send().await });
    }
}
