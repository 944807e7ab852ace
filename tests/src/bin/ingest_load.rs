//! Load generator for `bench/ingest.sh`: simulated agents post reports
//! concurrently, either to the schoolwatch collector (the real enroll and
//! report path, HTTPS, gzip) or to a Prometheus Pushgateway (the same data
//! as text-format pushes, one group per agent). Prints one JSON line of
//! results.

use clap::{Parser, ValueEnum};
use schoolwatch_protocol::api::{EnrollRequest, EnrollResponse};
use schoolwatch_protocol::{Batch, InterfaceSample, Inventory, Report, Sample};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, ValueEnum)]
enum Target {
    Collector,
    Pushgateway,
}

#[derive(Parser)]
struct Args {
    #[arg(long, value_enum)]
    target: Target,
    /// Base URL of the collector or the pushgateway.
    #[arg(long)]
    url: String,
    /// CA of the collector (PEM).
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// Enrollment token (collector).
    #[arg(long)]
    token: Option<String>,
    /// Simulated agents.
    #[arg(long, default_value_t = 500)]
    agents: u64,
    /// Reports per agent.
    #[arg(long, default_value_t = 40)]
    reports: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

fn inventory(i: u64) -> Inventory {
    serde_json::from_value(serde_json::json!({
        "hostname": format!("lab-pc-{i:04}"), "os_name": "Windows", "os_version": "10",
        "kernel_version": "10.0.19045", "architecture": "x86_64",
        "cpu_model": "Intel(R) Core(TM) i3-8100 CPU @ 3.60GHz", "cpu_physical_cores": 4,
        "cpu_logical_cores": 4, "memory_total_bytes": 8u64 << 30, "swap_total_bytes": 1u64 << 30,
        "boot_time_seconds": 1_700_000_000u64,
        "disks": [{"mount_point": "C:\\", "device": "C:", "filesystem": "NTFS",
                   "total_bytes": 250u64 << 30, "available_bytes": 100u64 << 30, "kind": "ssd", "removable": false}],
        "interfaces": [{"name": "eth0", "mac": format!("02:00:00:00:{:02x}:{:02x}", (i >> 8) & 0xff, i & 0xff),
                        "addresses": ["192.0.2.7/24"], "speed_mbps": 100, "up": true}],
        "dmi": {"vendor": "Dell Inc.", "product": "OptiPlex 3060", "serial": null, "bios_version": "1.2", "bios_date": "01/01/2020"},
        "agent_version": "bench", "role": "lab"
    }))
    .expect("a valid inventory")
}

fn sample(i: u64, seq: u64) -> Sample {
    let iface = |name: &str, k: u64| InterfaceSample {
        name: name.into(),
        rx_bytes: seq * 7_500_000 * k + i,
        tx_bytes: seq * 1_800_000 * k + i,
        rx_packets: seq * 6_000 * k,
        tx_packets: seq * 2_000 * k,
        rx_bits_per_second: 1_000_000.0 * k as f64,
        tx_bits_per_second: 240_000.0 * k as f64,
        ..Default::default()
    };
    Sample {
        interval_ms: 60_000,
        cpu_usage_ratio: 0.2,
        memory_used_bytes: 3 << 30,
        memory_available_bytes: 5 << 30,
        swap_used_bytes: 0,
        load: [0.0; 3],
        interfaces: vec![iface("eth0", 1), iface("lo", 0), iface("wlan0", 2)],
    }
}

/// The same data as the collector would expose for this host, as a push.
fn push_text(i: u64, seq: u64) -> String {
    use std::fmt::Display;
    let s = sample(i, seq);
    let mut out = String::new();
    let host = format!("school=\"bench-{}\",host=\"lab-pc-{i:04}\"", i % 100);
    let per_host: [(&str, &dyn Display); 5] = [
        ("schoolwatch_host_last_sequence", &seq),
        ("schoolwatch_host_cpu_usage_ratio", &s.cpu_usage_ratio),
        ("schoolwatch_host_memory_used_bytes", &s.memory_used_bytes),
        ("schoolwatch_host_memory_total_bytes", &(8u64 << 30)),
        ("schoolwatch_host_cpu_logical_cores", &4),
    ];
    for (name, value) in per_host {
        out.push_str(&format!("{name}{{{host}}} {value}\n"));
    }
    for n in &s.interfaces {
        let l = format!("{host},interface=\"{}\"", n.name);
        let per_interface: [(&str, &dyn Display); 4] = [
            ("schoolwatch_host_network_receive_bytes_total", &n.rx_bytes),
            ("schoolwatch_host_network_transmit_bytes_total", &n.tx_bytes),
            (
                "schoolwatch_host_network_receive_bytes_per_second",
                &(n.rx_bits_per_second / 8.0),
            ),
            (
                "schoolwatch_host_network_transmit_bytes_per_second",
                &(n.tx_bits_per_second / 8.0),
            ),
        ];
        for (name, value) in per_interface {
            out.push_str(&format!("{name}{{{l}}} {value}\n"));
        }
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("write to memory");
    e.finish().expect("finish gzip")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // reqwest is built without a default TLS provider; plain-HTTP clients
    // still need one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match &args.ca {
        Some(ca) => schoolwatch_tests::collector::https_client(&std::fs::read_to_string(ca)?),
        None => reqwest::Client::builder().build()?,
    };
    // Credentials first (not timed).
    let mut creds = Vec::new();
    if let Target::Collector = args.target {
        let token = args.token.clone().expect("--token for the collector");
        for i in 0..args.agents {
            let r: EnrollResponse = client
                .post(format!("{}/api/v1/enroll", args.url))
                .json(&EnrollRequest {
                    token: token.clone(),
                    fingerprint: format!("bench-{i}"),
                    hostname: format!("lab-pc-{i:04}"),
                })
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            creds.push((r.agent_id, r.credential));
        }
    }
    // Bodies are made before the clock starts, so the load generator (on
    // the same two cores) spends its time sending, not encoding: what is
    // measured is the server.
    let total = args.agents * args.reports;
    let bodies: Vec<(u64, Vec<u8>)> = (0..total)
        .map(|n| {
            // Round-robin over agents, each agent's sequence in order.
            let (i, seq) = (n % args.agents, n / args.agents + 1);
            let body = match args.target {
                Target::Collector => {
                    let mut r = Report::new(
                        creds[i as usize].0.clone(),
                        seq,
                        1_700_000_000_000 + seq * 60_000,
                    );
                    if seq == 1 {
                        r.inventory = Some(inventory(i));
                    }
                    r.sample = Some(sample(i, seq));
                    gzip(&serde_json::to_vec(&Batch { reports: vec![r] }).expect("encode"))
                }
                Target::Pushgateway => push_text(i, seq).into_bytes(),
            };
            (i, body)
        })
        .collect();
    let bytes_sent: u64 = bodies.iter().map(|(_, b)| b.len() as u64).sum();
    let bodies = Arc::new(bodies);
    let creds = Arc::new(creds);
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, creds, next, errors, bodies) = (
            client.clone(),
            creds.clone(),
            next.clone(),
            errors.clone(),
            bodies.clone(),
        );
        let (url, target) = (args.url.clone(), args.target);
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return lat;
                }
                let (i, body) = &bodies[n as usize];
                let t = Instant::now();
                let req = match target {
                    Target::Collector => client
                        .post(format!("{url}/api/v1/reports"))
                        .bearer_auth(&creds[*i as usize].1)
                        .header("content-type", "application/json")
                        .header("content-encoding", "gzip")
                        .body(body.clone()),
                    Target::Pushgateway => client
                        .put(format!("{url}/metrics/job/schoolwatch/instance/agent-{i}"))
                        .body(body.clone()),
                };
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                lat.push(t.elapsed());
            }
        }));
    }
    let mut lat: Vec<Duration> = Vec::new();
    for w in workers {
        lat.extend(w.await?);
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "requests": total, "errors": errors.load(Ordering::Relaxed), "seconds": secs,
            "per_second": total as f64 / secs, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "bytes_sent": bytes_sent,
        })
    );
    Ok(())
}
