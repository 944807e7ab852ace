//! Finding the collector's CA from a fingerprint, for one-line enrollment.
//!
//! Collectors usually have a private CA, which a fresh agent does not
//! trust. The enrollment line carries the SHA-256 of that CA's certificate
//! (see [`schoolwatch_protocol::EnrollLink`]); the agent then:
//!
//! 1. opens a TLS connection to the collector that records the chain the
//!    server presents and aborts the handshake right there, so no request,
//!    token or credential is ever sent over the unverified connection;
//! 2. keeps the certificate of that chain whose SHA-256 over its DER is the
//!    fingerprint (the CA, or the server's own certificate when it is
//!    self-signed), refuses when none matches, and checks that it anchors
//!    the chain for the URL's host ([`check_anchor`], which the
//!    collector's `enroll-line` runs too before it prints a line);
//! 3. hands it, as PEM, to the normal enrollment, which connects again and
//!    verifies the collector against it like any pinned CA (name, dates,
//!    signatures). Only when that enrollment succeeds is anything saved.
//!
//! A man in the middle cannot pass step 2 without the CA's certificate
//! bytes, nor step 3 without its private key.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The certificate chain `collector` presents, server certificate first.
///
/// The handshake is aborted as soon as the chain has arrived; nothing is
/// sent over the unverified connection.
pub async fn presented_chain(collector: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    use anyhow::Context;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let capture = Arc::new(Capture {
        chain: Mutex::new(None),
        provider: provider.clone(),
    });
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(capture.clone())
        .with_no_client_auth();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the TLS client")?;
    // The verifier fails the handshake on purpose: the request never leaves.
    let outcome = http.get(collector).send().await;
    let chain = capture
        .chain
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    match (chain, outcome) {
        (Some(chain), _) => Ok(chain),
        (None, Err(e)) => Err(anyhow::anyhow!(
            "cannot reach the collector at {collector} to read its certificate: {}",
            super::client::chain(&e)
        )),
        (None, Ok(_)) => anyhow::bail!(
            "the collector at {collector} presented no certificate; is it really https?"
        ),
    }
}

/// The CA to pin for `link`, as PEM: the certificate the collector
/// presents whose SHA-256 is the link's fingerprint, checked to anchor the
/// collector's chain for the link's host name. `None` when the link pins
/// nothing (a collector with a public certificate).
pub async fn pinned_ca(link: &schoolwatch_protocol::EnrollLink) -> anyhow::Result<Option<String>> {
    let Some(want) = &link.ca_sha256 else {
        return Ok(None);
    };
    let chain = presented_chain(&link.collector).await?;
    let pem = pick(&link.collector, &chain, want)?;
    let anchor = chain
        .iter()
        .find(|c| Sha256::digest(c.as_ref()).as_slice() == want)
        .expect("pick found it");
    check_anchor(&link.collector, &chain, anchor).map_err(|e| {
        let fix = match &e {
            ChainError::UnknownIssuer(_) => {
                "the certificate with the fingerprint did not issue the collector's certificate \
                 (a line made by `schoolwatch-collector enroll-line` names the CA; print a new one)"
            }
            ChainError::NotValidForName { .. } => {
                "enroll with an address that is on the collector's certificate"
            }
            _ => "ask the collector's administrator",
        };
        anyhow::anyhow!("{}: {e}; {fix}. Nothing was saved.", link.collector)
    })?;
    Ok(Some(pem))
}

/// Why a certificate chain does not verify, for the caller to phrase in
/// its own terms (the agent enrolling, the collector printing a line).
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The collector URL has no usable host.
    #[error("collector URL {0}")]
    Url(String),
    /// The chain is not issued by the trusted certificate(s).
    #[error("the collector's certificate is not issued by the trusted CA ({0})")]
    UnknownIssuer(rustls::Error),
    /// The server certificate does not name the URL's host.
    #[error("the collector's certificate is not valid for {host} ({error})")]
    NotValidForName {
        /// The URL's host.
        host: String,
        /// The TLS library's words.
        error: rustls::Error,
    },
    /// A certificate of the chain has expired (or the clock is wrong).
    #[error("the collector's certificate has expired, or this machine's clock is wrong ({0})")]
    Expired(rustls::Error),
    /// Anything else.
    #[error("the collector's certificate does not verify ({0})")]
    Other(rustls::Error),
}

/// Checks that `chain` (server certificate first) is valid for the host of
/// `collector` when `anchor` is the only trusted CA: what the agent will
/// verify on every connection once it pinned `anchor`.
pub fn check_anchor(
    collector: &str,
    chain: &[CertificateDer<'_>],
    anchor: &CertificateDer<'_>,
) -> Result<(), ChainError> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(anchor.clone().into_owned())
        .map_err(ChainError::Other)?;
    check_chain(collector, chain, roots)
}

/// Checks that `chain` (server certificate first) is valid for the host of
/// `collector` against `roots`, as the agent's client will.
pub fn check_chain(
    collector: &str,
    chain: &[CertificateDer<'_>],
    roots: rustls::RootCertStore,
) -> Result<(), ChainError> {
    use rustls::CertificateError as C;
    let url = url::Url::parse(collector)
        .map_err(|e| ChainError::Url(format!("{collector:?} is not a URL: {e}")))?;
    let name = match url.host() {
        Some(url::Host::Domain(d)) => ServerName::try_from(d.to_owned()).map_err(|e| {
            ChainError::Url(format!("{collector:?}: {d:?} is not a host name: {e}"))
        })?,
        Some(url::Host::Ipv4(ip)) => ServerName::IpAddress(std::net::IpAddr::V4(ip).into()),
        Some(url::Host::Ipv6(ip)) => ServerName::IpAddress(std::net::IpAddr::V6(ip).into()),
        None => return Err(ChainError::Url(format!("{collector:?} has no host"))),
    };
    let Some((server, intermediates)) = chain.split_first() else {
        return Err(ChainError::Other(rustls::Error::NoCertificatesPresented));
    };
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .map_err(|e| ChainError::Other(rustls::Error::General(e.to_string())))?;
    let Err(error) =
        verifier.verify_server_cert(server, intermediates, &name, &[], UnixTime::now())
    else {
        return Ok(());
    };
    let host = url.host_str().unwrap_or_default().to_owned();
    Err(match error {
        e @ rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            ChainError::UnknownIssuer(e)
        }
        e @ rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => ChainError::NotValidForName { host, error: e },
        e @ rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            ChainError::Expired(e)
        }
        e => ChainError::Other(e),
    })
}

/// SHA-256 over a certificate's DER, as lowercase hex.
pub fn fingerprint_hex(cert: &[u8]) -> String {
    hex::encode(Sha256::digest(cert))
}

/// The certificate of `chain` whose SHA-256 is `want`, as PEM; an error
/// that lists what was presented when none is.
pub fn pick(
    collector: &str,
    chain: &[CertificateDer<'_>],
    want: &[u8; 32],
) -> anyhow::Result<String> {
    if let Some(cert) = chain
        .iter()
        .find(|c| Sha256::digest(c.as_ref()).as_slice() == want)
    {
        return Ok(pem::encode(&pem::Pem::new("CERTIFICATE", cert.to_vec())));
    }
    let seen: Vec<String> = chain
        .iter()
        .map(|c| format!("sha256:{}", fingerprint_hex(c)))
        .collect();
    anyhow::bail!(
        "the collector at {collector} presented {} certificate(s) ({}), none with the fingerprint sha256:{} from the enrollment line. \
         Nothing was saved. Either the line is outdated (the collector's certificate or CA changed: print a new one with \
         `schoolwatch-collector enroll-line`) or something between this machine and the collector intercepts HTTPS.",
        chain.len(),
        seen.join(", "),
        hex::encode(want)
    )
}

/// A verifier that records the presented chain and then fails the
/// handshake, so nothing is ever sent over a connection it "accepted".
#[derive(Debug)]
struct Capture {
    /// The chain, server certificate first; taken once the request failed.
    chain: Mutex<Option<Vec<CertificateDer<'static>>>>,
    /// For the signature methods, which a failed handshake never reaches
    /// but the trait requires.
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        *self
            .chain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(chain);
        Err(rustls::Error::General(
            "certificate chain recorded for the fingerprint check".into(),
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_matching_certificate_or_lists_what_was_seen() {
        let a = CertificateDer::from(b"leaf".to_vec());
        let b = CertificateDer::from(b"ca".to_vec());
        let want: [u8; 32] = Sha256::digest(b"ca").into();
        let pem = pick("https://c", &[a.clone(), b], &want).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        use rustls_pki_types::pem::PemObject;
        let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(back.as_ref(), b"ca");

        let e = pick("https://c", &[a], &[0; 32]).unwrap_err().to_string();
        assert!(e.contains(&fingerprint_hex(b"leaf")), "{e}");
        assert!(e.contains("Nothing was saved"), "{e}");
        assert!(e.contains("enroll-line"), "{e}");
    }
}
