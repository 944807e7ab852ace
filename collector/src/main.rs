//! `schoolwatch-collector`: parse the command line, load the config,
//! dispatch. The library does the work.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use schoolwatch_collector::config::{self, Config};
use schoolwatch_collector::fleet::{Fleet, now_ms};
use schoolwatch_collector::{coverage, demo, registry, store};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "schoolwatch-collector",
    version,
    about = "Collects school agents' reports and tracks coverage."
)]
struct Cli {
    /// Config file (default /etc/schoolwatch/collector.toml; optional for
    /// every command but `serve`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory; overrides the config's `store.data_dir`.
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Log filter, e.g. `info` or `schoolwatch_collector=debug`.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve agents and Prometheus.
    Serve,
    /// Run a collector, this machine's agent and simulated schools on loopback.
    Demo {
        /// Listen address (loopback only).
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Simulated agents, one per school.
        #[arg(long, default_value_t = 0)]
        simulate: usize,
        /// Time between reports.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        interval: Duration,
    },
    /// The school registry.
    Schools {
        #[command(subcommand)]
        command: SchoolsCommand,
    },
    /// Enrollment tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Enrolled agents.
    Agents {
        #[command(subcommand)]
        command: AgentsCommand,
    },
    /// Make a private CA and a server certificate signed by it, for a
    /// collector without a certificate from a public CA: writes ca.pem
    /// (give it to agents with `enroll --ca`), collector.pem, collector.key.
    Certs {
        /// Directory to write into.
        #[arg(long)]
        out: PathBuf,
        /// DNS names or IP addresses agents use to reach the collector.
        #[arg(long = "name", required = true)]
        names: Vec<String>,
    },
    /// Coverage against the plan's targets, per district and province.
    Coverage {
        /// Only this district, school by school.
        #[arg(long)]
        district: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

#[derive(Subcommand)]
enum SchoolsCommand {
    /// Add or update schools from a CSV file.
    Import { file: PathBuf },
    /// Withdraw a school: its agents are refused at once.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make an enrollment token for a school (printed once).
    Create {
        #[arg(long)]
        school: String,
        /// How long the token can be used.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
}

#[derive(Subcommand)]
enum AgentsCommand {
    /// List agents.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke an agent: its credential is refused at once.
    Revoke { id: String },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    schoolwatch_agent::logging::init(&cli.log_level);
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match run(cli.command, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The config: the named file, else the default file if present (required
/// for `serve`), else loopback defaults; `--data` overrides the data dir.
fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let default = PathBuf::from(config::DEFAULT_PATH);
    let mut c = match (&cli.config, &cli.command) {
        (Some(p), _) => Config::load(p)?,
        (None, Command::Serve) => Config::load(&default)?,
        (None, _) if default.exists() => Config::load(&default)?,
        (None, Command::Demo { .. } | Command::Certs { .. }) => {
            Config::local(PathBuf::from("schoolwatch-demo"))
        }
        (None, _) => Config::local(PathBuf::from(".")),
    };
    if let Some(d) = &cli.data {
        c.data_dir = d.clone();
    } else if cli.config.is_none()
        && !default.exists()
        && !matches!(cli.command, Command::Demo { .. } | Command::Certs { .. })
    {
        anyhow::bail!(
            "no config file at {} and no --data DIR: say which data directory to use",
            default.display()
        );
    }
    Ok(c)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn open_store(c: &Config) -> anyhow::Result<store::Store> {
    store::Store::open(&c.data_dir)
        .with_context(|| format!("opening the database in {}", c.data_dir.display()))
}

fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Serve => {
            let state = schoolwatch_collector::state(&config)?;
            let rt = runtime()?;
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(config.listen)
                    .await
                    .with_context(|| format!("listening on {}", config.listen))?;
                tracing::info!(listen = %config.listen, data = %config.data_dir.display(), "Collector serving.");
                schoolwatch_collector::run(&config, state, listener, schoolwatch_agent::signal::shutdown()).await
            })
        }
        Command::Demo {
            listen,
            simulate,
            interval,
        } => runtime()?.block_on(demo::run(
            &config.data_dir,
            demo::DemoOptions {
                listen,
                simulate,
                interval,
            },
            schoolwatch_agent::signal::shutdown(),
        )),
        Command::Schools {
            command: SchoolsCommand::Import { file },
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let schools = registry::parse_csv(&text)
                .map_err(|e| anyhow::anyhow!("{}:\n{e}", file.display()))?;
            let (added, updated) = open_store(&config)?.import_schools(&schools)?;
            writeln!(
                out,
                "Imported {} schools from {}: {added} added, {updated} updated.",
                schools.len(),
                file.display()
            )?;
            Ok(())
        }
        Command::Schools {
            command: SchoolsCommand::Revoke { id },
        } => {
            anyhow::ensure!(
                open_store(&config)?.revoke_school(&id, now_ms())?,
                "no active school {id:?}"
            );
            writeln!(
                out,
                "School {id} revoked; its agents are refused from now on."
            )?;
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { school, ttl },
        } => {
            let now = now_ms();
            let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            let token = open_store(&config)?
                .create_token(&school, now, now.saturating_add(ttl_ms))?
                .with_context(|| format!("no school {school:?} in the registry; import it first with `schools import`"))?;
            writeln!(out, "{token}")?;
            eprintln!(
                "Token for school {school}, valid for {}. It is shown only now.",
                humantime::format_duration(ttl)
            );
            Ok(())
        }
        Command::Agents {
            command: AgentsCommand::List { json },
        } => {
            let agents = open_store(&config)?.agents()?;
            if json {
                serde_json::to_writer_pretty(&mut out, &agents)?;
                writeln!(out)?;
            } else {
                let mut t = schoolwatch_agent::table::Table::new([
                    "agent",
                    "school",
                    "host",
                    "reports",
                    "last seen",
                    "state",
                ]);
                for a in agents {
                    let seen = a.last_seen_ms.map_or_else(
                        || "never".to_owned(),
                        |ms| {
                            humantime::format_rfc3339_seconds(
                                std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64),
                            )
                            .to_string()
                        },
                    );
                    t.row([
                        a.agent_id,
                        a.school_id,
                        a.hostname,
                        a.reports_total.to_string(),
                        seen,
                        if a.revoked_ms.is_some() {
                            "revoked"
                        } else {
                            "active"
                        }
                        .to_owned(),
                    ]);
                }
                out.write_all(t.render().as_bytes())?;
            }
            Ok(())
        }
        Command::Agents {
            command: AgentsCommand::Revoke { id },
        } => {
            anyhow::ensure!(
                open_store(&config)?.revoke_agent(&id, now_ms())?,
                "no active agent {id:?}"
            );
            writeln!(
                out,
                "Agent {id} revoked; its credential is refused from now on."
            )?;
            Ok(())
        }
        Command::Certs { out: dir, names } => {
            let pki = schoolwatch_collector::tls::demo_pki(&names)?;
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::write(dir.join("ca.pem"), &pki.ca_pem)?;
            std::fs::write(dir.join("collector.pem"), &pki.cert_pem)?;
            write_private(&dir.join("collector.key"), pki.key_pem.as_bytes())?;
            writeln!(
                out,
                "Wrote {dir}/ca.pem (for agents: enroll --ca), {dir}/collector.pem and {dir}/collector.key (for [server] tls_cert and tls_key).",
                dir = dir.display()
            )?;
            Ok(())
        }
        Command::Coverage { district, format } => {
            let store = open_store(&config)?;
            let fleet = Fleet::load(&store, &config.targets, config.online_window, now_ms())?;
            print_coverage(&mut out, &fleet, district.as_deref(), format)
        }
    }
}

/// Writes a secret readable by its owner only.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .and_then(|mut f| f.write_all(bytes))
        .with_context(|| format!("writing {}", path.display()))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

fn print_coverage(
    out: &mut impl Write,
    fleet: &Fleet,
    district: Option<&str>,
    format: Format,
) -> anyhow::Result<()> {
    if let Some(d) = district {
        let schools: Vec<&coverage::SchoolCoverage> =
            fleet.coverage.iter().filter(|c| c.district == d).collect();
        anyhow::ensure!(!schools.is_empty(), "no district {d:?} in the registry");
        let summary = fleet
            .districts
            .iter()
            .find(|s| s.scope == d)
            .context("district summary")?;
        match format {
            Format::Json => {
                let regressions: Vec<_> = fleet
                    .regressions
                    .iter()
                    .filter(|r| schools.iter().any(|s| s.id == r.school_id))
                    .collect();
                serde_json::to_writer_pretty(
                    &mut *out,
                    &serde_json::json!({"district": summary, "schools": schools, "regressions": regressions}),
                )?;
                writeln!(out)?;
            }
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                for s in schools {
                    w.serialize(CsvSchool::from(s))?;
                }
                w.flush()?;
            }
            Format::Table => {
                let mut t = schoolwatch_agent::table::Table::new([
                    "school",
                    "name",
                    "link",
                    "agents",
                    "online",
                    "avail 24h",
                    "machines ok",
                    "lab PCs",
                ]);
                for s in schools {
                    t.row([
                        s.id.clone(),
                        s.name.clone(),
                        s.link_kind.as_str().to_owned(),
                        s.agents.to_string(),
                        if s.online { "yes" } else { "no" }.to_owned(),
                        pct(s.availability_24h),
                        format!("{}/{}", s.machines_meeting_min, s.reporting_hosts),
                        format!("{}/{}", s.lab_pcs_reporting, s.lab_pcs_expected),
                    ]);
                }
                out.write_all(t.render().as_bytes())?;
            }
        }
        return Ok(());
    }
    let rows: Vec<&coverage::Summary> = fleet
        .districts
        .iter()
        .chain(std::iter::once(&fleet.province))
        .collect();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(
                &mut *out,
                &serde_json::json!({
                    "province": fleet.province,
                    "districts": fleet.districts,
                    "regressions": fleet.regressions,
                }),
            )?;
            writeln!(out)?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            for r in rows {
                w.serialize(r)?;
            }
            w.flush()?;
        }
        Format::Table => {
            let mut t = schoolwatch_agent::table::Table::new([
                "scope",
                "schools",
                "reporting",
                "no agent",
                "online",
                "avail 24h",
                "avail 7d",
                "machines ok",
                "lab PCs",
                "link on target",
            ]);
            for r in rows {
                t.row([
                    r.scope.clone(),
                    r.schools_registered.to_string(),
                    r.schools_reporting.to_string(),
                    r.schools_without_agent.to_string(),
                    r.schools_online.to_string(),
                    pct(r.availability_24h),
                    pct(r.availability_7d),
                    format!("{}/{}", r.machines_meeting_min, r.machines_reporting),
                    format!("{}/{}", r.lab_pcs_reporting, r.lab_pcs_expected),
                    format!("{}/{}", r.schools_link_on_target, r.schools_registered),
                ]);
            }
            out.write_all(t.render().as_bytes())?;
        }
    }
    Ok(())
}

/// One school as a flat CSV row.
#[derive(serde::Serialize)]
struct CsvSchool<'a> {
    id: &'a str,
    name: &'a str,
    district: &'a str,
    link_kind: &'a str,
    agents: u32,
    online: bool,
    availability_24h: Option<f64>,
    machines_reporting: u32,
    machines_meeting_min: u32,
    lab_pcs_reporting: u32,
    lab_pcs_expected: u32,
}

impl<'a> From<&'a coverage::SchoolCoverage> for CsvSchool<'a> {
    fn from(s: &'a coverage::SchoolCoverage) -> Self {
        Self {
            id: &s.id,
            name: &s.name,
            district: &s.district,
            link_kind: s.link_kind.as_str(),
            agents: s.agents,
            online: s.online,
            availability_24h: s.availability_24h,
            machines_reporting: s.reporting_hosts,
            machines_meeting_min: s.machines_meeting_min,
            lab_pcs_reporting: s.lab_pcs_reporting,
            lab_pcs_expected: s.lab_pcs_expected,
        }
    }
}
