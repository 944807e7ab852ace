//! `schoolwatch-agent`: parse the command line, load the config, dispatch.

use clap::{Parser, Subcommand};
use schoolwatch_agent::{commands, config, signal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "schoolwatch-agent",
    version,
    about = "Reports this machine to the schoolwatch collector."
)]
struct Cli {
    /// Config file; a missing file means defaults.
    #[arg(long, global = true, default_value = config::DEFAULT_PATH)]
    config: PathBuf,
    /// State directory: credential, collector address and CA, sequence.
    #[arg(long, global = true, default_value = schoolwatch_agent::ship::state::DEFAULT_DIR)]
    state: PathBuf,
    /// Log filter, e.g. `info` or `schoolwatch_agent=debug`.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Exchange a school's enrollment token for this machine's credential:
    /// `enroll 'https://collector:8443/#token=...&ca=sha256:...'` (the line
    /// `schoolwatch-collector enroll-line` prints), or --collector and --token.
    Enroll {
        /// The enrollment link from `schoolwatch-collector enroll-line`, in
        /// single quotes (it contains `#` and `&`).
        #[arg(
            conflicts_with_all = ["collector", "token"],
            required_unless_present_any = ["collector", "token"]
        )]
        link: Option<String>,
        /// Collector address, e.g. `https://collector.example:8443`.
        #[arg(long, requires = "token")]
        collector: Option<String>,
        /// The enrollment token from `schoolwatch-collector token create`.
        #[arg(long, requires = "collector")]
        token: Option<String>,
        /// CA certificate (PEM) to trust for the collector; default: the
        /// CA the link pins, else the bundled public roots.
        #[arg(long)]
        ca: Option<PathBuf>,
    },
    /// Sample and report to the collector until stopped.
    Run {
        /// Send one report and exit (0 when the collector took it).
        #[arg(long)]
        once: bool,
        /// Time between reports; default from the config.
        #[arg(long, value_parser = humantime::parse_duration)]
        interval: Option<Duration>,
    },
    /// Print the host picture once.
    Inventory {
        /// JSON (the report's inventory section) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the security posture checks once and print the results (exit
    /// 0 even when checks fail).
    Check {
        /// JSON (the report's security section) instead of a table.
        #[arg(long)]
        json: bool,
        /// Evaluate the files of this tree instead of the running machine
        /// (`/`); commands that ask the kernel run only for `/`.
        #[arg(long, default_value = "/", value_parser = existing_dir)]
        root: PathBuf,
    },
    /// Measure download and upload throughput to the enrolled collector once.
    Speedtest {
        /// Bytes to download.
        #[arg(long, default_value_t = 10_000_000)]
        download_bytes: u64,
        /// Bytes to upload.
        #[arg(long, default_value_t = 2_000_000)]
        upload_bytes: u64,
        /// The protocol's throughput section as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Probe targets with ICMP echo once: loss, round-trip times, jitter.
    Probe {
        /// Echo requests per target.
        #[arg(long, default_value_t = 5)]
        count: u32,
        /// Time between requests to one target.
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        interval: Duration,
        /// How long to wait for each reply.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// One JSON object per target per line.
        #[arg(long)]
        json: bool,
        /// Addresses or names to probe.
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Find the devices on school subnets once: ICMP sweep, neighbour
    /// table, SNMP probe, vendor and kind (needs CAP_NET_RAW or root).
    Discover {
        /// Subnet to sweep, e.g. `10.1.2.0/24` (at most /22); repeat for
        /// several. Default: `[discovery] subnets` from the config.
        #[arg(long = "subnet", value_name = "CIDR")]
        subnets: Vec<schoolwatch_agent::collect::discovery::Subnet>,
        /// SNMPv2c community; default from the config ("public").
        #[arg(long)]
        community: Option<String>,
        /// Echo requests per second; default from the config (50).
        #[arg(long, value_name = "PPS", value_parser = clap::value_parser!(u32).range(1..=1000))]
        rate: Option<u32>,
        /// JSON (the report's devices section) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Poll one network device over SNMP once: system, model and serial,
    /// interfaces, UPS battery, printer supplies.
    Snmp(schoolwatch_agent::collect::snmp::command::SnmpArgs),
    /// Print live CPU, memory and per-interface rates.
    Sample {
        /// Time between samples, e.g. `1s`, `500ms`; default from the config.
        #[arg(long, value_parser = humantime::parse_duration)]
        interval: Option<Duration>,
        /// Stop after this many samples; default: until Ctrl-C.
        #[arg(long)]
        count: Option<u64>,
        /// One JSON object (the report's sample section) per line.
        #[arg(long)]
        json: bool,
    },
}

/// A directory that exists, for `--root` (a usage error otherwise).
fn existing_dir(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    if p.is_dir() {
        Ok(p)
    } else {
        Err(format!("{s} is not a directory"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    schoolwatch_agent::logging::init(&cli.log_level);
    let config = match config::Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match run(cli.command, config, cli.state) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // One thread is plenty: the agent does a few file reads and one request
    // at a time.
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn run(command: Command, config: config::Config, state: PathBuf) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let state = schoolwatch_agent::ship::StateDir::new(state);
    match command {
        Command::Speedtest {
            download_bytes,
            upload_bytes,
            json,
        } => runtime()?.block_on(commands::speedtest(
            &config,
            &state,
            download_bytes,
            upload_bytes,
            json,
            &mut stdout,
        )),
        Command::Probe {
            count,
            interval,
            timeout,
            json,
            targets,
        } => {
            anyhow::ensure!(count > 0, "--count must be at least 1");
            runtime()?.block_on(commands::probe(
                &targets,
                count,
                interval,
                timeout,
                json,
                &mut stdout,
            ))
        }
        Command::Enroll {
            link,
            collector,
            token,
            ca,
        } => {
            let ca = ca
                .map(|p| {
                    std::fs::read(&p)
                        .map_err(|e| anyhow::anyhow!("reading the CA file {}: {e}", p.display()))
                })
                .transpose()?;
            let rt = runtime()?;
            let (collector, token, ca, pinned) = match (link, collector, token) {
                (Some(text), _, _) => {
                    let link = schoolwatch_protocol::EnrollLink::parse(&text)?;
                    anyhow::ensure!(
                        link.ca_sha256.is_none() || ca.is_none(),
                        "the enrollment line already pins the collector's CA (ca=sha256:...); leave out --ca"
                    );
                    let pinned =
                        rt.block_on(schoolwatch_agent::ship::discover::pinned_ca(&link))?;
                    let fingerprint = link.ca_sha256.map(hex::encode);
                    let ca = pinned.map(String::into_bytes).or(ca);
                    (link.collector, link.token, ca, fingerprint)
                }
                (None, Some(collector), Some(token)) => (collector, token, ca, None),
                // clap requires the link or both flags.
                _ => anyhow::bail!("give the enrollment link, or --collector and --token"),
            };
            let e = rt.block_on(commands::enroll(
                &config,
                &state,
                &collector,
                &token,
                ca.as_deref(),
            ))?;
            use std::io::Write;
            writeln!(
                stdout,
                "Enrolled: agent {} in school {}{}; credential saved in {}",
                e.agent_id,
                e.school_id,
                if e.reenrolled {
                    " (this machine was known: it keeps its host)"
                } else {
                    ""
                },
                state.path().display()
            )?;
            if let Some(fp) = pinned {
                writeln!(
                    stdout,
                    "The collector's CA (sha256:{fp}) is pinned in {}.",
                    state.ca_path().display()
                )?;
            }
            writeln!(
                stdout,
                "Start reporting: `systemctl restart schoolwatch-agent` (the package's service), or `schoolwatch-agent run`."
            )?;
            Ok(())
        }
        Command::Run { once, interval } => {
            if interval.is_some_and(|d| d.is_zero()) {
                anyhow::bail!("--interval must be longer than zero");
            }
            schoolwatch_agent::ship::state::refuse_root_in_foreign_dir(
                state.path(),
                "schoolwatch-agent run --once",
            )?;
            let interval = interval.unwrap_or(if once {
                Duration::from_secs(1)
            } else {
                config.sample_interval
            });
            runtime()?.block_on(schoolwatch_agent::runner::run(
                config,
                state,
                interval,
                once,
                signal::shutdown(),
            ))
        }
        Command::Inventory { json } => commands::inventory(config, json, &mut stdout),
        Command::Discover {
            subnets,
            community,
            rate,
            json,
        } => runtime()?.block_on(commands::discover(
            &config,
            &subnets,
            community,
            rate,
            json,
            &mut stdout,
        )),
        Command::Check { json, root } => commands::check(&config, &root, json, &mut stdout),
        Command::Snmp(args) => runtime()?.block_on(schoolwatch_agent::collect::snmp::command::run(
            &config.snmp,
            &args,
            &mut stdout,
        )),
        Command::Sample {
            interval,
            count,
            json,
        } => {
            if interval.is_some_and(|d| d.is_zero()) {
                anyhow::bail!("--interval must be longer than zero");
            }
            let interval = interval.unwrap_or(config.sample_interval);
            runtime()?.block_on(commands::sample(
                config,
                interval,
                count,
                json,
                &mut stdout,
                signal::shutdown(),
            ))
        }
    }
}
