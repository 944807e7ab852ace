//! `schoolwatch-collector demo`: the whole loop on one machine, one command.
//!
//! Starts a collector on loopback over HTTPS (a CA and certificate made for
//! the occasion, the CA written to `DATA/ca.pem`), imports the sample
//! registry, enrolls this machine's own agent through the real HTTP path
//! and runs it, and optionally N virtual agents in N other schools that
//! post synthetic reports through the same path. Nothing is probed beyond
//! loopback.

use crate::config::{Config, Transport};
use crate::fleet::now_ms;
use anyhow::Context;
use schoolwatch_agent::ship::{Client, Outcome, StateDir};
use schoolwatch_protocol::api::EnrollRequest;
use schoolwatch_protocol::{
    Batch, Device, DeviceInterface, DeviceKind, Devices, DiskInfo, DiskKind, Dmi, InterfaceInfo,
    InterfaceSample, Inventory, Report, Role, Sample, SnmpData, UpsStatus,
};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The sample registry shipped in `config/schools.csv`.
pub const SAMPLE_REGISTRY: &str = include_str!("../../config/schools.csv");

/// Demo options.
pub struct DemoOptions {
    /// Listen address (loopback).
    pub listen: SocketAddr,
    /// Virtual agents to simulate, one per school.
    pub simulate: usize,
    /// Seconds between reports of every agent.
    pub interval: Duration,
}

/// Runs the demo until `shutdown`.
pub async fn run(
    data: &Path,
    opts: DemoOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        opts.listen.ip().is_loopback(),
        "the demo listens on loopback only; {} is not",
        opts.listen
    );
    std::fs::create_dir_all(data.join("tls"))
        .with_context(|| format!("creating {}", data.display()))?;
    let pki = crate::tls::demo_pki(&["localhost".into(), opts.listen.ip().to_string()])?;
    std::fs::write(data.join("ca.pem"), &pki.ca_pem)?;
    let cert = data.join("tls/collector.pem");
    let key = data.join("tls/collector.key");
    std::fs::write(&cert, &pki.cert_pem)?;
    std::fs::write(&key, &pki.key_pem)?;

    let mut config = Config::local(data.to_owned());
    config.listen = opts.listen;
    config.transport = Transport::Tls {
        cert,
        key,
        client_ca: None,
    };
    let state = crate::state(&config)?;
    let schools = crate::registry::parse_csv(SAMPLE_REGISTRY)
        .map_err(|e| anyhow::anyhow!("the shipped registry is invalid: {e}"))?;
    let (added, updated) = state.store.import_schools(&schools)?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("listening on {}", opts.listen))?;
    let url = format!("https://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server_config = config.clone();
    let server_state = state.clone();
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        crate::run(&server_config, server_state, listener, async move {
            let _ = server_stop.changed().await;
        })
        .await
    });

    // This machine's agent, enrolled into the first school.
    let first = &schools[0];
    let day = 24 * 3600 * 1000;
    let token = state
        .store
        .create_token(&first.id, now_ms(), now_ms() + day)?
        .context("the first school vanished")?;
    let agent_state = StateDir::new(data.join("agent"));
    let ca = pki.ca_pem.as_bytes();
    let agent_config = schoolwatch_agent::config::Config::default();
    let enrolled =
        schoolwatch_agent::commands::enroll(&agent_config, &agent_state, &url, &token, Some(ca))
            .await?;
    let mut agent_stop = stop_rx.clone();
    let interval = opts.interval;
    let agent = tokio::spawn(schoolwatch_agent::runner::run(
        agent_config.clone(),
        agent_state,
        interval,
        false,
        async move {
            let _ = agent_stop.changed().await;
        },
    ));

    // Virtual agents in the next schools.
    let mut virtual_agents = Vec::new();
    for (i, school) in schools.iter().skip(1).take(opts.simulate).enumerate() {
        let token = state
            .store
            .create_token(&school.id, now_ms(), now_ms() + day)?
            .context("a school vanished")?;
        let client = Client::new(&url, Some(ca), &agent_config.tls)?;
        let resp = client
            .enroll(&EnrollRequest {
                token,
                fingerprint: format!("demo-virtual-{i}"),
                hostname: format!("demo-lab-{:03}", i + 1),
            })
            .await?;
        let mut stop = stop_rx.clone();
        virtual_agents.push(tokio::spawn(async move {
            virtual_agent(
                client,
                resp.agent_id,
                resp.credential,
                i as u64,
                interval,
                async move {
                    let _ = stop.changed().await;
                },
            )
            .await;
        }));
    }

    println!(
        "schoolwatch demo is running.\n\
         \n  collector      {url}  (CA: {ca})\
         \n  registry       {added} schools added, {updated} updated (sample province)\
         \n  this machine   agent {agent} in school {school}\
         \n  simulated      {sim} virtual agents in {sim} other schools\
         \n\
         \n  metrics        curl --cacert {ca} {url}/metrics\
         \n  coverage       schoolwatch-collector --data {data} coverage\
         \n  agents         schoolwatch-collector --data {data} agents list\
         \n  prometheus     scrape_configs: [{{job_name: schoolwatch-collector, scheme: https, tls_config: {{ca_file: {ca}}}, static_configs: [{{targets: ['{host}']}}]}}]\
         \n\nPress Ctrl-C to stop.",
        ca = data.join("ca.pem").display(),
        agent = enrolled.agent_id,
        school = enrolled.school_id,
        sim = virtual_agents.len(),
        data = data.display(),
        host = opts.listen,
    );

    shutdown.await;
    let _ = stop_tx.send(true);
    for v in virtual_agents {
        let _ = v.await;
    }
    if let Err(e) = agent.await? {
        tracing::warn!(error = %e, "The demo's agent stopped with an error.");
    }
    server.await??;
    Ok(())
}

/// A virtual lab PC: one synthetic report per interval through the real
/// HTTP path, with its school's network devices (as if it were the
/// school's server too).
async fn virtual_agent(
    client: Client,
    agent_id: String,
    credential: String,
    n: u64,
    interval: Duration,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut ticker = tokio::time::interval(interval);
    let mut seq = 0;
    let (mut rx, mut tx) = (1_000_000 * n, 500_000 * n);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut stop => return,
        }
        seq += 1;
        let mut r = Report::new(agent_id.clone(), seq, now_ms() as u64);
        if seq == 1 {
            r.inventory = Some(virtual_inventory(n));
        }
        // A few Mbit/s of school traffic that varies with the host.
        let rate = 2e6 + (n % 7) as f64 * 1e6;
        let bytes = (rate / 8.0 * interval.as_secs_f64()) as u64;
        rx += bytes;
        tx += bytes / 4;
        r.devices = Some(virtual_devices(n, rate * 4.0, rx * 4, tx * 4));
        r.sample = Some(Sample {
            interval_ms: interval.as_millis() as u64,
            cpu_usage_ratio: 0.05 + (n % 10) as f64 * 0.05,
            memory_used_bytes: 1 << 30,
            memory_available_bytes: 1 << 30,
            swap_used_bytes: 0,
            load: [0.3, 0.2, 0.1],
            interfaces: vec![InterfaceSample {
                name: "eth0".into(),
                rx_bytes: rx,
                tx_bytes: tx,
                rx_bits_per_second: rate,
                tx_bits_per_second: rate / 4.0,
                ..Default::default()
            }],
        });
        match client.send(&credential, &Batch { reports: vec![r] }).await {
            Outcome::Delivered(_) => {}
            Outcome::Retry { reason, .. } | Outcome::Reject { reason, .. } => {
                tracing::warn!(agent = %agent_id, "Virtual agent report not taken: {reason}.");
            }
        }
    }
}

/// The school's network as its server would report it: a switch whose
/// uplink carries the school's traffic (`rate` bits/s in, a quarter out;
/// counters `rx`, `tx`), a printer found by the sweep, and in every
/// fourth school a UPS (on battery in every eighth).
fn virtual_devices(n: u64, rate: f64, rx: u64, tx: u64) -> Devices {
    let mut devices = vec![
        Device {
            address: format!("10.{}.{}.2", n / 250, n % 250),
            mac: None,
            vendor: Some("Cisco Systems, Inc".into()),
            kind: DeviceKind::Switch,
            configured: true,
            icmp_up: true,
            snmp: Some(SnmpData {
                sys_descr: "Cisco IOS Software, C2960 Software (demo)".into(),
                sys_object_id: "1.3.6.1.4.1.9.1.694".into(),
                sys_name: format!("sw-demo-{:03}", n + 1),
                uptime_seconds: 86_400.0,
                model: Some("WS-C2960-24TT-L".into()),
                interfaces: vec![DeviceInterface {
                    index: 24,
                    name: "Gi0/24".into(),
                    alias: "uplink".into(),
                    oper_up: true,
                    speed_bps: 100_000_000,
                    in_octets: rx / 8,
                    out_octets: tx / 8,
                    in_bps: Some(rate),
                    out_bps: Some(rate / 4.0),
                    uplink: true,
                }],
                ..Default::default()
            }),
            error: None,
        },
        Device {
            address: format!("10.{}.{}.9", n / 250, n % 250),
            mac: Some(format!(
                "00:80:77:00:{:02x}:{:02x}",
                (n >> 8) & 0xff,
                n & 0xff
            )),
            vendor: Some("Brother Industries, LTD.".into()),
            kind: DeviceKind::Printer,
            configured: false,
            icmp_up: true,
            snmp: None,
            error: None,
        },
    ];
    if n.is_multiple_of(4) {
        devices.push(Device {
            address: format!("10.{}.{}.3", n / 250, n % 250),
            mac: None,
            vendor: None,
            kind: DeviceKind::Ups,
            configured: true,
            icmp_up: true,
            snmp: Some(SnmpData {
                sys_descr: "Smart-UPS 1500 (demo)".into(),
                ups: Some(UpsStatus {
                    on_battery: n.is_multiple_of(8),
                    battery_status: 2,
                    charge_percent: Some(if n.is_multiple_of(8) { 70.0 } else { 100.0 }),
                    runtime_seconds: Some(1800.0),
                }),
                ..Default::default()
            }),
            error: None,
        });
    }
    Devices {
        subnets: vec![format!("10.{}.{}.0/24", n / 250, n % 250)],
        devices,
    }
}

/// An old lab PC: every third one has 2 GiB of RAM and fails the minimum.
fn virtual_inventory(n: u64) -> Inventory {
    let old = n.is_multiple_of(3);
    Inventory {
        hostname: format!("demo-lab-{:03}", n + 1),
        os_name: "Windows".into(),
        os_version: "10".into(),
        kernel_version: "10.0.19045".into(),
        architecture: "x86_64".into(),
        cpu_model: if old {
            "Intel(R) Pentium(R) CPU G630"
        } else {
            "Intel(R) Core(TM) i3-8100"
        }
        .into(),
        cpu_physical_cores: Some(if old { 2 } else { 4 }),
        cpu_logical_cores: if old { 2 } else { 4 },
        memory_total_bytes: if old { 2 << 30 } else { 8 << 30 },
        swap_total_bytes: 1 << 30,
        boot_time_seconds: (now_ms() / 1000) as u64 - 3600,
        disks: vec![DiskInfo {
            mount_point: "C:\\".into(),
            device: "C:".into(),
            filesystem: "NTFS".into(),
            total_bytes: 250 << 30,
            available_bytes: 100 << 30,
            kind: if old { DiskKind::Hdd } else { DiskKind::Ssd },
            removable: false,
        }],
        interfaces: vec![InterfaceInfo {
            name: "eth0".into(),
            mac: Some(format!(
                "02:00:00:00:{:02x}:{:02x}",
                (n >> 8) & 0xff,
                n & 0xff
            )),
            addresses: vec![],
            speed_mbps: Some(100),
            up: true,
        }],
        dmi: Dmi::default(),
        agent_version: "demo".into(),
        role: Role::Lab,
    }
}
