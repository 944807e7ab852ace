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
    /// Print one command that enrolls a machine into a school (and write it
    /// as a QR code for a phone): a fresh token and the fingerprint of the
    /// collector's CA in one line.
    EnrollLine {
        /// The school whose machines the line enrolls.
        #[arg(long)]
        school: String,
        /// The address agents use to reach this collector, e.g.
        /// `https://collector.example:8443`: a name on its certificate.
        #[arg(long)]
        url: String,
        /// Also write the line as a QR-code PNG to this file.
        #[arg(long)]
        qr: Option<PathBuf>,
        /// How long the line (its token) can be used.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// The certificate is from a public CA that agents' bundled roots
        /// trust: leave the fingerprint out.
        #[arg(long)]
        public_ca: bool,
    },
    /// Coverage against the plan's targets, per district and province.
    Coverage {
        /// Only this district, school by school.
        #[arg(long)]
        district: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// List the outages of the last 7 days (kind, start, end,
        /// duration) instead of coverage; with --district, only its schools.
        #[arg(long)]
        outages: bool,
    },
    /// The staff status page.
    Status {
        #[command(subcommand)]
        command: StatusCommand,
    },
}

#[derive(Subcommand)]
enum StatusCommand {
    /// Read a password from stdin and print its argon2 hash for
    /// `[[status.users]] password_hash` in collector.toml.
    HashPassword,
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
        #[arg(
            long,
            required_unless_present = "all_schools",
            conflicts_with = "all_schools"
        )]
        school: Option<String>,
        /// One token for every school in the registry, written to --out as
        /// CSV `school_id,token` (owner-only) instead of printed, e.g. for
        /// `schoolwatch-sim --tokens`.
        #[arg(long, requires = "out")]
        all_schools: bool,
        /// Where --all-schools writes its CSV.
        #[arg(long, requires = "all_schools")]
        out: Option<PathBuf>,
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
    // Needs no config: it may be making the hash for a config not yet written.
    if let Command::Status {
        command: StatusCommand::HashPassword,
    } = cli.command
    {
        return match schoolwatch_collector::status::hash_password_cli(
            std::io::stdin().lock(),
            std::io::stdout().lock(),
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        };
    }
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
    schoolwatch_agent::ship::state::refuse_root_in_foreign_dir(
        &c.data_dir,
        "schoolwatch-collector ...",
    )?;
    schoolwatch_collector::open_store(c)
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
            command:
                TokenCommand::Create {
                    school,
                    all_schools: _,
                    out: csv_out,
                    ttl,
                },
        } => {
            let now = now_ms();
            let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            if let Some(path) = csv_out {
                let n = write_all_tokens(
                    &open_store(&config)?,
                    &path,
                    now,
                    now.saturating_add(ttl_ms),
                )?;
                eprintln!(
                    "Tokens for {n} schools written to {}, valid for {}.",
                    path.display(),
                    humantime::format_duration(ttl)
                );
                return Ok(());
            }
            // clap requires --school when --all-schools is absent.
            let school = school.context("give --school ID or --all-schools")?;
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
            let readers = pki.write_to(&dir)?;
            writeln!(
                out,
                "Wrote {dir}/collector.pem (the certificate, then its CA) and {dir}/collector.key (readable by {readers}) for [server] tls_cert and tls_key, and {dir}/ca.pem (for `enroll --ca`; `enroll-line` puts its fingerprint in the line).",
                dir = dir.display()
            )?;
            Ok(())
        }
        Command::EnrollLine {
            school,
            url,
            qr,
            ttl,
            public_ca,
        } => schoolwatch_collector::enroll_line::run(
            &config,
            &schoolwatch_collector::enroll_line::Request {
                school,
                url,
                ttl,
                qr,
                public_ca,
            },
            || open_store(&config),
            &mut out,
        ),
        Command::Coverage {
            district,
            format,
            outages,
        } => {
            let store = open_store(&config)?;
            let fleet = Fleet::load(&store, &config.targets, config.online_window, now_ms())?;
            if outages {
                print_outages(&mut out, &fleet, district.as_deref(), format)
            } else {
                print_coverage(&mut out, &fleet, district.as_deref(), format)
            }
        }
        Command::Status { .. } => unreachable!("handled before the config is loaded"),
    }
}

/// Makes a token for every school in the registry and writes them as CSV
/// (`school_id,token`, with that header) readable by its owner only;
/// returns how many.
fn write_all_tokens(
    store: &store::Store,
    path: &std::path::Path,
    now: i64,
    expires: i64,
) -> anyhow::Result<usize> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["school_id", "token"])?;
    let mut n = 0;
    for s in store.schools()? {
        if let Some(token) = store.create_token(&s.id, now, expires)? {
            w.write_record([s.id.as_str(), token.as_str()])?;
            n += 1;
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("encoding the tokens: {}", e.error()))?;
    write_private(path, &bytes)?;
    Ok(n)
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

/// One outage as a flat row (CSV and JSON).
#[derive(serde::Serialize)]
struct OutageRow<'a> {
    school: &'a str,
    district: &'a str,
    kind: &'static str,
    start: String,
    end: Option<String>,
    duration_seconds: i64,
    counted_seconds: i64,
    reports_during: u64,
    gateway_answered: u64,
    gateway_silent: u64,
}

fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

fn print_outages(
    out: &mut impl Write,
    fleet: &Fleet,
    district: Option<&str>,
    format: Format,
) -> anyhow::Result<()> {
    if let Some(d) = district {
        anyhow::ensure!(
            fleet.coverage.iter().any(|c| c.district == d),
            "no district {d:?} in the registry"
        );
    }
    let rows: Vec<OutageRow> = fleet
        .coverage
        .iter()
        .filter(|c| district.is_none_or(|d| c.district == d))
        .flat_map(|c| {
            c.outages.iter().map(|o| OutageRow {
                school: &c.id,
                district: &c.district,
                kind: o.kind.as_str(),
                start: rfc3339(o.start_ms),
                end: o.end_ms.map(rfc3339),
                duration_seconds: o.duration_ms / 1000,
                counted_seconds: o.counted_ms / 1000,
                reports_during: o.evidence.reports,
                gateway_answered: o.evidence.gateway_up,
                gateway_silent: o.evidence.gateway_down,
            })
        })
        .collect();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &rows)?;
            writeln!(out)?;
        }
        Format::Csv => write_csv(out, rows)?,
        Format::Table => {
            let mut t = schoolwatch_agent::table::Table::new([
                "school", "district", "kind", "start", "end", "duration", "counted",
            ]);
            let span = |s: i64| humantime::format_duration(Duration::from_secs(s.max(0) as u64));
            for r in rows {
                t.row([
                    r.school.to_owned(),
                    r.district.to_owned(),
                    r.kind.to_owned(),
                    r.start,
                    r.end.unwrap_or_else(|| "ongoing".to_owned()),
                    span(r.duration_seconds).to_string(),
                    span(r.counted_seconds).to_string(),
                ]);
            }
            out.write_all(t.render().as_bytes())?;
        }
    }
    Ok(())
}

/// Rows as CSV with a header line.
fn write_csv<R: serde::Serialize>(
    out: &mut impl Write,
    rows: impl IntoIterator<Item = R>,
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()?;
    Ok(())
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
            Format::Csv => write_csv(out, schools.into_iter().map(CsvSchool::from))?,
            Format::Table => {
                let mut t = schoolwatch_agent::table::Table::new([
                    "school",
                    "name",
                    "link",
                    "agents",
                    "online",
                    "avail 24h",
                    "outages 7d",
                    "to collector",
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
                        match s.outages.last() {
                            Some(o) => format!("{} (last {})", s.outages.len(), o.kind.as_str()),
                            None => "0".to_owned(),
                        },
                        s.collector_path.map_or_else(
                            || "-".to_owned(),
                            |p| {
                                let rtt = p.rtt_median_seconds.map_or_else(
                                    || "-".to_owned(),
                                    |r| format!("{:.0} ms", r * 1000.0),
                                );
                                format!("{rtt}, {:.0}% loss", p.loss_ratio * 100.0)
                            },
                        ),
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
                    "by_link_kind": fleet.by_link_kind.iter().map(|(d, kind, s)| serde_json::json!({
                        "district": d, "link_kind": kind, "summary": s,
                    })).collect::<Vec<_>>(),
                    "regressions": fleet.regressions,
                }),
            )?;
            writeln!(out)?;
        }
        Format::Csv => write_csv(out, rows)?,
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
    availability_7d: Option<f64>,
    outages_7d: usize,
    last_outage_kind: Option<&'static str>,
    collector_loss_ratio: Option<f64>,
    collector_rtt_median_seconds: Option<f64>,
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
            availability_7d: s.availability_7d,
            outages_7d: s.outages.len(),
            last_outage_kind: s.outages.last().map(|o| o.kind.as_str()),
            collector_loss_ratio: s.collector_path.map(|p| p.loss_ratio),
            collector_rtt_median_seconds: s.collector_path.and_then(|p| p.rtt_median_seconds),
            machines_reporting: s.reporting_hosts,
            machines_meeting_min: s.machines_meeting_min,
            lab_pcs_reporting: s.lab_pcs_reporting,
            lab_pcs_expected: s.lab_pcs_expected,
        }
    }
}
