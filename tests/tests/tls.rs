//! TLS between agent and collector: a wrong CA, an expired certificate, a
//! missing or foreign client certificate under mutual TLS — each refused
//! with a message that says what to fix — and no report byte in clear on
//! the wire.

use schoolwatch_collector::tls::Ca;
use schoolwatch_tests::{TestCollector, agent, agent_args, bin};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// Enrolls into t-a at `url` trusting `ca`, with `config` (none: no config
/// file) and state in `state`; returns (success, stderr).
fn enroll(
    c: &TestCollector,
    url: &str,
    state: &Path,
    ca: &Path,
    config: Option<&Path>,
) -> (bool, String) {
    let (ok, _, err) = agent::enroll(None, config, url, &c.token("t-a"), state, ca);
    (ok, err)
}

#[test]
fn wrong_ca_is_refused_clearly() {
    let c = TestCollector::start("");
    let other = Ca::new("somebody else's CA").unwrap();
    let ca = c.dir.path().join("other-ca.pem");
    std::fs::write(&ca, other.pem()).unwrap();
    let (ok, err) = enroll(&c, &c.url, &c.dir.path().join("s"), &ca, None);
    assert!(!ok);
    assert!(
        err.contains("not signed by the CA this agent trusts"),
        "{err}"
    );
    assert!(!c.dir.path().join("s/credential.json").exists());
}

#[test]
fn expired_certificate_is_refused_clearly() {
    let mut c = TestCollector::start("");
    let ca = Ca::new("test CA").unwrap();
    let (cert, key) = ca.expired_server(&["127.0.0.1".into()]).unwrap();
    std::fs::write(c.dir.path().join("collector.pem"), cert).unwrap();
    std::fs::write(c.dir.path().join("collector.key"), key).unwrap();
    std::fs::write(c.ca_path(), ca.pem()).unwrap();
    c.restart();
    let (ok, err) = enroll(&c, &c.url, &c.dir.path().join("s"), &c.ca_path(), None);
    assert!(!ok);
    assert!(err.contains("certificate has expired"), "{err}");
}

/// Turns on mutual TLS with a fresh client CA; returns it.
fn require_client_certs(c: &mut TestCollector) -> Ca {
    let clients = Ca::new("schoolwatch agents CA").unwrap();
    std::fs::write(c.dir.path().join("clients-ca.pem"), clients.pem()).unwrap();
    let text = std::fs::read_to_string(&c.config).unwrap();
    let text = text.replace(
        "tls_key = \"collector.key\"\n",
        "tls_key = \"collector.key\"\nclient_ca = \"clients-ca.pem\"\n",
    );
    std::fs::write(&c.config, text).unwrap();
    c.restart();
    clients
}

fn agent_config_with_identity(dir: &Path, name: &str, ca: &Ca) -> std::path::PathBuf {
    let (cert, key) = ca.client(name).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), cert).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key).unwrap();
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!("[tls]\nclient_cert = \"{name}.pem\"\nclient_key = \"{name}.key\"\n"),
    )
    .unwrap();
    cfg
}

#[test]
fn mutual_tls_requires_a_certificate_from_the_client_ca() {
    let mut c = TestCollector::start("");
    let clients = require_client_certs(&mut c);
    let dir = c.dir.path().to_owned();
    // No client certificate.
    let (ok, err) = enroll(&c, &c.url, &dir.join("none"), &c.ca_path(), None);
    assert!(!ok);
    assert!(err.contains("requires a client certificate"), "{err}");
    // A certificate from another CA.
    let stranger = Ca::new("not the agents CA").unwrap();
    let cfg = agent_config_with_identity(&dir, "stranger", &stranger);
    let (ok, err) = enroll(&c, &c.url, &dir.join("stranger"), &c.ca_path(), Some(&cfg));
    assert!(!ok);
    assert!(
        err.contains("refused this agent's client certificate"),
        "{err}"
    );
    // The right one: enrolls and reports.
    let cfg = agent_config_with_identity(&dir, "lab-pc", &clients);
    let (ok, err) = enroll(&c, &c.url, &dir.join("lab-pc"), &c.ca_path(), Some(&cfg));
    assert!(ok, "{err}");
    agent::run_once(Some(&cfg), &dir.join("lab-pc"), "100ms")
        .unwrap_or_else(|err| panic!("run --once failed: {err}"));
}

/// A TCP relay on loopback that records every byte the client sends.
fn recording_relay(to: std::net::SocketAddr) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut server) = TcpStream::connect(to) else {
                return;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let record = record.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = client.read(&mut buf) {
                    if n == 0 || server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                let _ = server.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (port, seen)
}

#[test]
fn no_report_byte_crosses_the_wire_in_clear() {
    let c = TestCollector::start("");
    let (port, seen) = recording_relay(c.addr);
    let url = format!("https://127.0.0.1:{port}");
    let state = c.dir.path().join("agent");
    let (ok, err) = enroll(&c, &url, &state, &c.ca_path(), None);
    assert!(ok, "{err}");
    agent::run_once(None, &state, "100ms").unwrap_or_else(|err| panic!("run --once failed: {err}"));
    assert_eq!(
        c.stored_sequences(&TestCollector::agent_id(&state)),
        vec![1]
    );
    let wire = seen.lock().unwrap().clone();
    assert!(wire.len() > 1000, "the relay saw the traffic");
    let credential = TestCollector::credential(&state);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for clear in [
        "sampled_at_ms",
        "agent_id",
        "fingerprint",
        credential.as_str(),
        hostname.trim(),
        "Authorization",
    ] {
        assert!(
            !wire.windows(clear.len()).any(|w| w == clear.as_bytes()),
            "{clear:?} crossed the wire in clear"
        );
    }
}

#[test]
fn plain_http_to_a_remote_collector_is_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("schoolwatch-agent"))
        .args(agent_args(&[]))
        .arg("--state")
        .arg(dir.path())
        // .invalid never resolves, and the agent refuses before resolving.
        .args([
            "enroll",
            "--collector",
            "http://collector.invalid:8443",
            "--token",
            "swt_x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing plain http") && err.contains("allow_plain_http"),
        "{err}"
    );
}
