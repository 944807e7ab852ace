//! A real collector process for a test: its own data directory, TLS
//! certificates made for the test, a small registry, and helpers to enroll
//! agents and talk to it.

use crate::postgres::TestDatabase;
use crate::{ChildGuard, bin, free_port, stdout_of};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// A small registry: four schools in two districts, with Vietnamese names.
pub const TEST_REGISTRY: &str = "id,name,district,level,expected_lab_pcs,link_kind,contracted_mbps
t-a,\"Trường Tiểu học A, Pleiku\",Pleiku,primary,20,fibre,50
t-b,\"Trường THCS B, Pleiku\",Pleiku,lower-secondary,25,4g,25
t-c,\"Trường THPT C, Chư Păh\",Chư Păh,upper-secondary,40,fibre,100
t-d,\"Trường Tiểu học D, Chư Păh\",Chư Păh,primary,0,4g,25
";

/// A collector serving HTTPS on loopback.
pub struct TestCollector {
    /// Holds the data directory, config and certificates.
    pub dir: tempfile::TempDir,
    /// Where it listens.
    pub addr: SocketAddr,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The CA that signed its certificate.
    pub ca_pem: String,
    /// The config file.
    pub config: PathBuf,
    /// The network namespace it runs in, if not the test's own.
    ns: Option<String>,
    child: Option<ChildGuard>,
    /// Its PostgreSQL database on the PostgreSQL pass (`SCHOOLWATCH_TEST_POSTGRES`
    /// set), shared with the collectors made by [`Self::sibling`]; dropped
    /// with the last of them, after `child` (declared before) is killed.
    database: Option<Arc<TestDatabase>>,
}

impl TestCollector {
    /// Starts a collector with `TEST_REGISTRY` imported; `extra` is appended
    /// to its config (e.g. an `[ingest]` table).
    pub fn start(extra: &str) -> Self {
        Self::start_in(None, "127.0.0.1", &[], extra)
    }

    /// Starts a collector inside `ns` (the root namespace when `None`)
    /// listening on `ip`, with a certificate also valid for `more_names`.
    pub fn start_in(ns: Option<&crate::Netns>, ip: &str, more_names: &[&str], extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut names = vec![ip.to_owned(), "localhost".to_owned()];
        names.extend(more_names.iter().map(|n| (*n).to_owned()));
        let pki = schoolwatch_collector::tls::demo_pki(&names).expect("make test certificates");
        std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
        std::fs::write(dir.path().join("collector.pem"), &pki.cert_pem).unwrap();
        std::fs::write(dir.path().join("collector.key"), &pki.key_pem).unwrap();
        let port = free_port();
        let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        let config = dir.path().join("collector.toml");
        // On the PostgreSQL pass the store is a fresh database; data_dir
        // still holds the rest (remote_write queues and such).
        let database = TestDatabase::create().map(Arc::new);
        // A collector in a network namespace reaches the server by its
        // Unix socket: the namespace's 127.0.0.1 is not the server's.
        let store = match &database {
            None => String::new(),
            Some(db) => {
                let url = match ns {
                    None => db.url.clone(),
                    Some(_) => db.socket_url().unwrap_or_else(|| {
                        panic!(
                            "{} is not set: scripts/with-postgres.sh sets it",
                            crate::postgres::SOCKET_ENV
                        )
                    }),
                };
                format!("backend = \"postgres\"\nurl = \"{url}\"\n")
            }
        };
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"{addr}\"\ntls_cert = \"collector.pem\"\ntls_key = \"collector.key\"\n\
                 [store]\ndata_dir = \"data\"\n{store}{extra}\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("schools.csv"), TEST_REGISTRY).unwrap();
        let mut c = Self {
            url: format!("https://{addr}"),
            addr,
            ca_pem: pki.ca_pem,
            config,
            dir,
            ns: ns.map(|n| n.name().to_owned()),
            child: None,
            database,
        };
        let csv = c.dir.path().join("schools.csv");
        c.cli(&["schools", "import", csv.to_str().unwrap()]);
        c.restart();
        c
    }

    /// A second collector sharing this one's PostgreSQL database, config
    /// and certificate (agents trust either), with a directory, data_dir
    /// and loopback port of its own: several collectors behind one
    /// address. Only on the PostgreSQL pass; SQLite is one collector's.
    pub fn sibling(&self) -> Self {
        let database = self
            .database
            .clone()
            .expect("collectors share a store only on PostgreSQL: check postgres::server() first");
        assert!(
            self.ns.is_none(),
            "siblings run in the test's own namespace"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        // The top-level files: config, certificate, key, CA, registry and
        // whatever a test added beside them (not data/ nor agent states).
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
            }
        }
        let addr: SocketAddr = format!("{}:{}", self.addr.ip(), free_port())
            .parse()
            .unwrap();
        let config = dir.path().join("collector.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        let listen = format!("listen = \"{}\"", self.addr);
        assert!(text.contains(&listen), "{text}");
        std::fs::write(
            &config,
            text.replacen(&listen, &format!("listen = \"{addr}\""), 1),
        )
        .unwrap();
        let mut c = Self {
            url: format!("https://{addr}"),
            addr,
            ca_pem: self.ca_pem.clone(),
            config,
            dir,
            ns: None,
            child: None,
            database: Some(database),
        };
        c.restart();
        c
    }

    /// The PostgreSQL URL of its store, on the PostgreSQL pass.
    pub fn postgres_url(&self) -> Option<&str> {
        self.database.as_deref().map(|db| db.url.as_str())
    }

    /// Starts (or starts again) the `serve` process and waits for it.
    pub fn restart(&mut self) {
        self.child = None;
        let collector = bin("schoolwatch-collector");
        let mut cmd = match &self.ns {
            None => Command::new(collector),
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(collector);
                c
            }
        };
        cmd.arg("--config").arg(&self.config).arg("serve");
        let mut child = ChildGuard::spawn("schoolwatch-collector serve", &mut cmd);
        match &self.ns {
            None => child.wait_for_port(self.addr, Duration::from_secs(30)),
            Some(ns) => {
                // The test's own namespace cannot reach it; ask from inside.
                let start = std::time::Instant::now();
                let probe = format!("exec 3<>/dev/tcp/{}/{}", self.addr.ip(), self.addr.port());
                while !Command::new("ip")
                    .args(["netns", "exec", ns, "bash", "-c", &probe])
                    .status()
                    .is_ok_and(|s| s.success())
                {
                    child.assert_running();
                    assert!(
                        start.elapsed() < Duration::from_secs(30),
                        "collector in {ns} never listened"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        self.child = Some(child);
    }

    /// Stops the `serve` process with SIGTERM; returns its exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        self.child.take().map(ChildGuard::terminate)
    }

    /// Runs `schoolwatch-collector --config CFG ARGS...`, returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        stdout_of(
            Command::new(bin("schoolwatch-collector"))
                .arg("--config")
                .arg(&self.config)
                .args(args),
        )
    }

    /// The CA file.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A fresh enrollment token for `school`.
    pub fn token(&self, school: &str) -> String {
        self.cli(&["token", "create", "--school", school])
            .trim()
            .to_owned()
    }

    /// Enrolls the real agent binary with state in `state`; returns the
    /// agent id from the state file.
    pub fn enroll_agent(&self, school: &str, state: &Path) -> String {
        let (ok, _, err) = crate::agent::enroll(
            None,
            None,
            &self.url,
            &self.token(school),
            state,
            &self.ca_path(),
        );
        assert!(ok, "schoolwatch-agent enroll failed: {err}");
        Self::agent_id(state)
    }

    /// The agent id an enrolled agent saved.
    pub fn agent_id(state: &Path) -> String {
        saved_credential_field(state, "agent_id")
    }

    /// The credential an enrolled agent saved.
    pub fn credential(state: &Path) -> String {
        saved_credential_field(state, "credential")
    }

    /// Runs `schoolwatch-agent run --once` for an enrolled state dir.
    pub fn agent_once(&self, state: &Path) {
        crate::agent::run_once(None, state, "300ms")
            .unwrap_or_else(|err| panic!("schoolwatch-agent run --once failed: {err}"));
    }

    /// An HTTPS client trusting the test CA.
    pub fn client(&self) -> reqwest::Client {
        https_client(&self.ca_pem)
    }

    /// POSTs a report batch body with `credential` (if any) and extra
    /// headers; returns the answer.
    pub fn post(
        &self,
        credential: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        crate::rt().block_on(async {
            let mut req = self
                .client()
                .post(format!("{}/api/v1/reports", self.url))
                .header("content-type", "application/json");
            if let Some(cred) = credential {
                req = req.bearer_auth(cred);
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let r = req.body(body).send().await.expect("the collector answers");
            Answer {
                status: r.status().as_u16(),
                retry_after: r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body: r.text().await.expect("a text body"),
            }
        })
    }

    /// Enrolls an agent into `school` with its state under `name` and
    /// returns (agent id, credential), for tests that post reports by hand.
    pub fn enrolled(&self, school: &str, name: &str) -> (String, String) {
        let state = self.dir.path().join(name);
        let id = self.enroll_agent(school, &state);
        (id, Self::credential(&state))
    }

    /// Enrolls a machine with this `fingerprint` over HTTP directly, for
    /// tests that stand for many machines from one; returns (agent id,
    /// credential).
    pub fn enroll_as(&self, school: &str, fingerprint: &str, hostname: &str) -> (String, String) {
        let req = schoolwatch_protocol::api::EnrollRequest {
            token: self.token(school),
            fingerprint: fingerprint.to_owned(),
            hostname: hostname.to_owned(),
        };
        let resp: schoolwatch_protocol::api::EnrollResponse = crate::rt().block_on(async {
            self.client()
                .post(format!("{}/api/v1/enroll", self.url))
                .json(&req)
                .send()
                .await
                .expect("the collector answers")
                .error_for_status()
                .expect("enrollment accepted")
                .json()
                .await
                .expect("an enrollment answer")
        });
        (resp.agent_id, resp.credential)
    }

    /// The sequences stored for `agent_id`, read from the collector's
    /// database: its PostgreSQL database on that pass, else the SQLite file
    /// (safe while it runs: WAL lets readers in).
    pub fn stored_sequences(&self, agent_id: &str) -> Vec<u64> {
        if let Some(url) = self.postgres_url() {
            let agent_id = agent_id.to_owned();
            return crate::postgres::with_client(url, move |c| {
                let rows = c.query(
                    "SELECT sequence::bigint FROM reports WHERE agent_id = $1 ORDER BY sequence",
                    &[&agent_id],
                )?;
                Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect())
            })
            .unwrap_or_else(|e| panic!("read the stored sequences from {url}: {e:#}"));
        }
        let db = self.dir.path().join("data").join("schoolwatch.db");
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .expect("open the collector's database");
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        let mut stmt = conn
            .prepare("SELECT sequence FROM reports WHERE agent_id = ?1 ORDER BY sequence")
            .unwrap();
        stmt.query_map([agent_id], |r| r.get::<_, i64>(0))
            .unwrap()
            .map(|r| r.unwrap() as u64)
            .collect()
    }

    /// `/metrics` in the Prometheus text format.
    pub fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// GET `path` (with its query): status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        let rt = crate::rt();
        rt.block_on(async {
            let r = self
                .client()
                .get(format!("{}{path}", self.url))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }
}

/// One string field of the `credential.json` an enrolled agent saved.
fn saved_credential_field(state: &Path, field: &str) -> String {
    let cred: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("credential.json")).unwrap()).unwrap();
    cred[field].as_str().unwrap().to_owned()
}

/// An HTTP answer.
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// The `Retry-After` header.
    pub retry_after: Option<String>,
    /// The body.
    pub body: String,
}

/// The JSON body of a batch of reports.
pub fn batch_body(reports: Vec<schoolwatch_protocol::Report>) -> Vec<u8> {
    serde_json::to_vec(&schoolwatch_protocol::Batch { reports }).expect("encode batch")
}

/// An async HTTPS client that trusts `ca_pem` only (drive it with
/// [`crate::rt`]).
pub fn https_client(ca_pem: &str) -> reqwest::Client {
    https_client_builder(ca_pem).build().expect("HTTPS client")
}

/// Like [`https_client`], but answers with redirects instead of
/// following them (to check where a page sends a browser).
pub fn https_client_no_redirect(ca_pem: &str) -> reqwest::Client {
    https_client_builder(ca_pem)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTPS client")
}

fn https_client_builder(ca_pem: &str) -> reqwest::ClientBuilder {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("PEM certificate")).expect("add CA");
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder().tls_backend_preconfigured(tls)
}
