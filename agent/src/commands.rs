//! What each subcommand does, writing to any `Write` so tests can capture it.

use crate::collect::Sources;
use crate::config::Config;
use crate::table::{Table, bits_per_second, bytes};
use anyhow::Context;
use schoolwatch_protocol::{Inventory, Sample};
use std::io::Write;
use std::time::Duration;

/// `enroll`: exchanges a token for a credential and saves it (and the CA)
/// in the state directory.
pub async fn enroll(
    config: &Config,
    state: &crate::ship::StateDir,
    collector: &str,
    token: &str,
    ca_pem: Option<&[u8]>,
) -> anyhow::Result<schoolwatch_protocol::api::EnrollResponse> {
    let client = crate::ship::Client::new(collector, ca_pem, &config.tls)?;
    let hostname = sysinfo::System::host_name().unwrap_or_default();
    let resp = client
        .enroll(&schoolwatch_protocol::api::EnrollRequest {
            token: token.to_owned(),
            fingerprint: crate::identity::fingerprint(),
            hostname,
        })
        .await?;
    state.save(
        &crate::ship::Enrollment {
            collector: collector.to_owned(),
            agent_id: resp.agent_id.clone(),
            school_id: resp.school_id.clone(),
            credential: resp.credential.clone(),
        },
        ca_pem,
    )?;
    // The same machine enrolled again (its state lost): go on after the
    // reports the collector already holds, or they would be duplicates.
    if resp.last_sequence > state.last_sequence() {
        state.set_last_sequence(resp.last_sequence)?;
    }
    Ok(resp)
}

/// `inventory`: the host picture once, as a table or as JSON.
pub fn inventory(config: Config, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let (inv, errors) = Sources::new(config)
        .context("reading this machine's system information")?
        .inventory();
    for e in &errors {
        tracing::warn!(source = %e.source, "Could not read {}.", e.message);
    }
    if json {
        serde_json::to_writer_pretty(&mut *out, &inv)?;
        writeln!(out)?;
    } else {
        out.write_all(inventory_table(&inv).as_bytes())?;
    }
    Ok(())
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// The inventory for people: a key/value block, then disks and interfaces.
pub fn inventory_table(inv: &Inventory) -> String {
    let boot = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + Duration::from_secs(inv.boot_time_seconds),
    );
    let mut host = Table::new(["host", ""]);
    for (k, v) in [
        ("hostname", inv.hostname.clone()),
        ("role", inv.role.to_string()),
        ("os", format!("{} {}", inv.os_name, inv.os_version)),
        ("kernel", inv.kernel_version.clone()),
        ("architecture", inv.architecture.clone()),
        ("cpu", inv.cpu_model.clone()),
        (
            "cores",
            format!(
                "{} physical, {} logical",
                opt(&inv.cpu_physical_cores),
                inv.cpu_logical_cores
            ),
        ),
        ("memory", bytes(inv.memory_total_bytes)),
        ("swap", bytes(inv.swap_total_bytes)),
        ("booted", boot.to_string()),
        ("vendor", opt(&inv.dmi.vendor)),
        ("product", opt(&inv.dmi.product)),
        ("serial", opt(&inv.dmi.serial)),
        (
            "bios",
            format!(
                "{} ({})",
                opt(&inv.dmi.bios_version),
                opt(&inv.dmi.bios_date)
            ),
        ),
        ("agent", inv.agent_version.clone()),
    ] {
        host.row([k.to_owned(), v]);
    }
    let mut disks = Table::new(["mount", "device", "fs", "kind", "size", "free"]);
    for d in &inv.disks {
        disks.row([
            d.mount_point.clone(),
            d.device.clone(),
            d.filesystem.clone(),
            format!("{:?}", d.kind).to_lowercase(),
            bytes(d.total_bytes),
            bytes(d.available_bytes),
        ]);
    }
    let mut nets = Table::new(["interface", "state", "mac", "speed", "addresses"]);
    for n in &inv.interfaces {
        nets.row([
            n.name.clone(),
            if n.up { "up" } else { "down" }.to_owned(),
            opt(&n.mac),
            n.speed_mbps
                .map_or_else(|| "-".to_owned(), |s| format!("{s} Mbit/s")),
            n.addresses.join(" "),
        ]);
    }
    format!("{}\n{}\n{}", host.render(), disks.render(), nets.render())
}

/// `sample`: every `interval`, the rates since the previous tick; stops after
/// `count` samples (never if `None`) or when `shutdown` completes.
pub async fn sample(
    config: Config,
    interval: Duration,
    count: Option<u64>,
    json: bool,
    out: &mut impl Write,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut sources = Sources::new(config).context("reading this machine's system information")?;
    let mut ticker = tokio::time::interval(interval);
    // The first tick completes at once; the baseline was taken in `new`.
    ticker.tick().await;
    tokio::pin!(shutdown);
    let mut taken = 0u64;
    while count.is_none_or(|c| taken < c) {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut shutdown => break,
        }
        let s = sources.sample();
        if json {
            serde_json::to_writer(&mut *out, &s)?;
            writeln!(out)?;
        } else {
            out.write_all(sample_table(&s).as_bytes())?;
        }
        out.flush()?;
        taken += 1;
    }
    Ok(())
}

/// One sample for people: CPU/memory/load on a line, then one row per
/// interface.
pub fn sample_table(s: &Sample) -> String {
    let mut t = Table::new([
        "interface",
        "rx",
        "tx",
        "rx total",
        "tx total",
        "errors",
        "drops",
    ]);
    for i in &s.interfaces {
        t.row([
            i.name.clone(),
            bits_per_second(i.rx_bits_per_second),
            bits_per_second(i.tx_bits_per_second),
            bytes(i.rx_bytes),
            bytes(i.tx_bytes),
            (i.rx_errors + i.tx_errors).to_string(),
            (i.rx_dropped + i.tx_dropped).to_string(),
        ]);
    }
    format!(
        "cpu {:.1}%  memory used {}  available {}  swap used {}  load {:.2} {:.2} {:.2}  (over {} ms)\n{}\n",
        s.cpu_usage_ratio * 100.0,
        bytes(s.memory_used_bytes),
        bytes(s.memory_available_bytes),
        bytes(s.swap_used_bytes),
        s.load[0],
        s.load[1],
        s.load[2],
        s.interval_ms,
        t.render()
    )
}

/// `check`: every posture check against `root`, as a table or as JSON (the
/// report's security section). Failed checks are findings, not errors: the
/// command succeeds whenever it could run.
pub fn check(
    config: &Config,
    root: &std::path::Path,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    use crate::collect::security;
    let root = security::Root::new(root).with_context(|| format!("--root {}", root.display()))?;
    let s = security::run(root, &security::Options::from_config(&config.security));
    if json {
        serde_json::to_writer_pretty(&mut *out, &s)?;
        writeln!(out)?;
    } else {
        out.write_all(security_table(&s).as_bytes())?;
    }
    Ok(())
}

/// The security section for people: one row per check, then the
/// listening sockets.
pub fn security_table(s: &schoolwatch_protocol::Security) -> String {
    let mut checks = Table::new(["check", "status", "severity", "evidence"]);
    for c in &s.checks {
        let detail = match (&c.reason, c.evidence.is_empty()) {
            (Some(r), true) => r.clone(),
            (Some(r), false) => format!("{}; {r}", c.evidence),
            (None, _) => c.evidence.clone(),
        };
        checks.row([
            c.id.clone(),
            c.status.to_string(),
            c.severity.to_string(),
            detail,
        ]);
    }
    let mut ports = Table::new(["proto", "address", "port", "process"]);
    for l in &s.listening {
        ports.row([
            l.protocol.to_string(),
            l.address.clone(),
            l.port.to_string(),
            l.process.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    format!("{}\n{}", checks.render(), ports.render())
}

/// `probe`: ICMP probes of `targets` once, printed as a table or as one JSON
/// object per target per line.
pub async fn probe(
    targets: &[String],
    count: u32,
    interval: Duration,
    timeout: Duration,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    use crate::collect::icmp::{Prober, resolve};
    let prober = Prober::new()?;
    let mut tasks = tokio::task::JoinSet::new();
    let prober = std::sync::Arc::new(prober);
    for (i, t) in targets.iter().enumerate() {
        let (prober, t) = (prober.clone(), t.clone());
        tasks.spawn(async move {
            let result = match resolve(&t).await {
                Some(ip) => prober.probe(&t, ip, count, interval, timeout).await,
                None => {
                    tracing::warn!(target = %t, "Cannot resolve the target.");
                    crate::collect::icmp::summarize(&t, count, &[])
                }
            };
            (i, result)
        });
    }
    let mut results = Vec::new();
    while let Some(r) = tasks.join_next().await {
        results.push(r?);
    }
    results.sort_by_key(|(i, _)| *i);
    if json {
        for (_, r) in &results {
            serde_json::to_writer(&mut *out, r)?;
            writeln!(out)?;
        }
    } else {
        let ms =
            |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |s| format!("{:.2} ms", s * 1000.0));
        let mut t = Table::new([
            "target", "sent", "received", "loss", "min", "median", "avg", "max", "jitter",
        ]);
        for (_, r) in &results {
            t.row([
                r.target.clone(),
                r.sent.to_string(),
                r.received.to_string(),
                format!("{:.1}%", r.loss_ratio * 100.0),
                ms(r.rtt_min_seconds),
                ms(r.rtt_median_seconds),
                ms(r.rtt_avg_seconds),
                ms(r.rtt_max_seconds),
                ms(r.jitter_seconds),
            ]);
        }
        out.write_all(t.render().as_bytes())?;
    }
    Ok(())
}

/// `speedtest`: one throughput test against the enrolled collector.
pub async fn speedtest(
    config: &Config,
    state: &crate::ship::StateDir,
    download_bytes: u64,
    upload_bytes: u64,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let max = schoolwatch_protocol::api::SPEEDTEST_MAX_BYTES;
    anyhow::ensure!(
        (1..=max).contains(&download_bytes) && (1..=max).contains(&upload_bytes),
        "--download-bytes and --upload-bytes must be 1 to {max}"
    );
    let enrollment = state.load()?;
    let client =
        crate::ship::Client::new(&enrollment.collector, state.ca().as_deref(), &config.tls)?;
    let t = crate::collect::throughput::measure(
        &client,
        &enrollment.credential,
        download_bytes,
        upload_bytes,
    )
    .await?;
    if json {
        serde_json::to_writer(&mut *out, &t)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "download {} ({} in {:.1} s)\nupload   {} ({} in {:.1} s)",
            bits_per_second(t.download_bytes_per_second * 8.0),
            bytes(t.download_bytes),
            t.download_bytes as f64 / t.download_bytes_per_second.max(1.0),
            bits_per_second(t.upload_bytes_per_second * 8.0),
            bytes(t.upload_bytes),
            t.upload_bytes as f64 / t.upload_bytes_per_second.max(1.0),
        )?;
    }
    Ok(())
}

/// `discover`: one discovery round over `subnets` (else the configured
/// ones), printed as a table or as the report's devices section.
pub async fn discover(
    config: &Config,
    subnets: &[crate::collect::discovery::Subnet],
    community: Option<String>,
    rate_pps: Option<u32>,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    use crate::collect::discovery;
    let subnets = if subnets.is_empty() {
        &config.discovery.subnets[..]
    } else {
        subnets
    };
    anyhow::ensure!(
        !subnets.is_empty(),
        "no subnet to sweep; give --subnet CIDR (e.g. --subnet 10.1.2.0/24) or set `[discovery] subnets` in the config"
    );
    let mut options = config.discovery.options();
    if let Some(rate) = rate_pps {
        options.sweep.rate_pps = rate;
    }
    if let (Some(c), Some(probe)) = (community, &mut options.snmp) {
        probe.community = c;
    }
    let devices = discovery::discover(subnets, &options).await?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &devices)?;
        writeln!(out)?;
    } else {
        out.write_all(discovery::table(&devices).as_bytes())?;
    }
    Ok(())
}
