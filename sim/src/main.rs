//! `schoolwatch-sim`: parse the command line, read the files it names,
//! validate, run, print the summary. The library does the work.

use anyhow::Context;
use clap::{Parser, ValueEnum};
use schoolwatch_agent::config::TlsOptions;
use schoolwatch_agent::ship::queue::{Fsync, QueueConfig};
use schoolwatch_collector::registry::{self, School};
use schoolwatch_collector::targets::Targets;
use schoolwatch_sim::fleet::{FleetSpec, HostCount, OutageMix};
use schoolwatch_sim::{Options, ship};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const ABOUT: &str = "Simulates a province's school machines reporting to a real collector.";

const LONG_ABOUT: &str = "\
Simulates a province's school machines reporting to a real collector.

Every simulated host enrolls through the collector's enroll endpoint with its
school's token and a fingerprint of its own, then sends real reports (the
agent's format, gzip, HTTPS) with the agent's own client and retry rules,
one every --interval of fleet time. Schools and link kinds come from the
registry; 4G links carry about 25 Mbit/s. Interface counters follow the
school day (UTC+7), a share of PCs are old and under the plan's minimum,
a share fail posture checks (some only from a moment in the run, a
regression), every school's server reports the school's network devices
every --devices-interval (a switch whose uplink port carries the school's
traffic, a router, printers whose supplies run down, projectors, access
points, a UPS that some schools' flaky mains puts on battery; some devices
go missing, some schools have fewer than the registry expects), and a share of schools go dark for a while, each outage of one
kind (--outage-kinds): the operator's link (wan: the machines keep sampling
and queue, their gateway answers, the collector does not), the school's own
network (lan: they queue, and the gateway is silent too), or the power
(power: no reports at all, and sequence numbers go on without a gap when it
is back). Queued reports go out when the link is back. Every report carries
the agent's probe round: the collector (the host name of --collector) and
the school's gateway, the agent's default count of echoes each, with round
trips and losses by link kind. Everything follows from --seed.";

const AFTER_LONG_HELP: &str = "\
Time compression (--speed X):
  Fleet time runs X times faster than the wall clock: a run of --duration D
  takes D/X of wall time, and each host sends X/interval requests per wall
  second. Reports carry sampled_at_ms in fleet time; the simulated period
  is placed so that it ends when the run ends, so no report is sampled in
  the future. What the collector derives from sampled_at_ms (availability,
  history) sees the full fleet period. What it derives from arrival time
  does not: it judges a school online by when its last report ARRIVED,
  against its online window ([fleet] online_window_secs, 300 s by default,
  wall time), so an outage of D fleet time shows as offline only when D/X
  is longer than that window. The collector then classifies an outage
  that ended (wan, lan, power) from the reports SAMPLED in the middle half
  of that arrival-time silence; fleet time and wall time agree only at
  --speed 1, so only there do its kinds match the simulated ones (at other
  speeds hardly a back-filled report falls into that window, and most
  outages show as power). The per-agent rate limit ([ingest]
  requests_per_minute, 120 by default) answers 429 beyond 2 requests a wall
  second per host, after which hosts back off like the agent and their
  reports travel in batches.

Scale:
  One process, one connection pool (--concurrency requests in flight), one
  task per host: 50,000 hosts at --interval 60s and --speed 1 make 833
  reports/s. Without --queue-dir the backlog of a host is kept in memory as
  the report numbers it still owes (reports are rebuilt from them), which
  is what a large fleet should use. With --queue-dir every host has the
  agent's own on-disk queue and state directory (DIR/SCHOOL/HOST), one open
  file each (raise `ulimit -n` above the host count), and its sequence
  numbers continue across runs; without it they start at 1, so run again
  against the same collector with another --seed.

Tokens:
  schoolwatch-collector --data DIR token create --all-schools --out tokens.csv
  writes school_id,token for every school; or list your own, one per line.";

#[derive(Parser)]
#[command(name = "schoolwatch-sim", version, about = ABOUT, long_about = LONG_ABOUT, after_long_help = AFTER_LONG_HELP)]
struct Cli {
    /// The collector's base URL, e.g. https://collector.example:8443.
    #[arg(long)]
    collector: String,
    /// CA certificate (PEM) to trust for the collector, as `agent enroll
    /// --ca`; the public roots when not given.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Client certificate (PEM) for a collector that requires mutual TLS.
    #[arg(long, requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// Key of --client-cert (PEM).
    #[arg(long, requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// Enrollment tokens: CSV rows `school_id,token` (a `school_id,token`
    /// header line is allowed).
    #[arg(long)]
    tokens: PathBuf,
    /// The school registry (CSV, as `schools import` reads); the sample
    /// registry shipped in config/schools.csv when not given.
    #[arg(long)]
    registry: Option<PathBuf>,
    /// Simulate this school (repeatable); all schools when neither this
    /// nor --schools is given.
    #[arg(long = "school", value_name = "ID")]
    school_ids: Vec<String>,
    /// Simulate the first N schools of the registry.
    #[arg(long, value_name = "N", conflicts_with = "school_ids")]
    schools: Option<usize>,
    /// Hosts in every school; with three or more, one is the server and
    /// one an office PC, the rest lab PCs.
    #[arg(long, value_name = "M", default_value_t = 5, conflicts_with = "hosts")]
    hosts_per_school: u32,
    /// Hosts in all, spread evenly over the schools.
    #[arg(long, value_name = "TOTAL")]
    hosts: Option<u32>,
    /// Fleet time between two reports of a host.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Fleet time the run covers.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Fleet seconds per wall second (see "Time compression" below).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Seed of every random choice: the same seed, the same fleet.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of lab and office PCs that are old (2 GiB or a "4 GB" that
    /// reports 3.8 GiB, two cores, small disks).
    #[arg(long, default_value_t = 0.25)]
    old_share: f64,
    /// Share of hosts failing one or two checks of the security baseline
    /// (half of them from the start, half from a moment in the run).
    #[arg(long, default_value_t = 0.2)]
    posture_fail_share: f64,
    /// Share of schools that go dark once in the run.
    #[arg(long, default_value_t = 0.1)]
    outage_share: f64,
    /// Kinds of those outages, with their weights: `wan` (the operator's
    /// link), `lan` (the school's own network), `power`; a kind left out
    /// does not occur.
    #[arg(long, default_value = "wan=0.5,lan=0.25,power=0.25", value_parser = OutageMix::parse)]
    outage_kinds: OutageMix,
    /// Shortest outage, fleet time; an outage still going at the end has
    /// lasted at least this long.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    outage_min: Duration,
    /// Longest outage, fleet time.
    #[arg(long, default_value = "4h", value_parser = humantime::parse_duration)]
    outage_max: Duration,
    /// Fleet time between posture reports of a host (the agent's
    /// `[security] interval_secs`).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    security_interval: Duration,
    /// Fleet time between the network devices pictures of a school's
    /// server (the agent's `[snmp] interval_secs`); each rides the next
    /// report.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    devices_interval: Duration,
    /// No network devices: servers' reports carry no devices section (as
    /// before the agent polled any).
    #[arg(long, conflicts_with = "devices_interval")]
    no_devices: bool,
    /// The plan's targets (config/targets.toml) the ground truth applies;
    /// the defaults (equal to the shipped file) when not given.
    #[arg(long)]
    targets: Option<PathBuf>,
    /// Give every host the agent's on-disk queue and state directory under
    /// DIR (see "Scale" below); in memory when not given.
    #[arg(long, value_name = "DIR")]
    queue_dir: Option<PathBuf>,
    /// When queue appends reach the disk.
    #[arg(long, value_enum, default_value = "always", requires = "queue_dir")]
    queue_fsync: FsyncArg,
    /// Requests in flight at most (enrollments and reports).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Wall time hosts may go on sending backlog after the fleet time is
    /// over.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    drain: Duration,
    /// Write the ground truth (JSON) here.
    #[arg(long, value_name = "FILE")]
    truth: Option<PathBuf>,
    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
    /// Log filter for warnings from the agent's code, e.g. `warn`.
    #[arg(long, default_value = "error")]
    log_level: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum FsyncArg {
    /// fsync after every append, as the agent by default.
    Always,
    /// Leave it to the OS.
    Never,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    schoolwatch_agent::logging::init(&cli.log_level);
    let (opts, truth_path) = match options(cli) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match run(opts, truth_path.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: Options, truth_path: Option<&Path>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let truth = rt.block_on(schoolwatch_sim::run(
        opts,
        schoolwatch_agent::signal::shutdown(),
    ))?;
    if let Some(path) = truth_path {
        let json = serde_json::to_vec_pretty(&truth)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    print!("{}", truth.summary());
    if let Some(path) = truth_path {
        println!("Ground truth written to {}.", path.display());
    }
    anyhow::ensure!(
        truth.totals.made == 0 || truth.totals.acked > 0,
        "the collector acknowledged no report"
    );
    Ok(())
}

/// Reads the files the command line names and validates everything,
/// reporting every problem at once.
fn options(cli: Cli) -> anyhow::Result<(Options, Option<PathBuf>)> {
    let mut problems = Vec::new();
    let read = |path: &Path, what: &str| {
        std::fs::read(path).with_context(|| format!("reading the {what} {}", path.display()))
    };
    let ca_pem = cli.ca.as_deref().map(|p| read(p, "CA")).transpose()?;
    let tokens = String::from_utf8(read(&cli.tokens, "tokens file")?)
        .map_err(anyhow::Error::from)
        .and_then(|t| ship::parse_tokens(&t))
        .with_context(|| format!("{}", cli.tokens.display()))?;
    let registry_text = match &cli.registry {
        Some(p) => String::from_utf8(read(p, "registry")?)
            .with_context(|| format!("{} is not UTF-8", p.display()))?,
        None => schoolwatch_collector::demo::SAMPLE_REGISTRY.to_owned(),
    };
    let registry = registry::parse_csv(&registry_text).map_err(|e| {
        anyhow::anyhow!(
            "{}:\n{e}",
            cli.registry
                .as_deref()
                .map_or("the sample registry".into(), |p| p.display().to_string())
        )
    })?;
    let targets = match &cli.targets {
        Some(p) => {
            let text = String::from_utf8(read(p, "targets file")?)
                .with_context(|| format!("{} is not UTF-8", p.display()))?;
            Targets::from_toml_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => Targets::default(),
    };

    let schools: Vec<School> = if !cli.school_ids.is_empty() {
        let mut picked = Vec::new();
        for id in &cli.school_ids {
            match registry.iter().find(|s| &s.id == id) {
                Some(s) if !picked.iter().any(|p: &School| &p.id == id) => picked.push(s.clone()),
                Some(_) => {}
                None => problems.push(format!("--school {id}: not in the registry")),
            }
        }
        picked
    } else {
        let n = cli.schools.unwrap_or(registry.len());
        if n == 0 {
            problems.push("--schools: must be 1 or more".into());
        }
        registry.iter().take(n).cloned().collect()
    };
    let missing: Vec<&str> = schools
        .iter()
        .filter(|s| !tokens.contains_key(&s.id))
        .map(|s| s.id.as_str())
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "{}: no token for {} of the {} schools to simulate: {}{}",
            cli.tokens.display(),
            missing.len(),
            schools.len(),
            missing
                .iter()
                .take(10)
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
            if missing.len() > 10 { ", ..." } else { "" }
        ));
    }
    for (name, v) in [
        ("--old-share", cli.old_share),
        ("--posture-fail-share", cli.posture_fail_share),
        ("--outage-share", cli.outage_share),
    ] {
        if !(0.0..=1.0).contains(&v) {
            problems.push(format!("{name}: {v} is not a share from 0 to 1"));
        }
    }
    if !(cli.speed.is_finite() && cli.speed > 0.0) {
        problems.push(format!("--speed: {} is not a positive number", cli.speed));
    }
    if cli.interval.is_zero() {
        problems.push("--interval: must be more than 0".into());
    }
    if cli.duration.is_zero() {
        problems.push("--duration: must be more than 0".into());
    }
    if cli.outage_min > cli.outage_max {
        problems.push("--outage-min: longer than --outage-max".into());
    }
    if cli.security_interval.is_zero() {
        problems.push("--security-interval: must be more than 0".into());
    }
    if cli.devices_interval.is_zero() {
        problems
            .push("--devices-interval: must be more than 0 (--no-devices turns them off)".into());
    }
    if cli.concurrency == 0 {
        problems.push("--concurrency: must be 1 or more".into());
    }
    let hosts = match cli.hosts {
        Some(0) => {
            problems.push("--hosts: must be 1 or more".into());
            HostCount::Total(0)
        }
        Some(t) => HostCount::Total(t),
        None if cli.hosts_per_school == 0 => {
            problems.push("--hosts-per-school: must be 1 or more".into());
            HostCount::PerSchool(0)
        }
        None => HostCount::PerSchool(cli.hosts_per_school),
    };
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("\n"));
    }

    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let opts = Options {
        collector: cli.collector.trim_end_matches('/').to_owned(),
        ca_pem,
        tls: TlsOptions {
            client_identity: cli.client_cert.zip(cli.client_key),
            allow_plain_http: false,
        },
        tokens,
        spec: FleetSpec {
            seed: cli.seed,
            hosts,
            old_share: cli.old_share,
            posture_fail_share: cli.posture_fail_share,
            outage_share: cli.outage_share,
            outage_mix: cli.outage_kinds,
            outage_min_ms: ms(cli.outage_min),
            outage_max_ms: ms(cli.outage_max),
            duration_ms: ms(cli.duration),
            interval_ms: ms(cli.interval),
            baseline: targets.security.baseline.clone(),
            devices: !cli.no_devices,
        },
        schools,
        speed: cli.speed,
        security_every: cli.security_interval,
        devices_every: cli.devices_interval,
        targets,
        queue: cli.queue_dir.map(|dir| {
            (
                dir,
                QueueConfig {
                    fsync: match cli.queue_fsync {
                        FsyncArg::Always => Fsync::Always,
                        FsyncArg::Never => Fsync::Never,
                    },
                    ..QueueConfig::default()
                },
            )
        }),
        concurrency: cli.concurrency,
        drain: cli.drain,
        progress: !cli.quiet && std::io::stderr().is_terminal(),
    };
    Ok((opts, cli.truth))
}
