//! One-line enrollment, as a school's IT person meets it: the line the
//! collector prints is pasted into a shell on a machine with a fresh agent
//! and enrolls it against the collector's private CA (pinned by its
//! fingerprint), the agent's first report arrives, the same machine enrolled
//! again keeps its host, a line with a wrong fingerprint fails saying why
//! and saves nothing, and the QR code decodes to the same line.
//!
//! The fingerprint is checked against `openssl x509 -fingerprint -sha256`
//! of the test CA, and the QR code is read with `rqrr`, so neither side
//! checks itself.

use schoolwatch_tests::{TestCollector, bin, require, stdout_of};
use std::path::Path;
use std::process::{Command, Output};

/// A directory on PATH where `schoolwatch-agent` is the built agent with
/// no config file and the state directory in `$SW_STATE`, so the printed
/// line runs in a real shell exactly as printed.
fn agent_on_path(dir: &Path) -> String {
    let script = dir.join("schoolwatch-agent");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec '{}' --config /nonexistent/schoolwatch-test/agent.toml --state \"$SW_STATE\" \"$@\"\n",
            bin("schoolwatch-agent").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs `line` with `sh -c`, the agent's state in `state`.
fn run_line(path: &str, line: &str, state: &Path) -> Output {
    Command::new("sh")
        .args(["-c", line])
        .env("PATH", path)
        .env("SW_STATE", state)
        .output()
        .unwrap()
}

/// `schoolwatch-collector enroll-line ...` for school t-a.
fn enroll_line(c: &TestCollector, extra: &[&str]) -> Output {
    Command::new(bin("schoolwatch-collector"))
        .arg("--config")
        .arg(&c.config)
        .args(["enroll-line", "--school", "t-a", "--url", &c.url])
        .args(extra)
        .output()
        .unwrap()
}

/// The SHA-256 fingerprint of a PEM certificate, by openssl, as lowercase
/// hex.
fn openssl_fingerprint(pem: &Path) -> String {
    let out = stdout_of(
        Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(pem),
    );
    out.trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_ascii_lowercase()
}

/// The text of the one QR code in a PNG.
fn decode_qr(png: &Path) -> String {
    let img = image::open(png)
        .unwrap_or_else(|e| panic!("{}: {e}", png.display()))
        .into_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in {}", png.display());
    grids[0].decode().expect("a readable QR code").1
}

fn agents(c: &TestCollector) -> Vec<serde_json::Value> {
    serde_json::from_str(&c.cli(&["agents", "list", "--json"])).unwrap()
}

#[test]
fn the_printed_line_enrolls_a_fresh_agent_and_keeps_the_machine_one_host() {
    require("openssl", "openssl");
    let mut c = TestCollector::start("");
    let dir = tempfile::tempdir().unwrap();
    let path = agent_on_path(dir.path());

    // The test collector serves its certificate without the CA: no line
    // could work, and the command says how to fix the chain.
    let out = enroll_line(&c, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("holds only the server certificate"), "{err}");
    assert!(err.contains("cat ca.pem >>"), "{err}");

    // Serve the chain with its CA, as `certs` writes it.
    let chain = c.dir.path().join("collector.pem");
    let mut pem = std::fs::read_to_string(&chain).unwrap();
    pem.push_str(&c.ca_pem);
    std::fs::write(&chain, pem).unwrap();
    c.restart();

    // An address that is not on the certificate is refused before any
    // token is made.
    let out = Command::new(bin("schoolwatch-collector"))
        .arg("--config")
        .arg(&c.config)
        .args(["enroll-line", "--school", "t-a", "--url"])
        .arg(c.url.replace("127.0.0.1", "127.0.0.2"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("127.0.0.2 is not a name on the certificate"),
        "{err}"
    );

    let qr = dir.path().join("t-a.png");
    let out = enroll_line(&c, &["--qr", qr.to_str().unwrap(), "--ttl", "1h"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(line.lines().count(), 1, "one line: {line}");
    let fingerprint = openssl_fingerprint(&c.ca_path());
    assert_eq!(
        line,
        format!(
            "schoolwatch-agent enroll '{}/#token={}&ca=sha256:{fingerprint}'",
            c.url,
            line.split("#token=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap()
        ),
        "the line names this collector and its CA's fingerprint"
    );
    assert_eq!(decode_qr(&qr), line, "the QR code carries the same line");

    // The line, pasted into a shell on a fresh machine.
    let first = dir.path().join("first");
    let out = run_line(&path, &line, &first);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("Enrolled: agent"), "{said}");
    assert!(said.contains(&format!("sha256:{fingerprint}")), "{said}");
    assert_eq!(
        pem_der(&first.join("ca.pem")),
        pem_der(&c.ca_path()),
        "the agent pinned the collector's CA"
    );
    let id = TestCollector::agent_id(&first);
    c.agent_once(&first);
    let listed = agents(&c);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["agent_id"], id.as_str());
    assert_eq!(listed[0]["school_id"], "t-a");
    assert!(
        listed[0]["reports_total"].as_u64().unwrap() >= 1,
        "the enrolled agent's report arrived: {listed:?}"
    );

    // The same machine again (disk wiped, agent reinstalled): same host.
    let again = dir.path().join("again");
    let out = run_line(&path, &line, &again);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("keeps its host"), "{said}");
    assert_eq!(TestCollector::agent_id(&again), id);
    // Its new credential is the one that works now.
    c.agent_once(&again);
    let listed = agents(&c);
    assert_eq!(listed.len(), 1, "still one host: {listed:?}");
    assert_eq!(listed[0]["agent_id"], id.as_str());

    // A wrong fingerprint: a clear refusal, and nothing saved.
    let last = fingerprint.chars().last().unwrap();
    let flipped = if last == '0' { '1' } else { '0' };
    let wrong_fp = format!("{}{flipped}", &fingerprint[..63]);
    let wrong = line.replace(&fingerprint, &wrong_fp);
    let third = dir.path().join("third");
    let out = run_line(&path, &wrong, &third);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("none with the fingerprint sha256:{wrong_fp}")),
        "{err}"
    );
    assert!(
        err.contains(&format!("sha256:{fingerprint}")),
        "lists what was presented: {err}"
    );
    assert!(err.contains("Nothing was saved"), "{err}");
    assert!(!third.exists(), "no state directory after a refused line");
    assert_eq!(agents(&c).len(), 1);

    // A mangled line says what a line looks like.
    let out = run_line(
        &path,
        "schoolwatch-agent enroll https://127.0.0.1:1",
        &third,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no `#token=...` part"), "{err}");
    assert!(!third.exists());
}

/// The DER bytes of the one certificate in a PEM file.
fn pem_der(path: &Path) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_file(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_vec()
}
