//! One-line enrollment: per school, one command that enrolls a machine,
//! and a QR code of it for a phone.
//!
//! `schoolwatch-collector enroll-line --school ID --url URL` makes a fresh
//! enrollment token for the school (as `token create` does) and prints
//!
//! ```text
//! schoolwatch-agent enroll 'https://collector.example:8443/#token=swt_...&ca=sha256:<hex>'
//! ```
//!
//! The link's format is [`schoolwatch_protocol::EnrollLink`]. `ca` is the
//! SHA-256 of the last certificate of the chain this collector serves
//! (`[server] tls_cert`): its CA when the chain carries it, as the one
//! `certs` writes does, or the certificate itself when it stands alone
//! (self-signed). Before anything is printed or a token made, the chain
//! is verified the way the agent will verify it, for the host of `--url`,
//! so a line that could not work is never handed out. `--public-ca` leaves
//! the fingerprint out for a certificate from a public CA, which agents
//! trust through their bundled roots.

use crate::config::{Config, Transport};
use crate::fleet::now_ms;
use crate::store::Store;
use anyhow::Context;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use schoolwatch_agent::ship::discover::{ChainError, check_anchor, check_chain};
use schoolwatch_protocol::EnrollLink;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `enroll-line` was asked for.
#[derive(Debug, Clone)]
pub struct Request {
    /// The school whose machines the line enrolls.
    pub school: String,
    /// The address agents use to reach this collector.
    pub url: String,
    /// How long the line's token can be used.
    pub ttl: Duration,
    /// Where to write the line as a QR-code PNG, if anywhere.
    pub qr: Option<PathBuf>,
    /// Leave the fingerprint out: the certificate is from a public CA.
    pub public_ca: bool,
}

/// `enroll-line`: checks the TLS set-up for `req.url`, makes a token for
/// the school, prints the line to `out` (and the QR code to `req.qr`).
/// The store is opened only once the line is known to work.
pub fn run(
    config: &Config,
    req: &Request,
    open_store: impl FnOnce() -> anyhow::Result<Store>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let pin = ca_pin(&config.transport, &req.url, req.public_ca)?;
    let mut link = EnrollLink {
        collector: req.url.trim_end_matches('/').to_owned(),
        token: "swt_0".to_owned(),
        ca_sha256: pin,
    };
    // The agent must read back exactly what is printed.
    let back = EnrollLink::parse(&link.to_string())
        .map_err(|e| anyhow::anyhow!("--url {}: {e}", req.url))?;
    anyhow::ensure!(
        back == link,
        "--url {}: agents would read it as {}; give the plain base address, e.g. https://collector.example:8443",
        req.url,
        back.collector
    );
    let now = now_ms();
    let ttl_ms = i64::try_from(req.ttl.as_millis()).unwrap_or(i64::MAX);
    link.token = open_store()?
        .create_token(&req.school, now, now.saturating_add(ttl_ms))?
        .with_context(|| {
            format!(
                "no school {:?} in the registry; import it first with `schools import`",
                req.school
            )
        })?;
    let line = command_line(&link);
    writeln!(out, "{line}")?;
    if let Some(path) = &req.qr {
        write_qr_png(&line, path)?;
        eprintln!("The QR code of the line is in {}.", path.display());
    }
    eprintln!(
        "Run the line as root on each machine of school {}; it works for {}. \
         Anyone who has it can enroll machines into that school until then: hand it over like a password.",
        req.school,
        humantime::format_duration(req.ttl)
    );
    Ok(())
}

/// What to pin for agents reaching this collector at `url`: the SHA-256 of
/// the CA to trust, or `None` (plain loopback HTTP, or `public_ca`).
///
/// Checks that `url` fits the transport and that the served chain verifies
/// for its host; every error names the file or flag to fix.
pub fn ca_pin(
    transport: &Transport,
    url: &str,
    public_ca: bool,
) -> anyhow::Result<Option<[u8; 32]>> {
    let cert_path = match transport {
        Transport::Plain => {
            anyhow::ensure!(
                url.starts_with("http://"),
                "--url {url}: this collector serves plain HTTP (`server.plain_http`), so agents reach it with http://"
            );
            return Ok(None);
        }
        Transport::Tls { cert, .. } => cert,
    };
    anyhow::ensure!(
        url.starts_with("https://"),
        "--url {url}: this collector serves HTTPS, so agents must use https://"
    );
    let chain = read_chain(cert_path)?;
    if public_ca {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        check_chain(url, &chain, roots).map_err(|e| {
            anyhow::anyhow!(
                "--public-ca: agents' bundled public roots would refuse the chain in {} for {url}: {e}; leave out --public-ca to pin its CA instead",
                cert_path.display()
            )
        })?;
        return Ok(None);
    }
    // The chain is not empty: read_chain refuses that.
    let anchor = chain.last().expect("a chain has a certificate");
    check_anchor(url, &chain, anchor).map_err(|e| explain(cert_path, url, chain.len(), &e))?;
    Ok(Some(Sha256::digest(anchor.as_ref()).into()))
}

/// What to do about a chain that agents would refuse.
fn explain(cert_path: &Path, url: &str, certs: usize, e: &ChainError) -> anyhow::Error {
    let file = cert_path.display();
    match e {
        ChainError::UnknownIssuer(_) if certs == 1 => anyhow::anyhow!(
            "{file} holds only the server certificate, and it is not self-signed: its CA is not in the chain, so agents could not check it against a fingerprint. \
             Append the CA certificate to it (`cat ca.pem >> {file}`; `schoolwatch-collector certs` writes such a chain) and restart the collector"
        ),
        ChainError::UnknownIssuer(_) => anyhow::anyhow!(
            "the chain in {file} does not lead to its last certificate: put the server certificate first and its issuers after it, up to the CA ({e})"
        ),
        ChainError::NotValidForName { host, .. } => anyhow::anyhow!(
            "--url {url}: {host} is not a name on the certificate in {file}; use one of its names, or make a certificate for it with `schoolwatch-collector certs --name {host}` ({e})"
        ),
        other => anyhow::anyhow!("{file}, for --url {url}: {other}"),
    }
}

/// The PEM certificates of a chain file, server certificate first.
fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .with_context(|| {
            format!(
                "reading the certificate {} (key `server.tls_cert`)",
                path.display()
            )
        })?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing the certificate {}", path.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{} (key `server.tls_cert`) holds no PEM certificate",
        path.display()
    );
    Ok(chain)
}

/// The command an IT person runs on the machine (as root).
pub fn command_line(link: &EnrollLink) -> String {
    // The link's characters exclude `'` (EnrollLink::parse refuses it), so
    // single quotes keep `#` and `&` from the shell.
    format!("schoolwatch-agent enroll '{link}'")
}

/// Writes `text` as a QR code (error correction M, 8 pixels a module, the
/// standard quiet zone) to a PNG file.
pub fn write_qr_png(text: &str, path: &Path) -> anyhow::Result<()> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .context("encoding the line as a QR code")?;
    let image = code.render::<image::Luma<u8>>().build();
    image
        .save_with_format(path, image::ImageFormat::Png)
        .with_context(|| format!("writing the QR code to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(dir: &Path, pem: &str) -> Transport {
        let cert = dir.join("collector.pem");
        std::fs::write(&cert, pem).unwrap();
        Transport::Tls {
            cert,
            key: PathBuf::from("unused"),
            client_ca: None,
        }
    }

    #[test]
    fn pins_the_ca_at_the_end_of_the_chain_for_names_on_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::tls::demo_pki(&["collector.example".into()]).unwrap();
        let full = tls(dir.path(), &format!("{}{}", pki.cert_pem, pki.ca_pem));
        let pin = ca_pin(&full, "https://collector.example:8443", false)
            .unwrap()
            .unwrap();
        let ca = CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap();
        assert_eq!(pin, <[u8; 32]>::from(Sha256::digest(ca.as_ref())));

        let e = format!(
            "{:#}",
            ca_pin(&full, "https://other.example:8443", false).unwrap_err()
        );
        assert!(
            e.contains("other.example is not a name on the certificate"),
            "{e}"
        );
        assert!(e.contains("--name other.example"), "{e}");

        let e = format!(
            "{:#}",
            ca_pin(&full, "http://collector.example", false).unwrap_err()
        );
        assert!(e.contains("https://"), "{e}");

        let leaf_only = tls(dir.path(), &pki.cert_pem);
        let e = format!(
            "{:#}",
            ca_pin(&leaf_only, "https://collector.example", false).unwrap_err()
        );
        assert!(e.contains("holds only the server certificate"), "{e}");
        assert!(e.contains("cat ca.pem >>"), "{e}");

        let e = format!(
            "{:#}",
            ca_pin(&full, "https://collector.example", true).unwrap_err()
        );
        assert!(e.contains("leave out --public-ca"), "{e}");

        assert_eq!(
            ca_pin(&Transport::Plain, "http://127.0.0.1:8088", false).unwrap(),
            None
        );
    }

    #[test]
    fn the_command_line_quotes_the_link() {
        let link = EnrollLink {
            collector: "https://c.example:8443".into(),
            token: "swt_00".into(),
            ca_sha256: Some([1; 32]),
        };
        let line = command_line(&link);
        assert!(line.starts_with(
            "schoolwatch-agent enroll 'https://c.example:8443/#token=swt_00&ca=sha256:0101"
        ));
        assert!(line.ends_with("01'"), "{line}");
    }
}
