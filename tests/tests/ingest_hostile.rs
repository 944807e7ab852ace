//! Hostile and broken input at the real collector process over TLS: each
//! gets its status and its counter, nothing is half-stored, no school's
//! data lands under another, and `/metrics` stays valid.

use schoolwatch_protocol::Report;
use schoolwatch_tests::collector::{Answer, batch_body};
use schoolwatch_tests::{TestCollector, metric, require};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn post(
    c: &TestCollector,
    credential: Option<&str>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    c.post(credential, headers, body)
}

fn batch(reports: Vec<Report>) -> Vec<u8> {
    batch_body(reports)
}

fn rejected(c: &TestCollector, reason: &str) -> f64 {
    metric(
        &c.metrics(),
        "schoolwatch_ingest_rejected_total",
        &[("reason", reason)],
    )
    .unwrap()
}

fn host_metric(c: &TestCollector, name: &str, agent: &str) -> Option<f64> {
    metric(&c.metrics(), name, &[("agent_id", agent)])
}

fn enrolled(c: &TestCollector, school: &str, name: &str) -> (String, String) {
    c.enrolled(school, name)
}

fn promtool_check(text: &str) {
    let promtool = require("promtool", "prometheus");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn oversized_body_is_413() {
    let c = TestCollector::start("[ingest]\nmax_body_bytes = 10000\n");
    let (_, cred) = enrolled(&c, "t-a", "a");
    let r = post(&c, Some(&cred), &[], vec![b' '; 20_000]);
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(rejected(&c, "too_large"), 1.0);
}

#[test]
fn zip_bomb_is_413_after_decompression() {
    let c = TestCollector::start("");
    let (_, cred) = enrolled(&c, "t-a", "a");
    // 64 MiB of spaces compress to ~64 KiB; the limit is 16 MiB decompressed.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..64 {
        gz.write_all(&chunk).unwrap();
    }
    let body = gz.finish().unwrap();
    assert!(body.len() < 1 << 20);
    let r = post(&c, Some(&cred), &[("content-encoding", "gzip")], body);
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(rejected(&c, "decompressed_too_large"), 1.0);
}

#[test]
fn garbage_is_400_and_wrong_type_415_and_version_422() {
    let c = TestCollector::start("");
    let (_, cred) = enrolled(&c, "t-a", "a");
    let r = post(&c, Some(&cred), &[], b"\x00\xffnot json at all".to_vec());
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(rejected(&c, "malformed"), 1.0);

    let r = post(
        &c,
        Some(&cred),
        &[("content-encoding", "br")],
        b"{}".to_vec(),
    );
    assert_eq!(r.status, 415, "{}", r.body);

    let mut v = serde_json::to_value(Report::new(String::new(), 1, 1)).unwrap();
    v["version"] = serde_json::json!(99);
    let body = serde_json::to_vec(&serde_json::json!({ "reports": [v] })).unwrap();
    let r = post(&c, Some(&cred), &[], body);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("version 99"), "{}", r.body);
    assert_eq!(rejected(&c, "unsupported_version"), 1.0);
    assert_eq!(rejected(&c, "unsupported_media_type"), 1.0);
}

#[test]
fn missing_unknown_and_revoked_credentials_are_401() {
    let c = TestCollector::start("");
    let (id, cred) = enrolled(&c, "t-a", "a");
    let ok = batch(vec![Report::new(id.clone(), 1, 1_000)]);
    assert_eq!(post(&c, None, &[], ok.clone()).status, 401);
    assert_eq!(post(&c, Some("swc_forged"), &[], ok.clone()).status, 401);
    assert_eq!(post(&c, Some(&cred), &[], ok.clone()).status, 200);
    // Revoked by the CLI while the server runs: refused at once.
    c.cli(&["agents", "revoke", &id]);
    assert_eq!(
        post(
            &c,
            Some(&cred),
            &[],
            batch(vec![Report::new(id.clone(), 2, 2_000)])
        )
        .status,
        401
    );
    assert_eq!(rejected(&c, "unauthorized"), 3.0);
    // Its series are gone from /metrics.
    assert_eq!(host_metric(&c, "schoolwatch_host_reports_total", &id), None);

    // A revoked school takes its agents with it.
    let (id_b, cred_b) = enrolled(&c, "t-b", "b");
    assert_eq!(
        post(
            &c,
            Some(&cred_b),
            &[],
            batch(vec![Report::new(id_b.clone(), 1, 1)])
        )
        .status,
        200
    );
    c.cli(&["schools", "revoke", "t-b"]);
    assert_eq!(
        post(&c, Some(&cred_b), &[], batch(vec![Report::new(id_b, 2, 2)])).status,
        401
    );
}

#[test]
fn payload_cannot_claim_another_school_or_agent() {
    let c = TestCollector::start("");
    let (id_a, cred_a) = enrolled(&c, "t-a", "a");
    let (id_b, _) = enrolled(&c, "t-c", "b");
    // A school-A agent writes B's agent id into its report.
    let r = post(
        &c,
        Some(&cred_a),
        &[],
        batch(vec![Report::new(id_b.clone(), 5, 1_000)]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        host_metric(&c, "schoolwatch_host_reports_total", &id_a),
        Some(1.0)
    );
    assert_eq!(
        host_metric(&c, "schoolwatch_host_reports_total", &id_b),
        None
    );
    let text = c.metrics();
    let a_series = text
        .lines()
        .find(|l| l.starts_with("schoolwatch_host_reports_total") && l.contains(&id_a))
        .unwrap();
    assert!(a_series.contains("school=\"t-a\""), "{a_series}");
    // A field naming a school is not part of the protocol: refused whole.
    let mut v = serde_json::to_value(Report::new(id_a.clone(), 6, 1_000)).unwrap();
    v["school"] = serde_json::json!("t-c");
    let r = post(
        &c,
        Some(&cred_a),
        &[],
        serde_json::to_vec(&serde_json::json!({ "reports": [v] })).unwrap(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        metric(
            &c.metrics(),
            "schoolwatch_school_agents",
            &[("school", "t-c")]
        ),
        Some(1.0)
    );
}

#[test]
fn replayed_batch_counts_once() {
    let c = TestCollector::start("[ingest]\nrequests_per_minute = 600\n");
    let (id, cred) = enrolled(&c, "t-a", "a");
    let body = batch(
        (1..=3)
            .map(|s| Report::new(id.clone(), s, 1_000 * s))
            .collect(),
    );
    for i in 0..10 {
        let r = post(&c, Some(&cred), &[], body.clone());
        assert_eq!(r.status, 200);
        let ack: schoolwatch_protocol::api::Ack = serde_json::from_str(&r.body).unwrap();
        assert_eq!(ack.acknowledged, vec![1, 2, 3]);
        assert_eq!(ack.accepted, if i == 0 { 3 } else { 0 });
    }
    assert_eq!(
        host_metric(&c, "schoolwatch_host_reports_total", &id),
        Some(3.0)
    );
    assert_eq!(
        host_metric(&c, "schoolwatch_host_last_sequence", &id),
        Some(3.0)
    );
    let text = c.metrics();
    assert_eq!(
        metric(&text, "schoolwatch_ingest_reports_total", &[]),
        Some(3.0)
    );
    assert_eq!(
        metric(&text, "schoolwatch_ingest_duplicate_reports_total", &[]),
        Some(27.0)
    );
}

fn hostile_inventory(hostname: &str) -> schoolwatch_protocol::Inventory {
    let sample: schoolwatch_protocol::Inventory =
        serde_json::from_str(&schoolwatch_tests::agent(&["inventory", "--json"])).unwrap();
    schoolwatch_protocol::Inventory {
        hostname: hostname.into(),
        cpu_model: "CPU \"quoted\" \\ back\nslash".into(),
        ..sample
    }
}

#[test]
fn hostile_hostnames_keep_metrics_valid() {
    let c = TestCollector::start("");
    let (id, cred) = enrolled(&c, "t-a", "a");
    let mut r = Report::new(id.clone(), 1, 1_000);
    r.inventory = Some(hostile_inventory("lab\"pc\\7\nTrường Tiểu học} x=\"y"));
    assert_eq!(post(&c, Some(&cred), &[], batch(vec![r])).status, 200);
    let text = c.metrics();
    promtool_check(&text);
    assert!(
        text.contains(r#"host="lab\"pc\\7\nTrường Tiểu học} x=\"y""#),
        "{text}"
    );
}

#[test]
fn flood_beyond_limits_is_refused_whole() {
    let c = TestCollector::start("");
    let (id, cred) = enrolled(&c, "t-a", "a");
    let good = Report::new(id.clone(), 1, 1_000);
    let mut flood = Report::new(id.clone(), 2, 2_000);
    let mut inv = hostile_inventory("h");
    let one = inv.interfaces[0].clone();
    inv.interfaces = (0..100)
        .map(|i| schoolwatch_protocol::InterfaceInfo {
            name: format!("veth{i}"),
            ..one.clone()
        })
        .collect();
    flood.inventory = Some(inv);
    let r = post(&c, Some(&cred), &[], batch(vec![good, flood]));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("inventory.interfaces"), "{}", r.body);
    assert_eq!(rejected(&c, "limits"), 1.0);
    // Nothing of the batch was stored, not even the good report.
    assert_eq!(host_metric(&c, "schoolwatch_host_reports_total", &id), None);
    promtool_check(&c.metrics());
}

#[test]
fn too_many_requests_get_429_with_retry_after() {
    // 20 a minute: a burst of 10, then one every 3 s.
    let c = TestCollector::start("[ingest]\nrequests_per_minute = 20\n");
    let (id, cred) = enrolled(&c, "t-a", "a");
    let mut statuses = Vec::new();
    let mut retry = None;
    for s in 1..=15u64 {
        let r = post(
            &c,
            Some(&cred),
            &[],
            batch(vec![Report::new(id.clone(), s, s)]),
        );
        if r.status == 429 {
            retry = r.retry_after.clone();
        }
        statuses.push(r.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        5,
        "{statuses:?}"
    );
    let secs: u64 = retry.expect("Retry-After on 429").parse().unwrap();
    assert!((1..=3).contains(&secs), "{secs}");
    assert_eq!(rejected(&c, "rate_limited"), 5.0);
    // Only the accepted ones were stored.
    assert_eq!(
        host_metric(&c, "schoolwatch_host_reports_total", &id),
        Some(10.0)
    );
}

#[test]
fn enrollment_with_a_bad_token_is_refused_and_state_is_0600() {
    let c = TestCollector::start("");
    let state = c.dir.path().join("agent");
    let out = Command::new(schoolwatch_tests::bin("schoolwatch-agent"))
        .args(schoolwatch_tests::agent_args(&[]))
        .arg("--state")
        .arg(&state)
        .args([
            "enroll",
            "--collector",
            &c.url,
            "--token",
            "swt_wrong",
            "--ca",
        ])
        .arg(c.ca_path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401") && err.contains("token"), "{err}");
    assert!(!state.join("credential.json").exists());
    c.enroll_agent("t-a", &state);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(Path::new(&state).join("credential.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// A raw TLS connection to the collector, for clients that misbehave below
/// HTTP.
fn raw_tls(
    c: &TestCollector,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(c.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1")
        .unwrap()
        .to_owned();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let sock = std::net::TcpStream::connect(c.addr).unwrap();
    // Far longer than the collector's deadlines: if this read times out,
    // the collector held the connection open.
    sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    rustls::StreamOwned::new(conn, sock)
}

/// Reads until the collector answers or closes; `Err` if it does neither.
fn read_until_closed(s: &mut impl std::io::Read) -> Result<String, std::io::Error> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(String::from_utf8_lossy(&all).into_owned()),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return Err(e);
            }
            // A TLS close without close_notify is still a close.
            Err(_) => return Ok(String::from_utf8_lossy(&all).into_owned()),
        }
    }
}

#[test]
fn trickled_headers_are_cut_off() {
    let c = TestCollector::start("[ingest]\nheader_timeout_secs = 1\n");
    let mut s = raw_tls(&c);
    s.write_all(b"POST /api/v1/reports HTTP/1.1\r\nHost: collector\r\n")
        .unwrap();
    s.flush().unwrap();
    // The request never ends; the collector must close the connection.
    read_until_closed(&mut s)
        .expect("the collector closed a connection whose headers never finished");
}

#[test]
fn slow_body_is_408() {
    let c = TestCollector::start("[ingest]\nbody_timeout_secs = 1\n");
    let (_, cred) = enrolled(&c, "t-a", "a");
    let mut s = raw_tls(&c);
    write!(
        s,
        "POST /api/v1/reports HTTP/1.1\r\nHost: collector\r\nAuthorization: Bearer {cred}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"reports\":"
    )
    .unwrap();
    s.flush().unwrap();
    let answer = read_until_closed(&mut s).expect("an answer to a stalled body");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(rejected(&c, "timeout"), 1.0);
}
