//! The HTTPS client: enrollment and report delivery, with the retry
//! decision as a value.
//!
//! TLS is rustls. The collector is verified against the CA pinned at
//! enrollment (`--ca`), or the bundled Mozilla roots when none was given.
//! Plain `http://` is refused unless the collector is on loopback.

use schoolwatch_protocol::Batch;
use schoolwatch_protocol::api::{
    Ack, ENROLL_PATH, EnrollRequest, EnrollResponse, ErrorBody, REPORTS_PATH,
};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// What became of one send.
#[derive(Debug)]
pub enum Outcome {
    /// The collector stored (or already had) the batch.
    Delivered(Ack),
    /// Try again later: network trouble, 408, 429, 5xx (but 501).
    Retry {
        /// Why, for the log.
        reason: String,
        /// The collector's `Retry-After`, if it gave one.
        after: Option<Duration>,
    },
    /// The collector refused the batch for good (other 4xx); retrying
    /// would get the same answer.
    Reject {
        /// HTTP status.
        status: u16,
        /// The collector's explanation.
        reason: String,
    },
}

/// Sends to one collector. Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

/// Whether a URL may be used, and a message when not.
fn check_url(url: &str, allow_plain_http: bool) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| anyhow::anyhow!("collector URL {url:?} is not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            anyhow::ensure!(
                loopback || allow_plain_http,
                "refusing plain http to {url}: reports would cross the network unencrypted; use https (or set tls.allow_plain_http = true in agent.toml)"
            );
            Ok(())
        }
        other => anyhow::bail!("collector URL scheme {other:?} is not supported; use https"),
    }
}

impl Client {
    /// A client for the collector at `base` (e.g. `https://collector:8443`),
    /// trusting `ca_pem` if given.
    pub fn new(
        base: &str,
        ca_pem: Option<&[u8]>,
        options: &crate::config::TlsOptions,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        use rustls_pki_types::pem::PemObject;
        check_url(base, options.allow_plain_http)?;
        let mut roots = rustls::RootCertStore::empty();
        match ca_pem {
            Some(pem) => {
                let mut n = 0;
                for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
                    roots
                        .add(cert.context("reading the CA certificate")?)
                        .context("adding the CA certificate")?;
                    n += 1;
                }
                anyhow::ensure!(n > 0, "the CA file holds no PEM certificate");
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
        let tls = match &options.client_identity {
            None => tls.with_no_client_auth(),
            Some((cert, key)) => {
                let certs = rustls_pki_types::CertificateDer::pem_file_iter(cert)
                    .with_context(|| format!("reading the client certificate {}", cert.display()))?
                    .collect::<Result<Vec<_>, _>>()
                    .with_context(|| {
                        format!("parsing the client certificate {}", cert.display())
                    })?;
                let key = rustls_pki_types::PrivateKeyDer::from_pem_file(key)
                    .with_context(|| format!("reading the client key {}", key.display()))?;
                tls.with_client_auth_cert(certs, key)
                    .context("the client certificate and key do not match")?
            }
        };
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("schoolwatch-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTPS client")?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// Exchanges an enrollment token for a credential.
    pub async fn enroll(&self, req: &EnrollRequest) -> anyhow::Result<EnrollResponse> {
        let resp = self
            .http
            .post(format!("{}{ENROLL_PATH}", self.base))
            .json(req)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot reach the collector at {}: {}",
                    self.base,
                    explain(&e)
                )
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp.json().await?);
        }
        let body: Option<ErrorBody> = resp.json().await.ok();
        anyhow::bail!(
            "the collector refused the enrollment ({status}): {}",
            body.map_or_else(|| "no explanation".to_owned(), |b| b.error)
        )
    }

    /// Sends one batch, gzip-compressed.
    pub async fn send(&self, credential: &str, batch: &Batch) -> Outcome {
        let reports: Vec<Vec<u8>> = batch
            .reports
            .iter()
            .map(|r| serde_json::to_vec(r).expect("a report serializes"))
            .collect();
        self.send_raw(credential, &reports).await
    }

    /// Sends reports that are already JSON (as the queue stores them) as
    /// one gzip-compressed batch, without decoding them again.
    pub async fn send_raw(&self, credential: &str, reports: &[Vec<u8>]) -> Outcome {
        let body = match gzip_batch(reports) {
            Ok(b) => b,
            Err(e) => {
                return Outcome::Reject {
                    status: 0,
                    reason: format!("cannot encode the batch: {e}"),
                };
            }
        };
        let resp = self
            .http
            .post(format!("{}{REPORTS_PATH}", self.base))
            .bearer_auth(credential)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(body)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    reason: format!("cannot reach the collector: {}", explain(&e)),
                    after: None,
                };
            }
        };
        let status = resp.status().as_u16();
        let after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .map(Duration::from_secs);
        if resp.status().is_success() {
            return match resp.json::<Ack>().await {
                Ok(ack) => Outcome::Delivered(ack),
                Err(e) => Outcome::Retry {
                    reason: format!("unreadable acknowledgement: {e}"),
                    after: None,
                },
            };
        }
        let reason = resp
            .json::<ErrorBody>()
            .await
            .map_or_else(|_| format!("HTTP {status}"), |b| b.error);
        decide(status, reason, after)
    }
}

impl Client {
    /// Downloads `bytes` from the collector's throughput endpoint; returns
    /// the bytes received and the time from the first to the last byte.
    pub async fn speedtest_download(
        &self,
        credential: &str,
        bytes: u64,
    ) -> anyhow::Result<(u64, std::time::Duration)> {
        use schoolwatch_protocol::api::SPEEDTEST_DOWNLOAD_PATH;
        let mut resp = self
            .http
            .get(format!(
                "{}{SPEEDTEST_DOWNLOAD_PATH}?bytes={bytes}",
                self.base
            ))
            .bearer_auth(credential)
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("throughput download: {}", explain(&e)))?;
        anyhow::ensure!(
            resp.status().is_success(),
            "throughput download refused: HTTP {}",
            resp.status()
        );
        let mut got = 0u64;
        let mut start = None;
        while let Some(chunk) = resp.chunk().await? {
            // Time from the first byte: the connection set-up is not
            // bandwidth.
            start.get_or_insert_with(tokio::time::Instant::now);
            got += chunk.len() as u64;
        }
        Ok((got, start.map_or(Duration::ZERO, |s| s.elapsed())))
    }

    /// Uploads `bytes` to the collector's throughput endpoint; returns the
    /// bytes the collector counted and the time until its answer.
    pub async fn speedtest_upload(
        &self,
        credential: &str,
        bytes: u64,
    ) -> anyhow::Result<(u64, std::time::Duration)> {
        use schoolwatch_protocol::api::{SPEEDTEST_UPLOAD_PATH, UploadResult};
        let mut block = vec![0u8; 64 * 1024];
        let _ = getrandom::fill(&mut block);
        let block = bytes::Bytes::from(block);
        let full = bytes / block.len() as u64;
        let rest = (bytes % block.len() as u64) as usize;
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
            std::iter::repeat_n(block.clone(), full as usize)
                .chain((rest > 0).then(|| block.slice(..rest)))
                .map(Ok)
                .collect();
        let start = tokio::time::Instant::now();
        let resp = self
            .http
            .post(format!("{}{SPEEDTEST_UPLOAD_PATH}", self.base))
            .bearer_auth(credential)
            .header(reqwest::header::CONTENT_LENGTH, bytes)
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("throughput upload: {}", explain(&e)))?;
        anyhow::ensure!(
            resp.status().is_success(),
            "throughput upload refused: HTTP {}",
            resp.status()
        );
        let result: UploadResult = resp.json().await?;
        Ok((result.bytes, start.elapsed()))
    }
}

/// The retry decision for an error status (vector's `retry_action`).
pub fn decide(status: u16, reason: String, after: Option<Duration>) -> Outcome {
    match status {
        408 | 429 => Outcome::Retry { reason, after },
        500..=599 if status != 501 => Outcome::Retry { reason, after },
        _ => Outcome::Reject { status, reason },
    }
}

/// `{"reports":[r1,r2,...]}` from JSON reports, gzip-compressed.
fn gzip_batch(reports: &[Vec<u8>]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(b"{\"reports\":[")?;
    for (i, r) in reports.iter().enumerate() {
        if i > 0 {
            enc.write_all(b",")?;
        }
        enc.write_all(r)?;
    }
    enc.write_all(b"]}")?;
    enc.finish()
}

/// The error chain, with what to do when it is a TLS problem an IT person
/// can fix.
fn explain(e: &dyn std::error::Error) -> String {
    let text = chain(e);
    let advice = if text.contains("UnknownIssuer") || text.contains("unknown issuer") {
        Some(
            "the collector's certificate is not signed by the CA this agent trusts: check the --ca file given at enrollment",
        )
    } else if text.contains("Expired") || text.contains("expired") {
        Some(
            "the collector's certificate has expired (or this machine's clock is wrong): renew the certificate or fix the time",
        )
    } else if text.contains("NotValidForName") {
        Some(
            "the collector's certificate is not valid for the address the agent uses: enroll with the name on the certificate",
        )
    } else if text.contains("CertificateRequired") || text.contains("certificate required") {
        Some(
            "the collector requires a client certificate: set tls.client_cert and tls.client_key in agent.toml",
        )
    } else if text.contains("BadCertificate")
        || text.contains("UnknownCA")
        || text.contains("unknown ca")
    {
        Some(
            "the collector refused this agent's client certificate: it must be signed by the collector's client CA",
        )
    } else {
        None
    };
    match advice {
        Some(a) => format!("{a} ({text})"),
        None => text,
    }
}

/// An error with its causes, one line (reqwest hides the TLS reason in the
/// source chain, and that reason is what an IT person needs).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(check_url("http://127.0.0.1:8088", false).is_ok());
        assert!(check_url("http://localhost:8088", false).is_ok());
        assert!(check_url("http://[::1]:8088", false).is_ok());
        let e = check_url("http://collector.example:8088", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("refusing plain http"), "{e}");
        assert!(e.contains("allow_plain_http"), "{e}");
        assert!(check_url("http://collector.example:8088", true).is_ok());
        assert!(check_url("https://collector.example", false).is_ok());
        assert!(check_url("ftp://x", true).is_err());
    }

    #[test]
    fn retry_decisions() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(decide(s, String::new(), None), Outcome::Retry { .. }),
                "{s}"
            );
        }
        for s in [400, 401, 413, 415, 422, 501] {
            assert!(
                matches!(decide(s, String::new(), None), Outcome::Reject { .. }),
                "{s}"
            );
        }
    }
}
