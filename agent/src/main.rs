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
    /// Log filter, e.g. `info` or `schoolwatch_agent=debug`.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the host picture once.
    Inventory {
        /// JSON (the report's inventory section) instead of a table.
        #[arg(long)]
        json: bool,
    },
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match config::Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
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

fn run(command: Command, config: config::Config) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match command {
        Command::Inventory { json } => commands::inventory(config, json, &mut stdout),
        Command::Sample {
            interval,
            count,
            json,
        } => {
            if interval.is_some_and(|d| d.is_zero()) {
                anyhow::bail!("--interval must be longer than zero");
            }
            let interval = interval.unwrap_or(config.sample_interval);
            // One thread is plenty: a sample is a few file reads.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(commands::sample(
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
