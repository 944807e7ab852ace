//! `[[remote_write]]` entries of `collector.toml`: parsed strictly, then
//! validated into [`EndpointConfig`], every problem reported at once with
//! its key. Secret files are read here, so a missing token file stops the
//! collector at start rather than at the first send.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One `[[remote_write]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    name: String,
    url: String,
    #[serde(default = "default_max_queue_bytes")]
    max_queue_bytes: u64,
    #[serde(default = "default_batch_samples")]
    batch_samples: u64,
    #[serde(default = "default_batch_wait_ms")]
    batch_wait_ms: u64,
    #[serde(default = "default_timeout_secs")]
    timeout_secs: u64,
    #[serde(default = "default_max_backoff_secs")]
    max_backoff_secs: u64,
    bearer_token_file: Option<PathBuf>,
    basic_auth_user: Option<String>,
    basic_auth_password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// 1 GiB: about a million reports (a report's 25 to 60 series take about
/// 1 KiB on disk, snappy-compressed), so 17 hours of a 1,000-host province
/// reporting every minute while its TSDB is unreachable. Raise it for
/// longer outages.
const fn default_max_queue_bytes() -> u64 {
    1 << 30
}
/// Prometheus's own default `max_samples_per_send` is 2,000 (v2.42).
const fn default_batch_samples() -> u64 {
    2_000
}
const fn default_batch_wait_ms() -> u64 {
    1_000
}
const fn default_timeout_secs() -> u64 {
    30
}
const fn default_max_backoff_secs() -> u64 {
    30
}

/// The smallest queue bound accepted.
pub const MIN_QUEUE_BYTES: u64 = 64 << 10;

/// A secret read from a file; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No `Authorization` header.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// HTTP basic authentication.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: Secret,
    },
}

/// One validated endpoint.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Label `endpoint` on the metrics; the queue's directory name.
    pub name: String,
    /// Where to POST.
    pub url: reqwest::Url,
    /// Bound on the queue files.
    pub max_queue_bytes: u64,
    /// Most samples in one request (a report's series are never split).
    pub batch_samples: u64,
    /// Longest a sample waits for a fuller batch.
    pub batch_wait: Duration,
    /// Per request.
    pub timeout: Duration,
    /// Longest wait between retries.
    pub max_backoff: Duration,
    /// Authentication.
    pub auth: Auth,
    /// PEM CA certificates to trust instead of the bundled Mozilla roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Extra headers on every request (e.g. Mimir's `X-Scope-OrgID`).
    pub headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
}

/// Headers the protocol or the auth keys set; `headers` may not.
const RESERVED: [&str; 6] = [
    "content-type",
    "content-encoding",
    "content-length",
    "x-prometheus-remote-write-version",
    "authorization",
    "host",
];

/// Validates the entries; relative paths are relative to `base` (the
/// config file's directory).
pub fn from_raw(raw: Vec<RawEndpoint>, base: &Path) -> Result<Vec<EndpointConfig>, Vec<String>> {
    let mut problems = Vec::new();
    let mut out: Vec<EndpointConfig> = Vec::new();
    for (i, e) in raw.into_iter().enumerate() {
        let key = format!("remote_write[{i}]");
        let mut p = |s: String| problems.push(s);
        let name_ok = !e.name.is_empty()
            && e.name.len() <= 64
            && e.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            p(format!(
                "key `{key}.name`: {:?} is not a name; use 1 to 64 letters, digits, '-' or '_' (it names the queue's directory and the `endpoint` label)",
                e.name
            ));
        }
        if out.iter().any(|o| o.name == e.name) {
            p(format!(
                "key `{key}.name`: {:?} is used twice; each endpoint needs its own name",
                e.name
            ));
        }
        let url = match reqwest::Url::parse(&e.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            Ok(_) | Err(_) => {
                p(format!(
                    "key `{key}.url`: {:?} is not an http(s) URL; write e.g. \"http://127.0.0.1:8428/api/v1/write\"",
                    e.url
                ));
                None
            }
        };
        if e.max_queue_bytes < MIN_QUEUE_BYTES {
            p(format!(
                "key `{key}.max_queue_bytes`: {} is too small; use at least {MIN_QUEUE_BYTES} (default {}, 1 GiB)",
                e.max_queue_bytes,
                default_max_queue_bytes()
            ));
        }
        if !(1..=100_000).contains(&e.batch_samples) {
            p(format!(
                "key `{key}.batch_samples`: {} is out of range; use 1 to 100000 (default 2000)",
                e.batch_samples
            ));
        }
        if e.batch_wait_ms > 60_000 {
            p(format!(
                "key `{key}.batch_wait_ms`: {} is out of range; use 0 to 60000 (default 1000)",
                e.batch_wait_ms
            ));
        }
        if !(1..=600).contains(&e.timeout_secs) {
            p(format!(
                "key `{key}.timeout_secs`: {} is out of range; use 1 to 600 (default 30)",
                e.timeout_secs
            ));
        }
        if !(1..=3_600).contains(&e.max_backoff_secs) {
            p(format!(
                "key `{key}.max_backoff_secs`: {} is out of range; use 1 to 3600 (default 30)",
                e.max_backoff_secs
            ));
        }
        let mut read_secret = |k: &str, path: &Path| -> Option<Secret> {
            let full = base.join(path);
            match std::fs::read_to_string(&full) {
                Ok(t) if !t.trim().is_empty() => Some(Secret(t.trim().to_owned())),
                Ok(_) => {
                    p(format!(
                        "key `{key}.{k}`: {} is empty; put the secret in it (one line)",
                        full.display()
                    ));
                    None
                }
                Err(err) => {
                    p(format!(
                        "key `{key}.{k}`: cannot read {}: {err}; check the path and that the collector's user may read it",
                        full.display()
                    ));
                    None
                }
            }
        };
        let auth = match (
            &e.bearer_token_file,
            &e.basic_auth_user,
            &e.basic_auth_password_file,
        ) {
            (None, None, None) => Some(Auth::None),
            (Some(t), None, None) => read_secret("bearer_token_file", t).map(Auth::Bearer),
            (None, Some(user), Some(pw)) => {
                read_secret("basic_auth_password_file", pw).map(|password| Auth::Basic {
                    user: user.clone(),
                    password,
                })
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                p(format!(
                    "keys `{key}.basic_auth_user` and `{key}.basic_auth_password_file`: set both for basic authentication, or neither"
                ));
                None
            }
            (Some(_), _, _) => {
                p(format!(
                    "key `{key}.bearer_token_file`: set either a bearer token or basic authentication, not both"
                ));
                None
            }
        };
        if let (Some(u), Some(Auth::Bearer(_) | Auth::Basic { .. })) = (&url, &auth)
            && u.scheme() == "http"
            && !is_loopback(u)
        {
            p(format!(
                "key `{key}.url`: credentials would cross the network in clear text over http; use an https URL (or authenticate on loopback only)"
            ));
        }
        let ca_pem = e.ca_file.as_ref().and_then(|f| {
            use rustls_pki_types::pem::PemObject;
            let full = base.join(f);
            match std::fs::read(&full) {
                Ok(pem) => {
                    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(&pem)
                        .filter(Result::is_ok)
                        .count();
                    if certs == 0 {
                        p(format!("key `{key}.ca_file`: {} holds no PEM certificate; give the CA that signed the endpoint's certificate", full.display()));
                        None
                    } else {
                        Some(pem)
                    }
                }
                Err(err) => {
                    p(format!("key `{key}.ca_file`: cannot read {}: {err}", full.display()));
                    None
                }
            }
        });
        let mut headers = Vec::new();
        for (k, v) in &e.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes());
            let value = reqwest::header::HeaderValue::from_str(v);
            match (name, value) {
                (Ok(n), _) if RESERVED.contains(&n.as_str()) => p(format!(
                    "key `{key}.headers.{k}`: this header is set by the collector; use the auth keys for Authorization"
                )),
                (Ok(n), Ok(v)) => headers.push((n, v)),
                _ => p(format!(
                    "key `{key}.headers.{k}`: not a valid HTTP header name and value"
                )),
            }
        }
        if let (Some(url), Some(auth)) = (url, auth) {
            out.push(EndpointConfig {
                name: e.name,
                url,
                max_queue_bytes: e.max_queue_bytes,
                batch_samples: e.batch_samples,
                batch_wait: Duration::from_millis(e.batch_wait_ms),
                timeout: Duration::from_secs(e.timeout_secs),
                max_backoff: Duration::from_secs(e.max_backoff_secs),
                auth,
                ca_pem,
                headers,
            });
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn is_loopback(u: &reqwest::Url) -> bool {
    let host = u.host_str().unwrap_or("");
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<EndpointConfig>, String> {
        #[derive(Deserialize)]
        struct Wrap {
            remote_write: Vec<RawEndpoint>,
        }
        let w: Wrap = toml::from_str(text).map_err(|e| e.to_string())?;
        from_raw(w.remote_write, Path::new("/nonexistent")).map_err(|p| p.join("; "))
    }

    #[test]
    fn defaults() {
        let c = parse(
            "[[remote_write]]\nname = \"vm\"\nurl = \"http://127.0.0.1:8428/api/v1/write\"\n",
        )
        .unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].max_queue_bytes, 1 << 30);
        assert_eq!(c[0].batch_samples, 2_000);
        assert_eq!(c[0].timeout, Duration::from_secs(30));
        assert_eq!(c[0].auth, Auth::None);
    }

    #[test]
    fn every_problem_names_its_key() {
        let e = parse(
            "[[remote_write]]\nname = \"a b\"\nurl = \"ftp://x\"\nmax_queue_bytes = 10\nbatch_samples = 0\n\
             basic_auth_user = \"u\"\n[remote_write.headers]\nContent-Type = \"x\"\n\
             [[remote_write]]\nname = \"vm\"\nurl = \"https://vm.example/api/v1/write\"\nbearer_token_file = \"missing\"\n",
        )
        .unwrap_err();
        for key in [
            "key `remote_write[0].name`",
            "key `remote_write[0].url`",
            "key `remote_write[0].max_queue_bytes`",
            "key `remote_write[0].batch_samples`",
            "`remote_write[0].basic_auth_password_file`",
            "key `remote_write[0].headers.Content-Type`",
            "key `remote_write[1].bearer_token_file`: cannot read /nonexistent/missing",
        ] {
            assert!(e.contains(key), "{key} not in: {e}");
        }
    }

    #[test]
    fn credentials_need_https_off_loopback_and_headers_pass() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
        let base = dir.path().display();
        let e = parse(&format!(
            "[[remote_write]]\nname = \"m\"\nurl = \"http://10.0.0.5/api/v1/push\"\nbearer_token_file = \"{base}/token\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("clear text"), "{e}");
        let c = parse(&format!(
            "[[remote_write]]\nname = \"m\"\nurl = \"https://mimir/api/v1/push\"\nbearer_token_file = \"{base}/token\"\n[remote_write.headers]\nX-Scope-OrgID = \"gia-lai\"\n"
        ))
        .unwrap();
        assert_eq!(c[0].auth, Auth::Bearer(Secret("s3cret".into())));
        assert_eq!(c[0].headers[0].0.as_str(), "x-scope-orgid");
        assert_eq!(c[0].headers[0].1, "gia-lai");
        assert!(!format!("{:?}", c[0]).contains("s3cret"));
    }
}
