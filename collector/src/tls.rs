//! TLS for the collector: rustls server config from PEM files, a listener
//! that hands axum finished handshakes, and the self-signed CA the demo
//! makes for itself.

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish the TLS handshake; a slow or
/// silent client must not hold a connection slot for ever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the server config from a certificate chain and key in PEM files;
/// with `client_ca`, every client must present a certificate signed by it
/// (mutual TLS).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> anyhow::Result<Arc<ServerConfig>> {
    use anyhow::Context;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading the certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing the certificate {}", cert.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{} holds no PEM certificate",
        cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    let client_roots = match client_ca {
        None => None,
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(path)
                .with_context(|| format!("reading the client CA {}", path.display()))?
            {
                roots
                    .add(c.with_context(|| format!("parsing the client CA {}", path.display()))?)
                    .with_context(|| format!("using the client CA {}", path.display()))?;
            }
            Some(roots)
        }
    };
    server_config_from(certs, key, client_roots)
}

/// Builds the server config from DER values.
pub fn server_config_from(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: Option<rustls::RootCertStore>,
) -> anyhow::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match client_roots {
        None => builder.with_no_client_auth(),
        Some(roots) => builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()?,
        ),
    };
    let mut config = builder.with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TCP listener whose connections come out TLS-terminated. Handshakes run
/// in their own tasks, so one slow client does not stall the others.
pub struct TlsListener {
    local: SocketAddr,
    rx: mpsc::Receiver<(TlsStream<tokio::net::TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Wraps `tcp`; the accept loop lives as long as the listener.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: back off.
                        tracing::warn!(error = %e, "Accept failed.");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    break;
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed."),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out."),
                    }
                });
            }
        });
        Ok(Self { local, rx })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// A CA and a server certificate signed by it, as PEM, for the demo and
/// tests: the CA goes to agents (`--ca`), the server pair to the collector.
pub struct DemoPki {
    /// CA certificate, PEM.
    pub ca_pem: String,
    /// Server certificate, PEM.
    pub cert_pem: String,
    /// Server private key, PEM.
    pub key_pem: String,
}

/// Makes a CA and a server certificate for `names` (DNS names or IPs).
pub fn demo_pki(names: &[String]) -> anyhow::Result<DemoPki> {
    let ca = Ca::new("schoolwatch demo CA")?;
    let (cert_pem, key_pem) = ca.server(names)?;
    Ok(DemoPki {
        ca_pem: ca.pem().to_owned(),
        cert_pem,
        key_pem,
    })
}

impl DemoPki {
    /// The server certificate followed by the CA: what `[server] tls_cert`
    /// should hold, so agents can find the CA whose fingerprint the
    /// one-line enrollment carries (`enroll-line`).
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.ca_pem)
    }

    /// Writes `ca.pem`, `collector.pem` (the chain) and `collector.key`
    /// into `dir`; returns who may read the key, for the message.
    ///
    /// The key is readable by its owner only, unless `dir` belongs to
    /// another group than ours, as the package's `/etc/schoolwatch/tls`
    /// (root, group `schoolwatch`) does: then the key gets that group and
    /// mode 0640, so the service can read it and nobody else.
    pub fn write_to(&self, dir: &Path) -> anyhow::Result<String> {
        use anyhow::Context;
        use std::io::Write;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, pem) in [
            ("ca.pem", &self.ca_pem),
            ("collector.pem", &self.chain_pem()),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, pem).with_context(|| format!("writing {}", path.display()))?;
        }
        let path = dir.join("collector.key");
        // A fresh file: never written through whatever was there.
        let _ = std::fs::remove_file(&path);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        let readers = share_with_dir_group(&file, dir);
        file.write_all(self.key_pem.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(readers)
    }
}

/// Gives a new key file the group of `dir` with mode 0640 when that group
/// is not the file's own (see [`DemoPki::write_to`]); says who can read it.
#[cfg(unix)]
fn share_with_dir_group(file: &std::fs::File, dir: &Path) -> String {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (Ok(d), Ok(f)) = (std::fs::metadata(dir), file.metadata()) else {
        return "owner only".to_owned();
    };
    if d.gid() == f.gid()
        || std::os::unix::fs::fchown(file, None, Some(d.gid())).is_err()
        || file
            .set_permissions(std::fs::Permissions::from_mode(0o640))
            .is_err()
    {
        return "owner only".to_owned();
    }
    format!("owner and group {}", group_name(d.gid()))
}

#[cfg(not(unix))]
fn share_with_dir_group(_file: &std::fs::File, _dir: &Path) -> String {
    "owner only".to_owned()
}

/// A group's name from /etc/group, else its number.
#[cfg(unix)]
fn group_name(gid: u32) -> String {
    std::fs::read_to_string("/etc/group")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)?.parse::<u32>().ok()? == gid).then(|| name.to_owned())
            })
        })
        .unwrap_or_else(|| gid.to_string())
}

/// A private certificate authority that can issue server and client
/// certificates (the `certs` command, the demo, tests).
pub struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

impl Ca {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> anyhow::Result<Self> {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key)?;
        Ok(Self {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A server certificate and key (PEM) for `names`.
    pub fn server(&self, names: &[String]) -> anyhow::Result<(String, String)> {
        self.issue(names, "schoolwatch collector", false)
    }

    /// A server certificate that expired in 2020, for tests of refusal.
    pub fn expired_server(&self, names: &[String]) -> anyhow::Result<(String, String)> {
        self.issue(names, "schoolwatch collector", true)
    }

    /// A client certificate and key (PEM) for an agent named `name`, for
    /// collectors that require mutual TLS.
    pub fn client(&self, name: &str) -> anyhow::Result<(String, String)> {
        self.issue(&[], name, false)
    }

    fn issue(
        &self,
        names: &[String],
        common_name: &str,
        expired: bool,
    ) -> anyhow::Result<(String, String)> {
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(names.to_vec())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `certs --out /etc/schoolwatch/tls`: the chain ends with the CA, and
    /// the key is shared with the directory's group (the service's) only
    /// when that group is not the writer's own.
    #[cfg(unix)]
    #[test]
    fn written_chain_ends_with_the_ca_and_the_key_follows_the_directory_group() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let pki = demo_pki(&["collector.example".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("own");
        assert_eq!(pki.write_to(&own).unwrap(), "owner only");
        let key = std::fs::metadata(own.join("collector.key")).unwrap();
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
        let chain: Vec<_> = CertificateDer::pem_file_iter(own.join("collector.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let ca = CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1], ca);

        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        assert_eq!(
            key.uid(),
            0,
            "giving a file to another group needs root (scripts/test.sh runs as root)"
        );
        std::os::unix::fs::chown(&shared, None, Some(4243)).unwrap();
        assert_eq!(pki.write_to(&shared).unwrap(), "owner and group 4243");
        let key = std::fs::metadata(shared.join("collector.key")).unwrap();
        assert_eq!((key.permissions().mode() & 0o777, key.gid()), (0o640, 4243));
    }
}
